"""The metadata of an image classifier: one image in, one score per label out, labels packed.

`ModelMetadataSpec` is what `metadata.attach` writes and `metadata.read_spec` gives back;
like every spec it builds its subgraph's tensor metadata, names the files to pack, says what
the readers on phones would refuse, and rebuilds itself from a metadata tree.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Collection, Iterable

from mobilekit.errors import UserError
from mobilekit.export import integrity, tflite_file
from mobilekit.export.metadata import checks as metadata_checks
from mobilekit.export.metadata import labels as metadata_labels
from mobilekit.export.metadata import vision as metadata_vision
from mobilekit.export.metadata.labels import LABELS_FILE


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
        set_(self, "labels", metadata_labels.checked_labels(self.labels, self.labels_file, "output class"))
        if not self.output_description:
            set_(
                self,
                "output_description",
                f"Probabilities of the {len(self.labels)} labels respectively.",
            )
        metadata_vision.check_model_fields(self)
        for field, value in metadata_vision.checked_image_fields(self).items():
            set_(self, field, value)
        metadata_vision.require_strings(self, ("output_name", "output_description"))
        metadata_vision.require_tensor_name(self, "output_name")

    def subgraph_metadata(self, summary: tflite_file.Summary) -> dict[str, Any]:
        """The `SubGraphMetadata` of this classifier on the model `summary` describes."""
        image = _image_input(summary, len(self.labels))
        scores_md = {
            "name": self.output_name,
            "description": self.output_description,
            "content": {"content_properties_type": "FeatureProperties", "content_properties": {}},
            "associated_files": [metadata_labels.axis_labels_file(self.labels_file)],
        }
        return {
            "input_tensor_metadata": [metadata_vision.image_tensor_metadata(self, image)],
            "output_tensor_metadata": [scores_md],
        }

    def packed_files(self) -> dict[str, bytes]:
        """The files packed after the model, by name."""
        return {self.labels_file: metadata_labels.labels_text(self.labels)}

    def reader_problems(self, summary: tflite_file.Summary, tree: dict[str, Any], packed: Collection[str]) -> list[str]:
        """What MediaPipe or the Task Library would refuse in this spec's metadata on the model."""
        return metadata_checks.classifier_problems(summary, tree, packed, compressed=())

    @classmethod
    def from_tree(cls, tree: dict[str, Any], labels: Iterable[str]) -> ModelMetadataSpec:
        """The spec that wrote `tree` (with the `labels` of its packed labels file).

        FileProblem when the tree is not in the shape `attach` writes for a classifier.
        """
        try:
            sub = tree["subgraph_metadata"][0]
            image = sub["input_tensor_metadata"][0]
            scores = sub["output_tensor_metadata"][0]
        except (KeyError, IndexError, TypeError):
            raise integrity.FileProblem(
                "the model's metadata does not describe one input and one output tensor, so it "
                "is not image classifier metadata. Attach new metadata with `attach`."
            ) from None
        try:
            return cls(
                **{field: tree.get(field, "") for field in metadata_vision.MODEL_FIELDS},
                labels=tuple(labels),
                **metadata_vision.image_fields(image),
                output_name=scores.get("name", cls.output_name),
                output_description=scores.get("description", ""),
                labels_file=metadata_labels.output_label_file(tree) or LABELS_FILE,
            )
        except UserError as error:  # values no classifier spec holds: damaged or foreign metadata
            raise integrity.FileProblem(f"its metadata is not a classifier's: {error}") from None


def _image_input(summary: tflite_file.Summary, n_labels: int) -> tflite_file.TensorInfo:
    """The model's image input, once its tensors are those of a classifier of `n_labels`."""
    image, scores = metadata_vision.image_and_output(summary, "image classifier", "class scores")
    if not scores.shape or scores.shape[-1] != n_labels:
        classes = scores.shape[-1] if scores.shape else 0
        raise UserError(
            f"{n_labels} label(s) given but the model's output {scores.name!r} (shape "
            f"{list(scores.shape)}) has {classes} classes. Pass exactly {classes} labels, "
            "in the order of the model's outputs."
        )
    return image
