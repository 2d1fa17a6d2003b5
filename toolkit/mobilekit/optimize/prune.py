"""Magnitude pruning for every zoo model, on tensorflow-model-optimization (tfmot).

    from mobilekit.optimize import prune
    wrapped = prune.prune(model, target_sparsity=0.75, end_step=2000)   # gradual, 0 -> 75 %
    wrapped.compile(...); wrapped.fit(..., callbacks=prune.callbacks())
    sparse = prune.strip(wrapped)            # plain model, zeros in its kernels
    print(prune.sparsity_report(sparse))     # per-kernel table; .to_json() for results
    aware = qat.quantize(sparse, preserve_sparsity=True)   # QAT that keeps the zeros

`prune` wraps the kernels of Conv2D and Dense layers with tfmot's
`prune_low_magnitude` -- the layers that both tfmot's pruning and its
prune-preserving QAT handle -- and leaves every other layer as it is: our own
layers (HardSwish, InputNormalization, ChannelSlice, LRN) have no kernel, and
tfmot could not wrap them anyway. Left dense, on purpose:

- DepthwiseConv2D (MixNet's mixed kernels too: one per channel group): tfmot
  has no pruning for depthwise kernels, which are few and sensitive.
- SqueezeExcite's two 1x1 kernels. They hold 17-32 % of the kernel weights
  of MobileNetV3, MixNet and EfficientNet (at alpha 0.5), so those models end
  up less sparse than their pruned kernels; but they run on a 1x1 pooled
  vector (no compute to save), the gate they drive scales every channel of
  the block, and tfmot would need them exposed as prunable weights of our
  layer (and a prune-preserving SqueezeExcite QuantizeConfig).
- by default (`skip`), the first convolution (few weights, all the
  information of the image) and the classifier (a Dense, or the 1x1 Conv2D
  MobileNet V1 and V3 use as one).

TFLite runs sparse kernels at dense speed; what pruning buys on a phone is a
file that compresses (`gzipped_size`): an app's download, or an APK's
compressed assets, shrink with the zeros.
"""

from __future__ import annotations

import dataclasses
import gzip
import numbers
import warnings

import mobilekit  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import numpy as np
import tensorflow_model_optimization as tfmot
import tf_keras

from mobilekit.errors import MobilekitWarning, UserError
from mobilekit.models.layers import InputNormalization
from mobilekit.optimize import check_functional

_sparsity = tfmot.sparsity.keras

SKIP_KINDS = ("first_conv", "depthwise", "classifier")
DEFAULT_SKIP = SKIP_KINDS

# Layer types whose kernel `prune` prunes (exact types, as tfmot matches them), and the kernel's name.
PRUNABLE = {tf_keras.layers.Conv2D: "kernel", tf_keras.layers.Dense: "kernel"}

# Layers with weights that do not transform features (not "the first convolution" or "the classifier").
_NORMALIZATIONS = (
    tf_keras.layers.BatchNormalization,
    tf_keras.layers.LayerNormalization,
    tf_keras.layers.Normalization,
    InputNormalization,
)


