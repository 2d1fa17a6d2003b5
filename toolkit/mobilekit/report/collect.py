"""Read `mobilekit report`'s inputs (recipe run folders, latency JSON files, NetAdapt runs) into rows for tables
and plots.

A latency result is joined to the recipe run whose exported file it measured:
by sha256 when the run's file is on disk, else by the run folder and artifact
path at the end of the result's `file`, else by the file name when only one run
exported a file of that name. Results of one sha256 (host and phone) share a join.

An adaptation (adapt.json) comes from a `mobilekit adapt` folder, the file
itself, or a recipe run whose stages include adapt (its stage folder's file).
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib

from mobilekit.errors import UserError
from mobilekit.report import adaptation, schema
from mobilekit.report.adaptation import Adaptation

RESULTS_FILE = "results.json"
# What the model is after each training stage, on the x axis of the per-stage plot.
PHASES = {"train": "float", "prune": "pruned", "distill": "distilled", "adapt": "adapted", "qat": "QAT"}


@dataclasses.dataclass(frozen=True)
class Step:
    """One stage of a recipe on its accuracy path: best validation accuracy, test top-1 where evaluated."""

    stage: str  # "2_prune"
    phase: str  # float, pruned, distilled, QAT, or the file's mode (int8)
    validation: float | None
    test: float | None


@dataclasses.dataclass
class RecipeRun:
    label: str  # the run folder's name
    source: pathlib.Path
    recipe: str
    model: str
    summary: dict
    steps: list[Step]
    artifact: str | None  # the exported file, relative to the run folder
    sha256: str | None  # of that file, when it is on disk
    adapt_stages: list[str] = dataclasses.field(default_factory=list)  # folders of its adapt stages


@dataclasses.dataclass
class LatencyRow:
    model: str
    mode: str
    device: str
    device_kind: str
    delegate: str
    threads: int
    median_ms: float | None
    p90_ms: float | None
    size_bytes: int | None
    top1: float | None
    error: str | None
    source: str  # the JSON file's name
    file: str | None
    sha256: str | None
    run: str | None = None  # label of the recipe run it was joined to

    @property
    def setting(self) -> str:
        return f"{self.device} / {self.delegate} / {self.threads} thr"


@dataclasses.dataclass
class Collection:
    runs: list[RecipeRun]
    latency: list[LatencyRow]
    inputs: list[tuple[str, str]]  # (path, what it is)
    adaptations: list[Adaptation] = dataclasses.field(default_factory=list)


def collect(paths) -> Collection:
    """Read every input; a UserError for a missing path or a JSON that is none of the kinds."""
    if not paths:
        raise UserError(
            "no inputs. Pass recipe run folders (mobilekit run --output), bench JSON files and/or "
            "adaptation folders (mobilekit adapt --output)."
        )
    collection = Collection([], [], [])
    labels = {"run": {}, "adapt": {}}  # label -> how many inputs of that kind had it
    for path in map(pathlib.Path, paths):
        path = _file_of(path)
        document = schema.read_json(path)
        kind = "adapt" if path.name == adaptation.STATE_FILE else kind_of(document)
        if kind == "recipe":
            run = read_run(document, path)
            run.label = _numbered(run.label, labels["run"])
            collection.runs.append(run)
            notes = [_add_stage(collection, run, folder, labels["adapt"]) for folder in run.adapt_stages]
            collection.inputs.append((str(path), "; ".join([f"recipe run {run.label!r}", *notes])))
        elif kind == "adapt":
            _add_adaptation(collection, document, path, adaptation.label_of(path), labels["adapt"])
        elif kind == "bench":
            rows = read_bench(schema.validate_bench(document, path.name), path.name)
            collection.latency.extend(rows)
            device = document["device"]
            collection.inputs.append(
                (str(path), f"latency results, {device['kind']} {device['name']!r}, {len(rows)} entries")
            )
        else:
            raise UserError(
                f"{path} is neither a recipe results.json (keys 'recipe', 'stages', 'summary'), "
                f"latency results (format {schema.BENCH_FORMAT!r}, see {schema.SCHEMA_FILE.name}) nor "
                f"an {adaptation.STATE_FILE} (keys 'start_ms', 'target_ms', 'iterations')."
            )
    join(collection.runs, collection.latency)
    return collection


def _file_of(path: pathlib.Path) -> pathlib.Path:
    """The file to read for an input: a folder's results.json (a recipe run) or adapt.json (an adaptation)."""
    if not path.is_dir():
        return path
    for name in (RESULTS_FILE, adaptation.STATE_FILE):
        if (path / name).is_file():
            return path / name
    raise UserError(
        f"{path} is a folder without {RESULTS_FILE} or {adaptation.STATE_FILE}. Pass a recipe run folder "
        "(the --output of `mobilekit run`), an adaptation folder (of `mobilekit adapt`) or a JSON file."
    )


