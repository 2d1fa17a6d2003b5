"""`mobilekit convert`: zoo model -> .tflite with TFLite Metadata, plus a summary."""

from __future__ import annotations

import pathlib

import click

from mobilekit.cli.options import force_option, model_options, parse_options, quiet_option, seed_option
from mobilekit.errors import UserError
from mobilekit.formats import IO_TYPES

MODE_FLAGS = {"int8": "--int8", "fp16": "--fp16", "dynamic": "--dynamic"}


def pick_mode(int8: bool, fp16: bool, dynamic: bool) -> str:
    chosen = [mode for mode, flag in zip(MODE_FLAGS, (int8, fp16, dynamic)) if flag]
    if len(chosen) > 1:
        flags = " and ".join(MODE_FLAGS[m] for m in chosen)
        raise UserError(f"{flags} conflict: choose one of --int8, --fp16, --dynamic (none for float32).")
    return chosen[0] if chosen else "float32"


@click.command()
@model_options(weights="ImageNet weights via keras.applications' cache, random init, or a .h5/.keras/.weights.h5 file.")
@click.option("--int8", is_flag=True, help="Full-integer quantization with a representative dataset.")
@click.option("--fp16", is_flag=True, help="Float16 weights.")
@click.option("--dynamic", is_flag=True, help="Dynamic-range quantization (int8 weights, float activations).")
@click.option(
    "--keep-hard-swish",
    is_flag=True,
    help="--int8: keep TFLite's HARD_SWISH op (for NNAPI drivers with an int8 kernel for it) instead "
    "of the ADD/MUL form the CPU delegate runs.",
)
@click.option(
    "--io", type=click.Choice(IO_TYPES), default=None, help="Input/output type of an --int8 file.  [default: uint8]"
)
@click.option(
    "--num-classes",
    type=click.IntRange(min=1),
    default=None,
    help="Classes of the output  [default: the --labels file's lines; else 1000 for classifiers, the reference's "
    "21 for segmentation models].",
)
@click.option(
    "--labels",
    "labels_path",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    default=None,
    help="Text file, one label per class  [default: ImageNet names for 1000 classes].",
)
@click.option(
    "--calib",
    type=click.Path(path_type=pathlib.Path),
    default=None,
    help="Folder of calibration images, searched recursively  [default: photos bundled with scikit-image].",
)
@click.option(
    "--calib-steps", type=click.IntRange(min=1), default=100, show_default=True, help="Number of calibration images."
)
@seed_option(help="Seed for calibration crops and flips.")
@click.option(
    "--output",
    "output_path",
    type=click.Path(path_type=pathlib.Path),
    default=None,
    help="Output file  [default: <model>_<mode>.tflite in the current folder].",
)
@force_option(help="Overwrite an existing output file.")
@quiet_option
def convert(
    model_name,
    int8,
    fp16,
    dynamic,
    keep_hard_swish,
    io,
    weights,
    resolution,
    alpha,
    num_classes,
    option_pairs,
    labels_path,
    calib,
    calib_steps,
    seed,
    output_path,
    force,
    quiet,
):
    """Build a zoo model (or read a saved one) and convert it to .tflite with TFLite Metadata.

    --model takes a zoo NAME, or a model file mobilekit saved (an adapted.keras,
    a best.keras): the file's own layers, resolution and classes are used.

    \b
    Examples:
      mobilekit convert --model efficientnet_b0 --int8
      mobilekit convert --model mobilenet_v3_small --int8 --weights none --calib photos/
      mobilekit convert --model densenet121 --int8 --weights none --option growth_rate=24
    """
    from mobilekit import files
    from mobilekit.data import images as image_files
    from mobilekit.export.convert import output_name
    from mobilekit.formats import check_weights_file

    # Everything that needs no TensorFlow first: a mistake there is reported at once.
    mode = pick_mode(int8, fp16, dynamic)
    options = parse_options(option_pairs)
    if io is not None and mode != "int8":
        raise UserError(f"--io applies to --int8 files only; a {mode} file keeps float32 input and output.")
    if keep_hard_swish and mode != "int8":
        raise UserError(
            f"--keep-hard-swish applies to --int8 files only; a {mode} file always keeps "
            "HARD_SWISH, which the CPU and GPU delegates run in float."
        )
    model_file = pathlib.Path(model_name).expanduser()
    model_file = model_file if model_file.suffix in (".keras", ".h5") and model_file.is_file() else None
    name = model_file.stem if model_file else model_name
    output_path = files.check_writable(output_path or pathlib.Path(output_name(name, mode)), force=force)
    if model_file is None and labels_path is not None:
        labels = read_labels(labels_path, num_classes)
        num_classes = len(labels)
    if calib is not None:
        image_files.find_images(calib)
    check_weights_file(weights)

    from mobilekit.progress import import_tensorflow_quietly

    import_tensorflow_quietly()
    from mobilekit import __version__, load_model, models

    if model_file is None:
        info = models.info(model_name)
        if num_classes is None:
            num_classes = info.reference_counts.num_classes if info.task == "segmentation" else 1000
        if labels_path is None:
            labels = read_labels(None, num_classes)
        task = info.task
        # The name, settings, options and ImageNet weights, before the calibration images and the build.
        resolution = models.check(
            model_name, weights=weights, alpha=alpha, resolution=resolution, num_classes=num_classes, **options
        ).resolution
    else:
        saved = load_model(model_file)
        resolution, num_classes = int(saved.input_shape[1]), int(saved.output_shape[-1])
        labels = read_labels(labels_path, num_classes)
        task = "segmentation" if len(saved.output_shape) == 4 else "classification"

    from mobilekit.data import calibration
    from mobilekit.export import convert as export_convert
    from mobilekit.export import metadata
    from mobilekit.models.complexity import count_params
    from mobilekit.progress import stage
    from mobilekit.runtime import evaluate
    from mobilekit.runtime.interpreter import TFLiteModel

    show = not quiet
    images = calibration.load(calib, resolution, count=calib_steps, seed=seed, warn=mode == "int8")
    if model_file is None:
        with stage(f"building {model_name} ({resolution}px, alpha {alpha}, weights {weights})", enabled=show):
            model = models.build(
                model_name, weights=weights, alpha=alpha, resolution=resolution, num_classes=num_classes, **options
            )
            model = models.strip_aux_heads(model)  # training-only heads (GoogLeNet's) are not exported
        description = _description(models.info(model_name).description, mode, resolution, f"alpha {alpha}", weights)
    else:
        model = saved
        description = _description(f"{name} from {model_file.name}", mode, resolution, "saved model", str(model_file))
    buf = export_convert.convert(
        model,
        mode=mode,
        calibration=[images],
        io=io or "uint8",
        seed=seed,
        show_progress=show,
        keep_hard_swish=keep_hard_swish,
    )
    spec = metadata.SegmenterMetadataSpec if task == "segmentation" else metadata.ModelMetadataSpec
    buf = metadata.attach(
        buf, spec(name=name, labels=labels, version=__version__, author="mobilekit", description=description)
    )
    files.write_atomic(output_path, buf, force=force)

    reference = model.predict(images, batch_size=16, verbose=0)
    tflite = TFLiteModel(buf)
    agreement = evaluate.compare(reference, evaluate.predict(tflite, images, show_progress=show))
    print_summary(
        output_path,
        buf,
        agreement,
        count_params(model),
        random_weights=model_file is None and models.weights_source(weights) is None,
    )
    print_delegate_coverage(tflite.delegate_coverage())


