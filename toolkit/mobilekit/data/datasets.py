"""Labelled image datasets as tf.data pipelines for training and evaluation.

`load(source, resolution=...)` reads a source into memory (`sources`: a
folder of class sub-folders, an .npz file, or a bundled dataset named in
`SOURCES`), splits it into train / validation / test and returns a `Data`
with one batched, prefetched tf.data pipeline per split. Every pipeline
yields ``(images, labels)``: float32 raw RGB pixels 0..255 of shape (batch,
resolution, resolution, 3) -- every mobilekit model normalizes inside its
graph -- and int32 class indices. With ``task="segmentation"`` the source is
a mask folder or ``digit_scenes`` (`segmentation`) and the labels are int32
class masks (batch, resolution, resolution), 255 where nothing is counted;
a mask folder's splits are drawn image by image (there is no class per image
to stratify by), ``digit_scenes`` has its own.

Splits are stratified (every class is split in the same proportions) and
deterministic:

- the **test** split never depends on `seed`, so a model trained with any seed
  is evaluated on images it has never seen. ``mnist5k`` has a fixed test split
  (`MNIST5K_TEST_PER_CLASS` per digit). Every other source, or mnist5k with an
  explicit `test_split`, draws `test_split` of each class with the fixed seed
  `TEST_SEED`;
- the **validation** split is drawn from the rest with `seed`;
- every class keeps at least one training image.

Images are decoded once, at load (folder images already at `resolution`); a
worker of a multi-worker job (`shard`) decodes and trains on its own share of a
folder's training files, and every split of other sources in full (tf.distribute
then splits each batch between the workers);
the bundled digits are resized (bilinear) and made RGB inside the pipeline.
Training batches are shuffled and, with `augment`, lightly augmented: a
random square crop covering 80-100% of each side, resized back, and a random
horizontal mirror (not for digits, where a mirror is not the same class).
Shuffling and augmentation are seeded by `seed` and differ from epoch to
epoch. Validation and test batches are neither shuffled nor augmented.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from typing import Any

import numpy as np

from mobilekit.data.sources import (
    MNIST5K_TEST_PER_CLASS,
    SOURCES,
    FolderImages,
    Source,
    check_source,
    read_source,
)
from mobilekit.data.pipelines import (
    AUGMENT_MIN_CROP,
    drops_remainder,
    pipeline,
    steps_per_epoch,
    training_stream,
    worker_streams,
)
from mobilekit.data import segmentation
from mobilekit.data.segmentation import read_segmentation
from mobilekit.errors import UserError
from mobilekit.formats import SPLITS, TASKS

__all__ = [
    "AUGMENT_MIN_CROP",
    "DEFAULT_TEST_SPLIT",
    "MNIST5K_TEST_PER_CLASS",
    "SOURCES",
    "SPLITS",
    "TEST_SEED",
    "Data",
    "Source",
    "check",
    "load",
    "pipeline",
    "read_source",
    "split_indices",
]

TEST_SEED = 20240601  # seed of every drawn test split; deliberately not the `seed` argument
DEFAULT_TEST_SPLIT = 0.1  # the test fraction of sources without a fixed test split


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
    # (first_epoch, first_step) -> the training batches from there on, without end, full ones only
    # unless there are fewer images than one batch (`drops_remainder`), as `training_steps` counts them:
    # epoch e's order and crops depend on (seed, e) only, so a run restarted at a step sees what
    # an uninterrupted one would have (`training_stream`).
    train_from: Any = None
    # (this worker's input pipeline, how many) where each worker trains on its own share of a folder's
    # files (`train` and `train_from` then stream that share), else None
    shard: tuple[int, int] | None = None
    task: str = "classification"  # or "segmentation": the labels are class masks

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> str:
        """One line: the source, its classes and split sizes, and this worker's share where sharded."""
        text = f"{self.source}, {self.num_classes} classes, " + ", ".join(
            f"{count} {name}" for name, count in self.counts.items()
        )
        if self.shard is not None:
            index, count = self.shard
            text += f"; this worker trains on share {index + 1} of {count} of the training files"
        return text

    def calibration_images(self, count: int) -> np.ndarray:
        """Up to `count` images of the validation split (unaugmented), else of the training split."""
        taken = []
        for images, _ in self.validation if self.validation is not None else self.train:
            taken.append(images.numpy())
            if sum(len(batch) for batch in taken) >= count:
                break
        return np.concatenate(taken)[:count]

    def split(self, name: str):
        """The pipeline of split `name` ('train', 'validation' or 'test'); UserError if it is empty."""
        if name not in SPLITS:
            raise UserError(f"unknown split {name!r}; expected one of {', '.join(SPLITS)}.")
        dataset = getattr(self, name)
        if dataset is None:
            raise UserError(
                f"the {name} split of {self.source} is empty ({self.counts}). Choose another split, "
                f"or give it a share of the data (validation_split / test_split)."
            )
        return dataset


