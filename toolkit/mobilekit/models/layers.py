"""Building layers of the zoo: real Keras layers, never Lambdas or raw TF ops in the graph.

Each layer computes exactly what the matching tf_keras.applications construct
computes (so published weights give the same outputs), but as one layer that
tensorflow-model-optimization can wrap and TFLiteConverter can fuse:

- `HardSigmoid`:  relu6(x + 3) / 6, written as a multiply by 1/6 (int8 TFLite has no DIV).
- `HardSwish`:    x * relu6(x + 3) / 6, in the form the converter fuses into one HARD_SWISH op.
- `SqueezeExcite`: pool -> reduce conv -> act -> expand conv -> gate -> scale the input.
- `ChannelSlice`: a contiguous group of channels, for MixNet's per-group convolutions.
- `LocalResponseNormalization`: AlexNet's LRN from int8-capable ops (no float-only LRN op).
- `InputNormalization`: raw RGB pixels in [0, 255] -> the network's input range, as one
  affine x * a + b (MUL, ADD), optionally holding the statistics of a keras
  `Normalization` layer (mean, variance, count) so that its weights copy over.
"""

from __future__ import annotations

import dataclasses
import numbers

import numpy as np
import tensorflow as tf
import tf_keras

_register = tf_keras.saving.register_keras_serializable(package="mobilekit")

ACTIVATIONS = ("relu", "relu6", "hard_swish", "swish", "sigmoid", "hard_sigmoid")
GATES = ("sigmoid", "hard_sigmoid")


def _hard_sigmoid(x):
    # relu6(x + 3) * (1 / 6): the MUL-by-constant form (no DIV), as keras' MobileNetV3 writes it.
    return tf.nn.relu6(x + 3.0) * (1.0 / 6.0)


@_register
class HardSigmoid(tf_keras.layers.Layer):
    """relu6(x + 3) / 6, the gate of MobileNetV3's squeeze-excite."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        return _hard_sigmoid(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape


@_register
class HardSwish(tf_keras.layers.Layer):
    """x * relu6(x + 3) / 6 (MobileNetV3). Converts to a single TFLite HARD_SWISH op."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        # x * (relu6(x + 3) * (1/6)) is the association keras.applications uses
        # (Multiply()([x, hard_sigmoid(x)])) and one of the patterns the TFLite
        # converter fuses into HARD_SWISH.
        return inputs * (self.shifted_relu6(inputs) * (1.0 / 6.0))

    def shifted_relu6(self, inputs):
        """relu6(x + 3): the tensor an int8 file lowered for the CPU delegate holds (export.lowering),
        and where QAT fake-quantizes it."""
        return tf.nn.relu6(inputs + 3.0)

    def compute_output_shape(self, input_shape):
        return input_shape


def activation_layer(name: str, layer_name: str | None = None) -> tf_keras.layers.Layer:
    """The layer for one of ACTIVATIONS, named `layer_name`."""
    if name == "relu":
        return tf_keras.layers.ReLU(name=layer_name)
    if name == "relu6":
        return tf_keras.layers.ReLU(6.0, name=layer_name)
    if name == "hard_swish":
        return HardSwish(name=layer_name)
    if name == "hard_sigmoid":
        return HardSigmoid(name=layer_name)
    if name in ("swish", "sigmoid"):
        return tf_keras.layers.Activation(name, name=layer_name)
    raise ValueError(f"unknown activation {name!r}; expected one of {', '.join(ACTIVATIONS)}")


