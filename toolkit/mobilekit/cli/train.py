"""`mobilekit train`: train or fine-tune a zoo model on a folder, an .npz or a bundled dataset; a segmentation
model on a mask folder or digit_scenes (the task follows the model)."""

from __future__ import annotations

import contextlib
import pathlib
import shlex
import sys

import click

from mobilekit.cli.options import (
    data_option,
    distribute_option,
    force_option,
    model_options,
    output_folder_option,
    parse_options,
    quiet_option,
    seed_option,
    split_options,
    start_distribution,
)
from mobilekit.train import DEFAULT_BN_MOMENTUM, DEFAULT_SCHEDULE, OPTIMIZERS, SCHEDULES
from mobilekit.train.loop import DEFAULT_BACKUP_STEPS


@click.command()
@model_options(weights="ImageNet backbone (fine-tuning), random init (from scratch), or a .keras/.h5/.weights.h5 file.")
@data_option(
    required=True,
    help="Folder of class sub-folders, .npz file with x and y, or a bundled dataset: mnist5k, digits. "
    "For a segmentation model: a folder with labels.txt, images/ and masks/, or digit_scenes.",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    required=True,
    help="Total epochs; a resumed run trains only the missing ones.",
)
@output_folder_option(help="Run folder: best.keras, history.json, labels.txt, resume/. Rerun to resume.")
@click.option("--freeze-base", is_flag=True, help="Train only the classifier top; the backbone stays frozen.")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Images per step.")
@click.option(
    "--learning-rate",
    type=click.FloatRange(min=0, min_open=True),
    default=1e-3,
    show_default=True,
    help="Learning rate.",
)
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="adam", show_default=True, help="Optimizer.")
@click.option(
    "--schedule",
    type=click.Choice(SCHEDULES),
    default=DEFAULT_SCHEDULE,
    show_default=True,
    help="Learning rate over the epochs: cosine decay towards 0 at the last epoch, or constant.",
)
@click.option(
    "--bn-momentum",
    type=float,
    default=DEFAULT_BN_MOMENTUM,
    show_default=True,
    help="Batch-norm momentum while training (the zoo's 0.99/0.999 need long schedules).",
)
@split_options(whose="picks the best checkpoint")
@click.option("--no-augment", is_flag=True, help="No random crops or mirrors on training images.")
@seed_option(help="Seed for init, validation split, order, augmentation.")
@force_option(help="Discard an earlier run in DIR and start over.")
@distribute_option(default="auto")
@click.option(
    "--backup-dir",
    type=click.Path(path_type=pathlib.Path),
    default=None,
    help="Where the training state is backed up while training, reachable by every worker  [default: DIR/backup].",
)
@click.option(
    "--backup-steps",
    type=click.IntRange(min=1),
    default=DEFAULT_BACKUP_STEPS,
    show_default=True,
    help="Steps between backups: a run killed mid-epoch and started again redoes at most these.",
)
@quiet_option
def train(
    model_name,
    source,
    epochs,
    output_dir,
    weights,
    freeze_base,
    resolution,
    alpha,
    option_pairs,
    batch_size,
    learning_rate,
    optimizer,
    schedule,
    bn_momentum,
    validation_split,
    test_split,
    no_augment,
    seed,
    force,
    distribution,
    backup_dir,
    backup_steps,
    quiet,
):
    """Train or fine-tune a zoo model; rerunning with the same --output resumes.

    \b
    Examples:
      mobilekit train --model mobilenet_v3_small --alpha 0.35 --resolution 32 \\
          --data digits --weights none --epochs 10 --output runs/digits
      mobilekit train --model efficientnet_b0 --data photos/ --freeze-base --epochs 5 --output runs/photos
      mobilekit train --model lraspp_mobilenet_v3_small --resolution 96 --data digit_scenes \\
          --weights none --epochs 12 --output runs/scenes
      python scripts/local_cluster.py --workers 2 -- mobilekit train ... --output runs/two_workers
    """
    from mobilekit import train as training
    from mobilekit.data import datasets

    # Everything that needs no TensorFlow first: a mistake there is reported at once.
    show = not quiet
    options = parse_options(option_pairs)
    training.check_bn_momentum(bn_momentum)
    data_task = datasets.check(source, validation_split=validation_split, test_split=test_split)
    folder = training.check_output(output_dir, force=force)
    earlier = None if force else training.run_state(folder)
    resuming = earlier is not None and earlier.epochs_done > 0
    if not resuming:
        training.check_weights_file(weights)

    from mobilekit.progress import import_tensorflow_quietly
    from mobilekit.train import distribute

    import_tensorflow_quietly()
    strategy = start_distribution(distribution, show)
    with strategy.scope(), distribute.worker_output(folder, strategy) as writes:
        from mobilekit import models
        from mobilekit.progress import stage

        # The name, settings and options; ImageNet weights reachable (a resumed run has its own weights).
        resolution = models.check(
            model_name,
            weights=None if resuming else weights,
            alpha=alpha,
            resolution=resolution,
            include_top=False,
            **options,
        ).resolution
        task = models.info(model_name).task
        datasets.check_task(source, data_task, task, model_name)
        data = datasets.load(
            source,
            resolution=resolution,
            batch_size=batch_size,
            validation_split=validation_split,
            test_split=test_split,
            seed=seed,
            augment=not no_augment,
            show_progress=show,
            shard=distribute.input_shard(strategy),
            task=task,
        )
        if show:
            click.echo(
                f"data: {data.describe()}",
                err=True,
            )
        # A resumed run gets its weights from the checkpoint: no need to fetch ImageNet weights again.
        build_weights = None if resuming else weights
        with stage(
            f"building {model_name} ({resolution}px, alpha {alpha}, weights "
            f"{'from ' + str(folder) if resuming else weights})",
            enabled=show,
        ):
            model = training.build_model(
                model_name,
                num_classes=data.num_classes,
                weights=build_weights,
                alpha=alpha,
                resolution=resolution,
                bn_momentum=bn_momentum,
                seed=seed,
                **options,
            )
        run_info = {
            "build": {"model": model_name, "alpha": alpha, "resolution": resolution, "options": options},
            "weights": earlier.config.get("weights", weights) if resuming else weights,
            "bn_momentum": bn_momentum,
            "data_options": {
                "source": source,
                "validation_split": validation_split,
                "test_split": test_split,
                "seed": seed,
                "augment": not no_augment,
            },
        }
        verbose = 0 if quiet else (1 if sys.stderr.isatty() else 2)
        with contextlib.redirect_stdout(sys.stderr):  # keras' progress bar; stdout stays for the summary
            history = training.fit(
                model,
                data,
                epochs=epochs,
                output_dir=writes,
                backup_dir=backup_dir,
                backup_steps=backup_steps,
                learning_rate=learning_rate,
                optimizer=optimizer,
                schedule=schedule,
                freeze_base=freeze_base,
                seed=seed,
                verbose=verbose,
                force=force,
                run_info=run_info,
            )
        _summary(writes, history, data, model_name, resolution, alpha, option_pairs, show)


