"""Class names: ImageNet-1k shipped with the package, or a user's labels file.

imagenet_labels.txt is torchvision's `_IMAGENET_CATEGORIES` (torchvision/models/_meta.py),
in the synset order keras.applications' ImageNet weights use;
scripts/derive_imagenet_labels.py regenerates it from the torchvision wheel.
"""

from __future__ import annotations

import importlib.resources
import pathlib

from mobilekit.errors import UserError


def imagenet_labels() -> list[str]:
    text = importlib.resources.files("mobilekit.data").joinpath("imagenet_labels.txt").read_text()
    return text.splitlines()


def read_labels(path: str | pathlib.Path, num_classes: int | None) -> list[str]:
    """One label per line; blank lines at the end are ignored; the count must match `num_classes` (None: any)."""
    path = pathlib.Path(path)
    try:
        lines = path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    except FileNotFoundError:
        raise UserError(f"labels file {path} does not exist. Pass a text file with one label per line.") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(
            f"cannot read labels file {path}: {error}. Pass a UTF-8 text file, one label per line."
        ) from None
    labels = [line.strip() for line in lines]
    if num_classes is not None and len(labels) != num_classes:
        raise UserError(
            f"labels file {path} has {len(labels)} lines but the model has {num_classes} classes. "
            "Give one label per class, or set --num-classes to match."
        )
    empty = [i + 1 for i, label in enumerate(labels) if not label]
    if empty:
        raise UserError(f"labels file {path} has empty labels on line(s) {empty[:5]}. Give every class a name.")
    return labels


def default_labels(num_classes: int) -> list[str]:
    """ImageNet names for a 1000-class head, otherwise class_0 … class_{n-1}."""
    if num_classes == 1000:
        return imagenet_labels()
    return [f"class_{i}" for i in range(num_classes)]