def prune(
    model,
    *,
    target_sparsity: float | None = 0.75,
    end_step: int,
    begin_step: int = 0,
    initial_sparsity: float = 0.0,
    frequency: int = 100,
    m_by_n: tuple[int, int] | None = None,
    skip=DEFAULT_SKIP,
    skip_layers=(),
):
    """Wrap a model's Conv2D and Dense kernels for magnitude pruning during training.

    Args:
      model: a functional tf_keras.Model, float, with its trained weights.
      target_sparsity: the fraction of each pruned kernel that is zero at
        `end_step`, in (0, 1). Not used with `m_by_n` (pass None there).
      end_step: the training step (batch) at which the sparsity reaches the
        target; train at least this many steps. `end_step - begin_step` must be
        a multiple of `frequency`: masks change only every `frequency` steps, and
        the target is reached on such a step.
      begin_step: the step at which pruning starts.
      initial_sparsity: the sparsity at `begin_step`; it rises to the target along
        tfmot's PolynomialDecay (cubic: fast first, then settling).
      frequency: steps between mask updates.
      m_by_n: (m, n) for structured sparsity instead: m zeros in every n
        consecutive weights along the input channels (2:4 is what sparse
        accelerators run). tfmot picks the pattern once, at the first training
        step, from the weights the model brings, and keeps it; the schedule
        arguments (target_sparsity, initial_sparsity, begin_step, frequency) do
        not apply, and end_step is only checked. An input-channel count that n
        does not divide leaves a shorter last group, padded for the choice.
      skip: kinds of layers to leave dense, from `SKIP_KINDS`: "first_conv"
        (the Conv2D nearest the input on each path), "classifier" (the last
        Dense or 1x1 Conv2D before class-score outputs), "depthwise"
        (DepthwiseConv2D, which tfmot cannot prune: they stay dense either way).
      skip_layers: names of more layers to leave dense.

    Returns:
      A new tf_keras.Model with the same inputs, outputs and weights, each pruned
      layer wrapped (named "prune_low_magnitude_<layer>"); the caller's model is
      not changed. Compile it, fit it with `callbacks()`, then `strip` it.

    Raises:
      UserError: a bad argument, a model that is not a functional tf_keras model
        (or is already pruned or quantized), or nothing left to prune.
    """
    _check_model(model)
    kinds, names = _check_skip(model, skip, skip_layers)
    schedule = _schedule(target_sparsity, end_step, begin_step, initial_sparsity, frequency, m_by_n)
    if m_by_n is not None:
        m_by_n = _check_m_by_n(m_by_n)
    chosen = _prunable_layers(model) - _skipped(model, kinds) - names
    if not chosen:
        raise UserError(
            f"model {model.name!r} has no Conv2D or Dense kernel left to prune (skip={tuple(kinds)}, "
            f"skip_layers={tuple(sorted(names))}). Skip fewer layers, or prune a model with "
            "convolutions or dense layers."
        )
    if "depthwise" not in kinds and any(isinstance(layer, tf_keras.layers.DepthwiseConv2D) for layer in model.layers):
        warnings.warn(
            "tfmot cannot prune DepthwiseConv2D kernels; the model's depthwise convolutions stay dense "
            "although skip leaves out 'depthwise'.",
            MobilekitWarning,
            stacklevel=2,
        )

    def wrap(layer):
        fresh = _fresh(layer)
        if layer.name not in chosen:
            return fresh
        return _sparsity.prune_low_magnitude(fresh, pruning_schedule=schedule, sparsity_m_by_n=m_by_n)

    return _rebuild(model, wrap)


def callbacks() -> list:
    """The Keras callbacks `fit` needs for a pruned model: tfmot's UpdatePruningStep.

    It advances each wrapper's step counter (training without it fails with
    tfmot's message) and applies the masks at the end of every epoch.
    """
    return [_sparsity.UpdatePruningStep()]


def strip(model):
    """The pruned model without its pruning wrappers: plain layers, zeros in the kernels.

    Each wrapped kernel is multiplied by its mask on the way, so the zeros are
    there even when training stopped between a weight update and tfmot's
    end-of-epoch masking. Returns a new model; a model without wrappers comes
    back as a plain copy. Loading a saved pruned model needs
    `tfmot.sparsity.keras.prune_scope()` (which forgets m_by_n: tfmot does not
    save it, but the masks it chose are weights and come back).
    """
    if not isinstance(model, tf_keras.Model):
        raise UserError(f"strip takes the tf_keras.Model that prune() returned, got {type(model).__name__}.")
    return _rebuild(model, lambda layer: _fresh(layer.layer if _is_pruning_wrapper(layer) else layer))


@dataclasses.dataclass(frozen=True)
class KernelSparsity:
    """One prunable kernel: its layer, its name, how many weights it has and how many are zero."""

    layer: str
    weight: str
    count: int
    zeros: int
    sparsity: float


