"""AlexNet, VGG, GoogLeNet and MobileNetV1: config tables over small block functions.

Each architecture is a table (a tuple of frozen dataclasses or plain tuples)
read by one builder:

- AlexNet: `ALEXNET_FEATURES` (five convolutions, which pool and which carry
  local response normalization) and `ALEXNET_CLASSIFIER` (hidden FC widths).
  Counts equal torchvision.models.alexnet.
- VGG: `VGG_CONFIGS` (channels and convolutions per stage) for VGG-11/13/16/19.
  VGG-16/19 are weight-compatible with tf_keras.applications.VGG16/VGG19;
  VGG-11/13 count like torchvision.models.vgg11/vgg13.
- GoogLeNet: `GOOGLENET_MODULES` (the nine Inception modules and the pools
  between them) read by `inception_module`. Counts equal torchvision.models.googlenet.
- MobileNetV1: `MOBILENET_V1_BLOCKS` ((channels, stride) of the thirteen
  depthwise-separable blocks). Weight-compatible with tf_keras.applications.MobileNet.

Every model takes raw RGB pixels in [0, 255] and normalizes inside
(`InputNormalization`, layer 1, named "normalize"). Paddings follow the
reference: torchvision's symmetric zero padding is an explicit ZeroPadding2D
before a 'valid' convolution wherever TF's 'same' would pad differently.
"""

from __future__ import annotations

import dataclasses

import tf_keras

from mobilekit.errors import UserError
from mobilekit.models import registry
from mobilekit.models.blocks import BlockSettings, batch_norm
from mobilekit.models.layers import (
    CAFFE,
    TO_MINUS_ONE_ONE,
    TORCH,
    LocalResponseNormalization,
    Normalization,
    activation_layer,
)
from mobilekit.models.registry import ReferenceCounts
from mobilekit.models.scaling import scale_width


def _normalized_input(resolution: int, normalization: Normalization):
    inputs = tf_keras.Input((resolution, resolution, 3), name="image")
    return inputs, normalization.layer()(inputs)


def torch_padding(x, kernel: int, stride: int, pad: int, *, name: str):
    """(x, padding mode) for a convolution padded like torch.nn.Conv2d(padding=pad).

    At stride 1 with pad = kernel // 2, TF's 'same' pads exactly that on each
    side; otherwise an explicit ZeroPadding2D `name` and 'valid'.
    """
    if pad and stride == 1 and kernel % 2 == 1 and pad == kernel // 2:
        return x, "same"
    if pad:
        x = tf_keras.layers.ZeroPadding2D(pad, name=name)(x)
    return x, "valid"


# ---------------------------------------------------------------------------
# Output sizes (pure arithmetic, for min_resolution and size checks)


def conv_output(size: int, kernel: int, stride: int = 1, pad: int = 0) -> int:
    """Output side of a convolution or floor-mode pooling with symmetric padding `pad`."""
    return (size + 2 * pad - kernel) // stride + 1


def ceil_pool_output(size: int, kernel: int, stride: int) -> int:
    """Output side of PyTorch's MaxPool2d(kernel, stride, ceil_mode=True) without padding.

    Rounds up, but the last window must start inside the input (PyTorch's rule).
    """
    out = (size - kernel + stride - 1) // stride + 1
    if out > 0 and (out - 1) * stride >= size:
        out -= 1
    return out


def smallest_resolution(fits, start: int = 1, stop: int = 4096) -> int:
    """The smallest input side for which `fits(side)` holds (fits is monotonic)."""
    for side in range(start, stop):
        if fits(side):
            return side
    raise ValueError("no resolution fits")


# ---------------------------------------------------------------------------
# AlexNet


@dataclasses.dataclass(frozen=True)
class AlexNetConv:
    """One convolution of AlexNet's feature stack (bias, ReLU), then optional LRN and max-pool."""

    filters: int
    kernel: int
    stride: int
    pad: int  # symmetric zero padding, as torchvision
    lrn: bool = False  # local response normalization after the ReLU (with the lrn option)
    pool: bool = False  # max-pool 3x3 / 2 ("overlapping pooling")


