"""Is a parsed .tflite file whole? Checks that keep a damaged file away from the interpreter.

The Python flatbuffer bindings read whatever the bytes say and LiteRT's
interpreter trusts the values it reads: a flipped bit in a zero point or a
tensor index makes it crash the process rather than raise. So every index is
checked against what it indexes, every constant's bytes against its shape and
type, and every quantization against its tensor's integer range, before a
file is described or handed to an interpreter.
"""

from __future__ import annotations

import contextlib
import math
import struct
from collections.abc import Iterator

import numpy as np
from ai_edge_litert import schema_py_generated as schema

from mobilekit.errors import UserError

# The largest tensor a file may ask the interpreter to allocate.
MAX_TENSOR_BYTES = 2**31 - 1

_T = schema.TensorType
# Bytes per element (4- and 2-bit types may be packed, so their constants are checked loosely).
ITEM_BYTES = {
    _T.FLOAT32: 4,
    _T.FLOAT16: 2,
    _T.INT32: 4,
    _T.UINT8: 1,
    _T.INT64: 8,
    _T.BOOL: 1,
    _T.INT16: 2,
    _T.COMPLEX64: 8,
    _T.INT8: 1,
    _T.FLOAT64: 8,
    _T.COMPLEX128: 16,
    _T.UINT64: 8,
    _T.UINT32: 4,
    _T.UINT16: 2,
    _T.BFLOAT16: 2,
    _T.FLOAT8_E4M3FN: 1,
    _T.FLOAT8_E5M2: 1,
}
SUB_BYTE_BITS = {_T.INT4: 4, _T.UINT4: 4, _T.INT2: 2}
# Zero points must lie in the stored type's range.
ZERO_POINT_RANGES = {
    _T.INT8: (-128, 127),
    _T.UINT8: (0, 255),
    _T.INT16: (-32768, 32767),
    _T.UINT16: (0, 65535),
    _T.INT32: (-(2**31), 2**31 - 1),
    _T.INT64: (-(2**63), 2**63 - 1),
    _T.INT4: (-8, 7),
    _T.UINT4: (0, 15),
    _T.INT2: (-2, 1),
}
KNOWN_TYPES = frozenset(value for name, value in vars(_T).items() if not name.startswith("_"))
MAX_BUILTIN = max(value for name, value in vars(schema.BuiltinOperator).items() if not name.startswith("_"))

# What the flatbuffer bindings raise when offsets or lengths point outside the bytes.
PARSE_ERRORS = (
    struct.error,
    IndexError,
    ValueError,
    TypeError,
    OverflowError,
    UnicodeDecodeError,
    AttributeError,
    RecursionError,
)


class FileProblem(UserError):
    """Something wrong inside a file the user passed; `naming` puts the file's path in front."""

    def __init__(self, message: str, path: str | None = None):
        super().__init__(message if path is None else f"{path}: {message}")
        self.path = path


class DamagedFile(FileProblem):
    """A file that a download cut short or a flipped byte corrupted."""


@contextlib.contextmanager
def naming(path) -> Iterator[None]:
    """Put the file's path in front of a FileProblem raised while reading it."""
    try:
        yield
    except FileProblem as error:
        if error.path is not None:
            raise
        raise type(error)(str(error), path=str(path)) from None


def damaged(what: str) -> DamagedFile:
    return DamagedFile(f"the file is damaged (cut short or corrupted): {what}. Copy or convert it again.")


def parse(buf: bytes) -> schema.ModelT:
    """The object tree of a TFLite flatbuffer; DamagedFile where the bytes do not hold one."""
    try:
        root = schema.Model.GetRootAsModel(buf, 0)
        return schema.ModelT.InitFromObj(root)
    except PARSE_ERRORS as error:
        raise damaged(f"its flatbuffer points outside its {len(buf):,} bytes ({reason(error)})") from None


def reason(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:120]}" if text else type(error).__name__


