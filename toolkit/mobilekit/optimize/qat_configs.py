"""The quantizers and QuantizeConfigs of mobilekit's QAT: how each of our layer kinds is fake-quantized.

A QuantizeConfig says which weights, activations and outputs of a layer get
fake quantization; the configs here put it where the int8 file holds an int8
tensor (see `optimize.qat` for which layer takes which config, and for
`quantize` itself). The quantizers wrap tfmot's: `_Named` gives range
variables distinct names, `_Unquantized` leaves a weight alone, and
`_SparsityPreserving` keeps a pruned kernel's zeros.

Every class here is Keras-serializable by its class name (`serializable_classes`),
which saved QAT models record; renaming one breaks loading the files saved with it.
"""

from __future__ import annotations

import mobilekit  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras

_keras_q = tfmot.quantization.keras


# Activations the converter folds into the convolution before them: the
# convolution's output tensor *is* the activation's output (relu, relu6 fuse;
# hard sigmoid's "+ 3" joins the bias, its relu6 fuses and only its "* 1/6"
# stays a MUL), so there is no range in between -- a fake quantization there
# would keep the converter from folding.
_FUSED_ACTIVATIONS = frozenset({"relu", "relu6", "hard_sigmoid"})
# Activations whose int8 output range TFLite fixes (LOGISTIC: scale 1/256): no range to learn.
_FIXED_RANGE_ACTIVATIONS = frozenset({"sigmoid"})


def _weight_quantizer(per_channel: bool):
    """tfmot's weight quantizer for convolutions: symmetric, narrow range, per output channel."""
    return _keras_q.quantizers.LastValueQuantizer(num_bits=8, per_axis=per_channel, symmetric=True, narrow_range=True)


def _activation_quantizer():
    """tfmot's activation quantizer: asymmetric, range from a moving average of batch ranges."""
    return _keras_q.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False, narrow_range=False)


class _Named(_keras_q.quantizers.Quantizer):
    """A quantizer whose range variables carry `prefix` in their names.

    Why: a QuantizeWrapper names a weight's range variables after the weight's
    last name part ("kernel_min") and each activation's "post_activation_min";
    squeeze-excite has two kernels and several activation points, and equal
    variable names within one layer break h5 weight files.
    """

    def __init__(self, prefix: str, quantizer):
        self.prefix = prefix
        self.quantizer = quantizer

    def build(self, tensor_shape, name, layer):
        return self.quantizer.build(tensor_shape, f"{self.prefix}_{name}", layer)

    def __call__(self, inputs, training, weights, **kwargs):
        return self.quantizer(inputs, training, weights, **kwargs)

    def get_config(self):
        return {"prefix": self.prefix, "quantizer": tf_keras.utils.serialize_keras_object(self.quantizer)}

    @classmethod
    def from_config(cls, config):
        return cls(config["prefix"], _deserialize(config["quantizer"]))


class _Unquantized(_keras_q.quantizers.Quantizer):
    """Leaves a weight as it is: for weights a config lists only to fix the wrapper's weight order."""

    def build(self, tensor_shape, name, layer):
        return {}

    def __call__(self, inputs, training, weights, **kwargs):
        return inputs

    def get_config(self):
        return {}


class _SparsityPreserving(_keras_q.quantizers.Quantizer):
    """A weight quantizer that keeps the weight's zeros: it quantizes `weight * mask`.

    The mask is 1 where the weight was non-zero when the layer was wrapped, and
    a non-trainable weight of the wrapper (tfmot's prune-preserving quantizers
    hold it as a constant, which a loaded model recomputes from the random
    weights it starts with). The product also zeroes the gradient of the
    masked weights, so the float kernel keeps its zeros as well.
    """

    def __init__(self, quantizer):
        self.quantizer = quantizer

    def build(self, tensor_shape, name, layer):
        weight = getattr(layer.layer, name)
        mask = layer.add_weight(
            f"{name}_sparsity_mask",
            shape=tensor_shape,
            dtype=weight.dtype,
            trainable=False,
            initializer=lambda shape, dtype=None: tf.cast(tf.not_equal(weight, 0), dtype or weight.dtype),
        )
        return {"sparsity_mask": mask, **self.quantizer.build(tensor_shape, name, layer)}

    def __call__(self, inputs, training, weights, **kwargs):
        weights = dict(weights)
        mask = weights.pop("sparsity_mask")
        return self.quantizer(inputs * mask, training, weights, **kwargs)

    def get_config(self):
        return {"quantizer": tf_keras.utils.serialize_keras_object(self.quantizer)}

    @classmethod
    def from_config(cls, config):
        return cls(_deserialize(config["quantizer"]))


