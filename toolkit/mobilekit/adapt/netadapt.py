"""The NetAdapt loop (Yang et al., ECCV 2018): fewer channels, one group per iteration, until a latency target.

Each iteration lowers the latency budget by a step (a fraction of the starting
latency, shrinking by `step_decay` per iteration, as in the paper's official
code). For every channel group it finds the largest channel count whose model
meets the budget (the strongest channels by filter L2 norm kept), fine-tunes
that proposal for a few steps and measures its validation accuracy; the proposal
with the best accuracy — or, with `selection="ratio"` (MobileNetV3's variant),
the least accuracy lost per millisecond saved — becomes the next model. Latency
comes from a `latency(models) -> [ms]` callable: `latency.HostLatency`, measured
on this machine's LiteRT, in practice.

Every iteration is written to `adapt.json` (all proposals: group, channels,
latency, accuracy; the chosen one) and the chosen model to `iteration_<k>.keras`,
so an interrupted run resumes after its last finished iteration.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Callable

from mobilekit import files
from mobilekit.adapt import surgery
from mobilekit.errors import UserError

STATE_FILE = "adapt.json"
SELECTIONS = ("accuracy", "ratio")


@dataclasses.dataclass(frozen=True)
class Target:
    """A latency target: `value` milliseconds, or (relative) that fraction of the starting latency."""

    value: float
    relative: bool

    def ms(self, start_ms: float) -> float:
        return self.value * start_ms if self.relative else self.value


def parse_target(text: str) -> Target:
    """'12.5' (milliseconds) or '0.6x' (60% of the starting model's measured latency)."""
    raw = str(text).strip().lower()
    relative = raw.endswith("x")
    try:
        value = float(raw[:-1] if relative else raw.removesuffix("ms"))
    except ValueError:
        raise UserError(f"target latency {text!r}: give milliseconds (12.5) or a fraction of now (0.6x)") from None
    if not value > 0 or (relative and value >= 1):
        raise UserError(
            f"target latency {text!r} must be above 0 ms{', and a fraction below 1x' if relative else ''}: "
            "adapting makes a model faster, e.g. 0.6x"
        )
    return Target(value, relative)


@dataclasses.dataclass(frozen=True)
class Settings:
    target_ms: float
    initial_step: float = 0.025  # the first iteration's budget cut, as a fraction of the starting latency
    step_decay: float = 0.96  # each later cut is this much of the one before
    short_steps: int = 50  # fine-tuning steps per proposal
    max_iterations: int = 50
    selection: str = "accuracy"
    channel_step: int = 1  # channel counts tried move in multiples of this
    learning_rate: float = 1e-4

    def __post_init__(self):
        if self.selection not in SELECTIONS:
            raise UserError(f"selection must be one of {', '.join(SELECTIONS)}, got {self.selection!r}")
        if not self.target_ms > 0:
            raise UserError(f"the target latency must be > 0 ms, got {self.target_ms!r}")
        if not 0 < self.initial_step < 1 or not 0 < self.step_decay <= 1:
            raise UserError("initial_step must be in (0, 1) and step_decay in (0, 1]")
        if self.short_steps < 0 or self.max_iterations < 1 or self.channel_step < 1:
            raise UserError("short_steps >= 0, max_iterations >= 1 and channel_step >= 1 please")


@dataclasses.dataclass
class Proposal:
    group: int
    channels: int  # kept, of `of`
    of: int
    latency_ms: float
    accuracy: float | None = None


def adapt_to(
    model,
    data,
    target: Target,
    latency: Callable,
    output_dir,
    *,
    log=print,
    show_progress=False,
    measured_on: str | None = None,
    **settings,
):
    """`adapt` to a target as a user gives it (`parse_target`): a fraction is of the starting model's latency,
    measured once and read back from adapt.json when the run resumes. `settings`: the rest of `Settings`."""
    earlier = read_state(output_dir) if pathlib.Path(output_dir).is_dir() else None
    start_ms = earlier["start_ms"] if earlier else latency([model])[0]
    return adapt(
        model,
        data,
        Settings(target_ms=target.ms(start_ms), **settings),
        latency,
        output_dir,
        log=log,
        show_progress=show_progress,
        start_ms=start_ms,
        measured_on=measured_on,
    )


def adapt(
    model,
    data,
    settings: Settings,
    latency: Callable,
    output_dir,
    *,
    log=print,
    show_progress=False,
    start_ms: float | None = None,
    measured_on: str | None = None,
) -> dict:
    """Shrink `model` (a compiled-or-not functional classifier trained on `data`) until `latency([model])`
    is at most `settings.target_ms`; returns the run's record (as written to adapt.json).

    The best model reached is `output_dir/iteration_<k>.keras` (the record's "model"); the
    record's "reached" says whether the target was met, "stopped" why the loop ended, and
    "measured_on" what `latency` measures (this machine, or a table's device).
    """
    from mobilekit import load_model

    surgery.ChannelGraph(model)  # a model channels cannot be cut from is refused before anything is written
    folder = pathlib.Path(output_dir)
    folder.mkdir(parents=True, exist_ok=True)
    state = read_state(folder)
    if state is None:
        (start,) = [start_ms] if start_ms is not None else latency([model])
        if settings.target_ms >= start:
            raise UserError(
                f"the target {settings.target_ms:.3f} ms is not below the model's measured latency "
                f"{start:.3f} ms: nothing to adapt. Ask for less, e.g. {0.6 * start:.3f} ms (0.6x)."
            )
        state = {
            "start_ms": start,
            "target_ms": settings.target_ms,
            "measured_on": measured_on,
            "settings": dataclasses.asdict(settings),
            "start_accuracy": _accuracy(model, data),
            "iterations": [],
            "reached": False,
            "model": None,
        }
        _write_state(folder, state)
    elif state["target_ms"] != settings.target_ms:
        raise UserError(f"{folder} holds an adaptation to {state['target_ms']} ms; pass --force to start over")
    else:
        model = load_model(folder / state["model"]) if state["model"] else model
        log(f"resuming after iteration {len(state['iterations'])}")

    current_ms = state["iterations"][-1]["chosen"]["latency_ms"] if state["iterations"] else state["start_ms"]
    while not state["reached"] and len(state["iterations"]) < settings.max_iterations:
        k = len(state["iterations"])
        cut = settings.initial_step * settings.step_decay**k * state["start_ms"]
        budget = max(settings.target_ms, current_ms - cut)
        proposals, models = _proposals(
            model, data, settings, latency, current_ms, budget, f"iteration {k + 1}", show_progress
        )
        if not proposals:
            log(f"iteration {k + 1}: no group can shrink further to meet {budget:.3f} ms; stopping")
            state["stopped"] = f"no channel group could shrink further to meet {budget:.3f} ms"
            _write_state(folder, state)
            break
        best = _choose(proposals, current_ms, settings.selection)
        model = models[id(best)]
        current_ms = best.latency_ms
        name = f"iteration_{k + 1}.keras"
        _save(model, folder / name)
        state["iterations"].append(
            {
                "budget_ms": budget,
                "proposals": [dataclasses.asdict(p) for p in proposals],
                "chosen": dataclasses.asdict(best),
            }
        )
        state["model"] = name
        state["reached"] = current_ms <= settings.target_ms
        if state["reached"]:
            state["stopped"] = "the target was reached"
        elif k + 1 >= settings.max_iterations:
            state["stopped"] = f"{settings.max_iterations} iteration(s), the most allowed"
        _write_state(folder, state)
        log(
            f"iteration {k + 1}: group {best.group} to {best.channels}/{best.of} channels, "
            f"{best.latency_ms:.3f} ms, accuracy {best.accuracy:.4f}"
        )
    return state


def _proposals(
    model, data, settings: Settings, latency: Callable, current_ms: float, budget: float, desc: str, show: bool
):
    import tensorflow as tf

    from mobilekit import progress

    tf.get_logger().setLevel("ERROR")  # every proposal is a new model: keras' retracing notes would flood
    graph = surgery.ChannelGraph(model)
    proposals, models = [], {}
    groups = graph.prunable()
    for group in progress.bar(groups, total=len(groups), desc=f"{desc}: proposals", enabled=show):
        found = _largest_meeting(graph, group, settings.channel_step, latency, current_ms, budget)
        if found is None:
            continue
        smaller, channels, ms = found
        _fine_tune(smaller, data, settings)
        proposal = Proposal(group.id, channels, group.size, ms, _accuracy(smaller, data))
        proposals.append(proposal)
        models[id(proposal)] = smaller
    return proposals, models


def _largest_meeting(graph, group, step: int, latency: Callable, current_ms: float, budget: float):
    """(model, channels, ms) for the most channels of `group` whose model meets `budget`, or None.

    Latency falls (mostly) with the channels kept, so the answer lies between a count that meets the budget
    and one that misses it: the narrowest proposal (tried first, so a group that cannot meet the budget at
    all, as most cannot early on, costs one file) and the whole group (`current_ms`). Each try is where the
    line between the two crosses the budget, or, when the last try did not halve the gap, halfway.
    """
    norms = surgery.filter_norms(graph, group.id)
    narrowest = (group.size - 1) % step + 1  # the smallest count on the grid size - k * step

    def probe(count: int):
        smaller = surgery.shrink(graph, {group.id: surgery.keep_strongest(graph, group.id, count, norms)})
        (ms,) = latency([smaller])
        return smaller, count, ms

    if narrowest >= group.size:
        return None
    meets = probe(narrowest)
    if meets[2] > budget:
        return None
    misses = (None, group.size, current_ms)
    halve = False
    while misses[1] - meets[1] > step:
        low, high = meets[1], misses[1]
        if halve or misses[2] <= meets[2]:
            guess = (low + high) / 2
        else:
            guess = low + (budget - meets[2]) * (high - low) / (misses[2] - meets[2])
        count = min(max(low + step * round((guess - low) / step), low + step), high - step)
        tried = probe(count)
        if tried[2] <= budget:
            meets = tried
        else:
            misses = tried
        halve = misses[1] - meets[1] > (high - low) / 2
    return meets


def _choose(proposals: list[Proposal], current_ms: float, selection: str) -> Proposal:
    if selection == "accuracy":
        return max(proposals, key=lambda p: (p.accuracy, -p.latency_ms))
    best_accuracy = max(p.accuracy for p in proposals)
    return min(proposals, key=lambda p: (best_accuracy - p.accuracy) / max(current_ms - p.latency_ms, 1e-9))


def _fine_tune(model, data, settings: Settings) -> None:
    import tf_keras

    if settings.short_steps == 0:
        return
    model.compile(optimizer=tf_keras.optimizers.Adam(settings.learning_rate), loss="sparse_categorical_crossentropy")
    model.fit(data.train.repeat(), steps_per_epoch=settings.short_steps, epochs=1, verbose=0)


def _accuracy(model, data) -> float:
    from mobilekit import train

    held_out = data.split("validation" if data.validation is not None else "test")
    return float(train.evaluate(model, held_out)["top1"])


def _save(model, path: pathlib.Path) -> None:
    from mobilekit import train

    train.save_model_atomic(model, path)


def clear(folder: pathlib.Path, also: tuple[str, ...] = ()) -> None:
    """Remove what an earlier adaptation wrote into `folder` (adapt.json, iteration models, and `also`), nothing else."""
    import shutil

    for path in [folder / STATE_FILE, *folder.glob("iteration_*.keras"), *(folder / name for name in also)]:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def read_state(folder: pathlib.Path) -> dict | None:
    """The adapt.json of an earlier run in `folder`, or None."""
    return files.read_json(pathlib.Path(folder) / STATE_FILE, remedy="Pass --force to start over.")


def _write_state(folder: pathlib.Path, state: dict) -> None:
    files.write_json(folder / STATE_FILE, state, force=True)
