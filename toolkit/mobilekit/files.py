"""Write outputs atomically and never overwrite them by accident."""

from __future__ import annotations

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
