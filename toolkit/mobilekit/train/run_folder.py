"""A training run's folder: the best model, history, labels, config and the resume checkpoint.

`check_output` refuses a folder that holds something else before any long
work; `run_state` reads what an earlier run left so `fit` can resume it; the
writers replace each file atomically.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import shutil
import tempfile

from mobilekit import files

BEST_FILE = "best.keras"
HISTORY_FILE = "history.json"
LABELS_FILE = "labels.txt"
CONFIG_FILE = "train_config.json"
RESUME_DIR = "resume"
BACKUP_DIR = "backup"  # the training state between epochs (BackupAndRestore's), removed when a run ends
RUN_FILES = (BEST_FILE, "best.h5", HISTORY_FILE, LABELS_FILE, CONFIG_FILE, RESUME_DIR, BACKUP_DIR)


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
        return (
            f"output folder {folder} holds {', '.join(ours)} but no {CONFIG_FILE}, so it is not a run this "
            "can resume. Pass --force to start over there, or choose another --output."
        )

    return files.check_output_folder(
        output_dir, writes="training writes a folder (checkpoint, history, labels)", owned_by_run=owned_by_run
    )


def run_state(output_dir: str | os.PathLike) -> RunState | None:
    """The earlier run in `output_dir` (config, epochs finished, history), or None."""
    folder = pathlib.Path(output_dir).expanduser()
    if not (folder / CONFIG_FILE).is_file():
        return None
    config = _read_json(folder / CONFIG_FILE)
    history = _read_json(folder / HISTORY_FILE) if (folder / HISTORY_FILE).is_file() else empty_history(config)
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
    return files.read_json(path, remedy="Pass --force to start the run over.")


def write_json(path: pathlib.Path, document: dict) -> None:
    files.write_json(path, document, force=True)


def empty_history(config: dict) -> dict:
    return {"model": config.get("model"), "monitor": None, "best": None, "epochs": []}


def clear_run(folder: pathlib.Path) -> None:
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
