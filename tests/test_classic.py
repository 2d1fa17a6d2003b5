"""AlexNet, VGG, GoogLeNet, MobileNetV1: what the registry-wide tests in test_models.py do not cover.

GoogLeNet's auxiliary heads and strip_aux_heads, AlexNet's LRN option and its
int8 form, the VGG table, the size arithmetic behind min_resolution, MobileNetV1
at narrow alphas against keras and ImageNet-file rules. Their int8 conversion
is tested with every registered model's in tests/test_zoo.py.
"""

import mobilekit  # noqa: F401  (first: selects tf_keras before TensorFlow loads)

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from mobilekit import UserError, models
from mobilekit.export.convert import convert
from mobilekit.export.tflite_file import summarize
from mobilekit.models import classic, registry
from mobilekit.models.complexity import count_macs, count_params
from mobilekit.models.scaling import scale_width
from test_models import randomize, raw_pixels, release  # shared with the fidelity tests

ATOL = 1e-5


def layer_names(model) -> list[str]:
    return [layer.name for layer in model.layers]


# ---------------------------------------------------------------------------
# GoogLeNet: auxiliary classifiers


@pytest.fixture(scope="module")
def googlenet_aux():
    model = models.build("googlenet", aux_logits=True, resolution=64, num_classes=1000)
    randomize(model, seed=1)
    yield model
    release(model)


def test_googlenet_aux_has_three_outputs_and_torchvision_params(googlenet_aux):
    assert len(googlenet_aux.outputs) == 3
    assert [tuple(output.shape) for output in googlenet_aux.outputs] == [(None, 1000)] * 3
    assert [name.split("/")[0] for name in googlenet_aux.output_names] == [
        "predictions",
        "aux1_predictions",
        "aux2_predictions",
    ]
    assert count_params(googlenet_aux) == 13_004_888
    names = layer_names(googlenet_aux)
    assert names.index("aux1_pool") > names.index("inception4a_concat")
    assert googlenet_aux.get_layer("aux1_pool").input.name.startswith("inception4a_concat")
    assert googlenet_aux.get_layer("aux2_pool").input.name.startswith("inception4d_concat")
    assert googlenet_aux.get_layer("aux1_dropout").rate == classic.AUX_DROPOUT == 0.7


def test_strip_aux_heads_keeps_the_main_path(googlenet_aux):
    stripped = classic.strip_aux_heads(googlenet_aux)
    assert len(stripped.outputs) == 1 and stripped.output_shape == (None, 1000)
    assert count_params(stripped) == 6_624_904 == models.info("googlenet").reference_counts.params
    assert not any(name.startswith("aux") for name in layer_names(stripped))
    # The same variables, not copies: training the three-output model trains the exported one.
    shared = {id(v) for v in googlenet_aux.weights}
    assert all(id(v) in shared for v in stripped.weights)
    pixels = raw_pixels(64)
    main, _, _ = googlenet_aux(pixels, training=False)
    np.testing.assert_allclose(stripped(pixels, training=False).numpy(), main.numpy(), atol=1e-6)
    # Weight layout equals the default (no aux) build: its weights load into the stripped model.
    plain = models.build("googlenet", resolution=64)
    assert [w.shape for w in plain.weights] == [w.shape for w in stripped.weights]
    assert classic.strip_aux_heads(plain) is plain
    release(plain)


@pytest.mark.slow
def test_aux_model_trains_with_the_paper_loss_weights():
    assert classic.AUX_LOSS_WEIGHTS == (1.0, 0.3, 0.3)
    model = models.build("googlenet", aux_logits=True, resolution=64, alpha=0.25, num_classes=4)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", loss_weights=list(classic.AUX_LOSS_WEIGHTS))
    losses = model.train_on_batch(raw_pixels(64), np.array([0, 3]))
    assert len(losses) == 4 and np.all(np.isfinite(losses))  # total, main, aux1, aux2
    total, main, aux1, aux2 = losses
    assert total == pytest.approx(main + 0.3 * aux1 + 0.3 * aux2, rel=1e-4)
    release(model)


def test_aux_pool_is_the_papers_5x5_stride_3_at_14x14():
    assert classic.aux_pool_window(14) == (5, 3)
    for side in range(4, 40):
        pool, stride = classic.aux_pool_window(side)
        assert (side - pool) // stride + 1 == classic.AUX_GRID
    with pytest.raises(ValueError):
        classic.aux_pool_window(3)


