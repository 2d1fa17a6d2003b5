"""Scores against labels, in NumPy: shared by training and the .tflite evaluation, no TensorFlow.

Classification: top-k accuracy. Segmentation: a confusion matrix over the pixels, and the mean IoU,
per-class IoU and pixel accuracy it gives (the Keras metrics of `train.objectives` compute the same).
"""

from __future__ import annotations

import numpy as np


def top_k_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of rows whose true label is among the k highest scores (k capped at the class count)."""
    scores, labels = np.asarray(scores), np.asarray(labels)
    k = min(k, scores.shape[-1])
    top = np.argsort(-scores, axis=-1, kind="stable")[:, :k]
    return float(np.mean(np.any(top == labels[:, None], axis=-1))) if len(labels) else float("nan")


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, num_classes: int, ignore: int = 255) -> np.ndarray:
    """int64 (num_classes, num_classes) counts of true class (row) against predicted class (column) over every
    element of `truth` that is not `ignore`: pixels of class masks, or images of a labelled set."""
    truth, predicted = np.asarray(truth).ravel(), np.asarray(predicted).ravel()
    counted = truth != ignore
    pairs = truth[counted].astype(np.int64) * num_classes + predicted[counted].astype(np.int64)
    return np.bincount(pairs, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def segmentation_scores(confusion: np.ndarray) -> dict:
    """Mean IoU, per-class IoU and pixel accuracy from a `confusion_matrix`.

    A class that occurs neither in the masks nor in the predictions has no IoU (None) and is left out of
    the mean, as in torchvision's and MMSegmentation's mIoU.
    """
    confusion = np.asarray(confusion, np.float64)
    hits = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - hits
    iou = [float(h / u) if u > 0 else None for h, u in zip(hits, union)]
    present = [value for value in iou if value is not None]
    total = confusion.sum()
    return {
        "miou": float(np.mean(present)) if present else float("nan"),
        "iou": iou,
        "pixel_accuracy": float(hits.sum() / total) if total else float("nan"),
        "pixels": int(total),
    }
