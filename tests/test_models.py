"""The architecture zoo: spec decoding, layers, fidelity to tf_keras.applications, weights, API.

Fidelity is tested for every registered name (parametrized over models.names()):
the keras.applications counterpart is built with the same settings and random
weights (batch-norm statistics and biases randomized too, so that nothing is an
identity), its weights are copied into ours in order, and both must give the
same outputs on the same raw-pixel input.
"""

import mobilekit  # noqa: F401  (first: selects tf_keras before TensorFlow loads)

import dataclasses
import gc
import os
import socket
import time

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from mobilekit import UserError, models
from mobilekit.export.tflite_file import summarize
from mobilekit.models import blocks, efficient, registry, scaling
from mobilekit.models import weights as weight_loading
from mobilekit.models.complexity import count_macs, count_params, macs
from mobilekit.models.layers import HardSigmoid, HardSwish, InputNormalization, SqueezeExcite
from zoo_params import first_of_each_family, zoo_params

ATOL = 1e-5
LAMBDA_LAYERS = {"Lambda", "TFOpLambda", "SlicingOpLambda"}


def is_heavy(name: str) -> bool:
    """Models that take more than a few seconds to build twice (EfficientNet-B1 and up)."""
    return models.info(name).default_resolution > 224


def name_params(names, *, fast=None):
    """Every name; the fast tier builds the first of each family (zoo_params) or `fast`, never an EfficientNet-B1+."""
    return [
        pytest.param(p.values[0], marks=[pytest.mark.slow]) if is_heavy(p.values[0]) else p
        for p in zoo_params(names, fast=fast)
    ]


KERAS_COMPATIBLE = [name for name in models.names() if registry.REGISTRY.get(name).keras is not None]
# ResNet-V2 and DenseNet share residual.py with ResNet, whose fidelity the fast tier checks; their own
# structure has fast tests in tests/test_residual.py.
FIDELITY_FAST = first_of_each_family(KERAS_COMPATIBLE) - {"resnet50_v2", "densenet121"}
COUNTED = [name for name in models.names() if models.info(name).reference_counts is not None]


def test_resolution(name: str) -> int:
    # 40 px exercises odd feature maps (5 -> 3) in the stride-2 padding; the big ones stay at 32.
    return max(models.info(name).min_resolution, 32 if is_heavy(name) else 40)


test_resolution.__test__ = False


def raw_pixels(resolution: int, batch: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (batch, resolution, resolution, 3)).astype("float32")


def keras_input(name: str, pixels: np.ndarray) -> np.ndarray:
    """What the keras counterpart expects: its preprocess_input where it has no preprocessing inside."""
    preprocess = registry.REGISTRY.get(name).keras.preprocess
    return pixels if preprocess is None else preprocess(pixels.copy())


def randomize(model: tf_keras.Model, seed: int = 0) -> None:
    """Random batch-norm / normalization statistics, gammas, betas and biases; kernels as initialized."""
    rng = np.random.default_rng(seed)
    values = []
    for variable, value in zip(model.weights, model.get_weights()):
        leaf = variable.name.split("/")[-1].split(":")[0]
        if value.dtype.kind != "f" or leaf in ("kernel", "depthwise_kernel"):
            values.append(value)
        elif "variance" in leaf or leaf == "gamma":
            values.append(rng.uniform(0.5, 1.5, value.shape).astype(value.dtype))
        else:  # moving_mean, mean, beta, bias
            values.append(rng.normal(0.0, 0.2, value.shape).astype(value.dtype))
    model.set_weights(values)


def build_pair(name: str, **kwargs):
    """(ours, keras counterpart) at the same settings; keras' random weights copied into ours.

    Both are built in float64: the comparison is of structure, and float32
    rounding (ours folds keras' Rescaling + Normalization into one affine)
    grows through EfficientNet-B7's depth to about the tolerance itself.
    """
    entry = registry.REGISTRY.get(name)
    settings = registry.resolve_settings(entry, **kwargs)
    # Same kernels whatever ran before: EfficientNet-B7's 55 blocks with random batch-norm
    # statistics are ill-conditioned enough that some draws differ by 1e-4 even in float64.
    tf_keras.utils.set_random_seed(0)
    floatx = tf_keras.backend.floatx()
    tf_keras.backend.set_floatx("float64")
    try:
        ours = models.build(name, **kwargs)
        reference = entry.keras.build(settings, None)
    finally:
        tf_keras.backend.set_floatx(floatx)
    randomize(reference)
    ours.set_weights(reference.get_weights())
    return ours, reference


