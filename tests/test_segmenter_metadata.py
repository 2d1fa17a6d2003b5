"""export.metadata for image segmenters: what MediaPipe's ImageSegmenter reads, written and read back."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from flatbuffers import number_types
from flatbuffers.table import Table

from mobilekit.errors import UserError
from mobilekit.export import metadata, tflite_file
from mobilekit.export.metadata import segmenter

LABELS = ("background", "sky", "road", "person", "car", "tree", "building", "grass", "water", "sign", "bike")
RESOLUTION = 32


@pytest.fixture(scope="module")
def model() -> bytes:
    """A 32 px LR-ASPP on MobileNetV3-Small (alpha 0.35, 11 classes): int8 with uint8 I/O, no metadata.

    Random weights give a near-uniform softmax; larger classifier weights make the mask vary
    from pixel to pixel, so that a comparison of masks means something."""
    import tf_keras

    from mobilekit.export import convert
    from mobilekit.models import efficient, segmentation

    tf_keras.utils.set_random_seed(0)
    net = segmentation.build_lraspp(
        efficient.MOBILENET_V3_SMALL, name="lraspp_small", alpha=0.35, resolution=RESOLUTION, num_classes=len(LABELS)
    )
    rng = np.random.default_rng(0)
    layer = net.get_layer("lraspp_low_classifier")
    kernel, bias = layer.get_weights()
    layer.set_weights([rng.normal(0, 300, kernel.shape).astype(np.float32), bias])
    calibration = rng.uniform(0, 255, (8, RESOLUTION, RESOLUTION, 3)).astype(np.float32)
    return convert.convert(net, mode="int8", calibration=[calibration], io="uint8", show_progress=False)


@pytest.fixture
def spec() -> metadata.SegmenterMetadataSpec:
    return metadata.SegmenterMetadataSpec(
        name="lraspp_small",
        labels=LABELS,
        description="A tiny test segmenter.",
        version="3",
        author="mobilekit tests",
        license="Apache-2.0",
        mean=[0.5],
        std=[2.0],
        input_max=[254.0, 254.0, 254.0],
    )


def _run(model_bytes: bytes, image: np.ndarray) -> np.ndarray:
    """The model's output on one uint8 image, as real values (dequantized)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model_bytes)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.set_tensor(inp["index"], image[None].astype(inp["dtype"]))
    interpreter.invoke()
    scale, zero_point = out["quantization"]
    return (interpreter.get_tensor(out["index"])[0].astype(np.float32) - zero_point) * scale


def _with_tree(model_bytes: bytes, tree: dict, files: dict[str, bytes]) -> bytes:
    """`model_bytes` with this metadata tree and these packed files instead of its own."""
    graph = tflite_file.read(model_bytes)
    tflite_file.set_metadata_buffer(graph, metadata.METADATA_NAME, metadata.encode(tree))
    flat = tflite_file.write(graph)
    out = io.BytesIO()
    out.write(b"\0" * len(flat))
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return flat + out.getvalue()[len(flat) :]


# --- round trip and layout ----------------------------------------------------------------------


def test_round_trip_gives_back_every_field(model, spec):
    data = metadata.attach(model, spec)
    assert metadata.read_spec(data) == spec
    assert isinstance(metadata.read_spec(data), metadata.SegmenterMetadataSpec)
    assert metadata.task_of(data) == "segmentation"
    assert metadata.reader_problems(data) == []
    assert metadata.labels(data) == list(LABELS)
    assert metadata.associated_files(data) == {"labels.txt": metadata.labels_text(LABELS)}


