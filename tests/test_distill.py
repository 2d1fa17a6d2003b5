"""Knowledge distillation on scikit-learn's digits at 32 px: the loss, learning from a teacher, QAT and pruning.

A small CNN teacher is trained for 4 epochs (about 97% test accuracy) and a
four-times narrower student is distilled from it without labels (alpha 0);
the tests share both, so the file runs in well under a minute on two cores.
"""

import mobilekit  # noqa: F401  (first: selects tf_keras before TensorFlow loads)

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot
import tf_keras

from mobilekit import UserError, data, models, train
from mobilekit.export import convert, tflite_file
from mobilekit.optimize import distill, qat
from mobilekit.runtime import evaluate
from mobilekit.train import objectives

CLASSES = 10


def _cnn(
    width: int,
    *,
    name: str,
    seed: int = 0,
    resolution: int = 32,
    classes: int = CLASSES,
    activation: str = "softmax",
    l2: float | None = None,
):
    """Raw pixels -> two strided convolutions -> max pool -> Dense: trains on digits in seconds."""
    tf_keras.utils.set_random_seed(seed)
    inputs = tf_keras.Input((resolution, resolution, 3))
    x = tf_keras.layers.Rescaling(1 / 255)(inputs)
    x = tf_keras.layers.Conv2D(width, 3, strides=2, padding="same", activation="relu")(x)
    x = tf_keras.layers.Conv2D(2 * width, 3, strides=2, padding="same", activation="relu")(x)
    x = tf_keras.layers.MaxPooling2D(2)(x)
    x = tf_keras.layers.Flatten()(x)
    regularizer = tf_keras.regularizers.L2(l2) if l2 else None
    outputs = tf_keras.layers.Dense(classes, activation=activation, kernel_regularizer=regularizer)(x)
    return tf_keras.Model(inputs, outputs, name=name)


def _labels_and_images(dataset):
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in dataset))
    return np.concatenate(images), np.concatenate(labels)


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", resolution=32, batch_size=32, augment=False, show_progress=False)


@pytest.fixture(scope="module")
def test_set(digits):
    return _labels_and_images(digits.test)


