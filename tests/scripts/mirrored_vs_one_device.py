"""Run by tests/test_distribute.py in a process of its own (logical devices are set before TensorFlow starts).

Trains the quickstart's model (MobileNetV3-Small, 32 px) for one short epoch on the bundled digits,
once on one device and once under MirroredStrategy on two logical CPU devices with the same global
batch, from the same initial weights, and prints JSON: the largest weight difference and each run's
number of replicas and final loss. The second argument picks what trains:

  plain    the model alone
  distill  the model as the student of a Distiller (teacher: another MobileNetV3-Small)
  prune    the model wrapped for magnitude pruning (50% at step 2 of 4); also the largest mask
           difference, the masks that differ between the two replicas, and the sparsity reached

Batch norms are synchronized across replicas; no dropout (its masks are random per replica); SGD
(Adam's division by tiny gradient magnitudes would not leave the runs comparable).
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
from mobilekit.optimize import prune  # noqa: E402

out = pathlib.Path(sys.argv[1])
mode = sys.argv[2] if len(sys.argv) > 2 else "plain"
data = datasets.load("digits", resolution=32, batch_size=32, train_fraction=0.1, show_progress=False)


def build(seed=0):
    tf_keras.utils.set_random_seed(seed)
    return models.build("mobilenet_v3_small", weights=None, resolution=32, num_classes=data.num_classes, dropout=0.0)


def pruned(model):
    return prune.prune(model, target_sparsity=0.5, end_step=2, frequency=2)


def distiller(teacher):
    from mobilekit.optimize import distill

    return lambda student: distill.Distiller(student, teacher, alpha=0.5, temperature=4.0)


initial = build().get_weights()
teacher_weights = build(seed=1).get_weights()
runs = {}
for name, strategy in [
    ("one", tf.distribute.get_strategy()),
    ("mirrored", tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])),
]:
    with strategy.scope():
        model = build()
        model.set_weights(initial)
        if mode == "prune":
            model = pruned(model)
        before = model.get_weights()
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
            trainer=distiller(teacher) if mode == "distill" else None,
            callbacks=prune.callbacks() if mode == "prune" else (),
        )
    last = history["epochs"][-1]
    runs[name] = {
        "before": before,
        "variables": model.weights,
        "replicas": model.distribute_strategy.num_replicas_in_sync,
        **{key: last[key] for key in ("loss", "hard_loss", "distillation_loss") if key in last},
    }


def values(variable) -> list[np.ndarray]:
    """A variable's value on each replica (one for a plain variable)."""
    return [np.asarray(v.numpy()) for v in getattr(variable, "values", [variable])]


one, mirrored = runs["one"], runs["mirrored"]
kinds = {
    "trained": [v.trainable for v in one["variables"]],
    # fused batch norm (one device) scales the running variance by n / (n - 1), the
    # synchronized one (every replica's share together) does not
    "statistics": ["moving_" in v.name for v in one["variables"]],
    "mask": [v.name.endswith("/mask:0") for v in one["variables"]],
}


def largest(first: list[np.ndarray], second: list[np.ndarray], kind: str) -> float:
    pairs = [(a, b) for a, b, keep in zip(first, second, kinds[kind]) if keep]
    return max((float(np.max(np.abs(a - b))) for a, b in pairs), default=0.0)


after = {name: [values(v)[0] for v in run["variables"]] for name, run in runs.items()}
figures = {
    "trained_difference": largest(after["one"], after["mirrored"], "trained"),
    "trained_change": largest(one["before"], after["one"], "trained"),
    "statistics_difference": largest(after["one"], after["mirrored"], "statistics"),
    **{
        f"{name}_{key}": value
        for name, run in runs.items()
        for key, value in run.items()
        if key not in ("before", "variables")
    },
}
if mode == "prune":
    masks = [v for v, keep in zip(mirrored["variables"], kinds["mask"]) if keep]
    figures["masks"] = len(masks)
    figures["mask_difference"] = largest(after["one"], after["mirrored"], "mask")
    figures["replicas_differ"] = [v.name for v in masks if not all(np.array_equal(values(v)[0], x) for x in values(v))]
    figures["sparsity"] = float(
        np.mean([1 - m for m, keep in zip(after["one"], kinds["mask"]) if keep for m in [m.mean()]])
    )
print(json.dumps(figures))
