"""The metadata of an image segmenter: one image in, a mask of class scores out, labels packed.

What MediaPipe Tasks' ImageSegmenter reads (image_segmenter_graph.cc and its metadata writer,
metadata_writers/image_segmenter.py):

- the image input, as for every vision task (`vision`): normalization, colour space, size;
- the output, a ``[1, height, width, classes]`` tensor, described as a mask: content
  ImageProperties with colour space GRAYSCALE over dimensions 1..2 (``range {min: 1, max: 2}``),
  and the class names as a TENSOR_AXIS_LABELS file (index i of the category mask names label i);
- a ``SubGraphMetadata.custom_metadata`` entry named ``SEGMENTER_METADATA`` whose data is
  MediaPipe's ``ImageSegmenterOptions`` flatbuffer (identifier ``V001``): the activation that
  turns the output into confidences. Without it MediaPipe warns and uses NONE.

mobilekit's segmentation heads end in a softmax, so their outputs are probabilities already and
the activation written is NONE. SOFTMAX or SIGMOID tell MediaPipe the output holds logits: it
applies them to the confidence masks; the category mask is the argmax either way (both are
monotonic), except that a one-channel mask is cut at 0.5 after SIGMOID.

How MediaPipe 1.2.2 turns the output into masks the image's size (checked against the LiteRT
interpreter with scripts/verify_mediapipe.py --segment): uint8 outputs are dequantized first;
the category mask is the argmax of the class scores interpolated bilinearly with corners
aligned (source = target * (in - 1) / (out - 1)); the confidence masks are resized with
OpenCV's INTER_LINEAR (half-pixel centres), so their argmax can differ from the category mask
near class borders. An image of the model's input size goes into the model unresized; other
sizes are stretched to it (the aspect ratio is not kept).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Collection, Iterable

from mobilekit.errors import UserError
from mobilekit.export import integrity, tflite_file
from mobilekit.export.metadata import checks as metadata_checks
from mobilekit.export.metadata import labels as metadata_labels
from mobilekit.export.metadata import schema as metadata_schema
from mobilekit.export.metadata import vision as metadata_vision
from mobilekit.export.metadata.labels import LABELS_FILE

ACTIVATIONS = metadata_schema.enum_members("Activation")  # ("NONE", "SIGMOID", "SOFTMAX")
OPTIONS_PARSER_VERSION = "1.0.0"  # of image_segmenter_metadata_schema.fbs
MASK_DIMENSIONS = {"min": 1, "max": 2}  # the output's height and width axes


@dataclasses.dataclass(frozen=True)
class SegmenterMetadataSpec:
    """What `attach` writes into an image segmenter's metadata.

    The model-level and image-input fields mean what they mean for `ModelMetadataSpec`
    (mobilekit models take raw RGB pixels 0..255: mean 0, std 1). `labels` name the output's
    channels, one per class, in channel order. `activation` is what MediaPipe applies to the
    output: NONE for outputs that are probabilities already (mobilekit's LR-ASPP ends in a
    softmax), SOFTMAX or SIGMOID for logits. Empty strings are left out of the file; an empty
    `output_description` becomes "Probabilities of the N labels at every pixel.".
    """

    name: str
    labels: tuple[str, ...]
    description: str = ""
    version: str = ""
    author: str = ""
    license: str = ""
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    input_min: tuple[float, ...] = (0.0, 0.0, 0.0)
    input_max: tuple[float, ...] = (255.0, 255.0, 255.0)
    color_space: str = "RGB"
    input_name: str = "image"
    input_description: str = "Input image to be segmented."
    output_name: str = "segmentation_masks"
    output_description: str = ""  # empty: "Probabilities of the N labels at every pixel."
    labels_file: str = LABELS_FILE
    activation: str = "NONE"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "labels", metadata_labels.checked_labels(self.labels, self.labels_file, "output channel"))
        if not self.output_description:
            set_(self, "output_description", f"Probabilities of the {len(self.labels)} labels at every pixel.")
        metadata_vision.check_model_fields(self)
        for field, value in metadata_vision.checked_image_fields(self).items():
            set_(self, field, value)
        metadata_vision.require_strings(self, ("output_name", "output_description"))
        metadata_vision.require_tensor_name(self, "output_name")
        if self.activation not in ACTIVATIONS:
            raise UserError(
                f"metadata activation {self.activation!r} is not one MediaPipe knows; expected one of "
                f"{list(ACTIVATIONS)}. Use 'NONE' when the model's output is probabilities already."
            )

    def subgraph_metadata(self, summary: tflite_file.Summary) -> dict[str, Any]:
        """The `SubGraphMetadata` of this segmenter on the model `summary` describes."""
        image = _image_input(summary, len(self.labels))
        mask_md = {
            "name": self.output_name,
            "description": self.output_description,
            "content": {
                "content_properties_type": "ImageProperties",
                "content_properties": {"color_space": "GRAYSCALE"},
                "range": dict(MASK_DIMENSIONS),
            },
            "associated_files": [metadata_labels.axis_labels_file(self.labels_file)],
        }
        return {
            "input_tensor_metadata": [metadata_vision.image_tensor_metadata(self, image)],
            "output_tensor_metadata": [mask_md],
            "custom_metadata": [
                {"name": metadata_schema.SEGMENTER_METADATA, "data": list(options_bytes(self.activation))}
            ],
        }

    def packed_files(self) -> dict[str, bytes]:
        """The files packed after the model, by name."""
        return {self.labels_file: metadata_labels.labels_text(self.labels)}

    def reader_problems(self, summary: tflite_file.Summary, tree: dict[str, Any], packed: Collection[str]) -> list[str]:
        """What MediaPipe's ImageSegmenter would refuse in this spec's metadata on the model."""
        return segmenter_problems(summary, tree, packed, compressed=(), labels=self.labels)

    @classmethod
    def from_tree(cls, tree: dict[str, Any], labels: Iterable[str]) -> SegmenterMetadataSpec:
        """The spec that wrote `tree` (with the `labels` of its packed labels file).

        FileProblem when the tree is not in the shape `attach` writes for a segmenter.
        """
        sub = metadata_checks.first_subgraph(tree)
        inputs, outputs = sub.get("input_tensor_metadata") or [], sub.get("output_tensor_metadata") or []
        if len(inputs) != 1 or len(outputs) != 1:
            raise integrity.FileProblem(
                "the model's metadata does not describe one input and one output tensor, so it "
                "is not image segmenter metadata. Attach new metadata with `attach`."
            )
        options = segmenter_options(tree)
        try:
            return cls(
                **{field: tree.get(field, "") for field in metadata_vision.MODEL_FIELDS},
                labels=tuple(labels),
                **metadata_vision.image_fields(inputs[0]),
                output_name=outputs[0].get("name", cls.output_name),
                output_description=outputs[0].get("description", ""),
                labels_file=metadata_labels.output_label_file(tree) or LABELS_FILE,
                activation=(options or {}).get("activation", "NONE"),
            )
        except UserError as error:  # values no segmenter spec holds: damaged or foreign metadata
            raise integrity.FileProblem(f"its metadata is not an image segmenter's: {error}") from None


def options_bytes(activation: str) -> bytes:
    """MediaPipe's ImageSegmenterOptions flatbuffer naming `activation` (identifier V001)."""
    tree = {"activation": activation, "min_parser_version": OPTIONS_PARSER_VERSION}
    return metadata_schema.encode(tree, "ImageSegmenterOptions", metadata_schema.SEGMENTER_FILE_IDENTIFIER)


