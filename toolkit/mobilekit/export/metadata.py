"""TFLite Metadata: write and read what phone apps need to use a .tflite classifier.

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
this. tflite-support cannot be installed beside TensorFlow 2.21, so this module
is its own writer and reader, built on the ``flatbuffers`` runtime alone. The
schema is written down once below as data (`_TABLES`); one encoder and one
decoder walk it. The dict form of a metadata tree follows the schema's field
names, enum and union member names, the same shape as ``flatc --json`` output.

`attach` writes the metadata of an image classifier; `read`, `labels`,
`associated_files` and `read_spec` read it back; `reader_problems` lists what
would stop MediaPipe's or the Task Library's ImageClassifier from loading a
file. `encode` and `decode` are the lower-level tree <-> flatbuffer converters.
"""

from __future__ import annotations

import dataclasses
import io
import math
import struct
import warnings
import zipfile
import zlib
from typing import Any, Iterable, Sequence

import flatbuffers
import numpy as np
from flatbuffers import number_types as N
from flatbuffers.table import Table

from mobilekit.errors import UserError
from mobilekit.export import integrity, tflite_file

METADATA_NAME = "TFLITE_METADATA"
FILE_IDENTIFIER = b"M001"
LABELS_FILE = "labels.txt"

# ---------------------------------------------------------------------------
# The schema, as data. Field order is slot order; a union field takes two slots
# (`<name>_type`, then `<name>`). Kinds: string, uint, int, float, ubyte, an
# enum name, a table name or a union name; "[kind]" is a vector of it.
# ---------------------------------------------------------------------------

_ENUMS: dict[str, tuple[str, ...]] = {
    "AssociatedFileType": (
        "UNKNOWN",
        "DESCRIPTIONS",
        "TENSOR_AXIS_LABELS",
        "TENSOR_VALUE_LABELS",
        "TENSOR_AXIS_SCORE_CALIBRATION",
        "VOCABULARY",  # 1.0.1
        "SCANN_INDEX_FILE",  # 1.4.0
    ),
    "ColorSpaceType": ("UNKNOWN", "RGB", "GRAYSCALE"),
    "BoundingBoxType": ("UNKNOWN", "BOUNDARIES", "UPPER_LEFT", "CENTER"),
    "CoordinateType": ("RATIO", "PIXEL"),
    "ScoreTransformationType": ("IDENTITY", "LOG", "INVERSE_LOGISTIC"),
}

_UNIONS: dict[str, tuple[str, ...]] = {
    "ContentProperties": (
        "NONE",
        "FeatureProperties",
        "ImageProperties",
        "BoundingBoxProperties",
        "AudioProperties",  # 1.3.0
    ),
    "ProcessUnitOptions": (
        "NONE",
        "NormalizationOptions",
        "ScoreCalibrationOptions",
        "ScoreThresholdingOptions",
        "BertTokenizerOptions",  # 1.1.0
        "SentencePieceTokenizerOptions",  # 1.1.0
        "RegexTokenizerOptions",  # 1.2.1
    ),
}

_TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "AssociatedFile": (
        ("name", "string"),
        ("description", "string"),
        ("type", "AssociatedFileType"),
        ("locale", "string"),
        ("version", "string"),  # 1.4.1
    ),
    "FeatureProperties": (),
    "ImageSize": (("width", "uint"), ("height", "uint")),
    "ImageProperties": (("color_space", "ColorSpaceType"), ("default_size", "ImageSize")),
    "BoundingBoxProperties": (
        ("index", "[uint]"),
        ("type", "BoundingBoxType"),
        ("coordinate_type", "CoordinateType"),
    ),
    "AudioProperties": (("sample_rate", "uint"), ("channels", "uint")),
    "ValueRange": (("min", "int"), ("max", "int")),
    "Content": (("content_properties", "ContentProperties"), ("range", "ValueRange")),
    "NormalizationOptions": (("mean", "[float]"), ("std", "[float]")),
    "ScoreCalibrationOptions": (
        ("score_transformation", "ScoreTransformationType"),
        ("default_score", "float"),
    ),
    "ScoreThresholdingOptions": (("global_score_threshold", "float"),),
    "BertTokenizerOptions": (("vocab_file", "[AssociatedFile]"),),
    "SentencePieceTokenizerOptions": (
        ("sentencePiece_model", "[AssociatedFile]"),
        ("vocab_file", "[AssociatedFile]"),
    ),
    "RegexTokenizerOptions": (
        ("delim_regex_pattern", "string"),
        ("vocab_file", "[AssociatedFile]"),
    ),
    "ProcessUnit": (("options", "ProcessUnitOptions"),),
    "Stats": (("max", "[float]"), ("min", "[float]")),
    "TensorGroup": (("name", "string"), ("tensor_names", "[string]")),
    "TensorMetadata": (
        ("name", "string"),
        ("description", "string"),
        ("dimension_names", "[string]"),
        ("content", "Content"),
        ("process_units", "[ProcessUnit]"),
        ("stats", "Stats"),
        ("associated_files", "[AssociatedFile]"),
    ),
    "CustomMetadata": (("name", "string"), ("data", "[ubyte]")),
    "SubGraphMetadata": (
        ("name", "string"),
        ("description", "string"),
        ("input_tensor_metadata", "[TensorMetadata]"),
        ("output_tensor_metadata", "[TensorMetadata]"),
        ("associated_files", "[AssociatedFile]"),
        ("input_process_units", "[ProcessUnit]"),  # 1.1.0
        ("output_process_units", "[ProcessUnit]"),  # 1.1.0
        ("input_tensor_groups", "[TensorGroup]"),  # 1.2.0
        ("output_tensor_groups", "[TensorGroup]"),  # 1.2.0
        ("custom_metadata", "[CustomMetadata]"),  # 1.5.0
    ),
    "ModelMetadata": (
        ("name", "string"),
        ("description", "string"),
        ("version", "string"),
        ("subgraph_metadata", "[SubGraphMetadata]"),
        ("author", "string"),
        ("license", "string"),
        ("associated_files", "[AssociatedFile]"),
        ("min_parser_version", "string"),
    ),
}

