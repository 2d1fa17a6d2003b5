"""Quantization-aware training for every zoo model, on tensorflow-model-optimization (tfmot).

    from mobilekit.optimize import qat
    trainable = qat.quantize(model)          # fake-quantized twin, same weights
    trainable.compile(...); trainable.fit(...)
    buf = export.convert.convert(trainable, mode="int8")   # fully-integer .tflite

`quantize` follows tfmot's annotate-then-apply pattern without forking it:
every layer is annotated (`quantize_annotate_layer`), our own layers with the
QuantizeConfigs below, stock ones with none so that tfmot's default 8-bit
transforms still fold Conv2D + BatchNormalization (+ ReLU) the way TFLite
fuses them; then `quantize_apply` runs with `QuantizeScheme`, tfmot's default
8-bit scheme whose registry also knows what tfmot's lacks (a batch
normalization that follows no convolution, as in DenseNet and ResNet v2) and
keeps average pooling on its input's scale, as TFLite requires.

The configs put fake quantization where the int8 file holds an int8 tensor,
so training sees the rounding the phone will do, and the converter finds a
learned range for every tensor it must quantize. Tensors the configs cannot
reach (the intermediate products of HardSigmoid and AlexNet's LRN) get their
ranges from the converter's calibration pass, which `export.convert` always
runs; docs/qat_coverage.md (scripts/qat_coverage.py) shows every zoo model's
file fully integer.

Prune-preserving QAT (`preserve_sparsity=True`, after `prune.strip`): the
kernels `prune` prunes (Conv2D, Dense) are fake-quantized as `kernel * mask`,
with the mask fixed from the kernel's zeros when the model is wrapped, as
tfmot's Default8BitPrunePreserveQuantizeScheme does for its own registry.
Here the mask wraps whatever weight quantizer our registry or tfmot's
transforms chose (per channel or not), and it is a weight of the layer, so a
QAT model saved and loaded inside `quantize_scope` keeps it.
"""

from __future__ import annotations

import functools

import mobilekit  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import numpy as np
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras

from mobilekit.errors import UserError
from mobilekit.formats import PIXEL_RANGE
from mobilekit.models import layers as zoo_layers
from mobilekit.models.layers import LocalResponseNormalization
from mobilekit.optimize import check_functional, prune

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
    return _keras_q.quantizers.LastValueQuantizer(num_bits=8, per_axis=per_channel, symmetric=True,
                                                  narrow_range=True)


def _activation_quantizer():
    """tfmot's activation quantizer: asymmetric, range from a moving average of batch ranges."""
    return _keras_q.quantizers.MovingAverageQuantizer(num_bits=8, per_axis=False, symmetric=False,
                                                      narrow_range=False)


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
        with quantize_scope():
            quantizer = tf_keras.utils.deserialize_keras_object(config["quantizer"])
        return cls(config["prefix"], quantizer)


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
            f"{name}_sparsity_mask", shape=tensor_shape, dtype=weight.dtype, trainable=False,
            initializer=lambda shape, dtype=None: tf.cast(tf.not_equal(weight, 0), dtype or weight.dtype))
        return {"sparsity_mask": mask, **self.quantizer.build(tensor_shape, name, layer)}

    def __call__(self, inputs, training, weights, **kwargs):
        weights = dict(weights)
        mask = weights.pop("sparsity_mask")
        return self.quantizer(inputs * mask, training, weights, **kwargs)

    def get_config(self):
        return {"quantizer": tf_keras.utils.serialize_keras_object(self.quantizer)}

    @classmethod
    def from_config(cls, config):
        with quantize_scope():
            return cls(tf_keras.utils.deserialize_keras_object(config["quantizer"]))


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
        with quantize_scope():
            return cls(tf_keras.utils.deserialize_keras_object(config["config"]), config["weight"])


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
    quantize_output=False: ChannelSlice and AveragePooling2D, whose int8 outputs
        keep their input's scale (STRIDED_SLICE moves values; AVERAGE_POOL_2D
        requires it).

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
        return [(_Linear(getattr(owner, attribute)), _Named(name, self._point_quantizer(name)))
                for name, owner, attribute in self._points(layer)]

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
        return [(layer.reduce.kernel, _Named("reduce", _weight_quantizer(self.per_channel))),
                (layer.reduce.bias, _Unquantized()),
                (layer.expand.kernel, _Named("expand", _weight_quantizer(self.per_channel)))]

    def set_quantize_weights(self, layer, quantize_weights):
        layer.reduce.kernel, layer.reduce.bias, layer.expand.kernel = quantize_weights

    def get_config(self):
        return {"per_channel": self.per_channel}

    def _points(self, layer):
        points = []
        for conv_name, activation, attribute in (("reduce", layer.activation, "act"),
                                                 ("expand", layer.gate, "gate_layer")):
            if activation not in _FUSED_ACTIVATIONS:
                points.append((conv_name, getattr(layer, conv_name), "activation"))
            if activation not in _FIXED_RANGE_ACTIVATIONS:
                points.append((attribute, layer, attribute))
        return points


