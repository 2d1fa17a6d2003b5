"""YAML text -> a validated `schema.Recipe`; every error names the file, the line and the key.

The YAML is composed into nodes (which keep their line numbers), not loaded,
so each problem points at the line that holds it. The zoo's names and options
are checked last: that imports TensorFlow, and a typo elsewhere should not
wait for it.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import pathlib
import re
import types
import typing
from typing import Any

from mobilekit.errors import UserError
from mobilekit.recipes.schema import (
    DistributeSpec,
    AdaptStage,
    DataSpec,
    DistillStage,
    ModelSpec,
    PruneStage,
    QatStage,
    Recipe,
    Stage,
    TeacherSpec,
)
from mobilekit.recipes.stages import STAGES


class _Invalid(Exception):
    """A problem in the recipe, at the line of a YAML node (None: the whole recipe)."""

    def __init__(self, node, message: str):
        super().__init__(message)
        self.line = node.start_mark.line + 1 if node is not None else None
        self.message = message

    @classmethod
    def at_line(cls, line: int, message: str) -> _Invalid:
        invalid = cls(None, message)
        invalid.line = line
        return invalid


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
    known = ("name", "description", "seed", "distribute", "model", "data", "stages")
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
    recipe = Recipe(
        name=scalars.get("name", default_name),
        description=scalars.get("description", ""),
        seed=scalars.get("seed", 0),
        distribute=(
            _section(DistributeSpec, entries["distribute"][1], "distribute")
            if "distribute" in entries
            else DistributeSpec()
        ),
        model=_section(ModelSpec, entries["model"][1], "model"),
        data=_section(DataSpec, entries["data"][1], "data"),
        stages=stages,
        path=origin,
    )
    _check_zoo_models(recipe, entries["model"][1], stages_node)
    return recipe


def _check_zoo_models(recipe: Recipe, model_node, stages_node) -> None:
    """Last, once every other setting is known good: the zoo names and options, which import TensorFlow."""
    from mobilekit import models

    _check_zoo_model(recipe.model, _value_nodes(model_node), "model")
    task = models.info(recipe.model.name).task
    for stage in recipe.stages:
        if stage.kind == "adapt" and task != "classification":
            raise _Invalid.at_line(
                stage.line,
                f"stage 'adapt' ranks its proposals by top-1 accuracy; {recipe.model.name} is a {task} model. "
                "Adapt the classifier it is built on, or leave the stage out",
            )
    for stage, node in zip(recipe.stages, stages_node.value):
        if isinstance(getattr(stage.settings, "teacher", None), TeacherSpec):
            ((_, settings_node),) = _mapping(node, "").values()
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
            raise _Invalid(
                node,
                f"{where} must name one stage with its settings, e.g. '- train: {{epochs: 5}}'; "
                f"got {len(entries)} keys ({', '.join(entries)})",
            )
        ((kind, (key_node, settings_node)),) = entries.items()
        node = key_node
    if kind not in STAGES:
        close = difflib.get_close_matches(str(kind), STAGES, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise _Invalid(node, f"unknown stage {kind!r} in {where}{hint}; stages: {', '.join(STAGES)}")
    empty = settings_node is None or (isinstance(settings_node, yaml.ScalarNode) and _scalar(settings_node) is None)
    settings_class = STAGES[kind].settings
    settings = (
        _defaults(settings_class, node, f"stage '{kind}'")
        if empty
        else _section(settings_class, settings_node, f"stage '{kind}'")
    )
    return Stage(kind=kind, settings=settings, line=node.start_mark.line + 1)


def _check_order(stages: tuple[Stage, ...]) -> None:
    kinds = [stage.kind for stage in stages]
    if kinds.count("qat") > 1:
        raise _Invalid.at_line(stages[_nth(kinds, "qat", 2)].line, "a recipe has at most one 'qat' stage")
    if "qat" in kinds:
        after = [s for s in stages[kinds.index("qat") + 1 :] if s.kind in ("train", "prune", "distill", "adapt")]
        if after:
            raise _Invalid.at_line(
                after[0].line,
                f"stage '{after[0].kind}' comes after 'qat'; training a "
                "quantized model as a float one is not supported. Put "
                "train/prune/distill/adapt before qat",
            )
    for index, stage in enumerate(stages):
        if stage.kind == "evaluate" and "export" not in kinds[:index]:
            raise _Invalid.at_line(
                stage.line,
                "stage 'evaluate' needs an 'export' stage before it: it measures "
                "the .tflite file (and the Keras models) on the data",
            )


def _nth(items: list, item, n: int) -> int:
    return [i for i, value in enumerate(items) if value == item][n - 1]


def _defaults(cls, node, where: str):
    required = [f.name for f in dataclasses.fields(cls) if _required(f)]
    if required:
        raise _Invalid(node, f"{where} needs {', '.join(repr(r) for r in required)}")
    return cls()


def _required(field) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _section(cls, node, where: str):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    entries = _mapping(node, where)
    _check_keys(entries, tuple(fields), where)
    missing = [name for name, f in fields.items() if _required(f) and name not in entries]
    if missing:
        raise _Invalid(node, f"{where} needs {', '.join(repr(m) for m in missing)}")
    values = {
        key: _value(hints[key], value_node, f"{where}: '{key}'", fields[key].metadata)
        for key, (_, value_node) in entries.items()
    }
    section = cls(**values)
    if cls in _SECTION_CHECKS:
        _SECTION_CHECKS[cls](section, _value_nodes(node), where)
    return section


_KIND_WORDS = {
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    str: "a string",
    dict: "a mapping",
    list: "a list",
    type(None): "null",
}


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

    key = "name" if isinstance(section, ModelSpec) else "model"
    try:
        models.info(getattr(section, key))
    except UserError as error:
        raise _Invalid(nodes[key], f"{where}: {str(error).rstrip('.')}") from None
    try:
        models.check_options(getattr(section, key), dict(section.options))
    except UserError as error:
        raise _Invalid(nodes["options"], f"{where}: 'options': {str(error).rstrip('.')}") from None


def _check_prune(section: PruneStage, nodes: dict, where: str) -> None:
    pair = section.m_by_n
    if pair is not None and (len(pair) != 2 or not 0 < pair[0] < pair[1]):
        raise _Invalid(
            nodes["m_by_n"],
            f"{where}: 'm_by_n' must be [m, n] with 0 < m < n, e.g. [2, 4] "
            f"(m zeros in every n consecutive weights), got {pair!r}",
        )
    if section.ramp_epochs is not None and section.ramp_epochs > section.epochs:
        raise _Invalid(
            nodes["ramp_epochs"],
            f"{where}: 'ramp_epochs' ({section.ramp_epochs}) must not exceed 'epochs' ({section.epochs})",
        )


def _check_teacher(section, nodes: dict, where: str) -> None:
    teacher = section.teacher
    if not isinstance(teacher, str):
        return
    if isinstance(section, QatStage) and teacher == "float":
        return
    if not pathlib.Path(teacher).expanduser().is_file():
        also = " or 'float' (the model before QAT)" if isinstance(section, QatStage) else ""
        raise _Invalid(
            nodes["teacher"],
            f"{where}: 'teacher' {teacher!r} is not a file; give the path of a saved "
            f"Keras model (.keras / .h5), a zoo teacher ({{model: NAME, epochs: N}})"
            f"{also}",
        )


# Checks of a section's values together (the zoo's names: _check_zoo_models, after all of these).
def _check_adapt(section: AdaptStage, nodes: dict, where: str) -> None:
    from mobilekit.adapt.netadapt import parse_target

    try:
        parse_target(str(section.target_latency))
    except UserError as error:
        raise _Invalid(nodes["target_latency"], f"{where}: {str(error).rstrip('.')}") from None
    if section.latency_table is not None:
        from mobilekit.adapt import table

        try:
            table.load(section.latency_table)
        except UserError as error:
            raise _Invalid(nodes["latency_table"], f"{where}: 'latency_table': {str(error).rstrip('.')}") from None


_SECTION_CHECKS = {
    PruneStage: _check_prune,
    DistillStage: _check_teacher,
    QatStage: _check_teacher,
    AdaptStage: _check_adapt,
}

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