def test_metadata_layout_is_mediapipes(model, spec):
    tree = metadata.read(metadata.attach(model, spec))["metadata"]
    assert tree["min_parser_version"] == "1.5.0"  # custom_metadata is a 1.5.0 field
    (sub,) = tree["subgraph_metadata"]
    (image,) = sub["input_tensor_metadata"]
    assert image["content"]["content_properties"] == {
        "color_space": "RGB",
        "default_size": {"width": RESOLUTION, "height": RESOLUTION},
    }
    assert image["process_units"][0]["options"] == {"mean": [0.5], "std": [2.0]}
    (mask,) = sub["output_tensor_metadata"]
    assert mask["name"] == "segmentation_masks"
    assert mask["description"] == "Probabilities of the 11 labels at every pixel."
    assert mask["content"] == {
        "content_properties_type": "ImageProperties",
        "content_properties": {"color_space": "GRAYSCALE"},
        "range": {"min": 1, "max": 2},
    }
    assert mask["associated_files"] == [
        {
            "name": "labels.txt",
            "description": "Labels for categories that the model can recognize.",
            "type": "TENSOR_AXIS_LABELS",
        }
    ]
    (custom,) = sub["custom_metadata"]
    assert custom["name"] == "SEGMENTER_METADATA"


@pytest.mark.parametrize("activation, value", [("NONE", 0), ("SIGMOID", 1), ("SOFTMAX", 2)])
def test_custom_metadata_holds_the_activation(model, spec, activation, value):
    data = metadata.attach(model, dataclasses.replace(spec, activation=activation))
    (custom,) = metadata.read(data)["metadata"]["subgraph_metadata"][0]["custom_metadata"]
    options = bytearray(custom["data"])
    assert options[4:8] == b"V001"  # image_segmenter_metadata_schema.fbs's file_identifier
    # Read slot 0 (activation: byte) and slot 1 (min_parser_version) with the bare flatbuffers
    # runtime, as MediaPipe's generated GetImageSegmenterOptions does.
    table = Table(options, number_types.UOffsetTFlags.py_type(int.from_bytes(options[:4], "little")))
    assert table.Get(number_types.Int8Flags, table.Offset(4) + table.Pos) == value
    assert table.String(table.Offset(6) + table.Pos) == b"1.0.0"
    assert segmenter.segmenter_options(metadata.metadata_tree(data)) == {
        "activation": activation,
        "min_parser_version": "1.0.0",
    }
    assert metadata.read_spec(data).activation == activation


def test_interpreter_outputs_are_unchanged(model, spec):
    image = np.random.default_rng(1).integers(0, 256, (RESOLUTION, RESOLUTION, 3), dtype=np.uint8)
    before = _run(model, image)
    assert len(np.unique(before.argmax(-1))) > 1  # the mask varies, so equality says something
    np.testing.assert_array_equal(_run(metadata.attach(model, spec), image), before)


def test_a_classifier_file_still_reads_as_a_classifier(tiny_int8_file, model):
    data = tiny_int8_file.read_bytes()
    assert metadata.task_of(data) == "classification"
    assert type(metadata.read_spec(data)) is metadata.ModelMetadataSpec
    assert metadata.reader_problems(data) == []
    assert metadata.task_of(model) == "segmentation"  # no metadata: the [1, h, w, C] output says so
    assert metadata.read_spec(model) is None


# --- errors -------------------------------------------------------------------------------------


def test_label_count_must_match_the_channels(model, spec):
    with pytest.raises(UserError, match="Pass exactly 11 labels"):
        metadata.attach(model, dataclasses.replace(spec, labels=LABELS[:-1]))


def test_a_classifier_model_is_refused(tiny_int8_file, spec):
    classifier = tiny_int8_file.read_bytes()
    with pytest.raises(UserError, match="ModelMetadataSpec"):
        metadata.attach(classifier, dataclasses.replace(spec, labels=[str(d) for d in range(10)]))


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"activation": "RELU"}, "activation 'RELU'"),
        ({"labels": ()}, "one label per output channel"),
        ({"labels": "sky,road"}, "list of class names"),
        ({"labels": ("sky", "")}, "#1"),
        ({"labels_file": "a/labels.txt"}, "plain file name"),
        ({"output_name": " "}, "output_name is empty"),
        ({"std": [0]}, "divide by zero"),
    ],
)
def test_bad_spec_fields(spec, changes, match):
    with pytest.raises(UserError, match=match):
        dataclasses.replace(spec, **changes)


