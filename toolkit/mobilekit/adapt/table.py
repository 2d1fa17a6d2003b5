"""A latency lookup table: each op of a converted file timed once as a file of its own, summed for a network.

The table is keyed by the ops of the converted file, not by Keras layers: the
converter folds batch norms and activations into convolutions and XNNPACK's
cost is per op, so the ops are what runs. `record` converts a model and
narrower copies of it (every channel group kept at a fraction of its width),
cuts every op into a one-op file, times each on this machine (or writes them
for a phone to time: `scripts/android_bench.sh --table`) and keeps, per op,
its shapes and which of its dimensions carry channels (those that changed
between the copies: `table_record.record`). `LatencyTable.estimate(file)` sums its ops: an op timed
at the same shapes is read back; otherwise its time is interpolated, linearly
in its channel work, between the timed ops of the same kind that differ from it
only in channels. Every one-op time includes one invoke of the interpreter,
which the table times alone (`overhead`) and counts once per network.

An op timed alone runs with its data warm in the caches; in a network it reads
what the op before it wrote. The copies themselves are timed too (`networks`),
and a line fitted from the sum of their ops to their measured time (a scale
and a cost per op) corrects every estimate: measured on the same device, not
a guess.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np

from mobilekit import files
from mobilekit.errors import UserError

FORMAT = "mobilekit.latency-table/1"
TABLE_FILE = "table.json"
OVERHEAD_FILE = "overhead.tflite"
FRACTIONS = (
    1.0,
    0.875,
    0.75,
    0.625,
    0.5,
    0.375,
    0.25,
)  # widths of the copies `record` times, as a fraction of every group


@dataclasses.dataclass(frozen=True)
class OpShape:
    """One op of a converted file as the table keys it: its kind, output type, and its tensors' shapes."""

    op: str
    dtype: str
    inputs: tuple[tuple[int, ...], ...]
    outputs: tuple[tuple[int, ...], ...]

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        return self.inputs + self.outputs

    def describe(self) -> str:
        return f"{self.op} {self.dtype} {[list(s) for s in self.inputs]} -> {[list(s) for s in self.outputs]}"


@dataclasses.dataclass(frozen=True)
class Entry:
    file: str
    shape: OpShape
    varying: tuple[tuple[int, ...], ...]  # per tensor (inputs, then outputs): the axes that carry channels
    ms: float

    def matches(self, shape: OpShape) -> bool:
        """Whether `shape` differs from this entry's at most in the channel axes."""
        if (shape.op, shape.dtype) != (self.shape.op, self.shape.dtype):
            return False
        if [len(s) for s in shape.shapes] != [len(s) for s in self.shape.shapes]:
            return False
        return all(
            dims[axis] == mine[axis]
            for dims, mine, axes in zip(shape.shapes, self.shape.shapes, self.varying)
            for axis in range(len(mine))
            if axis not in axes
        )


def op_shapes(buf: bytes) -> list[OpShape]:
    """The ops of a .tflite file, in execution order."""
    from mobilekit.export import tflite_file

    model = tflite_file.read(buf)
    return ops_of(model)


def ops_of(model) -> list[OpShape]:
    from mobilekit.export import tflite_file

    def shape(op) -> OpShape:
        name = tflite_file.op_name(model, op.opcodeIndex)
        # A bias costs next to nothing, and the converter leaves out one that is all zeros (an untrained
        # layer's): keyed without it, a trained model's ops find the ones its untrained copy timed.
        bias_at = tflite_file.WEIGHTED_OPS.get(name, (None, None))[1]
        inputs = [index for at, index in enumerate(op.inputs) if index >= 0 and at != bias_at]
        return OpShape(
            op=name,
            dtype=tflite_file.tensor_info(model, op.outputs[0]).dtype,
            inputs=tuple(tflite_file.tensor_info(model, i).shape for i in inputs),
            outputs=tuple(tflite_file.tensor_info(model, i).shape for i in op.outputs),
        )

    return [shape(op) for op in model.subgraphs[0].operators]


def _work(shape: OpShape, varying: tuple[tuple[int, ...], ...]) -> float:
    """How much of the op scales with channels: the largest product of one tensor's channel dimensions
    (cin * cout for a convolution's filter, c for a depthwise one or an elementwise op)."""
    return float(max(int(np.prod([dims[a] for a in axes])) if axes else 1 for dims, axes in zip(shape.shapes, varying)))


