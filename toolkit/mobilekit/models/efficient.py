"""MobileNetV2/V3, MnasNet, MixNet and EfficientNet as data: spec tables for blocks.py.

A model is a stem, stages of block strings, and a head. A block string reads

    {kind}_r{repeats}_k{kernel}_s{stride}[_e{expansion}]_c{channels}[_se{ratio}][_a{act}][_ge{n}][_gp{n}]

kind: "ir" (inverted residual: needs e) or "ds" (depthwise-separable: no
expansion). e may be a decimal or a fraction (e4.5, e88/24), since MobileNetV3
expands by 88/24. act: re (ReLU), r6 (ReLU6), hs (hard-swish), sw (swish);
without it, the architecture's default. A kernel of several sizes, `k3.5.7`,
is MixNet's mixed depthwise convolution (one channel group per size); `ge2` /
`gp2` split the expansion / projection 1x1 convolution into 2 channel groups.
Examples: `ir_r2_k3_s2_e6_c24_se0.25`, `ds_r1_k3_s1_c16_are`,
`ir_r3_k3.5_s1_e6_c40_se0.5_asw_ge2_gp2`.

`decode_block` checks each string against the schema into a frozen
`BlockSpec`; `build_architecture` checks the stage invariants (only the first
block of a stage strides), applies the width / depth multipliers
(scaling.py) and calls the one block builder (blocks.py) per block.

Every model is weight-compatible with its tf_keras.applications counterpart:
same layers carrying weights, same order, same shapes, same outputs.
"""

from __future__ import annotations

import dataclasses
import fractions

import tf_keras

from mobilekit.errors import UserError
from mobilekit.models import registry
from mobilekit.models.blocks import BlockSettings, conv_bn, initializer, inverted_residual
from mobilekit.models.layers import TO_MINUS_ONE_ONE, TORCH, Normalization, activation_layer
from mobilekit.models.registry import ReferenceCounts
from mobilekit.models.scaling import (
    EFFICIENTNET_SCALES,
    WIDTH_MODES,
    CompoundScale,
    make_divisible,
    scale_depth,
    scale_width,
)

# ---------------------------------------------------------------------------
# Block strings

ACTIVATION_CODES = {"re": "relu", "r6": "relu6", "hs": "hard_swish", "sw": "swish"}
BLOCK_KINDS = ("ir", "ds")


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError("expected a whole number >= 1")
    return int(text)


def _fraction(text: str) -> fractions.Fraction:
    value = fractions.Fraction(text)
    if value <= 0:
        raise ValueError("expected a number > 0")
    return value


def _kernels(text: str) -> tuple[int, ...]:
    sizes = tuple(_positive_int(part) for part in text.split("."))
    if any(size % 2 != 1 for size in sizes):
        raise ValueError("kernel sizes must be odd")
    if len(set(sizes)) != len(sizes):
        raise ValueError("mixed kernel sizes must differ")
    return sizes


def _ratio(text: str) -> float:
    value = float(text)
    if not 0 < value <= 1:
        raise ValueError("expected a ratio in (0, 1]")
    return value


def _activation_code(text: str) -> str:
    if text not in ACTIVATION_CODES:
        raise ValueError(f"expected one of {', '.join(ACTIVATION_CODES)}")
    return ACTIVATION_CODES[text]


