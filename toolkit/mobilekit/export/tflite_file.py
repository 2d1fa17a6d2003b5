"""Read, edit and describe .tflite flatbuffers.

Built on the TFLite schema bindings that ship with LiteRT (`ai_edge_litert`), so
inspecting a file never imports TensorFlow.
"""

from __future__ import annotations

import collections
import dataclasses
import pathlib

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

from mobilekit.errors import UserError
from mobilekit.export import integrity

FILE_IDENTIFIER = b"TFL3"

_TYPE_NAMES = {value: name.lower() for name, value in vars(schema.TensorType).items() if not name.startswith("_")}
_OP_NAMES = {value: name for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
FLOAT_TYPES = frozenset({"float32", "float16", "float64", "bfloat16"})


@dataclasses.dataclass(frozen=True)
class Quantization:
    scale: tuple[float, ...]
    zero_point: tuple[int, ...]
    axis: int = 0


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    quantization: Quantization | None
    is_constant: bool


@dataclasses.dataclass(frozen=True)
class Summary:
    """What a .tflite file holds, as `mobilekit inspect` and `convert` report it."""

    size_bytes: int
    ops: dict[str, int]
    tensors: tuple[TensorInfo, ...]
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    metadata_names: tuple[str, ...]

    @property
    def float_tensors(self) -> tuple[TensorInfo, ...]:
        """Float tensors between the graph's inputs and outputs (the I/O themselves excluded)."""
        io = {t.index for t in self.inputs + self.outputs}
        return tuple(t for t in self.tensors if t.dtype in FLOAT_TYPES and t.index not in io)

    @property
    def fully_integer(self) -> bool:
        return not self.float_tensors

    @property
    def dtypes(self) -> dict[str, int]:
        return dict(collections.Counter(t.dtype for t in self.tensors))


def check_identifier(buf: bytes) -> None:
    if len(buf) < 8 or bytes(buf[4:8]) != FILE_IDENTIFIER:
        raise UserError(
            "not a TFLite model: the file does not carry the 'TFL3' flatbuffer identifier. "
            "Pass a .tflite file written by `mobilekit convert` or TFLiteConverter."
        )


def read_path(path) -> bytes:
    """A .tflite file's bytes; UserError for a missing path, a folder, or a file that is not TFLite
    or is damaged (integrity.check), naming the file."""
    path = pathlib.Path(path)
    if not path.is_file():
        why = "" if path.exists() else ": it does not exist"
        raise UserError(f"{path} is not a file{why}. Pass the path of a .tflite model.")
    buf = path.read_bytes()
    try:
        check_identifier(buf)
    except UserError as error:
        raise UserError(f"{path}: {error}") from None
    with integrity.naming(path):
        read(buf)
    return buf


def read(buf: bytes) -> schema.ModelT:
    """Parse model bytes into the mutable object tree of the TFLite schema.

    Raises UserError for bytes that are not a TFLite file, and integrity.DamagedFile
    for one that a cut or a flipped byte broke (see integrity.check).
    """
    check_identifier(buf)
    model = integrity.parse(bytearray(buf))
    integrity.check(model, len(buf))
    return model


def write(model: schema.ModelT) -> bytes:
    """Serialize an object tree back to model bytes."""
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def op_name(model: schema.ModelT, opcode_index: int) -> str:
    code = model.operatorCodes[opcode_index]
    builtin = max(code.builtinCode, code.deprecatedBuiltinCode)
    if builtin == schema.BuiltinOperator.CUSTOM:
        custom = code.customCode
        return f"CUSTOM:{custom.decode(errors='replace') if isinstance(custom, bytes) else custom}"
    return _OP_NAMES.get(builtin, f"BUILTIN_{builtin}")


def decode(name) -> str:
    return name.decode(errors="replace") if isinstance(name, (bytes, bytearray)) else str(name)


def _quantization(params) -> Quantization | None:
    if params is None or params.scale is None or len(params.scale) == 0:
        return None
    zero_point = params.zeroPoint if params.zeroPoint is not None else [0] * len(params.scale)
    return Quantization(
        scale=tuple(float(s) for s in params.scale),
        zero_point=tuple(int(z) for z in zero_point),
        axis=int(params.quantizedDimension),
    )


def tensor_info(model: schema.ModelT, index: int) -> TensorInfo:
    tensor = model.subgraphs[0].tensors[index]
    buffer = model.buffers[tensor.buffer] if model.buffers else None
    return TensorInfo(
        index=index,
        name=decode(tensor.name),
        dtype=_TYPE_NAMES.get(tensor.type, f"type_{tensor.type}"),
        shape=tuple(int(d) for d in (tensor.shape if tensor.shape is not None else ())),
        quantization=_quantization(tensor.quantization),
        is_constant=buffer is not None and buffer.data is not None and len(buffer.data) > 0,
    )


def summarize(buf: bytes) -> Summary:
    return summary_of(read(buf), len(buf))


def summary_of(model: schema.ModelT, size_bytes: int) -> Summary:
    """The Summary of a model that `read` parsed from `size_bytes` bytes."""
    graph = model.subgraphs[0]
    ops = collections.Counter(op_name(model, op.opcodeIndex) for op in graph.operators)
    tensors = tuple(tensor_info(model, i) for i in range(len(graph.tensors)))
    return Summary(
        size_bytes=size_bytes,
        ops=dict(sorted(ops.items(), key=lambda item: (-item[1], item[0]))),
        tensors=tensors,
        inputs=tuple(tensors[i] for i in graph.inputs),
        outputs=tuple(tensors[i] for i in graph.outputs),
        metadata_names=tuple(decode(m.name) for m in (model.metadata or [])),
    )


def metadata_buffer(model: schema.ModelT, name: str) -> bytes | None:
    """The bytes of the named entry of `Model.metadata`, or None."""
    for entry in model.metadata or []:
        if decode(entry.name) == name:
            data = model.buffers[entry.buffer].data
            return None if data is None else np.asarray(data, dtype=np.uint8).tobytes()
    return None


def set_metadata_buffer(model: schema.ModelT, name: str, data: bytes) -> None:
    """Add or replace the named `Model.metadata` entry with `data`."""
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(data, dtype=np.uint8)
    for entry in model.metadata or []:
        if decode(entry.name) == name:
            model.buffers[entry.buffer] = buffer
            return
    entry = schema.MetadataT()
    entry.name = name
    entry.buffer = len(model.buffers)
    model.buffers.append(buffer)
    model.metadata = list(model.metadata or []) + [entry]


# ---------------------------------------------------------------------------
# Multiply-accumulates and parameters of a file
# ---------------------------------------------------------------------------

# Weighted ops: (filter input index, bias input index). Their MACs follow
# mobilekit.counting.macs: output positions * filter elements, the rule that
# mobilekit.models.count_macs applies to Conv2D / DepthwiseConv2D / Dense /
# Conv2DTranspose kernels (TFLite filters hold the same elements as the Keras
# kernels, reordered: CONV_2D (cout, kh, kw, cin), DEPTHWISE_CONV_2D
# (1, kh, kw, c*m), FULLY_CONNECTED (out, in), TRANSPOSE_CONV (cout, kh, kw, cin)).
WEIGHTED_OPS = {
    "CONV_2D": (1, 2),
    "DEPTHWISE_CONV_2D": (1, 2),
    "FULLY_CONNECTED": (1, 2),
    "TRANSPOSE_CONV": (1, 3),
    "CONV_3D": (1, 2),
}


@dataclasses.dataclass(frozen=True)
class Complexity:
    """MACs and parameters of one inference at batch 1, counted from the graph.

    weights: elements of the weighted ops' filters (= the Keras kernels).
    params: weights plus the biases of those ops. Two conversion effects make it
    differ from the Keras model's trainable count: batch norm is folded (a
    Conv2D(use_bias=False) + BatchNormalization pair, 2*C Keras parameters
    beyond the kernel, becomes one CONV_2D with a C-element bias), and a
    FULLY_CONNECTED whose bias is all zeros (an untrained Dense) gets none.
    """

    macs: int
    weights: int
    params: int
    ops: dict[str, int]  # MACs per op type


def complexity(buf: bytes) -> Complexity:
    from mobilekit.counting import macs

    model = read(buf)
    graph = model.subgraphs[0]
    shape = lambda index: tuple(int(d) for d in graph.tensors[index].shape)  # noqa: E731
    per_op = collections.Counter()
    weights = biases = 0
    for op in graph.operators:
        name = op_name(model, op.opcodeIndex)
        if name not in WEIGHTED_OPS:
            continue
        filter_at, bias_at = WEIGHTED_OPS[name]
        inputs = list(op.inputs)
        kernel = shape(inputs[filter_at])
        output = shape(op.outputs[0])
        positions = int(np.prod(output[:-1])) if output else 1  # batch 1: the leading 1 counts once
        per_op[name] += macs(positions, kernel)
        weights += int(np.prod(kernel))
        if len(inputs) > bias_at and inputs[bias_at] >= 0:
            biases += int(np.prod(shape(inputs[bias_at])))
    return Complexity(macs=int(sum(per_op.values())), weights=weights, params=weights + biases, ops=dict(per_op))


def quantization_mode(summary: Summary) -> str:
    """The conversion mode a file looks like: int8, fp16, dynamic, float32 or unknown."""
    dtypes = {t.dtype for t in summary.tensors}
    constant_types = {t.dtype for t in summary.tensors if t.is_constant}
    if summary.fully_integer:
        return "int8"
    if "float16" in constant_types:
        return "fp16"
    if constant_types & {"int8", "uint8"} and "float32" in dtypes:
        return "dynamic"
    if dtypes <= FLOAT_TYPES | {"int32", "int64", "bool"}:
        return "float32"
    return "unknown"


# ---------------------------------------------------------------------------
# One op of a file as a file of its own (what a latency table times)
# ---------------------------------------------------------------------------


def is_constant(model: schema.ModelT, index: int) -> bool:
    data = model.buffers[model.subgraphs[0].tensors[index].buffer].data if model.buffers else None
    return data is not None and len(data) > 0


def single_op(model: schema.ModelT, op_index: int) -> bytes:
    """A file that runs only op `op_index` of `model`'s graph: its constants kept, its other inputs made the
    file's inputs, its outputs the file's outputs."""
    import copy

    graph = model.subgraphs[0]
    op = graph.operators[op_index]
    tensors, buffers, new_index = [], [schema.BufferT()], {}  # buffer 0 stays empty, as converters write it

    def moved(index: int) -> int:
        if index < 0 or index in new_index:
            return new_index.get(index, index)
        tensor = copy.copy(graph.tensors[index])
        tensor.buffer = 0
        if is_constant(model, index):
            tensor.buffer = len(buffers)
            buffers.append(model.buffers[graph.tensors[index].buffer])
        new_index[index] = len(tensors)
        tensors.append(tensor)
        return new_index[index]

    single = copy.copy(op)
    single.opcodeIndex = 0
    single.inputs = [moved(i) for i in op.inputs]
    single.outputs = [moved(i) for i in op.outputs]
    subgraph = schema.SubGraphT()
    subgraph.tensors = tensors
    subgraph.operators = [single]
    subgraph.inputs = [new_index[i] for i in op.inputs if i >= 0 and not is_constant(model, i)]
    subgraph.outputs = list(single.outputs)
    result = schema.ModelT()
    result.version = model.version
    result.description = "one op of a mobilekit latency table"
    result.operatorCodes = [model.operatorCodes[op.opcodeIndex]]
    result.subgraphs = [subgraph]
    result.buffers = buffers
    return write(result)
