"""Progress display for long work: bars for loops, timed lines for opaque stages.

Everything goes to stderr so that stdout stays for results.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TextIO, TypeVar

T = TypeVar("T")


def bar(iterable: Iterable[T], *, total: int | None = None, desc: str = "",
        enabled: bool = True, stream: TextIO | None = None) -> Iterable[T]:
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, file=stream or sys.stderr,
                leave=False, dynamic_ncols=True)


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


def import_tensorflow_quietly() -> None:
    """Import TensorFlow without its start-up chatter on fd 2 (CUDA probing, oneDNN notes).

    Commands call this before their first TensorFlow import; an import that
    fails still raises (with its Python traceback).
    """
    if "tensorflow" in sys.modules:
        return
    with native_stderr_silenced():
        import tensorflow  # noqa: F401
