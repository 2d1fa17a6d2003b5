"""Keras model -> .tflite bytes, in one of four modes.

`int8` is full-integer post-training quantization: every tensor between input
and output is an integer, and the input is pinned to the raw-pixel grid (a
uint8 input value *is* the pixel value) so apps can feed camera pixels as they
are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import pathlib
import warnings
from collections.abc import Iterable

import numpy as np

from mobilekit import progress
from mobilekit.errors import UserError
from mobilekit.formats import IO_TYPES, MODES, PIXEL_RANGE
from mobilekit.export import lowering
from mobilekit.export.int8_fixes import pin_input_quantization, repair_bias_scales


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Representative inputs for int8: raw-pixel batches of shape (N, H, W, 3)."""

    batches: tuple[np.ndarray, ...]

    @property
    def count(self) -> int:
        return sum(len(b) for b in self.batches)


def output_name(model_name: str, mode: str) -> str:
    return f"{model_name}_{mode}.tflite"


def convert(
    model,
    *,
    mode: str = "int8",
    calibration: Iterable[np.ndarray] | str | pathlib.Path | None = None,
    io: str = "uint8",
    calibration_steps: int = 100,
    input_range: tuple[float, float] | None = PIXEL_RANGE,
    seed: int = 0,
    show_progress: bool = True,
    keep_hard_swish: bool = False,
) -> bytes:
    """Convert a tf_keras model to .tflite bytes.

    mode: "int8" (full integer), "fp16", "dynamic" (dynamic-range) or "float32".
    calibration (int8 only): an iterable of image batches (N, H, W, 3) of raw
        pixels, a folder of images, or None for photos bundled with scikit-image.
    io (int8 only): the input and output type, "uint8", "int8" or "float32".
    input_range: the real range of the model's input; int8 files get input
        quantization that maps the integer range exactly onto it. None keeps the
        calibrated range.
    keep_hard_swish (int8 only): keep the converter's HARD_SWISH ops and
        constant multiplies instead of the ADD/MUL form the CPU delegate
        (XNNPACK) runs whole (export.lowering); for runtimes with a fused int8
        hard-swish kernel (some NNAPI drivers).
    """
    if mode not in MODES:
        raise UserError(f"unknown conversion mode {mode!r}: expected one of {', '.join(MODES)}.")
    if io not in IO_TYPES:
        raise UserError(f"unknown --io type {io!r}: expected one of {', '.join(IO_TYPES)}.")
    if len(model.outputs) != 1:
        raise UserError(
            f"model {model.name!r} has {len(model.outputs)} outputs; a phone classifier file has one. "
            "Drop training-only heads first, e.g. mobilekit.models.strip_aux_heads(model) for GoogLeNet "
            "built with aux_logits=True."
        )

    import tensorflow as tf

    with _python_logs_silenced():
        converter = _frozen_converter(model)
    if mode == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif mode == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif mode == "int8":
        batches = calibration_batches(model, calibration, calibration_steps, seed)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = getattr(tf, io)
        converter.inference_output_type = getattr(tf, io)

    # The converter's chatter (C++ logs, absl and Python warnings about its own
    # deprecated paths) is not the user's business; its errors still raise.
    with progress.native_stderr_silenced() as stream, _python_logs_silenced():
        if mode == "int8":
            converter.representative_dataset = _representative(batches, show_progress, stream)
        with progress.stage(f"converting to {mode} TFLite", enabled=show_progress, stream=stream):
            try:
                buf = converter.convert()
            except Exception as error:  # the converter's own errors are long C++ dumps
                raise RuntimeError(f"TFLite conversion failed: {str(error)[:2000]}") from error

    if mode == "int8":
        buf = lowering.lower(buf, hard_swish=not keep_hard_swish)
        buf = repair_bias_scales(buf)
        if io != "float32" and input_range is not None:
            buf = pin_input_quantization(buf, input_range)
    return bytes(buf)


@contextlib.contextmanager
def _python_logs_silenced():
    absl_logger = logging.getLogger("absl")
    level = absl_logger.level
    absl_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        absl_logger.setLevel(level)


def _frozen_converter(model):
    """A converter over the model's inference graph with variables frozen to constants.

    Freezing first, at batch size 1, converts about five times faster than
    `from_keras_model` (which lowers to a SavedModel) and leaves static shapes,
    so squeeze-excite reshapes fold away instead of becoming SHAPE/PACK ops.
    """
    import tensorflow as tf
    from tensorflow.python.framework import convert_to_constants

    spec = tf.TensorSpec([1, *model.input_shape[1:]], tf.float32, name="image")
    function = tf.function(lambda image: model(image, training=False)).get_concrete_function(spec)
    frozen = convert_to_constants.convert_variables_to_constants_v2(function)
    return tf.lite.TFLiteConverter.from_concrete_functions([frozen])


def calibration_batches(model, calibration, steps: int, seed: int) -> Calibration:
    """Resolve the user's calibration argument to raw-pixel batches at the model's resolution."""
    from mobilekit.data import calibration as calib_data

    height, width = model.input_shape[1:3]
    if calibration is None or isinstance(calibration, (str, pathlib.Path)):
        if height != width:
            raise UserError(f"calibration from images needs a square input, the model takes {height}x{width}.")
        images = calib_data.load(calibration, height, count=steps, seed=seed)
        return Calibration(tuple(images[i : i + 1] for i in range(len(images))))
    batches = tuple(np.asarray(b, dtype=np.float32) for b in calibration)
    if not batches:
        raise UserError("the calibration iterable gave no batches. Pass at least one batch of images.")
    for batch in batches:
        if batch.ndim != 4 or batch.shape[1:] != tuple(model.input_shape[1:]):
            raise UserError(
                f"calibration batch of shape {batch.shape} does not fit the model's input "
                f"{tuple(model.input_shape)}: expected (N, {height}, {width}, 3) raw pixels."
            )
    return Calibration(batches)


def _representative(calibration: Calibration, show_progress: bool, stream):
    def generate():
        samples = (image[None] for batch in calibration.batches for image in batch)
        for sample in progress.bar(
            samples, total=calibration.count, desc="calibrating", enabled=show_progress, stream=stream
        ):
            yield [sample]

    return generate
