"""The report's PNG plots, drawn with matplotlib's Agg canvas (no pyplot, no display, no global state).

Every point label is placed by `place_labels`, which tries offsets around its
point until the label overlaps no other label, no point and stays inside the axes.
"""

from __future__ import annotations

import io

from mobilekit.report import pareto
from mobilekit.report.adaptation import Adaptation
from mobilekit.report.collect import Collection, LatencyRow

SIZE = (10, 6.5)  # inches; at DPI, 1000 x 650 pixels
DPI = 100
MARKERS = "osD^vP*Xh<>"
OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.01, 1), "borderaxespad": 0}  # legends right of the axes
# Candidate label offsets (points) around a point, tried nearest first.
OFFSETS = [
    (dx * r, dy * r)
    for r in (1, 2, 3.5, 5, 7)
    for dx, dy in ((5, 5), (5, -11), (-13, 5), (-13, -11), (8, -3), (-18, -3), (-3, 8), (-3, -15))
]


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE, dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _overlaps(box, boxes) -> bool:
    return any(box.overlaps(other) for other in boxes)


def place_labels(ax, xs, ys, texts, *, fontsize=8, color="black") -> list:
    """Annotate (xs[i], ys[i]) with texts[i], each where it overlaps nothing placed before; returns their boxes."""
    from matplotlib.transforms import Bbox

    figure = ax.figure
    renderer = figure.canvas.get_renderer()
    to_pixels = ax.transData.transform
    half = 5  # a marker's half width in pixels
    taken = [Bbox.from_extents(px - half, py - half, px + half, py + half) for px, py in map(to_pixels, zip(xs, ys))]
    inside = ax.get_window_extent(renderer)
    boxes = []
    for x, y, text in zip(xs, ys, texts):
        label = ax.annotate(
            text,
            (x, y),
            xytext=OFFSETS[0],
            textcoords="offset points",
            fontsize=fontsize,
            color=color,
            annotation_clip=False,
        )
        best = None
        for offset in OFFSETS:  # the first offset with nothing in the way, else the least bad one
            label.set_position(offset)
            box = label.get_window_extent(renderer).expanded(1.05, 1.1)
            outside = not (inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1))
            score = 100 * _overlaps(box, boxes) + 10 * _overlaps(box, taken) + outside
            if best is None or score < best[0]:
                best = (score, offset, box)
            if score == 0:
                break
        _, offset, box = best
        label.set_position(offset)
        if max(map(abs, offset)) > 20:  # far from its point: a leader line shows which point it names
            label.remove()
            ax.annotate(
                text,
                (x, y),
                xytext=offset,
                textcoords="offset points",
                fontsize=fontsize,
                color=color,
                annotation_clip=False,
                arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.6, "shrinkA": 0, "shrinkB": 3},
            )
        taken.append(box)
        boxes.append(box)
    return boxes


def latency_points(rows: list[LatencyRow]) -> list[LatencyRow]:
    """The rows the accuracy-latency plot shows: measured, with an accuracy, without a delegate error."""
    return [row for row in rows if row.median_ms is not None and row.top1 is not None and not row.error]


