"""The labels file packed with a model: how it is written, where the metadata names it, how it
is read back (one UTF-8 label per line, ``labels.txt`` by default)."""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from mobilekit.errors import UserError
from mobilekit.export import integrity

LABELS_FILE = "labels.txt"


def checked_labels(labels: Any, labels_file: str, per: str) -> tuple[str, ...]:
    """`labels` as a tuple, once they and `labels_file` can be written (UserError otherwise):
    one non-empty one-line name per `per` (what each label names, e.g. "output class")."""
    if isinstance(labels, str) or not isinstance(labels, Iterable):
        raise UserError(
            f"metadata labels must be a list of class names, got {type(labels).__name__}. "
            f"Pass labels=['cat', 'dog', ...], one name per {per}."
        )
    labels = tuple(labels)
    if not labels:
        raise UserError(
            f"metadata labels are empty: the model needs one label per {per}. Pass the class names in order."
        )
    for i, label in enumerate(labels):
        if not isinstance(label, str) or not label.strip() or any(c in label for c in "\r\n"):
            raise UserError(
                f"label #{i} ({label!r}) is not usable: every label must be a non-empty "
                "string on one line (labels.txt holds one label per line). Fix or rename it."
            )
    if not isinstance(labels_file, str) or not labels_file or "/" in labels_file or "\\" in labels_file:
        raise UserError(
            f"metadata labels_file {labels_file!r} must be a plain file name such as "
            "'labels.txt' (it names the file inside the model's ZIP)."
        )
    return labels


def labels_text(labels: Sequence[str]) -> bytes:
    """labels.txt as written: one label per line, UTF-8, newline-terminated."""
    return ("\n".join(labels) + "\n").encode("utf-8")


def split_labels(data: bytes) -> list[str]:
    """The labels of a labels file's bytes; DamagedFile when they are not UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise integrity.damaged(f"its labels file is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def axis_labels_file(name: str) -> dict[str, Any]:
    """The `AssociatedFile` entry of a tensor whose last axis `name` labels."""
    return {
        "name": name,
        "description": "Labels for categories that the model can recognize.",
        "type": "TENSOR_AXIS_LABELS",
    }


def output_label_file(tree: dict[str, Any]) -> str | None:
    """The TENSOR_AXIS_LABELS file (without a locale) of the model's outputs, or None."""
    for sub in tree.get("subgraph_metadata") or []:
        for tensor in sub.get("output_tensor_metadata") or []:
            for f in tensor.get("associated_files") or []:
                if f.get("type") == "TENSOR_AXIS_LABELS" and f.get("name") and not f.get("locale"):
                    return f["name"]
        break  # the first subgraph is the model's
    return None
