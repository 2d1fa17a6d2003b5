"""What mobilekit's models take and start from and what its files hold: no TensorFlow behind an import.

Every stage that names a conversion mode, an int8 file's input/output type,
the range of the pixels a model takes or the weights a model starts from
reads it here, so the CLI, recipes, QAT, training and the converter cannot
drift apart.
"""

from __future__ import annotations

import difflib
import os
import pathlib

from mobilekit.errors import UserError

# Every zoo model takes raw RGB pixels and normalizes inside its graph; int8 files pin their
# integer input onto this range (a uint8 input value is the pixel value) and QAT starts the
# input's fake quantization there.
PIXEL_RANGE = (0.0, 255.0)

# Conversion modes, the default first: full integer, float16 weights, dynamic-range, float.
MODES = ("int8", "fp16", "dynamic", "float32")

# The input and output type of an int8 file.
IO_TYPES = ("uint8", "int8", "float32")

# The parts a dataset is split into (fixed by the source, or drawn per class with the seed).
SPLITS = ("train", "validation", "test")
TASKS = ("classification", "segmentation")  # what a model's output holds: class scores, or classes per pixel


def weights_source(weights) -> str | None:
    """The `weights` argument every command and function takes: None (random), "imagenet", or a path string."""
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
    if difflib.get_close_matches(weights.strip().lower(), ["imagenet"], n=1, cutoff=0.75) and not os.path.exists(
        weights
    ):
        raise UserError(
            f"weights {weights!r}: did you mean 'imagenet'? Expected None, 'none', "
            "'imagenet' or the path of a .h5, .weights.h5 or .keras file."
        )
    return weights


def check_weights_file(weights) -> None:
    """When `weights` names a file, that it exists (no TensorFlow needed). The rest of what
    `build_model` needs of its arguments, ImageNet weights included, is `models.check`'s."""
    if weights_source(weights) in (None, "imagenet"):
        return
    path = pathlib.Path(os.fspath(weights)).expanduser()
    if not path.is_file():
        raise UserError(
            f"weights file {path} does not exist. Pass 'imagenet', 'none' or the path of a "
            ".keras / .h5 / .weights.h5 file (e.g. best.keras of an earlier run)."
        )
