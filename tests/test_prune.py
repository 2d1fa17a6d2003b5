"""Pruning: prune.prune -> fit -> strip -> sparsity report, m-by-n sparsity, and prune-preserving QAT.

Models train for a few steps on scikit-learn's digits at 32 px. The zoo test
prunes every registered model at the small settings of tests/test_zoo.py;
ResNet-18 (residual adds) runs in the fast tier, the rest (squeeze-excite,
MixNet's channel slices, DenseNet's concatenations among them) are `slow`.
"""

import mobilekit  # noqa: F401  (first: selects tf_keras before TensorFlow loads)

import gc
import gzip
import json

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
import tf_keras

from mobilekit import UserError, data, models
from mobilekit.errors import MobilekitWarning
from mobilekit.export import convert, tflite_file
from mobilekit.models.layers import InputNormalization, SqueezeExcite
from mobilekit.optimize import prune, qat
from zoo_params import zoo_params

TARGET = 0.75
REPRESENTATIVE = ("resnet18",)


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", resolution=32, batch_size=32, show_progress=False)


def _small_model():
    """Stem, two convolutions around a depthwise one, a hidden dense layer, a classifier.

    Input channels of the pruned layers are multiples of 4, so every 2:4 group is whole.
    """
    tf_keras.utils.set_random_seed(0)
    layers = tf_keras.layers
    inputs = tf_keras.Input((32, 32, 3), name="image")
    x = InputNormalization(1 / 127.5, -1.0, name="normalize")(inputs)
    for name, filters, stride in (("stem", 16, 2), ("conv2", 32, 2)):
        x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, name=name)(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
        x = layers.ReLU(name=f"{name}_relu")(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
    x = layers.ReLU(name="dw_relu")(x)
    x = layers.Conv2D(64, 3, padding="same", name="conv3")(x)
    x = layers.ReLU(name="conv3_relu")(x)  # no batch norm: tfmot's QAT gives this conv no weight quantizer
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    x = layers.Dense(64, activation="relu", name="fc")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    return tf_keras.Model(inputs, outputs, name="small")


PRUNED = {"conv2", "conv3", "fc"}  # of _small_model, with the default skip
DENSE = {"stem", "predictions"}


def _fit(model, dataset, steps: int, learning_rate: float = 1e-3, **kwargs):
    model.compile(optimizer=tf_keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy")
    model.fit(dataset.take(steps), epochs=1, verbose=0, **kwargs)
    return model


def _wrapped_names(model) -> set:
    return {layer.layer.name for layer in model.layers if type(layer).__name__ == "PruneLowMagnitude"}


def _rows(model) -> dict:
    return {row.layer: row for row in prune.sparsity_report(model).rows}


def _expected_zeros(count: int, sparsity: float) -> int:
    """tfmot keeps the round(count * (1 - sparsity)) largest magnitudes (at least one)."""
    return count - max(int(np.round(count * (1 - sparsity))), 1)


def _at_sparsity(row, sparsity: float) -> bool:
    """The row's zeros are tfmot's count, less a few weights that tie with its threshold (kept)."""
    short = _expected_zeros(row.count, sparsity) - row.zeros
    return 0 <= short <= 1 + row.count // 10_000


@pytest.fixture(scope="module")
def pruned(digits):
    """The float model (with a copy of its weights), pruned to 75 % over 6 of 8 training steps, and stripped."""
    float_model = _small_model()
    before = [w.copy() for w in float_model.get_weights()]
    wrapped = prune.prune(float_model, target_sparsity=TARGET, end_step=6, frequency=2)
    _fit(wrapped, digits.train, steps=8, callbacks=prune.callbacks())
    return float_model, before, wrapped, prune.strip(wrapped)


def test_pruned_kernels_reach_the_target_and_skipped_ones_stay_dense(pruned):
    float_model, _, wrapped, _ = pruned
    assert _wrapped_names(wrapped) == PRUNED
    rows = _rows(wrapped)
    assert set(rows) == PRUNED | DENSE
    for name in PRUNED:
        assert rows[name].zeros == _expected_zeros(rows[name].count, TARGET), rows[name]
    for name in DENSE:
        assert rows[name].zeros == 0, rows[name]
    depthwise = wrapped.get_layer("dw").depthwise_kernel.numpy()
    assert np.count_nonzero(depthwise == 0) == 0


def test_the_float_model_is_left_alone(pruned):
    float_model, before, _, _ = pruned
    assert all(np.array_equal(a, b) for a, b in zip(before, float_model.get_weights()))
    assert all(len(layer.inbound_nodes) <= 1 for layer in float_model.layers)


def test_strip_removes_the_wrappers_and_keeps_the_zeros(pruned, digits):
    float_model, _, wrapped, stripped = pruned
    assert not _wrapped_names(stripped)
    assert [layer.name for layer in stripped.layers] == [layer.name for layer in float_model.layers]
    assert [type(layer) for layer in stripped.layers] == [type(layer) for layer in float_model.layers]
    assert prune.sparsity_report(stripped).rows == prune.sparsity_report(wrapped).rows
    images = next(iter(digits.test))[0]
    np.testing.assert_allclose(stripped.predict(images, verbose=0), wrapped.predict(images, verbose=0), atol=1e-6)


def test_strip_applies_the_masks(pruned):
    """A weight update after tfmot's last masking (mid-epoch) does not reach the stripped kernel."""
    _, _, wrapped, _ = pruned
    kernel = wrapped.get_layer("prune_low_magnitude_conv3").layer.kernel
    saved = kernel.numpy()
    try:
        kernel.assign(saved + 0.5)
        stripped = prune.strip(wrapped)
    finally:
        kernel.assign(saved)
    assert np.array_equal(stripped.get_layer("conv3").kernel.numpy() == 0, saved == 0)


def test_report_counts_what_numpy_counts(pruned):
    _, _, _, stripped = pruned
    report = prune.sparsity_report(stripped)
    kernels = [
        (layer.name, layer.kernel.numpy())
        for layer in stripped.layers
        if type(layer) in (tf_keras.layers.Conv2D, tf_keras.layers.Dense)
    ]
    assert [(row.layer, row.weight) for row in report.rows] == [(name, "kernel") for name, _ in kernels]
    for row, (_, kernel) in zip(report.rows, kernels):
        assert (row.count, row.zeros) == (kernel.size, int(np.sum(kernel == 0)))
        assert row.sparsity == pytest.approx(np.mean(kernel == 0))
    assert report.count == sum(k.size for _, k in kernels)
    assert report.zeros == sum(int(np.sum(k == 0)) for _, k in kernels)
    assert report.sparsity == pytest.approx(report.zeros / report.count)
    assert report.model == "small"

    document = json.loads(json.dumps(report.to_json()))
    assert document["zeros"] == report.zeros and len(document["rows"]) == len(report.rows)
    assert document["rows"][1] == {
        "layer": "conv2",
        "weight": "kernel",
        "count": 4608,
        "zeros": _expected_zeros(4608, TARGET),
        "sparsity": 0.75,
    }
    lines = str(report).splitlines()
    assert lines[0].split() == ["layer", "weight", "weights", "zeros", "sparsity"]
    assert [line.split()[0] for line in lines[1:]] == [name for name, _ in kernels] + ["total"]
    assert lines[2].split()[-1] == "75.0%" and lines[-1].split()[1:] == [
        f"{report.count:,}",
        f"{report.zeros:,}",
        f"{report.sparsity:.1%}",
    ]


def test_pruned_model_saves_and_loads_in_tfmots_prune_scope(pruned, tmp_path):
    _, _, wrapped, stripped = pruned
    wrapped.save(tmp_path / "pruned.h5")
    with tfmot.sparsity.keras.prune_scope():
        loaded = tf_keras.models.load_model(tmp_path / "pruned.h5", compile=False)
    assert prune.sparsity_report(prune.strip(loaded)).rows == prune.sparsity_report(stripped).rows


def _input_channel_groups(kernel: np.ndarray, n: int) -> np.ndarray:
    """Consecutive groups of n weights along the input channels, as tfmot's m-by-n pruning forms them.

    Conv2D (h, w, in, out) and Dense (in, out): each output channel's (and
    kernel position's) row of input-channel weights, cut into groups of n.
    """
    rows = np.moveaxis(kernel, -1, 0).reshape(-1, kernel.shape[-2])
    return rows.reshape(len(rows), -1, n).reshape(-1, n)


def test_m_by_n_zeroes_two_of_every_four_input_channel_weights(digits):
    wrapped = prune.prune(_small_model(), target_sparsity=None, end_step=1, m_by_n=(2, 4))
    stripped = prune.strip(_fit(wrapped, digits.train, steps=2, callbacks=prune.callbacks()))
    for name in PRUNED:
        kernel = stripped.get_layer(name).kernel.numpy()
        zeros = np.sum(_input_channel_groups(kernel, 4) == 0, axis=1)
        assert np.all(zeros == 2), (name, np.unique(zeros))
    for name in DENSE:
        assert not np.any(stripped.get_layer(name).kernel.numpy() == 0)


def test_skip_kinds_and_layers_choose_what_stays_dense():
    model = _small_model()
    with pytest.warns(MobilekitWarning, match="DepthwiseConv2D"):
        everything = prune.prune(model, end_step=100, skip=())
    assert _wrapped_names(everything) == PRUNED | DENSE
    assert _wrapped_names(prune.prune(model, end_step=100, skip=("classifier", "depthwise"))) == PRUNED | {"stem"}
    assert _wrapped_names(prune.prune(model, end_step=100, skip_layers=("conv3", "fc"))) == {"conv2"}


def test_callbacks_are_tfmots_step_updater():
    [callback] = prune.callbacks()
    assert isinstance(callback, tfmot.sparsity.keras.UpdatePruningStep)


def test_gzipped_size_is_gzip_level_9():
    noise = np.random.default_rng(0).integers(0, 256, 10_000, dtype=np.uint8).tobytes()
    assert prune.gzipped_size(noise) == len(gzip.compress(noise, compresslevel=9))
    assert prune.gzipped_size(noise) > 9_000 and prune.gzipped_size(bytes(10_000)) < 100
    with pytest.raises(UserError, match="bytes"):
        prune.gzipped_size("model.tflite")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(target_sparsity=0.0), "target_sparsity must be a fraction"),
        (dict(target_sparsity=1.0), "target_sparsity must be a fraction"),
        (dict(target_sparsity=True), "target_sparsity must be a fraction"),
        (dict(target_sparsity=None), "target_sparsity must be a fraction"),
        (dict(initial_sparsity=-0.1), "initial_sparsity must be a fraction"),
        (dict(initial_sparsity=0.8), "initial_sparsity .* must be below target_sparsity"),
        (dict(end_step=0), "end_step must be a whole number of training steps >= 1"),
        (dict(begin_step=100), "end_step must be a whole number of training steps >= 101"),
        (dict(begin_step=-1), "begin_step must be"),
        (dict(end_step=2.5), "end_step must be a whole number"),
        (dict(frequency=0), "frequency must be a whole number of training steps >= 1"),
        (dict(end_step=250), r"multiple of frequency \(100\).*end_step=200 or 300"),
        (dict(end_step=50), r"Use end_step=100,"),
        (dict(m_by_n=(4, 2), target_sparsity=None), r"0 < m < n"),
        (dict(m_by_n=(2,), target_sparsity=None), r"m_by_n must be a pair"),
        (dict(m_by_n=(2, 4.0), target_sparsity=None), r"m_by_n must be a pair"),
        (dict(m_by_n=4, target_sparsity=None), r"m_by_n must be a pair"),
        (dict(skip=("first_conv", "bias")), r"unknown skip kind\(s\) 'bias'"),
        (dict(skip="classifier"), r"skip must be a tuple of strings"),
        (dict(skip_layers=("conv2", "conv9", "fc7")), r"skip_layers names 'conv9', 'fc7', not layers of model 'small'"),
        (dict(skip_layers=("conv2", "conv3", "fc")), "no Conv2D or Dense kernel left to prune"),
    ],
)
def test_bad_arguments_are_user_errors(kwargs, message):
    with pytest.raises(UserError, match=message):
        prune.prune(_small_model(), **{"end_step": 100, **kwargs})