class SparsityPreservingQuantizeConfig(_keras_q.QuantizeConfig):
    """Another QuantizeConfig, with the layer's `weight` quantized through `_SparsityPreserving`.

    Where that config leaves the weight alone -- tfmot gives a Conv2D or Dense
    followed by a ReLU layer (AlexNet, VGG) its NoOpQuantizeConfig, meant for
    Add + ReLU -- the mask still applies, with no quantization after it.
    """

    def __init__(self, config, weight: str = "kernel"):
        self.config = config
        self.weight = weight

    def get_weights_and_quantizers(self, layer):
        target = getattr(layer, self.weight)
        pairs = self.config.get_weights_and_quantizers(layer)
        wrapped = [(w, _SparsityPreserving(q) if w is target else q) for w, q in pairs]
        if not any(w is target for w, _ in pairs):
            wrapped.append((target, _SparsityPreserving(_Unquantized())))
        return wrapped

    def set_quantize_weights(self, layer, quantize_weights):
        count = len(self.config.get_weights_and_quantizers(layer))
        self.config.set_quantize_weights(layer, quantize_weights[:count])
        if len(quantize_weights) > count:  # the weight the config leaves alone, masked
            setattr(layer, self.weight, quantize_weights[count])

    def get_activations_and_quantizers(self, layer):
        return self.config.get_activations_and_quantizers(layer)

    def set_quantize_activations(self, layer, quantize_activations):
        self.config.set_quantize_activations(layer, quantize_activations)

    def get_output_quantizers(self, layer):
        return self.config.get_output_quantizers(layer)

    def get_config(self):
        return {"config": tf_keras.utils.serialize_keras_object(self.config), "weight": self.weight}

    @classmethod
    def from_config(cls, config):
        return cls(_deserialize(config["config"]), config["weight"])


class _Linear:
    """A callable that tfmot's QuantizeAwareActivation treats as the `linear` activation.

    QuantizeAwareActivation fake-quantizes a 'linear' activation's output; wrapping
    a sub-layer (squeeze-excite's activation or gate) in this gives exactly "the
    int8 tensor this sub-layer produces" without touching the sub-layer.
    """

    __name__ = "linear"

    def __init__(self, function):
        self.function = function

    def __call__(self, inputs):
        return self.function(inputs)


class OutputQuantizeConfig(_keras_q.QuantizeConfig):
    """A weightless layer: fake-quantize its output, or nothing (`quantize_output=False`).

    quantize_output=True: HardSwish and HardSigmoid (TFLite HARD_SWISH and an
        ADD/MUL chain), LocalResponseNormalization, a batch normalization that
        follows no convolution (MUL and ADD), keras' Rescaling, Normalization
        and Multiply.
    quantize_output=False: ChannelSlice, AveragePooling2D and Resizing, whose int8
        outputs keep their input's scale (STRIDED_SLICE and RESIZE_BILINEAR move
        values; AVERAGE_POOL_2D requires it).

    `quantize_output` is the attribute tfmot's Concatenate transform switches
    off on the layers that feed a concatenation.

    Subclasses add fake quantization inside a layer by naming its *points*
    (`_points`): callable attributes whose outputs the int8 file holds as
    tensors of their own. Each is swapped for tfmot's QuantizeAwareActivation
    around the original, which fake-quantizes what it returns -- the mechanism
    tfmot uses for `Conv2D.activation`.
    """

    def __init__(self, quantize_output: bool = True):
        self.quantize_output = bool(quantize_output)

    def get_weights_and_quantizers(self, layer):
        return []

    def set_quantize_weights(self, layer, quantize_weights):
        pass

    def get_activations_and_quantizers(self, layer):
        return [
            (_Linear(getattr(owner, attribute)), _Named(name, self._point_quantizer(name)))
            for name, owner, attribute in self._points(layer)
        ]

    def set_quantize_activations(self, layer, quantize_activations):
        for (_, owner, attribute), activation in zip(self._points(layer), quantize_activations):
            setattr(owner, attribute, activation)

    def get_output_quantizers(self, layer):
        return [_activation_quantizer()] if self.quantize_output else []

    def get_config(self):
        return {"quantize_output": self.quantize_output}

    def __eq__(self, other):
        return type(other) is type(self) and other.get_config() == self.get_config()

    def _points(self, layer) -> list[tuple[str, object, str]]:
        """(name, object, attribute) of each callable inside `layer` whose output is an int8 tensor."""
        return []

    def _point_quantizer(self, name: str):
        """The fake quantization of the point `name`: a learned range unless a subclass fixes it."""
        return _activation_quantizer()