def _own_configs(per_channel: bool) -> dict:
    """Our layer types -> a factory of their QuantizeConfig (one config object per layer)."""
    output = functools.partial(OutputQuantizeConfig, quantize_output=True)
    return {
        zoo_layers.HardSwish: HardSwishQuantizeConfig,
        zoo_layers.HardSigmoid: output,
        zoo_layers.InputNormalization: InputNormalizationQuantizeConfig,
        LocalResponseNormalization: output,
        zoo_layers.ChannelSlice: functools.partial(OutputQuantizeConfig, quantize_output=False),
        zoo_layers.SqueezeExcite: functools.partial(SqueezeExciteQuantizeConfig, per_channel=per_channel),
    }


def _stock_configs() -> dict:
    """Stock layer types whose tfmot default config is missing or wrong for TFLite -> a config factory.

    These are not annotated with a config: tfmot's transforms first fold the
    batch normalizations that follow a convolution, and only what is left asks
    the registry.
    """
    output = functools.partial(OutputQuantizeConfig, quantize_output=True)
    return {
        tf_keras.layers.BatchNormalization: output,  # after no convolution: DenseNet, ResNet v2 (MUL, ADD)
        # tfmot gives average pooling a range of its own, but TFLite's int8 AVERAGE_POOL_2D
        # needs its input's scale and the converter refuses rather than requantize (DenseNet).
        tf_keras.layers.AveragePooling2D: functools.partial(OutputQuantizeConfig, quantize_output=False),
        # Not in the zoo (InputNormalization replaces the first two), common in user models:
        tf_keras.layers.Rescaling: output,
        tf_keras.layers.Normalization: output,
        tf_keras.layers.Multiply: output,
    }


class QuantizeRegistry(_keras_q.default_8bit.Default8BitQuantizeRegistry):
    """tfmot's default 8-bit registry plus our layers, and stock layers where it lacks a config or errs."""

    def __init__(self, per_channel: bool = True):
        super().__init__(disable_per_axis=not per_channel)
        self._own = _own_configs(per_channel)
        self._stock = _stock_configs()

    def own_config(self, layer):
        """The config to annotate `layer` with: ours for our layer types, None (tfmot's choice) otherwise."""
        make = self._own.get(type(layer))
        return make() if make else None

    def supports(self, layer):
        return type(layer) in self._own or type(layer) in self._stock or super().supports(layer)

    def get_quantize_config(self, layer):
        make = self._own.get(type(layer)) or self._stock.get(type(layer))
        return make() if make else super().get_quantize_config(layer)


