"""The training loop: compile, fit epoch by epoch, keep the best model and resume where a run stopped."""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import pathlib
import shutil
import time
import warnings
from typing import Callable, Sequence

import numpy as np

from mobilekit import files
from mobilekit.data import datasets
from mobilekit.errors import MobilekitWarning, UserError
from mobilekit.metrics import confusion_matrix, segmentation_scores, top_k_accuracy
from mobilekit.train import distribute, run_folder
from mobilekit.train.model import freeze_backbone
from mobilekit.train.run_folder import BEST_FILE

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine")  # the learning rate over the epochs
# Cosine by default, everywhere (`fit`, `mobilekit train`, recipes): the short schedules this
# toolkit runs (a few epochs of fine-tuning or QAT) end at a low rate, so the last epochs settle
# instead of bouncing at the peak rate, and the best epoch is rarely an early, lucky one.
DEFAULT_SCHEDULE = "cosine"
# What must not change for a run to be resumed (the rest -- learning rate, optimizer,
# freezing, batch size -- may; a changed optimizer setting starts a fresh optimizer state).
IDENTITY_KEYS = ("model", "input_shape", "parameters", "class_names", "build")
TRAINING_KEYS = ("optimizer", "learning_rate", "freeze_base", "schedule")
DEFAULT_BACKUP_STEPS = 50  # steps between backups of the training state (a restart redoes at most these)


def make_optimizer(name: str, learning_rate: float):
    import tf_keras

    if name not in OPTIMIZERS:
        raise UserError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}.")
    if name == "adam":
        return tf_keras.optimizers.Adam(learning_rate)
    if name == "adamw":
        return tf_keras.optimizers.AdamW(learning_rate, weight_decay=1e-4)
    if name == "sgd":
        return tf_keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)
    return tf_keras.optimizers.RMSprop(learning_rate)


def learning_rate_at(epoch: int, *, base: float, epochs: int, schedule: str) -> float:
    """The learning rate of epoch `epoch` (0-based): constant, or cosine decay from `base` towards 0 at `epochs`."""
    if schedule == "cosine":
        return base * 0.5 * (1 + math.cos(math.pi * epoch / epochs))
    return base


def _check_arguments(model, data, epochs, learning_rate, optimizer, schedule) -> None:
    if optimizer not in OPTIMIZERS:
        raise UserError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(OPTIMIZERS)}.")
    if schedule not in SCHEDULES:
        raise UserError(f"unknown learning-rate schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}.")
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise UserError(f"epochs must be a whole number >= 1, got {epochs!r}.")
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, numbers.Real)
        or not math.isfinite(learning_rate)
        or learning_rate <= 0
    ):
        raise UserError(f"learning_rate must be a number > 0, got {learning_rate!r}, e.g. 1e-3 for adam.")
    if len(model.outputs) != 1:
        raise UserError(
            f"{model.name} has {len(model.outputs)} outputs; fit trains single-output models. "
            "Build it without auxiliary heads (e.g. GoogLeNet's aux_logits=False)."
        )
    per_pixel = len(model.outputs[0].shape) == 4
    if per_pixel != (data.task == "segmentation"):
        raise UserError(
            f"{model.name} predicts {'a class per pixel' if per_pixel else 'a class per image'} but the data "
            f"({data.source}) has {'a class per pixel' if data.task == 'segmentation' else 'a class per image'}. "
            + (
                "Train a segmentation model on a mask folder or digit_scenes."
                if per_pixel
                else "Train a segmentation model (mobilekit models lists each model's task) on it."
            )
        )
    classes = model.outputs[0].shape[-1]
    if classes != data.num_classes:
        raise UserError(
            f"{model.name} has {classes} outputs but the data has {data.num_classes} classes "
            f"({', '.join(data.class_names[:5])}{', ...' if data.num_classes > 5 else ''}). "
            f"Build the model with num_classes={data.num_classes}."
        )
    height, width = model.input_shape[1:3]
    if (height, width) != (data.resolution, data.resolution):
        raise UserError(
            f"{model.name} takes {height}x{width} images but the data was loaded at "
            f"{data.resolution}x{data.resolution}. Load it with resolution={height}."
        )


