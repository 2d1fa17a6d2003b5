"""Run .tflite bytes on the host with the LiteRT interpreter."""

from __future__ import annotations

import numpy as np


class TFLiteModel:
    """One-input, one-output .tflite model that takes float pixels and returns float scores.

    Quantized inputs are quantized with the file's own parameters and quantized
    outputs dequantized, so results compare directly with the Keras model's.
    """

    def __init__(self, model_bytes: bytes, *, threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        from mobilekit.progress import native_stderr_filtered

        with native_stderr_filtered():  # LiteRT's "Created XNNPACK delegate" note
            self._interpreter = Interpreter(model_content=bytes(model_bytes), num_threads=threads)
            self._interpreter.allocate_tensors()
        (self.input,) = self._interpreter.get_input_details()
        (self.output,) = self._interpreter.get_output_details()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Scores for one image (H, W, 3) or a batch (N, H, W, 3), as float32."""
        batch = np.asarray(image, dtype=np.float32)
        if batch.ndim == 3:
            return self([batch])[0]
        return np.stack([self._run_one(sample[None]) for sample in batch])

    def delegate_coverage(self):
        """How XNNPACK split this file when the interpreter loaded it."""
        from mobilekit.runtime.coverage import coverage_of

        return coverage_of(self._interpreter._get_ops_details())

    def _run_one(self, sample: np.ndarray) -> np.ndarray:
        self._interpreter.set_tensor(self.input["index"], quantize(sample, self.input))
        self._interpreter.invoke()
        return dequantize(self._interpreter.get_tensor(self.output["index"])[0], self.output)


def quantize(values: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    if not np.issubdtype(dtype, np.integer):
        return values.astype(dtype)
    scale, zero_point = detail["quantization"]
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, detail: dict) -> np.ndarray:
    if not np.issubdtype(values.dtype, np.integer):
        return values.astype(np.float32)
    scale, zero_point = detail["quantization"]
    return ((values.astype(np.float32) - zero_point) * scale).astype(np.float32)
