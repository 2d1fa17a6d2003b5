"""export.metadata: TFLite Metadata written, read back, and still a runnable model."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from mobilekit.errors import UserError
from mobilekit.export import metadata, tflite_file

LABELS = (
    "tabby cat",
    "astronaut",
    "coffee",
    "café au lait",
    "dog",
    "car",
    "tree",
    "house",
    "boat",
    "bird",
)
EOCD = b"PK\x05\x06"  # ZIP end-of-central-directory signature


@pytest.fixture(scope="module")
def models() -> dict[str, bytes]:
    """A tiny softmax classifier (32 px, 10 classes), as float32 and as int8 with uint8 I/O."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.layers.InputLayer((32, 32, 3)),
            keras.layers.Rescaling(1 / 127.5, offset=-1.0),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(len(LABELS), activation="softmax"),
        ]
    )
    rng = np.random.default_rng(0)
    calibration = rng.uniform(0, 255, (8, 1, 32, 32, 3)).astype(np.float32)

    float_model = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x] for x in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    return {"float32": float_model, "int8": converter.convert()}


@pytest.fixture(params=["float32", "int8"])
def model(request, models) -> bytes:
    return models[request.param]


@pytest.fixture
def spec() -> metadata.ModelMetadataSpec:
    return metadata.ModelMetadataSpec(
        name="tiny",
        labels=LABELS,
        description="A tiny test classifier.",
        version="2.1",
        author="mobilekit tests",
        license="Apache-2.0",
        mean=[1.5, 1.5, 1.5],  # not the defaults, so each value is seen to travel
        std=[0.5, 0.5, 0.5],  # (equal per channel: MediaPipe refuses others, see below)
        input_min=[1.0, 2.0, 3.0],
        input_max=[250.0, 251.0, 252.0],
    )


def _zip_start(data: bytes) -> int:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return min(info.header_offset for info in zf.infolist())


