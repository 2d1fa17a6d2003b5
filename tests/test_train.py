"""Training on real bundled data, resuming, fine-tuning a frozen backbone, and evaluating the .tflite.

The main run is `mobilekit train` itself: MobileNetV3-Small (alpha 0.35) at 32 px on
scikit-learn's digits, 2 epochs, then resumed to 3 (about a minute on two CPU cores; the tests
that share it are marked slow).
"""

import dataclasses
import json
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from mobilekit import UserError, data, train
from mobilekit.cli.main import cli

MODEL_ARGS = [
    "--model",
    "mobilenet_v3_small",
    "--alpha",
    "0.35",
    "--resolution",
    "32",
    "--data",
    "digits",
    "--weights",
    "none",
    "--batch-size",
    "32",
]
STEPS_PER_EPOCH = 44  # 1,439 training digits in full batches of 32 (the partial one is left out)


def run_cli(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def digits32():
    return data.load("digits", resolution=32, batch_size=32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """`mobilekit train` for 2 epochs, then the same command with --epochs 3 (a resume)."""
    folder = tmp_path_factory.mktemp("runs") / "digits"
    first = run_cli("train", *MODEL_ARGS, "--epochs", 2, "--output", folder)
    assert first.exit_code == 0, first.output
    after_two = json.loads((folder / train.HISTORY_FILE).read_text())
    resumed = run_cli("train", *MODEL_ARGS, "--epochs", 3, "--output", folder)
    assert resumed.exit_code == 0, resumed.output
    return folder, first.output, after_two, resumed.output


@pytest.mark.slow
def test_train_writes_checkpoint_history_and_labels(trained):
    folder, output, after_two, _ = trained
    assert (folder / "best.keras").is_file() and (folder / "resume").is_dir()
    assert (folder / "labels.txt").read_text() == "".join(f"{d}\n" for d in range(10))
    assert [entry["epoch"] for entry in after_two["epochs"]] == [1, 2]
    assert after_two["monitor"] == "val_accuracy"
    config = json.loads((folder / train.CONFIG_FILE).read_text())
    assert config["model"] == "mobilenet_v3_small" and config["build"]["alpha"] == 0.35
    assert config["class_names"] == [str(d) for d in range(10)]
    assert "best           epoch" in output and "test           top-1" in output
    assert "mobilekit convert --model mobilenet_v3_small --weights" in output


@pytest.mark.slow
def test_training_learns_the_digits(trained):
    folder, *_ = trained
    history = json.loads((folder / train.HISTORY_FILE).read_text())
    losses = [entry["loss"] for entry in history["epochs"]]
    assert losses[2] < losses[1] < losses[0]
    assert history["best"]["val_accuracy"] > 0.5  # chance is 0.1; ~0.9 after 3 epochs here
    best = max(history["epochs"], key=lambda entry: entry["val_accuracy"])
    assert history["best"]["epoch"] == best["epoch"]


@pytest.mark.slow
def test_rerunning_resumes_instead_of_starting_over(trained):
    import tensorflow as tf

    folder, _, after_two, output = trained
    history = json.loads((folder / train.HISTORY_FILE).read_text())
    assert [entry["epoch"] for entry in history["epochs"]] == [1, 2, 3]
    assert history["epochs"][:2] == after_two["epochs"]  # appended, not rewritten
    assert "resuming" in output and "Epoch 3/3" in output
    # The optimizer state came back too: its step count went on from epoch 2's.
    checkpoint = tf.train.latest_checkpoint(str(folder / "resume"))
    assert tf.train.load_variable(checkpoint, "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE") == 3 * STEPS_PER_EPOCH
    assert train.run_state(folder).epochs_done == 3


@pytest.mark.slow
def test_a_finished_run_is_not_trained_again(trained):
    folder, *_ = trained
    before = (folder / train.HISTORY_FILE).read_text()
    result = run_cli("train", *MODEL_ARGS, "--epochs", 3, "--output", folder, "--quiet")
    assert result.exit_code == 0, result.output
    assert (folder / train.HISTORY_FILE).read_text() == before


@pytest.mark.slow
def test_a_different_run_in_the_same_folder_is_refused(trained):
    folder, *_ = trained
    args = [a if a != "0.35" else "0.5" for a in MODEL_ARGS]
    result = CliRunner().invoke(cli, ["train", *args, "--epochs", "4", "--output", str(folder)])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit)
    assert "cannot be resumed" in result.output and "--force" in result.output


@pytest.mark.slow
def test_best_checkpoint_loads_as_keras_model_and_as_zoo_weights(trained, digits32):
    import tf_keras

    from mobilekit import models

    folder, *_ = trained
    loaded = tf_keras.models.load_model(str(folder / "best.keras"), compile=False)
    rebuilt = models.build(
        "mobilenet_v3_small", alpha=0.35, resolution=32, num_classes=10, weights=str(folder / "best.keras")
    )
    images, _ = next(iter(digits32.test))
    assert np.allclose(loaded.predict(images, verbose=0), rebuilt.predict(images, verbose=0), atol=1e-6)


def _convert(model, mode, labels):
    from mobilekit.export import convert, metadata

    buf = convert.convert(model, mode=mode, show_progress=False)
    return metadata.attach(buf, metadata.ModelMetadataSpec(name=model.name, labels=labels))


@pytest.fixture(scope="module")
def best_model(trained):
    import tf_keras

    folder, *_ = trained
    return tf_keras.models.load_model(str(folder / "best.keras"), compile=False)


@pytest.mark.slow
def test_eval_of_the_float_file_equals_the_keras_model(best_model, digits32):
    from mobilekit.runtime import evaluate

    keras_result = train.evaluate(best_model, digits32.test)
    buf = _convert(best_model, "float32", [str(d) for d in range(10)])
    result = evaluate.accuracy(buf, "digits", show_progress=False)
    assert result.count == keras_result["count"] == 179
    assert result.top1 == keras_result["top1"] and result.top5 == keras_result["top5"]
    assert result.top1 > 0.5 and result.input_dtype == "float32" and result.labels == "metadata"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*(MediaPipe|Task Library)")
@pytest.mark.parametrize("io", ["uint8", "int8"])
def test_eval_of_an_int8_file_is_close_to_keras(best_model, digits32, tmp_path, io):
    keras_result = train.evaluate(best_model, digits32.test)
    calibration = [images.numpy() for images, _ in digits32.validation]
    from mobilekit.export import convert, metadata

    buf = convert.convert(best_model, mode="int8", io=io, calibration=calibration, show_progress=False)
    buf = metadata.attach(buf, metadata.ModelMetadataSpec(name="digits", labels=[str(d) for d in range(10)]))
    (tmp_path / "digits_int8.tflite").write_bytes(buf)
    result = run_cli("eval", tmp_path / "digits_int8.tflite", "--data", "digits", "--json", "--quiet")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output[result.output.index("{") :])
    assert document["input_dtype"] == io and document["count"] == 179
    assert abs(document["top1"] - keras_result["top1"]) <= 0.05