def _functional(*layers):
    inputs = tf_keras.Input((8, 8, 3))
    x = inputs
    for layer in layers:
        x = layer(x)
    return tf_keras.Model(inputs, x, name="user_model")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: "model.h5", "tf_keras.Model, got str"),
        (lambda: tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(2)]), "functional models"),
        (lambda: prune.prune(_small_model(), end_step=100), "already wrapped for pruning"),
        (lambda: qat.quantize(_functional(tf_keras.layers.Conv2D(2, 1))), "quantized for QAT"),
        (lambda: _functional(_functional(tf_keras.layers.Conv2D(2, 1))), "nested model"),
    ],
    ids=["not-a-model", "sequential", "twice", "qat", "nested"],
)
def test_models_prune_cannot_take_are_user_errors(make, message):
    with pytest.raises(UserError, match=message):
        prune.prune(make(), end_step=100)


# --- prune-preserving QAT --------------------------------------------------------------


@pytest.fixture(scope="module")
def quantized(pruned, digits):
    """The stripped model through 5 QAT steps (a large learning rate) with and without preserve_sparsity."""
    _, _, _, stripped = pruned
    tf_keras.utils.set_random_seed(0)
    return {
        preserve: _fit(qat.quantize(stripped, preserve_sparsity=preserve), digits.train, steps=5, learning_rate=1e-2)
        for preserve in (True, False)
    }