def assert_same_outputs(name: str, ours, reference, resolution: int):
    pixels = raw_pixels(resolution).astype(ours.dtype)
    expected = reference(keras_input(name, pixels), training=False).numpy()
    actual = ours(pixels, training=False).numpy()
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, atol=ATOL, rtol=0)
    # Softmax over 1000 classes is small everywhere: check relative agreement too.
    np.testing.assert_allclose(actual, expected, rtol=1e-3, atol=1e-9)


def release(*built):
    del built
    tf_keras.backend.clear_session()
    gc.collect()


@pytest.fixture(scope="module", params=name_params(KERAS_COMPATIBLE, fast=FIDELITY_FAST))
def pair(request):
    """(name, ours, keras reference, resolution), built once per name and shared by its tests."""
    name = request.param
    resolution = test_resolution(name)
    ours, reference = build_pair(name, resolution=resolution, num_classes=1000)
    yield name, ours, reference, resolution
    release(ours, reference)


# ---------------------------------------------------------------------------
# Every registered model


def test_weights_copy_and_outputs_match_keras(pair):
    name, ours, reference, resolution = pair
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]
    assert ours.input_shape == (None, resolution, resolution, 3)
    assert_same_outputs(name, ours, reference, resolution)


def test_param_count_matches_keras(pair):
    """The fixture copied keras' weights shape by shape, so the totals agree; which of them train must too."""
    name, ours, reference, _ = pair
    assert [w.trainable for w in ours.weights] == [w.trainable for w in reference.weights], name
    assert count_params(ours) == count_params(reference)


def test_graph_has_only_real_layers(pair):
    name, ours, _, _ = pair
    kinds = {type(layer).__name__ for layer in ours.layers}
    assert not kinds & LAMBDA_LAYERS, f"{name} has lambda layers: {kinds & LAMBDA_LAYERS}"
    assert type(ours.layers[1]).__name__ == "InputNormalization", "normalization must come first"
    names = [layer.name for layer in ours.layers]
    assert len(names) == len(set(names))


def test_summary_and_macs(pair):
    name, ours, reference, _ = pair
    lines = []
    ours.summary(print_fn=lines.append)
    assert any("Total params" in line for line in lines)
    # Equal weights do not make equal work: strides and feature-map sizes must match keras' too.
    assert count_macs(ours) == count_macs(reference), name


def test_info_and_docstring_name_the_reference(pair):
    name = pair[0]
    info = models.info(name)
    assert info.name == name
    assert info.reference.startswith("tf_keras.applications.")
    assert "arXiv" in info.paper and info.idea and info.description
    builder = registry.REGISTRY.get(name).builder
    assert "Reference: tf_keras.applications." in builder.__doc__


@pytest.mark.parametrize("name", name_params(COUNTED))
def test_counts_match_the_reference_implementation(name):
    """Models without a keras counterpart: trainable parameters exactly, MACs within 0.5% where the reference
    publishes them, at the reference's resolution and classes (224 px and 1000 for the classifiers)."""
    info = models.info(name)
    counts = info.reference_counts
    model = models.build(name, resolution=counts.resolution, num_classes=counts.num_classes)
    assert count_params(model) == counts.params
    if counts.macs is not None:
        assert abs(count_macs(model) - counts.macs) <= 0.005 * counts.macs
    assert "arXiv" in info.paper and info.idea and info.description
    assert info.reference in registry.REGISTRY.get(name).builder.__doc__
    release(model)


