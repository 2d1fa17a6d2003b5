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


def test_output_folder_check_is_shared_by_training_and_recipes(tmp_path):
    from mobilekit import recipes, train

    (tmp_path / "file").write_text("x")
    for check, writes in ((train.check_output, "training writes a folder"), (recipes.check_output, "a recipe run")):
        with pytest.raises(UserError, match=f"is a file; {writes}"):
            check(tmp_path / "file")
        with pytest.raises(UserError, match="does not exist. Create it first or choose another --output"):
            check(tmp_path / "missing" / "run")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("someone else's")
    assert train.check_output(taken) == taken  # no run files of training's: nothing to clobber
    with pytest.raises(UserError, match="not a recipe run"):
        recipes.check_output(taken)
    assert (
        files.check_output_folder(tmp_path / "new", writes="x", owned_by_run=lambda folder: "never asked")
        == tmp_path / "new"
    )
