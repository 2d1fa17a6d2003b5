"""Measuring on the host: latency statistics, runs interleaved across models, the peak memory a block adds.

Latency is measured as TFLite's benchmark_model does (timed `invoke()` alone,
population statistics, linear-interpolated p90); the Android app's
LatencyStats.kt computes the same figures. Peak memory is Linux's VmHWM,
reset through /proc/self/clear_refs, over the resident set before the block.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import time
from collections.abc import Callable, Sequence

import numpy as np

from mobilekit import progress

# ---------------------------------------------------------------------------
# Statistics and the interleaved loop
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Stats:
    """Latency over the timed runs, milliseconds. std is the population standard deviation."""

    median: float
    p90: float
    mean: float
    std: float
    min: float
    max: float
    runs: int

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def latency_stats(times_ms: Sequence[float]) -> Stats:
    times = np.asarray(times_ms, dtype=np.float64)
    if times.size == 0:
        raise ValueError("no timed runs")
    return Stats(
        median=float(np.median(times)),
        p90=float(np.percentile(times, 90)),
        mean=float(times.mean()),
        std=float(times.std()),
        min=float(times.min()),
        max=float(times.max()),
        runs=int(times.size),
    )


def run_interleaved(
    sessions: Sequence,
    *,
    warmup: int,
    runs: int,
    clock: Callable[[], float] = time.perf_counter,
    show_progress: bool = False,
    desc: str = "benchmark",
) -> list[list[float]]:
    """Per session, the milliseconds of its `runs` timed invokes, run in rounds A B A B ...

    A session has `feed(k)` (set the inputs of run k, untimed) and `invoke()`.
    The first `warmup` rounds are run but not recorded.
    """
    times = [[] for _ in sessions]
    for k in progress.bar(range(warmup + runs), total=warmup + runs, desc=desc, enabled=show_progress):
        for session, recorded in zip(sessions, times):
            session.feed(k)
            start = clock()
            session.invoke()
            elapsed = clock() - start
            if k >= warmup:
                recorded.append(elapsed * 1000.0)
    return times


# ---------------------------------------------------------------------------
# Peak native memory
# ---------------------------------------------------------------------------


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def release_free_heap() -> None:
    """Collect garbage and hand freed heap back to the system, so the next measurement starts clean."""
    gc.collect()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # 5: reset the peak resident set size (VmHWM) to the current one
        return True
    except OSError:
        return False


@dataclasses.dataclass
class PeakMemory:
    mb: float | None = None


@contextlib.contextmanager
def peak_memory_added():
    """Measure the peak resident memory the block adds, in MiB (None where Linux's VmHWM is unavailable)."""
    release_free_heap()
    result = PeakMemory()
    reset = _reset_peak()
    before = _status_kb("VmRSS")
    yield result
    peak = _status_kb("VmHWM")
    if reset and before is not None and peak is not None:
        result.mb = max(0, peak - before) / 1024.0
