"""`mobilekit adapt`: shrink a trained model, layer by layer, to a latency measured on this machine's LiteRT."""

from __future__ import annotations

import pathlib
import shlex

import click

from mobilekit.adapt.netadapt import SELECTIONS
from mobilekit.cli.options import (
    data_option,
    force_option,
    model_options,
    output_folder_option,
    parse_options,
    quiet_option,
    seed_option,
    split_options,
)
from mobilekit.formats import MODES
from mobilekit.train.run_folder import LABELS_FILE

ADAPTED_FILE = "adapted.keras"
FINETUNE_FOLDER = "finetune"


@click.command()
@model_options(weights="For a zoo NAME: ImageNet weights, none, or a file. A FILE in --model is used as it is.")
@data_option(required=True, help="The data the model was trained on: folder, .npz, mnist5k or digits.")
@click.option(
    "--target-latency",
    "target",
    metavar="MS|FRACTIONx",
    help="Milliseconds (12.5), or a fraction of the starting model's measured latency (0.6x).",
)
@output_folder_option(
    required=False,
    help="Run folder: adapted.keras, adapt.json, labels.txt, one model per iteration. Rerun to resume.",
)
@click.option(
    "--latency-table",
    type=click.Path(path_type=pathlib.Path),
    metavar="FILE",
    help="Latency from this table (table.json timed on a phone by scripts/android_bench.sh --table) instead of "
    "timing every proposal on this machine.",
)
@click.option(
    "--export-table-models",
    "table_dir",
    type=click.Path(path_type=pathlib.Path),
    metavar="DIR",
    help="Adapt nothing: write the one-op .tflite files of a latency table for this model and its table.json "
    "(timed here) into DIR, for scripts/android_bench.sh --table.",
)
@click.option(
    "--mode", type=click.Choice(MODES), default="int8", show_default=True, help="The file latency is measured on."
)
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="LiteRT threads.")
@click.option("--runs", type=click.IntRange(min=1), default=30, show_default=True, help="Timed runs per candidate.")
@click.option(
    "--initial-step",
    type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
    default=0.025,
    show_default=True,
    help="The first iteration's budget cut, as a fraction of the starting latency (the NetAdapt code's).",
)
@click.option(
    "--step-decay",
    type=click.FloatRange(min=0, max=1, min_open=True),
    default=0.96,
    show_default=True,
    help="Each later cut is this share of the one before.",
)
@click.option(
    "--short-steps", type=click.IntRange(min=0), default=50, show_default=True, help="Fine-tuning steps per proposal."
)
@click.option(
    "--long-epochs",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Fine-tuning epochs of the adapted model.",
)
@click.option("--max-iterations", type=click.IntRange(min=1), default=50, show_default=True)
@click.option(
    "--selection",
    type=click.Choice(SELECTIONS),
    default="accuracy",
    show_default=True,
    help="Pick proposals by accuracy (NetAdapt) or accuracy lost per ms saved (MobileNetV3).",
)
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Images per step.")
@split_options(whose="the training run's")
@seed_option(help="The training run's --seed (its validation split) and the fine-tuning's.")
@force_option(help="Discard an earlier adaptation in DIR and start over.")
@quiet_option
def adapt(
    model_name,
    weights,
    resolution,
    alpha,
    option_pairs,
    source,
    target,
    output_dir,
    latency_table,
    table_dir,
    mode,
    threads,
    runs,
    initial_step,
    step_decay,
    short_steps,
    long_epochs,
    max_iterations,
    selection,
    batch_size,
    validation_split,
    test_split,
    seed,
    force,
    quiet,
):
    """Shrink a model's channels until it meets a latency target (NetAdapt), measured on LiteRT.

    \b
    Example:
      mobilekit adapt --model runs/digits/best.keras --data digits --target-latency 0.6x --output runs/adapted
    """
    from mobilekit import files
    from mobilekit.adapt import netadapt, table, table_record
    from mobilekit.data import datasets

    show = not quiet
    if table_dir is not None:
        if target or output_dir or latency_table:
            raise click.UsageError(
                "--export-table-models adapts nothing: leave out --target-latency, --output and --latency-table"
            )
        folder = table_record.check_folder(table_dir, force=force)
    elif not target or not output_dir:
        raise click.UsageError("adapting needs --target-latency and --output (or --export-table-models DIR alone)")
    else:
        goal = netadapt.parse_target(target)
        folder = _adapt_folder(output_dir, force)
    options = parse_options(option_pairs)
    datasets.check(source, validation_split=validation_split, test_split=test_split)
    recorded = table.load(latency_table) if latency_table else None

    from mobilekit.progress import import_tensorflow_quietly, stage

    import_tensorflow_quietly()
    from mobilekit import load_model, models, train
    from mobilekit.adapt.latency import HostLatency

    path = pathlib.Path(model_name).expanduser()
    if path.is_file():
        start = load_model(path)
        resolution = int(start.input_shape[1])
    else:
        resolution = models.check(model_name, weights=weights, alpha=alpha, resolution=resolution, **options).resolution
    data = datasets.load(
        source,
        resolution=resolution,
        batch_size=batch_size,
        validation_split=validation_split,
        test_split=test_split,
        seed=seed,
        show_progress=show,
    )
    if not path.is_file():
        with stage(f"building {model_name}", enabled=show):
            start = train.build_model(
                model_name,
                num_classes=data.num_classes,
                weights=weights,
                alpha=alpha,
                resolution=resolution,
                seed=seed,
                **options,
            )
    host = HostLatency(calibration=data.calibration_images(64), mode=mode, threads=threads, runs=runs, seed=seed)
    if table_dir is not None:
        return _export_table(start, host, folder, show)
    latency, where = host.of, host.describe()
    if recorded is not None:
        with stage("checking the latency table", enabled=show):
            table.check_fits(recorded, host, start, str(latency_table))
        latency, where = table.TableLatency(recorded, host).of, recorded.describe(latency_table)
    log = (lambda line: click.echo(line, err=True)) if show else (lambda line: None)
    state = netadapt.adapt_to(
        start,
        data,
        goal,
        latency,
        folder,
        log=log,
        show_progress=show,
        measured_on=where,
        initial_step=initial_step,
        step_decay=step_decay,
        short_steps=short_steps,
        max_iterations=max_iterations,
        selection=selection,
    )
    if state["model"] is None:
        raise click.ClickException("no iteration could shrink the model; nothing was written but adapt.json")
    adapted = load_model(folder / state["model"])
    if long_epochs:
        history = train.fit(
            adapted,
            data,
            epochs=long_epochs,
            output_dir=folder / FINETUNE_FOLDER,
            learning_rate=1e-4,
            seed=seed,
            verbose=1 if show else 0,
        )
        adapted = load_model(folder / FINETUNE_FOLDER / history["best"]["file"])
    train.save_model_atomic(adapted, folder / ADAPTED_FILE)
    files.write_atomic(folder / LABELS_FILE, ("\n".join(data.class_names) + "\n").encode(), force=True)
    before, after = latency([start, adapted])  # on the host, one interleaved run: the ratio is this machine's
    held_out = data.split("test" if data.test is not None else "validation")
    click.echo(f"adapted in {len(state['iterations'])} iteration(s) into {folder / ADAPTED_FILE}")
    click.echo(
        f"  latency   {before:.3f} ms -> {after:.3f} ms ({after / before:.2f}x, {where}, "
        f"target {state['target_ms']:.3f} ms{'' if state['reached'] else ', NOT reached: stopped after ' + state['stopped']})"
    )
    click.echo(
        f"  top-1     {train.evaluate(start, held_out)['top1']:.2%} -> {train.evaluate(adapted, held_out)['top1']:.2%}"
    )
    command = ["mobilekit", "convert", "--model", str(folder / ADAPTED_FILE)]
    command += ["--labels", str(folder / LABELS_FILE)]
    command += {"int8": ["--int8", "--calib", "YOUR_IMAGES/"], "float32": []}.get(mode, [f"--{mode}"])
    click.echo("  to ship it " + shlex.join(command))


