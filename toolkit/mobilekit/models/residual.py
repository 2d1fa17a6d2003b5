"""ResNet (v1 and pre-activation v2) and DenseNet: config tables over small block functions.

ResNet
------
`RESNET_DEPTHS` is the one table: each depth's block kind and blocks per
stage (He et al., 2016, table 1). Three block functions build every unit:

- `basic_block`:       3x3 -> 3x3                      (ResNet-18/34)
- `bottleneck_block`:  1x1 -> 3x3 -> 1x1 (x4)          (ResNet-50/101/152)
- `preact_bottleneck`: BN-ReLU first, then 1x1 -> 3x3 -> 1x1 (x4), identity
  path untouched                                       (ResNet-V2)

Shortcuts: identity where a unit keeps width and size; otherwise a projection
-- v1: 1x1 conv + batch norm (with the unit's stride); v2: 1x1 conv of the
pre-activation on a width change, a 1x1 max-pool when it only strides. What differs between the
three published layouts -- biases, batch-norm epsilon, which block of a stage
and which convolution of a bottleneck strides, the input preprocessing -- is a
`ResNetStyle` value, not code:

- KERAS_V1 (resnet50/101/152): tf_keras.applications.ResNet50/101/152,
  weight-compatible. Every conv has a bias; the bottleneck strides in its
  first 1x1; "caffe" preprocessing (RGB -> BGR, minus the ImageNet mean).
- KERAS_V2 (resnet50_v2/101_v2/152_v2): tf_keras.applications.ResNet50V2/...,
  weight-compatible. Pre-activation; the stride sits on the *last* block of
  stages 2-4 (keras' stack2), its shortcut is a 1x1 max-pool; BN + ReLU after
  the last stage; inputs in [-1, 1].
- TORCHVISION (resnet18/34): torchvision.models.resnet18/34 -- no conv biases,
  the stride on the first 3x3 of a stage's first block, torch normalization.

DenseNet
--------
`DENSENET_BLOCKS` gives the conv_blocks per dense block (Huang et al., 2017,
table 1). A dense block stacks `dense_layer`s (BN-ReLU-1x1 conv 4k-BN-ReLU-3x3
conv k, concatenated to its input); a `transition` (BN-ReLU-1x1 conv to
floor(theta * channels)-2x2 average pool) joins two dense blocks. At growth
rate k=32 and compression theta=0.5 it is weight-compatible with
tf_keras.applications.DenseNet121/169/201.

Every model takes raw RGB pixels in [0, 255]; the preprocessing its reference
expects happens inside, in the first layer (layers.InputNormalization, named
"normalize"). Layer names are keras' wherever keras has the layer.
"""

from __future__ import annotations

import dataclasses
import numbers

import tf_keras

from mobilekit.errors import UserError
from mobilekit.models import registry
from mobilekit.models.layers import CAFFE, TO_MINUS_ONE_ONE, TORCH, Normalization, activation_layer
from mobilekit.models.registry import ReferenceCounts
from mobilekit.models.scaling import scale_width

# ---------------------------------------------------------------------------
# Shared pieces


KERAS_BN_EPSILON = 1.001e-5  # keras.applications' ResNet and DenseNet


def _batch_norm(name: str, epsilon: float, momentum: float = 0.99):
    return tf_keras.layers.BatchNormalization(axis=-1, epsilon=epsilon, momentum=momentum, name=name)


def _pool_stem(x, filters: int, *, bias: bool, post: tuple[float, float] | None):
    """keras' and torchvision's stem: pad 3, conv 7x7/2, [BN, ReLU], pad 1, max-pool 3/2.

    `post` = (epsilon, momentum) of the batch norm after the conv, or None for
    none (pre-activation nets). Padding zeros before the max-pool equals
    PyTorch's -inf padding: the input is post-ReLU, >= 0.
    """
    x = tf_keras.layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = tf_keras.layers.Conv2D(filters, 7, strides=2, use_bias=bias, name="conv1_conv")(x)
    if post is not None:
        x = _batch_norm("conv1_bn", *post)(x)
        x = activation_layer("relu", "conv1_relu")(x)
    x = tf_keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return tf_keras.layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def _classifier(x, *, num_classes: int, dropout: float):
    """Global average pool, dropout (when > 0; keras has none), softmax Dense: keras' names."""
    x = tf_keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout > 0:
        x = tf_keras.layers.Dropout(dropout, name="top_dropout")(x)
    return tf_keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)


