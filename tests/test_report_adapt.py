"""mobilekit report draws NetAdapt runs: an adapt folder, its adapt.json, a recipe run with an adapt stage. No TensorFlow."""

from __future__ import annotations

import json
import pathlib
import shutil

import pytest
from click.testing import CliRunner

from mobilekit.cli.main import cli
from mobilekit.errors import UserError
from mobilekit.report import collect, plots

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
ADAPT = FIXTURES / "adapt.json"  # 2.0 ms -> target 1.0 ms, reached in 3 iterations of 3 proposals

ROWS = [
    "| 1 | 1.600 | 2 | 28 / 40 | 1.590 | 95.8% | 3 |",
    "| 2 | 1.206 | 1 | 12 / 24 | 1.200 | 94.0% | 3 |",
    "| 3 | 1.000 | 2 | 18 / 28 | 0.970 | 91.8% | 3 |",
]


def _adapt_folder(parent: pathlib.Path, name="adapted", edit=None) -> pathlib.Path:
    """A `mobilekit adapt --output` folder: adapt.json beside the models (empty stand-ins here)."""
    folder = parent / name
    folder.mkdir(parents=True)
    document = json.loads(ADAPT.read_text())
    if edit:
        edit(document)
    (folder / "adapt.json").write_text(json.dumps(document))
    for model in ("adapted.keras", "iteration_3.keras"):
        (folder / model).write_bytes(b"")
    return folder


def _recipe_with_adapt(tmp_path, with_file=True) -> pathlib.Path:
    """A quickstart run folder whose recipe adapts after training (the stage did not fine-tune after)."""
    run = tmp_path / "runs" / "adapted_quickstart"
    run.mkdir(parents=True)
    results = json.loads((FIXTURES / "quickstart_results.json").read_text())
    stage = {
        "stage": "adapt",
        "folder": "2_adapt",
        "fingerprint": "0123456789abcdef",
        "status": "done",
        "settings": {"target_latency": "0.5x", "epochs": 0},
        "seconds": 301.5,
        "artifact": "2_adapt/iteration_3.keras",
        "loader": "keras",
        "results": {"start_ms": 2.0, "target_ms": 1.0, "reached": True, "iterations": 3, "latency_ms": 0.97},
    }
    results["stages"].insert(1, stage)
    (run / "results.json").write_text(json.dumps(results))
    if with_file:
        (run / "2_adapt").mkdir()
        shutil.copy(ADAPT, run / "2_adapt" / "adapt.json")
    return run


def _report(inputs, output):
    result = CliRunner().invoke(cli, ["report", *map(str, inputs), "--output", str(output)])
    assert result.exit_code == 0, result.output
    return (output / "report.md").read_text()


def _check_png(path: pathlib.Path) -> None:
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG" and image.width >= 600 and image.height >= 400
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) >= 8, f"{path.name} is nearly blank"


def test_an_adapt_folder_is_reported(tmp_path):
    folder = _adapt_folder(tmp_path)
    output = tmp_path / "report"
    text = _report([folder], output)
    assert sorted(path.name for path in output.iterdir()) == ["adapt_adapted.png", "report.md"]
    _check_png(output / "adapt_adapted.png")
    assert "## Adaptation `adapted`" in text
    assert f"- `{folder / 'adapt.json'}`: adaptation 'adapted', 3 iteration(s)" in text
    assert "- start: 2.000 ms, validation accuracy 97.2%" in text
    assert "- target: 1.000 ms (0.50x of the start)" in text
    assert "- outcome: reached after 3 iteration(s)" in text
    assert "- last chosen model: 0.970 ms (0.48x), validation accuracy 91.8%" in text
    assert "- proposals chosen by: accuracy" in text
    assert "- latency: from the latency table phone/table.json, timed on Google Pixel 7" in text
    header = "| iteration | budget (ms) | chosen group | channels kept / of | latency (ms) | validation accuracy |"
    assert header + " proposals |" in text
    table = text[text.index(header) :]
    assert [line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()] == ROWS
    assert "](adapt_adapted.png)" in text
    assert "## Models" not in text and "## Latency" not in text  # nothing else was given


def test_the_file_itself_is_read_once_however_it_is_named(tmp_path):
    folder = _adapt_folder(tmp_path)
    collection = collect.collect([folder / "adapt.json", folder])
    assert [item.label for item in collection.adaptations] == ["adapted"]
    assert collection.inputs[1] == (str(folder / "adapt.json"), "adaptation 'adapted', already read")
    # A copy under another name is recognised by its keys.
    other = tmp_path / "netadapt_run.json"
    shutil.copy(ADAPT, other)
    (item,) = collect.collect([other]).adaptations
    assert item.label == tmp_path.name and item.plot == f"adapt_{tmp_path.name}.png"
    assert [it.chosen.channels for it in item.iterations] == [28, 12, 18]


def test_two_runs_of_one_name_get_their_own_plots(tmp_path):
    first = _adapt_folder(tmp_path / "a", name="adapted")
    second = _adapt_folder(tmp_path / "b", name="adapted")
    output = tmp_path / "report"
    text = _report([first, second], output)
    assert {"adapt_adapted.png", "adapt_adapted_2.png"} <= {path.name for path in output.iterdir()}
    assert "## Adaptation `adapted`" in text and "## Adaptation `adapted (2)`" in text