# key -> (BlockSpec field, parser). Longest keys first so "se0.25" is not read as "s".
_SCHEMA = {
    "se": ("se_ratio", _ratio),
    "ge": ("expand_groups", _positive_int),
    "gp": ("project_groups", _positive_int),
    "r": ("repeats", _positive_int),
    "k": ("kernel", _kernels),
    "s": ("stride", _positive_int),
    "e": ("expansion", _fraction),
    "c": ("channels", _positive_int),
    "a": ("activation", _activation_code),
}
_REQUIRED = {"ir": ("r", "k", "s", "e", "c"), "ds": ("r", "k", "s", "c")}
_OPTIONAL = {"ir": ("se", "a", "ge", "gp"), "ds": ("e", "se", "a", "gp")}


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    """One decoded block string. `repeats` counts before depth scaling."""

    kind: str
    repeats: int
    kernel: tuple[int, ...]  # one size, or MixConv's sizes (one channel group each)
    stride: int
    expansion: fractions.Fraction
    channels: int
    se_ratio: float | None = None
    activation: str | None = None
    expand_groups: int = 1
    project_groups: int = 1

    def __post_init__(self):
        if self.kind not in BLOCK_KINDS:
            raise ValueError(f"block kind {self.kind!r}; expected one of {BLOCK_KINDS}")
        if not self.kernel or any(k % 2 != 1 for k in self.kernel):
            raise ValueError(f"kernel {self.kernel} must be odd")
        if self.stride not in (1, 2):
            raise ValueError(f"stride {self.stride} must be 1 or 2")
        if self.kind == "ds" and self.expansion != 1:
            raise ValueError("a ds (depthwise-separable) block has no expansion; use ir")
        if self.kind == "ds" and self.expand_groups != 1:
            raise ValueError("a ds (depthwise-separable) block has no expansion conv to group")

    def encode(self) -> str:
        """The block string this spec decodes from."""
        parts = [self.kind, f"r{self.repeats}", "k" + ".".join(map(str, self.kernel)), f"s{self.stride}"]
        if self.kind == "ir":
            parts.append(f"e{self.expansion}")
        parts.append(f"c{self.channels}")
        if self.se_ratio is not None:
            parts.append(f"se{self.se_ratio:g}")
        if self.activation is not None:
            code = {v: k for k, v in ACTIVATION_CODES.items()}[self.activation]
            parts.append(f"a{code}")
        if self.expand_groups != 1:
            parts.append(f"ge{self.expand_groups}")
        if self.project_groups != 1:
            parts.append(f"gp{self.project_groups}")
        return "_".join(parts)


def decode_block(text: str) -> BlockSpec:
    """Parse one block string (see the module docstring) with a schema and length check."""

    def fail(why: str):
        raise UserError(
            f"bad block string {text!r}: {why}. Expected "
            "{ir|ds}_r<repeats>_k<kernel[.kernel...]>_s<stride>[_e<expansion>]_c<channels>[_se<ratio>]"
            "[_a<re|r6|hs|sw>][_ge<groups>][_gp<groups>], e.g. 'ir_r2_k3_s2_e6_c24_se0.25'."
        )

    if not isinstance(text, str) or not text:
        fail("not a non-empty string")
    kind, *tokens = text.split("_")
    if kind not in BLOCK_KINDS:
        fail(f"kind {kind!r} is not one of {', '.join(BLOCK_KINDS)}")
    required, optional = _REQUIRED[kind], _OPTIONAL[kind]
    if not len(required) <= len(tokens) <= len(required) + len(optional):
        fail(
            f"{len(tokens)} fields after the kind; a {kind} block has {len(required)} required "
            f"({', '.join(required)}) and up to {len(optional)} optional ({', '.join(optional)})"
        )
    values: dict[str, object] = {}
    for token in tokens:
        key = next((k for k in _SCHEMA if token.startswith(k) and len(token) > len(k)), None)
        if key is None or key not in required + optional:
            fail(f"field {token!r} is not one of {', '.join(required + optional)}")
        if key in values:
            fail(f"field {key!r} given twice")
        field_name, parse = _SCHEMA[key]
        try:
            values[key] = parse(token[len(key) :])
        except (ValueError, ZeroDivisionError) as error:
            fail(f"field {token!r}: {error}")
    missing = [k for k in required if k not in values]
    if missing:
        fail(f"missing {', '.join(missing)}")
    try:
        return BlockSpec(
            kind=kind,
            repeats=values["r"],
            kernel=values["k"],
            stride=values["s"],
            expansion=values.get("e", fractions.Fraction(1)),
            channels=values["c"],
            se_ratio=values.get("se"),
            activation=values.get("a"),
            expand_groups=values.get("ge", 1),
            project_groups=values.get("gp", 1),
        )
    except ValueError as error:
        fail(str(error))


# ---------------------------------------------------------------------------
# Architectures


