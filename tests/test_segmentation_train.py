"""Training segmentation models: mask pipelines, the per-pixel loss and metrics, `mobilekit train` on masks."""

import mobilekit  # noqa: F401  (first: selects tf_keras before TensorFlow loads)

import json

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from mobilekit import UserError, metrics, train
from mobilekit.cli.main import cli
from mobilekit.data import datasets, digit_scenes, pipelines
from mobilekit.data.segmentation import IGNORE
from mobilekit.train import objectives

CLASSES = 11


def test_a_scene_folder_loads_as_masks_with_image_by_image_splits(scene_folder):
    folder, scenes = scene_folder
    assert datasets.check(folder) == "segmentation" and datasets.check("digit_scenes") == "segmentation"
    assert datasets.check("mnist5k") == "classification"
    data = datasets.load(folder, resolution=64, batch_size=8, task="segmentation", augment=False, shuffle=False)
    assert data.task == "segmentation" and data.class_names == digit_scenes.CLASS_NAMES
    assert sum(data.counts.values()) == 40 and data.counts["test"] == 4 and data.counts["validation"] == 4
    images, masks = next(iter(data.test))
    assert images.shape == (4, 64, 64, 3) and masks.shape == (4, 64, 64) and masks.dtype == tf.int32
    first = int(data.indices["test"][0])
    np.testing.assert_array_equal(masks[0].numpy(), scenes.masks[first])
    np.testing.assert_allclose(images[0].numpy(), scenes.images[first])


def test_augmentation_crops_and_mirrors_the_mask_with_its_image():
    # Each pixel's class is written into its red channel: an augmented pair must still agree, but near
    # class boundaries (the image is resampled bilinearly, the mask to the nearest pixel).
    rng = np.random.default_rng(0)
    masks = np.kron(rng.integers(0, 5, (6, 8, 8)), np.ones((8, 8), int)).astype(np.uint8)
    images = np.repeat((masks[..., None] * 50).astype(np.uint8), 3, axis=-1)
    batches = pipelines.pipeline(images, masks, resolution=64, batch_size=6, augment=True, mirror=True, seed=1)
    pixels, cropped = next(iter(batches))
    assert cropped.dtype == tf.int32 and cropped.shape == (6, 64, 64)
    assert not np.array_equal(cropped.numpy(), masks)  # something was cropped or mirrored
    agree = np.round(pixels.numpy()[..., 0] / 50) == cropped.numpy()
    assert agree.mean() > 0.9


def test_pixel_cross_entropy_leaves_ignored_pixels_out_and_resizes_to_the_masks():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(3), (2, 4, 4)).astype("float32")
    masks = rng.integers(0, 3, (2, 4, 4))
    masks[0, :2] = IGNORE
    loss = objectives.PixelCrossEntropy(reduction="none")(masks, probabilities).numpy()
    for i in range(2):
        counted = masks[i] != IGNORE
        chosen = np.take_along_axis(probabilities[i], np.where(counted, masks[i], 0)[..., None], -1)[..., 0]
        np.testing.assert_allclose(loss[i], -np.log(chosen[counted]).mean(), rtol=1e-5)
    # a quarter-size prediction is resized to the masks' size first, as MediaPipe does (corners aligned)
    small = probabilities[:, ::2, ::2]
    resized = tf.compat.v1.image.resize_bilinear(small, (4, 4), align_corners=True).numpy()
    np.testing.assert_allclose(resized[:, ::3, ::3], small, rtol=1e-6)  # the corners are the input's pixels
    np.testing.assert_allclose(
        objectives.PixelCrossEntropy()(masks, small).numpy(), objectives.PixelCrossEntropy()(masks, resized).numpy()
    )


def test_the_loss_reads_logits_where_keras_leaves_them():
    """In a traced model the softmax's input is on its output: confidently wrong pixels (p < 1e-7) keep
    their whole cross-entropy, which log(clipped probability) would cap at 16."""
    import tf_keras

    rng = np.random.default_rng(2)
    logits = (rng.normal(size=(2, 4, 4, 3)) * 30).astype("float32")
    masks = rng.integers(0, 3, (2, 4, 4))
    softmax = tf_keras.layers.Softmax()
    traced = tf.function(lambda z: objectives.PixelCrossEntropy(reduction="none")(masks, softmax(z)))
    log_softmax = (
        logits
        - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True))
        - logits.max(-1, keepdims=True)
    )
    expected = -np.take_along_axis(log_softmax, masks[..., None], -1)[..., 0].mean(axis=(1, 2))
    assert expected.max() > 16  # beyond what a clipped probability could give
    np.testing.assert_allclose(traced(logits).numpy(), expected, rtol=1e-5)


