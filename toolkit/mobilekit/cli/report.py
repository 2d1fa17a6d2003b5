"""`mobilekit report`: Markdown tables and PNG plots from recipe runs and latency results; no TensorFlow."""

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
    """Report accuracy, size and latency of recipe runs and bench / Android JSON files.

    Inputs: recipe run folders (or their results.json) and latency results
    (`mobilekit bench --json`, the Android demo), which must follow
    mobilekit/report/bench.schema.json.

    \b
    Example:
      mobilekit report runs/quickstart bench.json pixel7.json --output report/
    """
    from mobilekit.report.build import write_report

    for path in write_report(inputs, output_dir, force=force):
        click.echo(f"wrote {path}")