_SCALARS = {  # kind -> (flags to read, Builder slot method)
    "uint": (N.Uint32Flags, "PrependUint32Slot"),
    "int": (N.Int32Flags, "PrependInt32Slot"),
    "float": (N.Float32Flags, "PrependFloat32Slot"),
}
_ENUM_FLAGS = N.Int8Flags  # every enum of the schema is `: byte`
_UNION_TYPE_FLAGS = N.Uint8Flags


@dataclasses.dataclass(frozen=True)
class _Field:
    name: str
    kind: str  # element kind for vectors
    vector: bool
    slot: int  # for unions: the slot of `<name>_type`; the value is slot + 1


def _layout(fields: tuple[tuple[str, str], ...]) -> tuple[tuple[_Field, ...], int]:
    out, slot = [], 0
    for name, kind in fields:
        vector = kind.startswith("[")
        kind = kind.strip("[]")
        out.append(_Field(name, kind, vector, slot))
        slot += 2 if kind in _UNIONS else 1
    return tuple(out), slot


_LAYOUT = {name: _layout(fields) for name, fields in _TABLES.items()}


# ---------------------------------------------------------------------------
# Encoder: dict tree -> flatbuffer bytes
# ---------------------------------------------------------------------------


def _enum_value(enum: str, value: Any) -> int:
    names = _ENUMS[enum]
    if isinstance(value, str):
        if value not in names:
            raise ValueError(f"{value!r} is not a member of {enum} {names}")
        return names.index(value)
    return int(value)


def _encode_vector(b: flatbuffers.Builder, field: _Field, items: Sequence[Any]) -> int:
    kind = field.kind
    if kind == "string" or kind in _TABLES:
        offsets = [
            b.CreateString(item) if kind == "string" else _encode_table(b, kind, item)
            for item in items
        ]
        b.StartVector(4, len(offsets), 4)
        for off in reversed(offsets):
            b.PrependUOffsetTRelative(off)
        return b.EndVector()
    if kind == "float":
        b.StartVector(4, len(items), 4)
        for x in reversed(items):
            b.PrependFloat32(float(x))
        return b.EndVector()
    if kind == "uint":
        b.StartVector(4, len(items), 4)
        for x in reversed(items):
            b.PrependUint32(int(x))
        return b.EndVector()
    if kind == "ubyte":  # CustomMetadata.data is (force_align: 16)
        data = bytes(items)
        b.StartVector(1, len(data), 16)
        for x in reversed(data):
            b.PrependUint8(x)
        return b.EndVector()
    raise ValueError(f"vectors of {kind} are not in the metadata schema")


