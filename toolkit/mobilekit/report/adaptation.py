"""Read a NetAdapt run's adapt.json (`mobilekit adapt --output DIR`, a recipe's adapt stage) for its adaptation path.

The file is what `mobilekit.adapt.netadapt` writes after every iteration:
the starting latency and accuracy, the target, and per iteration the budget,
every proposal (channel group, channels kept of the group's, latency, validation
accuracy) and the chosen one. It is checked against `FORMAT` before it is read,
so a damaged file stops the report with its name and the bad field.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re

from mobilekit.errors import UserError
from mobilekit.report import schema

STATE_FILE = "adapt.json"  # the name mobilekit.adapt.netadapt gives it
KEYS = {"start_ms", "target_ms", "iterations"}  # a JSON object with any of these is taken for an adapt.json

_POINT = {
    "type": "object",
    "required": ["group", "channels", "of", "latency_ms", "accuracy"],
    "properties": {
        "group": {"type": "integer"},
        "channels": {"type": "integer", "minimum": 1},
        "of": {"type": "integer", "minimum": 1},
        "latency_ms": {"type": "number", "minimum": 0},
        "accuracy": {"type": ["number", "null"]},
    },
}
# The JSON Schema of what the report reads from an adapt.json; other keys are left alone.
FORMAT = {
    "type": "object",
    "required": ["start_ms", "target_ms", "start_accuracy", "iterations", "reached"],
    "properties": {
        "start_ms": {"type": "number", "exclusiveMinimum": 0},
        "target_ms": {"type": "number", "exclusiveMinimum": 0},
        "start_accuracy": {"type": "number"},
        "settings": {"type": "object", "properties": {"selection": {"type": "string"}}},
        "reached": {"type": "boolean"},
        "stopped": {"type": ["string", "null"]},
        "model": {"type": ["string", "null"]},
        "iterations": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["budget_ms", "proposals", "chosen"],
                "properties": {
                    "budget_ms": {"type": "number"},
                    "proposals": {"type": "array", "items": _POINT},
                    "chosen": _POINT,
                },
            },
        },
    },
}


@dataclasses.dataclass(frozen=True)
class Proposal:
    """`channels` of channel group `group`'s `of` kept: the model's latency and validation accuracy."""

    group: int
    channels: int
    of: int
    latency_ms: float
    accuracy: float | None


@dataclasses.dataclass(frozen=True)
class Iteration:
    budget_ms: float
    chosen: Proposal
    proposals: tuple[Proposal, ...]  # the chosen one among them

    @property
    def others(self) -> list[Proposal]:
        """The proposals not chosen."""
        rest = list(self.proposals)
        if self.chosen in rest:
            rest.remove(self.chosen)
        return rest


@dataclasses.dataclass
class Adaptation:
    label: str
    source: pathlib.Path  # the adapt.json
    start_ms: float
    start_accuracy: float
    target_ms: float
    reached: bool
    stopped: str | None  # why the loop ended; None while a run is unfinished
    selection: str | None  # accuracy or ratio
    iterations: list[Iteration]
    measured_on: str | None = None  # what timed the proposals: this machine, or a latency table's device
    run: str | None = None  # the recipe run it is a stage of
    stage: str | None = None  # that stage's folder ("2_adapt")
    plot: str = ""  # its PNG's file name in the report folder


def problems(document: dict) -> list[str]:
    """Every way `document` is not an adapt.json the report can read, as 'field.path: message'."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(FORMAT)
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{schema.field_path(error.absolute_path)}: {error.message}" for error in errors]


def read(document: dict, path: pathlib.Path, label: str, *, run: str | None = None, stage: str | None = None):
    """The adaptation in `document` (read from `path`); a UserError naming the file and field when it is damaged."""
    found = problems(document)
    if found:
        more = f" (and {len(found) - 1} more problem(s))" if len(found) > 1 else ""
        raise UserError(
            f"{path}: {found[0]}{more}. An adapt.json is written by `mobilekit adapt` and by a recipe's adapt "
            "stage; rerun the adaptation (with --force) to write it again."
        )
    iterations = [
        Iteration(
            budget_ms=entry["budget_ms"],
            chosen=_proposal(entry["chosen"]),
            proposals=tuple(map(_proposal, entry["proposals"])),
        )
        for entry in document["iterations"]
    ]
    return Adaptation(
        label=label,
        source=path,
        start_ms=document["start_ms"],
        start_accuracy=document["start_accuracy"],
        target_ms=document["target_ms"],
        reached=document["reached"],
        stopped=document.get("stopped"),
        selection=document.get("settings", {}).get("selection"),
        iterations=iterations,
        measured_on=document.get("measured_on"),
        run=run,
        stage=stage,
    )


def _proposal(entry: dict) -> Proposal:
    return Proposal(entry["group"], entry["channels"], entry["of"], entry["latency_ms"], entry["accuracy"])


def label_of(path: pathlib.Path) -> str:
    """A standalone adapt.json is named by its folder (the --output of `mobilekit adapt`)."""
    return path.resolve().parent.name or path.stem


def plot_name(label: str, taken: set[str]) -> str:
    """`adapt_<label>.png` with the label's odd characters as '_', numbered when the name is `taken`."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_.") or "run"
    name, count = f"adapt_{slug}.png", 1
    while name in taken:
        count += 1
        name = f"adapt_{slug}_{count}.png"
    return name


def outcome(item: Adaptation) -> str:
    """Whether the target was reached, or why the adaptation stopped short of it."""
    done = len(item.iterations)
    if item.reached:
        return f"reached after {done} iteration(s)"
    if item.stopped:
        return f"not reached; the search stopped after {done} iteration(s): {item.stopped}"
    return f"not reached yet: the run ended after {done} iteration(s) without finishing; rerun it to resume"
