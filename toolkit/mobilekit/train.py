"""Train or fine-tune a zoo model on `data.load(...)` pipelines, with checkpoints that resume.

    from mobilekit import data, train

    dataset = data.load("digits", resolution=32)
    model = train.build_model("mobilenet_v3_small", num_classes=dataset.num_classes,
                              weights=None, alpha=0.35, resolution=32)
    history = train.fit(model, dataset, epochs=5, output_dir="runs/digits")

`fit` writes into `output_dir`:

- ``best.keras``: the model of the best epoch by validation accuracy (training
  accuracy when there is no validation split), saved atomically, without
  optimizer state. ``mobilekit.load_model`` reads it, and so does
  ``models.build(name, weights=".../best.keras", num_classes=N, ...)`` (and
  ``mobilekit convert --weights``), because the model is the zoo model itself
  with an N-class top;
- ``history.json``: one entry per epoch (loss, accuracy, top-5, validation
  figures, learning rate, seconds) and the best epoch, rewritten after every
  epoch;
- ``labels.txt``: the class names, one per line, in output order;
- ``train_config.json``: what was trained on what, to recognise the run again;
- ``resume/``: a TensorFlow checkpoint of the weights, the optimizer state and
  the epoch count, written after every epoch.

Calling `fit` again with the same `output_dir` resumes: the weights and the
optimizer state are restored, the epoch count continues and the history is
appended. `epochs` is the total to reach, so rerunning an interrupted command
finishes it, and a larger `epochs` trains on. The data order after a resume is
not the one an uninterrupted run would have seen. `force=True` starts over.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
import os
import pathlib
import shutil
import tempfile
import time
import warnings
from typing import Callable, Sequence

import numpy as np

from mobilekit import files
from mobilekit.errors import MobilekitWarning, UserError

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
SCHEDULES = ("constant", "cosine")  # the learning rate over the epochs
BEST_FILE = "best.keras"
HISTORY_FILE = "history.json"
LABELS_FILE = "labels.txt"
CONFIG_FILE = "train_config.json"
RESUME_DIR = "resume"
RUN_FILES = (BEST_FILE, "best.h5", HISTORY_FILE, LABELS_FILE, CONFIG_FILE, RESUME_DIR)
# What must not change for a run to be resumed (the rest -- learning rate, optimizer,
# freezing, batch size -- may; a changed optimizer setting starts a fresh optimizer state).
IDENTITY_KEYS = ("model", "input_shape", "parameters", "class_names", "build")
TRAINING_KEYS = ("optimizer", "learning_rate", "freeze_base", "schedule")
HEAD_STARTS = ("avg_pool", "flatten")
DEFAULT_BN_MOMENTUM = 0.9  # the first layer of every zoo model's classifier top


# ---------------------------------------------------------------------------
# The model to train
# ---------------------------------------------------------------------------

def _weights_kind(weights) -> str:
    if weights is None:
        return "none"
    if isinstance(weights, str) and weights.strip().lower() in ("", "none", "random"):
        return "none"
    if isinstance(weights, str) and weights.strip().lower() == "imagenet":
        return "imagenet"
    return "file"


def copy_backbone(backbone, model) -> None:
    """Copy the weights of a zoo backbone (include_top=False) into the same zoo model with a top.

    The backbone's layers are the first layers of the full model, in the same
    order (the registry builds both from one function).
    """
    from mobilekit.models.weights import copy_weights

    for theirs, ours in zip(backbone.layers, model.layers):
        if type(theirs) is not type(ours):
            raise RuntimeError(f"backbone layer {theirs.name} ({type(theirs).__name__}) does not line up with "
                               f"{ours.name} ({type(ours).__name__}) of {model.name}")
        copy_weights(theirs, ours)


def build_model(name: str, *, num_classes: int, weights=None, alpha: float = 1.0, resolution: int | None = None,
                dropout: float | None = None, bn_momentum: float | None = DEFAULT_BN_MOMENTUM, seed: int = 0,
                **options):
    """The zoo model `name` with a fresh `num_classes`-class top, ready for `fit`.

    bn_momentum: the momentum of every BatchNormalization layer's moving
      statistics while training; None keeps the zoo's (keras' 0.99 or 0.999,
      made for long ImageNet schedules: after a few epochs on a small dataset
      the moving statistics are still near their initial values and the model
      predicts one class at inference). 0.9 is PyTorch's default (its 0.1).

    weights:
      None / "none": random initialisation (seeded by `seed`), to train from scratch.
      "imagenet": keras.applications' ImageNet weights in the backbone (the
        classifier top is new unless num_classes is 1000), to fine-tune.
      a path: a file for this model with a num_classes top (a best.keras of an
        earlier run, a saved zoo model), or a backbone-only file (include_top=False).
    """
    import tf_keras

    check_bn_momentum(bn_momentum)
    tf_keras.utils.set_random_seed(seed)
    model = _build_with_weights(name, num_classes, weights, dict(alpha=alpha, resolution=resolution,
                                                                 dropout=dropout, **options))
    if bn_momentum is not None:
        for layer in model.submodules:
            if isinstance(layer, tf_keras.layers.BatchNormalization):
                layer.momentum = float(bn_momentum)
    return model


def check_bn_momentum(bn_momentum: float | None) -> None:
    if bn_momentum is not None and (isinstance(bn_momentum, bool) or not isinstance(bn_momentum, numbers.Real)
                                    or not 0 <= bn_momentum < 1):
        raise UserError(f"bn_momentum must be in [0, 1), got {bn_momentum!r}; e.g. 0.9, or None for the zoo's.")


def _build_with_weights(name: str, num_classes: int, weights, settings: dict):
    from mobilekit import models

    kind = _weights_kind(weights)
    if kind == "none" or (kind == "imagenet" and num_classes == 1000):
        return models.build(name, weights=None if kind == "none" else "imagenet", num_classes=num_classes,
                            **settings)
    if kind == "imagenet":
        backbone = models.build(name, weights="imagenet", include_top=False, **settings)
    else:
        try:
            return models.build(name, weights=weights, num_classes=num_classes, **settings)
        except UserError as whole_model_error:
            try:
                backbone = models.build(name, weights=weights, include_top=False, **settings)
            except UserError:
                raise whole_model_error from None
    model = models.build(name, weights=None, num_classes=num_classes, **settings)
    copy_backbone(backbone, model)
    return model


def check_weights_file(weights) -> None:
    """When `weights` names a file, that it exists (no TensorFlow needed). The rest of what
    `build_model` needs of its arguments, ImageNet weights included, is `models.check`'s."""
    if _weights_kind(weights) != "file":
        return
    path = pathlib.Path(os.fspath(weights)).expanduser()
    if not path.is_file():
        raise UserError(f"weights file {path} does not exist. Pass 'imagenet', 'none' or the path of a "
                        ".keras / .h5 / .weights.h5 file (e.g. best.keras of an earlier run).")