@dataclasses.dataclass(frozen=True)
class SparsityReport:
    """Zeros in a model's prunable kernels (Conv2D and Dense), skipped ones included.

    rows: one per kernel, in layer order, named after the layer the user built
        (not its pruning or quantization wrapper).
    count, zeros, sparsity: over all rows.
    """

    model: str
    rows: tuple[KernelSparsity, ...]
    count: int
    zeros: int
    sparsity: float

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    def format(self) -> str:
        """A plain-text table, one line per kernel and a total."""
        width = max([len(row.layer) for row in self.rows] + [len("total"), len("layer")])
        lines = [f"{'layer':<{width}}  {'weight':<6}  {'weights':>10}  {'zeros':>10}  {'sparsity':>8}"]
        lines += [
            f"{row.layer:<{width}}  {row.weight:<6}  {row.count:>10,}  {row.zeros:>10,}  {row.sparsity:>8.1%}"
            for row in self.rows
        ]
        lines.append(f"{'total':<{width}}  {'':<6}  {self.count:>10,}  {self.zeros:>10,}  {self.sparsity:>8.1%}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def sparsity_report(model) -> SparsityReport:
    """Count the zeros of every Conv2D and Dense kernel of a model: wrapped for pruning, stripped, or QAT.

    A kernel inside a pruning wrapper is counted through its mask (what the
    wrapped model computes, and what `strip` keeps).
    """
    if not isinstance(model, tf_keras.Model):
        raise UserError(f"sparsity_report takes a tf_keras.Model, got {type(model).__name__}.")
    rows = []
    for outer in model.layers:
        layer, mask = outer, None
        while isinstance(layer, tf_keras.layers.Wrapper):  # pruning or quantization wrappers
            if _is_pruning_wrapper(layer) and layer.pruning_vars:
                mask = layer.pruning_vars[0][1].numpy()
            layer = layer.layer
        name = PRUNABLE.get(type(layer))
        if name is None:
            continue
        kernel = _variable(outer, name).numpy()
        if mask is not None:
            kernel = kernel * mask
        zeros = int(np.count_nonzero(kernel == 0))
        rows.append(
            KernelSparsity(
                layer=layer.name, weight=name, count=int(kernel.size), zeros=zeros, sparsity=zeros / kernel.size
            )
        )
    count, zeros = sum(row.count for row in rows), sum(row.zeros for row in rows)
    return SparsityReport(
        model=model.name, rows=tuple(rows), count=count, zeros=zeros, sparsity=zeros / count if count else 0.0
    )


def _variable(layer, name: str):
    """The weight variable `name` of a layer or of the layer inside a wrapper, found by its name.

    Not `getattr(inner, name)`: inside a QAT wrapper that attribute holds the
    fake-quantized tensor the wrapper last computed, and only the wrapper still
    lists the variable.
    """
    [variable] = [w for w in layer.weights if w.name.rsplit("/", 1)[-1].split(":")[0] == name]
    return variable


def gzipped_size(buf: bytes) -> int:
    """The size of `buf` compressed with gzip at level 9: how much a sparse .tflite file shrinks in transit."""
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise UserError(
            f"gzipped_size takes the bytes of a file (e.g. the .tflite bytes export.convert "
            f"returns), got {type(buf).__name__}."
        )
    return len(gzip.compress(bytes(buf), compresslevel=9, mtime=0))


# --- checks ---------------------------------------------------------------------------


def _is_pruning_wrapper(layer) -> bool:
    # tfmot's public API does not export PruneLowMagnitude; its name is stable.
    cls = type(layer)
    return cls.__name__ == "PruneLowMagnitude" and cls.__module__.startswith("tensorflow_model_optimization")


def _check_model(model) -> None:
    check_functional(model, "prune wraps")
    for layer in model.layers:
        module = type(layer).__module__
        if _is_pruning_wrapper(layer):
            raise UserError(
                f"model {model.name!r} is already wrapped for pruning (layer {layer.name!r}); pass "
                "the float model, or prune.strip(...) it first."
            )
        if module.startswith("tensorflow_model_optimization") and "quantiz" in module:
            raise UserError(
                f"model {model.name!r} is quantized for QAT (layer {layer.name!r}); prune the float "
                "model, then strip it and run qat.quantize(..., preserve_sparsity=True)."
            )
        if isinstance(layer, tf_keras.Model):
            raise UserError(
                f"layer {layer.name!r} of {model.name!r} is a nested model; flatten it into the outer model's graph."
            )


def _check_skip(model, skip, skip_layers) -> tuple[tuple[str, ...], set[str]]:
    for argument, value in (("skip", skip), ("skip_layers", skip_layers)):
        if not isinstance(value, (list, tuple, set, frozenset)) or not all(isinstance(v, str) for v in value):
            raise UserError(
                f"{argument} must be a tuple of strings, e.g. {argument}=({value!r},) for one, got {value!r}."
            )
    unknown = sorted(set(skip) - set(SKIP_KINDS))
    if unknown:
        raise UserError(
            f"unknown skip kind(s) {', '.join(map(repr, unknown))}: expected some of "
            f"{', '.join(SKIP_KINDS)}. Name single layers with skip_layers=(...)."
        )
    names = {layer.name for layer in model.layers}
    missing = sorted(set(skip_layers) - names)
    if missing:
        raise UserError(
            f"skip_layers names {', '.join(map(repr, missing))}, not layers of model {model.name!r}. "
            "Use the names of `model.layers` (e.g. 'stem_conv', 'predictions')."
        )
    return tuple(skip), set(skip_layers)


def _fraction(name: str, value, *, low_open: bool) -> float:
    ok = (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and (0 < value < 1 if low_open else 0 <= value < 1)
    )
    if not ok:
        bounds = "(0, 1)" if low_open else "[0, 1)"
        raise UserError(
            f"{name} must be a fraction of weights in {bounds}, got {value!r}; e.g. 0.75 zeroes three weights in four."
        )
    return float(value)


def _step(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise UserError(f"{name} must be a whole number of training steps >= {low}, got {value!r}.")
    return int(value)


def _schedule(target_sparsity, end_step, begin_step, initial_sparsity, frequency, m_by_n):
    """tfmot's PolynomialDecay for these arguments, after checking them."""
    begin_step = _step("begin_step", begin_step, 0)
    end_step = _step("end_step", end_step, begin_step + 1)
    frequency = _step("frequency", frequency, 1)
    if m_by_n is not None:
        # tfmot's m-by-n masks ignore the schedule. This one never fires, so that a
        # wrapper loaded from a file (which forgets m_by_n) keeps the masks it loaded.
        return _sparsity.ConstantSparsity(0.5, begin_step=0, end_step=0, frequency=1)
    target_sparsity = _fraction("target_sparsity", target_sparsity, low_open=True)
    initial_sparsity = _fraction("initial_sparsity", initial_sparsity, low_open=False)
    if initial_sparsity >= target_sparsity:
        raise UserError(
            f"initial_sparsity ({initial_sparsity}) must be below target_sparsity "
            f"({target_sparsity}); the sparsity rises from one to the other."
        )
    span = end_step - begin_step
    if span % frequency:
        below, above = begin_step + span // frequency * frequency, begin_step + (span // frequency + 1) * frequency
        nearer = f"end_step={below} or {above}" if below > begin_step else f"end_step={above}"
        raise UserError(
            f"end_step - begin_step ({span}) must be a multiple of frequency ({frequency}): masks "
            f"change every {frequency} steps from begin_step, and the last change must fall on "
            f"end_step for the kernels to reach target_sparsity. Use {nearer}, or a frequency "
            f"that divides {span}."
        )
    return _sparsity.PolynomialDecay(
        initial_sparsity=initial_sparsity,
        final_sparsity=target_sparsity,
        begin_step=begin_step,
        end_step=end_step,
        frequency=frequency,
    )


def _check_m_by_n(m_by_n) -> tuple[int, int]:
    try:
        pair = tuple(m_by_n)
    except TypeError:
        pair = ()
    if (
        len(pair) != 2
        or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) for v in pair)
        or not 0 < pair[0] < pair[1]
    ):
        raise UserError(
            f"m_by_n must be a pair (m, n) of whole numbers with 0 < m < n: m zeros in every n "
            f"weights, e.g. (2, 4); got {m_by_n!r}."
        )
    return int(pair[0]), int(pair[1])