# --- what MediaPipe would refuse ----------------------------------------------------------------


def test_reader_problems_name_what_imagesegmenter_needs(model, spec):
    data = metadata.attach(model, spec)
    tree = metadata.metadata_tree(data)
    files = metadata.associated_files(data)

    fewer = _with_tree(data, tree, {"labels.txt": metadata.labels_text(LABELS[:5])})
    assert any("names 5 classes but the mask" in p for p in metadata.reader_problems(fewer))

    plain = json.loads(json.dumps(tree))
    del plain["subgraph_metadata"][0]["custom_metadata"]
    no_options = _with_tree(data, plain, files)
    assert metadata.task_of(no_options) == "segmentation"  # the [1, h, w, C] output still says so
    assert metadata.read_spec(no_options).activation == "NONE"  # MediaPipe's default
    (problem,) = metadata.reader_problems(no_options)
    assert "SEGMENTER_METADATA" in problem

    unknown = json.loads(json.dumps(tree))
    options = metadata.encode({"activation": 7}, "ImageSegmenterOptions", b"V001")
    unknown["subgraph_metadata"][0]["custom_metadata"][0]["data"] = list(options)
    (problem,) = metadata.reader_problems(_with_tree(data, unknown, files))
    assert "Invalid activation type" in problem

    problems = metadata.reader_problems(model)  # no metadata: judged as a segmenter by its output
    assert any("no TFLite Metadata" in p and "activation NONE" in p for p in problems)


def test_damaged_segmenter_options_give_user_errors(model, spec):
    data = metadata.attach(model, spec)
    options = segmenter.options_bytes("NONE")
    start = data.index(options)
    rng = np.random.default_rng(0)
    for bit in rng.choice(len(options) * 8, 16, replace=False):
        damaged = bytearray(data)
        damaged[start + bit // 8] ^= 1 << (bit % 8)
        for read in (metadata.read_spec, metadata.reader_problems, metadata.task_of):
            try:
                read(bytes(damaged))
            except UserError:
                pass


# --- MediaPipe itself (optional: it lives in a venv of its own) ---------------------------------


def _align_corners_resize(scores: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize with corners aligned: how MediaPipe's CPU category mask samples the scores."""
    h, w, _ = scores.shape
    ys, xs = np.arange(height) * (h - 1) / (height - 1), np.arange(width) * (w - 1) / (width - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    ty, tx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = scores[y0][:, x0] * (1 - tx) + scores[y0][:, x1] * tx
    bottom = scores[y1][:, x0] * (1 - tx) + scores[y1][:, x1] * tx
    return top * (1 - ty) + bottom * ty


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("MOBILEKIT_MEDIAPIPE_PYTHON"),
    reason="set MOBILEKIT_MEDIAPIPE_PYTHON to a mediapipe python (scripts/setup_mediapipe_venv.sh)",
)
def test_mediapipe_segments_with_our_metadata(model, spec, tmp_path):
    from PIL import Image

    pixels = np.random.default_rng(2).integers(0, 256, (RESOLUTION, RESOLUTION, 3), dtype=np.uint8)
    image = tmp_path / "noise.png"
    Image.fromarray(pixels).save(image)
    path = tmp_path / "segmenter.tflite"
    data = metadata.attach(model, dataclasses.replace(spec, mean=[0], std=[1]))
    path.write_bytes(data)
    script = Path(__file__).resolve().parents[1] / "scripts" / "verify_mediapipe.py"
    proc = subprocess.run(
        [os.environ["MOBILEKIT_MEDIAPIPE_PYTHON"], str(script), "--segment", str(path), str(image),
         "--masks", str(tmp_path / "masks")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((tmp_path / "masks" / "summary.json").read_text())
    assert summary["labels"] == list(LABELS)
    (result,) = summary["results"]
    category = np.load(result["masks"])["category_mask"]
    expected = _align_corners_resize(_run(data, pixels), RESOLUTION, RESOLUTION).argmax(-1)
    assert np.mean(category == expected) > 0.99