@_register
class SqueezeExcite(tf_keras.layers.Layer):
    """Squeeze-and-excitation (Hu et al., 2018) as one layer.

    global average pool (keepdims) -> 1x1 conv `reduce` (bias) -> activation ->
    1x1 conv `expand` (bias, back to the input channels) -> gate -> input * gate.

    Weights, in order: reduce.kernel, reduce.bias, expand.kernel, expand.bias --
    the order of the two Conv2D layers keras.applications builds for the same block.
    """

    def __init__(
        self,
        filters: int,
        activation: str = "relu",
        gate: str = "sigmoid",
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(filters) < 1:
            raise ValueError(f"SqueezeExcite needs filters >= 1, got {filters}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of {', '.join(ACTIVATIONS)}")
        if gate not in GATES:
            raise ValueError(f"unknown gate {gate!r}; expected one of {', '.join(GATES)}")
        self.filters = int(filters)
        self.activation = activation
        self.gate = gate
        # Kept as configs: each conv gets its own initializer instance (an unseeded
        # instance called twice would hand both convs the same values).
        self.kernel_initializer = tf_keras.initializers.serialize(tf_keras.initializers.get(kernel_initializer))
        self.bias_initializer = tf_keras.initializers.serialize(tf_keras.initializers.get(bias_initializer))

    def build(self, input_shape):
        input_shape = tf.TensorShape(input_shape)
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("SqueezeExcite needs a known channel count")
        pooled = tf.TensorShape([input_shape[0], 1, 1, channels])
        # Created reduce first, expand second: this fixes the weight order.
        self.reduce = tf_keras.layers.Conv2D(
            self.filters,
            1,
            use_bias=True,
            name="reduce",
            kernel_initializer=tf_keras.initializers.deserialize(self.kernel_initializer),
            bias_initializer=tf_keras.initializers.deserialize(self.bias_initializer),
        )
        self.expand = tf_keras.layers.Conv2D(
            int(channels),
            1,
            use_bias=True,
            name="expand",
            kernel_initializer=tf_keras.initializers.deserialize(self.kernel_initializer),
            bias_initializer=tf_keras.initializers.deserialize(self.bias_initializer),
        )
        self.act = activation_layer(self.activation, "act")
        self.gate_layer = activation_layer(self.gate, "gate")
        with tf.name_scope(self.reduce.name):
            self.reduce.build(pooled)
        with tf.name_scope(self.expand.name):
            self.expand.build(pooled[:-1].concatenate([self.filters]))
        super().build(input_shape)

    def call(self, inputs):
        expand_kernel = self.expand.kernel
        x = tf.reduce_mean(inputs, axis=[1, 2], keepdims=True)
        x = self.act(self.reduce(x))
        if self.expand.kernel is not expand_kernel:
            # Quantization-aware training with several replicas in one process (MirroredStrategy): tfmot's
            # wrapper sets this replica's fake-quantized kernels on the convs just before this call, and while
            # this replica waits at the activation's range update another one sets its own. Put ours back.
            self.expand.kernel = expand_kernel
        x = self.gate_layer(self.expand(x))
        return inputs * x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            activation=self.activation,
            gate=self.gate,
            kernel_initializer=self.kernel_initializer,
            bias_initializer=self.bias_initializer,
        )
        return config


@_register
class ChannelSlice(tf_keras.layers.Layer):
    """Channels [start, start + size) of an NHWC tensor: one group of a MixConv split.

    A weightless layer (TFLite STRIDED_SLICE), so each group's convolution
    stays an ordinary Conv2D / DepthwiseConv2D.
    """

    def __init__(self, start: int, size: int, **kwargs):
        super().__init__(**kwargs)
        if int(start) < 0 or int(size) < 1:
            raise ValueError(f"ChannelSlice needs start >= 0 and size >= 1, got {start}, {size}")
        self.start = int(start)
        self.size = int(size)

    def build(self, input_shape):
        channels = tf.TensorShape(input_shape)[-1]
        if channels is not None and self.start + self.size > channels:
            raise ValueError(f"ChannelSlice [{self.start}, {self.start + self.size}) exceeds {channels} channels")
        super().build(input_shape)

    def call(self, inputs):
        return inputs[..., self.start : self.start + self.size]

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([self.size])

    def get_config(self):
        config = super().get_config()
        config.update(start=self.start, size=self.size)
        return config