def check(model: schema.ModelT, size: int) -> None:
    """Raise DamagedFile for the first reference, shape or quantization that cannot be right."""
    buffers = model.buffers or []
    codes = model.operatorCodes or []
    for index, code in enumerate(codes):
        for value in (code.builtinCode, code.deprecatedBuiltinCode):
            if not 0 <= value <= MAX_BUILTIN:
                raise damaged(f"operator code {index} names builtin {value}, which does not exist")
    for index, buffer in enumerate(buffers):
        if buffer.offset > 1 and buffer.offset + buffer.size > size:
            raise damaged(
                f"buffer {index} lies at bytes {buffer.offset:,}..{buffer.offset + buffer.size:,}, "
                f"past the end of the file ({size:,} bytes)"
            )
    if not model.subgraphs:
        raise damaged("it has no subgraph")
    for graph_index, graph in enumerate(model.subgraphs):
        where = f"subgraph {graph_index}"
        tensors = graph.tensors or []
        for index, tensor in enumerate(tensors):
            _check_tensor(tensor, f"{where} tensor {index}", buffers)
        count = len(tensors)
        for role, indices in (("input", graph.inputs), ("output", graph.outputs)):
            _check_indices(indices, count, f"{where} {role}", optional=False)
        for op_index, op in enumerate(graph.operators or []):
            at = f"{where} operator {op_index}"
            if not 0 <= op.opcodeIndex < len(codes):
                raise damaged(f"{at} uses operator code {op.opcodeIndex}, but the file has {len(codes)}")
            _check_indices(op.inputs, count, f"{at} input", optional=True)
            _check_indices(op.outputs, count, f"{at} output", optional=True)
            _check_indices(op.intermediates, count, f"{at} intermediate", optional=False)
    for index, entry in enumerate(model.metadata or []):
        if not 0 <= entry.buffer < len(buffers):
            raise damaged(f"metadata entry {index} names buffer {entry.buffer}, but the file has {len(buffers)}")
    for signature in model.signatureDefs or []:
        if not 0 <= signature.subgraphIndex < len(model.subgraphs):
            raise damaged(
                f"a signature names subgraph {signature.subgraphIndex}, but the file has {len(model.subgraphs)}"
            )
        count = len(model.subgraphs[signature.subgraphIndex].tensors or [])
        for mapping in (signature.inputs or []) + (signature.outputs or []):
            _check_indices([mapping.tensorIndex], count, "a signature tensor", optional=False)


def _check_indices(indices, count: int, what: str, *, optional: bool) -> None:
    lowest = -1 if optional else 0
    for value in () if indices is None else indices:
        if not lowest <= int(value) < count:
            raise damaged(f"{what} is tensor {int(value)}, but the subgraph has {count} tensors")


def _check_tensor(tensor: schema.TensorT, where: str, buffers) -> None:
    if tensor.type not in KNOWN_TYPES:
        raise damaged(f"{where} has type {tensor.type}, which does not exist")
    shape = [int(d) for d in (() if tensor.shape is None else tensor.shape)]
    if any(d < 0 for d in shape):
        raise damaged(f"{where} has shape {shape} with a negative size")
    elements = math.prod(shape)
    item_bytes = ITEM_BYTES.get(tensor.type, 1)
    if elements * item_bytes > MAX_TENSOR_BYTES:
        raise damaged(f"{where} has shape {shape}: {elements:,} elements, more than any model holds")
    if not 0 <= tensor.buffer < max(len(buffers), 1):
        raise damaged(f"{where} names buffer {tensor.buffer}, but the file has {len(buffers)}")
    data = buffers[tensor.buffer].data if buffers else None
    stored = 0 if data is None else len(data)
    if stored and tensor.sparsity is None and tensor.type in ITEM_BYTES:
        if stored != elements * item_bytes:
            raise damaged(
                f"{where} ({shape}, {_type_name(tensor.type)}) needs {elements * item_bytes:,} bytes "
                f"of data, its buffer holds {stored:,}"
            )
    if stored and tensor.sparsity is None and tensor.type in SUB_BYTE_BITS:
        packed = math.ceil(elements * SUB_BYTE_BITS[tensor.type] / 8)
        if stored not in (packed, elements):
            raise damaged(
                f"{where} ({shape}, {_type_name(tensor.type)}) needs {packed:,} or {elements:,} bytes "
                f"of data, its buffer holds {stored:,}"
            )
    _check_quantization(tensor, shape, where)


def _check_quantization(tensor: schema.TensorT, shape: list[int], where: str) -> None:
    q = tensor.quantization
    if q is None or q.scale is None or len(q.scale) == 0:
        return
    scales = np.asarray(q.scale, dtype=np.float64)
    if not np.all(np.isfinite(scales)) or np.any(scales < 0):
        raise damaged(f"{where} has a quantization scale that is negative or not a number")
    zero_points = np.asarray(q.zeroPoint if q.zeroPoint is not None else [], dtype=np.int64)
    if len(zero_points) not in (0, len(scales)):
        raise damaged(f"{where} has {len(scales)} quantization scales but {len(zero_points)} zero points")
    if tensor.type in ZERO_POINT_RANGES and len(zero_points):
        low, high = ZERO_POINT_RANGES[tensor.type]
        if zero_points.min() < low or zero_points.max() > high:
            raise damaged(
                f"{where} has zero point {int(zero_points[(zero_points < low) | (zero_points > high)][0])}, "
                f"outside {_type_name(tensor.type)}'s range {low}..{high}"
            )
    if len(scales) > 1:
        axis = int(q.quantizedDimension)
        if not 0 <= axis < len(shape) or shape[axis] != len(scales):
            raise damaged(f"{where} ({shape}) has {len(scales)} per-channel scales along axis {axis}")


def _type_name(value: int) -> str:
    return next(
        (name.lower() for name, v in vars(_T).items() if v == value and not name.startswith("_")), f"type {value}"
    )
