"""The Android demo's pure-Kotlin core (android_demo/core): its unit tests, and agreement with Python.

Compiles the core and its tests once with kotlinc (found via $KOTLINC, then the repository's
.kotlin/ npm prefix, then PATH; `.ci/run` installs it), then:

- runs the Kotlin unit tests (stats, top-k, labels, preprocessing, JSON);
- feeds a real photo through the Kotlin preprocessing and mobilekit's own (centre crop, bilinear
  resize, rounding to pixels, normalization, quantization) and requires identical tensors;
- checks that the Kotlin latency statistics equal mobilekit.runtime.benchmark.latency_stats and that
  the results JSON the Kotlin core writes validates against bench.schema.json;
- reads real converted files with metadata through the Kotlin ModelInfo and requires what mobilekit's
  metadata reader and the LiteRT interpreter report (tensors, quantization, normalization, labels,
  custom metadata, the segmenter's activation, and the task: classification or segmentation);
- runs a real LR-ASPP segmenter's outputs (uint8, int8 and float32, (1, 12, 12, 11)) through the Kotlin
  mask post-processing and requires numpy's arg-max at the tensor's size, and this file's reference
  (bilinear on the scores, half-pixel centres, then arg-max) at display sizes, with the overlay colours
  and the legend's shares.
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


ACTIVATIONS = ("NONE", "SIGMOID", "SOFTMAX")  # MediaPipe's image_segmenter_metadata_schema.fbs


def segmenter_options_bytes(activation: str, min_parser_version: str = "1.0.0") -> bytes:
    """MediaPipe's ImageSegmenterOptions flatbuffer (identifier V001): activation, min_parser_version."""
    import flatbuffers

    b = flatbuffers.Builder(64)
    b.ForceDefaults(True)
    version = b.CreateString(min_parser_version)
    b.StartObject(2)
    b.PrependInt8Slot(0, ACTIVATIONS.index(activation), 0)
    b.PrependUOffsetTRelativeSlot(1, version, 0)
    b.Finish(b.EndObject(), file_identifier=b"V001")
    return bytes(b.Output())


