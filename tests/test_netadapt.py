"""The NetAdapt loop and host latency (mobilekit.adapt): budgets, proposals, adapt.json and resuming.

The loop's tests take latency from a stand-in proportional to the parameter count, so that what is
chosen does not depend on this machine's timing; `HostLatency` is tested on real files.
"""

import json

import numpy as np
import pytest

from mobilekit import UserError, data, load_model, models
from mobilekit.adapt import latency, netadapt


def params_ms(candidates):
    return [m.count_params() / 1e4 for m in candidates]


@pytest.fixture(scope="module")
def digits32():
    return data.load("digits", resolution=32, batch_size=32, show_progress=False)


@pytest.fixture(scope="module")
def small_model(tiny_classifier):
    """Two channel groups (8 and 48 channels): each proposal's search is a few cheap cuts."""
    return tiny_classifier


@pytest.fixture(scope="module")
def zoo_model():
    return models.build("mobilenet_v3_small", weights=None, resolution=32, alpha=0.35, num_classes=10)


def test_each_iteration_meets_its_budget_and_is_recorded(small_model, digits32, tmp_path):
    (start,) = params_ms([small_model])
    settings = netadapt.Settings(target_ms=0.9 * start, initial_step=0.05, short_steps=1, max_iterations=2)
    state = netadapt.adapt(small_model, digits32, settings, params_ms, tmp_path, log=lambda line: None)
    recorded = json.loads((tmp_path / netadapt.STATE_FILE).read_text())
    assert recorded == json.loads(json.dumps(state))
    assert 1 <= len(state["iterations"]) <= 2 and state["start_ms"] == pytest.approx(start)
    budgets = [it["budget_ms"] for it in state["iterations"]]
    assert budgets == sorted(budgets, reverse=True) and budgets[0] == pytest.approx(0.95 * start)
    for iteration in state["iterations"]:
        chosen = iteration["chosen"]
        assert chosen["latency_ms"] <= iteration["budget_ms"] and chosen["channels"] < chosen["of"]
        assert chosen == max(iteration["proposals"], key=lambda p: (p["accuracy"], -p["latency_ms"]))
    adapted = load_model(tmp_path / state["model"])
    assert params_ms([adapted])[0] == pytest.approx(state["iterations"][-1]["chosen"]["latency_ms"])


def test_an_interrupted_run_resumes_after_its_last_iteration(small_model, digits32, tmp_path):
    (start,) = params_ms([small_model])
    first = netadapt.Settings(target_ms=0.5 * start, initial_step=0.05, short_steps=0, max_iterations=1)
    once = netadapt.adapt(small_model, digits32, first, params_ms, tmp_path, log=lambda line: None)
    lines = []
    again = netadapt.adapt(
        small_model,
        digits32,
        netadapt.Settings(**{**first.__dict__, "max_iterations": 2}),
        params_ms,
        tmp_path,
        log=lines.append,
    )
    assert lines[0] == "resuming after iteration 1"
    assert len(again["iterations"]) == 2 and again["iterations"][0] == once["iterations"][0]
    assert again["iterations"][1]["budget_ms"] < once["iterations"][0]["budget_ms"]


def test_the_search_finds_the_most_channels_that_meet_the_budget_in_few_tries(small_model):
    from mobilekit.adapt import surgery

    graph = surgery.ChannelGraph(small_model)
    group = max(graph.prunable(), key=lambda g: g.size)
    (start,) = params_ms([small_model])
    tried = []

    def counted(candidates):
        tried.extend(params_ms(candidates))
        return params_ms(candidates)

    assert netadapt._largest_meeting(graph, group, 1, counted, start, budget=0.0) is None
    assert len(tried) == 1  # the narrowest proposal misses: no other is tried
    for step, budget in ((1, 0.9 * start), (1, 0.5 * start), (8, 0.7 * start)):
        tried.clear()
        model, channels, ms = netadapt._largest_meeting(graph, group, step, counted, start, budget=budget)
        assert ms <= budget and channels < group.size and (group.size - channels) % step == 0
        wider = surgery.shrink(graph, {group.id: surgery.keep_strongest(graph, group.id, channels + step)})
        assert channels + step == group.size or params_ms([wider])[0] > budget  # one step more would miss it
        assert len(tried) <= 2 + int(np.log2(group.size / step)), tried


