"""scripts/build_demo_model.sh: the command it runs for the Android demo's bundled model, and that
it leaves either the finished file or nothing. A fake `mobilekit` ($MOBILEKIT) stands in for the
real conversion, which needs ImageNet weights from the internet (or minutes of training)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "build_demo_model.sh"

FAKE_MOBILEKIT = textwrap.dedent("""\
    #!/usr/bin/env python3
    # Logs its arguments; writes a stand-in .tflite where the real command would.
    import json, os, pathlib, sys
    args = sys.argv[1:]
    with open(os.environ["FAKE_LOG"], "a") as log:
        log.write(json.dumps(args) + "\\n")
    if os.environ.get("FAKE_FAIL"):
        sys.exit("fake mobilekit: failing on purpose")
    out = pathlib.Path(args[args.index("--output") + 1])
    if args[0] == "run":
        out = out / "3_export" / "mobilenet_v3_small_int8.tflite"
        out.parent.mkdir(parents=True)
    out.write_bytes(b"\\0\\0\\0\\0TFL3 " + args[0].encode())
""")


@pytest.fixture
def fake(tmp_path):
    exe = tmp_path / "mobilekit"
    exe.write_text(FAKE_MOBILEKIT)
    exe.chmod(0o755)
    log = tmp_path / "calls.jsonl"
    env = {**os.environ, "MOBILEKIT": str(exe), "FAKE_LOG": str(log)}

    def run(*args, **extra_env):
        done = subprocess.run(
            ["bash", str(SCRIPT), *args], capture_output=True, text=True, env={**env, **extra_env}, timeout=60
        )
        calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        return done, calls

    return run


def test_help_names_the_mobilekit_command():
    done = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    assert "mobilekit convert --model mobilenet_v3_small --int8 --weights imagenet" in done.stdout
    assert "--offline" in done.stdout


def test_default_converts_with_imagenet_weights_into_place(fake, tmp_path):
    output = tmp_path / "assets" / "model.tflite"
    done, calls = fake("--output", str(output))
    assert done.returncode == 0, done.stderr
    assert len(calls) == 1
    args = calls[0]
    assert args[:6] == ["convert", "--model", "mobilenet_v3_small", "--int8", "--weights", "imagenet"]
    # Built beside the output, then renamed into place; the temporary folder is gone.
    assert pathlib.Path(args[args.index("--output") + 1]).parent.parent == output.parent
    assert output.read_bytes().endswith(b"convert")
    assert sorted(p.name for p in output.parent.iterdir()) == ["model.tflite"]


def test_offline_uses_the_quickstart_recipe(fake, tmp_path):
    output = tmp_path / "model.tflite"
    done, calls = fake("--offline", "--output", str(output))
    assert done.returncode == 0, done.stderr
    assert calls[0][:2] == ["run", str(ROOT / "recipes" / "quickstart.yaml")]
    assert output.read_bytes().endswith(b"run")


def test_existing_file_needs_force(fake, tmp_path):
    output = tmp_path / "model.tflite"
    output.write_bytes(b"mine")
    done, calls = fake("--output", str(output))
    assert done.returncode == 2 and "--force" in done.stderr
    assert calls == [] and output.read_bytes() == b"mine"
    done, calls = fake("--output", str(output), "--force", "--model", "mobilenet_v2")
    assert done.returncode == 0, done.stderr
    assert calls[0][2] == "mobilenet_v2"
    assert output.read_bytes().endswith(b"convert")


def test_failed_conversion_leaves_nothing(fake, tmp_path):
    output = tmp_path / "assets" / "model.tflite"
    done, _ = fake("--output", str(output), FAKE_FAIL="1")
    assert done.returncode != 0
    assert list(output.parent.iterdir()) == []


def test_unknown_argument_is_a_usage_error(fake):
    done, calls = fake("--bogus")
    assert done.returncode == 2 and "unknown argument '--bogus'" in done.stderr
    assert calls == []
