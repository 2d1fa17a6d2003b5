"""Decode image files and bring them to a model's square input.

The resize is plain bilinear with half-pixel centres and no antialiasing, done in
NumPy so that the Android app's Kotlin core can reproduce it exactly.
"""

from __future__ import annotations

import pathlib

import numpy as np

from mobilekit.errors import UserError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})


def find_images(folder: str | pathlib.Path) -> list[pathlib.Path]:
    """Image files under `folder`, searched recursively, in a stable order."""
    folder = pathlib.Path(folder)
    if not folder.exists():
        raise UserError(f"image folder {folder} does not exist. Pass a folder of .jpg/.png images.")
    if not folder.is_dir():
        raise UserError(f"{folder} is a file, not a folder. Pass a folder of .jpg/.png images.")
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    if not images:
        found = f"it holds {len(files)} file(s), none an image (e.g. {files[0].name})" if files else "it is empty"
        raise UserError(
            f"no images in {folder}: {found}. Expected image files "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}), searched recursively."
        )
    return images


def load_rgb(path: str | pathlib.Path) -> np.ndarray:
    """An image file as an RGB uint8 array of shape (H, W, 3)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image = ImageOps.exif_transpose(image)
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise UserError(
            f"cannot read image {path}: {error}. Remove the file or replace it with a valid image."
        ) from None


def to_rgb(image: np.ndarray) -> np.ndarray:
    """Grey, RGB or RGBA arrays (uint8, bool or float in [0, 1]) as RGB uint8."""
    image = np.asarray(image)
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif image.dtype != np.uint8:
        image = np.clip(np.round(image * 255.0), 0, 255).astype(np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    return image[..., :3]


def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize with half-pixel centres; returns float32."""
    src_h, src_w = image.shape[:2]
    ys = _source_coords(height, src_h)
    xs = _source_coords(width, src_w)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, src_h - 1), np.minimum(x0 + 1, src_w - 1)
    wy, wx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    pixels = image.astype(np.float32)
    top = pixels[y0][:, x0] * (1 - wx) + pixels[y0][:, x1] * wx
    bottom = pixels[y1][:, x0] * (1 - wx) + pixels[y1][:, x1] * wx
    return top * (1 - wy) + bottom * wy


def _source_coords(size: int, src_size: int) -> np.ndarray:
    coords = (np.arange(size, dtype=np.float64) + 0.5) * (src_size / size) - 0.5
    return np.clip(coords, 0, src_size - 1)


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central square of the image resized to `size` x `size` (float32, 0..255)."""
    height, width = image.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    return resize_bilinear(image[top : top + side, left : left + side], size, size)


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random square crop covering 25-100% of the shorter side's square, maybe mirrored."""
    height, width = image.shape[:2]
    side = int(min(height, width) * np.sqrt(rng.uniform(0.25, 1.0)))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    crop = image[top : top + side, left : left + side]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return resize_bilinear(crop, size, size)