class HardSwishQuantizeConfig(OutputQuantizeConfig):
    """HardSwish: its output, and relu6(x + 3) on the fixed grid the lowered int8 file holds.

    `export.lowering` writes int8 hard-swish as ADD(x, 3) on exactly [0, 6] and
    a MUL; that [0, 6] tensor is the point `shifted_relu6`, fake-quantized on
    the same fixed range (nothing to learn: relu6's output range). The converter
    then writes ADD, the 1/6 as a MUL by a constant and the MUL by x; the
    lowering folds the constant away as it folds the stock HARD_SWISH's.
    """

    def _points(self, layer):
        return [("shifted_relu6", layer, "shifted_relu6")]

    def _point_quantizer(self, name):
        return _keras_q.quantizers.FixedQuantizer(num_bits=8, init_min=0.0, init_max=6.0, narrow_range=False)


class InputNormalizationQuantizeConfig(OutputQuantizeConfig):
    """InputNormalization: `x * a + b` becomes TFLite MUL and ADD; both outputs get a range.

    No weights to quantize (the statistics of stats=True fold into the MUL and
    ADD constants). Without a range of its own, the tensor between MUL and ADD
    is left to the converter's calibration, and where that range differs from
    the one QAT learned for the input, the converter goes back to float around
    the MUL (DEQUANTIZE, QUANTIZE): the file would not be fully integer. The
    point is `scaled_activation`, unless the converter drops the MUL (scale 1)
    or the ADD (offset 0) -- then the output's range is the only one.
    """

    def _points(self, layer):
        constant = not layer.stats
        multiplies = not (constant and _all_equal(layer.scale, 1.0))
        adds = not (constant and _all_equal(layer.offset, 0.0))
        return [("scaled", layer, "scaled_activation")] if multiplies and adds else []


def _all_equal(value, target: float) -> bool:
    """Whether a per-tensor or per-channel setting is `target` everywhere."""
    return bool(np.all(np.asarray(value, dtype=float) == target))


class SqueezeExciteQuantizeConfig(OutputQuantizeConfig):
    """SqueezeExcite: its two 1x1 convolutions as tfmot quantizes Conv2D, its activations as TFLite runs them.

    Weights: `reduce.kernel` and `expand.kernel` (biases stay float; the
    converter makes them int32), per output channel as tfmot does for Conv2D,
    or per tensor with per_channel=False.

    Points (fake quantization on the int8 tensors of the file), for each
    convolution and the activation after it (reduce + activation, expand + gate):
      - the convolution's output (`reduce.activation`, `expand.activation`),
        unless the activation folds into it (relu, relu6, hard sigmoid);
      - the activation's output (`act`, `gate_layer`), unless TFLite fixes its
        range (sigmoid);
    and the block's output, `input * gate` (MUL). The average pool's output is
    the converter's: MEAN keeps its input's scale.
    """

    def __init__(self, per_channel: bool = True):
        super().__init__(quantize_output=True)
        self.per_channel = bool(per_channel)

    def get_weights_and_quantizers(self, layer):
        # reduce.bias is listed, unquantized, so that the wrapper orders its weights as the
        # block does whether the block was built before wrapping (quantize) or inside the
        # wrapper (loading a saved QAT model): h5 files match weights by position.
        return [
            (layer.reduce.kernel, _Named("reduce", _weight_quantizer(self.per_channel))),
            (layer.reduce.bias, _Unquantized()),
            (layer.expand.kernel, _Named("expand", _weight_quantizer(self.per_channel))),
        ]

    def set_quantize_weights(self, layer, quantize_weights):
        layer.reduce.kernel, layer.reduce.bias, layer.expand.kernel = quantize_weights

    def get_config(self):
        return {"per_channel": self.per_channel}

    def _points(self, layer):
        points = []
        for conv_name, activation, attribute in (
            ("reduce", layer.activation, "act"),
            ("expand", layer.gate, "gate_layer"),
        ):
            if activation not in _FUSED_ACTIVATIONS:
                points.append((conv_name, getattr(layer, conv_name), "activation"))
            if activation not in _FIXED_RANGE_ACTIVATIONS:
                points.append((attribute, layer, attribute))
        return points


def serializable_classes() -> dict:
    """Every quantizer and QuantizeConfig class of this module by its class name, as saved models record it."""
    classes = (
        OutputQuantizeConfig,
        HardSwishQuantizeConfig,
        InputNormalizationQuantizeConfig,
        SqueezeExciteQuantizeConfig,
        SparsityPreservingQuantizeConfig,
        _Named,
        _Unquantized,
        _SparsityPreserving,
    )
    return {cls.__name__: cls for cls in classes}


def _deserialize(config: dict):
    """A quantizer or QuantizeConfig nested in one of ours: tfmot's or one of this module."""
    with _keras_q.quantize_scope(serializable_classes()):
        return tf_keras.utils.deserialize_keras_object(config)
