"""Semantic segmentation heads on the depthwise family's backbones.

LR-ASPP (Lite Reduced Atrous Spatial Pyramid Pooling; Howard et al., "Searching for MobileNetV3",
ICCV 2019, section 6.2), on a MobileNetV3 backbone:

    high = the backbone's last feature map (its final 1x1 conv; output stride 16 when `dilated`)
    low  = the last block output at output stride 8
    x = ReLU(BN(conv1x1(high, 128))) * sigmoid(conv1x1(global_average_pool(high), 128))
    logits = conv1x1(low, classes) + conv1x1(upsample_bilinear(x, to low's size), classes)

The gate pools globally where the paper pools with a 49x49 kernel and stride (16, 20): that kernel was
sized for 1024x2048 Cityscapes crops, where it covers most of the feature map; at the resolutions phones run
(and at any resolution the user picks) the global pool is what it amounts to, and TFLite runs it as one
MEAN. torchvision's `lraspp_mobilenet_v3_large` pools globally too, and with these settings has the same
parameters (3,221,538 with 21 classes).

Layers: the backbone's, then `lraspp_conv`, `lraspp_bn`, `lraspp_activation`, `lraspp_pool`,
`lraspp_gate_conv`, `lraspp_gate`, `lraspp_scale`, `lraspp_upsample`, `lraspp_low_classifier`,
`lraspp_high_classifier`, `lraspp_logits`, [`lraspp_resize`], `predictions` (a softmax over classes
at every pixel).
"""

from __future__ import annotations

import dataclasses

import tf_keras

from mobilekit.errors import UserError
from mobilekit.models import registry
from mobilekit.models.blocks import batch_norm
from mobilekit.models.efficient import (
    MOBILENET_V3_LARGE,
    MOBILENET_V3_SMALL,
    Architecture,
    build_architecture,
    plan_blocks,
)
from mobilekit.models.registry import ReferenceCounts

LRASPP_CHANNELS = 128  # the paper's and torchvision's inter_channels
LOW_STRIDE = 8  # the low branch's output stride
DILATED_STRIDE = 16  # the backbone's output stride when dilated


def low_block(arch: Architecture) -> str:
    """The prefix of the last block at output stride LOW_STRIDE: the low branch's features."""
    reached, prefix = arch.stem.stride, None
    for block in plan_blocks(arch):
        reached *= block.stride
        if reached == LOW_STRIDE:
            prefix = block.prefix
    if prefix is None:
        raise ValueError(f"the backbone never runs at output stride {LOW_STRIDE}")
    return prefix


def build_lraspp(
    backbone: Architecture,
    *,
    name: str,
    alpha: float,
    resolution: int,
    num_classes: int,
    dilated: bool = True,
    resize_output: bool = False,
) -> tf_keras.Model:
    """LR-ASPP on `backbone`: class probabilities per pixel, at 1/8 of `resolution` or, with
    `resize_output`, resized (bilinearly, in the graph) to `resolution`."""
    arch = dataclasses.replace(backbone, output_stride=DILATED_STRIDE if dilated else None)
    features = build_architecture(
        arch, name=name, alpha=alpha, resolution=resolution, num_classes=num_classes, include_top=False, dropout=0.0
    )
    prefix = low_block(arch)
    low = [layer for layer in features.layers if layer.name.startswith(prefix)][-1].output
    high = features.output

    x = tf_keras.layers.Conv2D(LRASPP_CHANNELS, 1, use_bias=False, name="lraspp_conv")(high)
    x = batch_norm(arch.block, "lraspp_bn")(x)
    x = tf_keras.layers.ReLU(name="lraspp_activation")(x)
    gate = tf_keras.layers.GlobalAveragePooling2D(keepdims=True, name="lraspp_pool")(high)
    gate = tf_keras.layers.Conv2D(LRASPP_CHANNELS, 1, use_bias=False, name="lraspp_gate_conv")(gate)
    gate = tf_keras.layers.Activation("sigmoid", name="lraspp_gate")(gate)
    x = tf_keras.layers.Multiply(name="lraspp_scale")([x, gate])
    x = tf_keras.layers.Resizing(*low.shape[1:3], interpolation="bilinear", name="lraspp_upsample")(x)
    logits = tf_keras.layers.Add(name="lraspp_logits")(
        [
            tf_keras.layers.Conv2D(num_classes, 1, name="lraspp_low_classifier")(low),
            tf_keras.layers.Conv2D(num_classes, 1, name="lraspp_high_classifier")(x),
        ]
    )
    if resize_output:
        logits = tf_keras.layers.Resizing(resolution, resolution, interpolation="bilinear", name="lraspp_resize")(
            logits
        )
    outputs = tf_keras.layers.Softmax(name="predictions")(logits)
    return tf_keras.Model(features.input, outputs, name=name)


_PAPER = "Howard et al., Searching for MobileNetV3, ICCV 2019 (arXiv:1905.02244), section 6.2"
_IDEA = "a light segmentation head: one 128-channel branch gated by a global pool, plus a stride-8 skip"
_OPTIONS = {"dilated": True, "resize_output": False}
_TORCHVISION = "torchvision.models.segmentation.lraspp_mobilenet_v3_large"


def _segmenter(backbone: Architecture):
    def build(*, name, alpha, resolution, num_classes, include_top, dropout, dilated, resize_output):
        if not include_top:
            raise UserError(
                f"{name} is a segmentation model: it has no classifier top to leave out. For its backbone's "
                "features build the classifier it is built on (models.info(name).backbone) with include_top=False."
            )
        return build_lraspp(
            backbone,
            name=name,
            alpha=alpha,
            resolution=resolution,
            num_classes=num_classes,
            dilated=dilated,
            resize_output=resize_output,
        )

    return build


# The counts of torchvision's builder at its settings: 21 classes (COCO with VOC's labels), 520 px evaluation.
# Its published 2.086 GFLOPS are multiply-accumulates (torchvision counts one per MAC). torchvision builds no
# LR-ASPP on MobileNetV3-Small; its `_lraspp_mobilenetv3` on `mobilenet_v3_small(dilated=True)` has the
# trainable parameters given here and no published MACs.
for _name, _arch, _counts, _reference in (
    ("lraspp_mobilenet_v3_large", MOBILENET_V3_LARGE, ReferenceCounts(3_221_538, 2_086_000_000, 520, 21), _TORCHVISION),
    (
        "lraspp_mobilenet_v3_small",
        MOBILENET_V3_SMALL,
        ReferenceCounts(1_077_954, None, 520, 21),
        "torchvision.models.segmentation.lraspp._lraspp_mobilenetv3(mobilenet_v3_small(dilated=True), 21)",
    ),
):
    _backbone = _name.removeprefix("lraspp_")
    registry.register(
        _name,
        family="lraspp",
        task="segmentation",
        backbone=_backbone,
        default_resolution=512,
        default_dropout=0.0,
        reference=_reference,
        description=f"LR-ASPP segmentation head on {_backbone} (last stage dilated to output stride 16 by "
        "default); class probabilities per pixel at 1/8 of the input, or resized to it (resize_output).",
        paper=_PAPER,
        idea=_IDEA,
        reference_counts=_counts,
        options=_OPTIONS,
    )(
        registry.variant(
            _segmenter(_arch),
            f"LR-ASPP on {_backbone}.\n\nReference: {_reference} (same trainable parameters with "
            f"{_counts.num_classes} classes: {_counts.params:,}) and {_PAPER}.\n",
            name=_name,
        )
    )
del _name, _arch, _counts, _reference, _backbone
