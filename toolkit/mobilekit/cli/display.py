"""What more than one command prints about a .tflite file: its inputs and outputs, its ops."""

from __future__ import annotations


def _format_quantization(tensor) -> str:
    q = tensor.quantization
    if q is None:
        return ""
    if len(q.scale) == 1:
        return f"  scale {q.scale[0]:.6g}, zero point {q.zero_point[0]}"
    return f"  per-axis ({len(q.scale)} scales, axis {q.axis})"


def describe_io(summary) -> list[str]:
    lines = []
    for role, tensors in (("input", summary.inputs), ("output", summary.outputs)):
        for t in tensors:
            lines.append(f"{role:<14} {t.name} {list(t.shape)} {t.dtype}{_format_quantization(t)}")
    return lines


def format_ops(ops: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in ops.items())
