"""Recipes: validation that names the key and the line, and the runner that chains and resumes stages."""

import json
import pathlib
import textwrap

import pytest
from click.testing import CliRunner

from mobilekit import UserError, recipes
from mobilekit.cli.main import cli
from mobilekit.export import metadata, tflite_file

ROOT = pathlib.Path(__file__).resolve().parents[1]

HEAD = """\
model:
  name: mobilenet_v3_small
  resolution: 32
data:
  source: digits
"""


def parse(text: str) -> recipes.Recipe:
    return recipes.parse(textwrap.dedent(text), name="test", origin="test.yaml")


def error_of(text: str) -> str:
    with pytest.raises(UserError) as caught:
        parse(text)
    return str(caught.value)


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((ROOT / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_are_valid(path):
    recipe = recipes.load(path)
    assert recipe.name == path.stem
    assert recipe.stages[-1].kind == "evaluate"
    assert any(stage.kind == "export" and stage.settings.mode == "int8" for stage in recipe.stages)


def test_a_recipe_becomes_typed_settings_with_defaults():
    recipe = parse(
        HEAD
        + """\
stages:
  - train: {epochs: 3, learning_rate: 1e-3}
  - prune: {epochs: 2, m_by_n: [2, 4]}
  - qat:
      epochs: 1
      teacher: float
  - export
  - evaluate:
"""
    )
    assert [stage.kind for stage in recipe.stages] == ["train", "prune", "qat", "export", "evaluate"]
    train, prune, qat, export, evaluate = (stage.settings for stage in recipe.stages)
    assert train.learning_rate == 1e-3 and isinstance(train.learning_rate, float)  # YAML 1.1 reads 1e-3 as text
    assert train.optimizer == "adam" and train.schedule == "cosine"
    assert prune.m_by_n == [2, 4] and prune.skip == ["first_conv", "depthwise", "classifier"]
    assert qat.teacher == "float" and qat.preserve_sparsity is None
    assert export.mode == "int8" and evaluate.split == "test"
    assert [stage.line for stage in recipe.stages] == [7, 8, 9, 12, 13]
    assert recipe.model.weights == "none" and recipe.data.batch_size == 32


def test_a_teacher_is_a_zoo_spec_or_a_file(tmp_path):
    recipe = parse(
        HEAD
        + """\
stages:
  - distill:
      epochs: 2
      teacher: {model: resnet18, epochs: 3}
  - export
  - evaluate
"""
    )
    teacher = recipe.stages[0].settings.teacher
    assert isinstance(teacher, recipes.TeacherSpec) and teacher.model == "resnet18" and teacher.epochs == 3
    saved = tmp_path / "teacher.keras"
    saved.write_bytes(b"stand-in")
    recipe = parse(HEAD + f"stages:\n  - distill: {{epochs: 1, teacher: {saved}}}\n")
    assert recipe.stages[0].settings.teacher == str(saved)


@pytest.mark.parametrize(
    "text, line, words",
    [
        (HEAD + "stages:\n  - train: {epochs: 3, epoch: 4}\n", 7, ["unknown key 'epoch'", "did you mean 'epochs'"]),
        (HEAD + "stages:\n  - train:\n      epochs: three\n", 8, ["'epochs' must be a whole number", "'three'"]),
        (HEAD + "stages:\n  - train: {epochs: 0}\n", 7, ["'epochs' must be >= 1"]),
        (HEAD + "stages:\n  - trian: {epochs: 3}\n", 7, ["unknown stage 'trian'", "did you mean 'train'"]),
        (
            HEAD + "stages:\n  - train: {epochs: 2}\n  - qat: {epochs: 1, optimizer: lamb}\n",
            8,
            ["'optimizer' is 'lamb'", "adam"],
        ),
        (HEAD + "stages:\n  - train: {epochs: 2}\n    qat: {epochs: 1}\n", 7, ["must name one stage"]),
        (HEAD + "stages:\n  - train\n", 7, ["stage 'train' needs 'epochs'"]),
        (HEAD + "stages:\n  - export\n  - qat: {epochs: 1}\n  - qat: {epochs: 1}\n", 9, ["at most one 'qat'"]),
        (HEAD + "stages:\n  - qat: {epochs: 1}\n  - train: {epochs: 1}\n", 8, ["'train' comes after 'qat'"]),
        (HEAD + "stages:\n  - train: {epochs: 1}\n  - evaluate\n", 8, ["needs an 'export' stage before it"]),
        (HEAD + "stages:\n  - prune: {epochs: 2, m_by_n: [4, 2]}\n", 7, ["'m_by_n' must be [m, n]"]),
        (HEAD + "stages:\n  - prune: {epochs: 2, skip: [first_conv, batchnorm]}\n", 7, ["'batchnorm'", "depthwise"]),
        (HEAD + "stages:\n  - distill: {epochs: 2, teacher: missing/teacher.keras}\n", 7, ["is not a file"]),
        (HEAD + "stages:\n  - distill: {epochs: 2, teacher: {model: resnet19}}\n", 7, ["resnet19", "resnet18"]),
        (HEAD + "stages: []\n", 6, ["must be a list of stages"]),
        (HEAD + "stages:\n  - export\nextra: 1\n", 8, ["unknown key 'extra' in the recipe"]),
        ("model:\n  name: mobilenet_v4\ndata: {source: digits}\nstages: [export]\n", 2, ["mobilenet_v4"]),
        ("model: {name: alexnet, options: {lrn: maybe}}\ndata: {source: digits}\nstages: [export]\n", 1, ["lrn"]),
        ("model: {name: alexnet, alpha: -1}\ndata: {source: digits}\nstages: [export]\n", 1, ["'alpha' must be > 0"]),
        ("model: {name: alexnet}\nstages: [export]\n", 1, ["no 'data' section"]),
        ("model: {name: alexnet\ndata: {source: digits}\n", 2, ["not valid YAML"]),
        ("- just\n- a list\n", 1, ["the recipe must be a mapping"]),
    ],
)
def test_errors_name_the_key_and_the_line(text, line, words):
    message = error_of(text)
    assert message.startswith(f"test.yaml line {line}: "), message
    for word in words:
        assert word in message, message


def test_an_empty_recipe_is_refused():
    assert "the recipe is empty" in error_of("")


def test_load_refuses_a_missing_file(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        recipes.load(tmp_path / "nope.yaml")


def test_the_fingerprint_of_a_stage_covers_every_stage_before_it():
    base = parse(HEAD + "stages:\n  - train: {epochs: 2}\n  - qat: {epochs: 1}\n  - export\n")
    later = parse(HEAD + "stages:\n  - train: {epochs: 2}\n  - qat: {epochs: 2}\n  - export\n")
    assert recipes.fingerprint(base, 0) == recipes.fingerprint(later, 0)
    assert recipes.fingerprint(base, 1) != recipes.fingerprint(later, 1)
    assert recipes.fingerprint(base, 2) != recipes.fingerprint(later, 2)


def test_cli_check_lists_the_stages_and_reports_errors_without_a_traceback(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["run", str(ROOT / "recipes" / "quickstart.yaml"), "--check"])
    assert result.exit_code == 0, result.output
    assert "valid recipe 'quickstart'" in result.output and "2. qat" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(HEAD + "stages:\n  - train: {epochs: 3, lr: 0.1}\n")
    result = runner.invoke(cli, ["run", str(bad), "--output", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert f"Error: {bad} line 7: unknown key 'lr' in stage 'train'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------
# The runner, on scikit-learn's digits at 32 px with a narrow MobileNetV3-Small
# ---------------------------------------------------------------------------

SMALL = """\
model: {name: mobilenet_v3_small, resolution: 32, alpha: 0.35}
data: {source: digits, batch_size: 32}
seed: 0
stages:
  - train: {epochs: 2, learning_rate: 2e-3}
  - qat: {epochs: 1, learning_rate: 1e-4}
  - export: {mode: int8, calibration_steps: 32}
  - evaluate
"""


TINY = """\
model: {name: mobilenet_v1, resolution: 32, alpha: 0.25}
data: {source: digits, batch_size: 64, train_fraction: 0.25}
stages:
  - train: {epochs: 1}
  - export: {mode: int8, calibration_steps: 8}
  - evaluate
"""


def test_the_runner_chains_train_export_and_evaluate(tmp_path):
    """The fast tier's run of the runner: one short epoch, an int8 file, its accuracy (QAT and the
    resume rules are in the slow tests below)."""
    results = recipes.run(parse(TINY), tmp_path / "run", verbose=0, show_progress=False, log=lambda line: None)
    assert [entry["folder"] for entry in results["stages"]] == ["1_train", "2_export", "3_evaluate"]
    buf = (tmp_path / "run" / results["stages"][1]["artifact"]).read_bytes()
    assert tflite_file.summarize(buf).fully_integer and metadata.labels(buf) == [str(i) for i in range(10)]
    evaluate = results["stages"][2]["results"]
    assert evaluate["tflite"]["count"] == evaluate["float"]["count"] > 100
    assert json.loads((tmp_path / "run" / "results.json").read_text()) == json.loads(json.dumps(results))


def test_the_export_stage_keeps_hard_swish_when_asked(tmp_path):
    recipe = parse(HEAD + "stages:\n  - export: {keep_hard_swish: true, calibration_steps: 8}\n")
    results = recipes.run(recipe, tmp_path / "run", verbose=0, show_progress=False, log=lambda line: None)
    buf = (tmp_path / "run" / results["stages"][0]["artifact"]).read_bytes()
    assert results["stages"][0]["settings"]["keep_hard_swish"] is True
    assert "HARD_SWISH" in tflite_file.summarize(buf).ops  # the lowering (the default) removes every one


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recipe") / "run"
    lines = []
    results = recipes.run(parse(SMALL), folder, verbose=0, show_progress=False, log=lines.append)
    return folder, results, lines


@pytest.mark.slow
def test_every_stage_writes_its_artifact_and_results(quick_run):
    folder, results, _ = quick_run
    assert [entry["folder"] for entry in results["stages"]] == ["1_train", "2_qat", "3_export", "4_evaluate"]
    assert all(entry["status"] == "done" and entry["seconds"] > 0 for entry in results["stages"])
    assert json.loads((folder / "results.json").read_text()) == json.loads(json.dumps(results))
    train, qat, export, evaluate = results["stages"]
    assert train["artifact"] == "1_train/best.keras" and qat["artifact"] == "2_qat/best.h5"
    buf = (folder / export["artifact"]).read_bytes()
    assert tflite_file.summarize(buf).fully_integer and export["results"]["fully_integer"]
    assert export["results"]["size_bytes"] == len(buf) > export["results"]["gzip_bytes"]
    assert metadata.labels(buf) == [str(i) for i in range(10)]


@pytest.mark.slow
def test_results_show_float_and_int8_accuracy_on_the_test_split(quick_run):
    _, results, _ = quick_run
    evaluate = results["stages"][-1]["results"]
    assert evaluate["split"] == "test" and evaluate["tflite"]["count"] == evaluate["float"]["count"] > 100
    summary = results["summary"]
    for key in ("float_top1", "qat_top1", "tflite_top1"):
        assert 0.75 < summary[key] <= 1.0, summary  # two epochs learn the digits (0.93 when written; chance 0.1)
    # The file is the QAT model: integer rounding costs it little against the Keras QAT model.
    assert abs(summary["tflite_top1"] - summary["qat_top1"]) < 0.03


@pytest.mark.slow
def test_a_rerun_skips_finished_stages(quick_run):
    folder, results, _ = quick_run
    lines = []
    again = recipes.run(parse(SMALL), folder, verbose=0, show_progress=False, log=lines.append)
    assert sum("skipped" in line for line in lines) == 4, lines
    assert again["stages"] == results["stages"]


@pytest.mark.slow
def test_a_changed_stage_reruns_with_the_stages_after_it(quick_run, tmp_path):
    import shutil

    folder, results, _ = quick_run
    copy = tmp_path / "run"
    shutil.copytree(folder, copy)
    lines = []
    changed = SMALL.replace("calibration_steps: 32", "calibration_steps: 16")
    again = recipes.run(parse(changed), copy, verbose=0, show_progress=False, log=lines.append)
    ends = [line for line in lines if line.startswith("[") and ("skipped" in line or "done in" in line)]
    assert ["skipped" in line for line in ends] == [True, True, False, False]
    assert again["stages"][1] == results["stages"][1]
    assert again["stages"][2]["settings"]["calibration_steps"] == 16


@pytest.mark.slow
def test_an_interrupted_run_resumes_where_it_stopped(quick_run, tmp_path, monkeypatch):
    import shutil

    folder, results, _ = quick_run
    copy = tmp_path / "run"
    shutil.copytree(folder, copy)
    entries = json.loads((copy / "results.json").read_text())
    entries["stages"][2]["status"] = "running"  # as if the export had been cut off
    del entries["stages"][3]
    (copy / "results.json").write_text(json.dumps(entries))

    def cut_off(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setitem(recipes.STAGES, "evaluate", recipes.StageKind(recipes.EvaluateStage, cut_off))
    with pytest.raises(KeyboardInterrupt):
        recipes.run(parse(SMALL), copy, verbose=0, show_progress=False, log=lambda line: None)
    state = json.loads((copy / "results.json").read_text())
    assert [entry["status"] for entry in state["stages"]] == ["done", "done", "done", "running"]
    monkeypatch.undo()
    lines = []
    finished = recipes.run(parse(SMALL), copy, verbose=0, show_progress=False, log=lines.append)
    assert sum("skipped" in line for line in lines) == 3
    assert finished["stages"][3]["status"] == "done"
    assert finished["summary"]["tflite_top1"] == results["summary"]["tflite_top1"]


def test_output_folder_errors(tmp_path):
    recipe = parse(SMALL)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        recipes.run(recipe, tmp_path / "file", show_progress=False)
    with pytest.raises(UserError, match="does not exist"):
        recipes.run(recipe, tmp_path / "missing" / "run", show_progress=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="holds other files"):
        recipes.run(recipe, tmp_path / "busy", show_progress=False)
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"


def test_clearing_a_run_folder_removes_only_what_runs_write(tmp_path):
    for name in ("1_train", "2_qat", "3_export", "notes", "1_mine"):
        (tmp_path / name).mkdir()
    (tmp_path / "results.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("mine")
    recipes.runner._clear(tmp_path, keep={"1_train", "results.json"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1_mine", "1_train", "notes", "notes.txt", "results.json"]
    recipes.runner._clear(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1_mine", "notes", "notes.txt"]


def test_the_fingerprint_follows_the_files_a_recipe_names(tmp_path):
    import os

    weights = tmp_path / "teacher.keras"
    weights.write_bytes(b"one")
    recipe = parse(HEAD + f"stages:\n  - distill: {{epochs: 1, teacher: {weights}}}\n")
    before = recipes.fingerprint(recipe, 0)
    assert recipes.fingerprint(recipe, 0) == before
    weights.write_bytes(b"other")
    os.utime(weights, ns=(1, 1))
    assert recipes.fingerprint(recipe, 0) != before


def test_an_adapt_stage_is_validated_with_its_line():
    recipe = parse(HEAD + "stages:\n  - train: {epochs: 1}\n  - adapt: {target_latency: 0.6x, epochs: 0}\n  - export\n")
    adapt = recipe.stages[1].settings
    assert isinstance(adapt, recipes.AdaptStage) and adapt.target_latency == "0.6x" and adapt.mode == "int8"
    assert "line 8" in error_of(HEAD + "stages:\n  - train: {epochs: 1}\n  - adapt: {target_latency: 2x}\n")
    assert "give milliseconds" in error_of(HEAD + "stages:\n  - adapt: {target_latency: soon}\n")
    missing = error_of(
        HEAD + "stages:\n  - train: {epochs: 1}\n  - adapt: {target_latency: 0.6x, latency_table: no.json}\n"
    )
    assert "line 8" in missing and "'latency_table': no latency table at no.json" in missing
    assert "'adapt' comes after 'qat'" in error_of(
        HEAD + "stages:\n  - qat: {epochs: 1}\n  - adapt: {target_latency: 3}\n"
    )


@pytest.mark.slow
def test_the_adapt_stage_hands_a_smaller_model_on(tmp_path, monkeypatch):
    """Latency from a stand-in (parameters), so the stage's wiring is tested, not this machine's timing."""
    from mobilekit.adapt import latency

    monkeypatch.setattr(latency.HostLatency, "of", lambda self, models: [m.count_params() / 1e4 for m in models])
    recipe = parse(
        HEAD
        + "stages:\n  - adapt: {target_latency: 0.97x, epochs: 0, short_steps: 0, max_iterations: 1}\n"
        + "  - export: {calibration_steps: 8}\n"
    )
    results = recipes.run(recipe, tmp_path / "run", verbose=0, show_progress=False, log=lambda line: None)
    adapt, export = results["stages"]
    assert adapt["results"]["iterations"] == 1 and adapt["results"]["latency_ms"] < adapt["results"]["start_ms"]
    assert (tmp_path / "run" / adapt["artifact"]).is_file() and adapt["artifact"].endswith("iteration_1.keras")
    assert tflite_file.summarize((tmp_path / "run" / export["artifact"]).read_bytes()).fully_integer