def test_the_plot_draws_the_path_the_proposals_and_the_target():
    (item,) = collect.collect([ADAPT]).adaptations
    figure = plots.adaptation_figure(item)
    ax = figure.axes[0]
    path, target = ax.lines
    assert list(path.get_xdata()) == [2.0, 1.59, 1.2, 0.97]
    assert list(path.get_ydata()) == pytest.approx([97.2, 95.8, 94.0, 91.8])
    assert list(target.get_xdata()) == [1.0, 1.0] and target.get_linestyle() == "--"
    others, start = ax.collections
    drawn = sorted((round(x, 6), round(y, 6)) for x, y in others.get_offsets().tolist())
    assert drawn == sorted([(1.58, 95.1), (1.55, 94.4), (1.19, 93.1), (1.18, 92.7), (0.98, 90.5), (0.99, 91.2)])
    assert start.get_offsets().tolist() == [[2.0, pytest.approx(97.2)]]
    labels = sorted(text.get_text() for text in ax.texts)
    assert labels == ["1", "2", "3", "start"]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "target 1.000 ms (reached)" in legend and "other proposals (6)" in legend
    assert "target reached" in ax.get_title()


def test_unfinished_and_stopped_runs_say_so(tmp_path):
    def unfinished(document):
        del document["iterations"][2]
        document.update(reached=False, model="iteration_2.keras")
        del document["stopped"]

    def stopped(document):
        unfinished(document)
        document["stopped"] = "no channel group could shrink further to meet 1.000 ms"

    output = tmp_path / "report"
    text = _report([_adapt_folder(tmp_path, "cut", unfinished), _adapt_folder(tmp_path, "stuck", stopped)], output)
    cut, stuck = text.split("## Adaptation `stuck`")
    assert "outcome: not reached yet: the run ended after 2 iteration(s) without finishing" in cut
    assert (
        "outcome: not reached; the search stopped after 2 iteration(s): no channel group could shrink further "
        "to meet 1.000 ms" in stuck
    )
    assert ROWS[2] not in text and ROWS[1] in cut and ROWS[1] in stuck
    (item,) = collect.collect([tmp_path / "stuck"]).adaptations
    legend = [t.get_text() for t in plots.adaptation_figure(item).axes[0].get_legend().get_texts()]
    assert "target 1.000 ms (not reached)" in legend


def test_a_recipe_run_with_an_adapt_stage(tmp_path):
    run = _recipe_with_adapt(tmp_path)
    output = tmp_path / "report"
    text = _report([run], output)
    names = sorted(path.name for path in output.iterdir())
    assert names == ["adapt_adapted_quickstart_2_adapt.png", "report.md", "size.png", "stages.png"]
    _check_png(output / "adapt_adapted_quickstart_2_adapt.png")
    assert "## Models" in text and "## Stages of `adapted_quickstart`" in text  # the recipe report as before
    assert "recipe run 'adapted_quickstart'; adaptation path of its stage 2_adapt" in text
    section = text[text.index("## Adaptation `adapted_quickstart/2_adapt`") :]
    assert "(stage `2_adapt` of recipe run `adapted_quickstart`)" in section
    assert all(row in section for row in ROWS)
    assert "](adapt_adapted_quickstart_2_adapt.png)" in section
    # The stages table: the adapted model between training and QAT, its validation accuracy the last chosen
    # model's (the stage did not fine-tune), and the evaluate stage's float top-1 is the adapted model's.
    assert "| 1_train | float | 97.2% | - |  |" in text
    assert "| 2_adapt | adapted | 91.8% | 95.2% | -5.4 pp (val) |" in text
    (adapted,) = collect.collect([run]).adaptations
    assert adapted.run == "adapted_quickstart" and adapted.stage == "2_adapt"


def test_a_recipe_run_whose_adapt_file_is_gone_is_still_reported(tmp_path):
    run = _recipe_with_adapt(tmp_path, with_file=False)
    output = tmp_path / "report"
    text = _report([run], output)
    assert not list(output.glob("adapt_*.png"))
    assert "its adapt stage has no 2_adapt/adapt.json, so no adaptation path" in text
    assert "## Adaptation" not in text and "| 2_adapt | adapted | - | 95.2% |" in text


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("start_ms"), "(top level): 'start_ms' is a required property"),
        (lambda d: d["iterations"][1]["chosen"].update(latency_ms="fast"), "iterations[1].chosen.latency_ms: 'fast'"),
        (lambda d: d["iterations"][0]["proposals"][2].pop("of"), "iterations[0].proposals[2]: 'of' is a required"),
        (lambda d: d.update(iterations={"1": {}}), "iterations: {'1': {}} is not of type 'array'"),
        (lambda d: d.update(reached="yes"), "reached: 'yes' is not of type 'boolean'"),
        (lambda d: d.update(iterations=[3]), "iterations[0]: 3 is not of type 'object'"),
    ],
)
def test_a_damaged_adapt_json_names_the_file_and_field(tmp_path, edit, message):
    folder = _adapt_folder(tmp_path, edit=edit)
    with pytest.raises(UserError) as error:
        collect.collect([folder])
    assert str(error.value).startswith(f"{folder / 'adapt.json'}: ") and message in str(error.value)
    assert "`mobilekit adapt`" in str(error.value)


def test_damaged_files_are_messages_not_tracebacks(tmp_path):
    run = _recipe_with_adapt(tmp_path)
    (run / "2_adapt" / "adapt.json").write_text(json.dumps({"start_ms": 2.0, "iterations": "none"}))
    not_json = _adapt_folder(tmp_path, "broken")
    (not_json / "adapt.json").write_text("{oops")
    runner = CliRunner()
    cases = [
        ([run], f"{run / '2_adapt' / 'adapt.json'}: (top level): 'target_ms' is a required property"),
        ([not_json], f"{not_json / 'adapt.json'}: not valid JSON (line 1"),
        ([tmp_path / "runs"], "without results.json or adapt.json"),
    ]
    for inputs, message in cases:
        result = runner.invoke(cli, ["report", *map(str, inputs), "--output", str(tmp_path / "out")])
        assert result.exit_code == 1, result.output
        assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out" / "report.md").exists()
