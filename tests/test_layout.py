"""The code's shape: modules small enough to read, registration and keras' private modules in one place each."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "toolkit" / "mobilekit"
MAX_LINES = 500
# The architecture tables: one spec table per family, their size is the zoo's, not a module's jobs.
ARCHITECTURE_TABLES = {"models/classic.py", "models/efficient.py", "models/residual.py"}


def _modules():
    return {str(path.relative_to(PACKAGE)): path.read_text(encoding="utf-8") for path in PACKAGE.rglob("*.py")}


def test_no_module_outgrows_one_job():
    sizes = {name: text.count("\n") for name, text in _modules().items() if name not in ARCHITECTURE_TABLES}
    assert sizes and not {name: lines for name, lines in sizes.items() if lines > MAX_LINES}


def test_models_are_registered_without_globals_and_keras_private_modules_are_read_once():
    modules = _modules()
    assert not [name for name, text in modules.items() if re.search(r"globals\(\)\[", text)]
    assert [name for name, text in modules.items() if "tf_keras.src" in text] == ["models/keras_counterparts.py"]


def test_only_models_reach_into_the_registry():
    outside = [
        name
        for name, text in _modules().items()
        if not name.startswith("models/") and re.search(r"\bREGISTRY\b|\bresolve_options\b", text)
    ]
    assert outside == []


def test_the_code_is_formatted():
    """`ruff format` (pyproject.toml's settings) leaves every file as it is."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "toolkit", "tests", "scripts"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