@pytest.mark.slow
def test_eval_applies_the_metadata_normalization(best_model, digits32):
    """A float file that takes (pixel - 127.5) / 127.5 says so in its metadata; eval normalizes for it."""
    import tf_keras

    from mobilekit.export import convert, metadata
    from mobilekit.runtime import evaluate

    inputs = tf_keras.Input((32, 32, 3))
    pixels = tf_keras.layers.Rescaling(127.5, offset=127.5)(inputs)
    wrapped = tf_keras.Model(inputs, best_model(pixels), name="normalized")
    buf = convert.convert(wrapped, mode="float32", show_progress=False)
    buf = metadata.attach(
        buf,
        metadata.ModelMetadataSpec(
            name="normalized",
            labels=[str(d) for d in range(10)],
            mean=[127.5],
            std=[127.5],
            input_min=[-1.0],
            input_max=[1.0],
        ),
    )
    result = evaluate.accuracy(buf, "digits", show_progress=False)
    assert result.mean == (127.5,) and result.std == (127.5,)
    assert result.top1 == train.evaluate(best_model, digits32.test)["top1"]


def test_labels_are_matched_by_name_or_refused():
    from mobilekit.runtime.evaluate import match_labels

    assert match_labels(["b", "c", "a"], ["a", "b", "c"], 3).tolist() == [2, 0, 1]
    assert match_labels(["x", "a", "y", "b"], ["a", "b"], 4).tolist() == [1, 3]  # the file may know more
    with pytest.raises(UserError, match=r"10 of the data's 10 classes \('0', '1'.*'class_0'.*--labels"):
        match_labels([f"class_{i}" for i in range(10)], [str(d) for d in range(10)], 10)
    with pytest.warns(UserWarning, match="no labels"):
        assert match_labels(None, ["a", "b"], 2).tolist() == [0, 1]
    with pytest.raises(UserError, match="no labels in its metadata and 3 outputs"):
        match_labels(None, ["a", "b"], 3)


# ---------------------------------------------------------------------------
# Library: fine-tuning with a frozen backbone, errors, start over
# ---------------------------------------------------------------------------


def test_classifier_layers_split_every_family_at_its_top():
    from mobilekit import models

    for name in ("mobilenet_v3_small", "vgg11", "resnet18"):
        model = models.build(name, resolution=32, num_classes=3)
        head = train.classifier_layers(model)
        backbone = models.build(name, resolution=32, include_top=False)
        assert len(model.layers) - len(head) == len(backbone.layers)


