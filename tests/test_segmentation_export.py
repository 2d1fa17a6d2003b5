"""Segmentation models to .tflite: `mobilekit convert` writes segmenter metadata, `mobilekit eval` scores masks."""

import mobilekit  # noqa: F401  (first: selects tf_keras before TensorFlow loads)

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mobilekit import models, train
from mobilekit.cli.main import cli
from mobilekit.data import datasets, digit_scenes
from mobilekit.export import metadata, tflite_file
from mobilekit.runtime import segmentation as runtime_segmentation

SETTINGS = ["--alpha", "0.35", "--resolution", "64", "--weights", "none"]


@pytest.fixture(scope="module")
def saved_segmenter(tmp_path_factory):
    """A random-weight LR-ASPP (MobileNetV3-Small, alpha 0.35, 64 px) saved as mobilekit saves a run's best."""
    folder = tmp_path_factory.mktemp("segmenter")
    model = train.build_model("lraspp_mobilenet_v3_small", num_classes=11, alpha=0.35, resolution=64, seed=1)
    path = folder / "best.keras"
    train.save_model_atomic(model, path)
    (folder / "labels.txt").write_text("\n".join(digit_scenes.CLASS_NAMES) + "\n")
    return path, model


def _convert(tmp_path, *args):
    output = tmp_path / "out.tflite"
    result = CliRunner().invoke(cli, ["convert", *args, "--calib-steps", "4", "--output", str(output), "--quiet"])
    assert result.exit_code == 0, result.output
    return output.read_bytes(), result.output


def test_convert_names_a_segmenter_and_writes_its_metadata(tmp_path):
    buf, output = _convert(tmp_path, "--model", "lraspp_mobilenet_v3_small", "--int8", *SETTINGS)
    summary = tflite_file.summarize(buf)
    assert summary.inputs[0].dtype == "uint8" and summary.outputs[0].shape == (1, 8, 8, 21)  # the reference's 21
    assert metadata.task_of(buf) == "segmentation"
    assert metadata.labels(buf) == [f"class_{i}" for i in range(21)]
    assert isinstance(metadata.read_spec(buf), metadata.SegmenterMetadataSpec)
    assert metadata.reader_problems(buf) == []
    assert "fully integer  yes" in output


def test_eval_scores_a_float_file_as_keras_scores_its_model(saved_segmenter, scene_folder, tmp_path):
    """The same probabilities, so the same masks. (A random-weight model's near-uniform probabilities tie in
    int8: the int8 file against its float model is the segmentation recipe test's, on a trained one.)"""
    path, model = saved_segmenter
    folder, _ = scene_folder
    buf, _ = _convert(tmp_path, "--model", str(path), "--labels", str(path.parent / "labels.txt"))
    file = tmp_path / "seg.tflite"
    file.write_bytes(buf)
    result = CliRunner().invoke(cli, ["eval", str(file), "--data", str(folder), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    assert scores["task"] == "segmentation" and scores["count"] == 4 and scores["output_size"] == [8, 8]
    keras_scores = train.evaluate(model, datasets.load(folder, resolution=64, task="segmentation").test)
    assert scores["miou"] == pytest.approx(keras_scores["miou"], abs=1e-6)
    assert scores["iou"]["background"] == pytest.approx(keras_scores["iou"][0], abs=1e-6)
    assert scores["pixels"] == keras_scores["pixels"] == 4 * 64 * 64
    text = CliRunner().invoke(cli, ["eval", str(file), "--data", str(folder)]).output
    assert (
        "mean IoU" in text
        and "IoU per class  background" in text
        and "at 8x8, resized to the masks as MediaPipe does" in text
    )


def test_eval_refuses_classification_data_for_a_segmenter(saved_segmenter, tmp_path):
    path, _ = saved_segmenter
    buf, _ = _convert(tmp_path, "--model", str(path))
    file = tmp_path / "seg.tflite"
    file.write_bytes(buf)
    result = CliRunner().invoke(cli, ["eval", str(file), "--data", "digits"])
    assert result.exit_code != 0 and "segmentation model" in result.output and "Traceback" not in result.output


def test_category_mask_resizes_bilinearly_then_takes_the_most_probable_class():
    probabilities = np.zeros((2, 2, 3), np.float32)
    probabilities[0, 0, 1] = probabilities[1, 1, 2] = 1.0
    probabilities[0, 1, 0] = probabilities[1, 0, 0] = 1.0
    mask = runtime_segmentation.category_mask(probabilities, (4, 4))
    assert mask.shape == (4, 4) and mask[0, 0] == 1 and mask[3, 3] == 2 and mask[0, 3] == 0
    np.testing.assert_array_equal(runtime_segmentation.category_mask(probabilities, (2, 2)), [[1, 0], [0, 2]])


def test_models_build_default_classes_for_segmenters():
    assert models.info("lraspp_mobilenet_v3_small").reference_counts.num_classes == 21
