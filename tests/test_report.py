"""mobilekit report: schema validation, collecting inputs, Pareto front, plots and the CLI. No TensorFlow."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mobilekit.cli.main import cli
from mobilekit.errors import UserError
from mobilekit.report import build, collect, pareto, plots, schema

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
HOST = FIXTURES / "host_bench.json"
ANDROID = FIXTURES / "android_bench.json"
ADAPT = FIXTURES / "adapt.json"


@pytest.fixture
def quickstart_run(tmp_path):
    """A quickstart recipe run folder as `mobilekit run` leaves it (its results.json only)."""
    folder = tmp_path / "runs" / "quickstart"
    folder.mkdir(parents=True)
    shutil.copy(FIXTURES / "quickstart_results.json", folder / "results.json")
    return folder


def _broken(tmp_path, edit, name="android.json"):
    document = json.loads(ANDROID.read_text())
    edit(document)
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("path", [HOST, ANDROID])
def test_fixtures_follow_the_schema(path):
    document = schema.load_bench(path)
    assert document["schema"] == schema.BENCH_FORMAT


def test_android_fixture_covers_every_delegate_and_a_refusal():
    results = json.loads(ANDROID.read_text())["results"]
    assert {r["delegate"] for r in results} == {"cpu", "xnnpack", "gpu", "nnapi"}
    assert {r["threads"] for r in results} == {1, 4}
    assert [r["delegate"] for r in results if "error" in r] == ["gpu"]


def test_schema_error_names_the_file_and_field(tmp_path):
    path = _broken(tmp_path, lambda d: d["results"][1]["latency_ms"].update(median="fast"))
    with pytest.raises(
        UserError, match=r"android\.json: results\[1\]\.latency_ms\.median: 'fast' is not of type 'number'"
    ):
        schema.load_bench(path)


def test_schema_names_a_result_without_latency_or_error(tmp_path):
    path = _broken(tmp_path, lambda d: d["results"][0].pop("latency_ms"))
    with pytest.raises(UserError, match=r"results\[0\]: needs 'latency_ms' or 'error'"):
        schema.load_bench(path)


def test_pareto_front_on_a_hand_example():
    points = [(1.0, 0.5), (2.0, 0.7), (1.5, 0.4), (3.0, 0.7), (0.5, 0.2), (2.0, 0.9), (1.0, 0.5), (4.0, 0.95)]
    # (0.5, .2) fastest; (1, .5) beats (1.5, .4); (2, .9) beats (2, .7) and (3, .7); (4, .95) most accurate.
    assert pareto.front(points) == [4, 0, 5, 7]
    assert pareto.front([]) == []


def test_latency_rows_join_the_recipe_run(quickstart_run):
    collection = collect.collect([quickstart_run, HOST, ANDROID])
    joined = {(row.source, row.model, row.run) for row in collection.latency}
    # host: by run folder and artifact path; phone: by the host result's sha256.
    assert ("host_bench.json", "mobilenet_v3_small_int8", "quickstart") in joined
    assert ("android_bench.json", "mobilenet_v3_small_int8", "quickstart") in joined
    assert all(row.run is None for row in collection.latency if row.model.endswith("float32"))
    int8 = next(row for row in collection.latency if row.run)
    assert int8.top1 == 0.956  # the run's file top-1


def test_recipe_steps_follow_the_stages():
    prune = collect.read_run(
        json.loads((FIXTURES / "prune_then_qat_results.json").read_text()), FIXTURES / "prune_then_qat_results.json"
    )
    assert prune.label == "prune_then_qat"
    assert [step.phase for step in prune.steps] == ["float", "pruned", "QAT", "int8"]
    assert [step.test for step in prune.steps] == [None, 0.909, 0.911, 0.908]


def test_report_writes_markdown_and_plots(quickstart_run, tmp_path):
    output = tmp_path / "report"
    result = CliRunner().invoke(
        cli,
        [
            "report",
            str(quickstart_run),
            str(HOST),
            str(ANDROID),
            str(FIXTURES / "prune_then_qat_results.json"),
            "--output",
            str(output),
        ],
    )
    assert result.exit_code == 0, result.output
    names = sorted(path.name for path in output.iterdir())
    assert names == ["accuracy_latency.png", "report.md", "size.png", "stages.png"]
    assert result.output.count("wrote ") == 4
    text = (output / "report.md").read_text()
    for heading in (
        "## Models",
        "## Latency",
        "## Stages of `quickstart`",
        "## Stages of `prune_then_qat`",
        "## Plots",
    ):
        assert heading in text
    assert (
        "| quickstart | mobilenet_v3_small (32 px, alpha 1.0) | int8 | 95.2% | 95.7% | 95.6% | 1.85 | 1.60 | - |"
        in text
    )
    assert "| 1 | mobilenet_v3_small_int8 | int8 | quickstart | host | xnnpack | 1 | 0.412 |" in text
    assert "Google Pixel 7 / nnapi / 1 thr" in text and "failed" in text  # pivot; the refused GPU run
    assert "GPU delegate refused" in text
    for name in ("accuracy_latency.png", "size.png", "stages.png"):
        assert f"]({name})" in text
    # Written again only with --force.
    again = CliRunner().invoke(cli, ["report", str(quickstart_run), "--output", str(output)])
    assert again.exit_code == 1 and "--force" in again.output
    forced = CliRunner().invoke(cli, ["report", str(quickstart_run), "--output", str(output), "--force"])
    assert forced.exit_code == 0, forced.output


def test_pngs_are_real_images(quickstart_run, tmp_path):
    from PIL import Image

    output = tmp_path / "report"
    result = CliRunner().invoke(cli, ["report", str(quickstart_run), str(HOST), str(ANDROID), "--output", str(output)])
    assert result.exit_code == 0, result.output
    pngs = sorted(output.glob("*.png"))
    assert [p.name for p in pngs] == sorted(build.PLOTS)
    for path in pngs:
        with Image.open(path) as image:
            image.load()
            assert image.format == "PNG"
            assert image.width >= 600 and image.height >= 400, (path.name, image.size)
            colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
            assert colours is None or len(colours) >= 8, f"{path.name} is nearly blank"


def test_point_labels_do_not_overlap():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    xs, ys = [1, 1.02, 1.04, 1.0, 2, 2.01, 3], [1, 1.0, 1.01, 1.02, 2, 2.0, 3]
    ax.scatter(xs, ys)
    ax.margins(0.3)
    boxes = plots.place_labels(ax, xs, ys, [f"label {i}" for i in range(len(xs))])
    assert len(boxes) == len(xs)
    for i, box in enumerate(boxes):
        assert not any(box.overlaps(other) for other in boxes[i + 1 :]), i


def test_errors_are_messages_not_tracebacks(tmp_path, quickstart_run):
    runner = CliRunner()
    neither = tmp_path / "other.json"
    neither.write_text(json.dumps({"float_ptq": {"size_bytes": 1}}))
    not_json = tmp_path / "notes.json"
    not_json.write_text("{oops")
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = _broken(tmp_path, lambda d: d["results"][1]["latency_ms"].update(median="fast"))
    cases = [
        ([str(tmp_path / "missing")], "does not exist"),
        ([str(neither)], "neither a recipe results.json"),
        ([str(not_json)], "not valid JSON (line 1"),
        ([str(empty)], "without results.json"),
        ([str(quickstart_run), str(broken)], "android.json: results[1].latency_ms.median"),
    ]
    for inputs, message in cases:
        result = runner.invoke(cli, ["report", *inputs, "--output", str(tmp_path / "out")])
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out" / "report.md").exists()
    assert runner.invoke(cli, ["report", "--output", str(tmp_path / "out")]).exit_code == 2  # no inputs


def test_help_and_report_do_not_import_tensorflow(quickstart_run, tmp_path):
    code = (
        "import sys; from click.testing import CliRunner; from mobilekit.cli.main import cli; "
        "h = CliRunner().invoke(cli, ['--help']); assert 'report' in h.output, h.output; "
        "r = CliRunner().invoke(cli, ['report', '--help']); assert 'RUN_DIR_OR_JSON' in r.output, r.output; "
        f"w = CliRunner().invoke(cli, ['report', {str(quickstart_run)!r}, {str(HOST)!r}, {str(ADAPT)!r}, '--output', "
        f"{str(tmp_path / 'out')!r}]); assert w.exit_code == 0, w.output; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