def test_googlenet_aux_resolution_and_top_errors():
    smallest = classic.GOOGLENET_AUX_MIN_RESOLUTION
    assert smallest == 63
    assert classic.googlenet_sizes(smallest)["inception4a"] == 4
    assert classic.googlenet_sizes(smallest - 1)["inception4a"] == 3
    with pytest.raises(UserError, match=f">= {smallest}"):
        models.build("googlenet", aux_logits=True, resolution=smallest - 1)
    with pytest.raises(UserError, match="include_top"):
        models.build("googlenet", aux_logits=True, include_top=False, resolution=64)
    model = models.build("googlenet", aux_logits=True, resolution=smallest, alpha=0.25, num_classes=3)
    assert model.get_layer("aux1_pool").output.shape[1:3] == (4, 4)
    release(model)


# ---------------------------------------------------------------------------
# GoogLeNet: geometry


def _ceil_pool_reference(x, size, stride):
    """PyTorch MaxPool2d(ceil_mode=True): windows clipped to the input, the last one starting inside."""
    side = x.shape[1]
    out = classic.ceil_pool_output(side, size, stride)
    y = np.zeros((x.shape[0], out, out, x.shape[3]), x.dtype)
    for i in range(out):
        for j in range(out):
            y[:, i, j] = x[:, i * stride : i * stride + size, j * stride : j * stride + size].max(axis=(1, 2))
    return y


@pytest.mark.parametrize("size, stride", [(3, 2), (2, 2)])
def test_ceil_max_pool_matches_pytorch_ceil_mode(size, stride):
    rng = np.random.default_rng(2)
    for side in range(2, 18):
        if classic.ceil_pool_output(side, size, stride) < 1:
            continue
        x = rng.uniform(0, 1, (1, side, side, 2)).astype("float32")  # after ReLU: non-negative
        inputs = tf_keras.Input((side, side, 2))
        model = tf_keras.Model(inputs, classic.ceil_max_pool(inputs, size, stride, name="pool"))
        np.testing.assert_array_equal(model(x).numpy(), _ceil_pool_reference(x, size, stride))
    # 1 + ceil((112 - 3) / 2) = 56 at 224 px: no padding layer there.
    assert classic.ceil_pool_output(112, 3, 2) == 56 and classic.ceil_pool_output(14, 2, 2) == 7


@pytest.mark.slow
def test_googlenet_sizes_match_the_built_model_and_min_resolution():
    smallest = models.info("googlenet").min_resolution
    assert smallest == classic.GOOGLENET_MIN_RESOLUTION == 15
    assert min(classic.googlenet_sizes(smallest - 1).values()) < 1
    assert classic.googlenet_sizes(224)["inception4a"] == 14
    assert classic.googlenet_sizes(224)["inception5b"] == 7
    for resolution in (smallest, 37, 64):
        model = models.build("googlenet", resolution=resolution, alpha=0.25, include_top=False)
        sizes = classic.googlenet_sizes(resolution)
        for name in ("inception3b", "inception4a", "inception4d", "inception5b"):
            assert model.get_layer(f"{name}_concat").output.shape[1] == sizes[name], (resolution, name)
        assert model.output_shape[1:3] == (sizes["inception5b"],) * 2
        release(model)


def test_googlenet_5x5_branch_is_torchvisions_3x3():
    model = models.build("googlenet", resolution=32, alpha=0.25, num_classes=10)
    assert classic.GOOGLENET_5X5_KERNEL == 3
    for spec in classic.GOOGLENET_MODULES:
        if isinstance(spec, classic.InceptionSpec):
            assert model.get_layer(f"{spec.name}_branch3b_conv").kernel_size == (3, 3)
            assert model.get_layer(f"{spec.name}_concat").output.shape[-1] == sum(
                scale_width(c, 0.25) for c in (spec.ch1x1, spec.ch3x3, spec.ch5x5, spec.pool_proj)
            )
    bns = [layer for layer in model.layers if isinstance(layer, tf_keras.layers.BatchNormalization)]
    assert len(bns) == 3 + 9 * 6 and all(bn.epsilon == 1e-3 for bn in bns)
    convs = [layer for layer in model.layers if isinstance(layer, tf_keras.layers.Conv2D)]
    assert not any(conv.use_bias for conv in convs)
    release(model)


# ---------------------------------------------------------------------------
# AlexNet


@pytest.fixture(scope="module")
def alexnet_pair():
    plain = models.build("alexnet", resolution=63, alpha=0.25, num_classes=10)
    with_lrn = models.build("alexnet", resolution=63, alpha=0.25, num_classes=10, lrn=True)
    yield plain, with_lrn
    release(plain, with_lrn)


