"""mobilekit bench and the .tflite MAC / parameter counter."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from mobilekit.errors import UserError
from mobilekit.report import schema
from mobilekit.runtime import benchmark


# ---------------------------------------------------------------------------
# Statistics, interleaving and ratios, from recorded times
# ---------------------------------------------------------------------------


def test_latency_stats_from_recorded_times():
    stats = benchmark.latency_stats([4.0, 1.0, 3.0, 2.0, 10.0])
    assert (stats.median, stats.mean, stats.min, stats.max, stats.runs) == (3.0, 4.0, 1.0, 10.0, 5)
    assert stats.std == pytest.approx(math.sqrt(((0 + 9 + 1 + 4 + 36) / 5)))
    assert stats.p90 == pytest.approx(4.0 + 0.6 * (10.0 - 4.0))  # linear between the 4th and 5th of 5
    with pytest.raises(ValueError):
        benchmark.latency_stats([])


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeSession:
    """Each invoke advances the fake clock by its own duration and logs the order."""

    def __init__(self, name, duration_s, clock, log):
        self.name, self.duration, self.clock, self.log = name, duration_s, clock, log

    def feed(self, k):
        self.log.append(("feed", self.name, k))

    def invoke(self):
        self.log.append(("invoke", self.name))
        self.clock.now += self.duration


def test_runs_interleave_a_b_a_b_and_skip_warmup():
    clock, log = FakeClock(), []
    a, b = FakeSession("a", 0.002, clock, log), FakeSession("b", 0.005, clock, log)
    times = benchmark.run_interleaved([a, b], warmup=2, runs=3, clock=clock)
    invokes = [entry[1] for entry in log if entry[0] == "invoke"]
    assert invokes == ["a", "b"] * 5
    assert [entry[2] for entry in log if entry[0] == "feed" and entry[1] == "a"] == [0, 1, 2, 3, 4]
    assert times == [pytest.approx([2.0] * 3), pytest.approx([5.0] * 3)]


def _file(name, macs=2_000_000):
    return benchmark.ModelFile(
        path=benchmark.pathlib.Path(f"{name}.tflite"),
        name=name,
        sha256="0" * 64,
        size_bytes=10,
        mode="int8",
        macs=macs,
        params=5,
    )


def test_ratios_are_to_the_first_file_at_the_same_threads():
    stats = lambda median: benchmark.latency_stats([median])  # noqa: E731
    results = [
        benchmark.Result(_file("a"), "xnnpack", 1, latency=stats(2.0)),
        benchmark.Result(_file("b"), "xnnpack", 1, latency=stats(3.0)),
        benchmark.Result(_file("a"), "xnnpack", 2, latency=stats(1.0)),
        benchmark.Result(_file("b"), "xnnpack", 2, latency=stats(4.0)),
        benchmark.Result(_file("c"), "xnnpack", 2, error="refused"),
    ]
    benchmark.set_ratios(results)
    assert [r.ratio_to_first for r in results] == [1.0, 1.5, 1.0, 4.0, None]
    assert results[0].gmacs_per_s == pytest.approx(2e6 / 2e-3 / 1e9)
    report = benchmark.Report(
        device=benchmark.host_device(),
        settings=benchmark.Settings(threads=(1, 2)),
        results=results,
        created="2025-01-01T00:00:00+00:00",
    )
    schema.validate_bench(report.to_json(), "bench.json")  # an error-only entry is valid too


@pytest.mark.parametrize("text, expected", [("1", (1,)), ("1,2", (1, 2)), (" 2 , 4 ", (2, 4)), ("1,1,2", (1, 2))])
def test_parse_threads(text, expected):
    assert benchmark.parse_threads(text) == expected


@pytest.mark.parametrize("text", ["", "0", "1,x", "-1", "1,,2"])
def test_bad_threads_are_user_errors(text):
    with pytest.raises(UserError, match="--threads"):
        benchmark.parse_threads(text)


def test_settings_reject_no_runs():
    with pytest.raises(UserError, match="at least one timed run"):
        benchmark.Settings(runs=0)


def test_peak_memory_counts_native_allocations():
    with benchmark.peak_memory_added() as memory:
        block = np.ones(64 * 1024 * 1024 // 8)  # 64 MiB, touched
        del block
    if memory.mb is None:
        pytest.skip("no resettable VmHWM on this system")
    assert 60 <= memory.mb < 200


# ---------------------------------------------------------------------------
# Real files
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_files(tiny_classifier, tmp_path_factory):
    from mobilekit.export import convert

    folder = tmp_path_factory.mktemp("bench")
    paths = {}
    for mode in ("float32", "int8"):
        paths[mode] = folder / f"tiny_{mode}.tflite"
        paths[mode].write_bytes(convert.convert(tiny_classifier, mode=mode, calibration_steps=4, show_progress=False))
    return paths


def test_benchmark_two_files(tiny_files, tiny_classifier):
    from mobilekit import models

    settings = benchmark.Settings(threads=(1, 2), warmup=1, runs=5)
    report = benchmark.benchmark([tiny_files["float32"], tiny_files["int8"]], settings, show_progress=False)
    assert [(r.file.name, r.threads) for r in report.results] == [
        ("tiny_float32", 1),
        ("tiny_int8", 1),
        ("tiny_float32", 2),
        ("tiny_int8", 2),
    ]
    for r in report.results:
        assert r.error is None and r.latency.runs == 5
        assert 0 < r.latency.min <= r.latency.median <= r.latency.p90 <= r.latency.max
        assert r.init_ms > 0 and r.first_inference_ms > 0
        assert r.file.macs == models.count_macs(tiny_classifier)
        assert r.gmacs_per_s == pytest.approx(r.file.macs / r.latency.median / 1e6)
    assert [r.file.mode for r in report.results[:2]] == ["float32", "int8"]
    assert report.results[0].ratio_to_first == 1.0
    assert report.results[1].ratio_to_first == pytest.approx(
        report.results[1].latency.median / report.results[0].latency.median
    )
    document = report.to_json()
    schema.validate_bench(document, "bench.json")
    assert document["settings"] == {"warmup": 1, "runs": 5, "interleaved": True, "inputs": "random", "data": None}
    # XNNPACK takes the tiny files whole; the int8 file's uint8 I/O and softmax stay at its ends
    coverage = {r["model"]: r["delegate_coverage"] for r in document["results"]}
    assert coverage["tiny_float32"] == {"ops": 8, "delegated": 8, "partitions": 1, "left_out": {}}
    assert coverage["tiny_int8"]["partitions"] == 1
    assert set(coverage["tiny_int8"]["left_out"]) <= {"QUANTIZE", "SOFTMAX"}


def test_benchmark_with_real_images(tiny_files):
    settings = benchmark.Settings(warmup=0, runs=3, data="digits", xnnpack=False)
    report = benchmark.benchmark([tiny_files["int8"]], settings, show_progress=False)
    assert report.results[0].coverage is None  # no delegate: nothing to cover
    (result,) = report.results
    assert result.delegate == "cpu" and result.latency.runs == 3
    schema.validate_bench(report.to_json(), "bench.json")


def test_data_pixels_are_rgb_at_the_file_size():
    pixels = benchmark.data_pixels("digits", 32, 4)
    assert pixels.shape == (4, 32, 32, 3) and pixels.max() <= 255 and pixels.max() > 0


# ---------------------------------------------------------------------------
# The CLI
# ---------------------------------------------------------------------------


def _cli(*args):
    from mobilekit.cli.main import cli

    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_bench_prints_both_files_with_ratios_and_writes_valid_json(tiny_files, tmp_path):
    out = tmp_path / "bench.json"
    result = _cli(
        "bench",
        str(tiny_files["float32"]),
        str(tiny_files["int8"]),
        "--runs",
        "3",
        "--warmup",
        "1",
        "--threads",
        "1,2",
        "--json",
        str(out),
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "ratio" in lines[0] and "median ms" in lines[0]
    rows = [line.split() for line in lines[1:5]]
    assert [(row[0], row[2]) for row in rows] == [
        ("tiny_float32", "1"),
        ("tiny_int8", "1"),
        ("tiny_float32", "2"),
        ("tiny_int8", "2"),
    ]
    assert rows[0][8] == "1.00" and rows[2][8] == "1.00" and float(rows[1][8]) > 0
    document = json.loads(out.read_text())
    schema.validate_bench(document, "bench.json")
    assert len(document["results"]) == 4
    # An existing --json is not overwritten without --force, and that is checked before measuring.
    again = _cli("bench", str(tiny_files["int8"]), "--runs", "1", "--json", str(out), "--quiet")
    assert again.exit_code != 0 and "already exists" in again.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.tflite"], "does not exist"),
        (["--runs", "0"], "at least one timed run"),
        (["--threads", "1,zero"], "--threads"),
    ],
)
def test_cli_errors(tiny_files, args, message):
    paths = [] if args[0] == "missing.tflite" else [str(tiny_files["int8"])]
    result = _cli("bench", *paths, *args)
    assert result.exit_code != 0 and message in result.output
    assert "Traceback" not in result.output


def test_cli_rejects_a_file_that_is_not_tflite(tmp_path):
    bogus = tmp_path / "notes.tflite"
    bogus.write_text("hello, not a model")
    result = _cli("bench", str(bogus))
    assert result.exit_code != 0 and "not a TFLite model" in result.output and str(bogus) in result.output


def test_cli_help_without_tensorflow():
    code = (
        "import sys; from mobilekit.cli.main import cli\n"
        "try:\n    cli(['bench', '--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules, 'bench --help imported TensorFlow'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--threads" in done.stdout and "--xnnpack / --no-xnnpack" in done.stdout
    listing = subprocess.run(
        [sys.executable, "-c", "from mobilekit.cli.main import cli; cli(['--help'])"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "bench" in listing.stdout


# ---------------------------------------------------------------------------
# MACs and parameters of .tflite files agree with the Keras counts
# ---------------------------------------------------------------------------


def _keras_counts(model):
    """Kernel elements, and what conversion folds away: batch-norm channels, zero Dense biases."""
    import tf_keras

    kernels, folded = 0, 0
    for weight in model.weights:
        if weight.name.split("/")[-1].split(":")[0].endswith("kernel"):
            kernels += math.prod(weight.shape)
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        if isinstance(layer, tf_keras.Model):
            stack += layer.layers
        elif isinstance(layer, tf_keras.layers.BatchNormalization):
            folded += int(layer.gamma.shape[0])
        elif isinstance(layer, tf_keras.layers.Dense) and layer.use_bias and not np.any(layer.bias.numpy()):
            folded += int(layer.bias.shape[0])
    return kernels, folded


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mobilenet_v3_small", "mobilenet_v2", "resnet18"])
def test_file_macs_and_params_match_keras(name):
    """MACs equal exactly; filters equal the Keras kernels; params differ only by what conversion folds.

    Keras counts gamma and beta (2*C) for each BatchNormalization after a
    bias-less convolution; conversion folds the pair into one C-element bias.
    An untrained Dense's all-zero bias is dropped from its FULLY_CONNECTED.
    """
    from mobilekit import models
    from mobilekit.export import convert, tflite_file

    model = models.build(name, weights=None, resolution=32)
    kernels, folded = _keras_counts(model)
    for mode in ("float32", "int8"):
        buf = convert.convert(model, mode=mode, calibration_steps=2, show_progress=False)
        counts = tflite_file.complexity(buf)
        assert counts.macs == models.count_macs(model), mode
        assert counts.weights == kernels, mode
        assert counts.params == models.count_params(model) - folded, mode


def test_tiny_file_counts_by_op(tiny_files, tiny_classifier):
    from mobilekit import models
    from mobilekit.export import tflite_file

    counts = tflite_file.complexity(tiny_files["int8"].read_bytes())
    # 32 px, stride 2: 16x16 positions; conv 3x3x3x8, depthwise 3x3x8, conv 3x3x8x48, dense 48x10.
    assert counts.ops == {
        "CONV_2D": 256 * 27 * 8 + 256 * 72 * 48,
        "DEPTHWISE_CONV_2D": 256 * 72,
        "FULLY_CONNECTED": 480,
    }
    assert counts.params == models.count_params(tiny_classifier) - _keras_counts(tiny_classifier)[1]
    assert counts.params == counts.weights + 8 + 8 + 48  # the untrained Dense's zero bias is dropped