# torchvision.models.alexnet's layout (Krizhevsky 2014, one-tower): 64-192-384-256-256.
ALEXNET_FEATURES = (
    AlexNetConv(64, 11, 4, 2, lrn=True, pool=True),
    AlexNetConv(192, 5, 1, 2, lrn=True, pool=True),
    AlexNetConv(384, 3, 1, 1),
    AlexNetConv(256, 3, 1, 1),
    AlexNetConv(256, 3, 1, 1, pool=True),
)
ALEXNET_CLASSIFIER = (4096, 4096)  # hidden FC widths, each after dropout and followed by ReLU
ALEXNET_POOL = (3, 2)  # overlapping max-pooling: window 3, stride 2


def alexnet_feature_size(resolution: int) -> int:
    """Side of AlexNet's last feature map at `resolution` (<= 0: too small)."""
    size = resolution
    for conv in ALEXNET_FEATURES:
        size = conv_output(size, conv.kernel, conv.stride, conv.pad)
        if conv.pool and size > 0:
            size = conv_output(size, *ALEXNET_POOL)
        if size < 1:
            return 0
    return size


ALEXNET_MIN_RESOLUTION = smallest_resolution(lambda side: alexnet_feature_size(side) >= 1)

_ALEXNET_PAPER = (
    'Krizhevsky, Sutskever & Hinton, "ImageNet Classification with Deep Convolutional Neural '
    'Networks", NeurIPS 2012; one-tower layout from Krizhevsky, "One weird trick for '
    'parallelizing convolutional neural networks", 2014, arXiv:1404.5997'
)


def _conv_relu(x, filters: int, kernel: int, stride: int, pad: int, name: str):
    """Conv2D with bias -> ReLU, padded symmetrically by `pad` like torch.nn.Conv2d(padding=pad)."""
    x, padding = torch_padding(x, kernel, stride, pad, name=f"{name}_pad")
    x = tf_keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, name=name)(x)
    return tf_keras.layers.ReLU(name=f"{name}_relu")(x)


def _classifier(x, hidden: tuple[int, ...], *, alpha: float, num_classes: int, dropout: float, dropout_first: bool):
    """FC stack: [dropout] fcN -> ReLU [dropout] ... -> predictions (softmax).

    dropout_first: dropout before each hidden FC (torchvision's AlexNet) rather
    than after its ReLU (VGG).
    """
    for index, width in enumerate(hidden, start=1):
        name = f"fc{index}"
        if dropout_first and dropout > 0:
            x = tf_keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
        x = tf_keras.layers.Dense(scale_width(width, alpha), name=name)(x)
        x = tf_keras.layers.ReLU(name=f"{name}_relu")(x)
        if not dropout_first and dropout > 0:
            x = tf_keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return tf_keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)


@registry.register(
    "alexnet",
    family="alexnet",
    default_resolution=224,
    default_dropout=0.5,
    reference="torchvision.models.alexnet",
    paper=_ALEXNET_PAPER,
    idea="ReLU, dropout and local response normalization",
    description="AlexNet: five convolutions and three fully-connected layers, ReLU, overlapping max-pooling, "
    "dropout; optional local response normalization.",
    reference_counts=ReferenceCounts(params=61_100_840, macs=714_188_480),
    options={"lrn": False},
    min_resolution=ALEXNET_MIN_RESOLUTION,
)
def alexnet(
    *, alpha: float, resolution: int, num_classes: int, include_top: bool, dropout: float, lrn: bool = False
) -> tf_keras.Model:
    """AlexNet in torchvision's one-tower layout.

    Reference: torchvision.models.alexnet (equal trainable parameters,
    61,100,840, and MACs at 224 px), after Krizhevsky et al., NeurIPS 2012.

    conv 64 11x11/4 pad 2, max-pool 3/2, conv 192 5x5 pad 2, max-pool 3/2,
    conv 384 3x3, conv 256 3x3, conv 256 3x3, max-pool 3/2, flatten, dropout,
    FC 4096, dropout, FC 4096, FC classes. Convolutions and FCs have biases and
    ReLU. Input normalization is torchvision's ImageNet mean/std.

    lrn=True adds the paper's local response normalization (n=5, k=2,
    alpha=1e-4, beta=0.75) after the ReLUs of conv1 and conv2, before their
    pools; it has no weights and, built from MUL/CONV_2D/RSQRT, converts to int8.

    Resolution: torchvision pools to 6x6 adaptively before the classifier; this
    model flattens the last feature map instead (as keras' VGG does), so fc1's
    input size is 6x6x256 = 9216 at 224 px (and from 223 to 254 px) and changes with
    the resolution: weights with a top fit only models built at a resolution
    with the same last feature map. The smallest input is 63 px (1x1 features).
    """
    inputs, x = _normalized_input(resolution, TORCH)
    pools = 0
    for index, conv in enumerate(ALEXNET_FEATURES, start=1):
        name = f"conv{index}"
        x = _conv_relu(x, scale_width(conv.filters, alpha), conv.kernel, conv.stride, conv.pad, name)
        if lrn and conv.lrn:
            x = LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75, name=f"{name}_lrn")(x)
        if conv.pool:
            pools += 1
            x = tf_keras.layers.MaxPooling2D(ALEXNET_POOL[0], ALEXNET_POOL[1], name=f"pool{pools}")(x)
    if include_top:
        x = tf_keras.layers.Flatten(name="flatten")(x)
        x = _classifier(
            x, ALEXNET_CLASSIFIER, alpha=alpha, num_classes=num_classes, dropout=dropout, dropout_first=True
        )
    return tf_keras.Model(inputs, x, name="alexnet")


