"""Write a report folder: report.md and its PNG plots, each file atomically, nothing before all are checked."""

from __future__ import annotations

import pathlib

from mobilekit.errors import UserError
from mobilekit.files import check_writable, write_atomic
from mobilekit.report import collect, markdown, plots

REPORT_FILE = "report.md"
# file name -> caption; written when there is something to draw. Besides: adapt_<label>.png per adaptation.
PLOTS = {
    "accuracy_latency.png": "Top-1 accuracy against median latency, Pareto front per device",
    "size.png": "File size per model and stage",
    "stages.png": "Accuracy through each recipe's stages",
}


def write_report(inputs, output_dir, *, force: bool = False) -> list[pathlib.Path]:
    """Read `inputs` (recipe run folders, results.json, bench JSON files, adaptation folders or adapt.json),
    write the report into `output_dir`."""
    collection = collect.collect(inputs)
    output_dir = pathlib.Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise UserError(f"--output {output_dir} is a file. Pass a folder for report.md and its plots.")
    drawn = {
        "accuracy_latency.png": plots.accuracy_latency(collection.latency, markdown.latency_numbers(collection)),
        "size.png": plots.sizes(collection),
        "stages.png": plots.stages(collection),
    }
    files = {name: data for name, data in drawn.items() if data is not None}
    captions = {name: PLOTS[name] for name in files}
    files.update({item.plot: plots.adaptation(item) for item in collection.adaptations})  # in their sections
    text = markdown.render(collection, captions)
    files[REPORT_FILE] = text.encode()
    output_dir.mkdir(parents=True, exist_ok=True)
    for name in files:
        check_writable(output_dir / name, force=force)
    return [write_atomic(output_dir / name, data, force=force) for name, data in files.items()]