class _SparsityPreservingLayout:
    """tfmot's default 8-bit transforms, then a SparsityPreservingQuantizeConfig on every prunable layer.

    After the transforms, because they choose some layers' configs themselves
    (a convolution that feeds a concatenation gets tfmot's default config,
    whatever the registry says); the others get the registry's now, as
    quantize_apply would give them a step later.
    """

    def __init__(self, transforms, registry: QuantizeRegistry):
        self.transforms = transforms
        self.registry = registry

    def apply(self, model, layer_quantize_map):
        model, layer_quantize_map = self.transforms.apply(model, layer_quantize_map)
        for layer in model.layers:
            entry = layer_quantize_map.get(layer.name)
            if entry is not None and type(layer) in prune.PRUNABLE:
                config = entry.get("quantize_config") or self.registry.get_quantize_config(layer)
                entry["quantize_config"] = SparsityPreservingQuantizeConfig(config, prune.PRUNABLE[type(layer)])
        return model, layer_quantize_map


class QuantizeScheme(_keras_q.default_8bit.Default8BitQuantizeScheme):
    """tfmot's default 8-bit scheme (its transforms, its quantizers) with `QuantizeRegistry`.

    preserve_sparsity: the weight quantizers of Conv2D and Dense keep their
    kernels' zeros (what tfmot's Default8BitPrunePreserveQuantizeScheme does).
    """

    def __init__(self, per_channel: bool = True, preserve_sparsity: bool = False):
        super().__init__(disable_per_axis=not per_channel)
        self.per_channel = bool(per_channel)
        self.preserve_sparsity = bool(preserve_sparsity)

    def get_quantize_registry(self):
        return QuantizeRegistry(self.per_channel)

    def get_layout_transformer(self):
        transforms = super().get_layout_transformer()
        if not self.preserve_sparsity:
            return transforms
        return _SparsityPreservingLayout(transforms, self.get_quantize_registry())


def custom_objects() -> dict:
    """Our quantization classes and layers by name, for deserializing QAT models (see `quantize_scope`).

    The layers are here too: tfmot's wrapper rebuilds the layer it wraps by its
    plain class name, which keras' registry (that knows "mobilekit>HardSwish")
    does not resolve.
    """
    classes = (OutputQuantizeConfig, HardSwishQuantizeConfig, InputNormalizationQuantizeConfig,
               SqueezeExciteQuantizeConfig,
               SparsityPreservingQuantizeConfig, _Named, _Unquantized, _SparsityPreserving,
               *_own_configs(per_channel=True))
    return {cls.__name__: cls for cls in classes}


def quantize_scope():
    """tfmot's quantize_scope with our configs: load or clone a QAT model inside it.

        with qat.quantize_scope():
            model = tf_keras.models.load_model(path)
    """
    return _keras_q.quantize_scope(custom_objects())


def quantize(model, *, per_channel: bool = True, input_range: tuple[float, float] | None = PIXEL_RANGE,
             preserve_sparsity: bool = False, calibration=None):
    """Wrap a zoo model (or any functional tf_keras model of supported layers) for quantization-aware training.

    Args:
      model: a functional tf_keras.Model, float, with its trained weights.
      per_channel: quantize convolution kernels per output channel (TFLite's
        default) or per tensor (for accelerators that want one scale).
      input_range: the real range of the model's input. The input's fake
        quantization starts there, so that training sees the grid the int8 file
        has (export.convert pins uint8 input to scale 1, zero point 0 for
        pixels); None leaves tfmot's learned input range.
      preserve_sparsity: keep the zeros of the Conv2D and Dense kernels through
        QAT fine-tuning, for a model pruned with `prune.prune` and `prune.strip`
        (without it, training fills them in). The mask is taken from the
        kernels now and does not change.
      calibration: raw-pixel images (N, H, W, 3) to start the activation ranges
        at what the model produces on them (`calibrate_ranges`) instead of
        tfmot's [-6, 6]; recommended for short fine-tuning.

    Returns:
      A new tf_keras.Model with the same inputs, outputs and weights, every layer
      wrapped for fake quantization; compile and fit it, then convert it with
      `export.convert.convert(..., mode="int8")`.

    Raises:
      UserError: the model is not a functional tf_keras model, is already
        quantized, or holds layers tfmot cannot wrap (named in the message).
    """
    check_functional(model, "QAT wraps")
    if not isinstance(preserve_sparsity, bool):
        raise UserError(f"preserve_sparsity must be True or False, got {preserve_sparsity!r}.")
    registry = QuantizeRegistry(per_channel)
    _check_layers(model, registry)

    def annotate(layer):
        if _tfmot_class(layer) == "QuantizeAnnotate":  # the caller's own annotation stands
            return layer
        # A fresh copy, so that the caller's model gains no inbound nodes; weights follow below.
        fresh = type(layer).from_config(layer.get_config())
        return _keras_q.quantize_annotate_layer(fresh, registry.own_config(layer))

    with quantize_scope():
        annotated = tf_keras.models.clone_model(model, clone_function=annotate)
        annotated.set_weights(model.get_weights())
        quantized = _keras_q.quantize_apply(annotated, scheme=QuantizeScheme(per_channel, preserve_sparsity))
    if input_range is not None:
        _set_input_range(quantized, input_range)
    if calibration is not None:
        calibrate_ranges(quantized, calibration)
    return quantized


