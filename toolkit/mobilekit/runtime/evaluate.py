"""Compare a .tflite file's predictions with a reference."""

from __future__ import annotations

import numpy as np

from mobilekit import progress
from mobilekit.runtime.interpreter import TFLiteModel


def predict(model_bytes: bytes, images: np.ndarray, *, show_progress: bool = True) -> np.ndarray:
    tflite = TFLiteModel(model_bytes)
    rows = progress.bar(images, total=len(images), desc="running .tflite", enabled=show_progress)
    return np.stack([tflite(image) for image in rows])


def top1_agreement(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Fraction of rows whose arg-max class is the same in both score arrays."""
    return float(np.mean(np.argmax(reference, axis=-1) == np.argmax(candidate, axis=-1)))