def classifier_layers(model) -> list:
    """The layers of the model's classifier top: from the first layer named avg_pool or flatten on.

    Every zoo model's top starts there (global pooling for most families,
    flatten for AlexNet and VGG); what comes before is the backbone.
    """
    starts = [i for i, layer in enumerate(model.layers) if layer.name in HEAD_STARTS]
    if not starts:
        raise UserError(
            f"cannot tell {model.name}'s classifier from its backbone: no layer named "
            f"{' or '.join(HEAD_STARTS)}. freeze_base works on zoo models (models.build / train.build_model); "
            "for other models set layer.trainable yourself and pass freeze_base=False.")
    return model.layers[min(starts):]


def freeze_backbone(model) -> int:
    """Make only the classifier top trainable; returns the number of trainable parameters.

    Frozen BatchNormalization layers run in inference mode (keras' rule for
    trainable=False), so the backbone's statistics stay as they were.
    """
    head = {id(layer) for layer in classifier_layers(model)}
    for layer in model.layers:
        layer.trainable = id(layer) in head
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))


# ---------------------------------------------------------------------------
# The output folder
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class RunState:
    """What an output folder holds of an earlier run."""

    config: dict
    epochs_done: int
    history: dict


def check_output(output_dir: str | os.PathLike, *, force: bool = False) -> pathlib.Path:
    """Fail early, before any long work, if `output_dir` cannot hold a training run."""
    def owned_by_run(folder):
        ours = [name for name in RUN_FILES if (folder / name).exists()]
        if force or (folder / CONFIG_FILE).is_file() or not ours:
            return None
        return (f"output folder {folder} holds {', '.join(ours)} but no {CONFIG_FILE}, so it is not a run this "
                "can resume. Pass --force to start over there, or choose another --output.")

    return files.check_output_folder(output_dir, writes="training writes a folder (checkpoint, history, labels)",
                                     owned_by_run=owned_by_run)


def run_state(output_dir: str | os.PathLike) -> RunState | None:
    """The earlier run in `output_dir` (config, epochs finished, history), or None."""
    folder = pathlib.Path(output_dir).expanduser()
    if not (folder / CONFIG_FILE).is_file():
        return None
    config = _read_json(folder / CONFIG_FILE)
    history = _read_json(folder / HISTORY_FILE) if (folder / HISTORY_FILE).is_file() else _empty_history(config)
    done = _checkpoint_epoch(folder / RESUME_DIR)
    history["epochs"] = [entry for entry in history.get("epochs", []) if entry.get("epoch", 0) <= done]
    return RunState(config=config, epochs_done=done, history=history)


