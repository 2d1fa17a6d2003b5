"""Which ops of a .tflite file the CPU delegate (XNNPACK) runs, and which stay on the interpreter.

LiteRT applies XNNPACK to every file it loads on the CPU. The delegate takes
the ops it has kernels for and replaces each connected run of them with one
DELEGATE node (a *partition*); the rest run on the interpreter's own kernels,
and every change between the two copies tensors and breaks the delegate's
fusion. One partition covering every op is the fast case. GPU compatibility
is read from the file against the GPU delegate's op rules (`gpu_refusals`).
Nothing here imports TensorFlow.
"""

from __future__ import annotations

import collections
import dataclasses

from mobilekit.export import tflite_file


@dataclasses.dataclass(frozen=True)
class DelegateCoverage:
    """How the CPU delegate splits a file."""

    ops: int  # ops in the file
    delegated: int  # of those, how many the delegate runs
    partitions: int  # DELEGATE nodes the interpreter executes
    left_out: dict[str, int]  # op name -> how many run on the interpreter, most first

    @property
    def whole(self) -> bool:
        """Every op in one partition."""
        return self.partitions == 1 and not self.left_out

    def describe(self) -> str:
        text = f"XNNPACK runs {self.delegated} of {self.ops} ops in {self.partitions} partition" + (
            "s" if self.partitions != 1 else ""
        )
        if self.left_out:
            text += "; on the interpreter: " + ", ".join(f"{name} {count}" for name, count in self.left_out.items())
        return text


def xnnpack_coverage(model_bytes: bytes) -> DelegateCoverage:
    """Load `model_bytes` in the LiteRT interpreter (XNNPACK applied, as on the CPU) and read its plan."""
    from ai_edge_litert.interpreter import Interpreter

    from mobilekit.progress import native_stderr_filtered

    with native_stderr_filtered():
        interpreter = Interpreter(model_content=bytes(model_bytes), num_threads=1)
        interpreter.allocate_tensors()
    return coverage_of(interpreter._get_ops_details())


def coverage_of(nodes: list[dict]) -> DelegateCoverage:
    """Coverage from the interpreter's node list (`Interpreter._get_ops_details()` after allocation).

    The list holds the file's ops followed by the DELEGATE nodes that replaced
    some of them; a DELEGATE node's inputs and outputs are its partition's
    boundary tensors, so its ops are those found walking back from its outputs
    to its inputs.
    """
    original = [node for node in nodes if node["op_name"] != "DELEGATE"]
    delegates = [node for node in nodes if node["op_name"] == "DELEGATE"]
    producer = {tensor: node["index"] for node in original for tensor in node["outputs"]}
    by_index = {node["index"]: node for node in original}
    delegated: set[int] = set()
    for delegate in delegates:
        boundary = set(delegate["inputs"])
        pending = [t for t in delegate["outputs"]]
        while pending:
            tensor = pending.pop()
            index = producer.get(tensor)
            if tensor in boundary or index is None or index in delegated:
                continue
            delegated.add(index)
            pending.extend(int(t) for t in by_index[index]["inputs"] if t >= 0)
    left = collections.Counter(node["op_name"] for node in original if node["index"] not in delegated)
    return DelegateCoverage(
        ops=len(original), delegated=len(delegated), partitions=len(delegates), left_out=dict(left.most_common())
    )


# Builtin ops LiteRT's GPU delegate has a kernel for (tensorflow/lite/tools/versioning/
# gpu_compatibility.cc, the rules its model analyzer applies). The analyzer itself ships in
# ai_edge_litert and TensorFlow 2.21 with that check compiled out: it calls every op,
# a made-up custom op included, compatible. So the rules that decide for mobilekit's
# graphs are kept here; the per-op limits not listed (LSTM variants, one-hot, select)
# concern ops no zoo model has.
GPU_OPS = frozenset(
    """
    ABS ADD ADD_N ATAN2 AVERAGE_POOL_2D BATCH_MATMUL CAST CEIL CONCATENATION CONV_2D COS CUMSUM DENSIFY
    DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE DIV DYNAMIC_UPDATE_SLICE ELU EMBEDDING_LOOKUP EQUAL EXP FLOOR
    FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GELU GREATER GREATER_EQUAL HARD_SWISH LEAKY_RELU LESS LESS_EQUAL
    LOG LOGICAL_AND LOGISTIC LSTM MAXIMUM MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL ONE_HOT PACK PAD
    PADV2 POW PRELU QUANTIZE REDUCE_MAX REDUCE_MIN REDUCE_PROD RELU RELU6 RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR
    RESIZE_NEAREST_NEIGHBOR RSQRT SELECT SELECT_V2 SIGN SIN SLICE SOFTMAX SPACE_TO_DEPTH SPLIT SPLIT_V SQRT
    SQUARE SQUARED_DIFFERENCE STABLEHLO_CLAMP STRIDED_SLICE SUB SUM TANH TILE TRANSPOSE TRANSPOSE_CONV
""".split()
)
GPU_CUSTOM_OPS = frozenset({"Convolution2DTransposeBias", "MaxPoolingWithArgmax2D", "MaxUnpooling2D", "Resampler"})
_RANK_3_OR_4 = frozenset({"SLICE", "STRIDED_SLICE"})


def gpu_refusals(model_bytes: bytes) -> dict[str, str]:
    """Op name -> why LiteRT's GPU delegate would leave it to the CPU (first reason per op type)."""
    model = tflite_file.read(model_bytes)
    refusals: dict[str, str] = {}
    for graph in model.subgraphs:
        for op in graph.operators:
            name = tflite_file.op_name(model, op.opcodeIndex)
            reason = _gpu_refusal(name, op, graph)
            if reason is not None:
                refusals.setdefault(name, reason)
    return refusals


def _gpu_refusal(name: str, op, graph) -> str | None:
    if name.startswith("CUSTOM:"):
        custom = name.removeprefix("CUSTOM:")
        return None if custom in GPU_CUSTOM_OPS else f"custom op {custom} has no GPU kernel"
    if name not in GPU_OPS:
        return "no GPU kernel"

    def shape(slot: int) -> list[int]:
        dims = graph.tensors[op.inputs[slot]].shape
        return [] if dims is None else list(dims)

    if name in _RANK_3_OR_4 and len(shape(0)) not in (3, 4):
        return f"{name} supports 3 or 4 dimensional tensors only"
    if name == "SOFTMAX" and getattr(op.builtinOptions, "beta", 1.0) != 1.0:
        return "softmax beta other than 1"
    if name == "MUL" and len(op.inputs) == 2 and len(shape(0)) == len(shape(1)):
        first, second = shape(0), shape(1)
        if any(a < b for a, b in zip(first, second)) and any(b < a for a, b in zip(first, second)):
            return "MUL needs one input no smaller than the other in every dimension"
    if name == "DEQUANTIZE" and graph.tensors[op.inputs[0]].type == tflite_file.schema.TensorType.INT16:
        return "int16 dequantization"
    return None