def test_a_target_at_or_above_the_start_is_refused(small_model, digits32, tmp_path):
    (start,) = params_ms([small_model])
    with pytest.raises(UserError, match="not below the model's measured latency"):
        netadapt.adapt(small_model, digits32, netadapt.Settings(target_ms=start), params_ms, tmp_path)
    assert not (tmp_path / netadapt.STATE_FILE).exists()
    with pytest.raises(UserError, match="selection must be one of accuracy, ratio"):
        netadapt.Settings(target_ms=1.0, selection="flops")


def test_a_model_that_is_not_functional_is_refused_before_anything_is_written(digits32, tmp_path):
    import tf_keras

    class Subclassed(tf_keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = tf_keras.layers.Dense(10)

        def call(self, inputs):
            return self.dense(tf_keras.layers.Flatten()(inputs))

    model = Subclassed()
    model(np.zeros((1, 32, 32, 3), "float32"))
    with pytest.raises(UserError, match="not a functional tf_keras model"):
        netadapt.adapt(model, digits32, netadapt.Settings(target_ms=1.0), params_ms, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_host_latency_times_the_int8_files(zoo_model):
    images = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    host = latency.HostLatency(calibration=images, runs=5, warmup=1)
    from mobilekit.export import tflite_file

    assert tflite_file.summarize(host.file(zoo_model)).fully_integer
    (ms,) = host.of([zoo_model])
    assert 0 < ms < 1000
    with pytest.raises(UserError, match="unknown mode"):
        latency.HostLatency(calibration=images, mode="int4")


def test_the_adapt_command_writes_the_adapted_model_and_how_to_convert_it(conv_file, tmp_path):
    import shlex

    from click.testing import CliRunner

    from mobilekit.cli.main import cli
    from mobilekit.export import metadata

    out = tmp_path / "adapted"
    args = ["adapt", "--model", str(conv_file), "--data", "digits", "--target-latency", "0.9x", "--output", str(out)]
    args += ["--short-steps", "1", "--long-epochs", "0", "--max-iterations", "1", "--runs", "5", "--mode", "float32"]
    result = CliRunner().invoke(cli, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    assert {"adapted.keras", "adapt.json", "labels.txt"} <= {p.name for p in out.iterdir()}
    assert "latency" in result.output and "top-1" in result.output
    (ship,) = [line for line in result.output.splitlines() if "to ship it" in line]
    command = shlex.split(ship.split("to ship it", 1)[1])
    converted = CliRunner().invoke(cli, [*command[1:], "--output", str(tmp_path / "adapted.tflite"), "--quiet"])
    assert converted.exit_code == 0, converted.output
    assert metadata.labels((tmp_path / "adapted.tflite").read_bytes()) == [str(i) for i in range(10)]


def test_adapt_refuses_bad_targets_and_other_folders(conv_file, tmp_path):
    from click.testing import CliRunner

    from mobilekit.cli.main import cli

    base = ["adapt", "--model", str(conv_file), "--data", "digits", "--output", str(tmp_path / "run")]
    for target, message in (("1.5x", "a fraction below 1x"), ("fast", "give milliseconds"), ("0", "above 0 ms")):
        result = CliRunner().invoke(cli, [*base, "--target-latency", target])
        assert result.exit_code != 0 and message in result.output, (target, result.output)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    result = CliRunner().invoke(cli, [*base[:-1], str(busy), "--target-latency", "0.5x"])
    assert result.exit_code != 0 and "no adapt.json" in result.output
    assert not (tmp_path / "run").exists()
