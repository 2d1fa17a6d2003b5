"""Every registered architecture through the pipeline: build, one training step, int8 file, LiteRT.

Parametrized over models.names() but the deeper copies of a family member
already run (zoo_params.DEEPER), so a new model is tested by being
registered. Each runs at a small resolution (its smallest workable one, at
least 32 px), a narrow width and 10 classes, to keep the suite within CI's
budget. The fast tier (`-m "not slow"`) runs MobileNetV3-Small; every
family's builder is also exercised there by tests/test_models.py.
"""

import mobilekit  # noqa: F401  (first: selects tf_keras before TensorFlow loads)

import gc

import numpy as np
import pytest
import tf_keras

from mobilekit import models
from mobilekit.export import convert, tflite_file
from mobilekit.runtime import coverage, evaluate
from zoo_params import CLASSES, small_settings, zoo_params


@pytest.mark.parametrize("name", zoo_params(fast=("mobilenet_v3_small",)))
def test_trains_one_step_converts_to_int8_and_runs(name, calibration_images):
    tf_keras.utils.set_random_seed(0)
    settings = small_settings(name)
    model = models.build(name, **settings)
    size = settings["resolution"]
    images = tf_keras.layers.Resizing(size, size)(calibration_images[:4]).numpy()
    labels = np.arange(len(images)) % CLASSES

    before = [w.copy() for w in model.get_weights()]
    # A small step: with random weights and batch-norm statistics that one step cannot
    # settle, a larger one drives ResNet-v1's inference-mode activations (raw-pixel
    # "caffe" inputs) past float32's range, and no int8 scale exists for inf.
    model.compile(optimizer=tf_keras.optimizers.SGD(1e-5), loss="sparse_categorical_crossentropy")
    history = model.fit(images, labels, batch_size=len(images), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = sum(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert changed > len(before) // 2, f"only {changed} of {len(before)} weight tensors trained"

    buf = convert.convert(model, mode="int8", calibration=[images], show_progress=False)
    summary = tflite_file.summarize(buf)
    assert summary.fully_integer, [t.name for t in summary.float_tensors]
    assert summary.inputs[0].shape == (1, size, size, 3) and summary.outputs[0].shape == (1, CLASSES)
    # The CPU delegate runs the whole network as one partition; only the file's ends stay on the
    # interpreter (XNNPACK has no uint8<->int8 QUANTIZE and no int8 SOFTMAX): README, "Delegate coverage".
    cpu = coverage.xnnpack_coverage(buf)
    assert cpu.partitions == 1 and set(cpu.left_out) <= {"QUANTIZE", "SOFTMAX"}, cpu.describe()

    # After one step on random weights the float scores saturate, so int8 agreement
    # says little here (tests/test_convert.py checks it on a trained model): the
    # file must run and give a distribution per image.
    scores = evaluate.predict(buf, images, show_progress=False)
    assert scores.shape == (len(images), CLASSES) and np.isfinite(scores).all()
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=0.05)
    del model
    tf_keras.backend.clear_session()
    gc.collect()