@pytest.fixture(scope="module")
def teacher(digits):
    model = _cnn(16, name="teacher")
    model.compile(tf_keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(digits.train, epochs=4, verbose=0)
    return model


@pytest.fixture(scope="module")
def distilled(digits, teacher, test_set):
    """A student distilled from the teacher alone (alpha 0: no labels) for 2 epochs, with validation."""
    images, _ = test_set
    teacher_before = [w.copy() for w in teacher.get_weights()]
    student = _cnn(4, name="student", seed=1)
    agreement_before = _agreement(student, teacher, images)
    trainer = distill.Distiller(student, teacher, alpha=0.0, temperature=4.0)
    trainer.compile(tf_keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = trainer.fit(digits.train, validation_data=digits.validation, epochs=2, verbose=0)
    return trainer, history.history, teacher_before, agreement_before


def _agreement(student, teacher, images) -> float:
    return float(np.mean(student.predict(images, verbose=0).argmax(1) == teacher.predict(images, verbose=0).argmax(1)))


# --- the objective --------------------------------------------------------------------


def _log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _expected_parts(student_z, teacher_z, labels, *, temperature):
    """Hinton et al.'s two terms in float64 numpy from logits: hard cross-entropy, T^2 * KL(teacher_T || student_T)."""
    student_z, teacher_z = np.float64(student_z), np.float64(teacher_z)
    hard = -np.mean(_log_softmax(student_z)[np.arange(len(labels)), labels])
    teacher_log, student_log = _log_softmax(teacher_z / temperature), _log_softmax(student_z / temperature)
    soft = temperature**2 * np.mean(np.sum(np.exp(teacher_log) * (teacher_log - student_log), axis=-1))
    return hard, soft


@pytest.mark.parametrize("output", ["softmax", "linear"])
def test_loss_is_the_weighted_sum_of_hard_and_soft_terms(teacher, test_set, output):
    """Probabilities (log taken as logits) or logits, from the student and the teacher alike."""
    images, labels = test_set[0][:32], test_set[1][:32]
    student = _cnn(4, name="student", seed=2, activation=output, l2=1e-2)
    if output == "linear":  # the same teacher without its softmax
        teacher_probabilities = teacher
        teacher = _cnn(16, name="teacher_logits", activation="linear")
        teacher.set_weights(teacher_probabilities.get_weights())
    hard_loss = (
        "sparse_categorical_crossentropy"
        if output == "softmax"
        else tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    trainer = distill.Distiller(student, teacher, alpha=0.3, temperature=2.5)
    trainer.compile(tf_keras.optimizers.SGD(0.01), loss=hard_loss)
    student_z, teacher_z = student(images, training=True).numpy(), teacher.predict(images, verbose=0)
    if output == "softmax":
        student_z, teacher_z = np.log(student_z), np.log(teacher_z)
    regularization = float(tf.add_n(student.losses))
    hard, soft = _expected_parts(student_z, teacher_z, labels, temperature=2.5)

    logs = trainer.train_on_batch(images, labels, return_dict=True)
    assert regularization > 0.01
    np.testing.assert_allclose(logs["hard_loss"], hard, rtol=1e-5)
    np.testing.assert_allclose(logs["distillation_loss"], soft, rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], 0.3 * hard + 0.7 * soft + regularization, rtol=1e-5)


def test_alpha_one_is_plain_training(teacher, digits):
    batches = list(digits.train.take(3))
    plain = _cnn(4, name="plain", seed=3)
    student = tf_keras.models.clone_model(plain)
    student.set_weights(plain.get_weights())
    plain.compile(tf_keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    trainer = distill.Distiller(student, teacher, alpha=1.0)
    trainer.compile(tf_keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    for images, labels in batches:
        ours = trainer.train_on_batch(images, labels, return_dict=True)
        theirs = plain.train_on_batch(images, labels, return_dict=True)
        np.testing.assert_allclose([ours["loss"], ours["accuracy"]], [theirs["loss"], theirs["accuracy"]], rtol=1e-5)
    for ours, theirs in zip(student.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


# --- learning from the teacher --------------------------------------------------------


def test_student_learns_from_the_teacher_without_labels(distilled, teacher, test_set):
    trainer, history, _, agreement_before = distilled
    images, labels = test_set
    teacher_accuracy = np.mean(teacher.predict(images, verbose=0).argmax(1) == labels)
    student_accuracy = np.mean(trainer.student.predict(images, verbose=0).argmax(1) == labels)
    assert teacher_accuracy > 0.9
    assert student_accuracy > 0.7, student_accuracy  # chance is 0.1; alpha 0 never used a label (0.85 when written)
    assert agreement_before < 0.2 and _agreement(trainer.student, teacher, images) > 0.7
    assert history["distillation_loss"][-1] < history["distillation_loss"][0]


def test_teacher_stays_frozen(distilled, teacher):
    trainer, _, teacher_before, _ = distilled
    assert trainer.teacher is teacher and not teacher.trainable and not teacher.trainable_weights
    for before, after in zip(teacher_before, teacher.get_weights()):
        np.testing.assert_array_equal(before, after)


def test_validation_and_evaluation_report_the_student(distilled, digits):
    trainer, history, _, _ = distilled
    assert {"loss", "hard_loss", "distillation_loss", "accuracy", "val_loss", "val_accuracy"} == set(history)
    images, labels = _labels_and_images(digits.validation)
    scores = trainer.student.predict(images, verbose=0)
    assert history["val_accuracy"][-1] == pytest.approx(np.mean(scores.argmax(1) == labels), abs=1e-6)
    cross_entropy = -np.mean(np.log(scores[np.arange(len(labels)), labels]))
    assert history["val_loss"][-1] == pytest.approx(cross_entropy, rel=1e-4)
    assert trainer.evaluate(digits.validation, verbose=0) == pytest.approx(
        [history["val_loss"][-1], history["val_accuracy"][-1]]
    )
    # The Distiller predicts with its student. A batch of 8 is summed in another order than the whole
    # validation set, so the last bits may differ.
    np.testing.assert_allclose(trainer.predict(images[:8], verbose=0), scores[:8], rtol=1e-4, atol=1e-7)


def test_student_checkpoint_round_trips(distilled, tmp_path):
    trainer, *_ = distilled
    path = tf.train.Checkpoint(model=trainer.student, optimizer=trainer.optimizer).save(str(tmp_path / "ckpt"))
    fresh = tf_keras.models.clone_model(trainer.student)
    optimizer = tf_keras.optimizers.Adam(3e-3)
    optimizer.build(fresh.trainable_variables)
    tf.train.Checkpoint(model=fresh, optimizer=optimizer).restore(path).assert_consumed()
    for ours, theirs in zip(fresh.get_weights(), trainer.student.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    assert int(optimizer.iterations) == int(trainer.optimizer.iterations) == 90  # 2 epochs of 45 batches
    for ours, theirs in zip(optimizer.variables, trainer.optimizer.variables):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


# --- with QAT and pruning --------------------------------------------------------------


def test_qat_student_distills_and_converts_fully_integer(distilled, teacher, digits, test_set):
    trainer, *_ = distilled
    images, labels = test_set
    aware = distill.Distiller(qat.quantize(trainer.student), teacher, alpha=0.5)
    objectives.compile_for("classification", aware, tf_keras.optimizers.Adam(1e-3), CLASSES)  # as train.fit does
    logs = aware.fit(digits.train.take(10), epochs=1, verbose=0).history
    assert {"hard_loss", "distillation_loss", "top5"} <= set(logs) and np.isfinite(logs["loss"]).all()

    buf = convert.convert(aware.student, mode="int8", calibration=[images[:64]], show_progress=False)
    summary = tflite_file.summarize(buf)
    assert summary.fully_integer, [t.name for t in summary.float_tensors]
    scores = evaluate.predict(buf, images, show_progress=False)
    assert np.mean(scores.argmax(1) == labels) > 0.5


def test_pruned_student_distills(teacher, digits):
    sparsity = tfmot.sparsity.keras
    schedule = sparsity.ConstantSparsity(0.5, begin_step=0, frequency=1)

    def prune(layer):  # the convolutions and the classifier; tfmot cannot wrap Rescaling
        if isinstance(layer, (tf_keras.layers.Conv2D, tf_keras.layers.Dense)):
            return sparsity.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    pruned = tf_keras.models.clone_model(_cnn(4, name="student", seed=4), clone_function=prune)
    trainer = distill.Distiller(pruned, teacher)
    trainer.compile(tf_keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy")
    logs = trainer.fit(digits.train.take(4), epochs=1, callbacks=[sparsity.UpdatePruningStep()], verbose=0).history
    assert np.isfinite(logs["loss"]).all()
    dense = sparsity.strip_pruning(trainer.student).layers[-1]
    assert np.mean(dense.kernel.numpy() == 0) == pytest.approx(0.5, abs=0.01)


# --- mistakes ------------------------------------------------------------------------


def _head(resolution: int = 32, classes: int = CLASSES, activation: str = "softmax", name: str = "head"):
    inputs = tf_keras.Input((resolution, resolution, 3))
    x = tf_keras.layers.GlobalAveragePooling2D()(inputs)
    return tf_keras.Model(inputs, tf_keras.layers.Dense(classes, activation=activation)(x), name=name)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda t: dict(student=_head(), teacher=t, alpha=-0.1), r"alpha must be in \[0, 1\]"),
        (lambda t: dict(student=_head(), teacher=t, alpha=1.5), r"alpha must be in \[0, 1\]"),
        (lambda t: dict(student=_head(), teacher=t, alpha="0.5"), "alpha must be a finite number"),
        (lambda t: dict(student=_head(), teacher=t, alpha=True), "alpha must be a finite number"),
        (lambda t: dict(student=_head(), teacher=t, temperature=0), "temperature must be > 0"),
        (lambda t: dict(student=_head(), teacher=t, temperature=float("nan")), "temperature must be a finite"),
        (lambda t: dict(student=_head(resolution=28), teacher=t), r"inputs of shape \(28, 28, 3\)"),
        (lambda t: dict(student=_head(classes=5), teacher=t), "has 5 outputs but the teacher"),
        (lambda t: dict(student=t, teacher=t), "the same model"),
        (lambda t: dict(student="student.keras", teacher=t), "student must be a tf_keras.Model"),
        (
            lambda t: dict(student=_head(activation="sigmoid", name="sig"), teacher=t),
            "cannot tell whether 'sig' outputs probabilities or logits",
        ),
    ],
    ids=[
        "alpha-low",
        "alpha-high",
        "alpha-str",
        "alpha-bool",
        "temperature-zero",
        "temperature-nan",
        "resolution",
        "classes",
        "same",
        "not-a-model",
        "sigmoid",
    ],
)
def test_bad_distiller_arguments_are_user_errors(teacher, make, message):
    arguments = make(teacher)
    with pytest.raises(UserError, match=message):
        distill.Distiller(arguments.pop("student"), arguments.pop("teacher"), **arguments)


def test_compile_needs_a_hard_loss_that_fits_the_student(teacher):
    with pytest.raises(UserError, match="hard-label loss"):
        distill.Distiller(_head(), teacher).compile(optimizer="adam")
    with pytest.raises(UserError, match="from_logits=True"):
        distill.Distiller(_head(activation="linear"), teacher).compile(loss="sparse_categorical_crossentropy")


# --- loading the teacher ---------------------------------------------------------------


@pytest.fixture(scope="module")
def zoo_file(tmp_path_factory):
    """A MobileNetV3-Small (its own layers: HardSwish, squeeze-excite, input normalization) saved as .keras."""
    model = models.build("mobilenet_v3_small", alpha=0.35, resolution=32, num_classes=CLASSES)
    path = tmp_path_factory.mktemp("zoo") / "mnv3.keras"
    model.save(path)
    return model, path


def test_load_teacher_returns_a_model_as_it_is(teacher):
    assert distill.load_teacher(teacher, num_classes=CLASSES, resolution=32) is teacher


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_load_teacher_from_a_saved_file(teacher, test_set, tmp_path, suffix):
    teacher.save(tmp_path / f"teacher{suffix}")
    loaded = distill.load_teacher(str(tmp_path / f"teacher{suffix}"), num_classes=CLASSES, resolution=32)
    images = test_set[0][:16]
    np.testing.assert_allclose(loaded.predict(images, verbose=0), teacher.predict(images, verbose=0), atol=1e-6)


@pytest.mark.slow
def test_load_teacher_from_a_zoo_spec_and_a_zoo_file(zoo_file, test_set, teacher):
    model, path = zoo_file
    images, labels = test_set[0][:32], test_set[1][:32]
    expected = model.predict(images, verbose=0)
    from_spec = distill.load_teacher(
        {"model": "mobilenet_v3_small", "alpha": 0.35, "weights": str(path)}, num_classes=CLASSES, resolution=32
    )
    from_file = distill.load_teacher(path, num_classes=CLASSES, resolution=32)
    for loaded in (from_spec, from_file):
        np.testing.assert_allclose(loaded.predict(images, verbose=0), expected, atol=1e-5)
    trainer = distill.Distiller(_cnn(4, name="student", seed=5), from_spec)  # the zoo's Activation("softmax") top
    trainer.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert np.isfinite(trainer.train_on_batch(images, labels, return_dict=True)["distillation_loss"])


@pytest.mark.parametrize(
    "spec, options, message",
    [
        ("missing.keras", {}, "teacher file .*missing.keras does not exist"),
        ("teacher.weights.h5", {}, "holds weights only"),
        ("mobilenet_v2", {}, r"For the zoo model pass \{'model': 'mobilenet_v2'"),
        (42, {}, "got int"),
        ({"weights": "x.keras"}, {}, "a zoo teacher needs 'model'"),
        ({"model": "mobilenet_v2"}, {}, "needs trained weights"),
        ({"model": "mobilenet_v2", "weights": "none"}, {}, "needs trained weights"),
        ({"model": "mobilenet_v2", "weights": "missing.keras"}, {}, "does not exist"),
        ("TEACHER", {"num_classes": 5}, "has 10 outputs but the student needs 5"),
        ("TEACHER", {"resolution": 64}, "takes 32x32 images but the student takes 64x64"),
        ("TEACHER", {"num_classes": 0}, "num_classes must be a whole number"),
    ],
    ids=[
        "missing",
        "weights-only",
        "zoo-name",
        "int",
        "no-model",
        "no-weights",
        "none-weights",
        "missing-weights",
        "classes",
        "resolution",
        "bad-classes",
    ],
)
def test_load_teacher_errors(teacher, spec, options, message):
    arguments = {"num_classes": CLASSES, "resolution": 32, **options}
    with pytest.raises(UserError, match=message):
        distill.load_teacher(teacher if spec == "TEACHER" else spec, **arguments)