def _summary(folder, history, data, model_name, resolution, alpha, option_pairs, show) -> None:
    from mobilekit import train as training

    best = history.get("best")
    epochs = history.get("epochs") or []
    click.echo(f"trained {model_name}: {len(epochs)} epoch(s) in {folder}")
    if best is None:
        return
    monitor = history["monitor"]
    figure = "mean IoU" if monitor.endswith("miou") else "accuracy"
    label = f"{'validation' if monitor.startswith('val_') else 'training'} {figure}"
    click.echo(f"  best           epoch {best['epoch']}, {label} {best[monitor]:.2%}  -> {folder / best['file']}")
    if data.test is not None:
        import mobilekit

        model = mobilekit.load_model(folder / best["file"])
        result = training.evaluate(model, data.test)
        scores = (
            f"mean IoU {result['miou']:.2%}, pixel accuracy {result['pixel_accuracy']:.2%}"
            if data.task == "segmentation"
            else f"top-1 {result['top1']:.2%}, top-5 {result['top5']:.2%}"
        )
        click.echo(f"  test           {scores} on {result['count']} held-out images")
    click.echo(f"  history        {folder / training.HISTORY_FILE}")
    click.echo(f"  labels         {folder / training.LABELS_FILE}")
    command = [
        "mobilekit",
        "convert",
        "--model",
        model_name,
        "--weights",
        str(folder / best["file"]),
        "--resolution",
        str(resolution),
        "--alpha",
        f"{alpha:g}",
        "--num-classes",
        str(data.num_classes),
        "--labels",
        str(folder / training.LABELS_FILE),
    ]
    for pair in option_pairs:
        command += ["--option", pair]
    click.echo("  to ship it     " + shlex.join(command) + " --int8 --calib YOUR_IMAGES/")
