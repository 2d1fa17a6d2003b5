"""What the metadata of every one-image vision model shares, whatever its outputs are.

A spec (the classifier's `ModelMetadataSpec`, and later a segmenter's or a
detector's) carries the model-level fields (`MODEL_FIELDS`) and the fields of
its image input (`IMAGE_FIELDS`); the functions here check those fields, write
the input tensor's metadata from them, and read them back, so a spec only adds
what its outputs need.
"""

from __future__ import annotations

import math
from typing import Any, Iterable

from mobilekit.errors import UserError
from mobilekit.export import tflite_file

MODEL_FIELDS = ("name", "description", "version", "author", "license")
IMAGE_FIELDS = (
    "mean", "std", "input_min", "input_max", "color_space", "input_name", "input_description",
)  # fmt: skip
_PER_CHANNEL = ("mean", "std", "input_min", "input_max")
COLOR_SPACES = {"RGB": 3, "GRAYSCALE": 1}


def require_strings(spec: Any, fields: Iterable[str]) -> None:
    for field in fields:
        if not isinstance(getattr(spec, field), str):
            raise UserError(
                f"metadata {field} must be a string, got {getattr(spec, field)!r}. "
                f"Pass {field}='...' (or leave it out)."
            )


def require_tensor_name(spec: Any, field: str) -> None:
    if not getattr(spec, field).strip():
        raise UserError(f"metadata {field} is empty. Pass a tensor name, e.g. 'image'.")


def check_model_fields(spec: Any) -> None:
    """UserError unless `spec`'s model-level fields are strings and it has a name."""
    require_strings(spec, MODEL_FIELDS)
    if not spec.name.strip():
        raise UserError("metadata name is empty. Pass the model's name, e.g. name='mobilenet_v2'.")


def _floats(name: str, values: Any) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise UserError(
            f"metadata {name} must be a list of numbers, one per channel; got {values!r}. Pass e.g. {name}=[0, 0, 0]."
        ) from None
    if not out or not all(math.isfinite(v) for v in out):
        raise UserError(
            f"metadata {name} must be a non-empty list of finite numbers; got {values!r}. "
            f"Pass one value per channel, or a single value for all channels."
        )
    return out


def checked_image_fields(spec: Any) -> dict[str, Any]:
    """`spec`'s image-input fields, the per-channel lists as float tuples.

    UserError for values no image input takes: mismatched or zero std, min above
    max, an unknown color space, an empty tensor name.
    """
    fields = {field: getattr(spec, field) for field in IMAGE_FIELDS}
    for field in _PER_CHANNEL:
        fields[field] = _floats(field, fields[field])
    require_strings(spec, ("color_space", "input_name", "input_description"))
    mean, std = fields["mean"], fields["std"]
    low, high = fields["input_min"], fields["input_max"]
    if len(mean) != len(std):
        raise UserError(
            f"metadata mean has {len(mean)} value(s) but std has {len(std)}; "
            "they must match (one per channel, or one for all channels)."
        )
    if any(s == 0 for s in std):
        raise UserError(
            f"metadata std {list(std)} contains 0, which would divide by zero. "
            "Use std=[1, 1, 1] for models that take raw pixels."
        )
    if len(low) != len(high):
        raise UserError(f"metadata input_min has {len(low)} value(s) but input_max has {len(high)}; they must match.")
    if any(lo > hi for lo, hi in zip(low, high)):
        raise UserError(
            f"metadata input_min {list(low)} exceeds input_max "
            f"{list(high)}. Pass the smallest and largest input values per channel."
        )
    if fields["color_space"] not in COLOR_SPACES:
        raise UserError(
            f"metadata color_space {fields['color_space']!r} is not supported; expected one of {sorted(COLOR_SPACES)}."
        )
    require_tensor_name(spec, "input_name")
    return fields


def _check_channels(spec: Any, channels: int) -> None:
    expected = COLOR_SPACES[spec.color_space]
    if channels != expected:
        raise UserError(
            f"the model's input has {channels} channel(s) but color_space {spec.color_space!r} "
            f"needs {expected}. Pass the color space of the model's input."
        )
    for field in _PER_CHANNEL:
        n = len(getattr(spec, field))
        if n not in (1, channels):
            raise UserError(
                f"metadata {field} has {n} values but the model's input has {channels} "
                f"channel(s). Pass {channels} values (one per channel) or 1 (for all channels)."
            )


def image_tensor_metadata(spec: Any, image: tflite_file.TensorInfo) -> dict[str, Any]:
    """The `TensorMetadata` of `spec`'s image on the model's NHWC input `image`."""
    _, height, width, channels = image.shape
    _check_channels(spec, channels)
    return {
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


def normalization(image_md: dict[str, Any]) -> dict[str, Any] | None:
    """The NormalizationOptions of an input's `TensorMetadata`, or None."""
    return next(
        (u.get("options") or {} for u in image_md.get("process_units") or []
         if u.get("options_type") == "NormalizationOptions"),
        None,
    )  # fmt: skip


def image_fields(image_md: dict[str, Any]) -> dict[str, Any]:
    """The image-input fields that an input's `TensorMetadata` states, as keyword arguments
    of a spec: absent ones are left out for the spec's defaults to fill (but a missing
    description reads as "")."""
    norm = normalization(image_md) or {}
    stats = image_md.get("stats") or {}
    props = (image_md.get("content") or {}).get("content_properties") or {}
    found = {
        "mean": norm.get("mean"),
        "std": norm.get("std"),
        "input_min": stats.get("min"),
        "input_max": stats.get("max"),
        "color_space": props.get("color_space"),
        "input_name": image_md.get("name"),
    }
    fields = {
        field: tuple(value) if field in _PER_CHANNEL else value for field, value in found.items() if value is not None
    }
    fields["input_description"] = image_md.get("description", "")
    return fields


def image_and_output(
    summary: tflite_file.Summary, what: str, outputs: str
) -> tuple[tflite_file.TensorInfo, tflite_file.TensorInfo]:
    """The model's one image input [1, H, W, C] and one output, for `what` metadata ("image classifier")
    whose output holds `outputs` ("class scores"); UserError for any other layout."""
    if len(summary.inputs) != 1 or len(summary.outputs) != 1:
        raise UserError(
            f"{what} metadata needs a model with one input and one output; this one "
            f"has {len(summary.inputs)} input(s) and {len(summary.outputs)} output(s). "
            f"Export the {what.split()[-1]} alone (image in, {outputs} out)."
        )
    image = summary.inputs[0]
    if len(image.shape) != 4 or image.shape[0] != 1:
        raise UserError(
            f"the model's input has shape {list(image.shape)}; {what} metadata expects "
            "[1, height, width, channels]. Convert the model with a batch size of 1 (NHWC)."
        )
    return image, summary.outputs[0]