def test_keras_metrics_agree_with_the_numpy_scores():
    rng = np.random.default_rng(1)
    probabilities = rng.dirichlet(np.ones(4) * 0.3, (3, 8, 8)).astype("float32")
    masks = np.where(rng.random((3, 8, 8)) < 0.1, IGNORE, rng.integers(0, 3, (3, 8, 8)))  # class 3 never true
    expected = metrics.segmentation_scores(metrics.confusion_matrix(masks, probabilities.argmax(-1), 4))
    miou, accuracy = objectives.MeanIoU(4), objectives.PixelAccuracy(4)
    for metric in (miou, accuracy):
        metric.update_state(masks[:2], probabilities[:2])
        metric.update_state(masks[2:], probabilities[2:])
    assert miou.result().numpy() == pytest.approx(expected["miou"], rel=1e-6)
    assert accuracy.result().numpy() == pytest.approx(expected["pixel_accuracy"], rel=1e-6)
    assert expected["pixels"] == int((masks != IGNORE).sum())


def test_segmentation_scores_by_hand():
    truth = np.array([[0, 0, 1, 1], [2, 2, IGNORE, 0]])
    predicted = np.array([[0, 1, 1, 1], [2, 0, 2, 0]])
    scores = metrics.segmentation_scores(metrics.confusion_matrix(truth, predicted, 4))
    # class 0: hits 2, union 4; class 1: hits 2, union 3; class 2: hits 1, union 2; class 3: absent
    assert scores["iou"] == pytest.approx([0.5, 2 / 3, 0.5, None])
    assert scores["miou"] == pytest.approx((0.5 + 2 / 3 + 0.5) / 3)
    assert scores["pixel_accuracy"] == pytest.approx(5 / 7) and scores["pixels"] == 7


def test_a_model_and_data_of_different_tasks_are_refused(scene_folder):
    folder, _ = scene_folder
    with pytest.raises(UserError, match="segmentation model"):
        datasets.check_task("mnist5k", "classification", "segmentation", "lraspp_mobilenet_v3_small")
    with pytest.raises(UserError, match="classifies whole images"):
        datasets.check_task(folder, "segmentation", "classification", "mobilenet_v3_small")
    data = datasets.load(folder, resolution=64, batch_size=8, task="segmentation")
    classifier = train.build_model("mobilenet_v3_small", num_classes=CLASSES, alpha=0.35, resolution=64)
    with pytest.raises(UserError, match="a class per image but the data"):
        train.fit(classifier, data, epochs=1, output_dir=folder.parent / "refused")


@pytest.mark.slow
def test_train_cli_trains_a_segmenter_on_a_scene_folder(scene_folder, tmp_path):
    folder, _ = scene_folder
    output = tmp_path / "run"
    args = ["train", "--model", "lraspp_mobilenet_v3_small", "--alpha", "0.35", "--resolution", "64"]
    args += ["--data", str(folder), "--weights", "none", "--epochs", "1", "--batch-size", "8", "--output", str(output)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    history = json.loads((output / "history.json").read_text())
    assert history["monitor"] == "val_miou" and len(history["epochs"]) == 1
    assert {"miou", "pixel_accuracy", "val_miou", "val_pixel_accuracy"} <= set(history["epochs"][-1])
    assert "validation mean IoU" in result.output and "pixel accuracy" in result.output
    assert (output / "labels.txt").read_text().splitlines() == list(digit_scenes.CLASS_NAMES)
    model = mobilekit.load_model(output / "best.keras")
    assert model.output_shape == (None, 8, 8, CLASSES)
    refused = CliRunner().invoke(
        cli, [*args[:7], "--data", "mnist5k", "--weights", "none", "--epochs", "1", "--output", str(tmp_path / "x")]
    )
    assert refused.exit_code != 0 and "segmentation model" in refused.output and "Traceback" not in refused.output