def _checkpoint_epoch(folder: pathlib.Path) -> int:
    import tensorflow as tf

    latest = tf.train.latest_checkpoint(str(folder)) if folder.is_dir() else None
    if latest is None:
        return 0
    return int(tf.train.load_variable(latest, "epoch/.ATTRIBUTES/VARIABLE_VALUE"))


def _read_json(path: pathlib.Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {path}: {error}. Pass --force to start the run over.") from None


def _write_json(path: pathlib.Path, document: dict) -> None:
    files.write_atomic(path, (json.dumps(document, indent=2) + "\n").encode("utf-8"), force=True)


def _empty_history(config: dict) -> dict:
    return {"model": config.get("model"), "monitor": None, "best": None, "epochs": []}


def _clear_run(folder: pathlib.Path) -> None:
    for name in RUN_FILES:
        path = folder / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def save_model_atomic(model, path: pathlib.Path) -> None:
    """Save `model` without optimizer state as .keras or, for a path ending in .h5, HDF5: temporary file, then rename.

    HDF5 is for models wrapped by tensorflow-model-optimization (QAT, pruning),
    whose wrappers tfmot 0.8 cannot write into .keras files; `mobilekit.load_model`
    reads both.
    """
    import tf_keras

    suffix = ".h5" if path.suffix == ".h5" else ".keras"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        if suffix == ".h5":
            model.save(tmp, include_optimizer=False)
        else:
            clone = tf_keras.models.clone_model(model)  # uncompiled, so no optimizer state goes into the file
            clone.set_weights(model.get_weights())
            clone.save(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------

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


def _check_arguments(model, data, epochs, learning_rate, optimizer, schedule="constant") -> None:
    if optimizer not in OPTIMIZERS:
        raise UserError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(OPTIMIZERS)}.")
    if schedule not in SCHEDULES:
        raise UserError(f"unknown learning-rate schedule {schedule!r}; expected one of {', '.join(SCHEDULES)}.")
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise UserError(f"epochs must be a whole number >= 1, got {epochs!r}.")
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) \
            or not math.isfinite(learning_rate) or learning_rate <= 0:
        raise UserError(f"learning_rate must be a number > 0, got {learning_rate!r}, e.g. 1e-3 for adam.")
    if len(model.outputs) != 1:
        raise UserError(f"{model.name} has {len(model.outputs)} outputs; fit trains single-output classifiers. "
                        "Build it without auxiliary heads (e.g. GoogLeNet's aux_logits=False).")
    classes = model.outputs[0].shape[-1]
    if classes != data.num_classes:
        raise UserError(f"{model.name} has {classes} outputs but the data has {data.num_classes} classes "
                        f"({', '.join(data.class_names[:5])}{', ...' if data.num_classes > 5 else ''}). "
                        f"Build the model with num_classes={data.num_classes}.")
    height, width = model.input_shape[1:3]
    if (height, width) != (data.resolution, data.resolution):
        raise UserError(f"{model.name} takes {height}x{width} images but the data was loaded at "
                        f"{data.resolution}x{data.resolution}. Load it with resolution={height}.")


def _compile(model, optimizer, num_classes: int) -> None:
    import tf_keras

    metrics = ["accuracy"]
    if num_classes > 5:
        metrics.append(tf_keras.metrics.SparseTopKCategoricalAccuracy(k=5, name="top5"))
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=metrics)