# ---------------------------------------------------------------------------
# Knobs, against keras at the same settings


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("mobilenet_v2", dict(alpha=0.35)),
        pytest.param("mobilenet_v2", dict(alpha=1.4), marks=pytest.mark.slow),
        pytest.param("mobilenet_v2", dict(alpha=0.5, include_top=False), marks=pytest.mark.slow),
        pytest.param("mobilenet_v3_large", dict(alpha=0.75), marks=pytest.mark.slow),
        ("mobilenet_v3_small", dict(alpha=0.75, include_top=False)),
        pytest.param("mobilenet_v3_small", dict(alpha=1.3, num_classes=10), marks=pytest.mark.slow),
        pytest.param("efficientnet_b0", dict(num_classes=10, resolution=33), marks=pytest.mark.slow),
        pytest.param("efficientnet_b0", dict(include_top=False), marks=pytest.mark.slow),
        pytest.param("efficientnet_b0", dict(alpha=0.5, num_classes=10), marks=pytest.mark.slow),
        pytest.param("resnet50", dict(include_top=False), marks=pytest.mark.slow),
        pytest.param("resnet101_v2", dict(num_classes=10), marks=pytest.mark.slow),
        pytest.param("densenet121", dict(include_top=False), marks=pytest.mark.slow),
        ("vgg16", dict(include_top=False, resolution=33)),
        ("mobilenet_v1", dict(alpha=0.5, num_classes=7)),
    ],
)
def test_variants_match_keras(name, kwargs):
    kwargs = {"resolution": 48, **kwargs}
    ours, reference = build_pair(name, **kwargs)
    if kwargs.get("include_top", True):
        assert ours.output_shape == (None, kwargs.get("num_classes", 1000))
    else:
        assert len(ours.output_shape) == 4
    assert_same_outputs(name, ours, reference, kwargs["resolution"])
    release(ours, reference)


def test_none_never_overrides_defaults():
    entry = registry.REGISTRY.get("efficientnet_b7")
    settings = registry.resolve_settings(
        entry, alpha=None, resolution=None, num_classes=None, include_top=None, dropout=None
    )
    assert settings == registry.BuildSettings(
        alpha=1.0, resolution=600, num_classes=1000, include_top=True, dropout=0.5
    )
    model = models.build("mobilenet_v3_small", resolution=None, dropout=None)
    assert model.input_shape == (None, 224, 224, 3)
    assert model.get_layer("top_dropout").rate == 0.2
    no_dropout = models.build("mobilenet_v3_small", resolution=32, dropout=0)
    assert "top_dropout" not in [layer.name for layer in no_dropout.layers]


def test_efficientnet_drop_connect_like_keras():
    model = models.build("efficientnet_b0", resolution=32)
    drops = [layer for layer in model.layers if layer.name.endswith("_drop")]
    assert drops and all(layer.noise_shape == (None, 1, 1, 1) for layer in drops)
    reference = tf_keras.applications.EfficientNetB0(weights=None, input_shape=(32, 32, 3))
    keras_drops = {layer.name: layer.rate for layer in reference.layers if layer.name.endswith("_drop")}
    assert {layer.name: layer.rate for layer in drops} == keras_drops


# ---------------------------------------------------------------------------
# API errors


def test_unknown_name_suggests_closest():
    with pytest.raises(UserError) as caught:
        models.build("efficentnet_b0")
    message = str(caught.value)
    assert "'efficientnet_b0'" in message and "Did you mean" in message
    for name in models.names():
        assert name in message
    with pytest.raises(UserError):
        models.info("resnet9000")


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(alpha=0),
        dict(alpha=-1.0),
        dict(alpha=float("nan")),
        dict(alpha="1"),
        dict(resolution=31),
        dict(resolution=16),
        dict(resolution=64.5),
        dict(resolution=True),
        dict(num_classes=0),
        dict(dropout=1.0),
        dict(dropout=-0.1),
        dict(include_top="yes"),
        dict(weights=3),
        dict(weights="imagenett"),
        dict(weights="weights.txt"),
    ],
)
def test_bad_arguments_are_user_errors(kwargs):
    with pytest.raises(UserError):
        models.build("mobilenet_v3_small", **kwargs)


@pytest.mark.parametrize(
    "name, kwargs, needle",
    [
        ("mobilenet_v3_large", dict(alpha=0.5), "alpha"),
        ("mobilenet_v3_small_minimalistic", dict(alpha=0.75), "alpha"),
        ("mobilenet_v2", dict(alpha=0.6), "alpha"),
        ("efficientnet_b0", dict(alpha=0.5), "alpha"),
        ("mobilenet_v3_small", dict(num_classes=10), "1000"),
    ],
)
def test_imagenet_unavailable_for_settings(name, kwargs, needle):
    with pytest.raises(UserError, match=needle):
        models.build(name, weights="imagenet", resolution=32, **kwargs)


# ---------------------------------------------------------------------------
# ImageNet weights through keras' cache


@pytest.fixture
def empty_keras_home(tmp_path, monkeypatch):
    """A HOME whose ~/.keras/models is empty, and no proxy."""
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".keras" / "models").mkdir(parents=True)
    for variable in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path / ".keras" / "models"