def _numbered(label: str, seen: dict[str, int]) -> str:
    """`label`, or for its second and later inputs of one kind `label (2)`, ..."""
    seen[label] = seen.get(label, 0) + 1
    return label + (f" ({seen[label]})" if seen[label] > 1 else "")


def _add_adaptation(collection: Collection, document: dict, path, label: str, seen: dict, **stage) -> Adaptation:
    """Read an adapt.json into the collection, once however many inputs lead to it; returns its adaptation."""
    where = path.resolve()
    item = next((other for other in collection.adaptations if other.source.resolve() == where), None)
    if item is None:
        item = adaptation.read(document, path, _numbered(label, seen), **stage)
        item.plot = adaptation.plot_name(item.label, {other.plot for other in collection.adaptations})
        collection.adaptations.append(item)
        what = f"adaptation {item.label!r}, {len(item.iterations)} iteration(s)"
    else:
        what = f"adaptation {item.label!r}, already read"
    if not stage:
        collection.inputs.append((str(path), what))
    return item


def _add_stage(collection: Collection, run: RecipeRun, folder: str, seen: dict) -> str:
    """Read the adapt.json of `run`'s adapt stage in `folder`; says what it found, for the inputs list.
    The stage's validation accuracy, when it did not fine-tune after adapting, is the last chosen model's."""
    path = run.source.parent / folder / adaptation.STATE_FILE
    if not path.is_file():
        return f"its adapt stage has no {folder}/{adaptation.STATE_FILE}, so no adaptation path"
    document = schema.read_json(path)
    item = _add_adaptation(collection, document, path, f"{run.label}/{folder}", seen, run=run.label, stage=folder)
    for i, step in enumerate(run.steps):
        if step.stage == folder and step.validation is None and item.iterations:
            run.steps[i] = dataclasses.replace(step, validation=item.iterations[-1].chosen.accuracy)
    return f"adaptation path of its stage {folder}"


def kind_of(document: dict) -> str | None:
    """'recipe', 'bench', 'adapt' or None."""
    if {"recipe", "stages"} <= document.keys():
        return "recipe"
    if document.keys() & {"schema", "device", "results"}:
        return "bench"
    if document.keys() & adaptation.KEYS:
        return "adapt"
    return None


def read_run(document: dict, path: pathlib.Path) -> RecipeRun:
    """A recipe run from its results.json (see mobilekit.recipes)."""
    try:
        recipe = document["recipe"]
        model = recipe["model"]
        stages = list(document["stages"])
        summary = dict(document.get("summary", {}))
        steps = _steps(stages, summary)
        adapt_stages = [str(entry["folder"]) for entry in stages if entry["stage"] == "adapt"]
    except (KeyError, TypeError) as error:
        raise UserError(
            f"{path}: not a complete recipe results.json (missing {error}). "
            "Rerun the recipe with `mobilekit run` to rewrite it."
        ) from None
    export = next((entry for entry in stages if entry.get("stage") == "export"), None)
    artifact = export.get("artifact") if export else None
    file = path.parent / artifact if artifact else None
    sha = hashlib.sha256(file.read_bytes()).hexdigest() if file and file.is_file() else None
    description = f"{model['name']} ({model.get('resolution') or 'default'} px, alpha {model.get('alpha', 1.0)})"
    label = path.parent.name if path.name == RESULTS_FILE and path.parent.name else recipe["name"]
    return RecipeRun(
        label=label,
        source=path,
        recipe=recipe["name"],
        model=description,
        summary=summary,
        steps=steps,
        artifact=artifact,
        sha256=sha,
        adapt_stages=adapt_stages,
    )