# ---------------------------------------------------------------------------
# ResNet


@dataclasses.dataclass(frozen=True)
class ResNetStyle:
    """How one ResNet family builds its layers.

    conv_bias: whether a conv followed by batch norm has a bias (keras v1: yes;
        keras v2 and torchvision: no). A conv *not* followed by batch norm
        (v2's stem, projection and last 1x1) always has one, as in keras.
    bn_epsilon, bn_momentum: keras.applications 1.001e-5 / 0.99; torchvision
        1e-5 / 0.9 (PyTorch's momentum 0.1 is keras' 0.9).
    preact: pre-activation units (He et al., "Identity Mappings", 2016).
    stage_strides: the stride of each stage (4 stages).
    stride_block: which block of a stage carries its stride, "first" (v1,
        torchvision) or "last" (keras v2's stack2).
    bottleneck_stride: which conv of a bottleneck strides, "1x1" (keras v1,
        the original paper) or "3x3" (keras v2, torchvision's "v1.5").
    normalization: what the reference does to raw pixels.
    """

    conv_bias: bool
    bn_epsilon: float
    bn_momentum: float
    preact: bool
    stage_strides: tuple[int, ...]
    stride_block: str
    bottleneck_stride: str
    normalization: Normalization

    def __post_init__(self):
        if self.stride_block not in ("first", "last"):
            raise ValueError(f"stride_block={self.stride_block!r}; expected 'first' or 'last'")
        if self.bottleneck_stride not in ("1x1", "3x3"):
            raise ValueError(f"bottleneck_stride={self.bottleneck_stride!r}; expected '1x1' or '3x3'")
        if any(s not in (1, 2) for s in self.stage_strides):
            raise ValueError(f"stage strides {self.stage_strides} must be 1 or 2")


KERAS_V1 = ResNetStyle(
    conv_bias=True,
    bn_epsilon=KERAS_BN_EPSILON,
    bn_momentum=0.99,
    preact=False,
    stage_strides=(1, 2, 2, 2),
    stride_block="first",
    bottleneck_stride="1x1",
    normalization=CAFFE,
)
KERAS_V2 = ResNetStyle(
    conv_bias=False,
    bn_epsilon=KERAS_BN_EPSILON,
    bn_momentum=0.99,
    preact=True,
    stage_strides=(2, 2, 2, 1),
    stride_block="last",
    bottleneck_stride="3x3",
    normalization=TO_MINUS_ONE_ONE,
)
TORCHVISION = ResNetStyle(
    conv_bias=False,
    bn_epsilon=1e-5,
    bn_momentum=0.9,
    preact=False,
    stage_strides=(1, 2, 2, 2),
    stride_block="first",
    bottleneck_stride="3x3",
    normalization=TORCH,
)


@dataclasses.dataclass(frozen=True)
class ResNetDepth:
    """One row of the table: block kind and blocks per stage."""

    kind: str  # "basic" | "bottleneck"
    blocks: tuple[int, ...]

    def __post_init__(self):
        if self.kind not in BLOCK_EXPANSION:
            raise ValueError(f"block kind {self.kind!r}; expected one of {', '.join(BLOCK_EXPANSION)}")
        if len(self.blocks) != len(STAGE_WIDTHS) or min(self.blocks) < 1:
            raise ValueError(f"blocks {self.blocks}: expected {len(STAGE_WIDTHS)} stages of >= 1 block")


STEM_WIDTH = 64
STAGE_WIDTHS = (64, 128, 256, 512)  # bottleneck (inner) width of each stage
BLOCK_EXPANSION = {"basic": 1, "bottleneck": 4}  # output width = inner width * expansion

RESNET_DEPTHS = {
    18: ResNetDepth("basic", (2, 2, 2, 2)),
    34: ResNetDepth("basic", (3, 4, 6, 3)),
    50: ResNetDepth("bottleneck", (3, 4, 6, 3)),
    101: ResNetDepth("bottleneck", (3, 4, 23, 3)),
    152: ResNetDepth("bottleneck", (3, 8, 36, 3)),
}


@dataclasses.dataclass(frozen=True)
class PlannedUnit:
    """One residual unit: keras' name (`conv{stage}_block{i}`), inner width, stride."""

    name: str
    width: int
    stride: int