def test_imagenet_offline_fails_fast_with_instructions(empty_keras_home, monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    start = time.monotonic()
    with pytest.raises(UserError) as caught:
        models.build("efficientnet_b0", weights="imagenet")
    assert time.monotonic() - start < 5
    message = str(caught.value)
    assert str(empty_keras_home / "efficientnetb0.h5") in message
    assert "--weights none" in message and "--weights PATH" in message
    assert "https://storage.googleapis.com/keras-applications/efficientnetb0.h5" in message


def test_imagenet_probe_gives_up_on_a_silent_network(empty_keras_home, monkeypatch):
    def hang(*args, **kwargs):
        time.sleep(3)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    monkeypatch.setattr(weight_loading, "PROBE_TIMEOUT_S", 0.5)
    start = time.monotonic()
    with pytest.raises(UserError, match="no answer"):
        models.build("mobilenet_v3_small", weights="imagenet", resolution=32)
    assert time.monotonic() - start < 5


def test_imagenet_from_keras_cache(empty_keras_home):
    """A cached keras file (here: random weights in keras' name) is what weights='imagenet' loads."""
    reference = tf_keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, weights=None)
    randomize(reference)
    reference.save_weights(empty_keras_home / "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96.h5")
    ours = models.build("mobilenet_v2", weights="imagenet", alpha=0.35, resolution=96)
    pixels = raw_pixels(96)
    np.testing.assert_allclose(ours(pixels).numpy(), reference(pixels / 127.5 - 1).numpy(), atol=ATOL)
    release(ours, reference)


@pytest.mark.slow
def test_efficientnet_imagenet_correction_is_folded_into_the_weights(empty_keras_home, tmp_path, monkeypatch):
    """keras multiplies by 1/sqrt(stddev) after Normalization with ImageNet weights; ours folds it."""
    from tf_keras.src.applications import efficientnet as keras_efficientnet
    from tf_keras.src.utils import data_utils

    fake = tf_keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(32, 32, 3))
    randomize(fake)
    norm = fake.get_layer("normalization")
    norm.set_weights(
        [
            np.array([0.485, 0.456, 0.406], "float32"),
            np.array(keras_efficientnet.IMAGENET_STDDEV_RGB, "float32"),
            norm.get_weights()[2],
        ]
    )
    cached = empty_keras_home / "efficientnetb0_notop.h5"
    fake.save_weights(cached)
    # keras checks the file against the published hash; hand it our file instead.
    monkeypatch.setattr(data_utils, "get_file", lambda *args, **kwargs: str(cached))
    reference = tf_keras.applications.EfficientNetB0(include_top=False, weights="imagenet", input_shape=(32, 32, 3))
    pixels = raw_pixels(32)
    expected = reference(pixels).numpy()

    ours = models.build("efficientnet_b0", weights="imagenet", include_top=False, resolution=32)
    np.testing.assert_allclose(ours(pixels).numpy(), expected, atol=ATOL)
    # keras' own file given as a path means the same thing.
    from_path = models.build("efficientnet_b0", weights=str(cached), include_top=False, resolution=32)
    np.testing.assert_allclose(from_path(pixels).numpy(), expected, atol=ATOL)
    # The correction travels with our weights.
    saved = tmp_path / "b0.weights.h5"
    ours.save_weights(saved)
    reloaded = models.build("efficientnet_b0", weights=str(saved), include_top=False, resolution=32)
    np.testing.assert_allclose(reloaded(pixels).numpy(), expected, atol=ATOL)
    release(fake, reference, ours, from_path, reloaded)


# ---------------------------------------------------------------------------
# Weight files


@pytest.fixture(scope="module")
def small_model():
    model = models.build("mobilenet_v3_small", resolution=32, num_classes=10)
    randomize(model, seed=1)
    return model


@pytest.mark.parametrize("file_name", ["w.weights.h5", "w.h5", "m.keras"])
def test_weights_from_own_file(small_model, tmp_path, file_name):
    path = tmp_path / file_name
    if file_name.endswith(".keras"):
        small_model.save(path)
    else:
        small_model.save_weights(path)
    loaded = models.build("mobilenet_v3_small", resolution=32, num_classes=10, weights=str(path))
    for ours, theirs in zip(loaded.get_weights(), small_model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    "file_name",
    ["k.h5", pytest.param("k.weights.h5", marks=pytest.mark.slow), pytest.param("k.keras", marks=pytest.mark.slow)],
)
def test_weights_from_keras_counterpart_file(tmp_path, file_name):
    reference = tf_keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, classes=10)
    randomize(reference, seed=2)
    path = tmp_path / file_name
    reference.save(path) if file_name.endswith(".keras") else reference.save_weights(path)
    ours = models.build("mobilenet_v3_small", resolution=32, num_classes=10, weights=path)
    pixels = raw_pixels(32)
    np.testing.assert_allclose(ours(pixels).numpy(), reference(pixels).numpy(), atol=ATOL)