def _encode_table(b: flatbuffers.Builder, table: str, obj: dict[str, Any]) -> int:
    fields, num_slots = _LAYOUT[table]
    known = {f.name for f in fields} | {f.name + "_type" for f in fields if f.kind in _UNIONS}
    unknown = sorted(set(obj) - known)
    if unknown:
        raise ValueError(f"{table} has no field(s) {unknown}; its fields are {sorted(known)}")

    # Children (strings, vectors, sub-tables) must be built before the table starts.
    children: dict[str, int] = {}
    for f in fields:
        value = obj.get(f.name)
        if value is None:
            continue
        if f.vector:
            children[f.name] = _encode_vector(b, f, value)
        elif f.kind == "string":
            children[f.name] = b.CreateString(value)
        elif f.kind in _TABLES:
            children[f.name] = _encode_table(b, f.kind, value)
        elif f.kind in _UNIONS:
            member = obj.get(f.name + "_type")
            if member not in _UNIONS[f.kind][1:]:
                raise ValueError(
                    f"{table}.{f.name}_type must name one of {_UNIONS[f.kind][1:]}, got {member!r}"
                )
            children[f.name] = _encode_table(b, member, value)

    b.StartObject(num_slots)
    for f in fields:
        value = obj.get(f.name)
        if value is None:
            continue
        if f.name in children:
            if f.kind in _UNIONS:
                b.PrependUint8Slot(f.slot, _UNIONS[f.kind].index(obj[f.name + "_type"]), 0)
                b.PrependUOffsetTRelativeSlot(f.slot + 1, children[f.name], 0)
            else:
                b.PrependUOffsetTRelativeSlot(f.slot, children[f.name], 0)
        elif f.kind in _ENUMS:
            b.PrependInt8Slot(f.slot, _enum_value(f.kind, value), 0)
        elif f.kind in _SCALARS:
            getattr(b, _SCALARS[f.kind][1])(f.slot, value, 0)
        else:
            raise ValueError(f"{table}.{f.name}: unsupported kind {f.kind}")
    return b.EndObject()


def encode(tree: dict[str, Any]) -> bytes:
    """Serialize a `ModelMetadata` dict tree to a metadata flatbuffer ("M001").

    Scalars present in the tree are written even when they equal the schema
    default, so `decode(encode(tree)) == tree` for any tree of schema fields.
    """
    b = flatbuffers.Builder(1024)
    b.ForceDefaults(True)
    root = _encode_table(b, "ModelMetadata", tree)
    b.Finish(root, file_identifier=FILE_IDENTIFIER)
    return bytes(b.Output())


# ---------------------------------------------------------------------------
# Decoder: flatbuffer bytes -> dict tree
# ---------------------------------------------------------------------------


def _float32(x: float) -> float:
    """The float32 value as the shortest decimal that reads back to it."""
    return float(str(np.float32(x)))


def _name(names: tuple[str, ...], value: int) -> str | int:
    return names[value] if 0 <= value < len(names) else value  # newer schema: keep the number


def _decode_table(tab: Table, table: str) -> dict[str, Any]:
    fields, _ = _LAYOUT[table]
    out: dict[str, Any] = {}
    for f in fields:
        o = tab.Offset(4 + 2 * f.slot)
        if not o:
            continue
        if f.kind in _UNIONS:
            member = _name(_UNIONS[f.kind], tab.Get(_UNION_TYPE_FLAGS, o + tab.Pos))
            v = tab.Offset(4 + 2 * (f.slot + 1))
            if not v or member == "NONE":
                continue
            out[f.name + "_type"] = member
            if isinstance(member, int):  # a union member this schema does not know
                out[f.name] = None
                continue
            sub = Table(bytearray(), 0)
            tab.Union(sub, v)
            out[f.name] = _decode_table(sub, member)
        elif f.vector:
            start, n = tab.Vector(o), tab.VectorLen(o)
            if f.kind == "string":
                out[f.name] = [tab.String(start + 4 * i).decode("utf-8") for i in range(n)]
            elif f.kind in _TABLES:
                out[f.name] = [
                    _decode_table(Table(tab.Bytes, tab.Indirect(start + 4 * i)), f.kind)
                    for i in range(n)
                ]
            elif f.kind == "float":
                out[f.name] = [_float32(x) for x in tab.GetVectorAsNumpy(N.Float32Flags, o)]
            elif f.kind == "uint":
                out[f.name] = [int(x) for x in tab.GetVectorAsNumpy(N.Uint32Flags, o)]
            elif f.kind == "ubyte":
                out[f.name] = [int(x) for x in tab.GetVectorAsNumpy(N.Uint8Flags, o)]
        elif f.kind == "string":
            out[f.name] = tab.String(o + tab.Pos).decode("utf-8")
        elif f.kind in _TABLES:
            out[f.name] = _decode_table(Table(tab.Bytes, tab.Indirect(o + tab.Pos)), f.kind)
        elif f.kind in _ENUMS:
            out[f.name] = _name(_ENUMS[f.kind], tab.Get(_ENUM_FLAGS, o + tab.Pos))
        elif f.kind in _SCALARS:
            value = tab.Get(_SCALARS[f.kind][0], o + tab.Pos)
            out[f.name] = _float32(value) if f.kind == "float" else int(value)
    return out


