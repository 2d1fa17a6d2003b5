"""TFLite Metadata: write and read what phone apps need to use a .tflite model.

A model file with metadata carries, beside its graph:

- a `Model.metadata` entry named ``TFLITE_METADATA`` whose buffer is a
  `ModelMetadata` flatbuffer (schema ``metadata_schema.fbs`` of TFLite Support,
  file identifier ``M001``): model name, description, version, author,
  license, and for each input/output tensor its name, content (image: colour
  space and size), normalization, value statistics and associated files;
- the associated files (``labels.txt``) as a ZIP archive appended after the
  model flatbuffer, every entry stored uncompressed (MediaPipe and the Task
  Library read the entries in place and reject compressed ones).

MediaPipe Tasks, the TFLite Task Library and Android Studio's model binding read
this. tflite-support cannot be installed beside TensorFlow 2.21, so mobilekit is
its own writer and reader, built on the ``flatbuffers`` runtime alone.

This package's front module is the public face: `attach` writes the metadata a spec describes
(`ModelMetadataSpec`: an image classifier; `SegmenterMetadataSpec`: an image segmenter);
`read`, `labels`, `associated_files` and `read_spec` read it back; `task_of` says which task
a file's metadata describes; `reader_problems` lists what would stop MediaPipe's (or the
Task Library's) ImageClassifier or ImageSegmenter from loading a file; `encode` and `decode`
are the lower-level tree <-> flatbuffer converters. The work is done in:

- `schema`: the schema as data, the encoder, decoder and `min_parser_version`;
- `vision`: what every one-image vision spec shares (model fields, image input);
- `classifier`: `ModelMetadataSpec`, the classifier's outputs and labels;
- `segmenter`: `SegmenterMetadataSpec`, the mask output, MediaPipe's segmenter options;
- `labels`: the labels file, written and read;
- `checks`: what the readers on phones accept;
- `reader`: the readers, over one parse of the file.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from typing import Any, Collection, Protocol

from mobilekit.export import tflite_file
from mobilekit.export.metadata.classifier import ModelMetadataSpec
from mobilekit.export.metadata.labels import LABELS_FILE, labels_text
from mobilekit.export.metadata.reader import (
    associated_files,
    labels,
    metadata_tree,
    read,
    read_spec,
    reader_problems,
    task_of,
)
from mobilekit.export.metadata.schema import (
    FILE_IDENTIFIER,
    METADATA_NAME,
    SEGMENTER_METADATA,
    decode,
    encode,
    min_parser_version,
)
from mobilekit.export.metadata.segmenter import SegmenterMetadataSpec
from mobilekit.export.metadata.vision import MODEL_FIELDS

__all__ = [
    "FILE_IDENTIFIER", "LABELS_FILE", "METADATA_NAME", "MetadataSpec", "ModelMetadataSpec",
    "SEGMENTER_METADATA", "SegmenterMetadataSpec", "associated_files", "attach", "build_tree",
    "decode", "encode", "labels", "labels_text", "metadata_tree", "min_parser_version", "read",
    "read_spec", "reader_problems", "task_of",
]  # fmt: skip


class MetadataSpec(Protocol):
    """What `attach` needs of a spec: the model-level fields (`MODEL_FIELDS`), and, for its
    kind of model, the subgraph's tensor metadata, the files to pack and the readers' checks."""

    name: str
    description: str
    version: str
    author: str
    license: str

    def subgraph_metadata(self, summary: tflite_file.Summary) -> dict[str, Any]: ...

    def packed_files(self) -> dict[str, bytes]: ...

    def reader_problems(
        self, summary: tflite_file.Summary, tree: dict[str, Any], packed: Collection[str]
    ) -> list[str]: ...


def build_tree(spec: MetadataSpec, summary: tflite_file.Summary) -> dict[str, Any]:
    """The `ModelMetadata` dict tree that `attach` writes for `spec` on this model."""
    tree: dict[str, Any] = {
        field: getattr(spec, field) for field in MODEL_FIELDS if getattr(spec, field)
    }  # empty strings are left out
    tree["subgraph_metadata"] = [spec.subgraph_metadata(summary)]
    tree["min_parser_version"] = min_parser_version(tree)
    return tree


def _zip(files: dict[str, bytes], offset: int) -> bytes:
    """A ZIP of `files`, stored uncompressed, whose offsets count from a start `offset` bytes
    before it (the model it is appended to), as readers expect. Byte-for-byte deterministic."""
    out = io.BytesIO()
    out.write(b"\0" * offset)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return out.getvalue()[offset:]


def attach(model_bytes: bytes, spec: MetadataSpec) -> bytes:
    """Return `model_bytes` with the metadata of `spec` and its files attached (for a
    `ModelMetadataSpec`: image classifier metadata and labels.txt; for a
    `SegmenterMetadataSpec`: image segmenter metadata, SEGMENTER_METADATA and labels.txt).

    Existing metadata is replaced: the result carries one ``TFLITE_METADATA``
    entry and one appended ZIP (with the spec's files only). The graph and
    its weights are unchanged, so the interpreter gives identical outputs.
    Raises UserError when the model does not fit the spec (label count versus
    output classes or mask channels, input layout, channels). Issues a UserWarning for each of
    `reader_problems` (valid metadata that MediaPipe or the Task Library would
    still refuse, e.g. per-channel normalization of a float input).
    """
    model = tflite_file.read(model_bytes)  # parses the flatbuffer only: a trailing ZIP is dropped
    summary = tflite_file.summary_of(model, len(model_bytes))
    tree = build_tree(spec, summary)
    files = spec.packed_files()
    for problem in spec.reader_problems(summary, tree, files):
        warnings.warn(problem, UserWarning, stacklevel=2)
    tflite_file.set_metadata_buffer(model, METADATA_NAME, encode(tree))
    flat = tflite_file.write(model)
    return flat + _zip(files, offset=len(flat))
