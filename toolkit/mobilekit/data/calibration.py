"""Calibration images for full-integer quantization.

From a folder of the user's images, or, without one, from real photos that ship
inside scikit-image (so nothing is downloaded). Every source gives raw RGB pixels
in [0, 255], the input every mobilekit model takes.
"""

from __future__ import annotations

import pathlib
import warnings

import numpy as np

from mobilekit.data import images
from mobilekit.errors import MobilekitWarning, UserError

# Photographs in scikit-image's wheel (no download needed); grey ones are used as RGB.
BUNDLED_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "camera",
    "coins",
    "clock",
    "moon",
    "grass",
    "gravel",
    "brick",
    "page",
)


def bundled_photos() -> list[np.ndarray]:
    """The photos shipped in scikit-image's data module, as RGB uint8 arrays."""
    from skimage import data

    photos = [images.to_rgb(getattr(data, name)()) for name in BUNDLED_PHOTOS]
    left, _right, _disparity = data.stereo_motorcycle()
    return photos + [images.to_rgb(left)]


def sample(sources: list[np.ndarray], resolution: int, count: int, seed: int = 0) -> np.ndarray:
    """`count` images at `resolution`: each source centre-cropped once, then random crops and flips.

    Returns float32 raw pixels, shape (count, resolution, resolution, 3).
    """
    if count < 1:
        raise UserError(f"calibration needs at least 1 step, got {count}.")
    rng = np.random.default_rng(seed)
    batch = np.empty((count, resolution, resolution, 3), dtype=np.float32)
    for i in range(count):
        source = sources[i % len(sources)]
        batch[i] = (
            images.center_crop(source, resolution) if i < len(sources) else images.random_crop(source, resolution, rng)
        )
    return batch


def load(
    source: str | pathlib.Path | None,
    resolution: int,
    count: int = 100,
    seed: int = 0,
    *,
    warn: bool = True,
) -> np.ndarray:
    """Calibration images from a folder, or from the bundled photos when `source` is None."""
    if source is None:
        if warn:
            warnings.warn(
                "calibrating on photos bundled with scikit-image; pass a folder of your own "
                "images (--calib DIR) for better int8 accuracy on your data.",
                MobilekitWarning,
                stacklevel=2,
            )
        sources = bundled_photos()
    else:
        paths = images.find_images(source)
        if len(paths) > count:  # decode only what calibration will use
            chosen = np.random.default_rng(seed).choice(len(paths), size=count, replace=False)
            paths = [paths[i] for i in sorted(chosen)]
        sources = [images.load_rgb(path) for path in paths]
    return sample(sources, resolution, count, seed)