def check(source: str | os.PathLike | Source, *, validation_split: float = 0.1, test_split: float | None = None) -> str:
    """What `load` would refuse, found without decoding an image or importing TensorFlow; returns the
    task the source is for (`load`'s `task`): "segmentation" for a mask folder or a bundled
    segmentation dataset, else "classification".

    The source is a bundled name, an .npz file, a folder of class sub-folders
    that hold images or a mask folder, and the split fractions leave images to train on.
    """
    validation_split = _check_fraction("validation_split", validation_split)
    if test_split is not None:
        _check_room(validation_split, _check_fraction("test_split", test_split))
    if segmentation.is_segmentation_source(source):
        if os.fspath(source) not in segmentation.BUNDLED:
            segmentation.check_folder(pathlib.Path(os.fspath(source)).expanduser())
        return "segmentation"
    check_source(source)
    return "classification"


def check_task(source, data_task: str, model_task: str, model_name: str) -> None:
    """UserError where a model of `model_task` is given data of `data_task` (from `check`)."""
    if data_task == model_task:
        return
    if model_task == "segmentation":
        raise UserError(
            f"{model_name} is a segmentation model (a class per pixel) but {source} holds a class per image. "
            f"Give it a mask folder ({segmentation.LABELS_FILE}, images/, masks/) or one of: "
            f"{', '.join(segmentation.BUNDLED)}."
        )
    raise UserError(
        f"{model_name} classifies whole images but {source} is segmentation data (a class per pixel). "
        f"Give it a folder of class sub-folders, an .npz or a bundled classification dataset, or choose a "
        f"segmentation model (`mobilekit models` shows each model's task)."
    )


# ---------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------


def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise UserError(f"{name} must be a fraction in [0, 1), got {value!r}, e.g. 0.1 for 10%.")
    return float(value)


def _check_room(validation_split: float, test_split: float) -> None:
    if validation_split + test_split >= 1:
        raise UserError(
            f"validation_split {validation_split:g} + test_split {test_split:g} leave nothing to "
            "train on; their sum must be below 1."
        )


def split_indices(
    labels: np.ndarray,
    *,
    validation_split: float,
    test_split: float | None,
    seed: int,
    fixed_test: np.ndarray | None = None,
    train_fraction: float = 1.0,
) -> dict[str, np.ndarray]:
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
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, (int, float)) or not 0 < train_fraction <= 1:
        raise UserError(
            f"train_fraction must be in (0, 1], got {train_fraction!r}; e.g. 0.1 trains on a tenth "
            "of the training images."
        )
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
        parts["train"].append(train[: max(1, int(round(len(train) * train_fraction)))])
    return {name: np.sort(np.concatenate(chunks)).astype(np.int64) for name, chunks in parts.items()}


def random_split_indices(
    count: int, *, validation_split: float, test_split: float | None, seed: int, train_fraction: float = 1.0
) -> dict[str, np.ndarray]:
    """Train / validation / test positions (each sorted) of `count` images drawn image by image: the test
    split with `TEST_SEED`, validation from the rest with `seed`, at least one image left to train on."""
    return split_indices(
        np.zeros(count, np.int64),
        validation_split=validation_split,
        test_split=test_split,
        seed=seed,
        train_fraction=train_fraction,
    )


def training_steps(data: Data) -> int:
    """Steps in one epoch of training on `data` (as `train.fit` runs it)."""
    return _epoch_steps(data.counts["train"], data.batch_size, data.shard)


def _epoch_steps(count: int, batch_size: int, shard: tuple[int, int] | None) -> int:
    if shard is not None:  # every worker steps through the smallest share, a worker's batch at a time
        count, batch_size = count // shard[1], batch_size // shard[1]
    return steps_per_epoch(count, batch_size, drops_remainder(count, batch_size))


def file_shard(source: Source, train_count: int, batch_size: int, shard: tuple[int, int] | None):
    """`shard` (this worker's input pipeline, how many) where the training images are split between the
    workers by file -- a folder with at least one of a worker's batches per worker -- else None (every
    worker reads every image and tf.distribute splits each batch: sharding by data)."""
    if shard is None or shard[1] < 2 or not isinstance(source.images, FolderImages):
        return None
    index, count = shard
    if not 0 <= index < count:
        raise ValueError(f"input pipeline {index} of {count}")
    return (index, count) if batch_size % count == 0 and train_count // count >= batch_size // count else None


