"""Quantization-aware training for every zoo model, on tensorflow-model-optimization (tfmot).

    from mobilekit.optimize import qat
    trainable = qat.quantize(model)          # fake-quantized twin, same weights
    trainable.compile(...); trainable.fit(...)
    buf = export.convert.convert(trainable, mode="int8")   # fully-integer .tflite

`quantize` follows tfmot's annotate-then-apply pattern without forking it:
every layer is annotated (`quantize_annotate_layer`), our own layers with the
QuantizeConfigs of `qat_configs`, stock ones with none so that tfmot's default 8-bit
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
from mobilekit.optimize.qat_configs import (
    HardSwishQuantizeConfig,
    InputNormalizationQuantizeConfig,
    OutputQuantizeConfig,
    SparsityPreservingQuantizeConfig,
    SqueezeExciteQuantizeConfig,
    serializable_classes,
)

_keras_q = tfmot.quantization.keras


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
        # RESIZE_BILINEAR moves values between pixels: its int8 output keeps its input's scale (LR-ASPP's upsampling).
        tf_keras.layers.Resizing: functools.partial(OutputQuantizeConfig, quantize_output=False),
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
    layers = {cls.__name__: cls for cls in _own_configs(per_channel=True)}
    return {**serializable_classes(), **layers}


def quantize_scope():
    """tfmot's quantize_scope with our configs: load or clone a QAT model inside it.

    with qat.quantize_scope():
        model = tf_keras.models.load_model(path)
    """
    return _keras_q.quantize_scope(custom_objects())


def quantize(
    model,
    *,
    per_channel: bool = True,
    input_range: tuple[float, float] | None = PIXEL_RANGE,
    preserve_sparsity: bool = False,
    calibration=None,
):
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
        raise UserError(
            f"calibration images of shape {images.shape} do not fit the model's input "
            f"{tuple(quantized.input_shape)}: expected (N, H, W, 3) raw pixels."
        )
    ranges = [v for v in quantized.variables if _is_range(v)]
    others = [(v, v.numpy()) for v in quantized.variables if not _is_range(v)]
    inputs = [
        (v, v.numpy()) for layer in quantized.layers if _tfmot_class(layer) == "QuantizeLayer" for v in layer.weights
    ]
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
        raise UserError(
            f"model {model.name!r} is still wrapped for pruning ({len(pruning)} layers, e.g. "
            f"{pruning[0]!r}); pass prune.strip(model) to qat.quantize, with preserve_sparsity=True "
            "to keep its zeros."
        )
    problems = []
    for layer in model.layers:
        if isinstance(layer, tf_keras.layers.InputLayer):
            continue
        if isinstance(layer, tf_keras.Model):
            problems.append(
                f"{layer.name!r} is a nested model ({type(layer).__name__}); flatten it into the outer model's graph"
            )
        elif _tfmot_class(layer) == "QuantizeAnnotate":
            continue
        elif _tfmot_class(layer) in ("QuantizeWrapper", "QuantizeWrapperV2", "QuantizeLayer"):
            problems.append(
                f"{layer.name!r} is already quantized ({type(layer).__name__}); pass the float model, not a QAT one"
            )
        elif isinstance(layer, tf_keras.layers.Lambda) or type(layer).__name__ in ("TFOpLambda", "SlicingOpLambda"):
            problems.append(
                f"{layer.name!r} is a {type(layer).__name__} (raw TensorFlow code in the graph); "
                "write it as a Keras layer with a QuantizeConfig, as mobilekit.models.layers does"
            )
        elif not registry.supports(layer):
            problems.append(
                f"{layer.name!r} is a {type(layer).__module__}.{type(layer).__name__}, which "
                "neither tfmot's default 8-bit registry nor mobilekit has a QuantizeConfig for"
            )
        elif _activation_name(layer) not in _tfmot_activations(layer):
            problems.append(
                f"{layer.name!r} ({type(layer).__name__}) has activation "
                f"{_activation_name(layer)!r}, which tfmot quantizes only as one of "
                f"{', '.join(sorted(_tfmot_activations(layer)))}; use a separate activation layer "
                "(ReLU(6.0), HardSwish, ...)"
            )
    if problems:
        raise UserError(
            f"cannot wrap model {model.name!r} for quantization-aware training: layer "
            + "; layer ".join(problems)
            + ". Supported: the layers of mobilekit.models and those "
            "of tfmot's default 8-bit registry (Conv2D, DepthwiseConv2D, Dense, BatchNormalization, "
            "ReLU, Add, Concatenate, pooling, ...)."
        )


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
