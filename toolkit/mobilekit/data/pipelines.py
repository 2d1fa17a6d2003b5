"""The tf.data pipelines of `datasets`: batches of raw RGB pixels 0..255 (float32) and int32 targets.

A target is an image's class (labels of shape (N,)) or its class mask (labels of shape (N, H, W), the
images' size: a class per pixel); a mask goes through every crop and mirror its image does (to the
nearest pixel).

`pipeline` batches a split in memory (reshuffled every epoch when training);
`training_stream` is training's endless stream, indexed by (epoch, step) so a
restarted process resumes exactly; `worker_streams` gives every worker of a
multi-worker job its own stream of its share of the images.
"""

from __future__ import annotations

import numpy as np

AUGMENT_MIN_CROP = 0.8  # a training crop covers at least this fraction of each side


def _prepare(batch, resolution: int):
    """uint8 (B, h, w, 1|3) -> float32 RGB (B, resolution, resolution, 3), 0..255."""
    import tensorflow as tf

    pixels = tf.cast(batch, tf.float32)
    if batch.shape[-1] == 1:
        pixels = tf.image.grayscale_to_rgb(pixels)
    if tuple(batch.shape[1:3]) != (resolution, resolution):
        pixels = tf.clip_by_value(tf.image.resize(pixels, (resolution, resolution), method="bilinear"), 0, 255)
    return pixels


def _targets(labels: np.ndarray) -> np.ndarray:
    """Classes as int32; masks stay uint8 in memory (a quarter of the bytes) until `_prepare_targets`."""
    return labels if labels.ndim == 3 else labels.astype(np.int32)


def _prepare_targets(targets):
    import tensorflow as tf

    return tf.cast(targets, tf.int32)