def _run(model_bytes: bytes, image: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.set_tensor(inp["index"], image.astype(inp["dtype"]))
    interpreter.invoke()
    return interpreter.get_tensor(out["index"]).copy()


# --- round trip ---------------------------------------------------------------------------------


def test_round_trip_gives_back_every_field(model, spec):
    data = metadata.attach(model, spec)
    assert metadata.read_spec(data) == spec

    tree = metadata.read(data)["metadata"]
    assert {k: tree[k] for k in ("name", "description", "version", "author", "license")} == {
        "name": "tiny",
        "description": "A tiny test classifier.",
        "version": "2.1",
        "author": "mobilekit tests",
        "license": "Apache-2.0",
    }
    assert tree["min_parser_version"] == "1.0.0"
    (sub,) = tree["subgraph_metadata"]
    (image,) = sub["input_tensor_metadata"]
    (scores,) = sub["output_tensor_metadata"]
    assert image["name"] == "image"
    assert image["content"] == {
        "content_properties_type": "ImageProperties",
        "content_properties": {"color_space": "RGB", "default_size": {"width": 32, "height": 32}},
    }
    assert image["process_units"] == [
        {
            "options_type": "NormalizationOptions",
            "options": {"mean": [1.5, 1.5, 1.5], "std": [0.5, 0.5, 0.5]},
        }
    ]
    assert image["stats"] == {"max": [250.0, 251.0, 252.0], "min": [1.0, 2.0, 3.0]}
    assert scores["name"] == "probability"
    assert scores["description"] == "Probabilities of the 10 labels respectively."
    assert scores["content"]["content_properties_type"] == "FeatureProperties"
    assert scores["associated_files"] == [
        {
            "name": "labels.txt",
            "description": "Labels for categories that the model can recognize.",
            "type": "TENSOR_AXIS_LABELS",
        }
    ]


def test_defaults_describe_raw_pixels(models):
    data = metadata.attach(models["float32"], metadata.ModelMetadataSpec(name="raw", labels=LABELS))
    read = metadata.read_spec(data)
    assert (read.mean, read.std) == ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert (read.input_min, read.input_max) == ((0.0,) * 3, (255.0,) * 3)
    tree = metadata.read(data)["metadata"]
    assert "author" not in tree and "license" not in tree  # empty strings are left out


def test_read_is_json_ready(model, spec):
    report = metadata.read(metadata.attach(model, spec))
    assert json.loads(json.dumps(report)) == report
    assert report["associated_files"] == [
        {"name": "labels.txt", "size": len(metadata.labels_text(LABELS)), "compressed": False}
    ]


def test_labels_and_associated_files(model, spec):
    data = metadata.attach(model, spec)
    assert metadata.labels(data) == list(LABELS)
    assert metadata.associated_files(data) == {"labels.txt": "\n".join(LABELS).encode() + b"\n"}


# --- file layout --------------------------------------------------------------------------------


def test_zip_is_stored_uncompressed_after_the_flatbuffer(model, spec):
    data = metadata.attach(model, spec)
    start = _zip_start(data)
    flat = data[:start]
    # What precedes the ZIP is the model flatbuffer, metadata included, and nothing else.
    assert tflite_file.summarize(flat).metadata_names.count(metadata.METADATA_NAME) == 1
    assert tflite_file.write(tflite_file.read(flat)) == flat
    # The ZIP runs to the end of the file; its offsets count from the file's start.
    assert data[start : start + 4] == b"PK\x03\x04"
    assert data[-22:-18] == EOCD and data.count(EOCD) == 1
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == ["labels.txt"]
        assert all(i.compress_type == zipfile.ZIP_STORED for i in infos)
        # Stored means the bytes lie in the file as they are: readers map them in place.
        assert metadata.labels_text(LABELS) in data[start:]


def test_attach_is_deterministic(model, spec):
    assert metadata.attach(model, spec) == metadata.attach(model, spec)


def test_attaching_again_replaces_metadata_and_zip(model, spec):
    other = dataclasses.replace(spec, name="renamed", labels=tuple(f"class {i}" for i in range(10)))
    twice = metadata.attach(metadata.attach(model, spec), other)
    assert twice == metadata.attach(model, other)
    assert tflite_file.summarize(twice).metadata_names.count(metadata.METADATA_NAME) == 1
    assert twice.count(EOCD) == 1 and twice.count(b"PK\x03\x04") == 1
    assert metadata.labels(twice) == list(other.labels)
    assert metadata.read_spec(twice) == other


def test_interpreter_outputs_are_identical(model, spec):
    image = np.random.default_rng(1).integers(0, 256, (1, 32, 32, 3))
    np.testing.assert_array_equal(_run(metadata.attach(model, spec), image), _run(model, image))


def test_other_model_metadata_entries_are_kept(model, spec):
    before = set(tflite_file.summarize(model).metadata_names)
    after = tflite_file.summarize(metadata.attach(model, spec)).metadata_names
    assert set(after) == before | {metadata.METADATA_NAME}


# --- no metadata, broken metadata ---------------------------------------------------------------


def test_model_without_metadata(model):
    assert metadata.read(model) is None
    assert metadata.labels(model) is None
    assert metadata.associated_files(model) == {}
    assert metadata.read_spec(model) is None


def test_metadata_whose_labels_file_is_missing(model, spec):
    data = metadata.attach(model, spec)
    stripped = data[: _zip_start(data)]
    assert metadata.associated_files(stripped) == {}
    with pytest.raises(UserError, match="labels.txt"):
        metadata.labels(stripped)


def test_not_a_tflite_file(spec):
    with pytest.raises(UserError, match="TFL3"):
        metadata.attach(b"definitely not a model", spec)
    with pytest.raises(UserError, match="TFL3"):
        metadata.read(b"definitely not a model")


def test_wrong_metadata_identifier_is_a_user_error():
    with pytest.raises(UserError, match="M001"):
        metadata.decode(b"\x08\x00\x00\x00XXXX\x00\x00\x00\x00")


# --- validation ---------------------------------------------------------------------------------


def test_label_count_must_match_output_classes(model, spec):
    with pytest.raises(UserError) as err:
        metadata.attach(model, dataclasses.replace(spec, labels=LABELS[:9]))
    assert "9 label(s)" in str(err.value) and "10 classes" in str(err.value)


@pytest.mark.parametrize(
    "labels, match",
    [
        ((), "empty"),
        (("cat", ""), "#1"),
        (("cat", "   "), "#1"),
        (("cat", "two\nlines"), "#1"),
        (("cat", "cr\r"), "#1"),
        (("cat", 3), "#1"),
        ("cat,dog", "list of class names"),
    ],
)
def test_bad_labels(labels, match):
    with pytest.raises(UserError, match=match):
        metadata.ModelMetadataSpec(name="m", labels=labels)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"name": " "}, "name is empty"),
        ({"mean": [0, 0]}, "mean has 2"),
        ({"std": [1, 0, 1]}, "divide by zero"),
        ({"mean": [0, 0, float("nan")]}, "finite"),
        ({"input_min": [0], "input_max": [255, 255]}, "input_min has 1"),
        ({"input_min": [10], "input_max": [5]}, "exceeds"),
        ({"color_space": "BGR"}, "color_space"),
        ({"labels_file": "dir/labels.txt"}, "plain file name"),
        ({"version": 2}, "must be a string"),
    ],
)
def test_bad_spec_fields(changes, match):
    with pytest.raises(UserError, match=match):
        metadata.ModelMetadataSpec(**{"name": "m", "labels": LABELS, **changes})