def fit(
    model,
    data,
    *,
    epochs: int,
    output_dir: str | os.PathLike,
    learning_rate: float = 1e-3,
    optimizer: str = "adam",
    schedule: str = DEFAULT_SCHEDULE,
    freeze_base: bool = False,
    seed: int = 0,
    verbose: int | str = 1,
    force: bool = False,
    run_info: dict | None = None,
    trainer: Callable | None = None,
    callbacks: Sequence = (),
    best_file: str = BEST_FILE,
    best_after_epoch: int = 0,
    backup_dir: str | os.PathLike | None = None,
    backup_steps: int = DEFAULT_BACKUP_STEPS,
) -> dict:
    """Train `model` on `data` (a `data.Data`) up to `epochs` epochs in total; returns the history.

    Args:
      model: a single-output model taking data.resolution images, e.g. from `build_model`: a
        classifier, or a segmentation model for segmentation data (`train.objectives` has each
        task's loss, metrics and the figure the best epoch is chosen by).
      data: the pipelines; training uses data.train and, when present, data.validation.
      epochs: the total number of epochs; a resumed run trains only the missing ones.
      output_dir: the run's folder (created if missing; its parent must exist).
      learning_rate, optimizer: one of OPTIMIZERS (sgd has Nesterov momentum 0.9, adamw weight decay 1e-4).
      schedule: "cosine" (DEFAULT_SCHEDULE): the rate decays per epoch along half a cosine towards 0
        at `epochs` (`learning_rate_at`), so more epochs on a resume stretch the curve; or "constant".
      freeze_base: train only the classifier top (`classifier_layers`), the backbone frozen.
      seed: seeds TensorFlow, NumPy and Python before training (data order and augmentation
        follow the seed `data` was loaded with).
      verbose: keras' progress display: 1 a bar per epoch, 2 a line per epoch, 0 none.
      force: discard an earlier run in output_dir and start over.
      run_info: JSON-ready facts to record in train_config.json (the CLI records how the model
        was built under "build"; a resume with a different "build" is refused).
      trainer: model -> the tf_keras.Model that is compiled and fitted in its place, e.g.
        `lambda student: optimize.distill.Distiller(student, teacher)`; checkpoints and the best
        file still hold `model` itself.
      callbacks: more keras callbacks for `fit` (e.g. `optimize.prune.callbacks()`).
      best_file: the best model's file name in output_dir; a name ending in .h5 saves HDF5, which
        models wrapped by tfmot (QAT, pruning) need.
      best_after_epoch: epochs up to this one are not candidates for the best file (a pruning
        schedule that is still raising sparsity then).
      backup_dir: where the training state is backed up every `backup_steps` steps
        (`tf_keras.callbacks.BackupAndRestore`; default output_dir/backup, removed when fit
        ends). A process killed mid-epoch and started again resumes from the last backup and
        sees the same batches an uninterrupted run would have. Under MultiWorkerMirroredStrategy
        every worker must reach the chief's (workers other than the chief write theirs beside it
        and remove them).

    Under a tf.distribute strategy (the model built inside its scope), `data.batch_size` is
    the global batch, split evenly over the replicas. Under MultiWorkerMirroredStrategy each
    worker needs an output_dir of its own: `distribute.worker_output` gives the chief the real
    one and every other worker a temporary copy of it.

    Returns:
      The history as written to history.json: {"model", "monitor", "best", "epochs": [...]}.
    """
    import tensorflow as tf
    import tf_keras

    from mobilekit import __version__
    from mobilekit.train import objectives  # Keras classes: imported with TensorFlow

    _check_arguments(model, data, epochs, learning_rate, optimizer, schedule)
    if isinstance(backup_steps, bool) or not isinstance(backup_steps, numbers.Integral) or backup_steps < 1:
        raise UserError(f"backup_steps must be a whole number >= 1, got {backup_steps!r}.")
    fitted = model if trainer is None else trainer(model)
    strategy = fitted.distribute_strategy  # the scope the model was built in
    replicas = strategy.num_replicas_in_sync
    if replicas > 1:
        distribute.check_global_batch(data.batch_size, replicas)
        if data.counts["train"] < data.batch_size:
            raise UserError(
                f"{data.counts['train']} training images are fewer than one global batch of {data.batch_size}: "
                f"give a batch size of at most {data.counts['train'] // replicas * replicas} for {replicas} replicas."
            )
    if freeze_base and freeze_backbone(model) == 0:
        raise UserError(f"{model.name}'s classifier top has no weights to train. Train without freeze_base.")
    folder = run_folder.check_output(output_dir, force=force)
    backup = pathlib.Path(backup_dir).expanduser() if backup_dir is not None else folder / run_folder.BACKUP_DIR
    folder.mkdir(exist_ok=True)
    if force:
        run_folder.clear_run(folder)
        if distribute.is_chief(strategy):  # one backup directory for all workers
            shutil.rmtree(backup, ignore_errors=True)
    distribute.check_writable(backup, "backup directory")
    tf_keras.utils.set_random_seed(seed)

    training = {
        "optimizer": optimizer,
        "learning_rate": float(learning_rate),
        "schedule": schedule,
        "freeze_base": bool(freeze_base),
        "batch_size": data.batch_size,
        "seed": seed,
    }
    config = {
        "mobilekit": __version__,
        "model": model.name,
        "input_shape": list(model.input_shape[1:]),
        "parameters": int(model.count_params()),
        "class_names": list(data.class_names),
        "data": {
            "source": data.source,
            "counts": data.counts,
            **({"train_share": {"worker": data.shard[0], "of": data.shard[1]}} if data.shard else {}),
        },
        "training": training,
        **(run_info or {}),
    }
    earlier = None if force else run_folder.run_state(folder)
    if earlier is not None:
        changed = [key for key in IDENTITY_KEYS if earlier.config.get(key) != config.get(key)]
        if changed:
            details = "; ".join(
                f"{key}: {_short(earlier.config.get(key))} then, {_short(config.get(key))} now" for key in changed
            )
            raise UserError(
                f"{folder} holds a run that differs from this one ({details}), so it cannot be resumed. "
                "Pass --force to start over there, or choose another --output."
            )
    monitor = objectives.monitor(data.task, data.validation is not None)
    if data.validation is None:
        warnings.warn(
            f"no validation split: the best checkpoint is chosen by training {monitor}, which rewards "
            "overfitting. Give the data a validation share (validation_split).",
            MobilekitWarning,
            stacklevel=2,
        )

    opt = make_optimizer(optimizer, learning_rate)
    objectives.compile_for(data.task, fitted, opt, data.num_classes)
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=opt, epoch=epoch)
    manager = tf.train.CheckpointManager(checkpoint, str(folder / run_folder.RESUME_DIR), max_to_keep=1)
    history = run_folder.empty_history(config)
    if earlier is not None and manager.latest_checkpoint:
        opt.build(model.trainable_variables)  # so the optimizer state restores now, not lazily
        same_training = all(earlier.config.get("training", {}).get(k) == training[k] for k in TRAINING_KEYS)
        source = checkpoint if same_training else tf.train.Checkpoint(model=model, epoch=epoch)
        source.restore(manager.latest_checkpoint).expect_partial()
        if not same_training and verbose:
            print(f"resuming {folder}: optimizer settings changed, so the optimizer starts afresh", flush=True)
        history = earlier.history
    done = int(epoch.numpy())
    history.update(model=model.name, monitor=monitor)
    history["best"] = _best(history["epochs"], monitor, best_file, best_after_epoch)
    run_folder.write_json(folder / run_folder.CONFIG_FILE, config)
    files.write_atomic(
        folder / run_folder.LABELS_FILE, ("\n".join(data.class_names) + "\n").encode("utf-8"), force=True
    )
    if done >= epochs:
        if verbose:
            print(
                f"{folder} already holds {done} epoch(s); nothing to do. Pass a larger number of epochs to "
                "train on, or --force to start over.",
                flush=True,
            )
        return history
    if done and verbose:
        print(f"resuming {folder} after epoch {done}", flush=True)

    recorder = _recorder(model, folder, history, monitor, manager, epoch, best_file, best_after_epoch)
    steps = datasets.training_steps(data)
    if replicas > 1:
        synchronize_batch_norm(fitted)
    first_epoch, first_step = _backup_position(backup, steps) or (done, 0)
    fitted.fit(
        data.train_from(first_epoch, first_step),
        steps_per_epoch=steps,
        validation_data=data.validation,
        epochs=epochs,
        initial_epoch=done,
        callbacks=[
            tf_keras.callbacks.BackupAndRestore(str(backup), save_freq=backup_steps),
            *callbacks,
            _scheduler(learning_rate, epochs, schedule),
            recorder,
        ],
        verbose=verbose,
    )
    with contextlib.suppress(OSError):  # BackupAndRestore removes its checkpoint; the folder goes too when empty
        backup.rmdir()
    return history