def calibrate_ranges(quantized, images, *, count: int = 64) -> None:
    """Start every activation range of a QAT model at what it produces on `images` (raw pixels, N x H x W x 3).

    tfmot starts each range at [-6, 6] and moves it 0.1% of the way to each
    training batch's range (an EMA with decay 0.999), so a few epochs of
    fine-tuning leave ranges near their start: activations beyond +-6 (ResNet
    and VGG see inputs of +-150 after mean subtraction) are clipped, small ones
    get a coarse grid. This runs one training-mode pass over up to `count`
    images with the EMA decay at 0, keeps the ranges it sets and restores every
    other variable (batch-norm statistics, weights); training then adapts the
    ranges as usual. The model's input range stays as `quantize` set it.
    """
    from tensorflow_model_optimization.python.core.quantization.keras import quant_ops

    images = np.asarray(images, dtype=np.float32)[:count]
    if images.ndim != 4 or images.shape[1:] != tuple(quantized.input_shape[1:]) or not len(images):
        raise UserError(f"calibration images of shape {images.shape} do not fit the model's input "
                        f"{tuple(quantized.input_shape)}: expected (N, H, W, 3) raw pixels.")
    ranges = [v for v in quantized.variables if _is_range(v)]
    others = [(v, v.numpy()) for v in quantized.variables if not _is_range(v)]
    inputs = [(v, v.numpy()) for layer in quantized.layers if _tfmot_class(layer) == "QuantizeLayer"
              for v in layer.weights]
    original = quant_ops.MovingAvgQuantize

    def instant(*args, **kwargs):
        return original(*args, **{**kwargs, "ema_decay": 0.0})

    quant_ops.MovingAvgQuantize = instant
    try:
        quantized(tf.constant(images), training=True)
    finally:
        quant_ops.MovingAvgQuantize = original
        for variable, value in others + inputs:
            variable.assign(value)
    if not ranges:
        raise UserError(f"{quantized.name} has no quantization ranges; pass a model from qat.quantize.")


def _is_range(variable) -> bool:
    return variable.name.split("/")[-1].split(":")[0].endswith(("_min", "_max"))


def _tfmot_class(layer) -> str | None:
    """The class name of a tfmot layer (QuantizeAnnotate, QuantizeWrapperV2, ...), None for others.

    tfmot's public API does not export these classes; their names are stable.
    """
    cls = type(layer)
    return cls.__name__ if cls.__module__.startswith("tensorflow_model_optimization") else None