@dataclasses.dataclass(frozen=True)
class Stem:
    channels: int
    width_mode: str  # scaling.WIDTH_MODES
    activation: str
    explicit_pad: bool  # ZeroPadding2D + 'valid' (EfficientNet) or 'same' (MobileNets)
    kernel: int = 3
    stride: int = 2


@dataclasses.dataclass(frozen=True)
class Head:
    """1x1 conv after the last block, then (with include_top) the classifier.

    channels / width_mode: the 1x1 conv's width; width_mode "input_ratio" means
        make_divisible(input channels * channels) (MobileNetV3's 6x).
    classifier: "dense" -- pool, dropout, Dense (MobileNetV2, EfficientNet); or
        "conv" -- pool (keepdims), 1x1 conv `hidden` with bias, activation,
        dropout, 1x1 conv logits, flatten (MobileNetV3).
    """

    channels: int
    width_mode: str
    activation: str
    classifier: str
    hidden: int | None = None
    hidden_width_mode: str = "grow_only"
    classifier_initializer: str = "glorot_uniform"


@dataclasses.dataclass(frozen=True)
class Architecture:
    stem: Stem
    stages: tuple[tuple[BlockSpec, ...], ...]
    head: Head
    block: BlockSettings
    normalization: Normalization
    activation: str  # blocks without an `a` field
    block_width_mode: str = "divisible"
    width: float = 1.0
    depth: float = 1.0
    depth_mode: str = "ceil"
    drop_connect: float = 0.0
    # None: every block strides as its spec says. A power of two: blocks that would take the network past this
    # output stride keep stride 1 and dilate their depthwise kernels instead (segmentation backbones).
    output_stride: int | None = None


def stages(*table: tuple[str, ...]) -> tuple[tuple[BlockSpec, ...], ...]:
    return tuple(tuple(decode_block(text) for text in stage) for stage in table)


@dataclasses.dataclass(frozen=True)
class PlannedBlock:
    prefix: str
    spec: BlockSpec
    stride: int
    dilation: int = 1


def plan_blocks(arch: Architecture) -> list[PlannedBlock]:
    """Blocks in order after depth scaling, named block{stage}{letter}_; checks the invariants.

    Past `arch.output_stride`, a block that would stride keeps stride 1 and it and every block after
    it dilate by the strides skipped (torchvision's dilated MobileNetV3 does the same).
    """
    limit = arch.output_stride
    if limit is not None and (limit < arch.stem.stride or limit & (limit - 1)):
        raise ValueError(f"output_stride must be a power of two >= the stem's stride, got {limit}")
    reached, rate = arch.stem.stride, 1
    planned = []
    for s, stage in enumerate(arch.stages, start=1):
        if not stage:
            raise ValueError(f"stage {s} is empty")
        j = 0
        for i, spec in enumerate(stage):
            if i > 0 and spec.stride != 1:
                raise ValueError(
                    f"stage {s}: {spec.encode()!r} strides but is not the first block of its stage; "
                    "only the first block of a stage may stride"
                )
            for r in range(scale_depth(spec.repeats, arch.depth, arch.depth_mode)):
                letter = chr(ord("a") + j) if j < 26 else f"_{j}"
                stride = spec.stride if r == 0 else 1
                if limit is not None and reached * stride > limit:
                    rate, stride = rate * stride, 1
                reached *= stride
                planned.append(PlannedBlock(f"block{s}{letter}_", spec, stride, rate))
                j += 1
    return planned