# --- which layers ---------------------------------------------------------------------


def _prunable_layers(model) -> set[str]:
    return {layer.name for layer in model.layers if type(layer) in PRUNABLE}


def _skipped(model, kinds) -> set[str]:
    """Names of the layers that the skip kinds leave dense."""
    inbound = _graph(model)
    skipped = set()
    if "first_conv" in kinds:
        skipped |= _first_convs(model, inbound)
    if "classifier" in kinds:
        skipped |= _classifiers(model, inbound)
    return skipped


def _graph(model) -> dict[str, set[str]]:
    """Layer name -> names of the layers it reads, within this model (from its functional config)."""
    names = {layer.name for layer in model.layers}

    def strings(value):
        if isinstance(value, str):
            yield value
        elif isinstance(value, (list, tuple)):
            for item in value:
                yield from strings(item)

    return {entry["name"]: set(strings(entry["inbound_nodes"])) & names for entry in model.get_config()["layers"]}


def _computes(layer) -> bool:
    """A layer that transforms features with weights of its own (convolution, dense, squeeze-excite, ...)."""
    return bool(layer.weights) and not isinstance(layer, _NORMALIZATIONS)


def _first_convs(model, inbound: dict[str, set[str]]) -> set[str]:
    """Conv2D layers with no weighted layer between them and the input."""
    behind = set()  # layers with a weighted layer at or before them
    first = set()
    for layer in model.layers:  # topological order
        after_weights = any(name in behind for name in inbound[layer.name])
        if type(layer) is tf_keras.layers.Conv2D and not after_weights:
            first.add(layer.name)
        if after_weights or _computes(layer):
            behind.add(layer.name)
    return first


