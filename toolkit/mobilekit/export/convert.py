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
from mobilekit.export import tflite_file

MODES = ("float32", "fp16", "dynamic", "int8")
IO_TYPES = ("uint8", "int8", "float32")

# What every mobilekit model takes: raw RGB pixels, normalized inside the graph.
PIXEL_RANGE = (0.0, 255.0)


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
) -> bytes:
    """Convert a tf_keras model to .tflite bytes.

    mode: "int8" (full integer), "fp16", "dynamic" (dynamic-range) or "float32".
    calibration (int8 only): an iterable of image batches (N, H, W, 3) of raw
        pixels, a folder of images, or None for photos bundled with scikit-image.
    io (int8 only): the input and output type, "uint8", "int8" or "float32".
    input_range: the real range of the model's input; int8 files get input
        quantization that maps the integer range exactly onto it. None keeps the
        calibrated range.
    """
    if mode not in MODES:
        raise UserError(f"unknown conversion mode {mode!r}: expected one of {', '.join(MODES)}.")
    if io not in IO_TYPES:
        raise UserError(f"unknown --io type {io!r}: expected one of {', '.join(IO_TYPES)}.")
    if len(model.outputs) != 1:
        raise UserError(
            f"model {model.name!r} has {len(model.outputs)} outputs; a phone classifier file has one. "
            "Drop training-only heads first, e.g. mobilekit.models.strip_aux_heads(model) for GoogLeNet "
            "built with aux_logits=True.")

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
        return Calibration(tuple(images[i:i + 1] for i in range(len(images))))
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
        for sample in progress.bar(samples, total=calibration.count, desc="calibrating",
                                   enabled=show_progress, stream=stream):
            yield [sample]

    return generate


# Ops whose outputs hold some of their inputs' values unchanged.
_VALUE_MOVING_OPS = {"STRIDED_SLICE", "SLICE", "SPLIT", "SPLIT_V", "CONCATENATION", "REVERSE_V2", "GATHER",
                     "RESHAPE", "TRANSPOSE"}


def _is_quantized_integer(tensor) -> bool:
    return (tensor.type in (tflite_file.schema.TensorType.UINT8, tflite_file.schema.TensorType.INT8)
            and tensor.quantization is not None and tensor.quantization.scale is not None
            and len(tensor.quantization.scale) > 0)


def pin_input_quantization(buf: bytes, input_range: tuple[float, float]) -> bytes:
    """Make the integer input map exactly onto `input_range` (scale 1, zero point 0 for pixels).

    Calibration only sees the pixel values present in its images; apps feed every
    value 0..255 as is. The input tensor, the int8 tensor right after a uint8
    input's QUANTIZE op, and the outputs of ops that only move those values
    (slices, splits, concatenations of them: a BGR flip) get the exact affine
    map; kernels read it at init. Moving ops need equal input and output
    quantization (XNNPACK refuses them otherwise).
    """
    model = tflite_file.read(buf)
    graph = model.subgraphs[0]
    low, high = input_range
    scale = (high - low) / 255.0
    targets = list(graph.inputs)
    for op in graph.operators:  # in execution order, so chains of moving ops follow
        name = tflite_file.op_name(model, op.opcodeIndex)
        if name == "QUANTIZE" and op.inputs[0] in graph.inputs:
            targets.extend(op.outputs)
        elif name in _VALUE_MOVING_OPS:
            data = [i for i in op.inputs if i >= 0 and _is_quantized_integer(graph.tensors[i])]
            if data and all(i in targets for i in data):
                targets.extend(op.outputs)
    for index in targets:
        tensor = graph.tensors[index]
        dtype_min = {tflite_file.schema.TensorType.UINT8: 0, tflite_file.schema.TensorType.INT8: -128}.get(tensor.type)
        if dtype_min is None or tensor.quantization is None:
            continue
        quantization = tensor.quantization
        quantization.scale = [scale]
        quantization.zeroPoint = [int(round(dtype_min - low / scale))]
        quantization.min, quantization.max = [low], [high]
    return tflite_file.write(model)


_BIASED_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"})  # inputs: data, weights, bias


def repair_bias_scales(buf: bytes) -> bytes:
    """Requantize int32 biases whose scale is not input scale x weight scale, as integer kernels assume.

    The converter breaks that rule when a QAT model (fake-quantization ranges)
    is also calibrated (a representative dataset, which full-integer files
    need for tensors QAT leaves without a range): a bias after an activation
    whose QAT range differs from its calibrated one keeps the calibrated
    input's scale. Kernels read the int32 values as if on input x weight
    scale, so the bias came out several times too large (a squeeze-excite gate
    stuck at its maximum). The bias values are kept, put on the right scale.
    """
    model = tflite_file.read(buf)
    graph = model.subgraphs[0]
    changed = False
    for op in graph.operators:
        if tflite_file.op_name(model, op.opcodeIndex) not in _BIASED_OPS or len(op.inputs) < 3 or op.inputs[2] < 0:
            continue
        data, weights, bias = (graph.tensors[i] for i in op.inputs[:3])
        if bias.type != tflite_file.schema.TensorType.INT32 or not all(
                _is_quantized_integer(t) for t in (data, weights)) or bias.quantization is None:
            continue
        expected = float(data.quantization.scale[0]) * np.asarray(weights.quantization.scale, dtype=np.float64)
        actual = np.asarray(bias.quantization.scale, dtype=np.float64)
        if actual.shape == expected.shape and np.allclose(actual, expected, rtol=1e-4):
            continue
        buffer = model.buffers[bias.buffer]
        values = np.frombuffer(bytes(bytearray(buffer.data)), dtype="<i4").astype(np.float64)
        real = values * np.broadcast_to(actual, values.shape)
        scales = np.broadcast_to(expected, values.shape)
        requantized = np.clip(np.round(real / scales), np.iinfo(np.int32).min, np.iinfo(np.int32).max)
        buffer.data = np.frombuffer(requantized.astype("<i4").tobytes(), dtype=np.uint8)
        bias.quantization.scale = [float(v) for v in expected]
        bias.quantization.zeroPoint = [0] * len(expected)
        changed = True
    return tflite_file.write(model) if changed else buf
