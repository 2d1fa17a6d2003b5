"""Run by tests/test_distribute.py in a process of its own (logical devices are set before TensorFlow starts).

Trains the quickstart's model (MobileNetV3-Small, 32 px) for one short epoch on the bundled digits,
once on one device and once under MirroredStrategy on two logical CPU devices with the same global
batch, from the same initial weights -- alone, or with `distill` as the second argument as the
student of a Distiller (teacher: another MobileNetV3-Small) -- (batch norms synchronized across replicas; without dropout, whose masks are random per replica; with SGD,
which Adam's division by tiny gradient magnitudes would not leave comparable), and prints JSON: the largest weight difference and each run's
number of replicas and final loss.
"""

import json
import pathlib
import sys

import mobilekit  # noqa: F401  (selects tf_keras before TensorFlow loads)
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import tf_keras  # noqa: E402
from mobilekit import models, train  # noqa: E402
from mobilekit.data import datasets  # noqa: E402

out = pathlib.Path(sys.argv[1])
distilling = sys.argv[2:] == ["distill"]
data = datasets.load("digits", resolution=32, batch_size=32, train_fraction=0.1, show_progress=False)


def build(seed=0):
    tf_keras.utils.set_random_seed(seed)
    return models.build("mobilenet_v3_small", weights=None, resolution=32, num_classes=data.num_classes, dropout=0.0)


def distiller(teacher):
    from mobilekit.optimize import distill

    return lambda student: distill.Distiller(student, teacher, alpha=0.5, temperature=4.0)


initial = build().get_weights()
teacher_weights = build(seed=1).get_weights()
trainable = [not any(part in v.name for part in ("moving_mean", "moving_variance")) for v in build().weights]
runs = {}
for name, strategy in [
    ("one", tf.distribute.get_strategy()),
    ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])),
]:
    with strategy.scope():
        model = build()
        model.set_weights(initial)
        teacher = build(seed=1)
        teacher.set_weights(teacher_weights)
        history = train.fit(
            model,
            data,
            epochs=1,
            output_dir=out / name,
            learning_rate=1e-3,
            optimizer="sgd",
            verbose=0,
            trainer=distiller(teacher) if distilling else None,
        )
    last = history["epochs"][-1]
    runs[name] = {
        "weights": model.get_weights(),
        "replicas": model.distribute_strategy.num_replicas_in_sync,
        **{key: last[key] for key in ("loss", "hard_loss", "distillation_loss") if key in last},
    }


def largest(first, second, which):
    return max(float(np.max(np.abs(a - b))) for a, b, keep in zip(first, second, trainable) if keep == which)


one, mirrored = runs["one"]["weights"], runs["mirrored"]["weights"]
print(
    json.dumps(
        {
            "trained_difference": largest(one, mirrored, True),
            "trained_change": largest(initial, one, True),
            # fused batch norm (one device) scales the running variance by n / (n - 1), the
            # synchronized one (every replica's share together) does not
            "statistics_difference": largest(one, mirrored, False),
            **{f"{name}_{key}": value for name, run in runs.items() for key, value in run.items() if key != "weights"},
        }
    )
)
