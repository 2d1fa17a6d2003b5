"""`mobilekit bench`: latency, memory and MACs of .tflite files on the LiteRT interpreter, side by side."""

from __future__ import annotations

import pathlib

import click

from mobilekit.cli.options import data_option, force_option, quiet_option


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=pathlib.Path), metavar="FILE.tflite...")
@click.option(
    "--threads",
    default="1",
    show_default=True,
    metavar="N[,N...]",
    help="Thread counts to measure, comma-separated, e.g. 1,2.",
)
@click.option("--warmup", type=int, default=5, show_default=True, help="Untimed runs per model before timing.")
@click.option("--runs", type=int, default=50, show_default=True, help="Timed runs per model and thread count.")
@click.option(
    "--xnnpack/--no-xnnpack",
    default=True,
    show_default=True,
    help="Use the XNNPACK CPU delegate, or the interpreter's own kernels only.",
)
@data_option(
    required=False,
    help="Feed real images: a folder of class sub-folders, an .npz file, mnist5k or digits  [default: random inputs].",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=pathlib.Path),
    default=None,
    metavar="PATH",
    help="Also write the results as JSON (bench.schema.json) to PATH.",
)
@force_option(help="Overwrite an existing --json file.")
@quiet_option
def bench(paths, threads, warmup, runs, xnnpack, source, json_path, force, quiet):
    """Measure .tflite files like TFLite's benchmark_model, interleaved.

    Per file and thread count: init (load + interpreter + allocate) time,
    first inference, median / p90 / mean / std latency over the timed runs,
    peak memory the model adds, MACs counted from the graph and the achieved
    GMAC/s, and the ratio of each file's median to the first file's. Files
    are run A B A B ... so that machine drift hits them alike.

    \b
    Examples:
      mobilekit bench mobilenet_v2_int8.tflite mobilenet_v2_float32.tflite --threads 1,2
      mobilekit bench model.tflite --data photos/ --runs 100 --json bench.json
    """
    from mobilekit import files
    from mobilekit.data import datasets
    from mobilekit.runtime import benchmark

    settings = benchmark.Settings(
        threads=benchmark.parse_threads(threads), warmup=warmup, runs=runs, xnnpack=xnnpack, data=source
    )
    if json_path is not None:
        files.check_writable(json_path, force=force)
    if source is not None:
        datasets.check(source)
    report = benchmark.benchmark(paths, settings, show_progress=not quiet)
    for line in benchmark.table(report):
        click.echo(line)
    if json_path is not None:
        files.write_json(json_path, report.to_json(), force=force)
        if not quiet:
            click.echo(f"wrote {json_path}", err=True)
