"""Run by tests/test_distribute.py in a process of its own (logical devices are set before TensorFlow starts).

Quantization-aware training under MirroredStrategy on two logical CPU devices, the two replicas fed
different images (dark ones on replica 0, bright ones on replica 1), one step. Prints JSON: how many
range variables mobilekit's QAT model has and which of them hold different values on the two replicas,
and the same for tensorflow-model-optimization's own `quantize_model` of a small model (whose input
range each replica assigns from its own images).
"""

import json

import mobilekit  # noqa: F401  (selects tf_keras before TensorFlow loads)
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import tensorflow_model_optimization as tfmot  # noqa: E402
import tf_keras  # noqa: E402
from mobilekit import models  # noqa: E402
from mobilekit.optimize import qat  # noqa: E402

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
rng = np.random.default_rng(0)
# A global batch of 8 splits in order: the first 4 images go to replica 0, the last 4 to replica 1.
images = np.concatenate([rng.uniform(0, 60, (4, 32, 32, 3)), rng.uniform(150, 255, (4, 32, 32, 3))]).astype("float32")
labels = np.arange(8) % 10


def one_step(model):
    model.compile(optimizer=tf_keras.optimizers.SGD(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(tf.data.Dataset.from_tensor_slices((images, labels)).batch(8), epochs=1, verbose=0)


def ranges_that_differ(model) -> tuple[int, list[str]]:
    ranges = [v for v in model.weights if v.name.endswith(("_min:0", "_max:0"))]
    differ = [v.name for v in ranges if not np.array_equal(*(value.numpy() for value in v.values))]
    return len(ranges), differ


with strategy.scope():
    tf_keras.utils.set_random_seed(0)
    # MobileNetV3-Small: squeeze-excite blocks, whose two convs the replicas' QAT wrappers share
    zoo = models.build("mobilenet_v3_small", weights=None, resolution=32, alpha=0.35, num_classes=10, dropout=0.0)
    ours = qat.quantize(zoo, calibration=images[:2])
    one_step(ours)
    inputs = tf_keras.Input((32, 32, 3))
    x = tf_keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    outputs = tf_keras.layers.Dense(10, activation="softmax")(tf_keras.layers.GlobalAveragePooling2D()(x))
    stock = tfmot.quantization.keras.quantize_model(tf_keras.Model(inputs, outputs))
    one_step(stock)

count, differ = ranges_that_differ(ours)
stock_count, stock_differ = ranges_that_differ(stock)
print(json.dumps({"ranges": count, "differ": differ, "stock_ranges": stock_count, "stock_differ": stock_differ}))