def build_architecture(
    arch: Architecture, *, name: str, alpha: float, resolution: int, num_classes: int, include_top: bool, dropout: float
) -> tf_keras.Model:
    """The functional tf_keras model for one architecture and one set of knobs."""
    width = arch.width * alpha
    settings = arch.block
    inputs = tf_keras.Input((resolution, resolution, 3), name="image")
    x = arch.normalization.layer()(inputs)

    stem = arch.stem
    x = conv_bn(
        x,
        scale_width(stem.channels, width, stem.width_mode),
        stem.kernel,
        stem.stride,
        name="stem",
        activation=stem.activation,
        settings=settings,
        explicit_pad=stem.explicit_pad,
    )

    planned = plan_blocks(arch)
    for index, block in enumerate(planned):
        spec = block.spec
        x = inverted_residual(
            x,
            prefix=block.prefix,
            filters=scale_width(spec.channels, width, arch.block_width_mode),
            kernel=spec.kernel,
            stride=block.stride,
            expansion=float(spec.expansion),
            activation=spec.activation or arch.activation,
            se_ratio=spec.se_ratio,
            drop_rate=arch.drop_connect * index / len(planned),
            settings=settings,
            expand_groups=spec.expand_groups,
            project_groups=spec.project_groups,
            dilation=block.dilation,
        )

    head = arch.head
    if head.width_mode == "input_ratio":
        channels = make_divisible(int(x.shape[-1]) * head.channels)
    else:
        channels = scale_width(head.channels, width, head.width_mode)
    x = conv_bn(x, channels, 1, 1, name="top", activation=head.activation, settings=settings)

    if include_top:
        classifier_init = initializer(head.classifier_initializer)
        if head.classifier == "dense":
            x = tf_keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
            if dropout > 0:
                x = tf_keras.layers.Dropout(dropout, name="top_dropout")(x)
            x = tf_keras.layers.Dense(
                num_classes, activation="softmax", kernel_initializer=classifier_init, name="predictions"
            )(x)
        elif head.classifier == "conv":
            x = tf_keras.layers.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
            x = tf_keras.layers.Conv2D(
                scale_width(head.hidden, width, head.hidden_width_mode), 1, use_bias=True, name="head_conv"
            )(x)
            x = activation_layer(head.activation, "head_activation")(x)
            if dropout > 0:
                x = tf_keras.layers.Dropout(dropout, name="top_dropout")(x)
            x = tf_keras.layers.Conv2D(
                num_classes, 1, use_bias=True, kernel_initializer=classifier_init, name="logits"
            )(x)
            x = tf_keras.layers.Flatten(name="flatten")(x)
            x = tf_keras.layers.Activation("softmax", name="predictions")(x)
        else:
            raise ValueError(f"unknown classifier {head.classifier!r}")
    return tf_keras.Model(inputs, x, name=name)


def _check_architecture(arch: Architecture) -> Architecture:
    for mode in (arch.stem.width_mode, arch.block_width_mode, arch.head.hidden_width_mode):
        if mode not in WIDTH_MODES:
            raise ValueError(f"unknown width mode {mode!r}")
    plan_blocks(arch)
    return arch


# ---------------------------------------------------------------------------
# The tables

MOBILENET_V2 = _check_architecture(
    Architecture(
        stem=Stem(32, "divisible", "relu6", explicit_pad=False),
        stages=stages(
            ("ds_r1_k3_s1_c16",),
            ("ir_r2_k3_s2_e6_c24",),
            ("ir_r3_k3_s2_e6_c32",),
            ("ir_r4_k3_s2_e6_c64",),
            ("ir_r3_k3_s1_e6_c96",),
            ("ir_r3_k3_s2_e6_c160",),
            ("ir_r1_k3_s1_e6_c320",),
        ),
        head=Head(1280, "grow_only", "relu6", classifier="dense"),
        block=BlockSettings(bn_epsilon=1e-3, bn_momentum=0.999, expand_rounding="exact"),
        normalization=TO_MINUS_ONE_ONE,
        activation="relu6",
        block_width_mode="floor_divisible",
    )
)

_V3_BLOCKS = BlockSettings(
    bn_epsilon=1e-3,
    bn_momentum=0.999,
    expand_rounding="divisible",
    se_base="expanded",
    se_rounding="divisible",
    se_activation="relu",
    se_gate="hard_sigmoid",
)