def _classifiers(model, inbound: dict[str, set[str]]) -> set[str]:
    """Prunable layers with no weighted layer between them and a class-score (N, classes) output."""
    if any(len(output.shape) != 2 for output in model.outputs):
        return set()
    ahead = set()  # layers with a weighted layer at or after them
    last = set()
    for layer in reversed(model.layers):
        before_weights = layer.name in ahead
        if type(layer) in PRUNABLE and not before_weights:
            last.add(layer.name)
        if before_weights or _computes(layer):
            ahead.update(inbound[layer.name])
    return last


# --- copies ---------------------------------------------------------------------------


def _fresh(layer):
    """A new layer with the same config, so that the caller's model gains no inbound nodes."""
    return type(layer).from_config(layer.get_config())


def _weights(layer) -> list[np.ndarray]:
    """A layer's weights; a pruning wrapper's inner weights with the masks applied."""
    if not _is_pruning_wrapper(layer):
        return layer.get_weights()
    masks = {weight.ref(): mask.numpy() for weight, mask, _ in layer.pruning_vars}
    return [w.numpy() * masks[w.ref()] if w.ref() in masks else w.numpy() for w in layer.layer.weights]


def _rebuild(model, replace):
    """A copy of `model` whose layers are `replace(layer)`, with the weights copied over."""
    copies = {}

    def clone(layer):
        copies[layer.name] = replace(layer)
        return copies[layer.name]

    rebuilt = tf_keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if layer.name in copies:
            copies[layer.name].set_weights(_weights(layer))
    return rebuilt
