"""YAML recipes: the optimization chain written down, validated, and run stage by stage.

    from mobilekit import recipes
    recipe = recipes.load("recipes/quickstart.yaml")      # validated: errors name the key and the line
    results = recipes.run(recipe, "runs/quickstart")       # rerun: finished stages are skipped

A recipe names the model, the data and the ordered stages::

    model: {name: mobilenet_v3_small, resolution: 32, weights: none}
    data: {source: mnist5k, batch_size: 64}
    stages:
      - train: {epochs: 10}
      - qat: {epochs: 2, learning_rate: 1e-4}
      - export: {mode: int8}
      - evaluate: {}

Every stage takes the model the stages before it made (the first one builds
`model`) and writes its artifact into ``OUTPUT/<n>_<stage>/``; ``results.json``
records, per stage, its settings' fingerprint, seconds and results (accuracy
float/int8, size, sparsity). A rerun skips every stage whose fingerprint (its
settings and those of everything before it) is unchanged and whose artifact is
there; an interrupted training stage resumes from its last epoch.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import pathlib
import re
import shutil
import time
import types
import typing
from typing import Any

from mobilekit import files
from mobilekit.errors import UserError
from mobilekit.formats import IO_TYPES, MODES
from mobilekit.train import OPTIMIZERS, SCHEDULES  # train imports TensorFlow only inside its functions

RESULTS_FILE = "results.json"
SPLITS = ("train", "validation", "test")
SKIP_KINDS = ("first_conv", "depthwise", "classifier")


def _setting(default=dataclasses.MISSING, **checks):
    """A recipe field: its default and the checks its value must pass (choices, low, high, above)."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=checks)
    return dataclasses.field(default=default, metadata=checks)