@pytest.mark.slow
def test_weights_file_errors(small_model, tmp_path):
    missing = tmp_path / "missing.weights.h5"
    with pytest.raises(UserError, match="does not exist") as caught:
        models.build("mobilenet_v3_small", resolution=32, weights=str(missing))
    assert str(missing) in str(caught.value)
    path = tmp_path / "ten.weights.h5"
    small_model.save_weights(path)
    with pytest.raises(UserError, match="does not fit") as caught:
        models.build("mobilenet_v3_small", resolution=32, num_classes=12, weights=str(path))
    assert str(path) in str(caught.value) and "12-class" in str(caught.value)
    with pytest.raises(UserError, match="does not fit"):
        models.build("mobilenet_v3_large", resolution=32, num_classes=10, weights=str(path))


# ---------------------------------------------------------------------------
# Serialization


@pytest.mark.slow
def test_keras_save_load_and_clone_round_trip(tmp_path):
    for name in ("mobilenet_v3_small", "efficientnet_b0"):
        model = models.build(name, resolution=32, num_classes=10)
        randomize(model, seed=3)
        pixels = raw_pixels(32)
        expected = model(pixels).numpy()
        path = tmp_path / f"{name}.keras"
        model.save(path)
        loaded = tf_keras.models.load_model(path)
        np.testing.assert_allclose(loaded(pixels).numpy(), expected, atol=1e-6)
        clone = tf_keras.models.clone_model(model)
        clone.set_weights(model.get_weights())
        np.testing.assert_allclose(clone(pixels).numpy(), expected, atol=1e-6)
        assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
        release(model, loaded, clone)


def test_layer_names_are_deterministic():
    first = [layer.name for layer in models.build("efficientnet_b0", resolution=32).layers]
    second = [layer.name for layer in models.build("efficientnet_b0", resolution=32).layers]
    assert first == second
    assert "block2a_dwconv_pad" in first and "block2b_add" in first and "block1a_se" in first


# ---------------------------------------------------------------------------
# Layers


def test_hard_activations_match_formulas():
    x = np.linspace(-8, 8, 161, dtype="float32")
    relu6 = np.clip(x + 3, 0, 6)
    np.testing.assert_allclose(HardSigmoid()(x).numpy(), relu6 / 6, atol=1e-6)
    np.testing.assert_allclose(HardSwish()(x).numpy(), x * relu6 / 6, atol=1e-6)


def test_squeeze_excite_weight_order_and_output():
    layer = SqueezeExcite(4, activation="relu", gate="hard_sigmoid")
    x = raw_pixels(5, seed=4)[..., :3] / 255
    x = np.concatenate([x] * 4, axis=-1)  # 12 channels
    y = layer(x).numpy()
    assert [tuple(w.shape) for w in layer.weights] == [(1, 1, 12, 4), (4,), (1, 1, 4, 12), (12,)]
    assert [w.name.split("/")[-2:] for w in layer.weights] == [
        ["reduce", "kernel:0"],
        ["reduce", "bias:0"],
        ["expand", "kernel:0"],
        ["expand", "bias:0"],
    ]
    reduce_k, reduce_b, expand_k, expand_b = layer.get_weights()
    pooled = x.mean(axis=(1, 2))
    hidden = np.maximum(pooled @ reduce_k[0, 0] + reduce_b, 0)
    gate = np.clip(hidden @ expand_k[0, 0] + expand_b + 3, 0, 6) / 6
    np.testing.assert_allclose(y, x * gate[:, None, None, :], atol=1e-6)
    clone = SqueezeExcite.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_input_normalization_matches_keras_rescaling_and_normalization():
    rng = np.random.default_rng(5)
    mean = rng.uniform(0.3, 0.6, 3).astype("float32")
    variance = rng.uniform(0.01, 0.1, 3).astype("float32")
    inputs = tf_keras.Input((8, 8, 3))
    keras_model = tf_keras.Model(
        inputs, tf_keras.layers.Normalization(axis=-1)(tf_keras.layers.Rescaling(1 / 255)(inputs))
    )
    keras_model.layers[-1].set_weights([mean, variance, np.int64(7)])
    ours = InputNormalization(1 / 255, 0.0, stats=True)
    ours.build((None, 8, 8, 3))
    assert [(w.name.split("/")[-1], tuple(w.shape)) for w in ours.weights] == [
        (w.name.split("/")[-1], tuple(w.shape)) for w in keras_model.layers[-1].weights
    ]
    ours.set_weights(keras_model.layers[-1].get_weights())
    pixels = raw_pixels(8)
    np.testing.assert_allclose(ours(pixels).numpy(), keras_model(pixels).numpy(), atol=ATOL)
    plain = InputNormalization(1 / 127.5, -1.0)
    np.testing.assert_allclose(plain(pixels).numpy(), pixels / 127.5 - 1, atol=1e-6)
    assert plain.weights == []