def test_per_channel_values_must_fit_the_input(models, spec):
    two = dataclasses.replace(spec, mean=[0, 0], std=[1, 1])
    with pytest.raises(UserError, match="3 channel"):
        metadata.attach(models["float32"], two)
    with pytest.raises(UserError, match="GRAYSCALE"):
        metadata.attach(models["float32"], dataclasses.replace(spec, color_space="GRAYSCALE"))


def test_single_value_normalization_is_allowed(models, spec):
    one = dataclasses.replace(spec, mean=[127.5], std=[127.5], input_min=[0], input_max=[255])
    assert metadata.read_spec(metadata.attach(models["float32"], one)) == one


def test_per_channel_normalization_round_trips_and_warns_for_float_input(models, spec):
    imagenet = dataclasses.replace(spec, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])
    with pytest.warns(UserWarning, match="Per-channel image normalization"):
        data = metadata.attach(models["float32"], imagenet)
    assert metadata.read_spec(data) == imagenet  # float32 values read back as written
    assert any("per-channel" in p for p in metadata.reader_problems(data))
    # A uint8 input is fed raw by the readers, so its normalization values do not matter.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = metadata.attach(models["int8"], imagenet)
    assert metadata.reader_problems(data) == []


# --- what MediaPipe and the Task Library would refuse -------------------------------------------


def test_our_files_have_no_reader_problems(model, spec):
    assert metadata.reader_problems(metadata.attach(model, spec)) == []


def test_reader_problems_of_files_without_metadata(models):
    float_problems = metadata.reader_problems(models["float32"])
    assert any("NormalizationOptions" in p for p in float_problems)
    assert any("no TFLite Metadata" in p for p in float_problems)
    assert len(metadata.reader_problems(models["int8"])) == 1  # loads, but without names


def test_reader_problems_of_a_missing_labels_file(model, spec):
    data = metadata.attach(model, spec)
    (problem,) = metadata.reader_problems(data[: _zip_start(data)])
    assert "labels.txt" in problem


# --- encoder / decoder over the whole schema ----------------------------------------------------