MOBILENET_V3_LARGE = _check_architecture(
    Architecture(
        stem=Stem(16, "fixed", "hard_swish", explicit_pad=False),
        stages=stages(
            ("ds_r1_k3_s1_c16_are",),
            ("ir_r1_k3_s2_e4_c24_are", "ir_r1_k3_s1_e3_c24_are"),
            ("ir_r3_k5_s2_e3_c40_se0.25_are",),
            ("ir_r1_k3_s2_e6_c80", "ir_r1_k3_s1_e2.5_c80", "ir_r2_k3_s1_e2.3_c80"),
            ("ir_r2_k3_s1_e6_c112_se0.25",),
            ("ir_r3_k5_s2_e6_c160_se0.25",),
        ),
        head=Head(6, "input_ratio", "hard_swish", classifier="conv", hidden=1280),
        block=_V3_BLOCKS,
        normalization=TO_MINUS_ONE_ONE,
        activation="hard_swish",
    )
)

MOBILENET_V3_SMALL = _check_architecture(
    dataclasses.replace(
        MOBILENET_V3_LARGE,
        stages=stages(
            ("ds_r1_k3_s2_c16_se0.25_are",),
            ("ir_r1_k3_s2_e72/16_c24_are", "ir_r1_k3_s1_e88/24_c24_are"),
            ("ir_r1_k5_s2_e4_c40_se0.25", "ir_r2_k5_s1_e6_c40_se0.25"),
            ("ir_r2_k5_s1_e3_c48_se0.25",),
            ("ir_r3_k5_s2_e6_c96_se0.25",),
        ),
        head=dataclasses.replace(MOBILENET_V3_LARGE.head, hidden=1024),
    )
)


def minimalistic(arch: Architecture) -> Architecture:
    """MobileNetV3's minimalistic variant: 3x3 kernels, no squeeze-excite, ReLU everywhere."""

    def simplify(spec: BlockSpec) -> BlockSpec:
        return dataclasses.replace(spec, kernel=(3,), se_ratio=None, activation="relu")

    return _check_architecture(
        dataclasses.replace(
            arch,
            stages=tuple(tuple(simplify(spec) for spec in stage) for stage in arch.stages),
            stem=dataclasses.replace(arch.stem, activation="relu"),
            head=dataclasses.replace(arch.head, activation="relu"),
            activation="relu",
        )
    )


EFFICIENTNET_B0 = _check_architecture(
    Architecture(
        stem=Stem(32, "divisible", "swish", explicit_pad=True),
        stages=stages(
            ("ds_r1_k3_s1_c16_se0.25",),
            ("ir_r2_k3_s2_e6_c24_se0.25",),
            ("ir_r2_k5_s2_e6_c40_se0.25",),
            ("ir_r3_k3_s2_e6_c80_se0.25",),
            ("ir_r3_k5_s1_e6_c112_se0.25",),
            ("ir_r4_k5_s2_e6_c192_se0.25",),
            ("ir_r1_k3_s1_e6_c320_se0.25",),
        ),
        head=Head(1280, "divisible", "swish", classifier="dense", classifier_initializer="fan_out_uniform"),
        block=BlockSettings(
            bn_epsilon=1e-3,
            bn_momentum=0.99,
            expand_rounding="exact",
            se_base="input",
            se_rounding="floor",
            se_activation=None,
            se_gate="sigmoid",
            conv_initializer="fan_out_normal",
        ),
        normalization=Normalization(scale=1.0 / 255.0, offset=0.0, stats=True),
        activation="swish",
        depth_mode="ceil",
        drop_connect=0.2,
    )
)


# The TensorFlow reference implementations of MnasNet and MixNet (tensorflow/tpu)
# use batch-norm momentum 0.99 and epsilon 1e-3; SE widths as timm rounds them.
_SEARCHED_BLOCKS = BlockSettings(
    bn_epsilon=1e-3,
    bn_momentum=0.99,
    expand_rounding="exact",
    se_base="input",
    se_rounding="round",
    se_activation=None,
    se_gate="sigmoid",
)