@dataclasses.dataclass
class LatencyTable:
    model: str
    resolution: int
    mode: str
    threads: int
    device: dict
    overhead_ms: float
    entries: list[Entry]
    networks: list[dict] = dataclasses.field(default_factory=list)  # {"file", "fraction", "ms"}: copies timed whole
    overhead_file: str = OVERHEAD_FILE

    def __post_init__(self):
        self._exact = {entry.shape: entry.ms for entry in self.entries}
        self.scale, self.per_op_ms = 1.0, 0.0  # set from the networks timed whole by `calibrate`

    def op_ms(self, shape: OpShape) -> float:
        """The time of one op as a file of its own: measured, or interpolated over channels."""
        if shape in self._exact:
            return self._exact[shape]
        similar = [entry for entry in self.entries if entry.matches(shape)]
        if not similar:
            raise UserError(
                f"the latency table of {self.model} ({self.resolution} px) holds no op like {shape.describe()}: "
                "export a table for this model with --export-table-models, from the trained model you adapt "
                "(the converter folds layers that carry almost no signal, so random weights give other ops)"
            )
        varying = tuple(tuple(sorted(set().union(*axes))) for axes in zip(*(e.varying for e in similar)))
        points = sorted((_work(e.shape, varying), e.ms) for e in similar)
        works = np.array(sorted({w for w, _ in points}))
        times = np.array([np.mean([ms for w, ms in points if w == work]) for work in works])
        work = _work(shape, varying)
        if work > works[-1]:
            raise UserError(
                f"the latency table of {self.model} ({self.resolution} px) has no measurement as wide as "
                f"{shape.describe()}: export a table for this model with --export-table-models"
            )
        if work >= works[0]:
            return float(np.interp(work, works, times))
        if len(works) == 1:  # narrower than the one width timed: in proportion
            return float(times[0] * work / works[0])
        slope = (times[1] - times[0]) / (works[1] - works[0])  # narrower than all: the first segment's line
        return max(float(times[0] + slope * (work - works[0])), 0.0)

    def estimate(self, buf: bytes) -> float:
        """Milliseconds of one invoke of the file `buf`, from the table: one invoke's overhead plus its ops,
        corrected by what the networks timed whole showed."""
        ops = op_shapes(buf)
        return self.overhead_ms + self.scale * self._summed(ops) + self.per_op_ms * len(ops)

    def op_sum(self, buf: bytes) -> float:
        """The summed time of the file's ops, each beyond one invoke's overhead."""
        return self._summed(op_shapes(buf))

    def _summed(self, ops: list[OpShape]) -> float:
        return sum(max(self.op_ms(shape) - self.overhead_ms, 0.0) for shape in ops)

    def calibrate(self, network_files: dict[str, bytes]) -> None:
        """Fit `scale` and `per_op_ms` to the networks timed whole (their files by name): measured time =
        overhead + scale * summed ops + per_op_ms * ops, least squares. In a network each op reads what the
        one before it wrote, a cost a one-op file, its data warm, does not show; the fit measures it."""
        if not self.networks:
            return
        summed, counts, measured = [], [], []
        for network in self.networks:
            ops = op_shapes(network_files[network["file"]])
            summed.append(self._summed(ops))
            counts.append(len(ops))
            measured.append(network["ms"] - self.overhead_ms)
        (scale, per_op), *_ = np.linalg.lstsq(np.array([summed, counts], float).T, np.array(measured), rcond=None)
        if len(self.networks) >= 2 and scale > 0 and per_op >= 0:
            self.scale, self.per_op_ms = float(scale), float(per_op)
        elif sum(summed) > 0:  # one network, or a fit that makes no sense (timings disturbed): the ratio alone
            self.scale, self.per_op_ms = max(sum(measured), 0.0) / sum(summed), 0.0

    def describe(self, source) -> str:
        return f"from the latency table {source}, timed on {self.device.get('name')}, {self.mode}, {self.threads} thread(s)"

    def missing(self, buf: bytes) -> list[OpShape]:
        """The ops of `buf` the table did not time at their very shapes."""
        return [shape for shape in op_shapes(buf) if shape not in self._exact]

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "model": self.model,
            "resolution": self.resolution,
            "mode": self.mode,
            "threads": self.threads,
            "device": self.device,
            "overhead": {"file": self.overhead_file, "ms": self.overhead_ms},
            "networks": self.networks,
            "ops": [
                {
                    "file": e.file,
                    "op": e.shape.op,
                    "dtype": e.shape.dtype,
                    "inputs": [list(s) for s in e.shape.inputs],
                    "outputs": [list(s) for s in e.shape.outputs],
                    "varying": [list(axes) for axes in e.varying],
                    "ms": e.ms,
                }
                for e in self.entries
            ],
        }

    @classmethod
    def from_json(cls, data, source: str = "the latency table") -> LatencyTable:
        def bad(why: str):
            return UserError(f"{source} is not a latency table ({FORMAT}): {why}")

        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise bad(f"its 'format' is {data.get('format') if isinstance(data, dict) else None!r}")
        try:
            entries = []
            for item in data["ops"]:
                shape = OpShape(
                    op=str(item["op"]),
                    dtype=str(item["dtype"]),
                    inputs=tuple(tuple(int(d) for d in s) for s in item["inputs"]),
                    outputs=tuple(tuple(int(d) for d in s) for s in item["outputs"]),
                )
                varying = tuple(tuple(int(a) for a in axes) for axes in item["varying"])
                if len(varying) != len(shape.shapes):
                    raise ValueError(
                        f"op {item['file']}: 'varying' names {len(varying)} tensors, not {len(shape.shapes)}"
                    )
                entries.append(Entry(str(item["file"]), shape, varying, _milliseconds(item["ms"], item["file"])))
            networks = [
                {"file": str(n["file"]), "fraction": float(n["fraction"]), "ms": _milliseconds(n["ms"], n["file"])}
                for n in data["networks"]
            ]
            return cls(
                networks=networks,
                model=str(data["model"]),
                resolution=int(data["resolution"]),
                mode=str(data["mode"]),
                threads=int(data["threads"]),
                device=dict(data["device"]),
                overhead_ms=_milliseconds(data["overhead"]["ms"], data["overhead"]["file"]),
                overhead_file=str(data["overhead"]["file"]),
                entries=entries,
            )
        except (KeyError, TypeError, ValueError) as error:
            detail = f"no {error}" if isinstance(error, KeyError) else str(error)
            raise bad(detail) from None


