"""Segmentation sources: images with a class per pixel, read into memory before any split.

`read_segmentation(source, resolution=...)` returns a `SegmentationSource`. Sources:

- a folder in the common layout::

      DIR/labels.txt        one class name per line, line k = class index k (0 is usually background)
      DIR/images/NAME.jpg   the images (any of images.IMAGE_SUFFIXES)
      DIR/masks/NAME.png    one mask per image, same name, PNG: pixel value = class index, 255 = ignore

  Each image and its mask are centre-cropped to a square and resized to `resolution` (the image
  bilinearly, the mask to the nearest pixel). A mask whose size differs from its image's, a class
  value beyond the labels, an image without a mask: each a UserError naming the file;
- ``digit_scenes``: `digit_scenes`' bundled scenes, with their fixed train / validation / test splits.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import numpy as np

from mobilekit import progress
from mobilekit.data import calibration, images
from mobilekit.errors import UserError

IGNORE = 255  # a mask value that no loss or metric counts
LABELS_FILE = "labels.txt"
BUNDLED = {"digit_scenes": "MNIST-5k digits on scikit-image photos: 11 classes (background, 0-9), fixed splits"}


@dataclasses.dataclass(frozen=True)
class SegmentationSource:
    """Images and their class masks, before splitting.

    images: uint8 (N, resolution, resolution, 3). masks: uint8 (N, resolution, resolution), a class
    index per pixel or IGNORE. splits: the source's own fixed train / validation / test positions, or None.
    mirror: whether a mirrored scene is still a true one (not for digits).
    """

    name: str
    images: np.ndarray
    masks: np.ndarray
    class_names: tuple[str, ...]
    splits: dict[str, np.ndarray] | None = None
    mirror: bool = True

    @property
    def labels(self) -> np.ndarray:
        """The masks: what a pipeline pairs with each image."""
        return self.masks


def read_segmentation(source: str | os.PathLike, *, resolution: int, show_progress: bool = True) -> SegmentationSource:
    """A mask folder or a bundled segmentation dataset, at `resolution`."""
    text = os.fspath(source)
    path = pathlib.Path(text).expanduser()
    if path.is_dir():
        return _read_folder(path, resolution, show_progress)
    if text in BUNDLED:
        return _digit_scenes(resolution)
    known = "; ".join(f"{name} ({what})" for name, what in BUNDLED.items())
    raise UserError(
        f"segmentation data {text!r} is neither a folder nor a bundled dataset ({known}). A folder holds "
        f"{LABELS_FILE}, images/ and masks/ (PNG, pixel value = class index, {IGNORE} = ignore)."
    )


def _digit_scenes(resolution: int) -> SegmentationSource:
    from mobilekit.data import digit_scenes

    digits, photos = digit_scenes.mnist_digits(), calibration.bundled_photos()
    made = {
        name: digit_scenes.generate(name, count, size=resolution, digits=digits, photos=photos)
        for name, count in digit_scenes.SPLIT_SIZES.items()
    }
    starts = np.cumsum([0, *(len(scenes.images) for scenes in made.values())])
    return SegmentationSource(
        "digit_scenes",
        np.concatenate([scenes.images for scenes in made.values()]),
        np.concatenate([scenes.masks for scenes in made.values()]),
        digit_scenes.CLASS_NAMES,
        splits={name: np.arange(starts[i], starts[i + 1]) for i, name in enumerate(made)},
        mirror=False,
    )


def is_segmentation_source(source) -> bool:
    """Whether `source` names segmentation data: a bundled segmentation dataset, or a folder with a
    masks/ sub-folder or a labels.txt (a classification folder has class sub-folders instead)."""
    if not isinstance(source, (str, os.PathLike)):
        return False
    text = os.fspath(source)
    path = pathlib.Path(text).expanduser()
    if path.is_dir():
        return (path / "masks").is_dir() or (path / LABELS_FILE).is_file()
    return text in BUNDLED


def check_folder(folder: pathlib.Path) -> tuple[tuple[str, ...], list[tuple[pathlib.Path, pathlib.Path]]]:
    """The class names and (image, mask) pairs of a mask folder, checked without decoding an image."""
    layout = f"Expected {folder}/{LABELS_FILE}, {folder}/images/NAME.jpg and {folder}/masks/NAME.png."
    labels_file, image_dir, mask_dir = folder / LABELS_FILE, folder / "images", folder / "masks"
    for needed in (labels_file, image_dir, mask_dir):
        if not needed.exists():
            raise UserError(f"segmentation folder {folder} has no {needed.name}. {layout}")
    names = tuple(line.strip() for line in labels_file.read_text(encoding="utf-8").splitlines() if line.strip())
    if len(names) < 2:
        raise UserError(
            f"{labels_file} names {len(names)} class(es); segmentation needs at least two (e.g. background)."
        )
    if len(names) > IGNORE:
        raise UserError(
            f"{labels_file} names {len(names)} classes; masks hold at most {IGNORE} (value {IGNORE} is ignore)."
        )
    pictures = images.find_images(image_dir)
    masks = {p.relative_to(mask_dir).with_suffix("").as_posix(): p for p in mask_dir.rglob("*.png")}
    pairs = []
    for picture in pictures:
        key = picture.relative_to(image_dir).with_suffix("").as_posix()
        if key not in masks:
            raise UserError(f"image {picture} has no mask: expected {mask_dir / (key + '.png')}.")
        pairs.append((picture, masks[key]))
    return names, pairs


def _read_folder(folder: pathlib.Path, resolution: int, show_progress: bool) -> SegmentationSource:
    names, pairs = check_folder(folder)
    pixels = np.empty((len(pairs), resolution, resolution, 3), np.uint8)
    masks = np.empty((len(pairs), resolution, resolution), np.uint8)
    rows = progress.bar(
        pairs, total=len(pairs), desc=f"reading {folder.name}", enabled=show_progress and len(pairs) > 200
    )
    for i, (picture, mask_file) in enumerate(rows):
        image = images.load_rgb(picture)
        mask = read_mask(mask_file, len(names))
        if mask.shape != image.shape[:2]:
            raise UserError(
                f"mask {mask_file} is {mask.shape[1]}x{mask.shape[0]} pixels but its image {picture} is "
                f"{image.shape[1]}x{image.shape[0]}: a mask must match its image's size."
            )
        pixels[i] = np.clip(np.round(images.center_crop(image, resolution)), 0, 255).astype(np.uint8)
        masks[i] = center_crop_nearest(mask, resolution)
    return SegmentationSource(str(folder), pixels, masks, names)


def read_mask(path: pathlib.Path, num_classes: int) -> np.ndarray:
    """A PNG mask as uint8 class indices (H, W); UserError for colour masks and values beyond the classes."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            if image.mode not in ("L", "P", "I", "I;16"):
                raise UserError(
                    f"mask {path} is a {image.mode} image; a mask is single-channel (grey or palette PNG) "
                    "whose pixel values are class indices."
                )
            mask = np.asarray(image)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise UserError(f"cannot read mask {path}: {error}.") from None
    beyond = np.unique(mask[(mask >= num_classes) & (mask != IGNORE)])
    if len(beyond):
        shown = ", ".join(str(int(v)) for v in beyond[:5]) + (", ..." if len(beyond) > 5 else "")
        raise UserError(
            f"mask {path} holds class value(s) {shown} beyond the {num_classes} labels (0..{num_classes - 1}, "
            f"{IGNORE} = ignore). Fix the mask or add the classes to {LABELS_FILE}."
        )
    return mask.astype(np.uint8)


def center_crop_nearest(mask: np.ndarray, size: int) -> np.ndarray:
    """The central square of a mask resized to `size` x `size` by nearest pixel (the crop `center_crop` takes)."""
    height, width = mask.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    rows = top + np.minimum(((np.arange(size) + 0.5) * side / size).astype(int), side - 1)
    cols = left + np.minimum(((np.arange(size) + 0.5) * side / size).astype(int), side - 1)
    return mask[rows][:, cols]
