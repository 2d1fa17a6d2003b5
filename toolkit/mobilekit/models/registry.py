"""Model names -> builders, their defaults, model cards and reference implementations.

A builder registers itself with `@register(...)`; `build(name, ...)` resolves
the defaults (an argument left at None never overrides a model default),
validates the arguments, builds the model and loads the requested weights.

Every model matches a named reference: either a tf_keras.applications model
it is weight-compatible with (its row in keras_counterparts.KERAS_COUNTERPARTS),
or a public implementation whose trainable-parameter and MAC counts it equals
(`reference_counts=`). A model's `task` says what its output is: class scores
(classification) or class probabilities per pixel (segmentation); a
segmentation model names the classifier whose ImageNet weights its backbone
takes (`backbone=`). Model-specific knobs (AlexNet's `lrn`, DenseNet's
`growth_rate`, ...) are declared with their defaults in `options=` and reach the
builder as keywords. A table of variants of one builder registers each row with
`variant(...)`.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import math
import numbers
from typing import Callable

from mobilekit.errors import UserError
from mobilekit.formats import TASKS, weights_source
from mobilekit.models.keras_counterparts import KERAS_COUNTERPARTS, ImagenetWeights, KerasCounterpart

MIN_RESOLUTION = 32


@dataclasses.dataclass(frozen=True)
class ReferenceCounts:
    """A public implementation's figures at `resolution` with `num_classes` classes.

    params: trainable parameters (PyTorch counts batch-norm running statistics
        as buffers; Keras as non-trainable weights: trainable counts agree).
    macs: multiply-accumulates of the conv and dense layers (complexity.py's rule);
        None where the reference publishes none.
    """

    params: int
    macs: int | None
    resolution: int = 224
    num_classes: int = 1000


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What `mobilekit models` shows about one architecture: its model card.

    reference: the implementation it must match (a tf_keras.applications call,
        or a PyTorch model by its import path).
    paper: the paper that introduced it.
    idea: the one idea it introduced, in a few words.
    options: model-specific knobs and their defaults, as (name, default) pairs.
    min_resolution: the smallest input its stride pattern allows.
    imagenet_weights: weights="imagenet" loads keras.applications' ImageNet weights:
        into the whole model (the models without reference_counts), or into the backbone.
    task: one of TASKS: what the output holds.
    backbone: the classifier whose ImageNet weights the backbone takes (segmentation models).
    """

    name: str
    family: str
    default_resolution: int
    reference: str
    description: str
    paper: str
    idea: str
    options: tuple[tuple[str, object], ...] = ()
    min_resolution: int = MIN_RESOLUTION
    reference_counts: ReferenceCounts | None = None
    imagenet_weights: bool = False
    task: str = "classification"
    backbone: str | None = None


@dataclasses.dataclass(frozen=True)
class BuildSettings:
    """The resolved arguments of one build: every knob a builder takes."""

    alpha: float
    resolution: int
    num_classes: int
    include_top: bool
    dropout: float


@dataclasses.dataclass(frozen=True)
class Entry:
    info: ModelInfo
    builder: Callable[..., object]
    default_dropout: float
    keras: KerasCounterpart | None


class Registry:
    """Name -> Entry. Filled once, at import, by the `register` decorators."""

    def __init__(self):
        self._entries: dict[str, Entry] = {}

    def register(
        self,
        name: str,
        *,
        family: str,
        default_resolution: int,
        default_dropout: float,
        reference: str,
        description: str,
        paper: str,
        idea: str,
        reference_counts: ReferenceCounts | None = None,
        options: dict | None = None,
        min_resolution: int = MIN_RESOLUTION,
        task: str = "classification",
        backbone: str | None = None,
    ):
        """Decorator: register `builder(*, alpha, resolution, num_classes, include_top, dropout, **options)`."""
        keras = KERAS_COUNTERPARTS.get(name)
        if (keras is None) == (reference_counts is None):
            raise ValueError(
                f"model {name!r}: needs exactly one of a row in KERAS_COUNTERPARTS (a weight-compatible "
                "keras.applications model) or reference_counts= (a reference's figures)"
            )
        if task not in TASKS:
            raise ValueError(f"model {name!r}: task {task!r} is not one of {TASKS}")
        if backbone is not None and (backbone not in self._entries or self._entries[backbone].keras is None):
            raise ValueError(f"model {name!r}: backbone {backbone!r} is not a registered weight-compatible model")

        def decorator(builder):
            if name in self._entries:
                raise ValueError(f"model {name!r} is registered twice")
            self._entries[name] = Entry(
                info=ModelInfo(
                    name=name,
                    family=family,
                    default_resolution=int(default_resolution),
                    reference=reference,
                    description=description,
                    paper=paper,
                    idea=idea,
                    options=tuple((options or {}).items()),
                    min_resolution=int(min_resolution),
                    reference_counts=reference_counts,
                    imagenet_weights=keras is not None or backbone is not None,
                    task=task,
                    backbone=backbone,
                ),
                builder=builder,
                default_dropout=float(default_dropout),
                keras=keras,
            )
            return builder

        return decorator

    def names(self, task: str | None = None) -> list[str]:
        return [name for name, entry in self._entries.items() if task in (None, entry.info.task)]

    def get(self, name) -> Entry:
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        known = self.names()
        guess = difflib.get_close_matches(str(name).lower().replace("-", "_"), known, n=1, cutoff=0.5)
        hint = f" Did you mean {guess[0]!r}?" if guess else ""
        raise UserError(
            f"unknown model {name!r}.{hint} Known models: {', '.join(known)}. "
            "Pass one of these names (`mobilekit models` lists them with their sizes)."
        )


REGISTRY = Registry()
register = REGISTRY.register


def variant(build: Callable[..., object], doc: str, **fixed) -> Callable[..., object]:
    """The builder of one row of a table of variants: `build` with that row's arguments `fixed`.

    `doc` is its docstring (it names the model's reference, as every builder's does).
    """
    builder = functools.partial(build, **fixed)
    builder.__doc__ = doc
    return builder


def names(task: str | None = None) -> list[str]:
    """Every registered model name (of one of TASKS, when given), in registration order."""
    if task is not None and task not in TASKS:
        raise ValueError(f"task {task!r} is not one of {TASKS}")
    return REGISTRY.names(task)


def info(name: str) -> ModelInfo:
    """Name, family, default resolution, reference and description of one model."""
    return REGISTRY.get(name).info


def check_options(name: str, options: dict) -> dict:
    """A model's own options (`info(name).options`) checked without building anything: the
    options with defaults filled in. UserError for an unknown model, an unknown option, or a
    value whose type differs from the default's (a recipe's `options:` map, say); `build` and
    `check` take the same options as keywords."""
    return resolve_options(REGISTRY.get(name), options)


def resolve_settings(
    entry: Entry, *, alpha=1.0, resolution=None, num_classes=1000, include_top=True, dropout=None
) -> BuildSettings:
    """Fill None arguments with the model's defaults and check every value."""
    alpha = 1.0 if alpha is None else alpha
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not math.isfinite(alpha) or alpha <= 0:
        raise UserError(
            f"alpha (width multiplier) must be a number > 0, got {alpha!r}. "
            "Use 1.0 for the published width, e.g. 0.35-1.4 for MobileNetV2."
        )
    resolution = entry.info.default_resolution if resolution is None else resolution
    smallest = entry.info.min_resolution
    if isinstance(resolution, bool) or not isinstance(resolution, numbers.Integral) or resolution < smallest:
        raise UserError(
            f"resolution must be a whole number of pixels >= {smallest} for {entry.info.name}, "
            f"got {resolution!r}. It was designed for {entry.info.default_resolution}."
        )
    num_classes = 1000 if num_classes is None else num_classes
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise UserError(f"num_classes must be a whole number >= 1, got {num_classes!r}.")
    include_top = True if include_top is None else include_top
    if not isinstance(include_top, bool):
        raise UserError(f"include_top must be True or False, got {include_top!r}.")
    dropout = entry.default_dropout if dropout is None else dropout
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
        raise UserError(
            f"dropout must be a rate in [0, 1), got {dropout!r}. "
            f"Leave it unset for {entry.info.name}'s default ({entry.default_dropout})."
        )
    return BuildSettings(
        alpha=float(alpha),
        resolution=int(resolution),
        num_classes=int(num_classes),
        include_top=include_top,
        dropout=float(dropout),
    )


def resolve_options(entry: Entry, options: dict) -> dict:
    """The model's options with defaults filled in; unknown names and wrong types are UserErrors.

    Values are checked against their default's type here; builders check ranges.
    """
    defaults = dict(entry.info.options)
    unknown = sorted(set(options) - set(defaults))
    if unknown:
        known = ", ".join(f"{k}={v!r}" for k, v in defaults.items()) or "none"
        raise UserError(
            f"{entry.info.name} has no option {', '.join(map(repr, unknown))}. Its options (with defaults): {known}."
        )
    resolved = dict(defaults)
    for key, value in options.items():
        if value is None:
            continue  # unset: the default stands
        default = defaults[key]
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, numbers.Integral):
            ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        else:
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
        if not ok:
            raise UserError(
                f"{entry.info.name} option {key} must be a {type(default).__name__} like its "
                f"default {default!r}, got {value!r}."
            )
        resolved[key] = type(default)(value)
    return resolved