def fit(model, data, *, epochs: int, output_dir: str | os.PathLike, learning_rate: float = 1e-3,
        optimizer: str = "adam", schedule: str = "constant", freeze_base: bool = False, seed: int = 0,
        verbose: int | str = 1,
        force: bool = False, run_info: dict | None = None, trainer: Callable | None = None,
        callbacks: Sequence = (), best_file: str = BEST_FILE, best_after_epoch: int = 0) -> dict:
    """Train `model` on `data` (a `data.Data`) up to `epochs` epochs in total; returns the history.

    Args:
      model: a single-output classifier taking data.resolution images, e.g. from `build_model`.
      data: the pipelines; training uses data.train and, when present, data.validation.
      epochs: the total number of epochs; a resumed run trains only the missing ones.
      output_dir: the run's folder (created if missing; its parent must exist).
      learning_rate, optimizer: one of OPTIMIZERS (sgd has Nesterov momentum 0.9, adamw weight decay 1e-4).
      schedule: "constant", or "cosine": the rate decays per epoch along half a cosine towards 0
        at `epochs` (`learning_rate_at`), so more epochs on a resume stretch the curve.
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

    Returns:
      The history as written to history.json: {"model", "monitor", "best", "epochs": [...]}.
    """
    import tensorflow as tf
    import tf_keras

    from mobilekit import __version__

    _check_arguments(model, data, epochs, learning_rate, optimizer, schedule)
    fitted = model if trainer is None else trainer(model)
    if freeze_base and freeze_backbone(model) == 0:
        raise UserError(f"{model.name}'s classifier top has no weights to train. Train without freeze_base.")
    folder = check_output(output_dir, force=force)
    folder.mkdir(exist_ok=True)
    if force:
        _clear_run(folder)
    tf_keras.utils.set_random_seed(seed)

    training = {"optimizer": optimizer, "learning_rate": float(learning_rate), "schedule": schedule,
                "freeze_base": bool(freeze_base), "batch_size": data.batch_size, "seed": seed}
    config = {"mobilekit": __version__, "model": model.name, "input_shape": list(model.input_shape[1:]),
              "parameters": int(model.count_params()), "class_names": list(data.class_names),
              "data": {"source": data.source, "counts": data.counts}, "training": training, **(run_info or {})}
    earlier = run_state(folder)
    if earlier is not None:
        changed = [key for key in IDENTITY_KEYS if earlier.config.get(key) != config.get(key)]
        if changed:
            details = "; ".join(f"{key}: {_short(earlier.config.get(key))} then, {_short(config.get(key))} now"
                                for key in changed)
            raise UserError(f"{folder} holds a run that differs from this one ({details}), so it cannot be resumed. "
                            "Pass --force to start over there, or choose another --output.")
    monitor = "val_accuracy" if data.validation is not None else "accuracy"
    if data.validation is None:
        warnings.warn("no validation split: the best checkpoint is chosen by training accuracy, which rewards "
                      "overfitting. Give the data a validation share (validation_split).", MobilekitWarning,
                      stacklevel=2)

    opt = make_optimizer(optimizer, learning_rate)
    _compile(fitted, opt, data.num_classes)
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
    checkpoint = tf.train.Checkpoint(model=model, optimizer=opt, epoch=epoch)
    manager = tf.train.CheckpointManager(checkpoint, str(folder / RESUME_DIR), max_to_keep=1)
    history = _empty_history(config)
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
    _write_json(folder / CONFIG_FILE, config)
    files.write_atomic(folder / LABELS_FILE, ("\n".join(data.class_names) + "\n").encode("utf-8"), force=True)
    if done >= epochs:
        if verbose:
            print(f"{folder} already holds {done} epoch(s); nothing to do. Pass a larger number of epochs to "
                  "train on, or --force to start over.", flush=True)
        return history
    if done and verbose:
        print(f"resuming {folder} after epoch {done}", flush=True)

    recorder = _recorder(model, folder, history, monitor, manager, epoch, best_file, best_after_epoch)
    fitted.fit(data.train, validation_data=data.validation, epochs=epochs, initial_epoch=done,
               callbacks=[*callbacks, _scheduler(learning_rate, epochs, schedule), recorder], verbose=verbose)
    return history


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
        lambda epoch, _: learning_rate_at(epoch, base=base, epochs=epochs, schedule=schedule))


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
            if monitor in entry and entry["epoch"] > best_after_epoch and (best is None
                                                                          or entry[monitor] > best[monitor]):
                save_model_atomic(model, folder / best_file)
                history["best"] = {"epoch": entry["epoch"], monitor: entry[monitor], "file": best_file}
            history["epochs"].append(entry)
            _write_json(folder / HISTORY_FILE, history)
            epoch.assign(epoch_index + 1)
            manager.save()

    return Recorder()


# ---------------------------------------------------------------------------
# Keras-side accuracy, for comparing with the .tflite file
# ---------------------------------------------------------------------------

def evaluate(model, dataset) -> dict:
    """Top-1 and top-5 accuracy of a Keras model over a (images, labels) pipeline."""
    scores, labels = [], []
    for images, batch_labels in dataset:
        scores.append(model.predict_on_batch(images))
        labels.append(batch_labels.numpy())
    scores, labels = np.concatenate(scores), np.concatenate(labels)
    return {"top1": top_k_accuracy(scores, labels, 1), "top5": top_k_accuracy(scores, labels, 5),
            "count": int(len(labels))}


def top_k_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose true label is among the k highest scores (k capped at the class count)."""
    scores, labels = np.asarray(scores), np.asarray(labels)
    k = min(k, scores.shape[-1])
    top = np.argsort(-scores, axis=-1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=-1))) if len(labels) else float("nan")
