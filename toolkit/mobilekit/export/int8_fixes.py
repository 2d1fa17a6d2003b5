"""Fixes to converted int8 files that integer kernels and apps depend on.

- `pin_input_quantization`: the integer input maps exactly onto the pixel range.
- `repair_bias_scales`: every int32 bias on input scale x weight scale.
"""

from __future__ import annotations

import numpy as np

from mobilekit.export import tflite_file

# Ops whose outputs hold some of their inputs' values unchanged.
_VALUE_MOVING_OPS = {
    "STRIDED_SLICE",
    "SLICE",
    "SPLIT",
    "SPLIT_V",
    "CONCATENATION",
    "REVERSE_V2",
    "GATHER",
    "RESHAPE",
    "TRANSPOSE",
}


def is_quantized_integer(tensor) -> bool:
    return (
        tensor.type in (tflite_file.schema.TensorType.UINT8, tflite_file.schema.TensorType.INT8)
        and tensor.quantization is not None
        and tensor.quantization.scale is not None
        and len(tensor.quantization.scale) > 0
    )


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
            data = [i for i in op.inputs if i >= 0 and is_quantized_integer(graph.tensors[i])]
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


BIASED_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"})  # inputs: data, weights, bias


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
        if tflite_file.op_name(model, op.opcodeIndex) not in BIASED_OPS or len(op.inputs) < 3 or op.inputs[2] < 0:
            continue
        data, weights, bias = (graph.tensors[i] for i in op.inputs[:3])
        if (
            bias.type != tflite_file.schema.TensorType.INT32
            or not all(is_quantized_integer(t) for t in (data, weights))
            or bias.quantization is None
        ):
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
