"""Recording a latency table: the one-op files of a model and its narrower copies, timed here, in a folder.

`record` converts the model and copies of it with every channel group at a
fraction of its width, cuts every op of those files into a file of its own
(`tflite_file.single_op`), times each file by itself (as the phone's benchmark
mode does) and notes which axes of each op carry channels: those whose size
changed between the copies. `write` puts the files and table.json in a folder,
whole or not at all, for `scripts/android_bench.sh --table` to time on a phone.
"""

from __future__ import annotations

import pathlib

import numpy as np

from mobilekit import files
from mobilekit.adapt.table import FRACTIONS, OVERHEAD_FILE, TABLE_FILE, Entry, LatencyTable, OpShape, ops_of


def overhead_file() -> bytes:
    """A file whose one op does next to nothing (a float ADD of one number): what an invoke costs by itself."""
    from ai_edge_litert import schema_py_generated as schema

    from mobilekit.export import tflite_file

    def tensor(name: str, buffer: int):
        t = schema.TensorT()
        t.shape, t.type, t.buffer, t.name = [1, 1], schema.TensorType.FLOAT32, buffer, name
        return t

    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.ADD
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0, 1], [2]
    op.builtinOptionsType, op.builtinOptions = schema.BuiltinOptions.AddOptions, schema.AddOptionsT()
    one = schema.BufferT()
    one.data = np.frombuffer(np.float32(1.0).tobytes(), dtype=np.uint8)
    graph = schema.SubGraphT()
    graph.tensors = [tensor("x", 0), tensor("one", 1), tensor("y", 0)]
    graph.operators, graph.inputs, graph.outputs = [op], [0], [2]
    model = schema.ModelT()
    model.version, model.description = 3, "the invoke overhead of a mobilekit latency table"
    model.operatorCodes, model.subgraphs, model.buffers = [code], [graph], [schema.BufferT(), one]
    return tflite_file.write(model)


def narrower_copies(model, fractions=FRACTIONS) -> list:
    """`model` with every channel group kept at each fraction of its width (the strongest filters)."""
    from mobilekit.adapt import surgery

    graph = surgery.ChannelGraph(model)
    copies = []
    for fraction in fractions:
        keep = {
            group.id: surgery.keep_strongest(graph, group.id, max(1, round(fraction * group.size)))
            for group in graph.prunable()
            if round(fraction * group.size) < group.size
        }
        copies.append(surgery.shrink(graph, keep) if keep else model)
    return copies


def record(model, host, folder=None, *, fractions=FRACTIONS, show_progress: bool = False) -> LatencyTable:
    """Time every op of `model` and of its narrower copies as converted by `host` (a latency.HostLatency), on
    this machine; with `folder`, also write the one-op files and table.json there (what a phone times)."""
    from mobilekit import progress
    from mobilekit.export import tflite_file
    from mobilekit.runtime.benchmark import host_device

    copies = narrower_copies(model, fractions)
    converted = [
        host.file(copy) for copy in progress.bar(copies, total=len(copies), desc="converting", enabled=show_progress)
    ]
    parsed = [tflite_file.read(buf) for buf in converted]
    shapes = [ops_of(m) for m in parsed]
    aligned = len({tuple(s.op for s in ops) for ops in shapes}) == 1
    varying: dict[OpShape, set] = {}
    cut: dict[OpShape, bytes] = {}
    for m, ops in zip(parsed, shapes):
        for position, shape in enumerate(ops):
            axes = _changed_axes([copy[position] for copy in shapes]) if aligned else [()] * len(shape.shapes)
            merged = varying.setdefault(shape, [set() for _ in shape.shapes])
            for into, found in zip(merged, axes):
                into.update(found)
            if shape not in cut:
                cut[shape] = tflite_file.single_op(m, position)
    ordered = list(cut)
    # Each file timed by itself, run after run, as the phone's benchmark mode times it: interleaving hundreds
    # of files would leave every one of them cold.
    timed = [overhead_file(), *converted, *(cut[s] for s in ordered)]
    times = [
        host.of_files([buf])[0] for buf in progress.bar(timed, total=len(timed), desc="timing", enabled=show_progress)
    ]
    network_files = {f"network_{round(100 * f):03d}.tflite": buf for f, buf in zip(fractions, converted)}
    networks = [{"file": name, "fraction": f, "ms": ms} for name, f, ms in zip(network_files, fractions, times[1:])]
    entries = [
        Entry(f"op_{k:04d}.tflite", shape, tuple(tuple(sorted(a)) for a in varying[shape]), ms)
        for k, (shape, ms) in enumerate(zip(ordered, times[1 + len(converted) :]), start=1)
    ]
    table = LatencyTable(
        model=model.name,
        resolution=int(model.input_shape[1]),
        mode=host.mode,
        threads=host.threads,
        device=host_device(),
        overhead_ms=times[0],
        entries=entries,
        networks=networks,
    )
    table.calibrate(network_files)
    if folder is not None:
        op_files = {e.file: cut[e.shape] for e in entries}
        write(table, folder, {OVERHEAD_FILE: timed[0], **network_files, **op_files})
    return table


def _changed_axes(same_op: list[OpShape]) -> list[tuple[int, ...]]:
    """Per tensor of one op seen in several copies, the axes whose size differs between them."""
    first = same_op[0].shapes
    alike = [o.shapes for o in same_op if [len(s) for s in o.shapes] == [len(s) for s in first]]
    return [
        tuple(axis for axis in range(len(dims)) if any(shapes[t][axis] != dims[axis] for shapes in alike))
        for t, dims in enumerate(first)
    ]


def check_folder(folder, *, force: bool) -> pathlib.Path:
    """`folder` can take a table: new, empty, or (with `force`) an earlier table's."""
    return files.check_output_folder(
        folder,
        writes="a latency table is a folder (table.json and its .tflite files)",
        owned_by_run=lambda f: (
            None
            if not any(f.iterdir()) or (force and (f / TABLE_FILE).is_file())
            else f"{f} holds {'a latency table; pass --force to replace it' if (f / TABLE_FILE).is_file() else 'other files; choose an empty or new folder'}"
        ),
    )


def write(table: LatencyTable, folder, table_files: dict[str, bytes]) -> pathlib.Path:
    """table.json and its files in `folder`, whole or not at all: written beside it, then moved into place."""
    import shutil
    import tempfile

    folder = pathlib.Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for name, buf in table_files.items():
            (staging / name).write_bytes(buf)
        files.write_json(staging / TABLE_FILE, table.to_json())
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder / TABLE_FILE
