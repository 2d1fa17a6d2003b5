"""Read a JSON input and validate latency results against `bench.schema.json`."""

from __future__ import annotations

import functools
import json
import pathlib

from mobilekit.errors import UserError
from mobilekit.runtime.benchmark import SCHEMA as BENCH_FORMAT
from mobilekit.runtime.benchmark import SCHEMA_FILE


@functools.lru_cache(maxsize=1)
def bench_schema() -> dict:
    """The JSON Schema of latency results (host `mobilekit bench` and the Android demo)."""
    return json.loads(SCHEMA_FILE.read_text())


def read_json(path: str | pathlib.Path) -> dict:
    """A JSON object from `path`; a UserError naming the file, line and column when it is not one."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist. Pass a recipe run folder, its results.json or a bench JSON file.")
    try:
        document = json.loads(path.read_text())
    except UnicodeDecodeError:
        raise UserError(f"{path} is not a text file. Pass a recipe results.json or a bench JSON file.") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}).") from None
    if not isinstance(document, dict):
        raise UserError(f"{path}: expected a JSON object, found {type(document).__name__}.")
    return document


def field_path(parts) -> str:
    """`['results', 1, 'latency_ms', 'median']` -> `results[1].latency_ms.median`."""
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def bench_problems(document: dict) -> list[str]:
    """Every schema violation in a latency-results document as 'field.path: message', in document order."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(bench_schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    problems = []
    for error in errors:
        # anyOf failures say little; name what is missing instead.
        message = error.message
        if error.validator == "anyOf" and isinstance(error.instance, dict):
            message = "needs 'latency_ms' or 'error'"
        problems.append(f"{field_path(error.absolute_path)}: {message}")
    return problems


def validate_bench(document: dict, name: str) -> dict:
    """`document` if it is valid latency results; else a UserError naming `name` and the bad field."""
    problems = bench_problems(document)
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise UserError(
            f"{name}: {problems[0]}{more}. Latency results must follow {SCHEMA_FILE.name} "
            f"(format {BENCH_FORMAT!r}), as written by `mobilekit bench --json` and the Android demo."
        )
    return document


def load_bench(path: str | pathlib.Path) -> dict:
    """Read and validate one latency-results file."""
    path = pathlib.Path(path)
    return validate_bench(read_json(path), path.name)
