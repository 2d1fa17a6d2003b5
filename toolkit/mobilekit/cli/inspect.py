"""`mobilekit inspect`: what a .tflite file holds, without importing TensorFlow."""

from __future__ import annotations

import dataclasses
import json
import pathlib

import click

from mobilekit.cli.display import describe_io, format_ops


@click.command()
@click.argument("path", type=click.Path(path_type=pathlib.Path))
@click.option("--json", "as_json", is_flag=True, help="Print everything as one JSON document.")
def inspect(path, as_json):
    """Show a .tflite file's metadata, labels, inputs/outputs, ops, tensor types and delegate coverage."""
    from mobilekit.export import integrity, metadata, tflite_file
    from mobilekit.runtime import coverage, trial

    buf = tflite_file.read_path(path)
    with integrity.naming(path):
        summary = tflite_file.summarize(buf)
        meta = metadata.read(buf)
        labels = metadata.labels(buf)
        problems = metadata.reader_problems(buf)
        try:
            cpu = trial.check_runs(buf) or "not measured: the first run outlasted its time limit"
        except trial.Unrunnable as error:
            cpu = str(error)
        gpu = coverage.gpu_refusals(buf)
    if as_json:
        click.echo(json.dumps(_as_document(path, summary, meta, labels, problems, cpu, gpu), indent=2))
        return
    click.echo(f"{path}  ({summary.size_bytes / 1e6:.2f} MB)")
    for line in describe_io(summary):
        click.echo(f"  {line}")
    click.echo(f"  fully integer  {'yes' if summary.fully_integer else 'no'}")
    click.echo(f"  ops            {format_ops(summary.ops)}")
    click.echo(f"  tensor types   {', '.join(f'{k}: {v}' for k, v in sorted(summary.dtypes.items()))}")
    click.echo(f"  cpu delegate   {cpu.describe() if isinstance(cpu, coverage.DelegateCoverage) else cpu}")
    click.echo(f"  gpu delegate   {describe_gpu(gpu)}")
    if labels:
        shown = ", ".join(labels[:5]) + (", …" if len(labels) > 5 else "")
        click.echo(f"  labels         {len(labels)} ({shown})")
    for problem in problems:
        click.echo(f"  apps           {problem}")
    click.echo("  metadata       " + ("none" if meta is None else ""))
    if meta is not None:
        click.echo(json.dumps(meta, indent=2))


def describe_gpu(refusals: dict[str, str]) -> str:
    if not refusals:
        return "LiteRT's GPU delegate has a kernel for every op"
    return "the GPU delegate leaves to the CPU: " + "; ".join(f"{op} ({why})" for op, why in refusals.items())


def _as_document(path, summary, meta, labels, problems, cpu, gpu) -> dict:
    def tensor(t):
        return dataclasses.asdict(t)

    return {
        "file": str(path),
        "size_bytes": summary.size_bytes,
        "fully_integer": summary.fully_integer,
        "inputs": [tensor(t) for t in summary.inputs],
        "outputs": [tensor(t) for t in summary.outputs],
        "ops": summary.ops,
        "tensor_types": summary.dtypes,
        "float_tensors": [t.name for t in summary.float_tensors],
        "labels": labels,
        "metadata": meta,
        "reader_problems": problems,
        "xnnpack": {"error": cpu} if isinstance(cpu, str) else dataclasses.asdict(cpu),
        "gpu_refusals": gpu,
    }