# ---------------------------------------------------------------------------
# VGG


@dataclasses.dataclass(frozen=True)
class VGGConfig:
    """stages: (channels, 3x3 convolutions) per stage, each stage ending in a 2x2/2 max-pool."""

    stages: tuple[tuple[int, int], ...]
    classifier: tuple[int, ...] = (4096, 4096)

    @property
    def conv_layers(self) -> int:
        return sum(convs for _, convs in self.stages)


# Simonyan & Zisserman, table 1: configurations A (11), B (13), D (16), E (19).
VGG_CONFIGS = {
    "vgg11": VGGConfig(((64, 1), (128, 1), (256, 2), (512, 2), (512, 2))),
    "vgg13": VGGConfig(((64, 2), (128, 2), (256, 2), (512, 2), (512, 2))),
    "vgg16": VGGConfig(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))),
    "vgg19": VGGConfig(((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))),
}
VGG_MIN_RESOLUTION = smallest_resolution(lambda side: side // 2**5 >= 1)

_VGG_PAPER = (
    'Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image Recognition", '
    "ICLR 2015, arXiv:1409.1556"
)


def build_vgg(
    config: VGGConfig, *, name: str, alpha: float, resolution: int, num_classes: int, include_top: bool, dropout: float
) -> tf_keras.Model:
    """A VGG from its config; keras' layer names (block{s}_conv{i}, block{s}_pool, fc1, fc2, predictions)."""
    inputs, x = _normalized_input(resolution, CAFFE)
    for stage, (channels, convs) in enumerate(config.stages, start=1):
        for index in range(1, convs + 1):
            x = _conv_relu(x, scale_width(channels, alpha), 3, 1, 1, f"block{stage}_conv{index}")
        x = tf_keras.layers.MaxPooling2D(2, 2, name=f"block{stage}_pool")(x)
    if include_top:
        x = tf_keras.layers.Flatten(name="flatten")(x)
        x = _classifier(
            x, config.classifier, alpha=alpha, num_classes=num_classes, dropout=dropout, dropout_first=False
        )
    return tf_keras.Model(inputs, x, name=name)


# torchvision's VGG-11/13 pool adaptively to 7x7 before the classifier: the
# same parameters and MACs as flattening 7x7x512 at 224 px.
_VGG_REFERENCE_COUNTS = {
    "vgg11": ReferenceCounts(params=132_863_336, macs=7_609_090_048),
    "vgg13": ReferenceCounts(params=133_047_848, macs=11_308_466_176),
}


def _register_vgg(name: str, config: VGGConfig) -> None:
    """Register one row of VGG_CONFIGS: keras' reference where keras has it, else torchvision's counts."""
    depth = name[3:]
    counts = _VGG_REFERENCE_COUNTS.get(name)
    if counts is None:
        reference = f"tf_keras.applications.VGG{depth}"
        reference_text = (
            f'Reference: {reference} (weight-compatible; keras expects its "caffe" '
            "preprocessing, RGB->BGR minus the ImageNet mean, which ours does inside on raw "
            "pixels)."
        )
    else:
        reference = f"torchvision.models.{name}"
        reference_text = (
            f"Reference: {reference} (equal trainable parameters, {counts.params:,}, and MACs "
            "at 224 px; torchvision pools adaptively to 7x7 before fc1, this model flattens "
            "the last feature map as keras' VGG16 does, which is the same at 224 px)."
        )
    doc = (
        f"VGG-{depth}: {config.conv_layers} 3x3 convolutions in five stages "
        f"({', '.join(str(c) for _, c in config.stages)}) with 2x2 max-pools, then FC 4096, FC 4096, FC classes.\n\n"
        f"{reference_text}\n\n"
        "Dropout (default 0.5, as in the paper and torchvision) follows the ReLUs of fc1 and fc2; keras' VGG\n"
        "has none, and it carries no weights. The last feature map is flattened, so fc1's input size (and\n"
        "the classifier's weights) depend on the resolution: 7x7x512 at 224 px.\n"
    )
    registry.register(
        name,
        family="vgg",
        default_resolution=224,
        default_dropout=0.5,
        reference=reference,
        paper=_VGG_PAPER,
        idea="stacks of 3x3 convolutions",
        description=f"VGG-{depth}: {config.conv_layers} 3x3 convolutions with ReLU and max-pooling, "
        "three fully-connected layers.",
        reference_counts=counts,
        min_resolution=VGG_MIN_RESOLUTION,
    )(registry.variant(build_vgg, doc, config=config, name=name))


for _name, _config in VGG_CONFIGS.items():
    _register_vgg(_name, _config)
del _name, _config


# ---------------------------------------------------------------------------
# GoogLeNet (Inception v1)


@dataclasses.dataclass(frozen=True)
class InceptionSpec:
    """One Inception module's branch widths (the paper's table 1 columns)."""

    name: str
    ch1x1: int
    ch3x3red: int
    ch3x3: int
    ch5x5red: int
    ch5x5: int
    pool_proj: int

    @property
    def out_channels(self) -> int:
        return self.ch1x1 + self.ch3x3 + self.ch5x5 + self.pool_proj


@dataclasses.dataclass(frozen=True)
class MaxPool:
    """A max-pool between modules, PyTorch ceil mode."""

    name: str
    size: int
    stride: int


# Szegedy et al., table 1, as torchvision.models.googlenet builds it.
GOOGLENET_MODULES = (
    InceptionSpec("inception3a", 64, 96, 128, 16, 32, 32),
    InceptionSpec("inception3b", 128, 128, 192, 32, 96, 64),
    MaxPool("pool3", 3, 2),
    InceptionSpec("inception4a", 192, 96, 208, 16, 48, 64),
    InceptionSpec("inception4b", 160, 112, 224, 24, 64, 64),
    InceptionSpec("inception4c", 128, 128, 256, 24, 64, 64),
    InceptionSpec("inception4d", 112, 144, 288, 32, 64, 64),
    InceptionSpec("inception4e", 256, 160, 320, 32, 128, 128),
    MaxPool("pool4", 2, 2),  # torchvision: 2x2/2 (the paper: 3x3/2)
    InceptionSpec("inception5a", 256, 160, 320, 32, 128, 128),
    InceptionSpec("inception5b", 384, 192, 384, 48, 128, 128),
)
# torchvision's "5x5" branch uses a 3x3 kernel (a known slip kept for its
# published weights); with it the counts are torchvision's 6,624,904 / 13,004,888.
GOOGLENET_5X5_KERNEL = 3
GOOGLENET_AUX_AFTER = ("inception4a", "inception4d")  # where the auxiliary classifiers branch off
AUX_GRID = 4  # the auxiliary heads pool to 4x4
AUX_LOSS_WEIGHTS = (1.0, 0.3, 0.3)  # the paper's loss weights for [main, aux1, aux2]
AUX_DROPOUT = 0.7
_GOOGLENET_BLOCKS = BlockSettings(bn_epsilon=1e-3, bn_momentum=0.9)  # torch BatchNorm2d(eps=1e-3, momentum=0.1)


def googlenet_sizes(resolution: int) -> dict[str, int]:
    """Feature-map side after the stem and after each module/pool of GoogLeNet at `resolution`."""
    size = conv_output(resolution, 7, 2, 3)
    size = ceil_pool_output(size, 3, 2)  # pool1; conv2 (1x1) and conv3 (3x3 pad 1) keep the size
    size = ceil_pool_output(size, 3, 2)  # pool2
    sizes = {"stem": size}
    for item in GOOGLENET_MODULES:
        if isinstance(item, MaxPool) and size > 0:
            size = ceil_pool_output(size, item.size, item.stride)
        sizes[item.name] = size
    return sizes


def _googlenet_fits(resolution: int, aux_logits: bool) -> bool:
    sizes = googlenet_sizes(resolution)
    if min(sizes.values()) < 1:
        return False
    return not aux_logits or all(sizes[name] >= AUX_GRID for name in GOOGLENET_AUX_AFTER)


GOOGLENET_MIN_RESOLUTION = smallest_resolution(lambda side: _googlenet_fits(side, False))
GOOGLENET_AUX_MIN_RESOLUTION = smallest_resolution(lambda side: _googlenet_fits(side, True))

_GOOGLENET_PAPER = 'Szegedy et al., "Going Deeper with Convolutions", CVPR 2015, arXiv:1409.4842'


def basic_conv(
    x,
    filters: int,
    kernel: int,
    *,
    name: str,
    stride: int = 1,
    pad: int | None = None,
    settings: BlockSettings = _GOOGLENET_BLOCKS,
):
    """torchvision's BasicConv2d: Conv2D (no bias) -> BatchNorm -> ReLU, symmetric padding `pad`.

    pad None: kernel // 2 at stride 1 ('same'). Layers `{name}_pad` (if needed),
    `{name}_conv`, `{name}_bn`, `{name}_relu`.
    """
    pad = kernel // 2 if pad is None else pad
    x, padding = torch_padding(x, kernel, stride, pad, name=f"{name}_pad")
    x = tf_keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False, name=f"{name}_conv")(x)
    x = batch_norm(settings, f"{name}_bn")(x)
    return tf_keras.layers.ReLU(name=f"{name}_relu")(x)