def accuracy_latency(rows: list[LatencyRow], numbers: dict[int, int]) -> bytes | None:
    """Top-1 against median latency, one colour per device and delegate, one marker per model; the Pareto
    front of each device as a step line. Points are labelled with their number in the report's latency
    table (`numbers`: id(row) -> number)."""
    points = latency_points(rows)
    if not points:
        return None
    figure = _figure()
    ax = figure.add_subplot()
    settings = sorted({(row.device, row.delegate) for row in points})
    models = sorted({row.model for row in points})
    colors = [f"C{i % 10}" for i in range(len(settings))]
    for setting, color in zip(settings, colors):
        for model, marker in zip(models, MARKERS * 3):
            chosen = [row for row in points if (row.device, row.delegate) == setting and row.model == model]
            if chosen:
                ax.scatter(
                    [row.median_ms for row in chosen],
                    [100 * row.top1 for row in chosen],
                    color=color,
                    marker=marker,
                    s=40,
                    zorder=3,
                )
    for device in sorted({row.device for row in points}):
        mine = [row for row in points if row.device == device]
        chosen = [mine[i] for i in pareto.front([(row.median_ms, row.top1) for row in mine])]
        xs, ys = [row.median_ms for row in chosen], [100 * row.top1 for row in chosen]
        ax.step(xs, ys, where="post", color="black", linestyle="--", linewidth=1, zorder=2)
        ax.scatter(xs, ys, s=160, facecolors="none", edgecolors="black", linewidths=1.2, zorder=4)
    latencies = [row.median_ms for row in points]
    if max(latencies) / min(latencies) > 10:
        ax.set_xscale("log")
    ax.set_xlabel("median latency per inference (ms)" + (", log scale" if ax.get_xscale() == "log" else ""))
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Accuracy against latency (labels: # in the report's latency table)")
    ax.grid(True, alpha=0.3)
    ax.margins(0.12)
    _legend(ax, settings, colors, models)
    figure.tight_layout()
    place_labels(ax, latencies, [100 * row.top1 for row in points], [str(numbers[id(row)]) for row in points])
    return _png(figure)


def _legend(ax, settings, colors, models) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], color=color, marker="o", linestyle="", label=f"{device} / {delegate}")
        for (device, delegate), color in zip(settings, colors)
    ]
    handles += [
        Line2D([], [], color="grey", marker=marker, linestyle="", label=model)
        for model, marker in zip(models, MARKERS * 3)
    ]
    handles.append(
        Line2D(
            [],
            [],
            color="black",
            linestyle="--",
            marker="o",
            markerfacecolor="none",
            markersize=10,
            label="Pareto front (per device)",
        )
    )
    ax.legend(handles=handles, fontsize=8, **OUTSIDE)


def sizes(collection: Collection) -> bytes | None:
    """File size and gzipped size of each recipe run's file and of each other measured file, in MB."""
    items = [
        (f"{run.label}: {run.summary.get('mode', '?')}", run.summary.get("size_bytes"), run.summary.get("gzip_bytes"))
        for run in collection.runs
        if run.summary.get("size_bytes")
    ]
    seen = set()
    for row in collection.latency:
        key = row.sha256 or (row.model, row.size_bytes)
        if row.run is None and row.size_bytes and key not in seen:
            seen.add(key)
            items.append((f"{row.model} ({row.mode})", row.size_bytes, None))
    if not items:
        return None
    figure = _figure()
    ax = figure.add_subplot()
    height = 0.38
    for index, (label, size, gzipped) in enumerate(items):
        y = len(items) - 1 - index
        ax.barh(y + height / 2, size / 1e6, height, color="C0", label="file" if index == 0 else None)
        ax.text(size / 1e6, y + height / 2, f" {size / 1e6:.2f} MB", va="center", fontsize=8)
        if gzipped:
            ax.barh(y - height / 2, gzipped / 1e6, height, color="C1", label="gzipped" if index == 0 else None)
            ax.text(gzipped / 1e6, y - height / 2, f" {gzipped / 1e6:.2f} MB", va="center", fontsize=8)
    ax.set_yticks(range(len(items)), [label for label, _, _ in reversed(items)], fontsize=9)
    ax.set_xlabel("size (MB, 10^6 bytes)")
    ax.set_title("File size per model and stage (gzipped: the share of an app download)")
    ax.set_xlim(0, 1.18 * max(size for _, size, _ in items) / 1e6)
    ax.legend(**OUTSIDE, fontsize=9)
    ax.grid(True, axis="x", alpha=0.3)
    figure.tight_layout()
    return _png(figure)


def phase_order(collection: Collection) -> list[str]:
    """The x axis of the per-stage plot: float, distilled, pruned, adapted, QAT, then file modes, as they occur."""
    rank = {phase: i for i, phase in enumerate(("float", "distilled", "pruned", "adapted", "QAT"))}
    seen = []
    for run in collection.runs:
        for phase in _run_phases(run):
            if phase not in seen:
                seen.append(phase)
    return sorted(seen, key=lambda phase: (rank.get(phase.split(" ")[0], len(rank)), seen.index(phase)))


