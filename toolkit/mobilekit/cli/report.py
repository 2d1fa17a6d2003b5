"""`mobilekit report`: Markdown tables and PNG plots from recipe runs, latency results and NetAdapt runs; no
TensorFlow."""

from __future__ import annotations

import pathlib

import click

from mobilekit.cli.options import force_option, output_folder_option


@click.command()
@click.argument(
    "inputs", metavar="RUN_DIR_OR_JSON...", nargs=-1, required=True, type=click.Path(path_type=pathlib.Path)
)
@output_folder_option(help="Folder for report.md and the PNG plots (created if missing).")
@force_option(help="Overwrite report.md and plots already in DIR.")
def report(inputs, output_dir, force):
    """Report accuracy, size and latency of recipe runs, bench / Android JSON files and adaptations.

    Inputs: recipe run folders (or their results.json), latency results
    (`mobilekit bench --json`, the Android demo), which must follow
    mobilekit/report/bench.schema.json, and NetAdapt runs: a `mobilekit adapt`
    folder or its adapt.json. A recipe run with an adapt stage brings its
    adaptation too. Each adaptation gets a section (a row per iteration) and
    adapt_<label>.png: validation accuracy against latency, iteration by iteration.

    \b
    Example:
      mobilekit report runs/quickstart bench.json pixel7.json --output report/
      mobilekit report runs/adapted --output report/
    """
    from mobilekit.report.build import write_report

    for path in write_report(inputs, output_dir, force=force):
        click.echo(f"wrote {path}")