def load(
    source: str | os.PathLike | Source,
    *,
    resolution: int,
    batch_size: int = 32,
    validation_split: float = 0.1,
    test_split: float | None = None,
    seed: int = 0,
    augment: bool = True,
    shuffle: bool = True,
    train_fraction: float = 1.0,
    show_progress: bool = True,
    shard: tuple[int, int] | None = None,
    task: str = "classification",
) -> Data:
    """Read `source` and split it into train / validation / test pipelines.

    Args:
      source: a folder of class sub-folders, an .npz file, or a name in `SOURCES`; for
        segmentation a mask folder or "digit_scenes" (`segmentation.read_segmentation`).
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
      shard: (this worker's input pipeline, how many) under MultiWorkerMirroredStrategy
        (`train.distribute.input_shard`). A folder with enough training files is split by
        file: this worker decodes and trains on every count-th one from its index on, a
        worker's share of the global batch at a time, and `train_from` is a DatasetCreator
        that gives each worker its own stream; other sources are split by data (each worker
        holds all images, tf.distribute splits every batch).
      task: "classification" (a class per image) or "segmentation" (a class per pixel).
    """
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; expected one of {', '.join(TASKS)}.")
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 1:
        raise UserError(f"resolution must be a whole number of pixels >= 1, got {resolution!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise UserError(f"batch_size must be a whole number >= 1, got {batch_size!r}.")
    validation_split = _check_fraction("validation_split", validation_split)
    if test_split is not None:
        test_split = _check_fraction("test_split", test_split)
    if task == "segmentation":
        data = read_segmentation(source, resolution=int(resolution), show_progress=show_progress)
        indices = data.splits or random_split_indices(
            len(data.images),
            validation_split=validation_split,
            test_split=test_split,
            seed=seed,
            train_fraction=train_fraction,
        )
        shard = None  # in memory: tf.distribute splits each batch
    else:
        data = read_source(source, resolution=int(resolution), show_progress=show_progress)
        indices = _classification_splits(data, validation_split, test_split, seed, train_fraction)
        shard = file_shard(data, len(indices["train"]), int(batch_size), shard)
    # each split decoded once (a folder's images are decoded when indexed), a sharded worker's own share only
    chosen = {**indices, "train": indices["train"][shard[0] :: shard[1]] if shard else indices["train"]}
    pixels = {name: data.images[chosen[name]] if len(chosen[name]) else None for name in SPLITS}
    labels = {name: data.labels[chosen[name]] for name in SPLITS}
    pipes = {
        name: None
        if pixels[name] is None
        else pipeline(
            pixels[name],
            labels[name],
            resolution=int(resolution),
            batch_size=int(batch_size) // (shard[1] if shard and name == "train" else 1),
            shuffle=name == "train" and shuffle,
            augment=name == "train" and augment,
            mirror=data.mirror,
            seed=seed,
        )
        for name in SPLITS
    }
    stream = dict(resolution=int(resolution), shuffle=shuffle, augment=augment, mirror=data.mirror, seed=seed)
    counts = {name: int(len(indices[name])) for name in SPLITS}

    def train_from(first_epoch: int = 0, first_step: int = 0):
        if shard is not None:
            steps = _epoch_steps(counts["train"], int(batch_size), shard)
            return worker_streams(
                pixels["train"], labels["train"], shard, int(batch_size), steps, first_epoch, first_step, stream
            )
        return training_stream(
            pixels["train"],
            labels["train"],
            batch_size=int(batch_size),
            first_epoch=first_epoch,
            first_step=first_step,
            drop_remainder=drops_remainder(counts["train"], int(batch_size)),
            **stream,
        )

    return Data(
        train=pipes["train"],
        validation=pipes["validation"],
        test=pipes["test"],
        class_names=data.class_names,
        counts=counts,
        indices=indices,
        resolution=int(resolution),
        batch_size=int(batch_size),
        source=data.name,
        train_from=train_from,
        shard=shard,
        task=task,
    )


def _classification_splits(data: Source, validation_split, test_split, seed, train_fraction) -> dict[str, np.ndarray]:
    present = np.unique(data.labels)
    if len(present) < 2:
        only = data.class_names[int(present[0])] if len(present) else "none"
        raise UserError(
            f"{data.name} holds images of one class only ({only}); a classifier needs at least two "
            "classes. Add images of other classes."
        )
    return split_indices(
        data.labels,
        validation_split=validation_split,
        test_split=test_split,
        seed=seed,
        fixed_test=data.test_indices,
        train_fraction=train_fraction,
    )