def decode(data: bytes) -> dict[str, Any]:
    """Parse a metadata flatbuffer into its `ModelMetadata` dict tree."""
    if len(data) < 8 or bytes(data[4:8]) != FILE_IDENTIFIER:
        found = bytes(data[4:8]) if len(data) >= 8 else b""
        raise integrity.FileProblem(
            f"the model's {METADATA_NAME} entry is not TFLite Metadata: expected the flatbuffer "
            f"identifier {FILE_IDENTIFIER.decode()!r}, found {found!r}. Re-attach metadata "
            "with `mobilekit.export.metadata.attach`."
        )
    buf = bytearray(data)
    try:
        root = N.UOffsetTFlags.py_type(struct.unpack_from("<I", buf, 0)[0])
        return _decode_table(Table(buf, root), "ModelMetadata")
    except integrity.PARSE_ERRORS as exc:
        raise integrity.damaged(
            f"its {METADATA_NAME} flatbuffer is not a whole ModelMetadata table ({integrity.reason(exc)})"
        ) from None


# ---------------------------------------------------------------------------
# min_parser_version: the newest schema version among the fields written
# (the rules of TFLite Support's metadata_version.cc).
# ---------------------------------------------------------------------------

_BASE_VERSION = (1, 0, 0)


def _files_version(files: Iterable[dict[str, Any]] | None) -> tuple[int, int, int]:
    version = _BASE_VERSION
    for f in files or ():
        if f.get("type") == "VOCABULARY":
            version = max(version, (1, 0, 1))
        if f.get("type") == "SCANN_INDEX_FILE":
            version = max(version, (1, 4, 0))
        if f.get("version") is not None:
            version = max(version, (1, 4, 1))
    return version


def _units_version(units: Iterable[dict[str, Any]] | None) -> tuple[int, int, int]:
    newer = {
        "BertTokenizerOptions": (1, 1, 0),
        "SentencePieceTokenizerOptions": (1, 1, 0),
        "RegexTokenizerOptions": (1, 2, 1),
    }
    return max(
        [_BASE_VERSION] + [newer.get(u.get("options_type"), _BASE_VERSION) for u in units or ()]
    )


def min_parser_version(tree: dict[str, Any]) -> str:
    """The smallest metadata parser version that understands every field of `tree`."""
    version = _files_version(tree.get("associated_files"))
    for sub in tree.get("subgraph_metadata") or ():
        version = max(version, _files_version(sub.get("associated_files")))
        for tensor in (sub.get("input_tensor_metadata") or []) + (
            sub.get("output_tensor_metadata") or []
        ):
            version = max(
                version,
                _files_version(tensor.get("associated_files")),
                _units_version(tensor.get("process_units")),
            )
            if (tensor.get("content") or {}).get("content_properties_type") == "AudioProperties":
                version = max(version, (1, 3, 0))
        for key, added in (
            ("input_process_units", (1, 1, 0)),
            ("output_process_units", (1, 1, 0)),
        ):
            if sub.get(key) is not None:
                version = max(version, added, _units_version(sub[key]))
        for key, added in (
            ("input_tensor_groups", (1, 2, 0)),
            ("output_tensor_groups", (1, 2, 0)),
            ("custom_metadata", (1, 5, 0)),
        ):
            if sub.get(key) is not None:
                version = max(version, added)
    return ".".join(str(v) for v in version)


# ---------------------------------------------------------------------------
# The spec of an image classifier's metadata
# ---------------------------------------------------------------------------

_COLOR_SPACES = {"RGB": 3, "GRAYSCALE": 1}


def _floats(name: str, values: Any) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise UserError(
            f"metadata {name} must be a list of numbers, one per channel; got {values!r}. "
            f"Pass e.g. {name}=[0, 0, 0]."
        ) from None
    if not out or not all(math.isfinite(v) for v in out):
        raise UserError(
            f"metadata {name} must be a non-empty list of finite numbers; got {values!r}. "
            f"Pass one value per channel, or a single value for all channels."
        )
    return out


