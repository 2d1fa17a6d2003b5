"""Knowledge distillation: a small student learns from a trained teacher's soft predictions.

    from mobilekit.optimize import distill
    teacher = distill.load_teacher("runs/big/best.keras", num_classes=10, resolution=96)
    trainer = distill.Distiller(student, teacher, alpha=0.1, temperature=4.0)
    trainer.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    trainer.fit(data.train, validation_data=data.validation)
    trainer.student          # the trained model: save, checkpoint or convert this one

`Distiller` trains the student on Hinton et al. (2015)'s objective:

    loss = alpha * hard_loss + (1 - alpha) * distillation_loss + the student's regularization
    hard_loss = the compiled loss (sparse cross-entropy with the true labels)
    distillation_loss = T^2 * KL(softmax(teacher_logits / T) || softmax(student_logits / T))

T^2 keeps the soft term's gradients at the scale of the hard term's whatever
the temperature. Every part is logged (loss, hard_loss, distillation_loss and
the compiled metrics, on the student's predictions); evaluation and validation
run the student alone, so val_loss and val_accuracy are the student's.

Zoo models end in a softmax, so their outputs are probabilities: logits are
taken as log(probabilities), which differ from the true logits by a constant
per image that softmax(z / T) cancels (where the softmax is in the graph, its
input is read directly, as keras' cross-entropy does). A model whose last
layer is linear (a Dense without activation) is taken to output logits; its
hard loss must then be compiled with from_logits=True.

The student can be any functional model: a zoo model, `qat.quantize(model)`
(the int8 file then follows the distilled weights) or a pruned model (pass
tfmot's UpdatePruningStep callback to fit). The teacher is frozen
(trainable=False) and always runs in inference mode.
"""

from __future__ import annotations

import math
import numbers
import os
import pathlib
from collections.abc import Mapping

import mobilekit  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import numpy as np
import tensorflow as tf
import tf_keras

from mobilekit import models
from mobilekit.errors import UserError
from mobilekit.optimize import MODEL_SUFFIXES

PROBABILITIES, LOGITS = "probabilities", "logits"
_LOG_FLOOR = float(np.finfo(np.float32).tiny)  # log(0) would be -inf; this gives about -87


# ---------------------------------------------------------------------------
# The teacher
# ---------------------------------------------------------------------------