def test_alexnet_lrn_layers_and_unchanged_counts(alexnet_pair):
    plain, with_lrn = alexnet_pair
    names = layer_names(with_lrn)
    for conv, pool in (("conv1", "pool1"), ("conv2", "pool2")):
        lrn = with_lrn.get_layer(f"{conv}_lrn")
        assert isinstance(lrn, classic.LocalResponseNormalization)
        assert names.index(f"{conv}_relu") < names.index(f"{conv}_lrn") < names.index(pool)
        assert (lrn.depth_radius, lrn.bias, lrn.alpha, lrn.beta) == (2, 2.0, 1e-4, 0.75)
    assert sum(isinstance(layer, classic.LocalResponseNormalization) for layer in with_lrn.layers) == 2
    assert not any("lrn" in name for name in layer_names(plain))
    assert count_params(with_lrn) == count_params(plain)
    assert count_macs(with_lrn) == count_macs(plain)
    assert [w.shape for w in with_lrn.weights] == [w.shape for w in plain.weights]
    assert models.info("alexnet").options == (("lrn", False),)


def test_alexnet_dropout_before_each_hidden_fc(alexnet_pair):
    plain, _ = alexnet_pair
    names = layer_names(plain)
    assert (
        names.index("flatten")
        < names.index("fc1_dropout")
        < names.index("fc1")
        < names.index("fc1_relu")
        < names.index("fc2_dropout")
        < names.index("fc2")
        < names.index("predictions")
    )
    assert plain.get_layer("fc1_dropout").rate == 0.5
    assert plain.get_layer("conv1").use_bias and plain.get_layer("fc1").use_bias


@pytest.mark.parametrize("beta", [0.75, 0.5, 0.25, 1.0, 0.6])
def test_lrn_matches_tensorflow(beta):
    x = np.random.default_rng(3).normal(0, 40, (2, 5, 5, 11)).astype("float32")
    layer = classic.LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=1e-4, beta=beta)
    expected = tf.nn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-4, beta=beta).numpy()
    np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    clone = classic.LocalResponseNormalization.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config() and layer.weights == []


def test_alexnet_lrn_converts_to_int8_ops(alexnet_pair):
    _, with_lrn = alexnet_pair
    buf = convert(with_lrn, mode="int8", calibration=[raw_pixels(63, batch=4)], show_progress=False)
    summary = summarize(buf)
    assert summary.fully_integer, [t.name for t in summary.float_tensors]
    assert "LOCAL_RESPONSE_NORMALIZATION" not in summary.ops and summary.ops.get("RSQRT") == 4


def test_alexnet_min_resolution_and_flattened_features():
    assert models.info("alexnet").min_resolution == classic.ALEXNET_MIN_RESOLUTION == 63
    assert classic.alexnet_feature_size(63) == 1 and classic.alexnet_feature_size(62) == 0
    assert classic.alexnet_feature_size(224) == 6
    with pytest.raises(UserError, match=">= 63"):
        models.build("alexnet", resolution=62)
    with pytest.raises(UserError, match="lrn"):
        models.build("alexnet", resolution=63, lrn=1)


# ---------------------------------------------------------------------------
# VGG


@pytest.mark.parametrize("name, convs", [("vgg11", 8), ("vgg13", 10), ("vgg16", 13), ("vgg19", 16)])
def test_vgg_table_gives_the_conv_layers(name, convs):
    assert classic.VGG_CONFIGS[name].conv_layers == convs
    model = models.build(name, resolution=32, alpha=0.25, num_classes=10)
    assert sum(isinstance(layer, tf_keras.layers.Conv2D) for layer in model.layers) == convs
    assert sum(isinstance(layer, tf_keras.layers.Dense) for layer in model.layers) == 3
    assert sum(isinstance(layer, tf_keras.layers.MaxPooling2D) for layer in model.layers) == 5
    names = layer_names(model)
    assert names.index("fc1_relu") < names.index("fc1_dropout") < names.index("fc2")
    assert models.info(name).min_resolution == 32
    release(model)


def test_vgg_without_top_is_the_last_feature_map():
    model = models.build("vgg11", resolution=64, alpha=0.25, include_top=False)
    assert model.output_shape == (None, 2, 2, scale_width(512, 0.25))
    assert layer_names(model)[-1] == "block5_pool"
    release(model)


@pytest.mark.parametrize(
    "name, kwargs, needle",
    [
        ("vgg16", dict(resolution=64), "224"),
        ("vgg19", dict(alpha=0.5, include_top=False, resolution=64), "alpha"),
        ("vgg16", dict(num_classes=10, resolution=224), "1000"),
        ("vgg11", dict(resolution=64), "no ImageNet weights"),
        ("mobilenet_v1", dict(alpha=0.3, resolution=64), "alpha"),
    ],
)
def test_imagenet_unavailable_for_settings(name, kwargs, needle):
    with pytest.raises(UserError, match=needle):
        models.build(name, weights="imagenet", **kwargs)


