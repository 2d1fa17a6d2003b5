"""Mean IoU, per-class IoU and pixel accuracy of a .tflite segmentation file on masks.

Each image goes through the LiteRT interpreter as `runtime.evaluate.accuracy` sends it (the file's input size
and type, the metadata's normalization); the file's class probabilities (at 1/8 of the input for LR-ASPP, or
at the input's size) are resized to the mask's size as MediaPipe's ImageSegmenter resizes them (bilinear,
corners aligned) and the most probable class is each pixel's (`category_mask`): the category mask
MediaPipe returns. Pixels whose mask value is
255 are not counted.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from mobilekit.metrics import confusion_matrix, segmentation_scores
from mobilekit.runtime.evaluate import labelled_inputs, match_labels
from mobilekit.runtime.interpreter import TFLiteModel


@dataclasses.dataclass(frozen=True)
class SegmentationScores:
    """How a .tflite segmenter's category masks match one split's masks."""

    miou: float
    iou: dict[str, float | None]  # per class of the data, None where it occurs in neither masks nor predictions
    pixel_accuracy: float
    pixels: int  # pixels counted (all but the ignored ones)
    count: int  # images
    split: str
    source: str
    input_dtype: str
    resolution: int
    output_size: tuple[int, int]  # the file's (height, width) of class probabilities
    labels: str  # "metadata" (matched by name) or "data order"

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def category_mask(probabilities: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(h, w, C) probabilities -> the (height, width) arg-max class after resizing to `size` as MediaPipe's
    ImageSegmenter does (`train.objectives.upsample`: bilinear, corners aligned)."""
    from mobilekit.train.objectives import upsample

    resized = probabilities
    if tuple(probabilities.shape[:2]) != tuple(size):
        resized = upsample(probabilities[None], size)[0].numpy()
    return np.argmax(resized, axis=-1)


def scores(
    model_bytes: bytes,
    source,
    *,
    split: str = "test",
    seed: int = 0,
    validation_split: float = 0.1,
    test_split: float | None = None,
    batch_size: int = 32,
    threads: int | None = None,
    show_progress: bool = True,
) -> SegmentationScores:
    """Score a .tflite segmenter on a split of `data.load(source, task="segmentation")`; the data's classes
    are matched to the file's labels by name (a file without labels: one channel per class, in order)."""
    info, data, pairs = labelled_inputs(
        model_bytes,
        source,
        task="segmentation",
        split=split,
        seed=seed,
        validation_split=validation_split,
        test_split=test_split,
        batch_size=batch_size,
        show_progress=show_progress,
    )
    channels = match_labels(info.labels, data.class_names, info.outputs)  # data class -> file channel
    tflite = TFLiteModel(model_bytes, threads=threads or min(4, os.cpu_count() or 1))
    confusion = np.zeros((data.num_classes, data.num_classes), np.int64)
    count, output_size = 0, None
    for image, mask in pairs:
        probabilities = tflite(image)[..., channels]
        output_size = tuple(int(v) for v in probabilities.shape[:2])
        confusion += confusion_matrix(mask, category_mask(probabilities, mask.shape), data.num_classes)
        count += 1
    result = segmentation_scores(confusion)
    return SegmentationScores(
        miou=result["miou"],
        iou=dict(zip(data.class_names, result["iou"])),
        pixel_accuracy=result["pixel_accuracy"],
        pixels=result["pixels"],
        count=count,
        split=split,
        source=data.source,
        input_dtype=info.dtype,
        resolution=info.resolution,
        output_size=output_size,
        labels="data order" if info.labels is None else "metadata",
    )