def _run_phases(run) -> list[str]:
    """The run's steps' phases, a repeated one numbered ('float', 'float (2)')."""
    phases = []
    for step in run.steps:
        count = sum(1 for phase in phases if phase.split(" ")[0] == step.phase) + 1
        phases.append(step.phase if count == 1 else f"{step.phase} ({count})")
    return phases


def stages(collection: Collection) -> bytes | None:
    """Accuracy through each recipe: validation accuracy after each training stage (solid) and the
    evaluate stage's test top-1 of the float model, the QAT model and the file (dashed)."""
    runs = [run for run in collection.runs if run.steps]
    if not runs:
        return None
    order = phase_order(collection)
    figure = _figure()
    ax = figure.add_subplot()
    xs_all, ys_all, texts = [], [], []
    for index, run in enumerate(runs):
        color = f"C{index % 10}"
        positions = [order.index(phase) for phase in _run_phases(run)]
        for attribute, style, marker, kind in (("validation", "-", "o", "validation"), ("test", "--", "s", "test")):
            pairs = [
                (x, 100 * getattr(step, attribute))
                for x, step in zip(positions, run.steps)
                if getattr(step, attribute) is not None
            ]
            if pairs:
                ax.plot(*zip(*pairs), linestyle=style, marker=marker, color=color, label=f"{run.label} ({kind})")
                xs_all += [x for x, _ in pairs]
                ys_all += [y for _, y in pairs]
                texts += [f"{y:.1f}" for _, y in pairs]
    ax.set_xticks(range(len(order)), order)
    ax.set_xlabel("stage of the recipe (model after it; the last is the exported file)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title("Accuracy through each recipe: validation (solid) and test (dashed)")
    ax.grid(True, alpha=0.3)
    ax.margins(x=0.1, y=0.15)
    ax.legend(fontsize=8, **OUTSIDE)
    figure.tight_layout()
    place_labels(ax, xs_all, ys_all, texts, fontsize=7)
    return _png(figure)


def adaptation_figure(item: Adaptation):
    """NetAdapt's path (see `adaptation`) as a matplotlib Figure."""
    figure = _figure()
    ax = figure.add_subplot()
    others = [p for iteration in item.iterations for p in iteration.others if p.accuracy is not None]
    if others:
        ax.scatter(
            [p.latency_ms for p in others],
            [100 * p.accuracy for p in others],
            s=12,
            color="grey",
            alpha=0.35,
            zorder=2,
            label=f"other proposals ({len(others)})",
        )
    path = [(item.start_ms, item.start_accuracy, "start")] + [
        (iteration.chosen.latency_ms, iteration.chosen.accuracy, str(k))
        for k, iteration in enumerate(item.iterations, 1)
        if iteration.chosen.accuracy is not None
    ]
    xs, ys, texts = [x for x, _, _ in path], [100 * y for _, y, _ in path], [text for _, _, text in path]
    ax.plot(xs, ys, color="C0", marker="o", markersize=5, zorder=3, label="chosen model of each iteration")
    ax.scatter(xs[:1], ys[:1], marker="s", s=70, color="black", zorder=4, label=f"start: {item.start_ms:.3f} ms")
    verdict = "reached" if item.reached else "not reached"
    ax.axvline(
        item.target_ms, color="C3", linestyle="--", linewidth=1.2, label=f"target {item.target_ms:.3f} ms ({verdict})"
    )
    ax.set_xlabel("latency per inference (ms)")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(f"NetAdapt path of {item.label}: target {verdict} (labels: iteration)")
    ax.grid(True, alpha=0.3)
    ax.margins(0.12)
    ax.legend(fontsize=8, **OUTSIDE)
    figure.tight_layout()
    place_labels(ax, xs, ys, texts)
    return figure


def adaptation(item: Adaptation) -> bytes:
    """Validation accuracy against latency along a NetAdapt run: the start model and each iteration's chosen
    model joined in order and numbered, every other proposal faint, the target latency dashed."""
    return _png(adaptation_figure(item))
