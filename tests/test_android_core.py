"""The Android demo's pure-Kotlin core (android_demo/core): its unit tests, and agreement with Python.

Compiles the core and its tests once with kotlinc (found via $KOTLINC, then the repository's
.kotlin/ npm prefix, then PATH; `.ci/run` installs it), then:

- runs the Kotlin unit tests (stats, top-k, labels, preprocessing, JSON);
- feeds a real photo through the Kotlin preprocessing and mobilekit's own (centre crop, bilinear
  resize, rounding to pixels, normalization, quantization) and requires identical tensors;
- checks that the Kotlin latency statistics equal mobilekit.runtime.benchmark.latency_stats and that
  the results JSON the Kotlin core writes validates against bench.schema.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

from android.kotlin_tools import ROOT, cached_build, require_kotlinc

CORE = ROOT / "android_demo" / "core"


@pytest.fixture(scope="module")
def core_jar() -> pathlib.Path:
    """core-tests.jar, compiled once per source version (shared by xdist workers through a lock)."""
    kotlinc = require_kotlinc("the Kotlin core")

    def build(out: pathlib.Path) -> None:
        done = subprocess.run(["bash", str(CORE / "build.sh"), str(out)], capture_output=True, text=True,
                              env={**os.environ, "KOTLINC": kotlinc, "SKIP_TESTS": "1"}, timeout=300)
        assert done.returncode == 0, f"kotlinc failed:\n{done.stdout}\n{done.stderr}"

    sources = [(str(path.relative_to(CORE)), path.read_bytes())
               for path in sorted(CORE.glob("src/**/*.kt")) + [CORE / "build.sh"]]
    return cached_build(CORE / "build", sources, "core-tests.jar", build)


def run_java(jar: pathlib.Path, main: str, *args) -> subprocess.CompletedProcess:
    done = subprocess.run(["java", "-cp", str(jar), main, *map(str, args)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"{main} failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_kotlin_unit_tests_pass(core_jar):
    done = run_java(core_jar, "dev.mobilekit.core.CoreTestsKt")
    assert " 0 failed" in done.stdout, done.stdout


def python_preprocess(rgb: np.ndarray, size: int, mean, std, dtype, scale: float, zero_point: int) -> np.ndarray:
    """mobilekit's chain: centre crop + resize (data.images), uint8 pixels as datasets stores them,
    normalization as runtime.evaluate applies it, quantization as runtime.interpreter.quantize."""
    from mobilekit.data import images
    from mobilekit.runtime import interpreter

    crop = images.center_crop(rgb, size)
    pixels = np.clip(np.round(crop), 0, 255).astype(np.uint8)
    values = (pixels.astype(np.float32) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return interpreter.quantize(values.astype(np.float32), {"dtype": dtype, "quantization": (scale, zero_point)})


def photo() -> np.ndarray:
    """A real photo (scikit-image's chelsea), cut to a non-square region so the centre crop matters."""
    from skimage import data

    return np.ascontiguousarray(data.chelsea()[7:251, 13:388])  # 244 x 375


@pytest.mark.parametrize("size, mean, std, dtype, scale, zero_point", [
    (96, [0.0], [1.0], "uint8", 1.0, 0),                              # raw pixels, uint8 input
    (96, [127.5], [127.5], "int8", 0.0078125, 0),                     # [-1, 1] inputs, int8 (halves to round)
    (96, [123.675, 116.28, 103.53], [58.395, 57.12, 57.375], "int8", 0.018658, -14),  # ImageNet mean/std
    (224, [0.0], [255.0], "uint8", 1 / 255, 0),                       # upsampling, [0, 1] inputs
    (96, [0.0], [1.0], "int8", 2.0, -64),                             # odd pixels / 2: exact halves, to even
    (61, [0.0], [1.0], "float32", 1.0, 0),                            # float32 input, odd size
], ids=["uint8-raw", "int8-pm1", "int8-imagenet", "uint8-up224", "int8-halves", "float32"])
def test_preprocessing_matches_mobilekit(core_jar, tmp_path, size, mean, std, dtype, scale, zero_point):
    rgb = photo()
    scale32 = float(np.float32(scale))  # a file stores its scale as float32
    raw = tmp_path / "image.rgb"
    raw.write_bytes(rgb.tobytes())
    out = tmp_path / "tensor.bin"
    run_java(core_jar, "dev.mobilekit.core.PreprocessCli", raw, rgb.shape[1], rgb.shape[0], size,
             ",".join(map(repr, mean)), ",".join(map(repr, std)), repr(scale32), zero_point, dtype, out)
    np_dtype = {"uint8": np.uint8, "int8": np.int8, "float32": np.dtype("<f4")}[dtype]
    kotlin = np.frombuffer(out.read_bytes(), np_dtype).reshape(size, size, 3)
    reference = python_preprocess(rgb, size, mean, std, np_dtype, scale32, zero_point)
    assert reference.dtype == kotlin.dtype
    # Exact: both sides compute the resize in float64 and the rest in float32 with the same operations.
    mismatch = np.argwhere(kotlin != reference)
    assert mismatch.size == 0, (f"{len(mismatch)} values differ, first at {mismatch[0].tolist()}: "
                                f"kotlin {kotlin[tuple(mismatch[0])]} vs mobilekit {reference[tuple(mismatch[0])]}")
    if dtype != "float32":
        assert len(np.unique(kotlin)) > 50  # a real photo, not a degenerate tensor


def test_results_json_validates_and_stats_match_python(core_jar, tmp_path):
    from mobilekit.runtime import benchmark

    rng = np.random.default_rng(6)
    times = [float(t) for t in rng.lognormal(1.5, 0.3, 150)]
    model = tmp_path / "tiny_int8.tflite"
    model.write_bytes(rng.bytes(4099))
    out = tmp_path / "bench.json"
    run_java(core_jar, "dev.mobilekit.core.SampleResults", model, out, ",".join(map(repr, times)))
    document = json.loads(out.read_text())
    benchmark.validate(document)  # bench.schema.json
    ok, failed = document["results"]
    assert document["device"]["kind"] == "android" and document["device"]["name"] == 'Google Pixel 7 "test"'
    assert ok["sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert ok["size_bytes"] == 4099 and ok["model"] == "tiny_int8"
    assert ok["latency_ms"] == benchmark.latency_stats(times).to_json()  # bit-for-bit, NumPy's definitions
    assert failed["error"] == "NNAPI delegate unavailable:\n\tnot supported on Android 15"
    assert "latency_ms" not in failed


def test_latency_stats_match_python_on_awkward_counts(core_jar, tmp_path):
    """Counts around NumPy's pairwise-summation blocks and percentile interpolation points."""
    from mobilekit.runtime import benchmark

    rng = np.random.default_rng(7)
    model = tmp_path / "m.tflite"
    model.write_bytes(b"x")
    for n in (1, 2, 7, 9, 21, 129, 257, 1000):
        times = [float(t) for t in rng.exponential(3.7, n) + 0.01]
        out = tmp_path / f"bench{n}.json"
        run_java(core_jar, "dev.mobilekit.core.SampleResults", model, out, ",".join(map(repr, times)))
        assert json.loads(out.read_text())["results"][0]["latency_ms"] == benchmark.latency_stats(times).to_json(), n