def _description(what: str, mode: str, resolution: int, width: str, weights: str) -> str:
    return (
        f"{what} {resolution}x{resolution} RGB, {width}, {mode} TFLite, "
        f"weights: {weights}. Takes raw RGB pixels 0..255."
    )


def read_labels(labels_path, num_classes: int | None) -> tuple:
    """The labels file's lines (as many as `num_classes`, when given), or the default labels of `num_classes`."""
    from mobilekit.data import labels as label_data

    return label_data.read_labels(labels_path, num_classes) if labels_path else label_data.default_labels(num_classes)


def print_summary(path: pathlib.Path, buf: bytes, agreement, params: int, *, random_weights: bool) -> None:
    from mobilekit.cli.display import describe_io, format_ops
    from mobilekit.export import tflite_file

    summary = tflite_file.summarize(buf)
    click.echo(f"wrote {path}")
    click.echo(
        f"  size           {summary.size_bytes / 1e6:.2f} MB  "
        f"({summary.size_bytes / max(params, 1):.2f} bytes per parameter, {params:,} parameters)"
    )
    click.echo(
        f"  fully integer  {'yes' if summary.fully_integer else 'no'}"
        + ("" if summary.fully_integer else f" ({len(summary.float_tensors)} float tensors inside)")
    )
    for line in describe_io(summary):
        click.echo(f"  {line}")
    click.echo(f"  ops            {format_ops(summary.ops)}")
    agreeing = "same class per pixel" if len(summary.outputs[0].shape) == 4 else "top-1 agreement"
    click.echo(
        f"  vs float Keras on {agreement.count} calibration images: {agreeing} "
        f"{agreement.top1:.1%}, largest score difference {agreement.max_abs_diff:.4f}"
    )
    if random_weights:
        click.echo(f"  (random weights give near-uniform scores, so the {agreeing} says little here)")


def print_delegate_coverage(cpu) -> None:
    """How LiteRT's CPU delegate splits the file, with a warning when it runs in more than one piece."""
    click.echo(f"  cpu delegate   {cpu.describe()}")
    if cpu.partitions > 1:
        left = ", ".join(cpu.left_out)
        click.echo(
            f"warning: XNNPACK runs this file in {cpu.partitions} pieces, with {left} on the interpreter "
            "between them; each switch costs time. `mobilekit inspect` shows the same; see README, "
            "'Delegate coverage'.",
            err=True,
        )