# ---------------------------------------------------------------------------
# The schema: one dataclass per section and per stage
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A zoo model to build (see `mobilekit models`)."""

    name: str
    resolution: int | None = _setting(None, low=1)
    alpha: float = _setting(1.0, above=0)
    weights: str = "none"
    options: dict = _setting({})
    bn_momentum: float | None = _setting(0.9, low=0, high=0.999999)
    dropout: float | None = _setting(None, low=0, high=0.999999)


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """Where the images come from and how they are split (see `data.load`)."""

    source: str
    batch_size: int = _setting(32, low=1)
    validation_split: float = _setting(0.1, low=0, high=0.9)
    test_split: float | None = _setting(None, low=0, high=0.9)
    augment: bool = True
    seed: int = 0
    train_fraction: float = _setting(1.0, above=0, high=1)  # train on a share of the training split


@dataclasses.dataclass(frozen=True, kw_only=True)
class Training:
    """What every training stage takes (`train.fit`'s settings)."""

    epochs: int = _setting(low=1)
    learning_rate: float = _setting(1e-3, above=0)
    optimizer: str = _setting("adam", choices=OPTIMIZERS)
    schedule: str = _setting("cosine", choices=SCHEDULES)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TeacherSpec(Training):
    """A teacher for distillation: a zoo model, trained here first when `epochs` is given."""

    model: str
    weights: str = "none"
    alpha: float = _setting(1.0, above=0)
    options: dict = _setting({})
    epochs: int | None = _setting(None, low=1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainStage(Training):
    freeze_base: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class PruneStage(Training):
    """Magnitude pruning: sparsity rises over `ramp_epochs`, the rest fine-tune at the target."""

    target_sparsity: float = _setting(0.75, above=0, high=0.99)
    m_by_n: list[int] | None = None
    ramp_epochs: int | None = _setting(None, low=1)  # default: half of epochs, at least 1
    frequency: int = _setting(100, low=1)
    skip: list[str] = _setting(list(SKIP_KINDS), each=SKIP_KINDS)
    skip_layers: list[str] = _setting([])
    learning_rate: float = _setting(1e-4, above=0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DistillStage(Training):
    """Train the model so far (the student) against a frozen teacher's soft labels."""

    teacher: str | TeacherSpec
    alpha: float = _setting(0.1, low=0, high=1)
    temperature: float = _setting(4.0, above=0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class QatStage(Training):
    """Quantization-aware fine-tuning; `teacher` adds the distillation loss ("float": the model before QAT)."""

    learning_rate: float = _setting(1e-4, above=0)
    per_channel: bool = True
    preserve_sparsity: bool | None = None  # default: when a prune stage came before
    calibrate_ranges: bool = True  # start activation ranges at the data's, not tfmot's [-6, 6]
    teacher: str | TeacherSpec | None = None
    alpha: float = _setting(0.1, low=0, high=1)
    temperature: float = _setting(4.0, above=0)


@dataclasses.dataclass(frozen=True)
class ExportStage:
    mode: str = _setting("int8", choices=MODES)
    io: str = _setting("uint8", choices=IO_TYPES)
    calibration_steps: int = _setting(200, low=1)


@dataclasses.dataclass(frozen=True)
class EvaluateStage:
    split: str = _setting("test", choices=SPLITS)


STAGES = {"train": TrainStage, "prune": PruneStage, "distill": DistillStage, "qat": QatStage,
          "export": ExportStage, "evaluate": EvaluateStage}


@dataclasses.dataclass(frozen=True)
class Stage:
    kind: str
    settings: Any  # one of the STAGES dataclasses
    line: int


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    model: ModelSpec
    data: DataSpec
    stages: tuple[Stage, ...]
    description: str = ""
    seed: int = 0
    path: str | None = None

    def to_json(self) -> dict:
        return {"name": self.name, "description": self.description, "seed": self.seed,
                "model": dataclasses.asdict(self.model), "data": dataclasses.asdict(self.data),
                "stages": [{stage.kind: dataclasses.asdict(stage.settings)} for stage in self.stages]}


# ---------------------------------------------------------------------------
# Validation: YAML nodes -> dataclasses, every error with its line
# ---------------------------------------------------------------------------

class _Invalid(Exception):
    def __init__(self, node, message: str):
        super().__init__(message)
        self.line = node.start_mark.line + 1 if node is not None else None
        self.message = message


def load(path: str | os.PathLike) -> Recipe:
    """Read and validate a recipe file; UserError names the file, the line and the key of any problem."""
    path = pathlib.Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"recipe {path} does not exist. Pass a YAML recipe, e.g. recipes/quickstart.yaml.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"cannot read recipe {path}: {error}.") from None
    return parse(text, name=path.stem, origin=str(path))


def parse(text: str, *, name: str = "recipe", origin: str = "<recipe>") -> Recipe:
    """Validate a recipe given as YAML text (see `load`)."""
    import yaml

    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise UserError(f"{origin}{where}: not valid YAML: {problem}.") from None
    try:
        if root is None:
            raise _Invalid(None, "the recipe is empty; it needs model, data and stages")
        return _recipe(root, name, origin)
    except _Invalid as error:
        where = f" line {error.line}" if error.line else ""
        raise UserError(f"{origin}{where}: {error.message}.") from None


def _recipe(root, default_name: str, origin: str) -> Recipe:
    import yaml

    entries = _mapping(root, "the recipe")
    known = ("name", "description", "seed", "model", "data", "stages")
    _check_keys(entries, known, "the recipe")
    for required in ("model", "data", "stages"):
        if required not in entries:
            raise _Invalid(root, f"the recipe has no '{required}' section; it needs model, data and stages")
    stages_node = entries["stages"][1]
    if not isinstance(stages_node, yaml.SequenceNode) or not stages_node.value:
        raise _Invalid(stages_node, "'stages' must be a list of stages, e.g. '- train: {epochs: 5}'")
    stages = tuple(_stage(node, i) for i, node in enumerate(stages_node.value))
    _check_order(stages)
    scalars = {key: _scalar(entries[key][1]) for key in ("name", "description", "seed") if key in entries}
    for key, kind in (("name", str), ("description", str), ("seed", int)):
        if key in scalars and not _is(scalars[key], kind):
            raise _Invalid(entries[key][1], f"'{key}' must be {_KIND_WORDS[kind]}, got {scalars[key]!r}")
    recipe = Recipe(name=scalars.get("name", default_name), description=scalars.get("description", ""),
                    seed=scalars.get("seed", 0), model=_section(ModelSpec, entries["model"][1], "model"),
                    data=_section(DataSpec, entries["data"][1], "data"), stages=stages, path=origin)
    _check_zoo_models(recipe, entries["model"][1], stages_node)
    return recipe


def _check_zoo_models(recipe: Recipe, model_node, stages_node) -> None:
    """Last, once every other setting is known good: the zoo names and options, which import TensorFlow."""
    _check_zoo_model(recipe.model, _value_nodes(model_node), "model")
    for stage, node in zip(recipe.stages, stages_node.value):
        if isinstance(getattr(stage.settings, "teacher", None), TeacherSpec):
            (_, settings_node), = _mapping(node, "").values()
            teacher_node = _mapping(settings_node, "")["teacher"][1]
            _check_zoo_model(stage.settings.teacher, _value_nodes(teacher_node), f"stage '{stage.kind}': 'teacher'")


def _value_nodes(node) -> dict:
    return {key: value_node for key, (_, value_node) in _mapping(node, "").items()}


def _mapping(node, where: str) -> dict:
    """The entries of a YAML mapping node: key -> (key node, value node)."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        raise _Invalid(node, f"{where} must be a mapping of settings (key: value), got {_describe(node)}")
    entries = {}
    for key_node, value_node in node.value:
        key = _scalar(key_node)
        if not isinstance(key, str):
            raise _Invalid(key_node, f"{where} has a key {key!r} that is not a name")
        if key in entries:
            raise _Invalid(key_node, f"'{key}' appears twice in {where}")
        entries[key] = (key_node, value_node)
    return entries


def _check_keys(entries: dict, known, where: str) -> None:
    for key, (key_node, _) in entries.items():
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise _Invalid(key_node, f"unknown key '{key}' in {where}{hint}; known keys: {', '.join(known)}")


def _stage(node, index: int) -> Stage:
    import yaml

    where = f"stage {index + 1}"
    if isinstance(node, yaml.ScalarNode):  # "- export": a stage with all its defaults
        kind, settings_node = _scalar(node), None
    else:
        entries = _mapping(node, where)
        if len(entries) != 1:
            raise _Invalid(node, f"{where} must name one stage with its settings, e.g. '- train: {{epochs: 5}}'; "
                                 f"got {len(entries)} keys ({', '.join(entries)})")
        (kind, (key_node, settings_node)), = entries.items()
        node = key_node
    if kind not in STAGES:
        close = difflib.get_close_matches(str(kind), STAGES, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise _Invalid(node, f"unknown stage {kind!r} in {where}{hint}; stages: {', '.join(STAGES)}")
    empty = settings_node is None or (isinstance(settings_node, yaml.ScalarNode) and _scalar(settings_node) is None)
    settings = (_defaults(STAGES[kind], node, f"stage '{kind}'") if empty
                else _section(STAGES[kind], settings_node, f"stage '{kind}'"))
    return Stage(kind=kind, settings=settings, line=node.start_mark.line + 1)


def _check_order(stages: tuple[Stage, ...]) -> None:
    kinds = [stage.kind for stage in stages]
    if kinds.count("qat") > 1:
        raise _Invalid(_line_node(stages[_nth(kinds, "qat", 2)]), "a recipe has at most one 'qat' stage")
    if "qat" in kinds:
        after = [s for s in stages[kinds.index("qat") + 1:] if s.kind in ("train", "prune", "distill")]
        if after:
            raise _Invalid(_line_node(after[0]), f"stage '{after[0].kind}' comes after 'qat'; training a "
                                                 "quantized model as a float one is not supported. Put "
                                                 "train/prune/distill before qat")
    for index, stage in enumerate(stages):
        if stage.kind == "evaluate" and "export" not in kinds[:index]:
            raise _Invalid(_line_node(stage), "stage 'evaluate' needs an 'export' stage before it: it measures "
                                              "the .tflite file (and the Keras models) on the data")


def _nth(items: list, item, n: int) -> int:
    return [i for i, value in enumerate(items) if value == item][n - 1]


class _LineNode:
    def __init__(self, line: int):
        self.start_mark = types.SimpleNamespace(line=line - 1)


def _line_node(stage: Stage) -> _LineNode:
    return _LineNode(stage.line)


def _defaults(cls, node, where: str):
    required = [f.name for f in dataclasses.fields(cls) if _required(f)]
    if required:
        raise _Invalid(node, f"{where} needs {', '.join(repr(r) for r in required)}")
    return cls()


def _required(field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _section(cls, node, where: str):
    import yaml

    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    entries = _mapping(node, where)
    _check_keys(entries, tuple(fields), where)
    missing = [name for name, f in fields.items() if _required(f) and name not in entries]
    if missing:
        raise _Invalid(node, f"{where} needs {', '.join(repr(m) for m in missing)}")
    values = {key: _value(hints[key], value_node, f"{where}: '{key}'", fields[key].metadata)
              for key, (_, value_node) in entries.items()}
    section = cls(**values)
    if cls in _SECTION_CHECKS:
        _SECTION_CHECKS[cls](section, _value_nodes(node), where)
    return section


_KIND_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "a string",
               dict: "a mapping", list: "a list", type(None): "null"}


def _is(value, kind) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind)


def _value(hint, node, where: str, checks) -> Any:
    """The value of `node` as the type `hint` says, passing `checks`; _Invalid otherwise."""
    import yaml

    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    sections = [o for o in options if dataclasses.is_dataclass(o)]
    if sections and isinstance(node, yaml.MappingNode):
        return _section(sections[0], node, where)
    origin = typing.get_origin
    if isinstance(node, yaml.SequenceNode) and any(origin(o) is list for o in options):
        (item,) = typing.get_args(next(o for o in options if origin(o) is list))
        values = [_value(item, child, f"{where}[{i}]", {}) for i, child in enumerate(node.value)]
        for child, value in zip(node.value, values):
            if "each" in checks and value not in checks["each"]:
                raise _Invalid(child, f"{where} has {value!r}; expected any of {', '.join(checks['each'])}")
        return values
    if isinstance(node, yaml.MappingNode) and dict in options:
        return {key: _scalar(value_node) for key, (_, value_node) in _mapping(node, where).items()}
    value = _scalar(node) if isinstance(node, yaml.ScalarNode) else _Unset
    kinds = [o for o in options if o in _KIND_WORDS and o not in (dict, list)]
    for kind in kinds:
        if value is not _Unset and _is(value, kind):
            value = float(value) if kind is float else value
            _check_value(node, where, value, checks)
            return value
    wanted = [_KIND_WORDS.get(origin(o) or o, getattr(o, "__name__", str(o))) for o in options]
    wanted = [("a mapping of teacher settings" if dataclasses.is_dataclass(o) else w) for o, w in zip(options, wanted)]
    got = _describe(node) if value is _Unset else repr(value)
    raise _Invalid(node, f"{where} must be {' or '.join(wanted)}, got {got}")


_Unset = object()


def _check_value(node, where: str, value, checks) -> None:
    if value is None:
        return
    if "choices" in checks and value not in checks["choices"]:
        raise _Invalid(node, f"{where} is {value!r}; expected one of {', '.join(checks['choices'])}")
    if "low" in checks and value < checks["low"]:
        raise _Invalid(node, f"{where} must be >= {checks['low']}, got {value!r}")
    if "high" in checks and value > checks["high"]:
        raise _Invalid(node, f"{where} must be <= {checks['high']}, got {value!r}")
    if "above" in checks and value <= checks["above"]:
        raise _Invalid(node, f"{where} must be > {checks['above']}, got {value!r}")


def _check_zoo_model(section, nodes: dict, where: str) -> None:
    """The model name is in the zoo and its options are the model's own (UserError's text, with the line)."""
    from mobilekit import models
    from mobilekit.models.registry import REGISTRY, resolve_options

    key = "name" if isinstance(section, ModelSpec) else "model"
    try:
        models.info(getattr(section, key))
    except UserError as error:
        raise _Invalid(nodes[key], f"{where}: {str(error).rstrip('.')}") from None
    try:
        resolve_options(REGISTRY.get(getattr(section, key)), dict(section.options))
    except UserError as error:
        raise _Invalid(nodes["options"], f"{where}: 'options': {str(error).rstrip('.')}") from None


def _check_prune(section: PruneStage, nodes: dict, where: str) -> None:
    pair = section.m_by_n
    if pair is not None and (len(pair) != 2 or not 0 < pair[0] < pair[1]):
        raise _Invalid(nodes["m_by_n"], f"{where}: 'm_by_n' must be [m, n] with 0 < m < n, e.g. [2, 4] "
                                        f"(m zeros in every n consecutive weights), got {pair!r}")
    if section.ramp_epochs is not None and section.ramp_epochs > section.epochs:
        raise _Invalid(nodes["ramp_epochs"], f"{where}: 'ramp_epochs' ({section.ramp_epochs}) must not exceed "
                                             f"'epochs' ({section.epochs})")


def _check_teacher(section, nodes: dict, where: str) -> None:
    teacher = section.teacher
    if not isinstance(teacher, str):
        return
    if isinstance(section, QatStage) and teacher == "float":
        return
    if not pathlib.Path(teacher).expanduser().is_file():
        also = " or 'float' (the model before QAT)" if isinstance(section, QatStage) else ""
        raise _Invalid(nodes["teacher"], f"{where}: 'teacher' {teacher!r} is not a file; give the path of a saved "
                                         f"Keras model (.keras / .h5), a zoo teacher ({{model: NAME, epochs: N}})"
                                         f"{also}")


# Checks of a section's values together (the zoo's names: _check_zoo_models, after all of these).
_SECTION_CHECKS = {PruneStage: _check_prune, DistillStage: _check_teacher, QatStage: _check_teacher}

_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _scalar(node):
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        return _Unset
    value = yaml.SafeLoader("").construct_object(node)
    if isinstance(value, str) and node.style is None and _NUMBER.match(value):
        return float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string; a recipe author means a number
    return value


def _describe(node) -> str:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return repr(_scalar(node))


# ---------------------------------------------------------------------------
# The runner
# ---------------------------------------------------------------------------

MODEL_LOADERS = ("keras", "pruned", "qat")  # how a stage's model file is read back


@dataclasses.dataclass(frozen=True)
class ModelFile:
    """A stage's model artifact and how to read it (tfmot's wrappers need their scope)."""

    path: pathlib.Path
    loader: str

    def load(self):
        from mobilekit.optimize import load_model

        return load_model(self.path)


def fingerprint(recipe: Recipe, upto: int) -> str:
    """A digest of what stage `upto` depends on: model, data, seed and the settings of stages 0..upto."""
    document = recipe.to_json()
    document = {"model": document["model"], "data": document["data"], "seed": document["seed"],
                "stages": document["stages"][:upto + 1]}
    stamps = _file_stamps(document)
    if stamps:
        document["files"] = stamps
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def _file_stamps(value) -> dict:
    """Size and modification time of every file a setting names (weights, teachers): a new file is a new input."""
    if isinstance(value, dict):
        return {k: v for item in value.values() for k, v in _file_stamps(item).items()}
    if isinstance(value, list):
        return {k: v for item in value for k, v in _file_stamps(item).items()}
    if isinstance(value, str) and value and os.path.isfile(value):
        stat = os.stat(value)
        return {value: [stat.st_size, stat.st_mtime_ns]}
    return {}


def stage_folder(index: int, stage: Stage) -> str:
    return f"{index + 1}_{stage.kind}"


def check_output(output_dir: str | os.PathLike) -> pathlib.Path:
    """Fail early if `output_dir` cannot hold a recipe run."""
    def owned_by_run(folder):
        if not any(folder.iterdir()) or (folder / RESULTS_FILE).is_file():
            return None
        return (f"output folder {folder} holds other files and no {RESULTS_FILE}, so it is not a recipe run. "
                "Choose an empty or new folder.")

    return files.check_output_folder(output_dir, writes="a recipe run writes a folder", owned_by_run=owned_by_run)


_STAGE_FOLDER = re.compile(rf"^\d+_({'|'.join(STAGES)})$")


def _clear(folder: pathlib.Path, keep: set[str] = frozenset()) -> None:
    """Remove what earlier runs wrote into `folder` (stage folders, results.json), except `keep`; nothing else."""
    for child in folder.iterdir():
        if child.name in keep:
            continue
        if child.is_dir() and _STAGE_FOLDER.match(child.name):
            shutil.rmtree(child)
        elif child.name == RESULTS_FILE:
            child.unlink()


def read_results(folder: pathlib.Path) -> dict | None:
    path = folder / RESULTS_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UserError(f"cannot read {path}: {error}. Pass --force to run the recipe over.") from None


def run(recipe: Recipe, output_dir: str | os.PathLike, *, force: bool = False, verbose: int = 1,
        show_progress: bool = True, log=None) -> dict:
    """Run the recipe's stages in order into `output_dir`; returns the results (also in results.json).

    Stages finished by an earlier run with the same settings are skipped, an
    interrupted training stage resumes, and a stage whose settings changed runs
    again with every stage after it. `force` runs everything afresh.
    `verbose` is keras' progress display (1 bar, 2 a line per epoch, 0 none);
    `log` receives one line per stage event (default: stderr when show_progress).
    """
    import sys

    folder = check_output(output_dir)
    if log is None:
        log = (lambda line: print(line, file=sys.stderr, flush=True)) if show_progress else (lambda line: None)
    earlier = None if force else read_results(folder)
    if folder.is_dir():  # stage folders of stages this recipe does not have, or all of them with force
        _clear(folder, keep=set() if force else {stage_folder(i, s) for i, s in enumerate(recipe.stages)}
               | {RESULTS_FILE})
    folder.mkdir(exist_ok=True)
    runner = _Runner(recipe, folder, earlier, verbose=verbose, show_progress=show_progress, log=log)
    return runner.run_all()


class _Runner:
    """Carries the model from stage to stage and keeps results.json current."""

    def __init__(self, recipe: Recipe, folder: pathlib.Path, earlier: dict | None, *, verbose: int,
                 show_progress: bool, log):
        from mobilekit import __version__

        self.recipe, self.folder, self.verbose, self.show, self.log = recipe, folder, verbose, show_progress, log
        self.earlier = {entry["folder"]: entry for entry in (earlier or {}).get("stages", [])}
        self.results = {"mobilekit": __version__, "recipe": recipe.to_json(), "source": recipe.path,
                        "stages": [], "summary": {}}
        self._data = None
        self._model = None
        self.model_file: ModelFile | None = None  # what the stages so far made
        self.float_file: ModelFile | None = None  # the last float (not QAT) model
        self.qat_file: ModelFile | None = None
        self.tflite: pathlib.Path | None = None
        self.pruned = False

    # -- state shared by the stages ------------------------------------------------

    @property
    def resolution(self) -> int:
        from mobilekit import models

        return self.recipe.model.resolution or models.info(self.recipe.model.name).default_resolution

    @property
    def data(self):
        if self._data is None:
            from mobilekit.data import datasets

            spec = self.recipe.data
            self._data = datasets.load(spec.source, resolution=self.resolution, batch_size=spec.batch_size,
                                       validation_split=spec.validation_split, test_split=spec.test_split,
                                       seed=spec.seed, augment=spec.augment, train_fraction=spec.train_fraction,
                                       show_progress=self.show)
            self.log(f"data: {self._data.source}, {self._data.num_classes} classes, "
                     + ", ".join(f"{count} {name}" for name, count in self._data.counts.items()))
        return self._data

    def model(self):
        """The model the stages so far made (built from the recipe's `model` before any stage trained)."""
        if self._model is None:
            self._model = self.model_file.load() if self.model_file is not None else self.recipe_model()
        return self._model

    def recipe_model(self):
        spec = self.recipe.model
        return self._build(spec.name, weights=spec.weights, alpha=spec.alpha, options=spec.options,
                           bn_momentum=spec.bn_momentum, dropout=spec.dropout)

    def _build(self, name: str, *, weights: str, alpha: float, options: dict, bn_momentum=0.9, dropout=None):
        from mobilekit import models, train

        train.check_weights_file(weights)
        models.check(name, weights=weights, alpha=alpha, resolution=self.resolution, include_top=False, **options)
        return train.build_model(name, num_classes=self.data.num_classes, weights=weights, alpha=alpha,
                                 resolution=self.resolution, bn_momentum=bn_momentum, dropout=dropout,
                                 seed=self.recipe.seed, **options)

    def produced(self, model_file: ModelFile, model=None) -> None:
        """A stage made a new model: it is the next stage's input."""
        self.model_file, self._model = model_file, model
        if model_file.loader == "qat":
            self.qat_file = model_file
        else:
            self.float_file = model_file

    def fit(self, model, settings, stage_dir: pathlib.Path, fingerprint_: str, **extra) -> dict:
        from mobilekit import train

        return train.fit(model, self.data, epochs=settings.epochs, output_dir=stage_dir,
                         learning_rate=settings.learning_rate, optimizer=settings.optimizer,
                         schedule=settings.schedule, seed=self.recipe.seed,
                         verbose=self.verbose, run_info={"build": {"recipe_stage": fingerprint_}}, **extra)

    # -- the loop ---------------------------------------------------------------

    def run_all(self) -> dict:
        started = time.perf_counter()
        rerun_rest = False
        stages = self.recipe.stages
        for index, stage in enumerate(stages):
            name, digest = stage_folder(index, stage), fingerprint(self.recipe, index)
            stage_dir = self.folder / name
            before = self.earlier.get(name)
            same = before is not None and before.get("fingerprint") == digest
            if not rerun_rest and same and before.get("status") == "done" and self._artifact_present(before):
                self.log(f"[{index + 1}/{len(stages)}] {stage.kind}: done in an earlier run, skipped")
                self._adopt(before)
                self.results["stages"].append(before)
                continue
            if stage_dir.exists() and not (same and before.get("status") == "running" and not rerun_rest):
                shutil.rmtree(stage_dir)  # made with other settings or from another model
            stage_dir.mkdir(exist_ok=True)
            rerun_rest = True
            entry = {"stage": stage.kind, "folder": name, "fingerprint": digest, "status": "running",
                     "settings": dataclasses.asdict(stage.settings)}
            self.results["stages"].append(entry)
            self._save()
            self.log(f"[{index + 1}/{len(stages)}] {stage.kind}: {_settings_line(stage.settings)}")
            t0 = time.perf_counter()
            outcome = getattr(self, f"_{stage.kind}")(stage.settings, stage_dir, digest)
            outcome = json.loads(json.dumps(outcome, default=_json_default))  # as results.json will hold it
            entry.update(status="done", seconds=round(time.perf_counter() - t0, 1), **outcome)
            self._save()
            self.log(f"[{index + 1}/{len(stages)}] {stage.kind}: done in {entry['seconds']:.0f} s")
        self.results["summary"] = summarize(self.results["stages"])
        self.results["summary"]["seconds_this_run"] = round(time.perf_counter() - started, 1)
        self._save()
        return self.results

    def _artifact_present(self, entry: dict) -> bool:
        artifact = entry.get("artifact")
        return artifact is None or (self.folder / artifact).exists()

    def _adopt(self, entry: dict) -> None:
        """Take over what a skipped stage made, without loading it until a later stage needs it."""
        artifact = entry.get("artifact")
        if artifact is None:
            return
        path = self.folder / artifact
        if entry.get("loader") in MODEL_LOADERS:
            self.produced(ModelFile(path, entry["loader"]))
        if entry["stage"] == "prune":
            self.pruned = True
        if entry["stage"] == "export":
            self.tflite = path

    def _save(self) -> None:
        text = json.dumps(self.results, indent=2, default=_json_default) + "\n"
        files.write_atomic(self.folder / RESULTS_FILE, text.encode("utf-8"), force=True)

    def _relative(self, path: pathlib.Path) -> str:
        return str(path.relative_to(self.folder))

    # -- the stages: each returns what goes into its results.json entry ---------

    def _train(self, settings: TrainStage, stage_dir, digest) -> dict:
        history = self.fit(self.model(), settings, stage_dir, digest, freeze_base=settings.freeze_base)
        best = stage_dir / history["best"]["file"]
        self.produced(ModelFile(best, "keras"))
        return {"artifact": self._relative(best), "loader": "keras", "results": _fit_results(history)}

    def _prune(self, settings: PruneStage, stage_dir, digest) -> dict:
        from mobilekit import train
        from mobilekit.optimize import prune

        steps = _steps_per_epoch(self.data)
        ramp_epochs = settings.ramp_epochs or max(1, settings.epochs // 2)
        # The schedule updates masks every `frequency` steps and reaches the target on such a step.
        frequency = min(settings.frequency, ramp_epochs * steps)
        end_step = max(frequency, (ramp_epochs * steps) // frequency * frequency)
        wrapped = prune.prune(self.model(), target_sparsity=None if settings.m_by_n else settings.target_sparsity,
                              end_step=end_step, frequency=frequency,
                              m_by_n=tuple(settings.m_by_n) if settings.m_by_n else None,
                              skip=tuple(settings.skip), skip_layers=tuple(settings.skip_layers))
        reached = -(-end_step // steps)  # the first epoch that ends at full sparsity
        history = self.fit(wrapped, settings, stage_dir, digest, callbacks=prune.callbacks(), best_file="best.h5",
                           best_after_epoch=min(reached, settings.epochs) - 1)
        best = ModelFile(stage_dir / history["best"]["file"], "pruned").load()
        stripped = prune.strip(best)
        path = stage_dir / "pruned.keras"
        train.save_model_atomic(stripped, path)
        self.produced(ModelFile(path, "keras"), stripped)
        self.pruned = True
        report = prune.sparsity_report(stripped)
        return {"artifact": self._relative(path), "loader": "keras",
                "results": {**_fit_results(history), "end_step": end_step, "steps_per_epoch": steps,
                            "sparsity": report.to_json()}}

    def _teacher(self, teacher, stage_dir: pathlib.Path, digest: str):
        from mobilekit.optimize import distill

        if isinstance(teacher, str):
            if teacher == "float":
                return self.float_file.load() if self.float_file is not None else self.model()
            return distill.load_teacher(teacher, num_classes=self.data.num_classes, resolution=self.resolution)
        model = self._build(teacher.model, weights=teacher.weights, alpha=teacher.alpha, options=teacher.options)
        if teacher.epochs:
            self.log(f"  training the teacher {teacher.model} for {teacher.epochs} epoch(s)")
            history = self.fit(model, teacher, stage_dir / "teacher", digest)
            model = ModelFile(stage_dir / "teacher" / history["best"]["file"], "keras").load()
        return model

    def _distill(self, settings: DistillStage, stage_dir, digest) -> dict:
        from mobilekit import train
        from mobilekit.optimize import distill

        teacher = self._teacher(settings.teacher, stage_dir, digest)
        teacher_accuracy = train.evaluate(teacher, self.data.split(_held_out(self.data)))
        history = self.fit(self.model(), settings, stage_dir, digest,
                           trainer=lambda student: distill.Distiller(student, teacher, alpha=settings.alpha,
                                                                     temperature=settings.temperature))
        best = stage_dir / history["best"]["file"]
        self.produced(ModelFile(best, "keras"))
        return {"artifact": self._relative(best), "loader": "keras",
                "results": {**_fit_results(history), "teacher": teacher_accuracy}}

    def _qat(self, settings: QatStage, stage_dir, digest) -> dict:
        from mobilekit.optimize import distill, qat

        preserve = self.pruned if settings.preserve_sparsity is None else settings.preserve_sparsity
        teacher = None if settings.teacher is None else self._teacher(settings.teacher, stage_dir, digest)
        calibration = _calibration_images(self.data, 64) if settings.calibrate_ranges else None
        quantized = qat.quantize(self.model(), per_channel=settings.per_channel, preserve_sparsity=preserve,
                                 calibration=calibration)
        trainer = None if teacher is None else (
            lambda student: distill.Distiller(student, teacher, alpha=settings.alpha, temperature=settings.temperature))
        history = self.fit(quantized, settings, stage_dir, digest, best_file="best.h5", trainer=trainer)
        best = stage_dir / history["best"]["file"]
        self.produced(ModelFile(best, "qat"))
        return {"artifact": self._relative(best), "loader": "qat",
                "results": {**_fit_results(history), "preserve_sparsity": preserve}}

    def _export(self, settings: ExportStage, stage_dir, digest) -> dict:
        from mobilekit import __version__
        from mobilekit.export import convert, metadata, tflite_file
        from mobilekit.optimize import prune

        model = self.model()
        images = _calibration_images(self.data, settings.calibration_steps) if settings.mode == "int8" else None
        buf = convert.convert(model, mode=settings.mode, calibration=[images] if images is not None else None,
                              io=settings.io, seed=self.recipe.seed, show_progress=self.show)
        spec = self.recipe.model
        buf = metadata.attach(buf, metadata.ModelMetadataSpec(
            name=spec.name, labels=tuple(self.data.class_names), version=__version__, author="mobilekit",
            description=(f"{spec.name} {self.resolution}x{self.resolution} RGB, alpha {spec.alpha}, "
                         f"{settings.mode} TFLite, from recipe {self.recipe.name}. Takes raw RGB pixels 0..255.")))
        path = stage_dir / f"{spec.name}_{settings.mode}.tflite"
        files.write_atomic(path, buf, force=True)
        self.tflite = path
        summary = tflite_file.summarize(buf)
        return {"artifact": self._relative(path), "loader": "tflite",
                "results": {"mode": settings.mode, "size_bytes": len(buf), "gzip_bytes": prune.gzipped_size(buf),
                            "fully_integer": summary.fully_integer, "ops": sum(summary.ops.values())}}

    def _evaluate(self, settings: EvaluateStage, stage_dir, digest) -> dict:
        from mobilekit import train
        from mobilekit.runtime import evaluate

        split = self.data.split(settings.split)
        results = {"split": settings.split}
        # The float model: the last one a float stage made, else the recipe's model as built (e.g. from a file).
        float_model = self.float_file.load() if self.float_file is not None else self.recipe_model()
        for key, model in (("float", float_model), ("qat", self.qat_file.load() if self.qat_file else None)):
            if model is not None:
                self.log(f"  evaluating the {key} Keras model")
                results[key] = train.evaluate(model, split)
        spec = self.recipe.data
        accuracy = evaluate.accuracy(self.tflite.read_bytes(), spec.source, split=settings.split, seed=spec.seed,
                                     validation_split=spec.validation_split, test_split=spec.test_split,
                                     batch_size=spec.batch_size, show_progress=self.show)
        results["tflite"] = {**accuracy.to_json(), "file": self._relative(self.tflite)}
        path = stage_dir / "accuracy.json"
        files.write_atomic(path, (json.dumps(results, indent=2, default=_json_default) + "\n").encode(), force=True)
        return {"artifact": self._relative(path), "loader": "json", "results": results}


def _fit_results(history: dict) -> dict:
    best = history.get("best") or {}
    return {"epochs": len(history.get("epochs", [])), "best_epoch": best.get("epoch"),
            history.get("monitor") or "accuracy": best.get(history.get("monitor"))}


def _held_out(data) -> str:
    return "validation" if data.validation is not None else "test"


def _steps_per_epoch(data) -> int:
    return -(-data.counts["train"] // data.batch_size)


def _calibration_images(data, count: int):
    """Up to `count` images of the validation split (unaugmented), else of the training split."""
    import numpy as np

    taken = []
    for images, _ in data.validation if data.validation is not None else data.train:
        taken.append(images.numpy())
        if sum(len(batch) for batch in taken) >= count:
            break
    return np.concatenate(taken)[:count]


def summarize(stages: list[dict]) -> dict:
    """The headline figures of a run: accuracy float / Keras QAT / file, size, sparsity, seconds."""
    summary = {"seconds": round(sum(entry.get("seconds", 0) for entry in stages), 1)}
    for entry in stages:
        results = entry.get("results", {})
        if entry["stage"] == "prune":
            summary["sparsity"] = results["sparsity"]["sparsity"]
        if entry["stage"] == "export":
            summary.update(mode=results["mode"], size_bytes=results["size_bytes"], gzip_bytes=results["gzip_bytes"],
                           fully_integer=results["fully_integer"])
        if entry["stage"] == "evaluate":
            for key in ("float", "qat", "tflite"):
                if key in results:
                    summary[f"{key}_top1"] = results[key]["top1"]
    return summary


def _settings_line(settings) -> str:
    return ", ".join(f"{key} {value}" for key, value in dataclasses.asdict(settings).items())


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pathlib.Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