def build(
    name: str,
    *,
    weights=None,
    alpha: float = 1.0,
    resolution: int | None = None,
    num_classes: int = 1000,
    include_top: bool = True,
    dropout: float | None = None,
    **options,
):
    """Build a zoo model as a tf_keras.Model that takes raw RGB pixels in [0, 255].

    Args:
      name: one of `names()`.
      weights: None or "none" (random init), "imagenet" (keras.applications'
        published weights, through keras' cache), or a path to a .h5,
        .weights.h5 or .keras file.
      alpha: width multiplier.
      resolution: input height and width; None = the model's default.
      num_classes: classifier outputs (with include_top).
      include_top: False returns the last feature map (no pooling, no classifier).
      dropout: rate before the classifier; None = the model's default.
      **options: the model's own knobs (`info(name).options`), e.g. lrn=True
        for AlexNet; None leaves an option at its default.

    Returns:
      A float32 tf_keras.Model with input shape (resolution, resolution, 3).
    """
    plan = _plan(
        name,
        weights=weights,
        alpha=alpha,
        resolution=resolution,
        num_classes=num_classes,
        include_top=include_top,
        dropout=dropout,
        options=options,
    )
    from mobilekit.models import weights as weight_loading

    model = plan.entry.builder(**dataclasses.asdict(plan.settings), **plan.options)
    if plan.imagenet is not None and plan.entry.info.backbone is not None:
        backbone = build(
            plan.entry.info.backbone,
            weights="imagenet",
            alpha=plan.settings.alpha,
            resolution=plan.settings.resolution,
            include_top=False,
        )
        weight_loading.copy_by_name(backbone, model)
    elif plan.imagenet is not None:
        weight_loading.load_imagenet(model, plan.entry, plan.imagenet)
    elif plan.weights_file is not None:
        weight_loading.load_file(model, plan.entry, plan.settings, plan.weights_file)
    return model