def ceil_max_pool(x, size: int, stride: int, *, name: str):
    """MaxPool2d(size, stride, ceil_mode=True) of PyTorch.

    Ceil mode adds a last, partial window on the bottom/right. Where TF's
    'same' pool pads exactly that (one cell at the end, e.g. 3/2 on an even
    map, as at 224 px) it is used; otherwise zero padding there (`{name}_pad`)
    then a 'valid' pool. Zeros are exact here because every pooled tensor
    follows a ReLU (max with 0 changes nothing).
    """
    side = int(x.shape[1])
    out = ceil_pool_output(side, size, stride)
    if out < 1:
        raise ValueError(f"{name}: a {side}x{side} map is too small for a {size}x{size} pool")
    extra = max(0, (out - 1) * stride + size - side)
    if extra == 1 and out == -(-side // stride):  # 'same' pads total // 2 = 0 before, 1 after
        return tf_keras.layers.MaxPooling2D(size, stride, padding="same", name=name)(x)
    if extra:
        x = tf_keras.layers.ZeroPadding2D(((0, extra), (0, extra)), name=f"{name}_pad")(x)
    return tf_keras.layers.MaxPooling2D(size, stride, name=name)(x)


def inception_module(x, spec: InceptionSpec, *, alpha: float):
    """Four branches, concatenated: 1x1 | 1x1 -> 3x3 | 1x1 -> "5x5" | max-pool 3/1 -> 1x1.

    The "5x5" branch uses GOOGLENET_5X5_KERNEL (3, as torchvision). Layers are
    named `{spec.name}_branch1`, `_branch2a/b`, `_branch3a/b`, `_pool`, `_branch4`,
    `_concat`; weights in torchvision's order.
    """

    def width(channels):
        return scale_width(channels, alpha)

    prefix = spec.name
    branch1 = basic_conv(x, width(spec.ch1x1), 1, name=f"{prefix}_branch1")
    branch2 = basic_conv(x, width(spec.ch3x3red), 1, name=f"{prefix}_branch2a")
    branch2 = basic_conv(branch2, width(spec.ch3x3), 3, name=f"{prefix}_branch2b")
    branch3 = basic_conv(x, width(spec.ch5x5red), 1, name=f"{prefix}_branch3a")
    branch3 = basic_conv(branch3, width(spec.ch5x5), GOOGLENET_5X5_KERNEL, name=f"{prefix}_branch3b")
    # MaxPool2d(3, stride=1, padding=1) pads with -inf: TF's 'same' max-pool does the same.
    branch4 = tf_keras.layers.MaxPooling2D(3, 1, padding="same", name=f"{prefix}_pool")(x)
    branch4 = basic_conv(branch4, width(spec.pool_proj), 1, name=f"{prefix}_branch4")
    return tf_keras.layers.Concatenate(name=f"{prefix}_concat")([branch1, branch2, branch3, branch4])


def aux_pool_window(side: int, grid: int = AUX_GRID) -> tuple[int, int]:
    """(pool, stride) of the average pool that maps a side x side map to grid x grid.

    stride = side // grid, pool = side - (grid - 1) * stride: 14x14 -> pool 5,
    stride 3, the paper's auxiliary pooling.
    """
    if side < grid:
        raise ValueError(f"a {side}x{side} map cannot be pooled to {grid}x{grid}")
    stride = side // grid
    return side - (grid - 1) * stride, stride


def auxiliary_head(x, *, prefix: str, alpha: float, num_classes: int):
    """GoogLeNet's auxiliary classifier: avg-pool to 4x4, conv 128 1x1, FC 1024, dropout 0.7, FC, softmax."""
    pool, stride = aux_pool_window(int(x.shape[1]))
    x = tf_keras.layers.AveragePooling2D(pool, stride, name=f"{prefix}_pool")(x)
    x = basic_conv(x, scale_width(128, alpha), 1, name=f"{prefix}_conv")
    x = tf_keras.layers.Flatten(name=f"{prefix}_flatten")(x)
    x = tf_keras.layers.Dense(scale_width(1024, alpha), name=f"{prefix}_fc1")(x)
    x = tf_keras.layers.ReLU(name=f"{prefix}_fc1_relu")(x)
    x = tf_keras.layers.Dropout(AUX_DROPOUT, name=f"{prefix}_dropout")(x)
    return tf_keras.layers.Dense(num_classes, activation="softmax", name=f"{prefix}_predictions")(x)


@registry.register(
    "googlenet",
    family="googlenet",
    default_resolution=224,
    default_dropout=0.2,
    reference="torchvision.models.googlenet",
    paper=_GOOGLENET_PAPER,
    idea="the Inception module",
    description="GoogLeNet (Inception v1) with batch norm: nine Inception modules of parallel 1x1, 3x3, "
    '"5x5" and pooling branches; optional auxiliary classifiers for training.',
    reference_counts=ReferenceCounts(params=6_624_904, macs=1_498_376_192),
    options={"aux_logits": False},
    min_resolution=GOOGLENET_MIN_RESOLUTION,
)
def googlenet(
    *, alpha: float, resolution: int, num_classes: int, include_top: bool, dropout: float, aux_logits: bool = False
) -> tf_keras.Model:
    """GoogLeNet (Inception v1) as torchvision builds it, with batch norm.

    Reference: torchvision.models.googlenet (equal trainable parameters,
    6,624,904 without and 13,004,888 with the auxiliary classifiers, and MACs
    at 224 px), after Szegedy et al., CVPR 2015.

    Every convolution is Conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU
    (torchvision's BasicConv2d; the paper predates batch norm). Stem: conv 64
    7x7/2 pad 3, max-pool 3/2, conv 64 1x1, conv 192 3x3, max-pool 3/2; then
    3a, 3b, max-pool 3/2, 4a-4e, max-pool 2/2, 5a, 5b, global average pool,
    dropout (0.2), FC. Max-pools use PyTorch's ceil mode (`ceil_max_pool`).

    The "5x5" branch: torchvision's Inception module builds it with a 3x3
    kernel (kernel_size=3 where the paper says 5x5), and its published
    weights and parameter count (6,624,904) come from that. This model does
    the same (GOOGLENET_5X5_KERNEL = 3); a true 5x5 would give 7,005,832.

    aux_logits=True adds the two auxiliary classifiers (after 4a and 4d) for
    training: average pool to 4x4 (pool 5 / stride 3 on the 14x14 map at 224
    px, as in the paper, computed from the map size; torchvision pools
    adaptively, with windows of 4 at 14x14 -- no weights depend on it), conv
    128 1x1 + BN + ReLU, FC 1024 + ReLU, dropout 0.7, FC classes, softmax. The
    model then has three outputs [main, aux1, aux2]; train with loss weights
    AUX_LOSS_WEIGHTS = (1.0, 0.3, 0.3) (the paper's 0.3 per auxiliary loss) and
    export `strip_aux_heads(model)`. They need 4a's map to be at least 4x4:
    a resolution of at least 63 px (the model alone needs 15 px).
    """
    if aux_logits and not include_top:
        raise UserError(
            "googlenet: aux_logits=True adds auxiliary classifiers, which need include_top=True. "
            "Use include_top=True, or aux_logits=False for a feature extractor."
        )
    if aux_logits and resolution < GOOGLENET_AUX_MIN_RESOLUTION:
        raise UserError(
            f"googlenet with aux_logits=True needs a resolution >= {GOOGLENET_AUX_MIN_RESOLUTION}, got "
            f"{resolution}: the auxiliary classifiers pool inception4a's map to {AUX_GRID}x{AUX_GRID}. "
            f"Use resolution >= {GOOGLENET_AUX_MIN_RESOLUTION}, or aux_logits=False."
        )
    inputs, x = _normalized_input(resolution, TORCH)
    x = basic_conv(x, scale_width(64, alpha), 7, stride=2, pad=3, name="conv1")
    x = ceil_max_pool(x, 3, 2, name="pool1")
    x = basic_conv(x, scale_width(64, alpha), 1, name="conv2")
    x = basic_conv(x, scale_width(192, alpha), 3, name="conv3")
    x = ceil_max_pool(x, 3, 2, name="pool2")
    aux_outputs = []
    for item in GOOGLENET_MODULES:
        if isinstance(item, MaxPool):
            x = ceil_max_pool(x, item.size, item.stride, name=item.name)
            continue
        x = inception_module(x, item, alpha=alpha)
        if aux_logits and item.name in GOOGLENET_AUX_AFTER:
            prefix = f"aux{GOOGLENET_AUX_AFTER.index(item.name) + 1}"
            aux_outputs.append(auxiliary_head(x, prefix=prefix, alpha=alpha, num_classes=num_classes))
    if include_top:
        x = tf_keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout > 0:
            x = tf_keras.layers.Dropout(dropout, name="dropout")(x)
        x = tf_keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    outputs = [x, *aux_outputs] if aux_outputs else x
    return tf_keras.Model(inputs, outputs, name="googlenet")


def strip_aux_heads(model: tf_keras.Model) -> tf_keras.Model:
    """The single-output inference model of a GoogLeNet built with aux_logits=True.

    Shares the layers (and so the weights) of the main path; the auxiliary
    classifiers, which only help training, are left out. This is what gets
    converted and exported. A single-output model is returned as it is.
    """
    if len(model.outputs) == 1:
        return model
    try:
        main = model.get_layer("predictions").output
    except ValueError:
        raise UserError(
            f"model {model.name!r} has {len(model.outputs)} outputs but no 'predictions' layer: "
            "strip_aux_heads expects a googlenet built with aux_logits=True."
        ) from None
    return tf_keras.Model(model.inputs, main, name=model.name)


# ---------------------------------------------------------------------------
# MobileNetV1


# (pointwise channels, stride) of the thirteen depthwise-separable blocks (Howard et al., table 1).
MOBILENET_V1_BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)
MOBILENET_V1_STEM = 32
_MOBILENET_V1_BN = BlockSettings(bn_epsilon=1e-3, bn_momentum=0.99)  # keras' BatchNormalization defaults