def _steps(stages: list[dict], summary: dict) -> list[Step]:
    steps = []
    for entry in stages:
        results = entry.get("results", {})
        if entry["stage"] in PHASES:
            validation = results.get("val_accuracy", results.get("accuracy"))
            steps.append(Step(entry["folder"], PHASES[entry["stage"]], validation, None))
        elif entry["stage"] == "export":
            steps.append(Step(entry["folder"], results.get("mode", "file"), None, summary.get("tflite_top1")))
    # The evaluate stage's test top-1: the float model (the last stage before QAT), QAT, and the file.
    trained = [i for i, step in enumerate(steps) if step.phase in PHASES.values()]
    before_qat = [i for i in trained if steps[i].phase != "QAT"]
    for key, candidates in (("float_top1", before_qat), ("qat_top1", [i for i in trained if steps[i].phase == "QAT"])):
        if key in summary and candidates:
            steps[candidates[-1]] = dataclasses.replace(steps[candidates[-1]], test=summary[key])
    return steps


def read_bench(document: dict, source: str) -> list[LatencyRow]:
    """One row per result of a validated latency-results document."""
    device = document["device"]
    rows = []
    for result in document["results"]:
        latency = result.get("latency_ms") or {}
        accuracy = result.get("accuracy") or {}
        rows.append(
            LatencyRow(
                model=result["model"],
                mode=result.get("mode", "unknown"),
                device=device["name"],
                device_kind=device["kind"],
                delegate=result["delegate"],
                threads=result["threads"],
                median_ms=latency.get("median"),
                p90_ms=latency.get("p90"),
                size_bytes=result.get("size_bytes"),
                top1=accuracy.get("top1"),
                error=result.get("error"),
                source=source,
                file=result.get("file"),
                sha256=result.get("sha256"),
            )
        )
    return rows


def join(runs: list[RecipeRun], rows: list[LatencyRow]) -> None:
    """Set each row's `run` and fill its mode, size and top-1 from that run where the result lacks them."""
    by_sha = {run.sha256: run for run in runs if run.sha256}
    names = [pathlib.PurePath(run.artifact).name for run in runs if run.artifact]
    for row in rows:
        row.run = _match(row, runs, by_sha, names)
    for row in rows:  # a phone result of the same file as a joined host result
        if row.run is None and row.sha256:
            row.run = next((other.run for other in rows if other.run and other.sha256 == row.sha256), None)
    labels = {run.label: run for run in runs}
    for row in rows:
        if row.run:
            summary = labels[row.run].summary
            row.top1 = row.top1 if row.top1 is not None else summary.get("tflite_top1")
            row.size_bytes = row.size_bytes if row.size_bytes is not None else summary.get("size_bytes")
            row.mode = row.mode if row.mode != "unknown" else summary.get("mode", "unknown")


def _match(row: LatencyRow, runs, by_sha, names) -> str | None:
    if row.sha256 in by_sha:
        return by_sha[row.sha256].label
    file = pathlib.PurePath(row.file or f"{row.model}.tflite")
    for run in runs:
        if run.artifact and (run.sha256 is None or row.sha256 is None):
            tail = pathlib.PurePath(run.source.parent.name, run.artifact).parts
            if file.parts[-len(tail) :] == tail:
                return run.label
    for run in runs:
        if (
            run.artifact
            and run.sha256 is None
            and names.count(file.name) == 1
            and pathlib.PurePath(run.artifact).name == file.name
            and row.sha256 is None
        ):
            return run.label
    return None