def test_preserve_sparsity_keeps_the_zeros_through_qat(pruned, quantized):
    _, _, _, stripped = pruned
    for name in PRUNED | DENSE:
        before = stripped.get_layer(name).kernel.numpy()
        after = prune._variable(quantized[True].get_layer(f"quant_{name}"), "kernel").numpy()
        assert np.array_equal(after == 0, before == 0), name
        assert not np.array_equal(after, before), f"{name} did not train"
    # Without it, training fills the zeros in (a dead ReLU unit's weights may stay zero: fc keeps some).
    assert prune.sparsity_report(quantized[False]).zeros < prune.sparsity_report(stripped).zeros / 2


def test_sparse_qat_file_is_fully_integer_and_compresses(pruned, quantized, digits):
    float_model, _, _, stripped = pruned
    images = next(iter(digits.train))[0].numpy()
    buf = convert.convert(quantized[True], mode="int8", calibration=[images], show_progress=False)
    summary = tflite_file.summarize(buf)
    assert summary.fully_integer, [t.name for t in summary.float_tensors]

    file = tflite_file.read(buf)
    graph = file.subgraphs[0]
    for name in PRUNED:
        [weights] = [
            np.asarray(file.buffers[t.buffer].data).view(np.int8)
            for t in graph.tensors
            if t.name.decode().startswith(f"small/quant_{name}/")
            and len(t.shape) > 1
            and t.type == tflite_file.schema.TensorType.INT8
            and file.buffers[t.buffer].data is not None
        ]
        assert np.sum(weights == 0) >= _rows(stripped)[name].zeros, name

    dense = convert.convert(float_model, mode="int8", calibration=[images], show_progress=False)
    assert prune.gzipped_size(buf) < 0.7 * prune.gzipped_size(dense), (
        prune.gzipped_size(buf),
        prune.gzipped_size(dense),
    )


