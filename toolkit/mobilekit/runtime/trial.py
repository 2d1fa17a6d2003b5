"""A first run of a .tflite file in a child process, so that a damaged file cannot crash the caller.

LiteRT's interpreter trusts the numbers a file holds: a zero point or a scale
that a flipped byte changed can make it abort or segfault inside allocation or
the first inference, taking the whole command with it. `check_runs` loads,
allocates and invokes the file once in a child; a crash there becomes a
message, and the caller's own interpreter only ever sees files that ran.

Run as `python -m mobilekit.runtime.trial` with the model bytes on stdin.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys

from mobilekit.export.integrity import FileProblem, damaged
from mobilekit.runtime.coverage import DelegateCoverage, coverage_of

# A first inference of the largest zoo model takes seconds; past this the check gives up, not the command.
TIMEOUT_S = 300


class Unrunnable(FileProblem):
    """A well-formed file that LiteRT refuses (an op it lacks, shapes it cannot allocate)."""


def check_runs(model_bytes: bytes, *, timeout_s: float = TIMEOUT_S) -> DelegateCoverage | None:
    """Load, allocate and invoke `model_bytes` once in a child process; how XNNPACK split it.

    Returns the CPU delegate's coverage as the child's interpreter saw it (None
    if the check timed out). Raises integrity.DamagedFile when the interpreter
    crashes on the file, Unrunnable when it raises an error.
    """
    try:
        done = subprocess.run(
            [sys.executable, "-m", __name__],
            input=bytes(model_bytes),
            capture_output=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None  # slow, not broken: the caller's own run will show
    if done.returncode == 0:
        return DelegateCoverage(**json.loads(_last_line(done.stdout)))
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        raise damaged(f"LiteRT's interpreter crashed on it ({name})")
    message = _last_line(done.stdout) or _last_line(done.stderr) or f"exit status {done.returncode}"
    raise Unrunnable(f"LiteRT's interpreter cannot run it: {message}")


def _last_line(output: bytes) -> str:
    lines = [line.strip() for line in output.decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def _run(model_bytes: bytes) -> DelegateCoverage:
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes)
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    interpreter.invoke()
    return coverage_of(interpreter._get_ops_details())


def main() -> int:
    try:
        coverage = _run(sys.stdin.buffer.read())
    except Exception as error:  # noqa: BLE001 -- whatever LiteRT raises is the message
        text = " ".join(str(error).split()) or type(error).__name__
        print(text, flush=True)
        return 1
    print(json.dumps(dataclasses.asdict(coverage)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