def _check_layers(model, registry: QuantizeRegistry) -> None:
    """Name every layer tfmot could not wrap, before anything is cloned."""
    pruning = [layer.name for layer in model.layers if _tfmot_class(layer) == "PruneLowMagnitude"]
    if pruning:
        raise UserError(f"model {model.name!r} is still wrapped for pruning ({len(pruning)} layers, e.g. "
                        f"{pruning[0]!r}); pass prune.strip(model) to qat.quantize, with preserve_sparsity=True "
                        "to keep its zeros.")
    problems = []
    for layer in model.layers:
        if isinstance(layer, tf_keras.layers.InputLayer):
            continue
        if isinstance(layer, tf_keras.Model):
            problems.append(f"{layer.name!r} is a nested model ({type(layer).__name__}); flatten it into the "
                            "outer model's graph")
        elif _tfmot_class(layer) == "QuantizeAnnotate":
            continue
        elif _tfmot_class(layer) in ("QuantizeWrapper", "QuantizeWrapperV2", "QuantizeLayer"):
            problems.append(f"{layer.name!r} is already quantized ({type(layer).__name__}); pass the float "
                            "model, not a QAT one")
        elif isinstance(layer, tf_keras.layers.Lambda) or type(layer).__name__ in ("TFOpLambda",
                                                                                   "SlicingOpLambda"):
            problems.append(f"{layer.name!r} is a {type(layer).__name__} (raw TensorFlow code in the graph); "
                            "write it as a Keras layer with a QuantizeConfig, as mobilekit.models.layers does")
        elif not registry.supports(layer):
            problems.append(f"{layer.name!r} is a {type(layer).__module__}.{type(layer).__name__}, which "
                            "neither tfmot's default 8-bit registry nor mobilekit has a QuantizeConfig for")
        elif _activation_name(layer) not in _tfmot_activations(layer):
            problems.append(f"{layer.name!r} ({type(layer).__name__}) has activation "
                            f"{_activation_name(layer)!r}, which tfmot quantizes only as one of "
                            f"{', '.join(sorted(_tfmot_activations(layer)))}; use a separate activation layer "
                            "(ReLU(6.0), HardSwish, ...)")
    if problems:
        raise UserError(f"cannot wrap model {model.name!r} for quantization-aware training: layer "
                        + "; layer ".join(problems) + ". Supported: the layers of mobilekit.models and those "
                        "of tfmot's default 8-bit registry (Conv2D, DepthwiseConv2D, Dense, BatchNormalization, "
                        "ReLU, Add, Concatenate, pooling, ...).")


def _activation_name(layer) -> str:
    """The name of a layer's `activation` function ("linear" for layers without one)."""
    activation = getattr(layer, "activation", None)
    if activation is None or not callable(activation):
        return "linear"
    return getattr(activation, "__name__", type(activation).__name__)


def _tfmot_activations(layer) -> frozenset:
    """The activations tfmot can quantize for this kind of layer.

    An `Activation` layer takes the list of tfmot's Default8BitActivationQuantizeConfig;
    an activation inside a Conv2D or Dense that of its QuantizeAwareActivation. Our
    layers' `activation` attributes are names that their configs handle.
    """
    if type(layer) in _own_configs(per_channel=True):
        return frozenset({_activation_name(layer)})
    if isinstance(layer, tf_keras.layers.Activation):
        return frozenset({"relu", "relu6", "swish", "gelu", "linear", "softmax", "sigmoid", "tanh"})
    return frozenset({"linear", "relu", "swish", "gelu", "softmax", "sigmoid", "tanh"})


def _set_input_range(model, input_range: tuple[float, float]) -> None:
    """Start the fake quantization of the model's inputs at `input_range`.

    tfmot's input QuantizeLayer tracks the smallest and largest value it has
    seen, starting from [-6, 6]; starting it at the pixel range makes training
    use the grid of the int8 file from the first step (raw pixels never leave it).
    """
    low, high = (float(v) for v in input_range)
    if not low < high:
        raise UserError(f"input_range must be (low, high) with low < high, got {input_range!r}.")
    inputs = {id(t) for t in model.inputs}
    for layer in model.layers:
        variables = getattr(layer, "quantizer_vars", None)
        if _tfmot_class(layer) == "QuantizeLayer" and variables and id(layer.input) in inputs:
            variables["min_var"].assign(low)
            variables["max_var"].assign(high)