def test_sparse_qat_model_saves_and_loads_its_masks(quantized, digits, tmp_path):
    model = quantized[True]
    model.save(tmp_path / "qat.h5")
    with qat.quantize_scope():
        loaded = tf_keras.models.load_model(tmp_path / "qat.h5", compile=False)
    masks = {w.name: w.numpy() for w in model.weights if "sparsity_mask" in w.name}
    restored = {w.name: w.numpy() for w in loaded.weights if "sparsity_mask" in w.name}
    assert len(masks) == len(PRUNED | DENSE) and not masks["quant_conv2/kernel_sparsity_mask:0"].all()
    assert masks.keys() == restored.keys() and all(np.array_equal(masks[k], restored[k]) for k in masks)
    images = next(iter(digits.test))[0]
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), model.predict(images, verbose=0))


def test_qat_takes_a_stripped_model_and_a_boolean(pruned):
    _, _, wrapped, stripped = pruned
    with pytest.raises(UserError, match=r"still wrapped for pruning \(3 layers.*pass prune.strip"):
        qat.quantize(wrapped, preserve_sparsity=True)
    with pytest.raises(UserError, match="preserve_sparsity must be True or False"):
        qat.quantize(stripped, preserve_sparsity="yes")


# --- the zoo ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", zoo_params(fast=REPRESENTATIVE))
def test_every_zoo_model_prunes_its_convolutions_and_dense_layers(name):
    info = models.info(name)
    resolution = max(info.min_resolution, 64 if info.default_resolution > 224 else 32)
    model = models.build(name, num_classes=10, resolution=resolution, alpha=0.5)
    wrapped = prune.prune(model, target_sparsity=0.5, end_step=1, frequency=1)

    prunable = [layer for layer in model.layers if type(layer) in (tf_keras.layers.Conv2D, tf_keras.layers.Dense)]
    stem = next(layer.name for layer in prunable)
    classifier = prunable[-1].name
    assert _wrapped_names(wrapped) == {layer.name for layer in prunable} - {stem, classifier}
    # Every other layer (ours, depthwise, squeeze-excite) is there as it was, unwrapped.
    assert [(layer.name, type(layer)) for layer in wrapped.layers if type(layer).__name__ != "PruneLowMagnitude"] == [
        (layer.name, type(layer)) for layer in model.layers if layer.name not in _wrapped_names(wrapped)
    ]

    images = np.random.default_rng(0).uniform(0, 255, (2, resolution, resolution, 3)).astype("float32")
    wrapped.compile(optimizer=tf_keras.optimizers.SGD(1e-5), loss="sparse_categorical_crossentropy", run_eagerly=True)
    wrapped.fit(images, np.arange(2), epochs=1, verbose=0, callbacks=prune.callbacks())
    stripped = prune.strip(wrapped)
    rows = _rows(stripped)
    for layer in prunable:
        row = rows[layer.name]
        assert row.zeros == 0 if layer.name in (stem, classifier) else _at_sparsity(row, 0.5), row
    for layer in stripped.layers:
        if isinstance(layer, SqueezeExcite):
            assert np.all(layer.reduce.kernel.numpy() != 0) and np.all(layer.expand.kernel.numpy() != 0)
    del model, wrapped, stripped
    tf_keras.backend.clear_session()
    gc.collect()
