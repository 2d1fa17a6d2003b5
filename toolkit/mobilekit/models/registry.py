"""Model names -> builders, their defaults, and their keras.applications counterparts.

A builder registers itself with `@register(...)`; `build(name, ...)` resolves
the defaults (an argument left at None never overrides a model default),
validates the arguments, builds the model and loads the requested weights.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import os
from typing import Callable

from mobilekit.errors import UserError

MIN_RESOLUTION = 32


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What `mobilekit models` shows about one architecture."""

    name: str
    family: str
    default_resolution: int
    reference: str
    description: str


@dataclasses.dataclass(frozen=True)
class BuildSettings:
    """The resolved arguments of one build: every knob a builder takes."""

    alpha: float
    resolution: int
    num_classes: int
    include_top: bool
    dropout: float


@dataclasses.dataclass(frozen=True)
class ImagenetWeights:
    """Where keras.applications keeps the ImageNet weights for some settings.

    file_name: the file keras expects in its cache folder (~/.keras/models).
    url: where keras downloads it from.
    settings: the settings to build the keras counterpart with, to load them
        (weights do not depend on resolution; keras insists on its own default
        resolution for some models).
    """

    file_name: str
    url: str
    settings: BuildSettings


@dataclasses.dataclass(frozen=True)
class KerasCounterpart:
    """The tf_keras.applications model a zoo model is weight-compatible with.

    build(settings, weights): that model for the same settings; `weights` is
        passed through to keras (None, "imagenet" or a file path).
    imagenet(settings): the ImageNet weights file for these settings; raises
        UserError where keras has none.
    adopt(model, source): fixes up our model after weights were copied over from
        a keras model ("imagenet") or a keras weights file ("file"); None = nothing to do.
    """

    build: Callable[[BuildSettings, object], object]
    imagenet: Callable[[BuildSettings], ImagenetWeights]
    adopt: Callable[[object, str], None] | None = None


@dataclasses.dataclass(frozen=True)
class Entry:
    info: ModelInfo
    builder: Callable[..., object]
    default_dropout: float
    keras: KerasCounterpart


class Registry:
    """Name -> Entry. Filled once, at import, by the `register` decorators."""

    def __init__(self):
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, *, family: str, default_resolution: int, default_dropout: float,
                 reference: str, description: str, keras: KerasCounterpart):
        def decorator(builder):
            if name in self._entries:
                raise ValueError(f"model {name!r} is registered twice")
            self._entries[name] = Entry(
                info=ModelInfo(name=name, family=family, default_resolution=int(default_resolution),
                               reference=reference, description=description),
                builder=builder, default_dropout=float(default_dropout), keras=keras)
            return builder
        return decorator

    def names(self) -> list[str]:
        return list(self._entries)

    def get(self, name) -> Entry:
        if isinstance(name, str) and name in self._entries:
            return self._entries[name]
        known = self.names()
        guess = difflib.get_close_matches(str(name).lower().replace("-", "_"), known, n=1, cutoff=0.5)
        hint = f" Did you mean {guess[0]!r}?" if guess else ""
        raise UserError(
            f"unknown model {name!r}.{hint} Known models: {', '.join(known)}. "
            "Pass one of these names (`mobilekit models` lists them with their sizes).")


REGISTRY = Registry()
register = REGISTRY.register


def names() -> list[str]:
    """Every registered model name, in registration order."""
    return REGISTRY.names()


def info(name: str) -> ModelInfo:
    """Name, family, default resolution, reference and description of one model."""
    return REGISTRY.get(name).info


def resolve_settings(entry: Entry, *, alpha=1.0, resolution=None, num_classes=1000,
                     include_top=True, dropout=None) -> BuildSettings:
    """Fill None arguments with the model's defaults and check every value."""
    alpha = 1.0 if alpha is None else alpha
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not math.isfinite(alpha) or alpha <= 0:
        raise UserError(f"alpha (width multiplier) must be a number > 0, got {alpha!r}. "
                        "Use 1.0 for the published width, e.g. 0.35-1.4 for MobileNetV2.")
    resolution = entry.info.default_resolution if resolution is None else resolution
    if isinstance(resolution, bool) or not isinstance(resolution, numbers.Integral) or resolution < MIN_RESOLUTION:
        raise UserError(f"resolution must be a whole number of pixels >= {MIN_RESOLUTION}, got {resolution!r}. "
                        f"{entry.info.name} was designed for {entry.info.default_resolution}.")
    num_classes = 1000 if num_classes is None else num_classes
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise UserError(f"num_classes must be a whole number >= 1, got {num_classes!r}.")
    include_top = True if include_top is None else include_top
    if not isinstance(include_top, bool):
        raise UserError(f"include_top must be True or False, got {include_top!r}.")
    dropout = entry.default_dropout if dropout is None else dropout
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
        raise UserError(f"dropout must be a rate in [0, 1), got {dropout!r}. "
                        f"Leave it unset for {entry.info.name}'s default ({entry.default_dropout}).")
    return BuildSettings(alpha=float(alpha), resolution=int(resolution), num_classes=int(num_classes),
                         include_top=include_top, dropout=float(dropout))


def build(name: str, *, weights=None, alpha: float = 1.0, resolution: int | None = None,
          num_classes: int = 1000, include_top: bool = True, dropout: float | None = None):
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

    Returns:
      A float32 tf_keras.Model with input shape (resolution, resolution, 3).
    """
    entry = REGISTRY.get(name)
    settings = resolve_settings(entry, alpha=alpha, resolution=resolution, num_classes=num_classes,
                                include_top=include_top, dropout=dropout)
    source = _weights_source(weights)
    from mobilekit.models import weights as weight_loading

    imagenet = None
    if source == "imagenet":
        # Before building anything: keras has weights for these settings, and
        # they are cached or can be downloaded (fails within seconds offline).
        imagenet = weight_loading.find_imagenet(entry, settings)
    model = entry.builder(**dataclasses.asdict(settings))
    if imagenet is not None:
        weight_loading.load_imagenet(model, entry, imagenet)
    elif source is not None:
        weight_loading.load_file(model, entry, settings, source)
    return model


def _weights_source(weights):
    """None (random), "imagenet", or a path string."""
    if weights is None:
        return None
    if isinstance(weights, os.PathLike):
        return os.fspath(weights)
    if not isinstance(weights, str):
        raise UserError(f"weights must be None, 'none', 'imagenet' or a file path, got {weights!r}.")
    if weights.strip().lower() in ("", "none", "random"):
        return None
    if weights.strip().lower() == "imagenet":
        return "imagenet"
    if difflib.get_close_matches(weights.strip().lower(), ["imagenet"], n=1, cutoff=0.75) \
            and not os.path.exists(weights):
        raise UserError(f"weights {weights!r}: did you mean 'imagenet'? Expected None, 'none', "
                        "'imagenet' or the path of a .h5, .weights.h5 or .keras file.")
    return weights