def check(
    name: str,
    *,
    weights=None,
    alpha: float = 1.0,
    resolution: int | None = None,
    num_classes: int = 1000,
    include_top: bool = True,
    dropout: float | None = None,
    **options,
) -> BuildSettings:
    """Everything `build` checks before it builds, with the same arguments: the name, the
    settings, the model's options, and that requested ImageNet weights exist and are cached or
    reachable. Returns the resolved settings; raises UserError like `build`."""
    return _plan(
        name,
        weights=weights,
        alpha=alpha,
        resolution=resolution,
        num_classes=num_classes,
        include_top=include_top,
        dropout=dropout,
        options=options,
    ).settings


@dataclasses.dataclass(frozen=True)
class _Plan:
    entry: Entry
    settings: BuildSettings
    options: dict
    imagenet: ImagenetWeights | None
    weights_file: str | None


def _plan(name, *, weights, alpha, resolution, num_classes, include_top, dropout, options) -> _Plan:
    entry = REGISTRY.get(name)
    settings = resolve_settings(
        entry, alpha=alpha, resolution=resolution, num_classes=num_classes, include_top=include_top, dropout=dropout
    )
    chosen = resolve_options(entry, options)
    source = weights_source(weights)
    imagenet = None
    if source == "imagenet":
        from mobilekit.models import weights as weight_loading

        # Before building anything: keras has weights for these settings, and
        # they are cached or can be downloaded (fails within seconds offline).
        if entry.info.backbone is not None:
            backbone = REGISTRY.get(entry.info.backbone)
            try:
                imagenet = weight_loading.find_imagenet(
                    backbone, dataclasses.replace(settings, include_top=False), resolve_options(backbone, {})
                )
            except UserError as error:
                raise UserError(
                    f"{name} takes its backbone's ImageNet weights from {backbone.info.name}: {error}"
                ) from None
        else:
            imagenet = weight_loading.find_imagenet(entry, settings, chosen)
    return _Plan(entry, settings, chosen, imagenet, None if source in (None, "imagenet") else source)
