"""The Android demo's pure-Kotlin core (android_demo/core): its unit tests, and agreement with Python.

Compiles the core and its tests once with kotlinc (found via $KOTLINC, then the repository's
.kotlin/ npm prefix, then PATH; `.ci/run` installs it), then:

- runs the Kotlin unit tests (stats, top-k, labels, preprocessing, JSON);
- feeds a real photo through the Kotlin preprocessing and mobilekit's own (centre crop, bilinear
  resize, rounding to pixels, normalization, quantization) and requires identical tensors;
- checks that the Kotlin latency statistics equal mobilekit.runtime.benchmark.latency_stats and that
  the results JSON the Kotlin core writes validates against bench.schema.json;
- reads real converted files with metadata through the Kotlin ModelInfo and requires what mobilekit's
  metadata reader and the LiteRT interpreter report (tensors, quantization, normalization, labels).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
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
        done = subprocess.run(
            ["bash", str(CORE / "build.sh"), str(out)],
            capture_output=True,
            text=True,
            env={**os.environ, "KOTLINC": kotlinc, "SKIP_TESTS": "1"},
            timeout=300,
        )
        assert done.returncode == 0, f"kotlinc failed:\n{done.stdout}\n{done.stderr}"

    sources = [
        (str(path.relative_to(CORE)), path.read_bytes())
        for path in sorted(CORE.glob("src/**/*.kt")) + [CORE / "build.sh"]
    ]
    return cached_build(CORE / "build", sources, "core-tests.jar", build)


def run_java(jar: pathlib.Path, main: str, *args, status: int = 0) -> subprocess.CompletedProcess:
    """Runs a main class; its exit status must be `status`."""
    done = subprocess.run(["java", "-cp", str(jar), main, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert done.returncode == status, f"{main} exited {done.returncode}, not {status}:\n{done.stdout}\n{done.stderr}"
    return done


def test_kotlin_unit_tests_pass(core_jar):
    done = run_java(core_jar, "dev.mobilekit.core.CoreTestsKt")
    summary = re.search(r"^(\d+) passed, 0 failed$", done.stdout, re.M)
    assert summary and int(summary[1]) > 0, done.stdout


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


@pytest.mark.parametrize(
    "size, mean, std, dtype, scale, zero_point",
    [
        (96, [0.0], [1.0], "uint8", 1.0, 0),  # raw pixels, uint8 input
        (96, [127.5], [127.5], "int8", 0.0078125, 0),  # [-1, 1] inputs, int8 (halves to round)
        (96, [123.675, 116.28, 103.53], [58.395, 57.12, 57.375], "int8", 0.018658, -14),  # ImageNet mean/std
        (224, [0.0], [255.0], "uint8", 1 / 255, 0),  # upsampling, [0, 1] inputs
        (96, [0.0], [1.0], "int8", 2.0, -64),  # odd pixels / 2: exact halves, to even
        (61, [0.0], [1.0], "float32", 1.0, 0),  # float32 input, odd size
    ],
    ids=["uint8-raw", "int8-pm1", "int8-imagenet", "uint8-up224", "int8-halves", "float32"],
)
def test_preprocessing_matches_mobilekit(core_jar, tmp_path, size, mean, std, dtype, scale, zero_point):
    rgb = photo()
    scale32 = float(np.float32(scale))  # a file stores its scale as float32
    raw = tmp_path / "image.rgb"
    raw.write_bytes(rgb.tobytes())
    out = tmp_path / "tensor.bin"
    run_java(
        core_jar,
        "dev.mobilekit.core.PreprocessCli",
        raw,
        rgb.shape[1],
        rgb.shape[0],
        size,
        ",".join(map(repr, mean)),
        ",".join(map(repr, std)),
        repr(scale32),
        zero_point,
        dtype,
        out,
    )
    np_dtype = {"uint8": np.uint8, "int8": np.int8, "float32": np.dtype("<f4")}[dtype]
    kotlin = np.frombuffer(out.read_bytes(), np_dtype).reshape(size, size, 3)
    reference = python_preprocess(rgb, size, mean, std, np_dtype, scale32, zero_point)
    assert reference.dtype == kotlin.dtype
    # Exact: both sides compute the resize in float64 and the rest in float32 with the same operations.
    mismatch = np.argwhere(kotlin != reference)
    assert mismatch.size == 0, (
        f"{len(mismatch)} values differ, first at {mismatch[0].tolist()}: "
        f"kotlin {kotlin[tuple(mismatch[0])]} vs mobilekit {reference[tuple(mismatch[0])]}"
    )
    if dtype != "float32":
        assert len(np.unique(kotlin)) > 50  # a real photo, not a degenerate tensor


def test_results_json_validates_and_stats_match_python(core_jar, tmp_path):
    from mobilekit.report import schema
    from mobilekit.runtime import benchmark

    rng = np.random.default_rng(6)
    times = [float(t) for t in rng.lognormal(1.5, 0.3, 150)]
    model = tmp_path / "tiny_int8.tflite"
    model.write_bytes(rng.bytes(4099))
    out = tmp_path / "bench.json"
    run_java(core_jar, "dev.mobilekit.core.SampleResults", model, out, ",".join(map(repr, times)))
    document = json.loads(out.read_text())
    schema.validate_bench(document, "bench.json")  # bench.schema.json
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


# --- ModelInfo: the Kotlin reader of a file's tensors, metadata and labels against mobilekit's ---

MODEL_LABELS = ("tabby cat", "astronaut", "coffee", "café au lait", "dog", "car", "tree", "house", "boat", "bird")


@pytest.fixture(scope="module")
def tflite_files(tiny_classifier, tmp_path_factory) -> dict[str, pathlib.Path]:
    """Real files from mobilekit's converter (32 px, 10 classes): int8 with uint8 and with int8 I/O,
    and float32, each with metadata attached; and the int8 file as converted, without metadata."""
    import warnings

    from mobilekit.export import convert, metadata

    calibration = [np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)]
    spec = metadata.ModelMetadataSpec(
        name="tiny",
        labels=MODEL_LABELS,
        description="A tiny test classifier.",
        version="2.1",
        author="mobilekit tests",
        license="Apache-2.0",
        mean=[123.675],
        std=[58.395],
    )  # neither exact in float32
    folder = tmp_path_factory.mktemp("tflite")
    files = {}
    for kind, mode, io, input_range in [
        ("int8-uint8io", "int8", "uint8", convert.PIXEL_RANGE),
        ("int8-int8io", "int8", "int8", None),  # the calibrated, odd scale
        ("float32", "float32", "float32", None),
    ]:
        flat = convert.convert(
            tiny_classifier, mode=mode, io=io, calibration=calibration, input_range=input_range, show_progress=False
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # int8 I/O: what MediaPipe would refuse, not our concern here
            files[kind] = folder / f"{kind}.tflite"
            files[kind].write_bytes(metadata.attach(flat, spec))
        if kind == "int8-uint8io":
            files["no-metadata"] = folder / "no-metadata.tflite"
            files["no-metadata"].write_bytes(flat)
    return files


def float32s(values) -> list[float]:
    """Each value as the float32 a file stores, as a Python float (exact)."""
    return [float(np.float32(v)) for v in values]


def python_model_info(data: bytes) -> dict:
    """What ModelInfoCli prints, as mobilekit's Python and the LiteRT interpreter read the file."""
    from ai_edge_litert.interpreter import Interpreter

    from mobilekit.export import metadata, tflite_file

    interpreter = Interpreter(model_content=data)

    def tensor(details: dict) -> dict:
        scale, zero_point = details["quantization"]  # (0.0, 0) for float tensors
        return {
            "name": details["name"],
            "shape": [int(d) for d in details["shape"]],
            "type": np.dtype(details["dtype"]).name,
            "scale": float(scale) if scale else None,
            "zero_point": int(zero_point) if scale else None,
        }

    def associated_file(entry: dict) -> dict:
        return {key: entry.get(key) for key in ("name", "type", "description", "locale")}

    def tensor_metadata(entry: dict) -> dict:
        content = entry.get("content") or {}
        image = (
            content.get("content_properties") if content.get("content_properties_type") == "ImageProperties" else None
        )
        norm = next(
            (
                unit["options"]
                for unit in entry.get("process_units") or []
                if unit.get("options_type") == "NormalizationOptions"
            ),
            None,
        )
        return {
            "name": entry.get("name"),
            "description": entry.get("description"),
            "color_space": image["color_space"] if image else None,
            "mean": float32s(norm["mean"]) if norm else None,
            "std": float32s(norm["std"]) if norm else None,
            "associated_files": [associated_file(f) for f in entry.get("associated_files") or []],
        }

    read = metadata.read(data)
    tree = None
    if read is not None:
        tree = read["metadata"]
        sub = tree["subgraph_metadata"][0]
        tree = {
            **{
                key: tree.get(key)
                for key in ("name", "description", "version", "author", "license", "min_parser_version")
            },
            "inputs": [tensor_metadata(t) for t in sub.get("input_tensor_metadata") or []],
            "outputs": [tensor_metadata(t) for t in sub.get("output_tensor_metadata") or []],
            "associated_files": [associated_file(f) for f in tree.get("associated_files") or []],
            "labels_file": metadata.read_spec(data).labels_file,
        }
    return {
        "inputs": [tensor(d) for d in interpreter.get_input_details()],
        "outputs": [tensor(d) for d in interpreter.get_output_details()],
        "metadata": tree,
        "labels": metadata.labels(data),
        "operators": sum(tflite_file.summarize(data).ops.values()),  # subgraph 0's ops
        "associated_files": {
            name: {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
            for name, content in metadata.associated_files(data).items()
        },
    }


@pytest.mark.parametrize("kind", ["int8-uint8io", "int8-int8io", "float32", "no-metadata"])
def test_model_info_matches_python(core_jar, tflite_files, kind):
    from mobilekit.export import metadata

    path = tflite_files[kind]
    kotlin = json.loads(run_java(core_jar, "dev.mobilekit.core.ModelInfoCli", path).stdout)
    data = path.read_bytes()
    assert kotlin == python_model_info(data)  # ints and strings exactly, floats as the file's float32

    expected_type = {"int8-uint8io": "uint8", "int8-int8io": "int8", "float32": "float32", "no-metadata": "uint8"}[kind]
    (image,) = kotlin["inputs"]
    assert image["type"] == expected_type and image["shape"] == [1, 32, 32, 3]
    assert (image["scale"] is None) == (kind == "float32")
    spec = metadata.read_spec(data)
    if spec is None:
        assert kind == "no-metadata" and kotlin["metadata"] is None and kotlin["labels"] is None
        return
    # What the app takes from the file: the labels and normalization that were attached.
    assert kotlin["labels"] == list(spec.labels) == list(MODEL_LABELS)
    (image_md,) = kotlin["metadata"]["inputs"]
    assert image_md["mean"] == float32s([123.675]) and image_md["std"] == float32s([58.395])
    assert image_md["color_space"] == "RGB" and kotlin["metadata"]["labels_file"] == "labels.txt"


def test_model_info_errors_say_what_is_wrong(core_jar, tflite_files, tmp_path):
    from mobilekit.export import metadata, tflite_file

    data = tflite_files["int8-uint8io"].read_bytes()
    cases = {}
    cases["text.tflite"] = (b"not a model, just some text", "not a .tflite file")
    cases["truncated.tflite"] = (data[: len(data) // 3], "the model is corrupt")
    model = tflite_file.read(data)
    entry = model.metadata[tflite_file.summarize(data).metadata_names.index(metadata.METADATA_NAME)]
    entry.buffer = len(model.buffers) + 5
    cases["bad-buffer.tflite"] = (tflite_file.write(model), "metadata buffer out of range")
    no_zip = data[: data.rindex(b"PK\x03\x04")]  # metadata names labels.txt, the appended ZIP is cut off
    cases["no-zip.tflite"] = (no_zip, "names the labels file 'labels.txt' but the model carries no such file")
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        assert message in run_java(core_jar, "dev.mobilekit.core.ModelInfoCli", path, status=1).stderr, name


def test_model_info_reads_damaged_files_without_crashing(core_jar, tflite_files, tmp_path):
    """Every damaged copy gives its JSON or one IllegalArgumentException message, never another exception."""
    from fuzzing import damaged_copies

    copies = damaged_copies(tflite_files["int8-uint8io"].read_bytes())
    paths = []
    for index, data in enumerate(copies.values()):
        paths.append(tmp_path / f"copy{index}.tflite")
        paths[-1].write_bytes(data)
    done = subprocess.run(
        ["java", "-cp", str(core_jar), "dev.mobilekit.core.ModelInfoCli", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr[-2000:]  # some copies are unreadable, and nothing crashed
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == len(copies)
    errors = [line["error"] for line in lines if "error" in line]
    assert 40 <= len(errors) < len(copies)  # the cuts fail; many flips land in weights and still read
    stderr = done.stderr.splitlines()
    assert len(stderr) == len(errors) and all(line.startswith("error: ") for line in stderr), done.stderr[-2000:]
