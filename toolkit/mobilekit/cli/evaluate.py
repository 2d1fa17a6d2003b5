"""`mobilekit eval`: top-1 / top-5 accuracy of a .tflite classifier, or mean IoU, per-class IoU and pixel
accuracy of a .tflite segmenter, with the LiteRT interpreter."""

from __future__ import annotations

import json
import pathlib

import click

from mobilekit.cli.options import data_option, quiet_option, seed_option, split_options
from mobilekit.formats import SPLITS


@click.command(name="eval")
@click.argument("path", type=click.Path(path_type=pathlib.Path), metavar="FILE.tflite")
@data_option(
    required=True,
    help="Folder of class sub-folders, .npz file with x and y, or a bundled dataset: mnist5k, digits. "
    "For a segmentation file: a folder with labels.txt, images/ and masks/, or digit_scenes.",
)
@click.option("--split", type=click.Choice(SPLITS), default="test", show_default=True, help="Which split to evaluate.")
@seed_option(help="The training run's --seed (it draws the validation split; the test split never depends on it).")
@split_options(whose="give the training run's")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@quiet_option
def evaluate(path, source, split, seed, validation_split, test_split, as_json, quiet):
    """Accuracy of a .tflite classifier, or mean IoU of a segmenter, on a labelled dataset.

    Reads the input size from the file and the labels and normalization from
    its metadata, matches the labels to the data's class names, and runs every
    image through the LiteRT interpreter (uint8, int8 or float32 input). A file
    whose output has a class per pixel is a segmenter: its probabilities are
    resized to each mask as MediaPipe's ImageSegmenter resizes them (bilinear, corners aligned) and the most
    probable class taken per pixel
    (MediaPipe's category mask); pixels marked 255 in the masks are not counted.

    \b
    Examples:
      mobilekit eval digits_int8.tflite --data digits
      mobilekit eval model.tflite --data photos/ --split validation --json
      mobilekit eval lraspp_int8.tflite --data digit_scenes
    """
    from mobilekit.data import datasets
    from mobilekit.errors import UserError
    from mobilekit.export import integrity, metadata, tflite_file
    from mobilekit.runtime import trial

    # Everything that needs no TensorFlow first: a mistake there is reported at once.
    buf = tflite_file.read_path(path)
    with integrity.naming(path):
        trial.check_runs(buf)
        task = metadata.task_of(buf) or "classification"  # the app's rule; what cannot be told runs as a classifier
    data_task = datasets.check(source, validation_split=validation_split, test_split=test_split)
    datasets.check_task(source, data_task, task, str(path))
    if {"validation": validation_split, "test": test_split}.get(split) == 0:
        raise UserError(
            f"the {split} split is empty with --{split}-split 0. Choose another --split, "
            f"or give the training run's --{split}-split."
        )

    from mobilekit.progress import import_tensorflow_quietly

    import_tensorflow_quietly()
    from mobilekit.runtime import evaluate as runtime_evaluate
    from mobilekit.runtime import segmentation as runtime_segmentation

    evaluation = runtime_segmentation.scores if task == "segmentation" else runtime_evaluate.accuracy
    with integrity.naming(path):
        result = evaluation(
            buf,
            source,
            split=split,
            seed=seed,
            validation_split=validation_split,
            test_split=test_split,
            show_progress=not quiet,
        )
    if as_json:
        click.echo(json.dumps({"file": str(path), "task": task, **result.to_json()}, indent=2))
        return
    if task == "segmentation":
        _print_segmentation(path, result)
        return
    click.echo(f"{path} on {result.source} ({result.split} split, {result.count} images, {result.classes} classes)")
    click.echo(f"  top-1          {result.top1:.2%}")
    click.echo(f"  top-5          {result.top5:.2%}")
    norm = (
        "none (raw pixels 0..255)"
        if not any(result.mean) and all(s == 1 for s in result.std)
        else f"mean {list(result.mean)}, std {list(result.std)}"
    )
    click.echo(f"  input          {result.input_dtype} {result.resolution}x{result.resolution}x3, normalization {norm}")
    click.echo(
        f"  labels         {'matched by name from the metadata' if result.labels == 'metadata' else 'none in the file: data order'}"
    )


def _print_segmentation(path, result) -> None:
    click.echo(f"{path} on {result.source} ({result.split} split, {result.count} images, {len(result.iou)} classes)")
    click.echo(f"  mean IoU       {result.miou:.2%}")
    click.echo(f"  pixel accuracy {result.pixel_accuracy:.2%} of {result.pixels:,} pixels")
    per_class = ", ".join(f"{name} {'-' if iou is None else f'{iou:.1%}'}" for name, iou in result.iou.items())
    click.echo(f"  IoU per class  {per_class}")
    height, width = result.output_size
    click.echo(
        f"  input          {result.input_dtype} {result.resolution}x{result.resolution}x3; class probabilities "
        f"at {height}x{width}, resized to the masks as MediaPipe does"
    )
    click.echo(
        f"  labels         {'matched by name from the metadata' if result.labels == 'metadata' else 'none in the file: data order'}"
    )