def _int8_ops(model, resolution):
    def representative():
        for i in range(4):
            yield [raw_pixels(resolution, batch=1, seed=i)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return summarize(converter.convert())


def test_hard_swish_and_normalization_convert_to_int8_ops():
    inputs = tf_keras.Input((16, 16, 3))
    x = InputNormalization(1 / 255, 0.0, stats=True)(inputs)
    x = tf_keras.layers.Conv2D(8, 3)(x)
    x = HardSwish()(x)
    x = SqueezeExcite(4, activation="relu", gate="hard_sigmoid")(x)
    model = tf_keras.Model(inputs, x)
    model.layers[1].set_weights(
        [np.array([0.4, 0.5, 0.6], "float32"), np.array([0.05, 0.06, 0.07], "float32"), np.int64(3)]
    )
    summary = _int8_ops(model, 16)
    assert summary.ops.get("HARD_SWISH") == 1
    assert summary.fully_integer
    assert not {"DIV", "SQRT", "RSQRT", "MAXIMUM"} & set(summary.ops)


@pytest.mark.slow
def test_mobilenet_v3_converts_every_hard_swish():
    model = models.build("mobilenet_v3_small", resolution=32, num_classes=10)
    summary = _int8_ops(model, 32)
    assert summary.fully_integer
    assert summary.ops.get("HARD_SWISH") == sum(isinstance(layer, HardSwish) for layer in model.layers)
    assert not {"DIV", "SQRT", "RSQRT"} & set(summary.ops)


# ---------------------------------------------------------------------------
# Specs, scaling and complexity


def test_make_divisible_matches_keras_and_never_loses_ten_percent():
    from tf_keras.src.applications import mobilenet_v2, mobilenet_v3

    for value in np.arange(1, 2000, 0.37):
        rounded = scaling.make_divisible(value, 8)
        assert rounded % 8 == 0 and rounded >= 0.9 * value
        assert rounded == mobilenet_v2._make_divisible(value, 8) == mobilenet_v3._depth(value)


def test_width_and_depth_modes():
    assert scaling.scale_width(1280, 0.5, "grow_only") == 1280
    assert scaling.scale_width(1280, 1.4, "grow_only") == scaling.make_divisible(1280 * 1.4)
    assert scaling.scale_width(16, 0.35, "fixed") == 16
    assert scaling.scale_width(24, 0.35, "floor_divisible") == scaling.make_divisible(int(24 * 0.35))
    assert scaling.scale_depth(3, 3.1, "ceil") == 10
    with pytest.raises(ValueError):
        scaling.scale_width(8, 1.0, "sideways")


def test_block_strings_round_trip():
    tables = [
        efficient.MOBILENET_V2,
        efficient.MOBILENET_V3_LARGE,
        efficient.MOBILENET_V3_SMALL,
        efficient.minimalistic(efficient.MOBILENET_V3_SMALL),
        efficient.EFFICIENTNET_B0,
        efficient.MNASNET_A1,
        efficient.MNASNET_B1,
        efficient.MIXNET_S,
        efficient.MIXNET_M,
    ]
    for arch in tables:
        for stage in arch.stages:
            for spec in stage:
                assert efficient.decode_block(spec.encode()) == spec
    spec = efficient.decode_block("ir_r1_k3_s1_e88/24_c24_are")
    assert float(spec.expansion) == 88 / 24 and spec.activation == "relu" and spec.se_ratio is None
    assert efficient.decode_block("ir_r2_k5_s2_e6_c40_se0.25").se_ratio == 0.25
    mixed = efficient.decode_block("ir_r3_k3.5.7_s1_e6_c40_se0.5_asw_ge2_gp2")
    assert mixed.kernel == (3, 5, 7) and mixed.expand_groups == 2 and mixed.project_groups == 2
    assert mixed.activation == "swish" and mixed.encode() == "ir_r3_k3.5.7_s1_e6_c40_se0.5_asw_ge2_gp2"


@pytest.mark.parametrize(
    "text",
    [
        "ir_r1_k3_s1_c16",  # ir needs an expansion
        "ds_r1_k3_s1_e6_c16",  # ds has none
        "ir_r1_k3_s1_e6_c16_se0.25_are_r2",  # too many fields
        "ir_r1_k3_s1_e6_c16_x4",  # unknown field
        "ir_r1_r2_k3_s1_e6_c16",  # duplicate
        "ir_r1_k4_s1_e6_c16",  # even kernel
        "ir_r1_k3_s3_e6_c16",  # stride 3
        "ir_r1_k3_s1_e6_c16_se2",  # ratio > 1
        "ir_r1_k3_s1_e6_c16_axx",  # unknown activation
        "mb_r1_k3_s1_e6_c16",  # unknown kind
        "ir_r0_k3_s1_e6_c16",  # no repeats
        "ir_r1_k3.4_s1_e6_c16",  # even mixed kernel
        "ir_r1_k3.3_s1_e6_c16",  # repeated mixed kernel
        "ds_r1_k3_s1_c16_ge2",  # ds has no expansion conv to group
        "ir_r1_k3_s1_e6_c16_gp0",  # zero groups
    ],
)
def test_bad_block_strings(text):
    with pytest.raises(UserError, match="bad block string"):
        efficient.decode_block(text)


def test_only_the_first_block_of_a_stage_strides():
    arch = dataclasses.replace(
        efficient.MOBILENET_V2,
        stages=efficient.stages(("ds_r1_k3_s1_c16",), ("ir_r1_k3_s2_e6_c24", "ir_r1_k3_s2_e6_c24")),
    )
    with pytest.raises(ValueError, match="only the first block of a stage"):
        efficient.plan_blocks(arch)
    planned = efficient.plan_blocks(efficient.EFFICIENTNET_B0)
    assert [b.stride for b in planned if b.prefix.startswith("block2")] == [2, 1]


def test_an_output_stride_dilates_the_blocks_past_it_instead_of_striding():
    arch = dataclasses.replace(efficient.MOBILENET_V3_LARGE, output_stride=16)
    planned = efficient.plan_blocks(arch)
    assert [(b.stride, b.dilation) for b in planned if b.prefix.startswith("block6")] == [(1, 2)] * 3
    assert all(b.dilation == 1 for b in planned if not b.prefix.startswith("block6"))
    settings = dict(alpha=0.35, resolution=64, num_classes=10, include_top=False, dropout=0.0)
    dilated = efficient.build_architecture(arch, name="dilated", **settings)
    plain = efficient.build_architecture(efficient.MOBILENET_V3_LARGE, name="plain", **settings)
    assert dilated.output_shape[1:3] == (4, 4) and plain.output_shape[1:3] == (2, 2)  # 64 / 16 and 64 / 32
    assert dilated.count_params() == plain.count_params()  # dilation moves taps, adds no weights
    assert dilated.get_layer("block6a_dwconv").dilation_rate == (2, 2)
    with pytest.raises(ValueError, match="power of two"):
        efficient.plan_blocks(dataclasses.replace(arch, output_stride=12))


def test_split_channels_gives_the_remainder_to_the_first_group():
    assert blocks.split_channels(10, 3) == [4, 3, 3]
    assert blocks.split_channels(240, 2) == [120, 120]
    with pytest.raises(ValueError):
        blocks.split_channels(2, 3)


@pytest.mark.parametrize("stride", [1, 2])
def test_mixed_depthwise_is_one_depthwise_conv_per_channel_group(stride):
    """MixConv: channels split 4/3/3, kernels 3/5/7, each group convolved alone, concatenated."""
    inputs = tf_keras.Input((9, 9, 10))
    outputs = blocks.depthwise(inputs, (3, 5, 7), stride, name="mix", init="glorot_uniform")
    model = tf_keras.Model(inputs, outputs)
    x = raw_pixels(9, batch=2)[..., :1].repeat(10, axis=-1) * np.linspace(0.5, 1.5, 10, dtype="float32")
    actual = model(x).numpy()
    expected, start = [], 0
    for i, (size, kernel) in enumerate(zip([4, 3, 3], (3, 5, 7))):
        weights = model.get_layer(f"mix_{i}").depthwise_kernel
        assert weights.shape == (kernel, kernel, size, 1)
        part = x[..., start : start + size]
        if stride == 2:
            part = np.pad(part, ((0, 0), *blocks.correct_pad((9, 9), kernel), (0, 0)))
        expected.append(
            tf.nn.depthwise_conv2d(part, weights, (1, stride, stride, 1), "VALID" if stride == 2 else "SAME").numpy()
        )
        start += size
    np.testing.assert_allclose(actual, np.concatenate(expected, axis=-1), atol=1e-4)
    assert actual.shape == (2, 5 if stride == 2 else 9, 5 if stride == 2 else 9, 10)


def test_grouped_pointwise_splits_inputs_and_outputs():
    inputs = tf_keras.Input((4, 4, 7))
    model = tf_keras.Model(inputs, blocks.pointwise(inputs, 9, groups=2, name="pw", init="glorot_uniform"))
    assert [tuple(w.shape) for w in model.weights] == [(1, 1, 4, 5), (1, 1, 3, 4)]
    x = np.random.default_rng(1).normal(size=(1, 4, 4, 7)).astype("float32")
    first, second = (w.numpy()[0, 0] for w in model.weights)
    expected = np.concatenate([x[..., :4] @ first, x[..., 4:] @ second], axis=-1)
    np.testing.assert_allclose(model(x).numpy(), expected, atol=1e-5)


def test_model_options_are_checked_and_reach_the_builder():
    deeper = models.build("mnasnet_a1", resolution=32, num_classes=10, depth_multiplier=2.0)
    plain = models.build("mnasnet_a1", resolution=32, num_classes=10, depth_multiplier=None)
    assert count_params(deeper) > count_params(plain)
    assert len([l for l in deeper.layers if l.name.endswith("project_bn")]) == 2 * 16
    with pytest.raises(UserError, match="depth_multiplier must be > 0"):
        models.build("mnasnet_a1", resolution=32, depth_multiplier=0.0)
    with pytest.raises(UserError, match="must be a float"):
        models.build("mnasnet_a1", resolution=32, depth_multiplier="2")
    with pytest.raises(UserError, match="has no option 'depth_multiplier'"):
        models.build("mobilenet_v2", resolution=32, depth_multiplier=2.0)
    with pytest.raises(UserError, match="publishes no ImageNet weights for mixnet_s"):
        models.build("mixnet_s", weights="imagenet", resolution=32)
    release(deeper, plain)


def test_correct_pad_matches_keras():
    from tf_keras.src.applications import imagenet_utils

    for size in (7, 8, 15, 16):
        for kernel in (3, 5):
            tensor = tf_keras.Input((size, size, 4))
            assert blocks.correct_pad((size, size), kernel) == imagenet_utils.correct_pad(tensor, kernel)


def test_count_macs_rule():
    inputs = tf_keras.Input((8, 8, 3))
    x = tf_keras.layers.Conv2D(16, 3, strides=2, padding="same")(inputs)  # 4x4x16
    x = tf_keras.layers.DepthwiseConv2D(3, padding="same")(x)  # 4x4x16
    x = SqueezeExcite(4)(x)
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    x = tf_keras.layers.Dense(10)(x)
    model = tf_keras.Model(inputs, x)
    expected = 4 * 4 * (3 * 3 * 3 * 16) + 4 * 4 * (3 * 3 * 16) + (16 * 4 + 4 * 16) + 16 * 10
    assert count_macs(model) == expected
    assert macs(16, (3, 3, 3, 16)) == 4 * 4 * 3 * 3 * 3 * 16
    assert count_params(model) == sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize(
    "name, published_macs",
    [
        # Multiply-adds at 224 px as published: MobileNetV2 paper table 3 (300M),
        # MobileNetV3 paper table 3 (Small 56M), EfficientNet paper table 2 (B0 0.39B).
        ("mobilenet_v2", 300e6),
        ("mobilenet_v3_small", 56e6),
        ("efficientnet_b0", 390e6),
    ],
)
def test_macs_near_published(name, published_macs):
    model = models.build(name)
    assert abs(count_macs(model) - published_macs) / published_macs < 0.03
    release(model)