def _full_tree() -> dict:
    files = [{"name": "vocab.txt", "type": "VOCABULARY", "locale": "en"}]
    return {
        "name": "everything",
        "subgraph_metadata": [
            {
                "name": "main",
                "input_tensor_metadata": [
                    {
                        "name": "boxes",
                        "dimension_names": ["batch", "box", "coord"],
                        "content": {
                            "content_properties_type": "BoundingBoxProperties",
                            "content_properties": {
                                "index": [1, 0, 3, 2],
                                "type": "CENTER",
                                "coordinate_type": "PIXEL",
                            },
                            "range": {"min": 2, "max": 2},
                        },
                        "process_units": [
                            {
                                "options_type": "ScoreCalibrationOptions",
                                "options": {"score_transformation": "LOG", "default_score": 0.25},
                            },
                            {
                                "options_type": "ScoreThresholdingOptions",
                                "options": {"global_score_threshold": 0.0},  # a default, still kept
                            },
                        ],
                        "associated_files": files,
                    }
                ],
                "output_tensor_metadata": [
                    {
                        "name": "audio",
                        "content": {
                            "content_properties_type": "AudioProperties",
                            "content_properties": {"sample_rate": 16000, "channels": 1},
                        },
                    }
                ],
                "input_process_units": [
                    {
                        "options_type": "RegexTokenizerOptions",
                        "options": {"delim_regex_pattern": r"\W+", "vocab_file": files},
                    }
                ],
                "output_tensor_groups": [{"name": "group", "tensor_names": ["a", "b"]}],
                "custom_metadata": [{"name": "blob", "data": [0, 1, 2, 255]}],
            }
        ],
        "associated_files": [{"name": "readme.txt", "type": "DESCRIPTIONS", "version": "3"}],
        "min_parser_version": "1.5.0",
    }


def test_encode_decode_round_trip_over_the_schema():
    tree = _full_tree()
    data = metadata.encode(tree)
    assert data[4:8] == metadata.FILE_IDENTIFIER
    assert metadata.decode(data) == tree


def test_encode_rejects_unknown_fields():
    with pytest.raises(ValueError, match="no field"):
        metadata.encode({"name": "m", "nmae": "typo"})
    with pytest.raises(ValueError, match="not a member"):
        metadata.encode({"name": "m", "associated_files": [{"name": "x", "type": "LABELS"}]})


@pytest.mark.parametrize(
    "edit, version",
    [
        (lambda t: t, "1.0.0"),
        (lambda t: t["associated_files"].append({"name": "v", "type": "VOCABULARY"}), "1.0.1"),
        (lambda t: t["subgraph_metadata"][0].update(input_process_units=[]), "1.1.0"),
        (lambda t: t["subgraph_metadata"][0].update(input_tensor_groups=[]), "1.2.0"),
        (
            lambda t: t["associated_files"].append({"name": "s", "type": "SCANN_INDEX_FILE"}),
            "1.4.0",
        ),
        (lambda t: t["associated_files"].append({"name": "f", "version": "1"}), "1.4.1"),
        (lambda t: t["subgraph_metadata"][0].update(custom_metadata=[]), "1.5.0"),
    ],
)
def test_min_parser_version_follows_the_fields_used(edit, version):
    tree = {"name": "m", "subgraph_metadata": [{}], "associated_files": []}
    edit(tree)
    assert metadata.min_parser_version(tree) == version
    assert metadata.min_parser_version(_full_tree()) == "1.5.0"


# --- the real readers (optional: they live in venvs of their own) -------------------------------


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("MOBILEKIT_MEDIAPIPE_PYTHON"),
    reason="set MOBILEKIT_MEDIAPIPE_PYTHON to a mediapipe python (scripts/setup_mediapipe_venv.sh)",
)
def test_mediapipe_reads_our_metadata(models, spec, tmp_path):
    from PIL import Image

    image = tmp_path / "noise.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(image)
    script = Path(__file__).resolve().parents[1] / "scripts" / "verify_mediapipe.py"
    for kind, model_bytes in models.items():
        path = tmp_path / f"{kind}.tflite"
        path.write_bytes(metadata.attach(model_bytes, spec))
        out = tmp_path / f"{kind}.json"
        proc = subprocess.run(
            [os.environ["MOBILEKIT_MEDIAPIPE_PYTHON"], str(script), str(path), str(image),
             "--top", "10", "--json", str(out)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout + proc.stderr
        (result,) = json.loads(out.read_text())["results"]
        assert sorted(c["name"] for c in result["categories"]) == sorted(LABELS)

    # The rule `reader_problems` warns about is MediaPipe's: per-channel float normalization.
    path = tmp_path / "per_channel.tflite"
    with pytest.warns(UserWarning):
        path.write_bytes(metadata.attach(models["float32"], dataclasses.replace(spec, mean=[1, 2, 3])))
    proc = subprocess.run(
        [os.environ["MOBILEKIT_MEDIAPIPE_PYTHON"], str(script), str(path), str(image)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1 and "Per-channel image normalization" in proc.stderr