_MOBILENET_V1_PAPER = (
    'Howard et al., "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision '
    'Applications", arXiv 2017, arXiv:1704.04861'
)


def _mobilenet_v1_width(channels: int, alpha: float) -> int:
    """keras MobileNet's rounding: int(channels * alpha), no divisibility."""
    width = int(channels * alpha)
    if width < 1:
        raise UserError(
            f"mobilenet_v1 at alpha {alpha:g} leaves int({channels} * {alpha:g}) = 0 channels. "
            f"Use alpha >= {1 / MOBILENET_V1_STEM:g} (0.25 is the smallest published)."
        )
    return width


def depthwise_separable(x, filters: int, stride: int, *, block_id: int):
    """keras MobileNet's block: [pad] depthwise 3x3 -> BN -> ReLU6 -> pointwise 1x1 -> BN -> ReLU6.

    Stride 2 pads (0, 1) on the bottom/right and convolves 'valid', as keras.
    Layers: conv_pad_{i}, conv_dw_{i}, conv_dw_{i}_bn, conv_dw_{i}_relu, conv_pw_{i}, ..._bn, ..._relu.
    """
    padding = "same"
    if stride == 2:
        x = tf_keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
        padding = "valid"
    x = tf_keras.layers.DepthwiseConv2D(3, strides=stride, padding=padding, use_bias=False, name=f"conv_dw_{block_id}")(
        x
    )
    x = batch_norm(_MOBILENET_V1_BN, f"conv_dw_{block_id}_bn")(x)
    x = activation_layer("relu6", f"conv_dw_{block_id}_relu")(x)
    x = tf_keras.layers.Conv2D(filters, 1, padding="same", use_bias=False, name=f"conv_pw_{block_id}")(x)
    x = batch_norm(_MOBILENET_V1_BN, f"conv_pw_{block_id}_bn")(x)
    return activation_layer("relu6", f"conv_pw_{block_id}_relu")(x)


