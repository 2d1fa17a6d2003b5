"""Which ops of a .tflite file the CPU delegate (XNNPACK) runs, and which stay on the interpreter.

LiteRT applies XNNPACK to every file it loads on the CPU. The delegate takes
the ops it has kernels for and replaces each connected run of them with one
DELEGATE node (a *partition*); the rest run on the interpreter's own kernels,
and every change between the two copies tensors and breaks the delegate's
fusion. One partition covering every op is the fast case. GPU compatibility
is LiteRT's own analyzer (`gpu_refusals`), which ships in `ai_edge_litert`, so
nothing here imports TensorFlow.
"""

from __future__ import annotations

import collections
import dataclasses
import re


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
        text = f"XNNPACK runs {self.delegated} of {self.ops} ops in {self.partitions} partition" + \
            ("s" if self.partitions != 1 else "")
        if self.left_out:
            text += "; on the interpreter: " + ", ".join(f"{name} {count}" for name, count in self.left_out.items())
        return text

    def as_dict(self) -> dict:
        return {"delegate": "xnnpack", "ops": self.ops, "delegated": self.delegated,
                "partitions": self.partitions, "left_out": dict(self.left_out)}


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
    return DelegateCoverage(ops=len(original), delegated=len(delegated), partitions=len(delegates),
                            left_out=dict(left.most_common()))


def gpu_refusals(model_bytes: bytes) -> dict[str, str]:
    """Op name -> why the GPU delegate would not take it, from LiteRT's model analyzer."""
    from ai_edge_litert import _pywrap_analyzer_wrapper as analyzer

    report = analyzer.ModelAnalyzer(bytes(model_bytes), False, True)
    return _parse_gpu_report(report)


_GPU_LINE = re.compile(r"^\s*Op#\d+\s+(?P<op>[A-Z0-9_]+)\(.*\)\s*$")
_GPU_REASON = re.compile(r"GPU COMPATIBILITY WARNING:\s*(?P<reason>.*)$")


def _parse_gpu_report(report: str) -> dict[str, str]:
    refusals: dict[str, str] = {}
    last_op = None
    for line in report.splitlines():
        match = _GPU_LINE.match(line)
        if match:
            last_op = match["op"]
            continue
        reason = _GPU_REASON.search(line)
        if reason and last_op is not None:
            refusals.setdefault(last_op, reason["reason"].strip())
    return refusals