def segmenter_options_data(tree: dict[str, Any] | None) -> bytes | None:
    """The data of the subgraph's SEGMENTER_METADATA custom metadata, or None when it has none."""
    for entry in metadata_checks.first_subgraph(tree).get("custom_metadata") or []:
        if entry.get("name") == metadata_schema.SEGMENTER_METADATA:
            return bytes(entry.get("data") or ())
    return None


def segmenter_options(tree: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ImageSegmenterOptions of a metadata tree (``{"activation": ..., ...}``), or None when
    it has no SEGMENTER_METADATA. Read as MediaPipe reads it, whatever its identifier;
    DamagedFile when the bytes are not such a table."""
    data = segmenter_options_data(tree)
    if data is None:
        return None
    return metadata_schema.decode(
        data, "ImageSegmenterOptions", identifier=None, entry=f"{metadata_schema.SEGMENTER_METADATA} custom metadata"
    )


def is_segmenter_tree(tree: dict[str, Any] | None) -> bool:
    """Whether a metadata tree describes an image segmenter: its subgraph has SEGMENTER_METADATA
    custom metadata, or its (last) output's content is an image (a mask)."""
    if segmenter_options_data(tree) is not None:
        return True
    outputs = metadata_checks.first_subgraph(tree).get("output_tensor_metadata") or []
    return bool(outputs) and (outputs[-1].get("content") or {}).get("content_properties_type") == "ImageProperties"


def mask_problems(mask: tflite_file.TensorInfo, labels: Collection[str] | None, activation: Any) -> list[str]:
    """The output tensor against what ImageSegmenter reads from it."""
    problems = []
    if mask.dtype not in ("uint8", "float32"):
        problems.append(
            f"output {mask.name!r} is {mask.dtype}; MediaPipe's ImageSegmenter reads float32 masks and "
            "dequantizes uint8 ones. Convert with uint8 (or float32) output."
        )
    if len(mask.shape) != 4 or mask.shape[0] != 1:
        problems.append(
            f"output {mask.name!r} has shape {list(mask.shape)}; an image segmenter's output is a "
            "[1, height, width, classes] mask."
        )
        return problems
    channels = mask.shape[-1]
    if labels is not None and len(labels) != channels:
        problems.append(
            f"the labels file names {len(labels)} classes but the mask {mask.name!r} has {channels} "
            "channels: category mask values would name the wrong classes. Attach one label per channel."
        )
    if activation == "SOFTMAX" and channels == 1:
        problems.append("activation SOFTMAX on a one-channel mask: MediaPipe refuses it for confidence masks.")
    return problems


def segmenter_problems(
    summary: tflite_file.Summary,
    tree: dict[str, Any] | None,
    packed: Collection[str],
    compressed: Iterable[str],
    labels: Collection[str] | None,
) -> list[str]:
    """What would stop MediaPipe's ImageSegmenter from loading a model with this graph, metadata
    tree (None: no metadata), packed files and labels, or from naming its category mask's classes."""
    if len(summary.inputs) != 1:
        return [f"image segmenters take one input; this model has {len(summary.inputs)}."]
    image = summary.inputs[0]
    image_md = (metadata_checks.first_subgraph(tree).get("input_tensor_metadata") or [{}])[0]
    problems = metadata_checks.image_tensor_problems(image)
    problems += metadata_checks.normalization_problems(image, image_md)
    activation = None
    if tree is None:
        problems.append(
            "the model has no TFLite Metadata, so masks carry no category names and MediaPipe "
            "assumes activation NONE. Attach metadata with labels (`attach`)."
        )
    else:
        problems += metadata_checks.tree_problems(tree, summary)
        problems += metadata_checks.label_file_problems(tree, packed)
        try:
            options = segmenter_options(tree)
        except UserError as error:
            options = {}
            problems.append(f"{error} MediaPipe would read an unknown activation.")
        if options is None:
            problems.append(
                f"the metadata has no {metadata_schema.SEGMENTER_METADATA} custom metadata, so MediaPipe "
                "assumes activation NONE (right only for outputs that are probabilities). Attach it with "
                "`attach` and a SegmenterMetadataSpec."
            )
        else:
            activation = options.get("activation", "NONE")
            if activation not in ACTIVATIONS:
                problems.append(
                    f"{metadata_schema.SEGMENTER_METADATA} names activation {activation!r}; MediaPipe "
                    f"knows only {list(ACTIVATIONS)} ('Invalid activation type')."
                )
    if len(summary.outputs) != 1:
        problems.append(f"image segmenters have one output, the mask; this model has {len(summary.outputs)}.")
    else:
        problems += mask_problems(summary.outputs[0], labels, activation)
    return problems + metadata_checks.compressed_problems(compressed)


def _image_input(summary: tflite_file.Summary, n_labels: int) -> tflite_file.TensorInfo:
    """The model's image input, once its tensors are those of a segmenter of `n_labels` classes."""
    image, mask = metadata_vision.image_and_output(summary, "image segmenter", "class mask")
    if len(mask.shape) != 4 or mask.shape[0] != 1:
        raise UserError(
            f"the model's output {mask.name!r} has shape {list(mask.shape)}; image segmenter metadata "
            "expects a [1, height, width, classes] mask. Is this a classifier? Use ModelMetadataSpec."
        )
    if mask.shape[-1] != n_labels:
        raise UserError(
            f"{n_labels} label(s) given but the model's output {mask.name!r} (shape "
            f"{list(mask.shape)}) has {mask.shape[-1]} classes. Pass exactly {mask.shape[-1]} labels, "
            "in the order of the output's channels."
        )
    return image