def load_teacher(spec, *, num_classes: int, resolution: int):
    """The teacher model for a student with `num_classes` outputs and `resolution` px inputs.

    spec:
      a tf_keras.Model: returned as it is (after the checks);
      a path to a saved Keras model (.keras or .h5; zoo layers and QAT models load);
      a zoo model with its trained weights: {"model": NAME, "weights": PATH or "imagenet",
        **build options} (alpha, dropout, the model's own options), built by
        `models.build(NAME, num_classes=num_classes, resolution=resolution, ...)`.

    Raises:
      UserError: the file is missing or no Keras model, the spec is malformed, or
        the teacher's class count or input size differs from the student's.
    """
    for name, value in (("num_classes", num_classes), ("resolution", resolution)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise UserError(f"{name} must be a whole number >= 1, got {value!r}.")
    if isinstance(spec, tf_keras.Model):
        teacher = spec
    elif isinstance(spec, (str, os.PathLike)):
        teacher = _load_file(spec)
    elif isinstance(spec, Mapping):
        teacher = _build_zoo(spec, num_classes, resolution)
    else:
        raise UserError(
            f"a teacher is a tf_keras.Model, the path of a saved model or "
            f"{{'model': NAME, 'weights': PATH}}, got {type(spec).__name__}."
        )
    _check_model("teacher", teacher)
    classes, size = teacher.outputs[0].shape[-1], tuple(teacher.input_shape[1:3])
    if classes != num_classes:
        raise UserError(
            f"the teacher {teacher.name!r} has {classes} outputs but the student needs {num_classes} "
            "classes. Use a teacher trained on the same classes (in the same order)."
        )
    if size != (resolution, resolution):
        raise UserError(
            f"the teacher {teacher.name!r} takes {size[0]}x{size[1]} images but the student takes "
            f"{resolution}x{resolution}. Build or save the teacher at resolution {resolution}."
        )
    return teacher


def _load_file(path) -> tf_keras.Model:
    file = pathlib.Path(os.fspath(path)).expanduser()
    name = str(file)
    if name.endswith(".weights.h5"):
        raise UserError(
            f"{file} holds weights only, not a model. Pass {{'model': NAME, 'weights': '{file}', ...}} "
            "with the settings it was saved with."
        )
    if not name.endswith(MODEL_SUFFIXES):
        hint = f" For the zoo model pass {{'model': {name!r}, 'weights': PATH}}." if name in models.names() else ""
        raise UserError(
            f"teacher {name!r} is not the path of a saved Keras model (expected {' or '.join(MODEL_SUFFIXES)}).{hint}"
        )
    if not file.is_file():
        raise UserError(f"teacher file {file} does not exist. Check the path (e.g. best.keras of a training run).")
    from mobilekit.optimize import load_model

    try:
        return load_model(file)
    except UserError as error:
        raise UserError(f"cannot load the teacher: {error}") from error


def _build_zoo(spec: Mapping, num_classes: int, resolution: int) -> tf_keras.Model:
    options = dict(spec)
    name, weights = options.pop("model", None), options.pop("weights", None)
    if not isinstance(name, str):
        raise UserError(
            f"a zoo teacher needs 'model': one of models.names(), e.g. {{'model': 'resnet50', "
            f"'weights': 'runs/resnet50/best.keras'}}; got {dict(spec)!r}."
        )
    if models.weights_source(weights) is None:
        raise UserError(
            f"the teacher {name} needs trained weights: add 'weights': PATH (e.g. best.keras of a "
            "training run) or 'imagenet' for a 1000-class teacher."
        )
    return models.build(name, weights=weights, **{"num_classes": num_classes, "resolution": resolution, **options})


def _check_model(role: str, model) -> None:
    if not isinstance(model, tf_keras.Model):
        raise UserError(
            f"the {role} must be a tf_keras.Model, got {type(model).__name__}. Build it with "
            "mobilekit.models.build(...) or tf_keras (import mobilekit first, which selects tf_keras)."
        )
    if not model.built or getattr(model, "outputs", None) is None:
        raise UserError(
            f"the {role} {model.name!r} has no known input shape. Build it with the functional API "
            "(tf_keras.Model(inputs, outputs)), as every zoo model is."
        )
    if len(model.outputs) != 1:
        raise UserError(
            f"the {role} {model.name!r} has {len(model.outputs)} outputs; distillation needs one "
            "classifier output. Build it without auxiliary heads (e.g. GoogLeNet's aux_logits=False)."
        )


def _output_kind(model) -> str:
    """PROBABILITIES if the model's output comes from a softmax, LOGITS if from a linear layer.

    Looks through wrappers (QAT's QuantizeWrapper, pruning's PruneLowMagnitude)
    at the last layer's activation. UserError for anything else (sigmoid, a
    Lambda, ...), where the output's meaning cannot be told.
    """
    layer = model.get_layer(model.output_names[0])
    if isinstance(layer, tf_keras.Model):
        return _output_kind(layer)
    while isinstance(layer, tf_keras.layers.Wrapper):
        layer = layer.layer
    if isinstance(layer, tf_keras.layers.Softmax):
        return PROBABILITIES
    activation = getattr(layer, "activation", None)
    activation = getattr(activation, "activation", activation)  # tfmot's QuantizeAwareActivation wraps it
    name = getattr(activation, "__name__", None)
    if name == "softmax":
        return PROBABILITIES
    if name == "linear":
        return LOGITS
    raise UserError(
        f"cannot tell whether {model.name!r} outputs probabilities or logits: its last layer "
        f"{layer.name!r} ({type(layer).__name__}) has {f'activation {name!r}' if name else 'no activation'}"
        ". End the model in a softmax (Dense(..., activation='softmax') or Activation('softmax'), as "
        "zoo models do) or in a linear Dense (logits)."
    )


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------


class Distiller(tf_keras.Model):
    """Trains `student` on the true labels and on `teacher`'s softened predictions.

    Compile it like the student (the compiled loss is the hard-label loss, the
    compiled metrics are computed on the student's predictions) and fit it on
    (pixels, class) batches. Calling it, predict and evaluate run the student
    alone. Save, checkpoint and convert `trainer.student`; the Distiller itself
    is not serializable.

    Args:
      student: the model to train (float, QAT-wrapped or pruned).
      teacher: a trained model with the same input shape and classes; it is frozen here.
      alpha: the weight of the hard-label loss, in [0, 1]; 1 is plain training
        (the teacher is ignored), 0 learns from the teacher alone.
      temperature: softens both distributions (> 0); higher shows more of the
        teacher's ranking of the wrong classes.
    """

    def __init__(self, student, teacher, *, alpha: float = 0.1, temperature: float = 4.0, name: str | None = None):
        _check_model("student", student)
        _check_model("teacher", teacher)
        if student is teacher:
            raise UserError(
                "the student and the teacher are the same model; distill into a new (usually smaller) model."
            )
        alpha, temperature = _number("alpha", alpha), _number("temperature", temperature)
        if not 0 <= alpha <= 1:
            raise UserError(f"alpha must be in [0, 1] (the weight of the hard-label loss), got {alpha!r}; e.g. 0.1.")
        if not temperature > 0:
            raise UserError(
                f"temperature must be > 0, got {temperature!r}; e.g. 4.0 (1 leaves the teacher's "
                "probabilities as they are)."
            )
        if tuple(student.input_shape[1:]) != tuple(teacher.input_shape[1:]):
            raise UserError(
                f"the student {student.name!r} takes inputs of shape {tuple(student.input_shape[1:])} "
                f"but the teacher {teacher.name!r} takes {tuple(teacher.input_shape[1:])}. Build both "
                "at the same resolution."
            )
        classes = (student.outputs[0].shape[-1], teacher.outputs[0].shape[-1])
        if classes[0] != classes[1]:
            raise UserError(
                f"the student {student.name!r} has {classes[0]} outputs but the teacher "
                f"{teacher.name!r} has {classes[1]}. Both must classify the same classes."
            )
        kinds = _output_kind(student), _output_kind(teacher)
        super().__init__(name=name or f"{student.name}_distilled")
        self.student, self.teacher = student, teacher
        self.teacher.trainable = False
        self.alpha, self.temperature = alpha, temperature
        self._student_kind, self._teacher_kind = kinds
        self._loss_mean = tf_keras.metrics.Mean(name="loss")
        self._hard_mean = tf_keras.metrics.Mean(name="hard_loss")
        self._soft_mean = tf_keras.metrics.Mean(name="distillation_loss")

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, **kwargs):
        """tf_keras.Model.compile; `loss` (required) is the student's hard-label loss."""
        if loss is None:
            raise UserError(
                "compile the Distiller with the student's hard-label loss, e.g. "
                "loss='sparse_categorical_crossentropy' (it is weighted by alpha)."
            )
        if self._student_kind == LOGITS and _expects_probabilities(loss):
            raise UserError(
                f"the student {self.student.name!r} outputs logits but the loss expects probabilities. "
                "Compile with tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)."
            )
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    @property
    def metrics(self):
        # The compiled loss's own mean is left out: "loss" is the distillation
        # objective while training and the student's compiled loss in evaluation.
        compiled = self.compiled_metrics.metrics if self.compiled_metrics is not None else []
        return [self._loss_mean, self._hard_mean, self._soft_mean, *compiled]

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def train_step(self, data):
        x, y, sample_weight = tf_keras.utils.unpack_x_y_sample_weight(data)
        teacher_logits = _logits(self.teacher(x, training=False), self._teacher_kind)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            predictions = self.student(x, training=True)
            # compiled_loss divides by the replica count for the gradient sum; the logs show the unscaled value.
            hard = self.compiled_loss(y, predictions, sample_weight) * replicas
            soft = _soft_loss(teacher_logits, _logits(predictions, self._student_kind), self.temperature, sample_weight)
            loss = self.alpha * hard + (1 - self.alpha) * soft
            if self.student.losses:
                loss += tf.add_n(self.student.losses)
            scaled = loss / replicas
        self.optimizer.minimize(scaled, self.student.trainable_variables, tape=tape)
        images = tf.shape(predictions)[0]  # batch means weighted by size, as keras' loss mean does
        for mean, value in ((self._loss_mean, loss), (self._hard_mean, hard), (self._soft_mean, soft)):
            mean.update_state(value, sample_weight=images)
        self.compiled_metrics.update_state(y, predictions, sample_weight)
        return self.get_metrics_result()

    def test_step(self, data):
        x, y, sample_weight = tf_keras.utils.unpack_x_y_sample_weight(data)
        predictions = self.student(x, training=False)
        loss = self.compiled_loss(y, predictions, sample_weight, regularization_losses=self.student.losses)
        self._loss_mean.update_state(
            loss * tf.distribute.get_strategy().num_replicas_in_sync, sample_weight=tf.shape(predictions)[0]
        )
        self.compiled_metrics.update_state(y, predictions, sample_weight)
        return {metric.name: metric.result() for metric in [self._loss_mean, *self.compiled_metrics.metrics]}


