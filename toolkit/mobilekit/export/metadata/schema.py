"""The TFLite Metadata schema as data, and the one encoder and decoder that walk it.

The schema (``metadata_schema.fbs`` of TFLite Support, file identifier ``M001``)
is written down once below (`_TABLES`, `_ENUMS`, `_UNIONS`). `encode` turns a
`ModelMetadata` dict tree into the flatbuffer stored in a model's
``TFLITE_METADATA`` entry and `decode` reads it back; the dict form follows the
schema's field names, enum and union member names, the same shape as
``flatc --json`` output. `min_parser_version` tells the oldest parser that
understands a tree. Nothing here knows what kind of model a tree describes.

The tables also hold MediaPipe's ``ImageSegmenterOptions``
(``image_segmenter_metadata_schema.fbs``, file identifier ``V001``): a flatbuffer
of its own that a segmenter's `SubGraphMetadata.custom_metadata` entry named
``SEGMENTER_METADATA`` carries as bytes; `encode` and `decode` take it as `root`.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Any, Iterable, Sequence

import flatbuffers
import numpy as np
from flatbuffers import number_types as N
from flatbuffers.table import Table

from mobilekit.export import integrity

METADATA_NAME = "TFLITE_METADATA"  # the Model.metadata entry that holds the flatbuffer
FILE_IDENTIFIER = b"M001"
# MediaPipe's image segmenter options: the CustomMetadata name its ImageSegmenter looks for
# (image_segmenter_graph.cc), and the identifier its metadata writer gives the flatbuffer.
SEGMENTER_METADATA = "SEGMENTER_METADATA"
SEGMENTER_FILE_IDENTIFIER = b"V001"

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
    "Activation": ("NONE", "SIGMOID", "SOFTMAX"),  # image_segmenter_metadata_schema.fbs
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
    # The root of image_segmenter_metadata_schema.fbs (MediaPipe; schema version 1.0.0).
    "ImageSegmenterOptions": (("activation", "Activation"), ("min_parser_version", "string")),
}


def enum_members(enum: str) -> tuple[str, ...]:
    """The member names of a schema enum, in value order."""
    return _ENUMS[enum]


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
        offsets = [b.CreateString(item) if kind == "string" else _encode_table(b, kind, item) for item in items]
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
                raise ValueError(f"{table}.{f.name}_type must name one of {_UNIONS[f.kind][1:]}, got {member!r}")
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


def encode(tree: dict[str, Any], root: str = "ModelMetadata", identifier: bytes = FILE_IDENTIFIER) -> bytes:
    """Serialize a `ModelMetadata` dict tree to a metadata flatbuffer ("M001"), or a tree of
    another `root` table (``ImageSegmenterOptions``, with its `identifier` ``V001``).

    Scalars present in the tree are written even when they equal the schema
    default, so `decode(encode(tree)) == tree` for any tree of schema fields.
    """
    b = flatbuffers.Builder(1024)
    b.ForceDefaults(True)
    offset = _encode_table(b, root, tree)
    b.Finish(offset, file_identifier=identifier)
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
                out[f.name] = [_decode_table(Table(tab.Bytes, tab.Indirect(start + 4 * i)), f.kind) for i in range(n)]
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


def decode(
    data: bytes,
    root: str = "ModelMetadata",
    identifier: bytes | None = FILE_IDENTIFIER,
    entry: str = METADATA_NAME,
) -> dict[str, Any]:
    """Parse a metadata flatbuffer into its `ModelMetadata` dict tree, or into a tree of another
    `root` table. `identifier` None reads a flatbuffer whatever its identifier (MediaPipe reads
    ``SEGMENTER_METADATA`` so); `entry` names where the bytes came from in error messages."""
    if identifier is not None and (len(data) < 8 or bytes(data[4:8]) != identifier):
        found = bytes(data[4:8]) if len(data) >= 8 else b""
        raise integrity.FileProblem(
            f"the model's {entry} entry is not {'TFLite Metadata' if root == 'ModelMetadata' else root}: "
            f"expected the flatbuffer identifier {identifier.decode()!r}, found {found!r}. Re-attach "
            "metadata with `mobilekit.export.metadata.attach`."
        )
    buf = bytearray(data)
    try:
        offset = N.UOffsetTFlags.py_type(struct.unpack_from("<I", buf, 0)[0])
        return _decode_table(Table(buf, offset), root)
    except integrity.PARSE_ERRORS as exc:
        raise integrity.damaged(
            f"its {entry} flatbuffer is not a whole {root} table ({integrity.reason(exc)})"
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
    return max([_BASE_VERSION] + [newer.get(u.get("options_type"), _BASE_VERSION) for u in units or ()])


def min_parser_version(tree: dict[str, Any]) -> str:
    """The smallest metadata parser version that understands every field of `tree`."""
    version = _files_version(tree.get("associated_files"))
    for sub in tree.get("subgraph_metadata") or ():
        version = max(version, _files_version(sub.get("associated_files")))
        for tensor in (sub.get("input_tensor_metadata") or []) + (sub.get("output_tensor_metadata") or []):
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


def version_tuple(text: str) -> tuple[int, ...]:
    """A "1.5.0" version as (1, 5, 0); text that is not a version sorts after every version."""
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return (999,)