def plan_units(depth: ResNetDepth, style: ResNetStyle) -> list[PlannedUnit]:
    """Every unit in order; each stage's stride on its first or last block (the style says)."""
    planned = []
    for stage, (width, count, stride) in enumerate(zip(STAGE_WIDTHS, depth.blocks, style.stage_strides), start=2):
        strided = 0 if style.stride_block == "first" else count - 1
        for i in range(count):
            planned.append(PlannedUnit(f"conv{stage}_block{i + 1}", width, stride if i == strided else 1))
    return planned


def _conv(x, filters: int, kernel: int, stride: int, *, prefix: str, bias: bool):
    """`{prefix}_conv`; a strided k x k conv (k > 1) is padded by k//2 each side first
    (`{prefix}_pad`, PyTorch's and keras v2's rule), otherwise 'same'."""
    padding = "same"
    if stride > 1 and kernel > 1:
        x = tf_keras.layers.ZeroPadding2D(kernel // 2, name=f"{prefix}_pad")(x)
        padding = "valid"
    return tf_keras.layers.Conv2D(
        filters, kernel, strides=stride, padding=padding, use_bias=bias, name=f"{prefix}_conv"
    )(x)


def _conv_bn(x, filters: int, kernel: int, stride: int, *, prefix: str, style: ResNetStyle, relu: bool):
    """`{prefix}_conv` -> `{prefix}_bn` [-> `{prefix}_relu`]."""
    x = _conv(x, filters, kernel, stride, prefix=prefix, bias=style.conv_bias)
    x = _batch_norm(f"{prefix}_bn", style.bn_epsilon, style.bn_momentum)(x)
    return activation_layer("relu", f"{prefix}_relu")(x) if relu else x


def _projection(x, out_channels: int, stride: int, *, name: str, style: ResNetStyle):
    """The v1 shortcut: identity, or 1x1 conv + BN (`{name}_0_conv/_bn`) on a width change or stride."""
    if stride == 1 and int(x.shape[-1]) == out_channels:
        return x
    return _conv_bn(x, out_channels, 1, stride, prefix=f"{name}_0", style=style, relu=False)


def _bottleneck_strides(stride: int, style: ResNetStyle) -> tuple[int, int]:
    """(stride of the first 1x1, stride of the 3x3)."""
    return (stride, 1) if style.bottleneck_stride == "1x1" else (1, stride)


def basic_block(x, *, width: int, stride: int, name: str, style: ResNetStyle):
    """3x3 (stride) -> BN -> ReLU -> 3x3 -> BN, + shortcut, ReLU (torchvision's BasicBlock)."""
    shortcut = _projection(x, width, stride, name=name, style=style)
    x = _conv_bn(x, width, 3, stride, prefix=f"{name}_1", style=style, relu=True)
    x = _conv_bn(x, width, 3, 1, prefix=f"{name}_2", style=style, relu=False)
    x = tf_keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return activation_layer("relu", f"{name}_out")(x)


def bottleneck_block(x, *, width: int, stride: int, name: str, style: ResNetStyle):
    """1x1 -> BN -> ReLU -> 3x3 -> BN -> ReLU -> 1x1 (4x width) -> BN, + shortcut, ReLU (keras' block1)."""
    out_channels = width * BLOCK_EXPANSION["bottleneck"]
    first, middle = _bottleneck_strides(stride, style)
    shortcut = _projection(x, out_channels, stride, name=name, style=style)
    x = _conv_bn(x, width, 1, first, prefix=f"{name}_1", style=style, relu=True)
    x = _conv_bn(x, width, 3, middle, prefix=f"{name}_2", style=style, relu=True)
    x = _conv_bn(x, out_channels, 1, 1, prefix=f"{name}_3", style=style, relu=False)
    x = tf_keras.layers.Add(name=f"{name}_add")([shortcut, x])
    return activation_layer("relu", f"{name}_out")(x)


def preact_bottleneck(x, *, width: int, stride: int, name: str, style: ResNetStyle):
    """Pre-activation bottleneck (keras' block2).

    BN -> ReLU (`_preact_`), then 1x1 -> BN -> ReLU -> 3x3 -> BN -> ReLU -> 1x1
    (4x width, bias, no BN), added to the shortcut: a 1x1 conv of the
    pre-activation on a width change, a 1x1/stride max-pool of the input when
    only striding, else the input itself. No activation after the add.
    """
    out_channels = width * BLOCK_EXPANSION["bottleneck"]
    first, middle = _bottleneck_strides(stride, style)
    preact = _batch_norm(f"{name}_preact_bn", style.bn_epsilon, style.bn_momentum)(x)
    preact = activation_layer("relu", f"{name}_preact_relu")(preact)
    if int(x.shape[-1]) != out_channels:
        shortcut = _conv(preact, out_channels, 1, stride, prefix=f"{name}_0", bias=True)
    elif stride > 1:
        shortcut = tf_keras.layers.MaxPooling2D(1, strides=stride, name=f"{name}_0_pool")(x)
    else:
        shortcut = x
    x = _conv_bn(preact, width, 1, first, prefix=f"{name}_1", style=style, relu=True)
    x = _conv_bn(x, width, 3, middle, prefix=f"{name}_2", style=style, relu=True)
    x = _conv(x, out_channels, 1, 1, prefix=f"{name}_3", bias=True)
    return tf_keras.layers.Add(name=f"{name}_out")([shortcut, x])


RESIDUAL_UNITS = {  # (block kind, pre-activation) -> block function
    ("basic", False): basic_block,
    ("bottleneck", False): bottleneck_block,
    ("bottleneck", True): preact_bottleneck,
}


def build_resnet(
    depth: ResNetDepth,
    style: ResNetStyle,
    *,
    name: str,
    alpha: float,
    resolution: int,
    num_classes: int,
    include_top: bool,
    dropout: float,
) -> tf_keras.Model:
    """The functional model for one row of RESNET_DEPTHS in one style. Widths go through scale_width."""
    unit = RESIDUAL_UNITS.get((depth.kind, style.preact))
    if unit is None:
        raise ValueError(f"no {'pre-activation ' if style.preact else ''}{depth.kind} unit")
    expansion = BLOCK_EXPANSION[depth.kind]
    inputs = tf_keras.Input((resolution, resolution, 3), name="image")
    x = style.normalization.layer()(inputs)
    x = _pool_stem(
        x,
        scale_width(STEM_WIDTH, alpha),
        bias=style.conv_bias or style.preact,
        post=None if style.preact else (style.bn_epsilon, style.bn_momentum),
    )
    for planned in plan_units(depth, style):
        # The output width (inner * expansion) is what alpha scales; the inner width follows.
        out_channels = scale_width(planned.width * expansion, alpha)
        x = unit(x, width=out_channels // expansion, stride=planned.stride, name=planned.name, style=style)
    if style.preact:
        x = _batch_norm("post_bn", style.bn_epsilon, style.bn_momentum)(x)
        x = activation_layer("relu", "post_relu")(x)
    if include_top:
        x = _classifier(x, num_classes=num_classes, dropout=dropout)
    return tf_keras.Model(inputs, x, name=name)


# ---------------------------------------------------------------------------
# DenseNet

DENSENET_BLOCKS = {
    121: (6, 12, 24, 16),
    169: (6, 12, 32, 32),
    201: (6, 12, 48, 32),
}
DENSENET_GROWTH_RATE = 32
DENSENET_COMPRESSION = 0.5
DENSENET_STEM = 64
DENSENET_BOTTLENECK = 4  # the 1x1 conv of a dense layer has 4k channels


def dense_layer(x, growth: int, *, name: str):
    """BN -> ReLU -> 1x1 conv 4k -> BN -> ReLU -> 3x3 conv k, concatenated to the input (keras' conv_block)."""
    y = _batch_norm(f"{name}_0_bn", KERAS_BN_EPSILON)(x)
    y = activation_layer("relu", f"{name}_0_relu")(y)
    y = tf_keras.layers.Conv2D(DENSENET_BOTTLENECK * growth, 1, use_bias=False, name=f"{name}_1_conv")(y)
    y = _batch_norm(f"{name}_1_bn", KERAS_BN_EPSILON)(y)
    y = activation_layer("relu", f"{name}_1_relu")(y)
    y = tf_keras.layers.Conv2D(growth, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return tf_keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([x, y])


def transition(x, compression: float, *, name: str):
    """BN -> ReLU -> 1x1 conv to floor(theta * channels) -> 2x2/2 average pool (keras' transition_block)."""
    x = _batch_norm(f"{name}_bn", KERAS_BN_EPSILON)(x)
    x = activation_layer("relu", f"{name}_relu")(x)
    channels = max(1, int(int(x.shape[-1]) * compression))
    x = tf_keras.layers.Conv2D(channels, 1, use_bias=False, name=f"{name}_conv")(x)
    return tf_keras.layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def check_densenet_options(growth_rate, compression) -> None:
    """Ranges of DenseNet's knobs (the registry has checked their types)."""
    if isinstance(growth_rate, bool) or not isinstance(growth_rate, numbers.Integral) or growth_rate < 1:
        raise UserError(
            f"DenseNet growth_rate (k, channels each dense layer adds) must be a whole number "
            f">= 1, got {growth_rate!r}. The paper uses 32 (DenseNet-121/169/201) or 12 and 24."
        )
    if isinstance(compression, bool) or not isinstance(compression, numbers.Real) or not 0 < compression <= 1:
        raise UserError(
            f"DenseNet compression (theta, the fraction of channels a transition keeps) must be "
            f"in (0, 1], got {compression!r}. The paper uses 0.5 (DenseNet-BC); 1 keeps every "
            "channel."
        )


def build_densenet(
    blocks: tuple[int, ...],
    *,
    name: str,
    alpha: float,
    resolution: int,
    num_classes: int,
    include_top: bool,
    dropout: float,
    growth_rate: int = DENSENET_GROWTH_RATE,
    compression: float = DENSENET_COMPRESSION,
) -> tf_keras.Model:
    """DenseNet-BC: stem, dense blocks joined by transitions, BN + ReLU, classifier.

    alpha scales the stem and the growth rate (the growth rate to a whole
    channel, not to a multiple of 8, so alpha 1 keeps any growth_rate as given).
    """
    check_densenet_options(growth_rate, compression)
    growth = scale_width(growth_rate, alpha, divisor=1)
    inputs = tf_keras.Input((resolution, resolution, 3), name="image")
    x = TORCH.layer()(inputs)
    # keras' stem, with its names ("conv1/conv"; its padding layers are unnamed there).
    x = tf_keras.layers.ZeroPadding2D(3, name="conv1/pad")(x)
    x = tf_keras.layers.Conv2D(scale_width(DENSENET_STEM, alpha), 7, strides=2, use_bias=False, name="conv1/conv")(x)
    x = _batch_norm("conv1/bn", KERAS_BN_EPSILON)(x)
    x = activation_layer("relu", "conv1/relu")(x)
    x = tf_keras.layers.ZeroPadding2D(1, name="pool1_pad")(x)
    x = tf_keras.layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, count in enumerate(blocks, start=2):
        for i in range(count):
            x = dense_layer(x, growth, name=f"conv{stage}_block{i + 1}")
        if stage < len(blocks) + 1:
            x = transition(x, compression, name=f"pool{stage}")
    x = _batch_norm("bn", KERAS_BN_EPSILON)(x)
    x = activation_layer("relu", "relu")(x)
    if include_top:
        x = _classifier(x, num_classes=num_classes, dropout=dropout)
    return tf_keras.Model(inputs, x, name=name)


# ---------------------------------------------------------------------------
# Registered models

_RESNET_PAPER = 'He et al., "Deep Residual Learning for Image Recognition", CVPR 2016, arXiv:1512.03385'
_RESNET_V2_PAPER = 'He et al., "Identity Mappings in Deep Residual Networks", ECCV 2016, arXiv:1603.05027'
_DENSENET_PAPER = 'Huang et al., "Densely Connected Convolutional Networks", CVPR 2017, arXiv:1608.06993'

# Counted with complexity.py at 224 px, 1000 classes; torchvision's trainable
# parameters (torchvision.models.resnet18/34: 11,689,512 / 21,797,672) exactly,
# and within 0.2% of its published 1.814 / 3.664 GFLOPS (multiply-adds).
_TORCHVISION_COUNTS = {
    18: ReferenceCounts(params=11_689_512, macs=1_814_073_344),
    34: ReferenceCounts(params=21_797_672, macs=3_663_761_408),
}


def _register_resnet(name: str, depth: int, style: ResNetStyle) -> None:
    """Register one ResNet: a row of RESNET_DEPTHS built in one style (keras v1, keras v2, torchvision)."""
    table = RESNET_DEPTHS[depth]
    kind = "bottleneck" if table.kind == "bottleneck" else "basic (two 3x3)"
    counts, idea = None, "residual learning"
    if style is TORCHVISION:
        paper = _RESNET_PAPER
        reference = f"torchvision.models.resnet{depth}"
        what = f"ResNet-{depth}: {kind} residual units, blocks {table.blocks}, torchvision's layout."
        notes = (
            "same trainable parameters and multiply-adds; convs without biases, the stride on the "
            "first 3x3 of a stage, 1x1 conv + BN projection shortcuts, torch normalization inside"
        )
        counts = _TORCHVISION_COUNTS[depth]
    elif style is KERAS_V2:
        paper = _RESNET_V2_PAPER
        reference = f"tf_keras.applications.ResNet{depth}V2"
        what = f"ResNet-{depth} v2: pre-activation {kind} units (BN-ReLU before each conv), blocks {table.blocks}."
        notes = "weight-compatible; that model expects x/127.5 - 1, ours takes raw pixels and normalizes inside"
        idea = "residual learning with pre-activation residual units (identity mappings)"
    elif style is KERAS_V1:
        paper = _RESNET_PAPER
        reference = f"tf_keras.applications.ResNet{depth}"
        what = f"ResNet-{depth}: {kind} residual units, blocks {table.blocks}."
        notes = (
            'weight-compatible; that model expects keras\' "caffe" preprocessing, RGB -> BGR minus the '
            "ImageNet mean; ours takes raw RGB pixels and does it inside"
        )
    else:
        raise ValueError(f"{name}: no reference for this style")

    registry.register(
        name,
        family="resnet_v2" if style.preact else "resnet",
        default_resolution=224,
        default_dropout=0.0,
        reference=reference,
        paper=paper,
        idea=idea,
        description=what,
        reference_counts=counts,
        min_resolution=32,
    )(
        registry.variant(
            build_resnet,
            f"{what}\n\nReference: {reference} ({notes}) and {paper}.\n",
            depth=table,
            style=style,
            name=name,
        )
    )


def _register_densenet(name: str, blocks: tuple[int, ...]) -> None:
    """Register one row of DENSENET_BLOCKS at keras' layers (growth rate 32, compression 0.5 by default)."""
    depth = name.removeprefix("densenet")
    reference = f"tf_keras.applications.DenseNet{depth}"
    what = (
        f"DenseNet-{depth} (BC): dense blocks {blocks} of BN-ReLU-1x1-BN-ReLU-3x3 layers, each "
        "concatenated to all before it, joined by compressing transitions."
    )

    doc = (
        f"{what}\n\nOptions: growth_rate (k, default {DENSENET_GROWTH_RATE}) and compression (theta, default "
        f"{DENSENET_COMPRESSION}); at the defaults the layers are keras'.\n\n"
        f'Reference: {reference} (weight-compatible; that model expects keras\' "torch" preprocessing, '
        f"x/255 minus the ImageNet mean over its std; ours takes raw pixels and does it inside) and "
        f"{_DENSENET_PAPER}.\n"
    )
    registry.register(
        name,
        family="densenet",
        default_resolution=224,
        default_dropout=0.0,
        reference=reference,
        paper=_DENSENET_PAPER,
        idea="dense connectivity",
        description=what,
        options={"growth_rate": DENSENET_GROWTH_RATE, "compression": DENSENET_COMPRESSION},
        min_resolution=32,
    )(registry.variant(build_densenet, doc, blocks=blocks, name=name))


_register_resnet("resnet18", 18, TORCHVISION)
_register_resnet("resnet34", 34, TORCHVISION)
_register_resnet("resnet50", 50, KERAS_V1)
_register_resnet("resnet101", 101, KERAS_V1)
_register_resnet("resnet152", 152, KERAS_V1)
_register_resnet("resnet50_v2", 50, KERAS_V2)
_register_resnet("resnet101_v2", 101, KERAS_V2)
_register_resnet("resnet152_v2", 152, KERAS_V2)
_register_densenet("densenet121", DENSENET_BLOCKS[121])
_register_densenet("densenet169", DENSENET_BLOCKS[169])
_register_densenet("densenet201", DENSENET_BLOCKS[201])
