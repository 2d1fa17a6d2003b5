"""Labelled image datasets as tf.data pipelines for training and evaluation.

`load(source, resolution=...)` reads a source into memory (`sources`: a
folder of class sub-folders, an .npz file, or a bundled dataset named in
`SOURCES`), splits it into train / validation / test and returns a `Data`
with one batched, prefetched tf.data pipeline per split. Every pipeline
yields ``(images, labels)``: float32 raw RGB pixels 0..255 of shape (batch,
resolution, resolution, 3) -- every mobilekit model normalizes inside its
graph -- and int32 class indices.

Splits are stratified (every class is split in the same proportions) and
deterministic:

- the **test** split never depends on `seed`, so a model trained with any seed
  is evaluated on images it has never seen. ``mnist5k`` has a fixed test split
  (`MNIST5K_TEST_PER_CLASS` per digit). Every other source, or mnist5k with an
  explicit `test_split`, draws `test_split` of each class with the fixed seed
  `TEST_SEED`;
- the **validation** split is drawn from the rest with `seed`;
- every class keeps at least one training image.

Images are decoded once, at load (folder images already at `resolution`);
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
from typing import Any

import numpy as np

from mobilekit.data.sources import MNIST5K_TEST_PER_CLASS, SOURCES, Source, check_source, read_source
from mobilekit.errors import UserError
from mobilekit.formats import SPLITS

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
AUGMENT_MIN_CROP = 0.8  # a training crop covers at least this fraction of each side


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

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

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


def check(
    source: str | os.PathLike | Source, *, validation_split: float = 0.1, test_split: float | None = None
) -> None:
    """What `load` would refuse, found without decoding an image or importing TensorFlow.

    The source is a bundled name, an .npz file or a folder of class sub-folders
    that hold images, and the split fractions leave images to train on.
    """
    validation_split = _check_fraction("validation_split", validation_split)
    if test_split is not None:
        _check_room(validation_split, _check_fraction("test_split", test_split))
    check_source(source)


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


def pipeline(
    pixels: np.ndarray,
    labels: np.ndarray,
    *,
    resolution: int,
    batch_size: int,
    shuffle: bool = False,
    augment: bool = False,
    mirror: bool = True,
    seed: int = 0,
):
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
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    else:
        dataset = dataset.map(
            lambda batch, labels_: (_prepare(batch, resolution), labels_),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)


def training_stream(
    pixels: np.ndarray,
    labels: np.ndarray,
    *,
    resolution: int,
    batch_size: int,
    first_epoch: int = 0,
    first_step: int = 0,
    drop_remainder: bool = False,
    shuffle: bool = True,
    augment: bool = False,
    mirror: bool = True,
    seed: int = 0,
):
    """Training batches from `first_step` of `first_epoch` on, epoch after epoch without end.

    Unlike `pipeline`'s reshuffle (which follows how many times this process iterated), each
    epoch's order and augmentation are a function of (`seed`, epoch) alone, so a restarted
    process continues exactly where a backup left off. `drop_remainder` keeps every batch
    full (a global batch split over replicas must split evenly).
    """
    import tensorflow as tf

    every_image, every_label = tf.constant(pixels), tf.constant(labels.astype(np.int32))
    count = len(labels)

    def epoch_batches(epoch):
        order = tf.range(count, dtype=tf.int64)
        if shuffle:
            order = tf.argsort(tf.random.stateless_uniform([count], tf.stack([tf.constant(seed, tf.int64), epoch])))
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=drop_remainder)
        batches = batches.map(
            lambda chosen: (tf.gather(every_image, chosen), tf.gather(every_label, chosen))
        ).enumerate()

        def prepare(step, batch):
            images = _prepare(batch[0], resolution)
            if augment:
                images = _augment(images, tf.stack([epoch, step]) + seed * 1_000_003, resolution, mirror)
            return images, batch[1]

        return batches.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    epochs = tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max)
    return epochs.flat_map(epoch_batches).skip(first_step).prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(count: int, batch_size: int, drop_remainder: bool) -> int:
    return count // batch_size if drop_remainder else -(-count // batch_size)


def drops_remainder(count: int, batch_size: int) -> bool:
    """Whether training keeps full batches only: always, unless there are fewer images than one batch.

    A global batch must split evenly over replicas, and since the order changes every epoch no image
    is left out for good.
    """
    return count >= batch_size


def training_steps(data: Data) -> int:
    """Steps in one epoch of training on `data` (as `train.fit` runs it)."""
    count = data.counts["train"]
    return steps_per_epoch(count, data.batch_size, drops_remainder(count, data.batch_size))


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
) -> Data:
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
        raise UserError(
            f"{data.name} holds images of one class only ({only}); a classifier needs at least two "
            "classes. Add images of other classes."
        )
    indices = split_indices(
        data.labels,
        validation_split=validation_split,
        test_split=test_split,
        seed=seed,
        fixed_test=data.test_indices,
        train_fraction=train_fraction,
    )
    pipes = {}
    for name in SPLITS:
        chosen = indices[name]
        pipes[name] = (
            None
            if not len(chosen)
            else pipeline(
                data.images[chosen],
                data.labels[chosen],
                resolution=int(resolution),
                batch_size=int(batch_size),
                shuffle=name == "train" and shuffle,
                augment=name == "train" and augment,
                mirror=data.mirror,
                seed=seed,
            )
        )
    train = indices["train"]

    def train_from(first_epoch: int = 0, first_step: int = 0):
        return training_stream(
            data.images[train],
            data.labels[train],
            resolution=int(resolution),
            batch_size=int(batch_size),
            first_epoch=first_epoch,
            first_step=first_step,
            drop_remainder=drops_remainder(len(train), int(batch_size)),
            shuffle=shuffle,
            augment=augment,
            mirror=data.mirror,
            seed=seed,
        )

    return Data(
        train=pipes["train"],
        validation=pipes["validation"],
        test=pipes["test"],
        class_names=data.class_names,
        counts={name: int(len(indices[name])) for name in SPLITS},
        indices=indices,
        resolution=int(resolution),
        batch_size=int(batch_size),
        source=data.name,
        train_from=train_from,
    )
