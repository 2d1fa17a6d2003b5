"""Write outputs atomically and never overwrite them by accident; check output folders before long work."""

from __future__ import annotations

import json
import os
import pathlib
import tempfile

from mobilekit.errors import UserError


def check_writable(path: str | pathlib.Path, *, force: bool = False) -> pathlib.Path:
    """Fail early, before any long work, if `path` cannot or should not be written."""
    path = pathlib.Path(path)
    if path.is_dir():
        raise UserError(f"output {path} is a folder. Pass a file path, e.g. {path / 'model.tflite'}.")
    if path.exists() and not force:
        raise UserError(f"output {path} already exists. Pass --force to overwrite it, or choose another --output.")
    folder = path.parent if str(path.parent) else pathlib.Path(".")
    if not folder.is_dir():
        raise UserError(f"output folder {folder} does not exist. Create it first or choose another --output.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"output folder {folder} is not writable. Choose another --output.")
    return path


def check_output_folder(output_dir: str | os.PathLike, *, writes: str, owned_by_run) -> pathlib.Path:
    """Fail early, before any long work, if `output_dir` cannot hold a run (training, a recipe).

    writes: what the run writes there, for the message ("training writes a folder (...)").
    owned_by_run(folder) -> str | None: for an existing folder, why it is not this kind of run's
        folder to write into (its message), or None if it is.
    """
    folder = pathlib.Path(output_dir).expanduser()
    if folder.exists() and not folder.is_dir():
        raise UserError(f"output {folder} is a file; {writes}. Pass a folder path, e.g. runs/my_model.")
    parent = folder.parent if str(folder.parent) else pathlib.Path(".")
    if not folder.exists() and not parent.is_dir():
        raise UserError(
            f"the folder {parent} (where {folder.name}/ would go) does not exist. Create it first or "
            "choose another --output."
        )
    if not os.access(folder if folder.exists() else parent, os.W_OK | os.X_OK):
        raise UserError(
            f"output folder {folder if folder.exists() else parent} is not writable. Choose another --output."
        )
    problem = owned_by_run(folder) if folder.is_dir() else None
    if problem:
        raise UserError(problem)
    return folder


def write_atomic(path: str | pathlib.Path, data: bytes, *, force: bool = False) -> pathlib.Path:
    """Write `data` to a temporary file beside `path`, then rename it into place."""
    path = check_writable(path, force=force)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise
    return path


def json_text(document) -> str:
    """`document` as indented JSON ending in a newline; NumPy scalars and paths become plain values."""
    return json.dumps(document, indent=2, default=_plain) + "\n"


def write_json(path: str | pathlib.Path, document, *, force: bool = False) -> pathlib.Path:
    """`json_text(document)` written atomically (see `write_atomic`)."""
    return write_atomic(path, json_text(document).encode("utf-8"), force=force)


def _plain(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pathlib.Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def read_json(path: str | pathlib.Path, *, remedy: str):
    """The JSON document at `path`, or None when there is no file; a file that cannot be read is a
    UserError that ends with `remedy` (what the user can do about it)."""
    path = pathlib.Path(path)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {path}: {error}. {remedy}") from None
