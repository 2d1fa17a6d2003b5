"""Run .tflite files on images: agreement with a reference, accuracy on a labelled dataset."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from mobilekit import progress
from mobilekit.metrics import top_k_accuracy
from mobilekit.runtime.interpreter import TFLiteModel


def predict(model: bytes | TFLiteModel, images: np.ndarray, *, show_progress: bool = True) -> np.ndarray:
    tflite = model if isinstance(model, TFLiteModel) else TFLiteModel(model)
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


# ---------------------------------------------------------------------------
# Accuracy of a .tflite classifier on a labelled dataset
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Accuracy:
    """Top-1 / top-5 accuracy of a .tflite file on one split of a dataset."""

    top1: float
    top5: float  # top-k with k = min(5, the file's classes)
    count: int  # images evaluated
    classes: int  # classes in the data
    split: str
    source: str
    input_dtype: str
    resolution: int
    mean: tuple[float, ...]  # normalization applied before the file's input, from its metadata
    std: tuple[float, ...]
    labels: str  # "metadata" (matched by name) or "data order" (the file has no labels)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class FileInput:
    """What a classifier file takes: square RGB images of `resolution`, normalized with mean/std."""

    resolution: int
    dtype: str
    mean: np.ndarray
    std: np.ndarray
    labels: list[str] | None
    outputs: int

    @property
    def normalizes(self) -> bool:
        return bool(np.any(self.mean != 0) or np.any(self.std != 1))


def file_input(model_bytes: bytes) -> FileInput:
    """Input size and type from the graph, normalization and labels from the metadata."""
    from mobilekit.export import metadata, tflite_file
    from mobilekit.export.integrity import FileProblem

    summary = tflite_file.summarize(model_bytes)
    if len(summary.inputs) != 1 or len(summary.outputs) != 1:
        raise FileProblem(
            f"the file has {len(summary.inputs)} inputs and {len(summary.outputs)} outputs; evaluation "
            "needs a classifier with one image input and one score output."
        )
    shape, out_shape = summary.inputs[0].shape, summary.outputs[0].shape
    if len(shape) != 4 or shape[-1] != 3 or shape[1] != shape[2]:
        raise FileProblem(f"the file's input has shape {list(shape)}; evaluation needs square RGB images [1, N, N, 3].")
    spec = metadata.read_spec(model_bytes)
    mean = np.asarray(spec.mean if spec else (0.0,), np.float32)
    std = np.asarray(spec.std if spec else (1.0,), np.float32)
    return FileInput(
        resolution=int(shape[1]),
        dtype=summary.inputs[0].dtype,
        mean=mean,
        std=std,
        labels=metadata.labels(model_bytes),
        outputs=int(out_shape[-1]),
    )


def match_labels(file_labels: list[str] | None, class_names, outputs: int) -> np.ndarray:
    """For each of the data's classes, the index of the file output that scores it.

    The data's classes must all be among the file's labels (in any order; the
    file may know more classes). A file without labels must have one output per
    class, taken in the data's order.
    """
    import warnings

    from mobilekit.errors import MobilekitWarning
    from mobilekit.export.integrity import FileProblem

    class_names = list(class_names)
    if file_labels is None:
        if outputs != len(class_names):
            raise FileProblem(
                f"the file has no labels in its metadata and {outputs} outputs, but the data has "
                f"{len(class_names)} classes. Attach the training labels (mobilekit convert --labels "
                "RUN/labels.txt) or evaluate on data with the same classes."
            )
        warnings.warn(
            "the file has no labels in its metadata; its outputs are taken to be the data's classes "
            f"in order ({', '.join(class_names[:5])}{', ...' if len(class_names) > 5 else ''}).",
            MobilekitWarning,
            stacklevel=3,
        )
        return np.arange(len(class_names))
    if len(file_labels) != outputs:
        raise FileProblem(
            f"the file's metadata has {len(file_labels)} labels for {outputs} outputs. "
            "Re-attach metadata with one label per output."
        )
    position = {}
    for index, label in enumerate(file_labels):
        position.setdefault(label, index)
    missing = [name for name in class_names if name not in position]
    if missing:
        shown = lambda names: ", ".join(map(repr, names[:8])) + (", ..." if len(names) > 8 else "")  # noqa: E731
        raise FileProblem(
            f"the file's labels do not match the data's classes: {len(missing)} of the data's "
            f"{len(class_names)} classes ({shown(missing)}) are not among the file's {len(file_labels)} labels "
            f"({shown(file_labels)}). Evaluate on data with the classes the model was trained on, or convert "
            "it with the training run's labels (mobilekit convert --labels RUN/labels.txt)."
        )
    return np.asarray([position[name] for name in class_names])


def labelled_inputs(
    model_bytes: bytes,
    source,
    *,
    task: str = "classification",
    split: str,
    seed: int,
    validation_split: float,
    test_split: float | None,
    batch_size: int,
    show_progress: bool,
):
    """(`file_input`, the `data.Data` of `source` at the file's input size, an iterator with a progress bar
    over the split's (image as the file takes it: normalized with the metadata's mean/std where those are not
    the identity, label or mask)), for scoring a file on a split."""
    from mobilekit.data import datasets

    info = file_input(model_bytes)
    data = datasets.load(
        source,
        resolution=info.resolution,
        batch_size=batch_size,
        seed=seed,
        validation_split=validation_split,
        test_split=test_split,
        augment=False,
        shuffle=False,
        show_progress=show_progress,
        task=task,
    )
    pipeline = data.split(split)

    def pairs():
        for batch, labels in pipeline:
            pixels = batch.numpy()
            yield from zip((pixels - info.mean) / info.std if info.normalizes else pixels, labels.numpy())

    shown = progress.bar(pairs(), total=data.counts[split], desc=f"evaluating {split}", enabled=show_progress)
    return info, data, shown


def accuracy(
    model_bytes: bytes,
    source,
    *,
    split: str = "test",
    seed: int = 0,
    validation_split: float = 0.1,
    test_split: float | None = None,
    batch_size: int = 64,
    threads: int | None = None,
    show_progress: bool = True,
) -> Accuracy:
    """Top-1 / top-5 accuracy of a .tflite classifier on a split of `data.load(source)`.

    The images are loaded at the file's input size, as raw RGB pixels 0..255,
    normalized with the metadata's mean/std when they are not the identity,
    then quantized with the input's own parameters (uint8 / int8 files) or
    passed as float32. The data's classes are matched to the file's labels by
    name. `seed`, `validation_split` and `test_split` must be the ones the
    model was trained with for the validation split to be the same (the test
    split never depends on the seed).
    """
    info, data, pairs = labelled_inputs(
        model_bytes,
        source,
        split=split,
        seed=seed,
        validation_split=validation_split,
        test_split=test_split,
        batch_size=batch_size,
        show_progress=show_progress,
    )
    outputs_for = match_labels(info.labels, data.class_names, info.outputs)
    tflite = TFLiteModel(model_bytes, threads=threads or min(4, os.cpu_count() or 1))
    scores, truth = [], []
    for image, label in pairs:
        scores.append(tflite(image))
        truth.append(label)
    scores, truth = np.stack(scores), outputs_for[np.asarray(truth)]
    return Accuracy(
        top1=top_k_accuracy(scores, truth, 1),
        top5=top_k_accuracy(scores, truth, 5),
        count=len(truth),
        classes=data.num_classes,
        split=split,
        source=data.source,
        input_dtype=info.dtype,
        resolution=info.resolution,
        mean=tuple(float(v) for v in info.mean),
        std=tuple(float(v) for v in info.std),
        labels="data order" if info.labels is None else "metadata",
    )
