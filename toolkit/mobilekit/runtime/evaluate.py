"""Compare a .tflite file's predictions with a reference."""

from __future__ import annotations

import dataclasses

import numpy as np

from mobilekit import progress
from mobilekit.runtime.interpreter import TFLiteModel


def predict(model_bytes: bytes, images: np.ndarray, *, show_progress: bool = True) -> np.ndarray:
    tflite = TFLiteModel(model_bytes)
    rows = progress.bar(images, total=len(images), desc="running .tflite", enabled=show_progress)
    return np.stack([tflite(image) for image in rows])


@dataclasses.dataclass(frozen=True)
class Agreement:
    """How closely a candidate's scores follow a reference's, over the same images."""

    top1: float  # fraction of images with the same arg-max class
    max_abs_diff: float  # largest score difference on any class of any image
    count: int


def compare(reference: np.ndarray, candidate: np.ndarray) -> Agreement:
    reference, candidate = np.asarray(reference), np.asarray(candidate)
    if reference.shape != candidate.shape:
        raise ValueError(f"score arrays differ in shape: {reference.shape} vs {candidate.shape}")
    return Agreement(
        top1=float(np.mean(np.argmax(reference, -1) == np.argmax(candidate, -1))),
        max_abs_diff=float(np.max(np.abs(reference - candidate))),
        count=len(reference),
    )