# MnasNet-A1 (Tan et al. 2019, figure 7): squeeze-excite in stages 3, 5 and 6.
MNASNET_A1 = _check_architecture(
    Architecture(
        stem=Stem(32, "divisible", "relu", explicit_pad=False),
        stages=stages(
            ("ds_r1_k3_s1_c16",),
            ("ir_r2_k3_s2_e6_c24",),
            ("ir_r3_k5_s2_e3_c40_se0.25",),
            ("ir_r4_k3_s2_e6_c80",),
            ("ir_r2_k3_s1_e6_c112_se0.25",),
            ("ir_r3_k5_s2_e6_c160_se0.25",),
            ("ir_r1_k3_s1_e6_c320",),
        ),
        head=Head(1280, "fixed", "relu", classifier="dense"),  # timm keeps 1280 at every width
        block=_SEARCHED_BLOCKS,
        normalization=TORCH,
        activation="relu",
        depth_mode="ceil",
    )
)

# MnasNet-B1: the search without squeeze-excite in its space.
MNASNET_B1 = _check_architecture(
    dataclasses.replace(
        MNASNET_A1,
        stages=stages(
            ("ds_r1_k3_s1_c16",),
            ("ir_r3_k3_s2_e3_c24",),
            ("ir_r3_k5_s2_e3_c40",),
            ("ir_r3_k5_s2_e6_c80",),
            ("ir_r2_k3_s1_e6_c96",),
            ("ir_r4_k5_s2_e6_c192",),
            ("ir_r1_k3_s1_e6_c320",),
        ),
    )
)

# MixNet-S and -M (Tan & Le 2019, figures 8 and 9): ReLU in the first stages,
# swish after; mixed kernels and grouped 1x1 convolutions per block.
MIXNET_S = _check_architecture(
    Architecture(
        stem=Stem(16, "divisible", "relu", explicit_pad=False),
        stages=stages(
            ("ds_r1_k3_s1_c16",),
            ("ir_r1_k3_s2_e6_c24_ge2_gp2", "ir_r1_k3_s1_e3_c24_ge2_gp2"),
            ("ir_r1_k3.5.7_s2_e6_c40_se0.5_asw", "ir_r3_k3.5_s1_e6_c40_se0.5_asw_ge2_gp2"),
            ("ir_r1_k3.5.7_s2_e6_c80_se0.25_asw_gp2", "ir_r2_k3.5_s1_e6_c80_se0.25_asw_gp2"),
            ("ir_r1_k3.5.7_s1_e6_c120_se0.5_asw_ge2_gp2", "ir_r2_k3.5.7.9_s1_e3_c120_se0.5_asw_ge2_gp2"),
            ("ir_r1_k3.5.7.9.11_s2_e6_c200_se0.5_asw", "ir_r2_k3.5.7.9_s1_e6_c200_se0.5_asw_gp2"),
        ),
        head=Head(1536, "fixed", "relu", classifier="dense"),  # timm keeps 1536 at every width
        block=_SEARCHED_BLOCKS,
        normalization=TORCH,
        activation="relu",
        depth_mode="round",
        drop_connect=0.2,
    )
)

MIXNET_M = _check_architecture(
    dataclasses.replace(
        MIXNET_S,
        stem=dataclasses.replace(MIXNET_S.stem, channels=24),
        stages=stages(
            ("ds_r1_k3_s1_c24",),
            ("ir_r1_k3.5.7_s2_e6_c32_ge2_gp2", "ir_r1_k3_s1_e3_c32_ge2_gp2"),
            ("ir_r1_k3.5.7.9_s2_e6_c40_se0.5_asw", "ir_r3_k3.5_s1_e6_c40_se0.5_asw_ge2_gp2"),
            ("ir_r1_k3.5.7_s2_e6_c80_se0.25_asw", "ir_r3_k3.5.7.9_s1_e6_c80_se0.25_asw_ge2_gp2"),
            ("ir_r1_k3_s1_e6_c120_se0.5_asw", "ir_r3_k3.5.7.9_s1_e3_c120_se0.5_asw_ge2_gp2"),
            ("ir_r1_k3.5.7.9_s2_e6_c200_se0.5_asw", "ir_r3_k3.5.7.9_s1_e6_c200_se0.5_asw_gp2"),
        ),
    )
)

# MixNet-L is MixNet-M at width 1.3.
MIXNET_L = _check_architecture(dataclasses.replace(MIXNET_M, width=1.3))


def efficientnet(scale: CompoundScale) -> Architecture:
    return _check_architecture(dataclasses.replace(EFFICIENTNET_B0, width=scale.width, depth=scale.depth))


