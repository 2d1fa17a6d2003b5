"""One block builder for the depthwise family.

`inverted_residual` builds every block of MobileNetV2, MobileNetV3,
MnasNet, MixNet and EfficientNet: optional 1x1 expansion, k x k depthwise
convolution (stride-2 ones padded explicitly, then 'valid', exactly where
keras.applications does), optional squeeze-excite, linear 1x1 projection, and
a residual connection (with drop-connect) when shape allows. With expansion 1
it is the depthwise-separable block. What differs between families -- how the
expanded and squeeze-excite widths are rounded, the SE gate and activation,
batch-norm epsilon and momentum, initializers -- is a `BlockSettings` value,
not code.

MixNet's two ideas are arguments of the same block: several depthwise kernel
sizes in one layer (`kernel=(3, 5, 7)`: the channels are split into one group
per kernel, MixConv) and grouped 1x1 convolutions (`expand_groups`,
`project_groups`). Both split channels the MixNet way (`split_channels`) with
`ChannelSlice` layers, run one ordinary Conv2D / DepthwiseConv2D per group and
concatenate, so every weighted layer stays a stock Keras layer.

Layer names derive from the block prefix only (keras EfficientNet's scheme):
`{prefix}expand_conv`, `expand_bn`, `expand_activation`, `dwconv_pad`,
`dwconv`, `bn`, `activation`, `se`, `project_conv`, `project_bn`, `drop`, `add`.
A split layer `X` becomes `X_slice{i}`, `X_{i}` (and `X_pad{i}`) per group and
`X_concat`.
"""

from __future__ import annotations

import dataclasses

import tf_keras

from mobilekit.models.layers import ACTIVATIONS, GATES, ChannelSlice, SqueezeExcite, activation_layer
from mobilekit.models.scaling import make_divisible

EXPAND_ROUNDINGS = ("exact", "divisible")
SE_BASES = ("input", "expanded")
SE_ROUNDINGS = ("floor", "round", "divisible")


def initializer(name: str):
    """A new kernel initializer by name: keras' default, or EfficientNet's fan-out schemes.

    Call once per layer: tf_keras warns about (and repeats the values of) an
    unseeded initializer instance shared between layers.
    """
    if name == "glorot_uniform":
        return "glorot_uniform"
    if name == "fan_out_normal":  # EfficientNet conv kernels (keras CONV_KERNEL_INITIALIZER)
        return tf_keras.initializers.VarianceScaling(2.0, mode="fan_out", distribution="truncated_normal")
    if name == "fan_out_uniform":  # EfficientNet classifier (keras DENSE_KERNEL_INITIALIZER)
        return tf_keras.initializers.VarianceScaling(1.0 / 3.0, mode="fan_out", distribution="uniform")
    raise ValueError(f"unknown initializer {name!r}")


@dataclasses.dataclass(frozen=True)
class BlockSettings:
    """How one family builds its blocks.

    expand_rounding: "exact" -> expanded = in * e (MobileNetV2, EfficientNet);
        "divisible" -> make_divisible(in * e) (MobileNetV3).
    se_base / se_rounding: squeeze-excite width from the block's "input" or
        "expanded" channels, times the ratio, then "floor" -> max(1, int(.))
        (EfficientNet), "round" -> max(1, round(.)) (timm's MnasNet, MixNet) or
        "divisible" -> make_divisible(.) (MobileNetV3).
    se_activation: activation inside squeeze-excite; None = the block's own.
    se_gate: "sigmoid" (EfficientNet) or "hard_sigmoid" (MobileNetV3).
    """

    bn_epsilon: float = 1e-3
    bn_momentum: float = 0.99
    expand_rounding: str = "exact"
    se_base: str = "input"
    se_rounding: str = "floor"
    se_activation: str | None = None
    se_gate: str = "sigmoid"
    conv_initializer: str = "glorot_uniform"

    def __post_init__(self):
        _check_choice("expand_rounding", self.expand_rounding, EXPAND_ROUNDINGS)
        _check_choice("se_base", self.se_base, SE_BASES)
        _check_choice("se_rounding", self.se_rounding, SE_ROUNDINGS)
        if self.se_activation is not None:
            _check_choice("se_activation", self.se_activation, ACTIVATIONS)
        _check_choice("se_gate", self.se_gate, GATES)
        initializer(self.conv_initializer)

    def expanded_channels(self, in_channels: int, expansion: float) -> int:
        if self.expand_rounding == "divisible":
            return make_divisible(in_channels * expansion)
        product = in_channels * expansion
        if product != int(product):
            raise ValueError(
                f"expansion {expansion} of {in_channels} channels is not a whole number of channels; "
                "use expand_rounding='divisible' for fractional expansions"
            )
        return int(product)

    def se_channels(self, in_channels: int, expanded_channels: int, ratio: float) -> int:
        base = in_channels if self.se_base == "input" else expanded_channels
        if self.se_rounding == "divisible":
            return make_divisible(base * ratio)
        if self.se_rounding == "round":
            return max(1, round(base * ratio))
        return max(1, int(base * ratio))