def synchronize_batch_norm(model) -> int:
    """Make every batch normalization of `model` (inside tfmot wrappers and nested models too) compute its
    training statistics over the global batch, all replicas together; returns how many.

    Per-replica statistics would make a model trained on N replicas differ from the same model trained
    on one device with the same global batch, and a small per-replica batch gives noisy statistics.
    """
    import tf_keras

    count = 0
    for layer in model.submodules:
        if isinstance(layer, tf_keras.layers.BatchNormalization) and not layer.synchronized:
            layer.synchronized, layer.fused = True, False  # the fused kernel cannot all-reduce
            count += 1
    return count


def _backup_position(backup: pathlib.Path, steps_per_epoch: int) -> tuple[int, int] | None:
    """(epoch, step) where BackupAndRestore will resume from the backup in `backup`, or None without one.

    Its rule for step-level backups: the step after the saved one, or the next epoch's first.
    """
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(backup / "chief"))
    if latest is None:
        return None
    epoch = int(tf.train.load_variable(latest, "ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE"))
    batch = int(tf.train.load_variable(latest, "ckpt_saved_batch/.ATTRIBUTES/VARIABLE_VALUE"))
    if epoch < 0 or batch < 0:
        return None
    return (epoch + 1, 0) if batch >= steps_per_epoch - 1 else (epoch, batch + 1)


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _best(entries: list[dict], monitor: str, best_file: str = BEST_FILE, after_epoch: int = 0) -> dict | None:
    scored = [entry for entry in entries if monitor in entry and entry["epoch"] > after_epoch]
    if not scored:
        return None
    best = max(scored, key=lambda entry: (entry[monitor], -entry["epoch"]))
    return {"epoch": best["epoch"], monitor: best[monitor], "file": best_file}