def _augment(pixels, targets, seed, resolution: int, mirror: bool):
    """Random square crops covering AUGMENT_MIN_CROP..1 of each side, resized back; random mirror.
    Masks (int32 targets of rank 3) are cropped and mirrored with their images, to the nearest pixel."""
    import tensorflow as tf

    count = tf.shape(pixels)[0]
    seeds = tf.random.experimental.stateless_split(seed, num=4)
    side = tf.random.stateless_uniform((count, 1), seeds[0], AUGMENT_MIN_CROP, 1.0)
    top = tf.random.stateless_uniform((count, 1), seeds[1]) * (1.0 - side)
    left = tf.random.stateless_uniform((count, 1), seeds[2]) * (1.0 - side)
    boxes = tf.concat([top, left, top + side, left + side], axis=1)
    pixels = tf.image.crop_and_resize(pixels, boxes, tf.range(count), (resolution, resolution))
    masks = targets.shape.rank == 3
    if masks:
        cropped = tf.image.crop_and_resize(
            tf.cast(targets[..., None], tf.float32), boxes, tf.range(count), (resolution, resolution), method="nearest"
        )
        targets = tf.cast(cropped[..., 0], tf.int32)
    if mirror:
        flip = tf.random.stateless_uniform((count, 1, 1, 1), seeds[3]) < 0.5
        pixels = tf.where(flip, tf.reverse(pixels, axis=[2]), pixels)
        if masks:
            targets = tf.where(flip[..., 0], tf.reverse(targets, axis=[2]), targets)
    return tf.clip_by_value(pixels, 0, 255), targets


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
    """A batched, prefetched tf.data pipeline of (float32 RGB pixels 0..255, int32 classes or masks).

    `shuffle` reshuffles the order every epoch; `augment` gives every batch
    random crops (and mirrors when `mirror`). Both are seeded by `seed`.
    """
    import tensorflow as tf

    dataset = tf.data.Dataset.from_tensor_slices((pixels, _targets(labels)))
    if shuffle:
        dataset = dataset.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augment:
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda batch, pair: _augment(
                _prepare(batch[0], resolution), _prepare_targets(batch[1]), pair, resolution, mirror
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    else:
        dataset = dataset.map(
            lambda batch, targets: (_prepare(batch, resolution), _prepare_targets(targets)),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return _split_by_data(dataset.prefetch(tf.data.AUTOTUNE))


def _split_by_data(dataset):
    """`dataset`, split between the workers of a multi-worker job by data: every worker computes each
    batch and keeps its part (the images are in memory: there are no files to split; said outright, so
    tf.distribute does not try files first and warn)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def training_stream(
    pixels: np.ndarray,
    labels: np.ndarray,
    *,
    resolution: int,
    batch_size: int,
    first_epoch: int = 0,
    first_step: int = 0,
    drop_remainder: bool = False,
    steps_per_epoch: int | None = None,
    shuffle: bool = True,
    augment: bool = False,
    mirror: bool = True,
    seed: int = 0,
):
    """Training batches from `first_step` of `first_epoch` on, epoch after epoch without end.

    Unlike `pipeline`'s reshuffle (which follows how many times this process iterated), each
    epoch's order and augmentation are a function of (`seed`, epoch) alone, so a restarted
    process continues exactly where a backup left off. `drop_remainder` keeps every batch
    full (a global batch split over replicas must split evenly); `steps_per_epoch` ends each
    epoch after that many batches (workers with shares of different sizes take equal steps).
    """
    import tensorflow as tf

    every_image, every_label = tf.constant(pixels), tf.constant(_targets(labels))
    count = len(labels)

    def epoch_batches(epoch):
        order = tf.range(count, dtype=tf.int64)
        if shuffle:
            order = tf.argsort(tf.random.stateless_uniform([count], tf.stack([tf.constant(seed, tf.int64), epoch])))
        batches = tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=drop_remainder)
        if steps_per_epoch is not None:
            batches = batches.take(steps_per_epoch)
        batches = batches.map(
            lambda chosen: (tf.gather(every_image, chosen), tf.gather(every_label, chosen))
        ).enumerate()

        def prepare(step, batch):
            images, targets = _prepare(batch[0], resolution), _prepare_targets(batch[1])
            if augment:
                seeds = tf.stack([epoch, step]) + seed * 1_000_003
                images, targets = _augment(images, targets, seeds, resolution, mirror)
            return images, targets

        return batches.map(prepare, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    epochs = tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max)
    return _split_by_data(epochs.flat_map(epoch_batches).skip(first_step).prefetch(tf.data.AUTOTUNE))


def steps_per_epoch(count: int, batch_size: int, drop_remainder: bool) -> int:
    return count // batch_size if drop_remainder else -(-count // batch_size)


def drops_remainder(count: int, batch_size: int) -> bool:
    """Whether training keeps full batches only: always, unless there are fewer images than one batch.

    A global batch must split evenly over replicas, and since the order changes every epoch no image
    is left out for good.
    """
    return count >= batch_size


def worker_streams(pixels, labels, shard, batch_size, steps, first_epoch, first_step, stream):
    """Each worker's training stream from its own share of the images (`shard`), as a DatasetCreator
    (`Model.fit` hands it to `distribute_datasets_from_function`): per-replica batches of the global
    `batch_size`, `steps` global steps an epoch, from (`first_epoch`, `first_step`) on; order and crops
    seeded by (seed, worker)."""
    import tf_keras

    index, count = shard

    def per_worker(context):
        if (context.input_pipeline_id, context.num_input_pipelines) != shard:
            raise RuntimeError(
                f"this worker decoded share {index + 1} of {count} of the training files, but tf.distribute "
                f"reads input pipeline {context.input_pipeline_id + 1} of {context.num_input_pipelines} here"
            )
        local_replicas = context.num_replicas_in_sync // count
        return training_stream(
            pixels,
            labels,
            batch_size=context.get_per_replica_batch_size(batch_size),
            first_epoch=first_epoch,
            first_step=first_step * local_replicas,
            drop_remainder=True,
            steps_per_epoch=steps * local_replicas,
            **{**stream, "seed": stream["seed"] + 7919 * index},
        )

    return tf_keras.utils.experimental.DatasetCreator(per_worker)