def _check_choice(field: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{field}={value!r}; expected one of {', '.join(map(repr, choices))}")


def correct_pad(size: tuple[int | None, int | None], kernel: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """Zero padding before a stride-2 'valid' convolution, keras.applications' rule.

    Pads kernel//2 on the bottom/right and one less on the top/left when the
    input side is even (so the output is ceil(size / 2), like TF 'same', but
    with the extra pixel where the reference implementations put it).
    """
    adjust = tuple(1 if s is None else 1 - s % 2 for s in size)
    half = kernel // 2
    return ((half - adjust[0], half), (half - adjust[1], half))


def split_channels(channels: int, groups: int) -> list[int]:
    """MixNet's channel split: equal groups, the remainder added to the first."""
    if not 1 <= groups <= channels:
        raise ValueError(f"cannot split {channels} channels into {groups} groups")
    sizes = [channels // groups] * groups
    sizes[0] += channels - sum(sizes)
    return sizes


def per_group(x, make_branches, *, groups: int, name: str):
    """Split x's channels into `groups` (split_channels), run branch i on group i, concatenate.

    make_branches(in_sizes) -> one callable per group, each tensor -> tensor.
    With one group the single branch runs on x itself: no slice, no concat.
    """
    in_sizes = split_channels(int(x.shape[-1]), groups)
    branches = make_branches(in_sizes)
    if groups == 1:
        return branches[0](x)
    outputs, start = [], 0
    for i, (size, branch) in enumerate(zip(in_sizes, branches)):
        outputs.append(branch(ChannelSlice(start, size, name=f"{name}_slice{i}")(x)))
        start += size
    return tf_keras.layers.Concatenate(name=f"{name}_concat")(outputs)


def pointwise(x, filters: int, *, groups: int, name: str, init: str):
    """1x1 convolution without bias; with groups > 1, one Conv2D per channel group (MixNet)."""
    out_sizes = split_channels(filters, groups)

    def branches(in_sizes):
        return [
            tf_keras.layers.Conv2D(
                size,
                1,
                padding="same",
                use_bias=False,
                kernel_initializer=initializer(init),
                name=name if groups == 1 else f"{name}_{i}",
            )
            for i, size in enumerate(out_sizes)
        ]

    return per_group(x, branches, groups=groups, name=name)


def depthwise(x, kernels: tuple[int, ...], stride: int, *, name: str, init: str, dilation: int = 1):
    """kxk depthwise convolution, or MixConv: one kernel size per channel group.

    Stride 2 pads explicitly (correct_pad, per kernel size) and uses 'valid'; a dilated
    convolution (atrous, for segmentation's output stride) has stride 1 and 'same' padding.
    """
    if dilation != 1 and stride != 1:
        raise ValueError(f"{name}: a dilated depthwise convolution has stride 1, got stride {stride}")

    def branches(in_sizes):
        made = []
        for i, kernel in enumerate(kernels):
            suffix = "" if len(kernels) == 1 else f"_{i}"
            conv = tf_keras.layers.DepthwiseConv2D(
                kernel,
                strides=stride,
                padding="valid" if stride == 2 else "same",
                dilation_rate=dilation,
                use_bias=False,
                depthwise_initializer=initializer(init),
                name=f"{name}{suffix}",
            )
            if stride == 2:
                pad = tf_keras.layers.ZeroPadding2D(
                    correct_pad(tuple(x.shape[1:3]), kernel),
                    name=f"{name}_pad" if len(kernels) == 1 else f"{name}_pad{i}",
                )
                made.append(lambda t, pad=pad, conv=conv: conv(pad(t)))
            else:
                made.append(conv)
        return made

    return per_group(x, branches, groups=len(kernels), name=name)


def batch_norm(settings: BlockSettings, name: str) -> tf_keras.layers.BatchNormalization:
    return tf_keras.layers.BatchNormalization(
        axis=-1, epsilon=settings.bn_epsilon, momentum=settings.bn_momentum, name=name
    )


def conv_bn(
    x,
    filters: int,
    kernel: int,
    stride: int,
    *,
    name: str,
    activation: str | None,
    settings: BlockSettings,
    explicit_pad: bool = False,
):
    """Conv2D (no bias) -> BatchNorm -> activation: stems and heads.

    Layers: `{name}_conv_pad` (stride 2 with explicit_pad), `{name}_conv`,
    `{name}_bn`, `{name}_activation`.
    """
    padding = "same"
    if stride == 2 and explicit_pad:
        x = tf_keras.layers.ZeroPadding2D(correct_pad(tuple(x.shape[1:3]), kernel), name=f"{name}_conv_pad")(x)
        padding = "valid"
    x = tf_keras.layers.Conv2D(
        filters,
        kernel,
        strides=stride,
        padding=padding,
        use_bias=False,
        kernel_initializer=initializer(settings.conv_initializer),
        name=f"{name}_conv",
    )(x)
    x = batch_norm(settings, f"{name}_bn")(x)
    if activation is not None:
        x = activation_layer(activation, f"{name}_activation")(x)
    return x


def inverted_residual(
    x,
    *,
    prefix: str,
    filters: int,
    kernel: int | tuple[int, ...],
    stride: int,
    expansion: float,
    activation: str,
    se_ratio: float | None,
    drop_rate: float,
    settings: BlockSettings,
    expand_groups: int = 1,
    project_groups: int = 1,
    dilation: int = 1,
):
    """One inverted-residual (or, with expansion 1, depthwise-separable) block.

    expand 1x1 (if expansion != 1) -> BN -> act -> [pad] depthwise kxk -> BN -> act
    -> [squeeze-excite] -> project 1x1 -> BN -> [drop-connect -> add input]
    The residual exists when stride is 1 and the channel count is unchanged.
    A tuple `kernel` mixes kernel sizes across channel groups (MixConv);
    `expand_groups` / `project_groups` split the 1x1 convolutions into groups; `dilation`
    spaces the depthwise kernel's taps (stride 1 only).
    """
    if stride not in (1, 2):
        raise ValueError(f"{prefix}: stride must be 1 or 2, got {stride}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"{prefix}: unknown activation {activation!r}")
    kernels = (kernel,) if isinstance(kernel, int) else tuple(kernel)
    in_channels = int(x.shape[-1])
    init = settings.conv_initializer  # a fresh initializer per layer: see initializer()
    shortcut = x

    channels = in_channels
    if expansion != 1:
        channels = settings.expanded_channels(in_channels, expansion)
        x = pointwise(x, channels, groups=expand_groups, name=prefix + "expand_conv", init=init)
        x = batch_norm(settings, prefix + "expand_bn")(x)
        x = activation_layer(activation, prefix + "expand_activation")(x)

    x = depthwise(x, kernels, stride, name=prefix + "dwconv", init=init, dilation=dilation)
    x = batch_norm(settings, prefix + "bn")(x)
    x = activation_layer(activation, prefix + "activation")(x)

    if se_ratio:
        x = SqueezeExcite(
            settings.se_channels(in_channels, channels, se_ratio),
            activation=settings.se_activation or activation,
            gate=settings.se_gate,
            kernel_initializer=initializer(init),
            name=prefix + "se",
        )(x)

    x = pointwise(x, filters, groups=project_groups, name=prefix + "project_conv", init=init)
    x = batch_norm(settings, prefix + "project_bn")(x)

    if stride == 1 and in_channels == filters:
        if drop_rate > 0:
            x = tf_keras.layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=prefix + "drop")(x)
        x = tf_keras.layers.Add(name=prefix + "add")([x, shortcut])
    return x