@_register
class LocalResponseNormalization(tf_keras.layers.Layer):
    """AlexNet's local response normalization across channels, from int8-capable ops.

        b_c = a_c / (k + alpha * sum_{|j - c| <= depth_radius} a_j^2) ** beta

    Krizhevsky et al. (2012), section 3.3: n = 5 (depth_radius 2), k = 2,
    alpha = 1e-4, beta = 0.75; the same formula as tf.nn.local_response_normalization
    (PyTorch's nn.LocalResponseNorm and Caffe divide alpha by n instead).

    TFLite's LOCAL_RESPONSE_NORMALIZATION op has a float kernel only: the
    converter leaves it in float between DEQUANTIZE and QUANTIZE, so an int8
    file would not be fully integer. This layer therefore computes it as
    MUL (a * a), a 1x1 CONV_2D with a constant banded kernel (the windowed sum,
    alpha folded in), ADD, RSQRT and MULs -- y ** -0.75 = r * r * rsqrt(r) with
    r = rsqrt(y) -- all of which have int8 kernels. Betas that are multiples of
    0.25 up to 2 take this path; any other beta uses POW, which is float-only.
    No weights: parameter counts are unchanged.
    """

    def __init__(self, depth_radius: int = 2, bias: float = 2.0, alpha: float = 1e-4, beta: float = 0.75, **kwargs):
        super().__init__(**kwargs)
        if int(depth_radius) < 0 or bias <= 0 or alpha < 0 or beta <= 0:
            raise ValueError("LocalResponseNormalization needs depth_radius >= 0, bias > 0, alpha >= 0, beta > 0")
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def build(self, input_shape):
        channels = tf.TensorShape(input_shape)[-1]
        if channels is None:
            raise ValueError("LocalResponseNormalization needs a known channel count")
        index = np.arange(int(channels))
        window = np.abs(index[:, None] - index[None, :]) <= self.depth_radius
        # A constant, not a weight: (1, 1, C, C), alpha times the channel window.
        self._band = (self.alpha * window).astype("float32")[None, None]
        super().build(input_shape)

    def _inverse_power(self, y):
        """y ** -beta; RSQRT and MUL only where beta is a multiple of 1/4."""
        quarters = 4 * self.beta
        if quarters != round(quarters) or not 1 <= quarters <= 8:
            return tf.pow(y, -self.beta)
        quarters = int(round(quarters))
        halves = (quarters + 1) // 2  # y ** -beta = r ** halves * rsqrt(r) ** (2 * halves - quarters)
        r = tf.math.rsqrt(y)
        result = r
        for _ in range(halves - 1):
            result = result * r
        if 2 * halves - quarters:
            result = result * tf.math.rsqrt(r)  # rsqrt(r) = y ** 0.25
        return result

    def call(self, inputs):
        band = tf.constant(self._band, dtype=inputs.dtype)
        window_sum = tf.nn.conv2d(inputs * inputs, band, strides=1, padding="VALID")
        return inputs * self._inverse_power(window_sum + self.bias)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta)
        return config


def _per_channel(value, name: str):
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    try:
        values = [float(v) for v in value]
    except TypeError:
        raise ValueError(f"{name} must be a number or a list of numbers, got {value!r}") from None
    if not values:
        raise ValueError(f"{name} must not be empty")
    return values