@pytest.mark.slow
def test_freeze_base_trains_the_head_on_a_loaded_backbone(tmp_path, digits32):
    from mobilekit import models

    # A backbone-only weights file (as keras' *_notop ImageNet files are) goes into the backbone.
    backbone = models.build("mobilenet_v1", alpha=0.25, resolution=32, include_top=False)
    backbone.save_weights(str(tmp_path / "backbone.weights.h5"))
    model = train.build_model(
        "mobilenet_v1", num_classes=10, alpha=0.25, resolution=32, weights=str(tmp_path / "backbone.weights.h5")
    )
    for theirs, ours in zip(backbone.weights, model.weights):
        assert np.array_equal(theirs.numpy(), ours.numpy())
    backbone_count = len(backbone.layers)
    before = [w.numpy() for w in model.weights]
    history = train.fit(model, digits32, epochs=1, output_dir=tmp_path / "frozen", freeze_base=True, verbose=0)
    assert len(history["epochs"]) == 1
    after = [w.numpy() for w in model.weights]
    frozen = {id(w) for layer in model.layers[:backbone_count] for w in layer.weights}
    for weight, old, new in zip(model.weights, before, after):
        if id(weight) in frozen:
            assert np.array_equal(old, new), weight.name  # BN statistics included
    assert any(not np.array_equal(old, new) for old, new in zip(before, after))  # the head learned
    assert json.loads((tmp_path / "frozen" / train.CONFIG_FILE).read_text())["training"]["freeze_base"] is True


def test_fit_checks_model_against_data(tiny_classifier, digits32, tmp_path):
    with pytest.raises(UserError, match="has 10 outputs but the data has 2 classes"):
        two = dataclasses.replace(digits32, class_names=("a", "b"))
        train.fit(tiny_classifier, two, epochs=1, output_dir=tmp_path / "x", verbose=0)
    with pytest.raises(UserError, match="takes 32x32 images but the data was loaded at 16x16"):
        train.fit(tiny_classifier, data.load("digits", resolution=16), epochs=1, output_dir=tmp_path / "x", verbose=0)
    with pytest.raises(UserError, match="no layer named avg_pool or flatten"):
        train.fit(tiny_classifier, digits32, epochs=1, output_dir=tmp_path / "x", freeze_base=True, verbose=0)
    with pytest.raises(UserError, match="unknown optimizer"):
        train.fit(tiny_classifier, digits32, epochs=1, output_dir=tmp_path / "x", optimizer="lion", verbose=0)
    assert not (tmp_path / "x").exists()  # refused before anything was written


def test_force_starts_over_and_no_validation_warns(tiny_classifier, tmp_path):
    import tf_keras

    model = tf_keras.models.clone_model(tiny_classifier)
    no_validation = data.load("digits", resolution=32, validation_split=0.0, batch_size=128)
    folder = tmp_path / "run"
    with pytest.warns(UserWarning, match="no validation split"):
        train.fit(model, no_validation, epochs=1, output_dir=folder, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = train.fit(model, no_validation, epochs=1, output_dir=folder, force=True, verbose=0)
    assert [entry["epoch"] for entry in history["epochs"]] == [1]
    assert history["monitor"] == "accuracy" and (folder / "best.keras").is_file()


def test_output_folder_errors(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="is a file"):
        train.check_output(tmp_path / "file")
    with pytest.raises(UserError, match="does not exist"):
        train.check_output(tmp_path / "no" / "run")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "history.json").write_text("{}")
    with pytest.raises(UserError, match="not a run this can resume"):
        train.check_output(tmp_path / "foreign")
    assert train.check_output(tmp_path / "foreign", force=True) == tmp_path / "foreign"


def test_top_k_accuracy():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])
    labels = np.array([1, 1, 0])
    assert train.top_k_accuracy(scores, labels, 1) == pytest.approx(1 / 3)
    assert train.top_k_accuracy(scores, labels, 2) == pytest.approx(2 / 3)
    assert train.top_k_accuracy(scores, labels, 5) == 1.0  # k capped at the class count


def test_cosine_schedule_and_the_best_file_options(tiny_classifier, digits32, tmp_path):
    import tf_keras

    assert train.learning_rate_at(0, base=0.01, epochs=4, schedule="cosine") == 0.01
    assert train.learning_rate_at(2, base=0.01, epochs=4, schedule="cosine") == pytest.approx(0.005)
    assert train.learning_rate_at(3, base=0.01, epochs=4, schedule="constant") == 0.01
    model = tf_keras.models.clone_model(tiny_classifier)
    seen = []

    class Spy(tf_keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(epoch)

    history = train.fit(
        model,
        digits32,
        epochs=3,
        output_dir=tmp_path / "run",
        learning_rate=0.01,
        schedule="cosine",
        verbose=0,
        callbacks=[Spy()],
        best_file="best.h5",
        best_after_epoch=2,
    )
    rates = [entry["learning_rate"] for entry in history["epochs"]]
    assert rates == pytest.approx([0.01, 0.0075, 0.0025])
    assert seen == [0, 1, 2]  # extra callbacks run
    assert history["best"]["epoch"] == 3 and history["best"]["file"] == "best.h5"  # epochs 1-2 not candidates
    assert (
        tf_keras.models.load_model(str(tmp_path / "run" / "best.h5"), compile=False).count_params()
        == model.count_params()
    )
    with pytest.raises(UserError, match="unknown learning-rate schedule"):
        train.fit(model, digits32, epochs=1, output_dir=tmp_path / "other", schedule="step")
