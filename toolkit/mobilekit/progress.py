"""Progress display for long work: bars for loops, timed lines for opaque stages.

Everything goes to stderr so that stdout stays for results.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")


def bar(
    iterable: Iterable[T],
    *,
    total: int | None = None,
    desc: str = "",
    enabled: bool = True,
    stream: TextIO | None = None,
) -> Iterable[T]:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, file=stream or sys.stderr, leave=False, dynamic_ncols=True)


@contextlib.contextmanager
def stage(desc: str, *, enabled: bool = True, stream: TextIO | None = None) -> Iterator[None]:
    """Print `desc`, run the block, then print how long it took."""
    stream = stream or sys.stderr
    start = time.perf_counter()
    if enabled:
        print(f"{desc} ...", file=stream, flush=True)
    yield
    if enabled:
        print(f"{desc}: done in {time.perf_counter() - start:.1f} s", file=stream, flush=True)


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[TextIO]:
    """Silence what C++ libraries (the TFLite converter, XLA) print to fd 2.

    Yields a stream on the original stderr, for progress that must stay visible.
    Python-level errors still surface as exceptions.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    stream = os.fdopen(os.dup(saved), "w", buffering=1)
    try:
        os.dup2(devnull, 2)
        yield stream
    finally:
        stream.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
        stream.close()


# What TensorFlow prints on fd 2 while it starts on a machine without a GPU, and notes from
# TensorFlow and LiteRT that are not about the user's work. Anything else they print is shown.
NATIVE_NOISE = re.compile(
    "|".join(
        [
            r"failed call to cuInit",
            r"Could not find cuda drivers",
            r"All log messages before absl::InitializeLog\(\) is called are written to STDERR",
            r"Unable to register cu(DNN|FFT|BLAS) factory",
            r"computation placer already registered",
            r"oneDNN custom operations are on",
            r"This TensorFlow binary is optimized to use available CPU instructions",
            r"To enable the following instructions: .* in other operations, rebuild TensorFlow",
            r"TF-TRT Warning: Could not find TensorRT",
            r"Created TensorFlow Lite XNNPACK delegate for CPU",
        ]
    )
)


@contextlib.contextmanager
def native_stderr_filtered(noise: re.Pattern = NATIVE_NOISE) -> Iterator[None]:
    """Hold back what C++ libraries print to fd 2 during the block; then show the lines that are not noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        try:
            os.dup2(held.fileno(), 2)
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            kept = [
                line
                for line in held.read().decode(errors="replace").splitlines(keepends=True)
                if line.strip() and not noise.search(line)
            ]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def import_tensorflow_quietly() -> None:
    """Import TensorFlow without its start-up chatter on fd 2 (CUDA probing, oneDNN notes).

    The GPUs are listed inside the block too: TensorFlow probes CUDA only when
    devices are first needed, and on a machine without a GPU that probe prints
    an `E0000 ... failed call to cuInit` line that reads like a failure. Other
    lines TensorFlow prints meanwhile are shown. Commands call this before
    their first use of TensorFlow (calling it again costs nothing); an import
    that fails still raises.
    """
    with native_stderr_filtered():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
