"""Reading a model's metadata back: its tree, packed files, labels, task and spec, and what the
readers on phones would refuse in it.

Every reader works on a `ParsedModel`, which parses each part of the file (the graph, the
metadata flatbuffer, the ZIP appended after them) once, on first use, so a reader that needs
several parts, such as `read_spec`, parses none twice.
"""

from __future__ import annotations

import functools
import io
import struct
import zipfile
import zlib
from typing import Any

from mobilekit.export import integrity, tflite_file
from mobilekit.export.metadata import checks as metadata_checks
from mobilekit.export.metadata import labels as metadata_labels
from mobilekit.export.metadata import segmenter as metadata_segmenter
from mobilekit.export.metadata.classifier import ModelMetadataSpec
from mobilekit.export.metadata.segmenter import SegmenterMetadataSpec
from mobilekit.export.metadata.schema import METADATA_NAME, decode

# What zipfile raises for a packed archive that was cut short or corrupted.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError, struct.error)


def _unreadable_zip(exc: Exception) -> integrity.DamagedFile:
    return integrity.damaged(f"its packed files are unreadable ({integrity.reason(exc)})")


class ParsedModel:
    """The parts of one .tflite file's bytes, each parsed when first asked for."""

    def __init__(self, model_bytes: bytes):
        self.model_bytes = model_bytes

    @functools.cached_property
    def graph(self):  # the flatbuffer alone: a trailing ZIP is not part of it
        return tflite_file.read(self.model_bytes)

    @functools.cached_property
    def summary(self) -> tflite_file.Summary:
        return tflite_file.summary_of(self.graph, len(self.model_bytes))

    @functools.cached_property
    def tree(self) -> dict[str, Any] | None:
        """The `ModelMetadata` dict tree, or None when the model has no metadata."""
        data = tflite_file.metadata_buffer(self.graph, METADATA_NAME)
        return None if data is None else decode(data)

    @functools.cached_property
    def _archive(self) -> zipfile.ZipFile | None:
        tflite_file.check_identifier(self.model_bytes)
        try:
            return zipfile.ZipFile(io.BytesIO(self.model_bytes))
        except zipfile.BadZipFile:
            return None  # no packed files
        except _ZIP_ERRORS as exc:
            raise _unreadable_zip(exc) from None

    @functools.cached_property
    def packed(self) -> tuple[zipfile.ZipInfo, ...]:
        """The entries of the appended ZIP (none when there is no ZIP)."""
        return () if self._archive is None else tuple(self._archive.infolist())

    @functools.cached_property
    def files(self) -> dict[str, bytes]:
        """The packed files' contents, by name."""
        try:
            return {info.filename: self._archive.read(info) for info in self.packed}
        except _ZIP_ERRORS as exc:
            raise _unreadable_zip(exc) from None

    def labels(self) -> list[str] | None:
        """The labels of the output's TENSOR_AXIS_LABELS file, or None when it names none."""
        name = metadata_labels.output_label_file(self.tree) if self.tree else None
        if name is None:
            return None
        if name not in self.files:
            raise integrity.damaged(
                f"its metadata names the label file {name!r} but no such file is packed in it "
                f"(packed files: {sorted(self.files) or 'none'})"
            )
        return metadata_labels.split_labels(self.files[name])


def metadata_tree(model_bytes: bytes) -> dict[str, Any] | None:
    """The `ModelMetadata` dict tree of a model, or None when it has no metadata."""
    return ParsedModel(model_bytes).tree


def associated_files(model_bytes: bytes) -> dict[str, bytes]:
    """The files packed in the ZIP appended to the model, by name ({} when there is none)."""
    return ParsedModel(model_bytes).files


def labels(model_bytes: bytes) -> list[str] | None:
    """The class labels of the model's output (its TENSOR_AXIS_LABELS file), or None."""
    return ParsedModel(model_bytes).labels()


def read(model_bytes: bytes) -> dict[str, Any] | None:
    """The model's metadata as JSON-ready data, or None when it has none.

    ``{"metadata": <ModelMetadata tree, schema field names, incl. min_parser_version>,
    "associated_files": [{"name", "size", "compressed"}, ...]}`` where the list
    names the files packed in the model's ZIP.
    """
    model = ParsedModel(model_bytes)
    if model.tree is None:
        return None
    packed = [
        {
            "name": info.filename,
            "size": info.file_size,
            "compressed": info.compress_type != zipfile.ZIP_STORED,
        }
        for info in model.packed
    ]
    return {"metadata": model.tree, "associated_files": packed}


def tree_task(tree: dict[str, Any] | None) -> str | None:
    """`task_of` on a metadata tree."""
    if tree is None:
        return None
    if metadata_segmenter.is_segmenter_tree(tree):
        return "segmentation"
    if len(metadata_checks.first_subgraph(tree).get("output_tensor_metadata") or []) == 1:
        return "classification"
    return None


def task_of(model_bytes: bytes) -> str | None:
    """What a model does: "segmentation", "classification" or None (cannot tell).

    The rule the Android app's ModelInfo applies too: a ``SEGMENTER_METADATA`` custom metadata entry
    in the first subgraph's metadata makes a segmenter; without one, the graph decides: a single
    output [1, h, w, C > 1] is a segmenter's class probabilities per pixel, a single output of rank 2
    a classifier's scores; anything else is None.
    """
    model = ParsedModel(model_bytes)
    if metadata_segmenter.segmenter_options_data(model.tree) is not None:
        return "segmentation"
    outputs = model.summary.outputs
    if len(outputs) == 1 and len(outputs[0].shape) == 4 and outputs[0].shape[3] > 1:
        return "segmentation"
    if len(outputs) == 1 and len(outputs[0].shape) == 2:
        return "classification"
    return None


def read_spec(model_bytes: bytes) -> ModelMetadataSpec | SegmenterMetadataSpec | None:
    """Rebuild the spec of a model's metadata (None when it has none): a `SegmenterMetadataSpec`
    when `task_of` says "segmentation", a `ModelMetadataSpec` otherwise.

    Works for metadata in the shape `attach` writes (one image input, one
    output with labels); `attach(other_model, read_spec(model))` carries the
    metadata over to another conversion of the same network.
    """
    model = ParsedModel(model_bytes)
    if model.tree is None:
        return None
    spec_type = SegmenterMetadataSpec if tree_task(model.tree) == "segmentation" else ModelMetadataSpec
    return spec_type.from_tree(model.tree, labels=model.labels() or ())


def reader_problems(model_bytes: bytes) -> list[str]:
    """What would stop MediaPipe Tasks' ImageSegmenter (for segmenters: `task_of` says so, or
    a file without metadata has a rank-4 output) or MediaPipe's and the TFLite Task Library's
    ImageClassifier (for the rest) from loading this file with labels; [] when nothing would."""
    model = ParsedModel(model_bytes)
    summary, tree = model.summary, model.tree
    names = [info.filename for info in model.packed]
    compressed = [info.filename for info in model.packed if info.compress_type != zipfile.ZIP_STORED]
    task = tree_task(tree)
    if task is None and tree is None and len(summary.outputs) == 1 and len(summary.outputs[0].shape) == 4:
        task = "segmentation"
    if task == "segmentation":
        labels = model.labels() if metadata_labels.output_label_file(tree or {}) in model.files else None
        return metadata_segmenter.segmenter_problems(summary, tree, names, compressed, labels)
    return metadata_checks.classifier_problems(summary, tree, names, compressed)
