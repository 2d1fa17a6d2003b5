import os

import pytest

from mobilekit import UserError, files


def test_write_atomic_writes_and_refuses_to_overwrite(tmp_path):
    target = tmp_path / "model.tflite"
    files.write_atomic(target, b"abc")
    assert target.read_bytes() == b"abc"
    with pytest.raises(UserError, match="--force"):
        files.write_atomic(target, b"new")
    assert target.read_bytes() == b"abc"
    files.write_atomic(target, b"new", force=True)
    assert target.read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["model.tflite"]  # no temp files left behind


def test_check_writable_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        files.check_writable(tmp_path / "missing" / "m.tflite")
    with pytest.raises(UserError, match="is a folder"):
        files.check_writable(tmp_path)


def test_unwritable_folder(tmp_path, monkeypatch):
    # Permission bits don't bind root (as CI runs), so ask os.access what it would say for a user.
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(UserError, match="not writable"):
        files.check_writable(tmp_path / "m.tflite")


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    def explode(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", explode)
    with pytest.raises(OSError):
        files.write_atomic(tmp_path / "m.tflite", b"data")
    assert os.listdir(tmp_path) == []