def _scheduler(base: float, epochs: int, schedule: str):
    import tf_keras

    return tf_keras.callbacks.LearningRateScheduler(
        lambda epoch, _: learning_rate_at(epoch, base=base, epochs=epochs, schedule=schedule)
    )


def _recorder(model, folder, history, monitor, manager, epoch, best_file: str, best_after_epoch: int):
    import tf_keras

    class Recorder(tf_keras.callbacks.Callback):
        """After each epoch: the best file if it improved, history.json, then the resume checkpoint.

        In this order, an interruption leaves a checkpoint that is never ahead of
        the history; a resume drops history entries past the checkpoint's epoch.
        """

        def __init__(self):
            super().__init__()
            self.started = time.perf_counter()

        def on_epoch_begin(self, epoch_index, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch_index, logs=None):
            logs = logs or {}
            entry = {"epoch": epoch_index + 1, **{key: float(value) for key, value in logs.items()}}
            entry["learning_rate"] = float(self.model.optimizer.learning_rate.numpy())
            entry["seconds"] = round(time.perf_counter() - self.started, 2)
            best = history.get("best")
            if (
                monitor in entry
                and entry["epoch"] > best_after_epoch
                and (best is None or entry[monitor] > best[monitor])
            ):
                run_folder.save_model_atomic(model, folder / best_file)
                history["best"] = {"epoch": entry["epoch"], monitor: entry[monitor], "file": best_file}
            # a resume from a backup may redo an epoch the history already has
            history["epochs"] = [earlier for earlier in history["epochs"] if earlier["epoch"] < entry["epoch"]]
            history["epochs"].append(entry)
            run_folder.write_json(folder / run_folder.HISTORY_FILE, history)
            epoch.assign(epoch_index + 1)
            manager.save()

    return Recorder()


# ---------------------------------------------------------------------------
# Keras-side accuracy, for comparing with the .tflite file
# ---------------------------------------------------------------------------


def evaluate(model, dataset) -> dict:
    """Top-1 and top-5 accuracy of a Keras classifier over a (images, labels) pipeline; for a segmentation
    model over (images, masks), mean IoU, per-class IoU and pixel accuracy (`metrics.segmentation_scores`),
    its probabilities resized to the masks' size first."""
    if len(model.outputs[0].shape) == 4:
        return _evaluate_segmentation(model, dataset)
    scores, labels = [], []
    for images, batch_labels in dataset:
        scores.append(model.predict_on_batch(images))
        labels.append(batch_labels.numpy())
    scores, labels = np.concatenate(scores), np.concatenate(labels)
    return {
        "top1": top_k_accuracy(scores, labels, 1),
        "top5": top_k_accuracy(scores, labels, 5),
        "count": int(len(labels)),
    }


def _evaluate_segmentation(model, dataset) -> dict:
    from mobilekit.train import objectives

    classes = int(model.outputs[0].shape[-1])
    confusion, count = np.zeros((classes, classes), np.int64), 0
    for images, masks in dataset:
        probabilities = objectives.to_mask_size(model.predict_on_batch(images), masks)
        confusion += confusion_matrix(masks.numpy(), np.argmax(probabilities, axis=-1), classes)
        count += len(masks)
    return {**segmentation_scores(confusion), "count": count}