@dataclasses.dataclass(frozen=True)
class ModelMetadataSpec:
    """What `attach` writes into an image classifier's metadata.

    mobilekit models take raw RGB pixels in [0, 255] and normalize inside the
    graph, so the defaults say "no normalization outside the model":
    mean 0, std 1, values 0..255. A model that expects normalized input gets
    its own `mean`/`std` (``(pixel - mean) / std`` per channel, as the Task
    Library applies it). Lists of one value apply to all channels. MediaPipe's
    ImageClassifier refuses a float input whose mean or std differ between
    channels (uint8 inputs ignore them), so `attach` warns about that.
    Empty strings are left out of the file; an empty `output_description`
    becomes "Probabilities of the N labels respectively.".
    """

    name: str
    labels: tuple[str, ...]
    description: str = ""
    version: str = ""
    author: str = ""
    license: str = ""
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    input_min: tuple[float, ...] = (0.0, 0.0, 0.0)  # Stats.min of the input, per channel
    input_max: tuple[float, ...] = (255.0, 255.0, 255.0)  # Stats.max of the input, per channel
    color_space: str = "RGB"
    input_name: str = "image"
    input_description: str = "Input image to be classified."
    output_name: str = "probability"
    output_description: str = ""  # empty: "Probabilities of the N labels respectively."
    labels_file: str = LABELS_FILE

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if isinstance(self.labels, str) or not isinstance(self.labels, Iterable):
            raise UserError(
                f"metadata labels must be a list of class names, got {type(self.labels).__name__}. "
                "Pass labels=['cat', 'dog', ...], one name per model output."
            )
        set_(self, "labels", tuple(self.labels))
        if not self.output_description:
            set_(
                self,
                "output_description",
                f"Probabilities of the {len(self.labels)} labels respectively.",
            )
        for field in ("mean", "std", "input_min", "input_max"):
            set_(self, field, _floats(field, getattr(self, field)))
        for field in (
            "name", "description", "version", "author", "license", "color_space",
            "input_name", "input_description", "output_name", "output_description", "labels_file",
        ):  # fmt: skip
            if not isinstance(getattr(self, field), str):
                raise UserError(
                    f"metadata {field} must be a string, got {getattr(self, field)!r}. "
                    f"Pass {field}='...' (or leave it out)."
                )
        if not self.name.strip():
            raise UserError(
                "metadata name is empty. Pass the model's name, e.g. name='mobilenet_v2'."
            )
        if not self.labels:
            raise UserError(
                "metadata labels are empty: a classifier needs one label per output class. "
                "Pass the class names in output order."
            )
        for i, label in enumerate(self.labels):
            if not isinstance(label, str) or not label.strip() or any(c in label for c in "\r\n"):
                raise UserError(
                    f"label #{i} ({label!r}) is not usable: every label must be a non-empty "
                    "string on one line (labels.txt holds one label per line). Fix or rename it."
                )
        if len(self.mean) != len(self.std):
            raise UserError(
                f"metadata mean has {len(self.mean)} value(s) but std has {len(self.std)}; "
                "they must match (one per channel, or one for all channels)."
            )
        if any(s == 0 for s in self.std):
            raise UserError(
                f"metadata std {list(self.std)} contains 0, which would divide by zero. "
                "Use std=[1, 1, 1] for models that take raw pixels."
            )
        if len(self.input_min) != len(self.input_max):
            raise UserError(
                f"metadata input_min has {len(self.input_min)} value(s) but input_max has "
                f"{len(self.input_max)}; they must match."
            )
        if any(lo > hi for lo, hi in zip(self.input_min, self.input_max)):
            raise UserError(
                f"metadata input_min {list(self.input_min)} exceeds input_max "
                f"{list(self.input_max)}. Pass the smallest and largest input values per channel."
            )
        if self.color_space not in _COLOR_SPACES:
            raise UserError(
                f"metadata color_space {self.color_space!r} is not supported; "
                f"expected one of {sorted(_COLOR_SPACES)}."
            )
        if not self.labels_file or "/" in self.labels_file or "\\" in self.labels_file:
            raise UserError(
                f"metadata labels_file {self.labels_file!r} must be a plain file name such as "
                "'labels.txt' (it names the file inside the model's ZIP)."
            )
        for field in ("input_name", "output_name"):
            if not getattr(self, field).strip():
                raise UserError(f"metadata {field} is empty. Pass a tensor name, e.g. 'image'.")


def _check_channels(spec: ModelMetadataSpec, channels: int) -> None:
    expected = _COLOR_SPACES[spec.color_space]
    if channels != expected:
        raise UserError(
            f"the model's input has {channels} channel(s) but color_space {spec.color_space!r} "
            f"needs {expected}. Pass the color space of the model's input."
        )
    for field in ("mean", "std", "input_min", "input_max"):
        n = len(getattr(spec, field))
        if n not in (1, channels):
            raise UserError(
                f"metadata {field} has {n} values but the model's input has {channels} "
                f"channel(s). Pass {channels} values (one per channel) or 1 (for all channels)."
            )


