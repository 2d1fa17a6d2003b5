"""`mobilekit run`: run a YAML recipe (train, prune, distill, qat, export, evaluate) into an output folder."""

from __future__ import annotations

import contextlib
import pathlib
import sys

import click

from mobilekit.cli.options import (
    distribute_option,
    force_option,
    output_folder_option,
    quiet_option,
    start_distribution,
)


@click.command()
@click.argument("recipe_path", metavar="RECIPE", type=click.Path(path_type=pathlib.Path))
@output_folder_option(
    help="Run folder: one sub-folder per stage and results.json  [default: runs/<recipe name>].", required=False
)
@click.option("--check", is_flag=True, help="Validate the recipe and list its stages; run nothing.")
@force_option(help="Run every stage afresh: discard the stage folders and results.json in DIR.")
@distribute_option(default=None)
@quiet_option
def run(recipe_path, output_dir, check, force, distribution, quiet):
    """Run a recipe; rerunning with the same --output skips the finished stages.

    \b
    Examples:
      mobilekit run recipes/quickstart.yaml --output runs/quickstart
      mobilekit run recipes/prune_then_qat.yaml --check
      python scripts/local_cluster.py --workers 2 -- mobilekit run recipes/quickstart.yaml

    --distribute (default: the recipe's `distribute: strategy:`, else auto) trains every stage under a
    tf.distribute strategy; under multi-worker every worker runs this same command and the
    chief writes DIR.
    """
    from mobilekit import recipes
    from mobilekit.progress import import_tensorflow_quietly, native_stderr_filtered

    with native_stderr_filtered():  # its last checks, of the zoo's names, import TensorFlow
        recipe = recipes.load(recipe_path)
    import_tensorflow_quietly()
    if check:
        _describe(recipe)
        return
    folder = output_dir or pathlib.Path("runs") / recipe.name
    if output_dir is None:
        folder.parent.mkdir(exist_ok=True)
    verbose = 0 if quiet else (1 if sys.stderr.isatty() else 2)
    from mobilekit.train import distribute

    strategy = start_distribution(distribution or recipe.distribute.strategy, not quiet)
    with contextlib.redirect_stdout(sys.stderr), distribute.worker_output(folder, strategy) as writes:
        # keras' progress goes to stderr, stdout has the summary
        results = recipes.run(recipe, writes, force=force, verbose=verbose, show_progress=not quiet, strategy=strategy)
    _summary(folder, results)


def _describe(recipe) -> None:
    click.echo(f"{recipe.path}: valid recipe {recipe.name!r}")
    click.echo(
        f"  model  {recipe.model.name} ({recipe.model.resolution or 'default'} px, alpha {recipe.model.alpha}, "
        f"weights {recipe.model.weights})"
    )
    click.echo(f"  data   {recipe.data.source} (batch {recipe.data.batch_size})")
    for index, stage in enumerate(recipe.stages):
        click.echo(f"  {index + 1}. {stage.kind:<9} line {stage.line}")


def _percent(value) -> str:
    return "-" if value is None else f"{value:.2%}"


def _summary(folder: pathlib.Path, results: dict) -> None:
    click.echo(f"ran {results['recipe']['name']} into {folder}")
    for entry in results["stages"]:
        figures = _stage_figures(entry)
        click.echo(f"  {entry['folder']:<12} {entry.get('seconds', 0):>7.1f} s  {figures}")
    summary = results["summary"]
    for figure, name in (("top1", "top-1"), ("miou", "mean IoU")):
        labels = (("float", "float"), ("qat", "QAT Keras"), ("tflite", summary.get("mode", "file")))
        line = [
            f"{label} {_percent(summary[f'{key}_{figure}'])}" for key, label in labels if f"{key}_{figure}" in summary
        ]
        if line:
            click.echo(f"  {name:<14} " + ", ".join(line))
    if "size_bytes" in summary:
        click.echo(
            f"  file size      {summary['size_bytes'] / 1e6:.3f} MB, "
            f"gzipped {summary['gzip_bytes'] / 1e6:.3f} MB"
            f", fully integer {'yes' if summary.get('fully_integer') else 'no'}"
        )
    if "sparsity" in summary:
        click.echo(f"  sparsity       {summary['sparsity']:.1%} of the Conv2D and Dense kernels")
    click.echo(f"  results        {folder / 'results.json'}")


def _stage_figures(entry: dict) -> str:
    results = entry.get("results", {})
    if entry["stage"] == "export":
        return (
            f"{results['mode']}, {results['size_bytes'] / 1e6:.3f} MB "
            f"(gzip {results['gzip_bytes'] / 1e6:.3f} MB) -> {entry['artifact']}"
        )
    if entry["stage"] == "evaluate":
        figure, name = ("miou", "mIoU") if "miou" in results.get("tflite", {}) else ("top1", "top-1")
        return (
            ", ".join(
                f"{key} {name} {_percent(results[key][figure])}" for key in ("float", "qat", "tflite") if key in results
            )
            + f" on {results['split']}"
        )
    monitor = next((key for key in ("val_accuracy", "accuracy", "val_miou", "miou") if key in results), None)
    text = f"{results.get('epochs', 0)} epoch(s)"
    if monitor:
        text += f", best {monitor.replace('_', ' ')} {_percent(results[monitor])} (epoch {results['best_epoch']})"
    if entry["stage"] == "prune":
        text += f", sparsity {results['sparsity']['sparsity']:.1%}"
    return text + (f" -> {entry['artifact']}" if entry.get("artifact") else "")