@_register
class InputNormalization(tf_keras.layers.Layer):
    """Raw pixels -> network input, as one affine `x * a + b` (TFLite MUL + ADD, int8-friendly).

    Without statistics (`stats=False`, weightless): `y = x * scale + offset`.
    MobileNetV2/V3 use scale=1/127.5, offset=-1 (pixels in [0, 255] -> [-1, 1]).
    Scale and offset may be per channel (one value per channel of the input).

    With `bgr=True` the channels are reversed first (RGB pixels in, BGR network
    input: keras' "caffe" preprocessing of VGG and ResNet), and scale/offset
    apply to the reversed channels.

    With statistics (`stats=True`): the layer holds the weights of a keras
    `Normalization(axis=-1)` layer -- `mean`, `variance` (one per channel) and
    `count` (int64 scalar), in that order -- and computes what keras'
    `Rescaling(scale, offset)` followed by that `Normalization` computes,

        y = (x * scale + offset - mean) / max(sqrt(variance), epsilon)

    folded into `a = scale / d`, `b = (offset - mean) / d` with
    `d = max(sqrt(variance), epsilon)` (keras' epsilon, 1e-7). The statistics are
    weights, so the converter folds `a` and `b` into constants: no DIV, SQRT or
    MAXIMUM reaches the .tflite file.
    """

    def __init__(
        self, scale=1.0, offset=0.0, stats: bool = False, epsilon: float | None = None, bgr: bool = False, **kwargs
    ):
        super().__init__(**kwargs)
        self.scale = _per_channel(scale, "scale")
        self.offset = _per_channel(offset, "offset")
        self.stats = bool(stats)
        self.epsilon = float(tf_keras.backend.epsilon() if epsilon is None else epsilon)
        self.bgr = bool(bgr)
        # Applied to x * a before "+ b": the identity. It is where quantization-aware
        # training fake-quantizes the tensor between TFLite's MUL and ADD
        # (optimize/qat.py swaps it, as tfmot swaps Conv2D.activation).
        self.scaled_activation = tf_keras.activations.linear

    def build(self, input_shape):
        channels = tf.TensorShape(input_shape)[-1]
        if self.stats:
            if channels is None:
                raise ValueError("InputNormalization(stats=True) needs a known channel count")
            # Same names, shapes, dtypes and order as keras' Normalization(axis=-1).
            self.mean = self.add_weight(
                name="mean", shape=(int(channels),), dtype=self.compute_dtype, initializer="zeros", trainable=False
            )
            self.variance = self.add_weight(
                name="variance", shape=(int(channels),), dtype=self.compute_dtype, initializer="ones", trainable=False
            )
            self.count = self.add_weight(name="count", shape=(), dtype=tf.int64, initializer="zeros", trainable=False)
        super().build(input_shape)

    def affine(self):
        """(a, b) with y = x * a + b, as tensors of the compute dtype."""
        scale = tf.constant(self.scale, dtype=self.compute_dtype)
        offset = tf.constant(self.offset, dtype=self.compute_dtype)
        if not self.stats:
            return scale, offset
        denominator = tf.maximum(tf.sqrt(self.variance), self.epsilon)
        return scale / denominator, (offset - self.mean) / denominator

    def call(self, inputs):
        a, b = self.affine()
        x = tf.cast(inputs, self.compute_dtype)
        if self.bgr:
            # SPLIT and CONCATENATION rather than tf.reverse: REVERSE_V2 has no GPU-delegate
            # or XNNPACK kernel, and none in NNAPI before Android 12L.
            red, green, blue = tf.split(x, 3, axis=-1)
            x = tf.concat([blue, green, red], axis=-1)
        return self.scaled_activation(x * a) + b

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale, offset=self.offset, stats=self.stats, epsilon=self.epsilon, bgr=self.bgr)
        return config


@dataclasses.dataclass(frozen=True)
class Normalization:
    """What a model does to raw pixels first: the settings of its `InputNormalization` layer."""

    scale: float | tuple[float, ...]
    offset: float | tuple[float, ...]
    stats: bool = False
    bgr: bool = False

    def layer(self) -> InputNormalization:
        """The model's first layer after the input, always named "normalize"."""
        return InputNormalization(self.scale, self.offset, stats=self.stats, bgr=self.bgr, name="normalize")


_IMAGENET_MEAN = (0.485, 0.456, 0.406)  # of pixels in [0, 1]
_IMAGENET_STD = (0.229, 0.224, 0.225)

# The preprocessing modes of keras.applications' `preprocess_input`, on raw pixels:
TO_MINUS_ONE_ONE = Normalization(scale=1.0 / 127.5, offset=-1.0)  # "tf": x / 127.5 - 1
TORCH = Normalization(  # "torch" and torchvision / timm: (x / 255 - mean) / std
    scale=tuple(1.0 / (255.0 * s) for s in _IMAGENET_STD),
    offset=tuple(-m / s for m, s in zip(_IMAGENET_MEAN, _IMAGENET_STD)),
)
CAFFE = Normalization(scale=1.0, offset=(-103.939, -116.779, -123.68), bgr=True)  # "caffe": BGR minus mean