# ---------------------------------------------------------------------------
# Registered models

_V2_PAPER = 'Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018, arXiv:1801.04381'
_V3_PAPER = 'Howard et al., "Searching for MobileNetV3", ICCV 2019, arXiv:1905.02244'
_EFFICIENTNET_PAPER = (
    'Tan & Le, "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks", ICML 2019, arXiv:1905.11946'
)


@registry.register(
    "mobilenet_v2",
    family="mobilenet_v2",
    default_resolution=224,
    default_dropout=0.2,
    reference="tf_keras.applications.MobileNetV2",
    paper=_V2_PAPER,
    idea="inverted residual with linear bottleneck",
    description="MobileNetV2: inverted residuals with linear bottlenecks, ReLU6.",
)
def mobilenet_v2(
    *, alpha: float, resolution: int, num_classes: int, include_top: bool, dropout: float
) -> tf_keras.Model:
    """MobileNetV2.

    Reference: tf_keras.applications.MobileNetV2 (weight-compatible; that model
    expects x/127.5 - 1, ours takes raw pixels and normalizes inside) and
    Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks",
    CVPR 2018. Dropout before the classifier (keras has none; it carries no
    weights) follows the paper's training setup.
    """
    return build_architecture(
        MOBILENET_V2,
        name="mobilenet_v2",
        alpha=alpha,
        resolution=resolution,
        num_classes=num_classes,
        include_top=include_top,
        dropout=dropout,
    )


# name -> (architecture, keras' model type, minimalistic)
MOBILENET_V3_VARIANTS = {
    "mobilenet_v3_large": (MOBILENET_V3_LARGE, "Large", False),
    "mobilenet_v3_small": (MOBILENET_V3_SMALL, "Small", False),
    "mobilenet_v3_large_minimalistic": (minimalistic(MOBILENET_V3_LARGE), "Large", True),
    "mobilenet_v3_small_minimalistic": (minimalistic(MOBILENET_V3_SMALL), "Small", True),
}


def _register_mobilenet_v3(name: str, arch: Architecture, model_type: str, is_minimalistic: bool) -> None:
    keras_call = (
        f"tf_keras.applications.MobileNetV3{model_type}(minimalistic={is_minimalistic}, include_preprocessing=True)"
    )
    variant = (
        "minimalistic (3x3 kernels, no squeeze-excite, ReLU only)" if is_minimalistic else "hard-swish, squeeze-excite"
    )
    registry.register(
        name,
        family="mobilenet_v3",
        default_resolution=224,
        default_dropout=0.2,
        reference=keras_call,
        paper=_V3_PAPER,
        idea="squeeze-and-excite and hard-swish, found by platform-aware search and NetAdapt",
        description=f"MobileNetV3-{model_type}, {variant}.",
    )(
        registry.variant(
            build_architecture,
            f"MobileNetV3-{model_type}, {variant}.\n\nReference: {keras_call} (weight-compatible) and {_V3_PAPER}.\n",
            arch=arch,
            name=name,
        )
    )


def _register_efficientnet(name: str, scale: CompoundScale) -> None:
    variant = name.removeprefix("efficientnet_").upper()
    keras_function = f"tf_keras.applications.EfficientNet{variant}"
    registry.register(
        name,
        family="efficientnet",
        default_resolution=scale.resolution,
        default_dropout=scale.dropout,
        reference=keras_function,
        paper=_EFFICIENTNET_PAPER,
        idea="compound scaling of width, depth and resolution",
        description=f"EfficientNet-{variant}: compound-scaled MBConv network with squeeze-excite, swish.",
    )(
        registry.variant(
            build_architecture,
            f"EfficientNet-{variant}: width x{scale.width}, depth x{scale.depth}, {scale.resolution}px, dropout "
            f"{scale.dropout}, drop-connect {EFFICIENTNET_B0.drop_connect}.\n\n"
            f"Reference: {keras_function} (weight-compatible) and {_EFFICIENTNET_PAPER}.\n",
            arch=efficientnet(scale),
            name=name,
        )
    )