def _image_io(
    summary: tflite_file.Summary, n_labels: int
) -> tuple[tflite_file.TensorInfo, tflite_file.TensorInfo]:
    if len(summary.inputs) != 1 or len(summary.outputs) != 1:
        raise UserError(
            f"image classifier metadata needs a model with one input and one output; this one "
            f"has {len(summary.inputs)} input(s) and {len(summary.outputs)} output(s). "
            "Export the classifier alone (image in, class scores out)."
        )
    image, scores = summary.inputs[0], summary.outputs[0]
    if len(image.shape) != 4 or image.shape[0] != 1:
        raise UserError(
            f"the model's input has shape {list(image.shape)}; image classifier metadata expects "
            "[1, height, width, channels]. Convert the model with a batch size of 1 (NHWC)."
        )
    if not scores.shape or scores.shape[-1] != n_labels:
        classes = scores.shape[-1] if scores.shape else 0
        raise UserError(
            f"{n_labels} label(s) given but the model's output {scores.name!r} (shape "
            f"{list(scores.shape)}) has {classes} classes. Pass exactly {classes} labels, "
            "in the order of the model's outputs."
        )
    return image, scores


def build_tree(spec: ModelMetadataSpec, summary: tflite_file.Summary) -> dict[str, Any]:
    """The `ModelMetadata` dict tree that `attach` writes for `spec` on this model."""
    image, scores = _image_io(summary, len(spec.labels))
    _, height, width, channels = image.shape
    _check_channels(spec, channels)
    input_md = {
        "name": spec.input_name,
        "description": spec.input_description,
        "content": {
            "content_properties_type": "ImageProperties",
            "content_properties": {
                "color_space": spec.color_space,
                "default_size": {"width": width, "height": height},
            },
        },
        "process_units": [
            {
                "options_type": "NormalizationOptions",
                "options": {"mean": list(spec.mean), "std": list(spec.std)},
            }
        ],
        "stats": {"max": list(spec.input_max), "min": list(spec.input_min)},
    }
    output_md = {
        "name": spec.output_name,
        "description": spec.output_description,
        "content": {"content_properties_type": "FeatureProperties", "content_properties": {}},
        "associated_files": [
            {
                "name": spec.labels_file,
                "description": "Labels for categories that the model can recognize.",
                "type": "TENSOR_AXIS_LABELS",
            }
        ],
    }
    tree: dict[str, Any] = {"name": spec.name}
    for key in ("description", "version"):
        if getattr(spec, key):
            tree[key] = getattr(spec, key)
    tree["subgraph_metadata"] = [
        {"input_tensor_metadata": [input_md], "output_tensor_metadata": [output_md]}
    ]
    for key in ("author", "license"):
        if getattr(spec, key):
            tree[key] = getattr(spec, key)
    tree["min_parser_version"] = min_parser_version(tree)
    return tree


def labels_text(labels: Sequence[str]) -> bytes:
    """labels.txt as written: one label per line, UTF-8, newline-terminated."""
    return ("\n".join(labels) + "\n").encode("utf-8")


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


def attach(model_bytes: bytes, spec: ModelMetadataSpec) -> bytes:
    """Return `model_bytes` with image classifier metadata and labels.txt attached.

    Existing metadata is replaced: the result carries one ``TFLITE_METADATA``
    entry and one appended ZIP (with ``spec.labels_file`` only). The graph and
    its weights are unchanged, so the interpreter gives identical outputs.
    Raises UserError when the model does not fit the spec (label count versus
    output classes, input layout, channels). Issues a UserWarning for each of
    `reader_problems` (valid metadata that MediaPipe or the Task Library would
    still refuse, e.g. per-channel normalization of a float input).
    """
    model = tflite_file.read(model_bytes)  # parses the flatbuffer only: a trailing ZIP is dropped
    summary = tflite_file.summarize(model_bytes)
    tree = build_tree(spec, summary)
    files = {spec.labels_file: labels_text(spec.labels)}
    for problem in _reader_problems(summary, tree, files, compressed=()):
        warnings.warn(problem, UserWarning, stacklevel=2)
    tflite_file.set_metadata_buffer(model, METADATA_NAME, encode(tree))
    flat = tflite_file.write(model)
    return flat + _zip(files, offset=len(flat))


# ---------------------------------------------------------------------------
# What the readers on phones accept (their checks, read from MediaPipe Tasks'
# image_tensor_specs.cc, image_preprocessing_graph.cc,
# classification_postprocessing_graph.cc and metadata_extractor.cc; the Task
# Library 0.4.4 makes the same type checks).
# ---------------------------------------------------------------------------

_READER_VERSION = (1, 5, 0)  # newest metadata schema MediaPipe's parser knows


