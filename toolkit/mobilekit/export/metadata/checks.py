"""What the readers on phones accept: the checks of MediaPipe Tasks (image_tensor_specs.cc,
image_preprocessing_graph.cc, classification_postprocessing_graph.cc, metadata_extractor.cc,
image_segmenter_graph.cc, tensors_to_segmentation_calculator.cc) and the TFLite Task Library
0.4.4 (the same type checks), as lists of problems in words.

The image-input and metadata-tree rules hold for every vision task; `classifier_problems`
and `segmenter_problems` put them together with an image classifier's and an image
segmenter's own.
"""

from __future__ import annotations

from typing import Any, Collection, Iterable

from mobilekit.export import tflite_file
from mobilekit.export.metadata import labels as metadata_labels
from mobilekit.export.metadata import schema as metadata_schema
from mobilekit.export.metadata import vision as metadata_vision

_READER_VERSION = (1, 5, 0)  # newest metadata schema MediaPipe's parser knows


def first_subgraph(tree: dict[str, Any] | None) -> dict[str, Any]:
    """The metadata of the model's subgraph ({} when there is none)."""
    return ((tree or {}).get("subgraph_metadata") or [{}])[0]


def image_tensor_problems(image: tflite_file.TensorInfo) -> list[str]:
    problems = []
    if image.dtype not in ("uint8", "float32"):
        problems.append(
            f"input {image.name!r} is {image.dtype}; MediaPipe and the Task Library accept only "
            "uint8 or float32 images. Convert with uint8 (or float32) input."
        )
    if len(image.shape) != 4 or image.shape[0] != 1 or image.shape[-1] not in (3, 4):
        problems.append(
            f"input {image.name!r} has shape {list(image.shape)}; the readers expect [1, height, width, 3]."
        )
    return problems


def score_type_problems(outputs: Iterable[tflite_file.TensorInfo]) -> list[str]:
    return [
        f"output {out.name!r} is {out.dtype}; MediaPipe accepts only float32 or uint8 "
        "scores. Convert with uint8 (or float32) output."
        for out in outputs
        if out.dtype not in ("uint8", "float32")
    ]


def normalization_problems(image: tflite_file.TensorInfo, image_md: dict[str, Any]) -> list[str]:
    """A float input is fed normalized, so the readers need one usable NormalizationOptions."""
    if image.dtype != "float32":
        return []
    norm = metadata_vision.normalization(image_md)
    if norm is None:
        return [
            "the float32 input has no NormalizationOptions metadata, which MediaPipe and the "
            "Task Library require to feed float images. Attach metadata with `attach`."
        ]
    mean, std = norm.get("mean") or [], norm.get("std") or []
    if len(mean) != len(std) or len(mean) not in (1, 3):
        return [
            f"NormalizationOptions has {len(mean)} mean and {len(std)} std values; the readers need 1 or 3 of each."
        ]
    if len(set(mean)) > 1 or len(set(std)) > 1:
        return [
            f"NormalizationOptions mean {mean} / std {std} differ between channels: "
            "MediaPipe's image tasks refuse per-channel normalization of float inputs "
            "('Per-channel image normalization is not available'). Normalize "
            "inside the model and use mean=[0], std=[1] (mobilekit models do)."
        ]
    return []


def tree_problems(tree: dict[str, Any], summary: tflite_file.Summary) -> list[str]:
    """The parser version, and the outputs the metadata describes against the model's."""
    problems = []
    version = tree.get("min_parser_version")
    if version and metadata_schema.version_tuple(version) > _READER_VERSION:
        problems.append(f"min_parser_version {version} is newer than the readers' parser.")
    outputs_md = first_subgraph(tree).get("output_tensor_metadata")
    if outputs_md is not None and len(outputs_md) != len(summary.outputs):
        problems.append(f"the metadata describes {len(outputs_md)} output(s), the model has {len(summary.outputs)}.")
    for out_md in outputs_md or []:
        if not out_md.get("name"):
            problems.append("an output's metadata has no name, which MediaPipe needs.")
    return problems


def label_file_problems(tree: dict[str, Any], packed: Collection[str]) -> list[str]:
    label_file = metadata_labels.output_label_file(tree)
    if label_file is None:
        return ["the output has no TENSOR_AXIS_LABELS file, so results carry no category names."]
    if label_file not in packed:
        return [f"the labels file {label_file!r} is not packed in the model."]
    return []


def classifier_problems(
    summary: tflite_file.Summary,
    tree: dict[str, Any] | None,
    packed: Collection[str],
    compressed: Iterable[str],
) -> list[str]:
    """What would stop MediaPipe's or the Task Library's ImageClassifier from loading a model
    with this graph, metadata tree (None: no metadata) and packed files."""
    if len(summary.inputs) != 1:
        return [f"image classifiers take one input; this model has {len(summary.inputs)}."]
    image = summary.inputs[0]
    image_md = (first_subgraph(tree).get("input_tensor_metadata") or [{}])[0]
    problems = image_tensor_problems(image)
    problems += score_type_problems(summary.outputs)
    problems += normalization_problems(image, image_md)
    if tree is None:
        problems.append(
            "the model has no TFLite Metadata, so results carry no category names. Attach "
            "metadata with labels (`attach`)."
        )
    else:
        problems += tree_problems(tree, summary)
        problems += label_file_problems(tree, packed)
    return problems + compressed_problems(compressed)


def compressed_problems(compressed: Iterable[str]) -> list[str]:
    return [f"associated file {name!r} is compressed; the readers need stored entries." for name in compressed]