def _milliseconds(value, file) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{file} has no time measured ('ms' is {value!r})")
    return float(value)


def load(path) -> LatencyTable:
    """The table in `path` (a table.json, or the folder that holds one)."""
    path = pathlib.Path(path).expanduser()
    path = path / TABLE_FILE if path.is_dir() else path
    data = files.read_json(path, remedy="Export a table with `mobilekit adapt --export-table-models DIR`.")
    if data is None:
        raise UserError(f"no latency table at {path}: export one with `mobilekit adapt --export-table-models DIR`")
    table = LatencyTable.from_json(data, source=str(path))
    networks = {}
    for network in table.networks:
        where = path.parent / network["file"]
        if not where.is_file():
            raise UserError(f"{path} names {network['file']}, which is not beside it: keep the table's folder whole")
        networks[network["file"]] = where.read_bytes()
    table.calibrate(networks)
    return table


def check_fits(table: LatencyTable, host, model, source: str) -> None:
    """That `table` was timed for `model` as `host` converts it: same mode, threads and ops."""
    for name, theirs, ours in (("mode", table.mode, host.mode), ("threads", table.threads, host.threads)):
        if theirs != ours:
            raise UserError(f"{source} was timed with {name} {theirs}, not {ours}: pass --{name} {theirs}")
    missing = table.missing(host.file(model))
    if missing:
        raise UserError(
            f"{source} was recorded for {table.model} at {table.resolution} px and lacks {len(missing)} of this "
            f"model's ops (e.g. {missing[0].describe()}): export a table for this model with --export-table-models"
        )


@dataclasses.dataclass
class TableLatency:
    """Milliseconds of models read from a table: each converted as `host` converts it (a latency.HostLatency),
    its ops summed by `table.estimate`. What NetAdapt uses for a phone it cannot run the files on."""

    table: LatencyTable
    host: object

    def of(self, models: list) -> list[float]:
        return [self.table.estimate(self.host.file(model)) for model in models]