_MNASNET_PAPER = (
    'Tan et al., "MnasNet: Platform-Aware Neural Architecture Search for Mobile", CVPR 2019, arXiv:1807.11626'
)
_MIXNET_PAPER = 'Tan & Le, "MixConv: Mixed Depthwise Convolutional Kernels", BMVC 2019, arXiv:1907.09595'


def build_searched(
    arch: Architecture,
    *,
    name: str,
    alpha: float,
    resolution: int,
    num_classes: int,
    include_top: bool,
    dropout: float,
    depth_multiplier: float = 1.0,
) -> tf_keras.Model:
    """build_architecture with MnasNet's depth_multiplier option (each stage's repeats scaled)."""
    if not depth_multiplier > 0:
        raise UserError(
            f"{name}: depth_multiplier must be > 0 (it scales each stage's repeats), got {depth_multiplier!r}."
        )
    scaled = dataclasses.replace(arch, depth=arch.depth * depth_multiplier)
    return build_architecture(
        scaled,
        name=name,
        alpha=alpha,
        resolution=resolution,
        num_classes=num_classes,
        include_top=include_top,
        dropout=dropout,
    )


def _register_counted(
    name: str,
    arch: Architecture,
    *,
    family: str,
    reference: str,
    paper: str,
    idea: str,
    description: str,
    counts: ReferenceCounts,
    depth_option: bool = False,
) -> None:
    """Register a spec table whose reference is a PyTorch implementation (its counts, not its weights)."""
    registry.register(
        name,
        family=family,
        default_resolution=224,
        default_dropout=0.2,
        reference=reference,
        paper=paper,
        idea=idea,
        description=description,
        reference_counts=counts,
        options={"depth_multiplier": 1.0} if depth_option else None,
    )(
        registry.variant(
            build_searched,
            f"{description}\n\nReference: {reference} (same trainable parameters and MACs at 224 px: "
            f"{counts.params:,} and {counts.macs / 1e6:.1f} M) and {paper}.\n",
            arch=arch,
            name=name,
        )
    )


for _name, (_arch, _model_type, _minimalistic) in MOBILENET_V3_VARIANTS.items():
    _register_mobilenet_v3(_name, _arch, _model_type, _minimalistic)
for _name, _scale in EFFICIENTNET_SCALES.items():
    _register_efficientnet(_name, _scale)
del _name, _arch, _model_type, _minimalistic, _scale

_register_counted(
    "mnasnet_a1",
    MNASNET_A1,
    family="mnasnet",
    reference="timm.models.semnasnet_100",
    paper=_MNASNET_PAPER,
    idea="platform-aware architecture search under a measured latency target",
    description="MnasNet-A1: searched inverted-residual blocks with squeeze-excite, ReLU.",
    counts=ReferenceCounts(params=3_887_038, macs=311_600_000),
    depth_option=True,
)
_register_counted(
    "mnasnet_b1",
    MNASNET_B1,
    family="mnasnet",
    reference="torchvision.models.mnasnet1_0",
    paper=_MNASNET_PAPER,
    idea="platform-aware architecture search under a measured latency target",
    description="MnasNet-B1: searched inverted-residual blocks without squeeze-excite, ReLU.",
    counts=ReferenceCounts(params=4_383_312, macs=314_400_000),
    depth_option=True,
)
for _name, _arch, _params, _macs in (
    ("mixnet_s", MIXNET_S, 4_134_606, 239_200_000),
    ("mixnet_m", MIXNET_M, 5_014_382, 339_200_000),
    ("mixnet_l", MIXNET_L, 7_329_252, 555_300_000),
):
    _register_counted(
        _name,
        _arch,
        family="mixnet",
        reference=f"timm.models.{_name}",
        paper=_MIXNET_PAPER,
        idea="mixed depthwise kernel sizes in one convolution (MixConv)",
        description=f"MixNet-{_name[-1].upper()}: mixed-kernel depthwise and grouped pointwise convolutions, "
        "squeeze-excite, ReLU then swish.",
        counts=ReferenceCounts(params=_params, macs=_macs),
    )
del _name, _arch, _params, _macs