def _number(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise UserError(f"{name} must be a finite number, got {value!r}.")
    return float(value)


def _expects_probabilities(loss) -> bool:
    """Whether a compiled cross-entropy loss reads its input as probabilities."""
    name = loss if isinstance(loss, str) else getattr(loss, "__name__", type(loss).__name__)
    config = loss.get_config() if hasattr(loss, "get_config") else {}
    return "crossentropy" in name.lower() and not config.get("from_logits", False)


def _logits(outputs, kind: str):
    """Logits, up to a constant per row (which softmax(z / T) cancels), as float32."""
    if kind == PROBABILITIES:
        # tf_keras' softmax leaves its input on the output tensor (graph mode), as its cross-entropy uses.
        logits = getattr(outputs, "_keras_logits", None)
        outputs = logits if logits is not None else tf.math.log(tf.maximum(tf.cast(outputs, tf.float32), _LOG_FLOOR))
    return tf.cast(outputs, tf.float32)


def _soft_loss(teacher_logits, student_logits, temperature: float, sample_weight=None):
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), averaged over the batch."""
    teacher_log = tf.nn.log_softmax(teacher_logits / temperature)
    student_log = tf.nn.log_softmax(student_logits / temperature)
    divergence = tf.reduce_sum(tf.exp(teacher_log) * (teacher_log - student_log), axis=-1)
    if sample_weight is not None:
        divergence *= tf.reshape(tf.cast(sample_weight, divergence.dtype), [-1])
    return temperature**2 * tf.reduce_mean(divergence)