def _version_tuple(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return (999,)


def _reader_problems(
    summary: tflite_file.Summary,
    tree: dict[str, Any] | None,
    files: dict[str, bytes] | Iterable[str],
    compressed: Iterable[str],
) -> list[str]:
    problems: list[str] = []
    if len(summary.inputs) != 1:
        return [f"image classifiers take one input; this model has {len(summary.inputs)}."]
    image = summary.inputs[0]
    if image.dtype not in ("uint8", "float32"):
        problems.append(
            f"input {image.name!r} is {image.dtype}; MediaPipe and the Task Library accept only "
            "uint8 or float32 images. Convert with uint8 (or float32) input."
        )
    if len(image.shape) != 4 or image.shape[0] != 1 or image.shape[-1] not in (3, 4):
        problems.append(
            f"input {image.name!r} has shape {list(image.shape)}; the readers expect "
            "[1, height, width, 3]."
        )
    for out in summary.outputs:
        if out.dtype not in ("uint8", "float32"):
            problems.append(
                f"output {out.name!r} is {out.dtype}; MediaPipe accepts only float32 or uint8 "
                "scores. Convert with uint8 (or float32) output."
            )
    sub = ((tree or {}).get("subgraph_metadata") or [{}])[0]
    image_md = (sub.get("input_tensor_metadata") or [{}])[0]
    norm = next(
        (u.get("options") or {} for u in image_md.get("process_units") or []
         if u.get("options_type") == "NormalizationOptions"),
        None,
    )  # fmt: skip
    if image.dtype == "float32":
        if norm is None:
            problems.append(
                "the float32 input has no NormalizationOptions metadata, which MediaPipe and the "
                "Task Library require to feed float images. Attach metadata with `attach`."
            )
        else:
            mean, std = norm.get("mean") or [], norm.get("std") or []
            if len(mean) != len(std) or len(mean) not in (1, 3):
                problems.append(
                    f"NormalizationOptions has {len(mean)} mean and {len(std)} std values; "
                    "the readers need 1 or 3 of each."
                )
            elif len(set(mean)) > 1 or len(set(std)) > 1:
                problems.append(
                    f"NormalizationOptions mean {mean} / std {std} differ between channels: "
                    "MediaPipe's ImageClassifier refuses per-channel normalization of float "
                    "inputs ('Per-channel image normalization is not available'). Normalize "
                    "inside the model and use mean=[0], std=[1] (mobilekit models do)."
                )
    if tree is None:
        problems.append(
            "the model has no TFLite Metadata, so results carry no category names. Attach "
            "metadata with labels (`attach`)."
        )
    else:
        version = tree.get("min_parser_version")
        if version and _version_tuple(version) > _READER_VERSION:
            problems.append(f"min_parser_version {version} is newer than the readers' parser.")
        outputs_md = sub.get("output_tensor_metadata")
        if outputs_md is not None and len(outputs_md) != len(summary.outputs):
            problems.append(
                f"the metadata describes {len(outputs_md)} output(s), the model has "
                f"{len(summary.outputs)}."
            )
        for out_md in outputs_md or []:
            if not out_md.get("name"):
                problems.append("an output's metadata has no name, which MediaPipe needs.")
        label_file = _output_label_file(tree)
        if label_file is None:
            problems.append(
                "the output has no TENSOR_AXIS_LABELS file, so results carry no category names."
            )
        elif label_file not in files:
            problems.append(f"the labels file {label_file!r} is not packed in the model.")
    for name in compressed:
        problems.append(
            f"associated file {name!r} is compressed; the readers need stored entries."
        )
    return problems


def reader_problems(model_bytes: bytes) -> list[str]:
    """What would stop MediaPipe Tasks' or the TFLite Task Library's ImageClassifier from
    loading this file as a classifier with labels; [] when nothing would."""
    summary = tflite_file.summarize(model_bytes)
    tree = metadata_tree(model_bytes)
    names, compressed = [], []
    archive = _archive(model_bytes)
    if archive is not None:
        with archive:
            for info in archive.infolist():
                names.append(info.filename)
                if info.compress_type != zipfile.ZIP_STORED:
                    compressed.append(info.filename)
    return _reader_problems(summary, tree, names, compressed)


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def metadata_tree(model_bytes: bytes) -> dict[str, Any] | None:
    """The `ModelMetadata` dict tree of a model, or None when it has no metadata."""
    data = tflite_file.metadata_buffer(tflite_file.read(model_bytes), METADATA_NAME)
    return None if data is None else decode(data)


# What zipfile raises for a packed archive that was cut short or corrupted.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError, struct.error)


def _archive(model_bytes: bytes) -> zipfile.ZipFile | None:
    try:
        return zipfile.ZipFile(io.BytesIO(model_bytes))
    except zipfile.BadZipFile:
        return None  # no packed files
    except _ZIP_ERRORS as exc:
        raise integrity.damaged(f"its packed files are unreadable ({integrity.reason(exc)})") from None


def associated_files(model_bytes: bytes) -> dict[str, bytes]:
    """The files packed in the ZIP appended to the model, by name ({} when there is none)."""
    tflite_file.check_identifier(model_bytes)
    archive = _archive(model_bytes)
    if archive is None:
        return {}
    try:
        with archive:
            return {info.filename: archive.read(info) for info in archive.infolist()}
    except _ZIP_ERRORS as exc:
        raise integrity.damaged(f"its packed files are unreadable ({integrity.reason(exc)})") from None


def _output_label_file(tree: dict[str, Any]) -> str | None:
    for sub in tree.get("subgraph_metadata") or []:
        for tensor in sub.get("output_tensor_metadata") or []:
            for f in tensor.get("associated_files") or []:
                if f.get("type") == "TENSOR_AXIS_LABELS" and f.get("name") and not f.get("locale"):
                    return f["name"]
        break  # the first subgraph is the model's
    return None


def _split_labels(data: bytes) -> list[str]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise integrity.damaged(f"its labels file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def labels(model_bytes: bytes) -> list[str] | None:
    """The class labels of the model's output (its TENSOR_AXIS_LABELS file), or None."""
    tree = metadata_tree(model_bytes)
    name = _output_label_file(tree) if tree else None
    if name is None:
        return None
    files = associated_files(model_bytes)
    if name not in files:
        raise integrity.damaged(
            f"its metadata names the label file {name!r} but no such file is packed in it "
            f"(packed files: {sorted(files) or 'none'})"
        )
    return _split_labels(files[name])


def read(model_bytes: bytes) -> dict[str, Any] | None:
    """The model's metadata as JSON-ready data, or None when it has none.

    ``{"metadata": <ModelMetadata tree, schema field names, incl. min_parser_version>,
    "associated_files": [{"name", "size", "compressed"}, ...]}`` where the list
    names the files packed in the model's ZIP.
    """
    tree = metadata_tree(model_bytes)
    if tree is None:
        return None
    packed = []
    archive = _archive(model_bytes)
    if archive is not None:
        with archive:
            packed = [
                {
                    "name": info.filename,
                    "size": info.file_size,
                    "compressed": info.compress_type != zipfile.ZIP_STORED,
                }
                for info in archive.infolist()
            ]
    return {"metadata": tree, "associated_files": packed}


def read_spec(model_bytes: bytes) -> ModelMetadataSpec | None:
    """Rebuild the `ModelMetadataSpec` of a model's metadata (None when it has none).

    Works for metadata in the shape `attach` writes (one image input, one
    output with labels); `attach(other_model, read_spec(model))` carries the
    metadata over to another conversion of the same network.
    """
    tree = metadata_tree(model_bytes)
    if tree is None:
        return None
    try:
        sub = tree["subgraph_metadata"][0]
        image = sub["input_tensor_metadata"][0]
        scores = sub["output_tensor_metadata"][0]
    except (KeyError, IndexError, TypeError):
        raise integrity.FileProblem(
            "the model's metadata does not describe one input and one output tensor, so it is "
            "not image classifier metadata. Attach new metadata with `attach`."
        ) from None
    norm = next(
        (u["options"] for u in image.get("process_units") or []
         if u.get("options_type") == "NormalizationOptions"),
        {},
    )  # fmt: skip
    stats = image.get("stats") or {}
    props = (image.get("content") or {}).get("content_properties") or {}
    label_file = _output_label_file(tree)
    defaults = ModelMetadataSpec
    try:
        return ModelMetadataSpec(
            name=tree.get("name", ""),
            labels=tuple(labels(model_bytes) or ()),
            description=tree.get("description", ""),
            version=tree.get("version", ""),
            author=tree.get("author", ""),
            license=tree.get("license", ""),
            mean=tuple(norm.get("mean", defaults.mean)),
            std=tuple(norm.get("std", defaults.std)),
            input_min=tuple(stats.get("min", defaults.input_min)),
            input_max=tuple(stats.get("max", defaults.input_max)),
            color_space=props.get("color_space", defaults.color_space),
            input_name=image.get("name", defaults.input_name),
            input_description=image.get("description", ""),
            output_name=scores.get("name", defaults.output_name),
            output_description=scores.get("description", ""),
            labels_file=label_file or LABELS_FILE,
        )
    except integrity.FileProblem:
        raise
    except UserError as error:  # values no classifier spec holds: the file's metadata is damaged or foreign
        raise integrity.FileProblem(f"its metadata is not a classifier's: {error}") from None