def _adapt_folder(output_dir, force: bool) -> pathlib.Path:
    """The run folder, checked before any long work; with `force`, cleared of an earlier adaptation's files."""
    from mobilekit import files
    from mobilekit.adapt import netadapt

    folder = files.check_output_folder(
        output_dir,
        writes="adapting writes a folder (adapt.json, models)",
        owned_by_run=lambda f: (
            None
            if force or not any(f.iterdir()) or (f / netadapt.STATE_FILE).is_file()
            else f"output folder {f} holds other files and no {netadapt.STATE_FILE}; choose an empty or new folder."
        ),
    )
    if force and folder.is_dir():
        netadapt.clear(folder, also=(ADAPTED_FILE, LABELS_FILE, FINETUNE_FOLDER))
    return folder


def _export_table(start, host, folder, show: bool) -> None:
    from mobilekit.adapt import table, table_record

    recorded = table_record.record(start, host, folder, show_progress=show)
    network = recorded.networks[0]
    estimate = recorded.estimate((folder / network["file"]).read_bytes())
    click.echo(
        f"wrote {len(recorded.entries)} one-op files, {len(recorded.networks)} networks and {table.TABLE_FILE} to {folder}"
    )
    click.echo(
        f"  on this machine: {start.name} measured {network['ms']:.3f} ms, the table estimates {estimate:.3f} ms "
        f"({(estimate - network['ms']) / network['ms']:+.1%})"
    )
    click.echo(f"  time it on a phone: scripts/android_bench.sh --table {shlex.quote(str(folder))} --output phone/")
    click.echo("  then adapt with it: mobilekit adapt ... --latency-table phone/table.json")