def test_vgg_imagenet_files_are_keras():
    from tf_keras.src.applications import vgg16, vgg19

    for name, module in (("vgg16", vgg16), ("vgg19", vgg19)):
        entry = registry.REGISTRY.get(name)
        top = entry.keras.imagenet(registry.resolve_settings(entry, resolution=224))
        assert top.url == module.WEIGHTS_PATH and top.file_name == f"{name}_weights_tf_dim_ordering_tf_kernels.h5"
        notop = entry.keras.imagenet(registry.resolve_settings(entry, resolution=96, include_top=False))
        assert notop.url == module.WEIGHTS_PATH_NO_TOP and notop.file_name.endswith("_notop.h5")
        assert notop.settings.resolution == 96


# ---------------------------------------------------------------------------
# MobileNetV1


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(alpha=0.25),
        dict(alpha=0.5),
        dict(alpha=0.75, include_top=False),
        dict(alpha=0.5, num_classes=7),
    ],
)
def test_mobilenet_v1_alphas_match_keras(kwargs):
    kwargs = {"resolution": 64, **kwargs}
    entry = registry.REGISTRY.get("mobilenet_v1")
    ours = models.build("mobilenet_v1", **kwargs)
    reference = entry.keras.build(registry.resolve_settings(entry, **kwargs), None)
    randomize(reference)
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]
    ours.set_weights(reference.get_weights())
    pixels = raw_pixels(64)
    expected = reference(pixels / 127.5 - 1.0, training=False).numpy()
    actual = ours(pixels, training=False).numpy()
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, atol=ATOL, rtol=1e-4)
    assert count_params(ours) == count_params(reference)
    release(ours, reference)


def test_mobilenet_v1_keras_names_and_widths():
    model = models.build("mobilenet_v1", resolution=32, alpha=0.75, num_classes=10)
    names = layer_names(model)
    for expected in (
        "conv1",
        "conv1_bn",
        "conv1_relu",
        "conv_pad_2",
        "conv_dw_13",
        "conv_pw_13_relu",
        "conv_preds",
        "predictions",
    ):
        assert expected in names
    assert "conv_pad_3" not in names  # only stride-2 blocks pad
    assert model.get_layer("conv1").filters == int(32 * 0.75)
    assert model.get_layer("conv_pw_13").filters == int(1024 * 0.75)
    assert model.get_layer("dropout").rate == 1e-3
    release(model)
    with pytest.raises(UserError, match="alpha"):
        models.build("mobilenet_v1", resolution=32, alpha=0.01)


@pytest.mark.parametrize(
    "alpha, resolution, include_top, file_name, rows",
    [
        (1.0, 224, True, "mobilenet_1_0_224_tf.h5", 224),
        (0.25, 128, True, "mobilenet_2_5_128_tf.h5", 128),
        (0.5, 160, False, "mobilenet_5_0_160_tf_no_top.h5", 160),
        (0.75, 100, True, "mobilenet_7_5_224_tf.h5", 224),
    ],
)
def test_mobilenet_v1_imagenet_files_are_keras(alpha, resolution, include_top, file_name, rows):
    from tf_keras.src.applications import mobilenet

    entry = registry.REGISTRY.get("mobilenet_v1")
    weights = entry.keras.imagenet(
        registry.resolve_settings(entry, alpha=alpha, resolution=resolution, include_top=include_top)
    )
    assert weights.file_name == file_name and weights.url == mobilenet.BASE_WEIGHT_PATH + file_name
    assert weights.settings.resolution == rows


def test_mobilenet_v1_imagenet_from_keras_cache(tmp_path, monkeypatch):
    """A cached keras file (random weights in keras' name) is what weights='imagenet' loads."""
    monkeypatch.setenv("HOME", str(tmp_path))
    cache = tmp_path / ".keras" / "models"
    cache.mkdir(parents=True)
    reference = tf_keras.applications.MobileNet(input_shape=(128, 128, 3), alpha=0.25, weights=None)
    randomize(reference, seed=4)
    reference.save_weights(cache / "mobilenet_2_5_128_tf.h5")
    ours = models.build("mobilenet_v1", weights="imagenet", alpha=0.25, resolution=128)
    pixels = raw_pixels(128)
    np.testing.assert_allclose(ours(pixels).numpy(), reference(pixels / 127.5 - 1).numpy(), atol=ATOL)
    release(ours, reference)
