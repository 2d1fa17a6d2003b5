"""Segmentation models through a recipe: train, prune, distill (per-pixel KL), QAT, int8 export, mean IoU."""

import mobilekit  # noqa: F401  (first: selects tf_keras before TensorFlow loads)

import json

import numpy as np
import pytest
from click.testing import CliRunner

from mobilekit import UserError, metrics, recipes
from mobilekit.cli.main import cli
from mobilekit.data import datasets
from mobilekit.export import metadata, tflite_file
from mobilekit.optimize import distill

HEAD = """name: scenes
model: {name: lraspp_mobilenet_v3_small, resolution: 64, alpha: 0.35, weights: none}
"""


def test_adapt_is_refused_for_a_segmentation_model():
    with pytest.raises(UserError, match="stage 'adapt' ranks its proposals by top-1"):
        recipes.parse(HEAD + "data: {source: digit_scenes}\nstages:\n  - adapt: {target_latency: 0.6x}\n")


def test_the_soft_loss_is_the_mean_kl_over_pixels():
    rng = np.random.default_rng(0)
    teacher, student = rng.normal(size=(2, 2, 3, 3, 5)).astype("float32")
    loss = float(distill._soft_loss(teacher, student, 2.0))
    t = np.exp(teacher / 2) / np.exp(teacher / 2).sum(-1, keepdims=True)
    s = np.exp(student / 2) / np.exp(student / 2).sum(-1, keepdims=True)
    assert loss == pytest.approx(4 * np.mean(np.sum(t * np.log(t / s), axis=-1)), rel=1e-5)


@pytest.mark.slow
def test_a_segmentation_recipe_prunes_distills_quantizes_and_scores_masks(scene_folder, tmp_path):
    folder, _ = scene_folder
    recipe = tmp_path / "scenes.yaml"
    recipe.write_text(
        HEAD
        + f"data: {{source: {folder}, batch_size: 8}}\n"
        + """stages:
  - train: {epochs: 1, learning_rate: 3e-3}
  - prune: {epochs: 1, target_sparsity: 0.5, ramp_epochs: 1, frequency: 1}
  - distill: {teacher: {model: lraspp_mobilenet_v3_small, alpha: 0.5, epochs: 1}, epochs: 1, learning_rate: 1e-4}
  - qat: {epochs: 1, learning_rate: 1e-4}
  - export: {mode: int8, calibration_steps: 8}
  - evaluate: {split: test}
"""
    )
    output = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", str(recipe), "--output", str(output), "--quiet"])
    assert result.exit_code == 0, result.output
    results = json.loads((output / "results.json").read_text())
    stages = {entry["stage"]: entry["results"] for entry in results["stages"]}
    assert {"val_miou", "best_epoch"} <= set(stages["train"]) and "val_miou" in stages["qat"]
    assert stages["prune"]["sparsity"]["sparsity"] == pytest.approx(0.5, abs=0.05)
    assert "teacher" in stages["distill"] and "miou" in stages["distill"]["teacher"]
    evaluated = stages["evaluate"]
    assert {"float", "qat", "tflite"} <= set(evaluated) and evaluated["tflite"]["count"] == 4
    for key in ("float", "qat", "tflite"):
        assert 0 <= evaluated[key]["miou"] <= 1 and results["summary"][f"{key}_miou"] == evaluated[key]["miou"]
    assert "mean IoU" in result.output or "mIoU" in result.output

    buf = (output / results["stages"][4]["artifact"]).read_bytes()
    assert tflite_file.summarize(buf).fully_integer and metadata.task_of(buf) == "segmentation"
    assert metadata.labels(buf) == list(datasets.load(folder, resolution=64, task="segmentation").class_names)
    # the file's own figures, recomputed from its confusion over the test masks, are what was recorded
    recorded = evaluated["tflite"]
    assert recorded["pixels"] == 4 * 64 * 64 and len(recorded["iou"]) == 11
    present = [v for v in recorded["iou"].values() if v is not None]
    assert recorded["miou"] == pytest.approx(float(np.mean(present)))
    assert metrics.segmentation_scores(np.eye(2) * 3)["miou"] == 1.0