@registry.register(
    "mobilenet_v1",
    family="mobilenet_v1",
    default_resolution=224,
    default_dropout=1e-3,
    reference="tf_keras.applications.MobileNet",
    paper=_MOBILENET_V1_PAPER,
    idea="depthwise-separable convolution",
    description="MobileNetV1: a 3x3 stem and thirteen depthwise-separable blocks, ReLU6.",
)
def mobilenet_v1(
    *, alpha: float, resolution: int, num_classes: int, include_top: bool, dropout: float
) -> tf_keras.Model:
    """MobileNetV1.

    Reference: tf_keras.applications.MobileNet (weight-compatible at every
    alpha, with keras' int(channels * alpha) widths; that model expects
    x/127.5 - 1, ours takes raw pixels and normalizes inside; keras'
    depth_multiplier is always 1 here) and Howard et al., arXiv:1704.04861.

    Stem conv 32 3x3/2 ('same', as keras), thirteen depthwise-separable
    blocks (MOBILENET_V1_BLOCKS), then keras' head: global average pool
    (keepdims), dropout (keras' default 1e-3), 1x1 conv `conv_preds` with bias,
    reshape, softmax.
    """
    inputs, x = _normalized_input(resolution, TO_MINUS_ONE_ONE)
    x = tf_keras.layers.Conv2D(
        _mobilenet_v1_width(MOBILENET_V1_STEM, alpha), 3, strides=2, padding="same", use_bias=False, name="conv1"
    )(x)
    x = batch_norm(_MOBILENET_V1_BN, "conv1_bn")(x)
    x = activation_layer("relu6", "conv1_relu")(x)
    for block_id, (channels, stride) in enumerate(MOBILENET_V1_BLOCKS, start=1):
        x = depthwise_separable(x, _mobilenet_v1_width(channels, alpha), stride, block_id=block_id)
    if include_top:
        x = tf_keras.layers.GlobalAveragePooling2D(keepdims=True, name="avg_pool")(x)
        if dropout > 0:
            x = tf_keras.layers.Dropout(dropout, name="dropout")(x)
        x = tf_keras.layers.Conv2D(num_classes, 1, padding="same", name="conv_preds")(x)
        x = tf_keras.layers.Reshape((num_classes,), name="reshape")(x)
        x = tf_keras.layers.Activation("softmax", name="predictions")(x)
    return tf_keras.Model(inputs, x, name="mobilenet_v1")


__all__ = [
    "ALEXNET_FEATURES",
    "AUX_LOSS_WEIGHTS",
    "GOOGLENET_MODULES",
    "MOBILENET_V1_BLOCKS",
    "VGG_CONFIGS",
    "LocalResponseNormalization",
    "alexnet",
    "build_vgg",
    "googlenet",
    "mobilenet_v1",
    "strip_aux_heads",
]
