"""The report as Markdown: inputs, models, latency per device/delegate/threads, recipe stages, adaptations, plots."""

from __future__ import annotations

from mobilekit.report import adaptation
from mobilekit.report.adaptation import Adaptation
from mobilekit.report.collect import Collection


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines + [""]


def _percent(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _mb(value) -> str:
    return "-" if not value else f"{value / 1e6:.2f}"


def _ms(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def latency_numbers(collection: Collection) -> dict[int, int]:
    """id(row) -> its number (#) in the latency table and on the accuracy-latency plot."""
    return {id(row): index + 1 for index, row in enumerate(collection.latency)}


def render(collection: Collection, images: dict[str, str], *, title: str = "mobilekit report") -> str:
    """The Markdown text; `images` maps each written PNG's file name to its caption (for the Plots section;
    each adaptation's plot, `Adaptation.plot`, is shown in its own section)."""
    lines = [f"# {title}", "", "Inputs:", ""]
    lines += [f"- `{path}`: {what}" for path, what in collection.inputs] + [""]
    lines += _models(collection) + _latency(collection) + _stages(collection)
    for item in collection.adaptations:
        lines += _adaptation(item)
    if images:
        lines += ["## Plots", ""]
        for name, caption in images.items():
            lines += [f"### {caption}", "", f"![{caption}]({name})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _models(collection: Collection) -> list[str]:
    if not collection.runs:
        return []
    rows = []
    for run in collection.runs:
        summary = run.summary
        sparsity = summary.get("sparsity")
        rows.append(
            [
                run.label,
                run.model,
                summary.get("mode", "-"),
                _percent(summary.get("float_top1")),
                _percent(summary.get("qat_top1")),
                _percent(summary.get("tflite_top1")),
                _mb(summary.get("size_bytes")),
                _mb(summary.get("gzip_bytes")),
                "-" if sparsity is None else f"{sparsity:.1%}",
            ]
        )
    header = ["run", "model", "mode", "float top-1", "QAT top-1", "file top-1", "size (MB)", "gzipped (MB)", "sparsity"]
    return ["## Models", "", "Test top-1 from each recipe's evaluate stage; sizes of the exported file.", ""] + _table(
        header, rows
    )


def _latency(collection: Collection) -> list[str]:
    if not collection.latency:
        return []
    numbers = latency_numbers(collection)
    rows = []
    for row in collection.latency:
        rows.append(
            [
                numbers[id(row)],
                row.model,
                row.mode,
                row.run or "-",
                row.device,
                row.delegate,
                row.threads,
                _ms(row.median_ms),
                _ms(row.p90_ms),
                _percent(row.top1),
                _mb(row.size_bytes),
                row.error or "",
            ]
        )
    header = [
        "#",
        "model",
        "mode",
        "run",
        "device",
        "delegate",
        "threads",
        "median (ms)",
        "p90 (ms)",
        "top-1",
        "size (MB)",
        "note",
    ]
    lines = [
        "## Latency",
        "",
        "Per device, delegate and thread count. `run`: the recipe run whose file was measured (joined by "
        "sha256 or file path); top-1 comes from the result or from that run.",
        "",
    ]
    return lines + _table(header, rows) + _pivot(collection)


def _pivot(collection: Collection) -> list[str]:
    """Median latency (ms): one row per model, one column per device / delegate / threads."""
    settings = list(dict.fromkeys(row.setting for row in collection.latency))
    models = list(dict.fromkeys(row.model for row in collection.latency))
    cells = {
        (row.model, row.setting): ("failed" if row.error and row.median_ms is None else _ms(row.median_ms))
        for row in collection.latency
    }
    rows = [[model] + [cells.get((model, setting), "") for setting in settings] for model in models]
    return ["Median latency (ms) side by side:", ""] + _table(["model"] + settings, rows)


def _stages(collection: Collection) -> list[str]:
    lines = []
    for run in collection.runs:
        if not run.steps:
            continue
        rows = [
            [step.stage, step.phase, _percent(step.validation), _percent(step.test), _change(before, step)]
            for before, step in zip([None] + run.steps, run.steps)
        ]
        lines += [
            f"## Stages of `{run.label}` ({run.recipe}: {run.model})",
            "",
            "Change: against the stage before, in test top-1 where both were tested, else in validation top-1 (val).",
            "",
        ]
        lines += _table(["stage", "model after it", "validation top-1", "test top-1", "change"], rows)
    return lines


def _change(before, step) -> str:
    if before is None:
        return ""
    if before.test is not None and step.test is not None:
        return f"{100 * (step.test - before.test):+.1f} pp"
    if before.validation is not None and step.validation is not None:
        return f"{100 * (step.validation - before.validation):+.1f} pp (val)"
    return ""


def _adaptation(item: Adaptation) -> list[str]:
    """One adaptation: start, target, outcome, a row per iteration, and its plot."""
    of_run = f" (stage `{item.stage}` of recipe run `{item.run}`)" if item.run else ""
    lines = [f"## Adaptation `{item.label}`", "", f"NetAdapt run read from `{item.source}`{of_run}.", ""]
    lines += [
        f"- start: {item.start_ms:.3f} ms, validation accuracy {_percent(item.start_accuracy)}",
        f"- target: {item.target_ms:.3f} ms ({item.target_ms / item.start_ms:.2f}x of the start)",
        f"- outcome: {adaptation.outcome(item)}",
    ]
    if item.iterations:
        last = item.iterations[-1].chosen
        lines.append(
            f"- last chosen model: {last.latency_ms:.3f} ms ({last.latency_ms / item.start_ms:.2f}x), "
            f"validation accuracy {_percent(last.accuracy)}"
        )
    if item.selection:
        lines.append(f"- proposals chosen by: {item.selection}")
    if item.measured_on:
        lines.append(f"- latency: {item.measured_on}")
    lines.append("")
    if item.iterations:
        rows = [
            [
                k,
                f"{iteration.budget_ms:.3f}",
                iteration.chosen.group,
                f"{iteration.chosen.channels} / {iteration.chosen.of}",
                f"{iteration.chosen.latency_ms:.3f}",
                _percent(iteration.chosen.accuracy),
                len(iteration.proposals),
            ]
            for k, iteration in enumerate(item.iterations, 1)
        ]
        header = ["iteration", "budget (ms)", "chosen group", "channels kept / of", "latency (ms)"]
        lines += _table(header + ["validation accuracy", "proposals"], rows)
    caption = f"Validation accuracy against latency, iteration by iteration, of {item.label}"
    return lines + [f"![{caption}]({item.plot})", ""]