def segmenter_options_of(data: bytes) -> dict:
    """ImageSegmenterOptions read with the flatbuffers runtime, as MediaPipe's GetImageSegmenterOptions
    (any identifier): what ModelInfoCli prints as "segmenter"."""
    from flatbuffers import number_types, table

    buf = bytearray(data)
    root = table.Table(buf, number_types.UOffsetTFlags.py_type(int.from_bytes(buf[:4], "little")))
    activation = root.Offset(4)
    version = root.Offset(6)
    return {
        "activation": ACTIVATIONS[root.Get(number_types.Int8Flags, root.Pos + activation) if activation else 0],
        "min_parser_version": root.String(root.Pos + version).decode() if version else None,
    }


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
        custom = sub.get("custom_metadata") or []
        segmenter = [bytes(entry.get("data") or []) for entry in custom if entry.get("name") == "SEGMENTER_METADATA"]
        tree = {
            **{
                key: tree.get(key)
                for key in ("name", "description", "version", "author", "license", "min_parser_version")
            },
            "inputs": [tensor_metadata(t) for t in sub.get("input_tensor_metadata") or []],
            "outputs": [tensor_metadata(t) for t in sub.get("output_tensor_metadata") or []],
            "associated_files": [associated_file(f) for f in tree.get("associated_files") or []],
            "labels_file": metadata.read_spec(data).labels_file,
            "custom_metadata": [
                {"name": entry.get("name"), "sha256": hashlib.sha256(bytes(entry.get("data") or [])).hexdigest()}
                for entry in custom
            ],
            "segmenter": segmenter_options_of(segmenter[-1]) if segmenter else None,
        }
    outputs = interpreter.get_output_details()
    return {
        "inputs": [tensor(d) for d in interpreter.get_input_details()],
        "outputs": [tensor(d) for d in outputs],
        "metadata": tree,
        "labels": metadata.labels(data),
        "operators": sum(tflite_file.summarize(data).ops.values()),  # subgraph 0's ops
        "task": metadata.task_of(data) or "unknown",
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
    assert kotlin["task"] == "classification"

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


@pytest.mark.parametrize("kind", ["classifier", "segmenter"])
def test_model_info_reads_damaged_files_without_crashing(core_jar, request, tmp_path, kind):
    """Every damaged copy gives its JSON or one IllegalArgumentException message, never another exception."""
    from fuzzing import damaged_copies

    files = request.getfixturevalue("tflite_files" if kind == "classifier" else "segmentation_files")
    copies = damaged_copies(files["int8-uint8io"].read_bytes())
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


# --- The app's model classes against this core ---

APP_SOURCES = ROOT / "android_demo" / "app" / "src" / "main" / "kotlin" / "dev" / "mobilekit" / "demo"
APP_MODEL_CLASSES = ("ImageModel.kt", "Classifier.kt", "Segmenter.kt")


def test_app_model_classes_compile_against_the_core(core_jar, tmp_path):
    """The app's ImageModel, Classifier and Segmenter (between LiteRT's tensors and the core's top-k and
    segmentation) type-check against this core, with LiteRT's Java API and the app's Engine stubbed
    (tests/android/stubs): the app cannot be built here, but its use of the core is checked."""
    kotlinc = require_kotlinc("the app's model classes")
    engine = (APP_SOURCES / "Engine.kt").read_text()
    for declaration in (  # what the Engine stub declares, still in the real Engine
        "data class GpuCache(val folder: File, val token: String)",
        "val interpreter: Interpreter,",
        "val accelerator: Accelerator,",
        "fun create(modelBytes: ByteArray, accelerator: Accelerator, threads: Int, gpuCache: GpuCache? = null): Engine",
    ):
        assert declaration in engine, (
            f"Engine.kt no longer has {declaration!r}: update tests/android/stubs/EngineStub.kt"
        )
    stubs = sorted((ROOT / "tests" / "android" / "stubs").glob("*.kt"))
    done = subprocess.run(
        [kotlinc, "-nowarn", "-jvm-target", "17", "-cp", str(core_jar), "-d", str(tmp_path / "app-models.jar")]
        + [str(path) for path in stubs]
        + [str(APP_SOURCES / name) for name in APP_MODEL_CLASSES],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"kotlinc failed on the app's model classes:\n{done.stdout}\n{done.stderr}"


# --- Segmentation: a real LR-ASPP's files and outputs through the Kotlin core against numpy ---

SEGMENTATION_LABELS = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
)  # fmt: skip
SEGMENTATION_KINDS = {  # kind: (mode, io, the activation written into SEGMENTER_METADATA)
    "int8-uint8io": ("int8", "uint8", "NONE"),  # the softmax is in the graph: what mobilekit writes
    "float32": ("float32", "float32", "SOFTMAX"),  # another activation, to read it back
}  # int8 I/O is the classifier files' case; its int8 output is derived from the uint8 one below


def with_segmenter_metadata(flat: bytes, activation: str) -> bytes:
    """flat with the metadata a segmenter carries (what MediaPipe's ImageSegmenter reads): the image input
    (RGB, normalization), the mask output (GRAYSCALE ImageProperties, labels.txt as TENSOR_AXIS_LABELS) and
    SEGMENTER_METADATA in the subgraph's custom_metadata; written with mobilekit's metadata encoder and
    tflite_file, labels.txt in a stored ZIP appended to the flatbuffer."""
    import io
    import zipfile

    from mobilekit.export import metadata, tflite_file

    def image(color_space: str) -> dict:
        return {"content_properties_type": "ImageProperties", "content_properties": {"color_space": color_space}}

    subgraph = {
        "input_tensor_metadata": [
            {
                "name": "image",
                "content": image("RGB"),
                "process_units": [{"options_type": "NormalizationOptions", "options": {"mean": [0.0], "std": [1.0]}}],
            }
        ],
        "output_tensor_metadata": [
            {
                "name": "segmentation_masks",
                "description": "Class probabilities per pixel.",
                "content": image("GRAYSCALE"),
                "associated_files": [
                    {"name": "labels.txt", "description": "Class names.", "type": "TENSOR_AXIS_LABELS"}
                ],
            }
        ],
        "custom_metadata": [{"name": "SEGMENTER_METADATA", "data": list(segmenter_options_bytes(activation))}],
    }
    tree = {"name": "lraspp", "description": "A tiny test segmenter.", "version": "1", "subgraph_metadata": [subgraph]}
    tree["min_parser_version"] = metadata.min_parser_version(tree)
    model = tflite_file.read(flat)
    tflite_file.set_metadata_buffer(model, metadata.METADATA_NAME, metadata.encode(tree))
    with_metadata = tflite_file.write(model)
    archive = io.BytesIO()
    archive.write(b"\0" * len(with_metadata))  # ZIP offsets count from the model's first byte
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr(
            zipfile.ZipInfo("labels.txt", date_time=(1980, 1, 1, 0, 0, 0)), "\n".join(SEGMENTATION_LABELS) + "\n"
        )
    return with_metadata + archive.getvalue()[len(with_metadata) :]


@pytest.fixture(scope="module")
def segmentation_files(tmp_path_factory) -> dict[str, pathlib.Path]:
    """LR-ASPP on MobileNetV3-Small (alpha 0.35, 96 px, 11 classes: output (1, 12, 12, 11) class
    probabilities) from mobilekit's converter, each kind of SEGMENTATION_KINDS with segmenter metadata, and
    the uint8 file without metadata ("no-metadata"). Untrained, with its two classifier convolutions
    scaled by 200 so that the classes vary over a photo (8 of the 11 win somewhere on chelsea) while
    the probabilities stay close enough that the uint8 and int8 outputs (scale 1/256) have ties."""
    import tf_keras

    from mobilekit.export import convert
    from mobilekit.models import efficient, segmentation

    tf_keras.utils.set_random_seed(0)
    model = segmentation.build_lraspp(
        efficient.MOBILENET_V3_SMALL, name="lraspp", alpha=0.35, resolution=96, num_classes=len(SEGMENTATION_LABELS)
    )
    for name in ("lraspp_low_classifier", "lraspp_high_classifier"):
        layer = model.get_layer(name)
        layer.set_weights([weights * 200 for weights in layer.get_weights()])
    calibration = [np.random.default_rng(1).uniform(0, 255, (4, 96, 96, 3)).astype(np.float32)]
    folder = tmp_path_factory.mktemp("segmentation")
    files = {}
    for kind, (mode, io_type, activation) in SEGMENTATION_KINDS.items():
        flat = convert.convert(
            model, mode=mode, io=io_type, calibration=calibration, calibration_steps=4, show_progress=False
        )
        files[kind] = folder / f"{kind}.tflite"
        files[kind].write_bytes(with_segmenter_metadata(flat, activation))
        if kind == "int8-uint8io":
            files["no-metadata"] = folder / "no-metadata.tflite"
            files["no-metadata"].write_bytes(flat)
    return files


@pytest.mark.parametrize("kind", [*SEGMENTATION_KINDS, "no-metadata"])
def test_model_info_of_segmenters_matches_python(core_jar, segmentation_files, kind):
    path = segmentation_files[kind]
    kotlin = json.loads(run_java(core_jar, "dev.mobilekit.core.ModelInfoCli", path).stdout)
    assert kotlin == python_model_info(path.read_bytes())
    assert kotlin["task"] == "segmentation"  # by SEGMENTER_METADATA, or by the output's shape without metadata
    (mask,) = kotlin["outputs"]
    assert mask["shape"] == [1, 12, 12, len(SEGMENTATION_LABELS)]
    if kind == "no-metadata":
        assert kotlin["metadata"] is None and kotlin["labels"] is None
        return
    assert kotlin["labels"] == list(SEGMENTATION_LABELS)
    assert kotlin["metadata"]["segmenter"] == {
        "activation": SEGMENTATION_KINDS[kind][2],
        "min_parser_version": "1.0.0",
    }
    assert [entry["name"] for entry in kotlin["metadata"]["custom_metadata"]] == ["SEGMENTER_METADATA"]
    assert kotlin["metadata"]["outputs"][0]["color_space"] == "GRAYSCALE"
    assert kotlin["metadata"]["min_parser_version"] == "1.5.0"  # custom_metadata came in schema 1.5.0


@pytest.fixture(scope="module")
def segmentation_outputs(segmentation_files) -> dict[str, tuple[np.ndarray, float, int]]:
    """{kind: (output, scale, zero point)}: each file's output tensor for the photo, as LiteRT gives it
    ((1, 12, 12, 11) uint8 / float32; scale 0 for float). "int8" is the uint8 output as a file with int8 I/O
    gives it (the same scale, everything 128 lower). "float32-ties" is the float output with
    exact ties written in: over the first 6 rows, the best class's score copied into the class 3 after it
    (modulo 11), so the lowest index decides each of those 72 pixels."""
    from ai_edge_litert.interpreter import Interpreter

    outputs = {}
    for kind in SEGMENTATION_KINDS:
        interpreter = Interpreter(model_path=str(segmentation_files[kind]))
        interpreter.allocate_tensors()
        (image,) = interpreter.get_input_details()
        (output,) = interpreter.get_output_details()
        scale, zero_point = image["quantization"]
        tensor = python_preprocess(photo(), 96, [0.0], [1.0], image["dtype"], scale, zero_point)
        interpreter.set_tensor(image["index"], tensor[None])
        interpreter.invoke()
        scale, zero_point = output["quantization"]
        outputs[kind] = (interpreter.get_tensor(output["index"]).copy(), float(scale), int(zero_point))
    uint8, scale, zero_point = outputs["int8-uint8io"]
    outputs["int8"] = ((uint8.astype(np.int16) - 128).astype(np.int8), scale, zero_point - 128)
    ties = outputs["float32"][0].copy()
    classes = ties.shape[-1]
    for y, x in np.ndindex(6, ties.shape[2]):
        best = int(np.argmax(ties[0, y, x]))
        ties[0, y, x, (best + 3) % classes] = ties[0, y, x, best]
    outputs["float32-ties"] = (ties, 0.0, 0)
    return outputs


def dequantized(output: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """The scores as the app reads them: (q - zero point) * scale in float32 (the raw values when the
    tensor has no quantization), widened to float64."""
    if output.dtype == np.float32:
        return output.astype(np.float64)
    if scale <= 0:
        scale, zero_point = 1.0, 0
    return ((output.astype(np.int64) - zero_point).astype(np.float32) * np.float32(scale)).astype(np.float64)


def resized_mask(scores: np.ndarray, width: int, height: int) -> np.ndarray:
    """The display mask's reference: scores (h, w, C) resized bilinearly with half-pixel centres (source
    coordinate (i + 0.5) * in / out - 0.5, clamped to the edges; as tf.image.resize and the app's
    preprocessing), in float64, then the arg-max per pixel (ties to the lowest class)."""

    def samples(out: int, size: int):
        coords = np.clip((np.arange(out) + 0.5) * (size / out) - 0.5, 0, size - 1)
        low = np.floor(coords).astype(int)
        return low, np.minimum(low + 1, size - 1), coords - low

    y0, y1, wy = samples(height, scores.shape[0])
    x0, x1, wx = samples(width, scores.shape[1])
    wx, wy = wx[None, :, None], wy[:, None, None]
    upper = scores[y0][:, x0] * (1 - wx) + scores[y0][:, x1] * wx
    lower = scores[y1][:, x0] * (1 - wx) + scores[y1][:, x1] * wx
    return np.argmax(upper * (1 - wy) + lower * wy, axis=-1)


def voc_color(index: int) -> int:
    """The PASCAL VOC colour map (its devkit's bitget loop), as opaque 0xFFRRGGBB."""
    r = g = b = 0
    for j in range(8):
        r |= ((index >> 0) & 1) << (7 - j)
        g |= ((index >> 1) & 1) << (7 - j)
        b |= ((index >> 2) & 1) << (7 - j)
        index >>= 3
    return 0xFF000000 | r << 16 | g << 8 | b


SEGMENTATION_SIZES = ["tensor", "12x12", "96x96", "53x37", "5x7", "1x1", "200x150"]


@pytest.mark.parametrize("kind", ["int8-uint8io", "int8", "float32", "float32-ties"])
def test_segmentation_masks_match_numpy(core_jar, segmentation_outputs, tmp_path, kind):
    output, scale, zero_point = segmentation_outputs[kind]
    dtype = np.dtype(output.dtype).name
    raw = tmp_path / "output.bin"
    raw.write_bytes(output.astype(output.dtype.newbyteorder("<")).tobytes())
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(SEGMENTATION_LABELS) + "\n")
    done = run_java(
        core_jar,
        "dev.mobilekit.core.SegmentationCli",
        raw,
        ",".join(map(str, output.shape)),
        dtype,
        repr(scale),
        zero_point,
        ",".join(SEGMENTATION_SIZES),
        "NONE",
        labels,
    )
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(lines) == len(SEGMENTATION_SIZES)
    scores = dequantized(output, scale, zero_point)[0]
    if dtype != "float32":
        from mobilekit.runtime import interpreter

        detail = {"dtype": output.dtype, "quantization": (scale, zero_point)}
        assert np.array_equal(interpreter.dequantize(output, detail)[0].astype(np.float64), scores)

    # The data has ties, and the arg-max takes the lowest class at each, as numpy.argmax.
    best = scores.max(axis=-1, keepdims=True)
    tied = (scores == best).sum(axis=-1) > 1
    assert tied.sum() >= {"float32": 0, "float32-ties": 72}.get(kind, 10), tied.sum()
    palette = np.array([voc_color(i) for i in range(len(SEGMENTATION_LABELS))], np.int64)

    for size, line in zip(SEGMENTATION_SIZES, lines):
        if size == "tensor":
            width, height = scores.shape[1], scores.shape[0]
            expected = np.argmax(scores, axis=-1)
            # Dequantization keeps the integers' order: the same classes as the raw tensor's arg-max.
            assert np.array_equal(expected, np.argmax(output[0], axis=-1))
        else:
            width, height = map(int, size.split("x"))
            expected = resized_mask(scores, width, height)
        assert (line["width"], line["height"]) == (width, height), size
        mask = np.array(line["mask"]).reshape(height, width)
        mismatch = np.argwhere(mask != expected)
        assert mismatch.size == 0, f"{size}: {len(mismatch)} pixels differ, first {mismatch[0].tolist()}"

        # Background (class 0, "background") transparent; the others in their VOC colour at alpha 0x99.
        assert line["background"] == 0
        overlay = np.where(expected == 0, 0, (palette[expected] & 0xFFFFFF) | (0x99 << 24))
        assert np.array_equal(np.array(line["overlay"]).reshape(height, width), overlay), size

        # The legend: every class present with its share of the pixels, largest first (ties by class).
        counts = np.bincount(expected.ravel(), minlength=len(SEGMENTATION_LABELS))
        present = sorted(np.flatnonzero(counts), key=lambda c: (-counts[c], c))
        assert line["legend"] == [
            {
                "index": int(c),
                "label": SEGMENTATION_LABELS[c],
                "color": int(palette[c]),
                "share": counts[c] / expected.size,
                "background": bool(c == 0),
            }
            for c in present
        ], size

    # The display size is not nearest-neighbour upscaling of the tensor's mask: class borders move.
    by_tensor = np.argmax(scores, axis=-1)
    nearest = by_tensor[np.arange(96) * 12 // 96][:, np.arange(96) * 12 // 96]
    assert (resized_mask(scores, 96, 96) != nearest).mean() > 0.02
    assert len(np.unique(by_tensor)) >= 6  # a real output, not one class everywhere
