"""ResNet (v1, v2, torchvision layout) and DenseNet: what the registry-wide tests do not cover.

test_models.py already checks, for every name, weight-compatibility with the
keras counterpart (resnet50/101/152, *_v2, densenet*) or the reference counts
(resnet18/34). Here: the config tables, stride and shortcut placement, the
pre-activation order, DenseNet's growth_rate / compression knobs, ImageNet
file names, and int8 conversion of each family. Small resolutions and narrow
widths throughout; built models are shared per module.
"""

import mobilekit  # noqa: F401  (first: selects tf_keras before TensorFlow loads)

import gc

import numpy as np
import pytest
import tf_keras

from mobilekit import UserError, models
from mobilekit.export.convert import convert
from mobilekit.export.tflite_file import summarize
from mobilekit.models import registry, residual
from mobilekit.models.complexity import count_macs
from mobilekit.models.layers import InputNormalization
from mobilekit.models.scaling import scale_width

RESOLUTION = 64
ALPHA = 0.25  # stem 16, stage widths 16/32/64/128 (x4 in bottlenecks)


def raw_pixels(resolution: int, batch: int = 2, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (batch, resolution, resolution, 3)).astype("float32")


def release(*built):
    del built
    tf_keras.backend.clear_session()
    gc.collect()


def parents(model, name: str) -> list[str]:
    """Names of the layers feeding layer `name` (used once in the graph)."""
    inbound = model.get_layer(name).inbound_nodes[0].inbound_layers
    return [layer.name for layer in (inbound if isinstance(inbound, list) else [inbound])]


def children(model, name: str) -> list[str]:
    return [layer.name for layer in model.layers if layer.inbound_nodes and name in parents(model, layer.name)]


def conv_layers(model) -> list:
    return [layer for layer in model.layers if type(layer) is tf_keras.layers.Conv2D]


@pytest.fixture(scope="module")
def built():
    """Narrow models at 64 px, built once: name -> model."""
    cache = {}

    def get(name: str, **kwargs):
        key = (name, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = models.build(name, **{"resolution": RESOLUTION, "alpha": ALPHA, "num_classes": 10, **kwargs})
        return cache[key]

    yield get
    release(*cache.values())


# ---------------------------------------------------------------------------
# The tables


@pytest.mark.parametrize("depth", sorted(residual.RESNET_DEPTHS))
def test_resnet_table_gives_the_named_depth(depth):
    """Weighted layers on the main path (stem conv + units x convs per unit + classifier) = the depth."""
    row = residual.RESNET_DEPTHS[depth]
    convs_per_unit = {"basic": 2, "bottleneck": 3}[row.kind]
    assert 1 + convs_per_unit * sum(row.blocks) + 1 == depth
    for style in (residual.KERAS_V1, residual.KERAS_V2, residual.TORCHVISION):
        assert len(residual.plan_units(row, style)) == sum(row.blocks)


@pytest.mark.parametrize("depth", sorted(residual.DENSENET_BLOCKS))
def test_densenet_table_gives_the_named_depth(depth):
    """Stem conv + 2 convs per dense layer + 3 transition convs + classifier = the depth."""
    blocks = residual.DENSENET_BLOCKS[depth]
    assert 1 + 2 * sum(blocks) + (len(blocks) - 1) + 1 == depth


@pytest.mark.slow
def test_built_models_have_the_table_block_counts(built):
    resnet50 = built("resnet50")
    bottlenecks = [layer for layer in resnet50.layers if layer.name.endswith("_3_conv")]
    assert len(bottlenecks) == 16
    assert [layer.name for layer in bottlenecks][:4] == [
        "conv2_block1_3_conv",
        "conv2_block2_3_conv",
        "conv2_block3_3_conv",
        "conv3_block1_3_conv",
    ]
    resnet18 = built("resnet18")
    assert len([layer for layer in resnet18.layers if layer.name.endswith("_add")]) == 8
    assert not [layer for layer in resnet18.layers if layer.name.endswith("_3_conv")]
    densenet121 = built("densenet121")
    concats = [layer for layer in densenet121.layers if layer.name.endswith("_concat")]
    assert len(concats) == 58
    assert [
        layer.name for layer in densenet121.layers if layer.name.endswith("_pool") and layer.name.startswith("pool")
    ] == ["pool2_pool", "pool3_pool", "pool4_pool"]


def test_registered_names_and_cards():
    expected = {
        "resnet18": "resnet",
        "resnet34": "resnet",
        "resnet50": "resnet",
        "resnet101": "resnet",
        "resnet152": "resnet",
        "resnet50_v2": "resnet_v2",
        "resnet101_v2": "resnet_v2",
        "resnet152_v2": "resnet_v2",
        "densenet121": "densenet",
        "densenet169": "densenet",
        "densenet201": "densenet",
    }
    for name, family in expected.items():
        info = models.info(name)
        entry = registry.REGISTRY.get(name)
        assert info.family == family and info.default_resolution == 224 and info.min_resolution == 32
        assert entry.default_dropout == 0.0
        if family == "densenet":
            assert info.idea == "dense connectivity" and "arXiv:1608.06993" in info.paper
            assert dict(info.options) == {"growth_rate": 32, "compression": 0.5}
        else:
            assert "residual learning" in info.idea
            assert ("arXiv:1603.05027" if family == "resnet_v2" else "arXiv:1512.03385") in info.paper
    assert models.info("resnet18").reference == "torchvision.models.resnet18"
    assert models.info("resnet34").reference_counts == registry.ReferenceCounts(21_797_672, 3_663_761_408)
    assert models.info("resnet152_v2").reference == "tf_keras.applications.ResNet152V2"
    assert models.info("densenet201").reference == "tf_keras.applications.DenseNet201"


def test_resnet50_macs_near_published():
    """He et al. table 1: 3.8 x 10^9 multiply-adds for ResNet-50 at 224 px."""
    model = models.build("resnet50")
    assert abs(count_macs(model) - 3.8e9) / 3.8e9 < 0.03
    release(model)


# ---------------------------------------------------------------------------
# Strides and shortcuts


def test_v1_strides_first_block_and_v2_last_block(built):
    v1, v2 = built("resnet50"), built("resnet50_v2")
    # 64 px: stem + pool -> 16; v1 downsamples entering conv3..conv5, v2 leaving conv2..conv4.
    v1_sizes = [v1.get_layer(f"conv{s}_block{n}_out").output.shape[1] for s, n in ((2, 3), (3, 4), (4, 6), (5, 3))]
    v2_sizes = [v2.get_layer(f"conv{s}_block{n}_out").output.shape[1] for s, n in ((2, 3), (3, 4), (4, 6), (5, 3))]
    assert v1_sizes == [16, 8, 4, 2]
    assert v2_sizes == [8, 4, 2, 2]
    # keras v1 strides in the bottleneck's first 1x1; v2 in its 3x3, padded explicitly.
    assert v1.get_layer("conv3_block1_1_conv").strides == (2, 2)
    assert v1.get_layer("conv3_block1_2_conv").strides == (1, 1)
    assert v2.get_layer("conv2_block3_1_conv").strides == (1, 1)
    assert v2.get_layer("conv2_block3_2_conv").strides == (2, 2)
    assert v2.get_layer("conv2_block3_2_pad").padding == ((1, 1), (1, 1))
    plan = residual.plan_units(residual.RESNET_DEPTHS[50], residual.KERAS_V2)
    assert [unit.name for unit in plan if unit.stride == 2] == ["conv2_block3", "conv3_block4", "conv4_block6"]


@pytest.mark.parametrize("name", ["resnet18", "resnet34"])
def test_torchvision_shortcuts(built, name):
    """Projection (1x1 conv + BN, stride 2) exactly on the first block of stages 3-5; identity elsewhere."""
    model = built(name)
    blocks = residual.RESNET_DEPTHS[int(name[len("resnet") :])].blocks
    projections = sorted(layer.name for layer in model.layers if layer.name.endswith("_0_conv"))
    assert projections == ["conv3_block1_0_conv", "conv4_block1_0_conv", "conv5_block1_0_conv"]
    for prefix in ("conv3_block1", "conv4_block1", "conv5_block1"):
        conv = model.get_layer(f"{prefix}_0_conv")
        assert conv.kernel_size == (1, 1) and conv.strides == (2, 2)
        assert parents(model, f"{prefix}_0_bn") == [f"{prefix}_0_conv"]
        assert parents(model, f"{prefix}_add") == [f"{prefix}_0_bn", f"{prefix}_2_bn"]
        # torchvision's 3x3/2 pads one pixel on every side (TF 'same' would pad bottom/right only).
        assert model.get_layer(f"{prefix}_1_conv").strides == (2, 2)
        assert model.get_layer(f"{prefix}_1_pad").padding == ((1, 1), (1, 1))
    assert parents(model, "conv2_block1_add") == ["pool1_pool", "conv2_block1_2_bn"]
    for stage, count in enumerate(blocks, start=2):
        for i in range(2, count + 1):
            assert parents(model, f"conv{stage}_block{i}_add")[0] == f"conv{stage}_block{i - 1}_out"
    # torchvision's convs have no biases; its batch norms eps 1e-5.
    assert not any(conv.use_bias for conv in conv_layers(model))
    assert {layer.epsilon for layer in model.layers if isinstance(layer, tf_keras.layers.BatchNormalization)} == {1e-5}


def test_keras_v1_every_conv_has_a_bias(built):
    model = built("resnet50")
    assert all(conv.use_bias for conv in conv_layers(model))
    assert parents(model, "conv2_block1_add") == ["conv2_block1_0_bn", "conv2_block1_3_bn"]
    assert parents(model, "conv2_block2_add") == ["conv2_block1_out", "conv2_block2_3_bn"]


def test_v2_pre_activation_order(built):
    model = built("resnet50_v2")
    names = [layer.name for layer in model.layers]
    assert "conv1_bn" not in names and "conv1_relu" not in names  # no activation after the stem conv
    previous = "pool1_pool"
    for unit in residual.plan_units(residual.RESNET_DEPTHS[50], residual.KERAS_V2):
        name = unit.name
        assert parents(model, f"{name}_preact_bn") == [previous]
        assert parents(model, f"{name}_preact_relu") == [f"{name}_preact_bn"]
        assert parents(model, f"{name}_1_conv") == [f"{name}_preact_relu"]
        assert parents(model, f"{name}_3_conv") == [f"{name}_2_relu"]  # linear: no BN, no ReLU after
        shortcut = parents(model, f"{name}_out")[0]
        if name.endswith("_block1"):
            assert shortcut == f"{name}_0_conv" and parents(model, shortcut) == [f"{name}_preact_relu"]
        elif unit.stride == 2:
            assert shortcut == f"{name}_0_pool" and parents(model, shortcut) == [previous]
        else:
            assert shortcut == previous  # identity: the un-activated input
        # The sum is not activated: the next unit's pre-activation (or post_bn) is what reads it.
        assert not any(child.endswith("_relu") and "preact" not in child for child in children(model, f"{name}_out"))
        previous = f"{name}_out"
    assert parents(model, "post_bn") == [previous] and parents(model, "post_relu") == ["post_bn"]
    biased = {conv.name.rsplit("_", 2)[-2] for conv in conv_layers(model) if conv.use_bias}
    unbiased = {conv.name.rsplit("_", 2)[-2] for conv in conv_layers(model) if not conv.use_bias}
    assert biased == {"0", "3", "conv1"} and unbiased == {"1", "2"}


@pytest.mark.slow
def test_feature_maps_without_top(built):
    v1 = built("resnet50", include_top=False)
    assert v1.layers[-1].name == "conv5_block3_out" and v1.output_shape == (None, 2, 2, scale_width(2048, ALPHA))
    v2 = built("resnet50_v2", include_top=False)
    assert v2.layers[-1].name == "post_relu"
    dense = built("densenet121", include_top=False)
    assert dense.layers[-1].name == "relu" and len(dense.output_shape) == 4


def test_alpha_scales_every_width():
    model = models.build("resnet50", alpha=0.5, resolution=32, num_classes=10)
    assert model.get_layer("conv1_conv").filters == 32
    assert model.get_layer("conv5_block3_3_conv").filters == 1024
    assert model.get_layer("conv5_block3_2_conv").filters == 256
    release(model)


def test_dropout_knob_inserts_dropout_before_the_classifier():
    model = models.build("resnet18", alpha=ALPHA, resolution=32, num_classes=10, dropout=0.3)
    assert model.get_layer("top_dropout").rate == 0.3
    assert parents(model, "predictions") == ["top_dropout"]
    plain = models.build("resnet18", alpha=ALPHA, resolution=32, num_classes=10)
    assert "top_dropout" not in [layer.name for layer in plain.layers]
    release(model, plain)


def test_normalization_is_the_references_preprocessing(built):
    pixels = raw_pixels(8, batch=1)
    expected = {
        "resnet50": registry.REGISTRY.get("resnet50").keras.preprocess(pixels.copy()),
        "resnet50_v2": pixels / 127.5 - 1,
        "densenet121": registry.REGISTRY.get("densenet121").keras.preprocess(pixels.copy()),
        "resnet18": (pixels / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]),
    }
    for name, wanted in expected.items():
        layer = built(name).layers[1]
        assert isinstance(layer, InputNormalization) and layer.name == "normalize"
        np.testing.assert_allclose(layer(pixels).numpy(), wanted, rtol=1e-5, atol=1e-4)


# ---------------------------------------------------------------------------
# DenseNet knobs


def _densenet_channels(blocks, stem: int, growth: int, compression: float) -> list[int]:
    """Channels entering each transition and at the end, by the paper's arithmetic."""
    channels, seen = stem, []
    for i, count in enumerate(blocks):
        channels += count * growth
        seen.append(channels)
        if i < len(blocks) - 1:
            channels = int(channels * compression)
    return seen


@pytest.mark.parametrize(
    "options",
    [
        dict(growth_rate=24, compression=0.25),
        pytest.param(dict(growth_rate=12), marks=pytest.mark.slow),
        pytest.param(dict(compression=1.0), marks=pytest.mark.slow),
    ],
)
def test_densenet_growth_rate_and_compression_set_the_widths(options):
    growth = options.get("growth_rate", 32)
    compression = options.get("compression", 0.5)
    model = models.build("densenet121", resolution=32, include_top=False, **options)
    assert model.get_layer("conv2_block1_1_conv").filters == 4 * growth
    assert {layer.filters for layer in conv_layers(model) if layer.name.endswith("_2_conv")} == {growth}
    seen = _densenet_channels(residual.DENSENET_BLOCKS[121], 64, growth, compression)
    for stage, channels in zip((2, 3, 4), seen):
        assert model.get_layer(f"pool{stage}_bn").input_shape[-1] == channels
        assert model.get_layer(f"pool{stage}_conv").filters == int(channels * compression)
    assert model.output_shape[-1] == seen[-1]
    release(model)


def test_densenet_defaults_are_keras_widths(built):
    """k=32, theta=0.5: 256 -> 128, 512 -> 256, 1024 -> 512 at the transitions, 1024 features."""
    assert _densenet_channels(residual.DENSENET_BLOCKS[121], 64, 32, 0.5) == [256, 512, 1024, 1024]
    model = built("densenet121", alpha=1.0, include_top=False)
    assert [model.get_layer(f"pool{s}_conv").filters for s in (2, 3, 4)] == [128, 256, 512]
    assert model.output_shape[-1] == 1024


def test_densenet_alpha_scales_stem_and_growth():
    model = models.build("densenet121", alpha=0.5, resolution=32, include_top=False, growth_rate=12)
    assert model.get_layer("conv1/conv").filters == 32
    assert model.get_layer("conv2_block1_2_conv").filters == 6
    release(model)


@pytest.mark.parametrize(
    "options, needle",
    [
        (dict(growth_rate=0), "growth_rate"),
        (dict(growth_rate=-4), "growth_rate"),
        (dict(growth_rate=2.5), "growth_rate"),
        (dict(compression=0.0), "compression"),
        (dict(compression=-0.5), "compression"),
        (dict(compression=1.5), "compression"),
        (dict(compression="half"), "compression"),
        (dict(bottleneck=4), "bottleneck"),
    ],
)
def test_densenet_bad_options_are_user_errors(options, needle):
    with pytest.raises(UserError, match=needle):
        models.build("densenet121", resolution=32, **options)


def test_densenet_imagenet_only_at_default_options():
    with pytest.raises(UserError, match="default options"):
        models.build("densenet121", weights="imagenet", resolution=32, growth_rate=12)


# ---------------------------------------------------------------------------
# ImageNet weights


@pytest.mark.parametrize(
    "name, stem",
    [
        ("resnet50", "resnet50"),
        ("resnet152", "resnet152"),
        ("resnet101_v2", "resnet101v2"),
        ("densenet169", "densenet169"),
    ],
)
def test_imagenet_file_names_are_keras(name, stem):
    entry = registry.REGISTRY.get(name)
    settings = registry.resolve_settings(entry, resolution=96)
    top = entry.keras.imagenet(settings)
    assert top.file_name == f"{stem}_weights_tf_dim_ordering_tf_kernels.h5"
    folder = "densenet" if name.startswith("densenet") else "resnet"
    assert top.url == f"https://storage.googleapis.com/tensorflow/keras-applications/{folder}/{top.file_name}"
    assert top.settings.resolution == 224  # keras insists on 224 with a top
    notop = entry.keras.imagenet(registry.resolve_settings(entry, include_top=False, num_classes=10))
    assert notop.file_name == f"{stem}_weights_tf_dim_ordering_tf_kernels_notop.h5"


@pytest.mark.parametrize(
    "name, kwargs, needle",
    [
        ("resnet50", dict(alpha=0.5), "alpha"),
        ("resnet50_v2", dict(num_classes=10), "1000"),
        ("densenet121", dict(alpha=0.75, include_top=False), "alpha"),
        ("resnet18", dict(), "torchvision"),
    ],
)
def test_imagenet_unavailable_for_settings(name, kwargs, needle):
    with pytest.raises(UserError, match=needle):
        models.build(name, weights="imagenet", resolution=32, **kwargs)


@pytest.mark.slow
def test_imagenet_weights_load_through_keras(tmp_path, monkeypatch):
    """A cached file in keras' name is what weights='imagenet' loads; outputs match keras on raw pixels."""
    from tf_keras.src.utils import data_utils

    monkeypatch.setenv("HOME", str(tmp_path))
    cache = tmp_path / ".keras" / "models"
    cache.mkdir(parents=True)
    reference = tf_keras.applications.ResNet50V2(include_top=False, weights=None, input_shape=(32, 32, 3))
    rng = np.random.default_rng(0)
    reference.set_weights(
        [w if w.ndim == 4 else rng.uniform(0.5, 1.5, w.shape).astype(w.dtype) for w in reference.get_weights()]
    )
    cached = cache / "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"
    reference.save_weights(cached)
    # keras checks the file against the published hash; hand it ours instead.
    monkeypatch.setattr(data_utils, "get_file", lambda *args, **kwargs: str(cached))
    ours = models.build("resnet50_v2", weights="imagenet", include_top=False, resolution=32)
    pixels = raw_pixels(32)
    np.testing.assert_allclose(ours(pixels).numpy(), reference(pixels / 127.5 - 1).numpy(), rtol=1e-4, atol=1e-4)
    release(ours, reference)


@pytest.mark.slow
def test_densenet_weight_files_round_trip(built, tmp_path):
    """keras' "conv1/conv" style names survive our .weights.h5, .h5 and .keras files."""
    model = built("densenet121")
    pixels = raw_pixels(RESOLUTION, batch=1)
    expected = model(pixels).numpy()
    for file_name in ("d.weights.h5", "d.h5", "d.keras"):
        path = tmp_path / file_name
        model.save(path) if file_name.endswith(".keras") else model.save_weights(path)
        loaded = models.build("densenet121", resolution=RESOLUTION, alpha=ALPHA, num_classes=10, weights=str(path))
        np.testing.assert_array_equal(loaded(pixels).numpy(), expected)


# ---------------------------------------------------------------------------
# Fully-integer TFLite


@pytest.mark.parametrize(
    "name",
    [
        "resnet18",
        pytest.param("resnet50", marks=pytest.mark.slow),
        pytest.param("resnet50_v2", marks=pytest.mark.slow),
        pytest.param("densenet121", marks=pytest.mark.slow),
    ],
)
def test_converts_to_fully_integer_int8(built, name):
    model = built(name)
    buf = convert(model, mode="int8", calibration=[raw_pixels(RESOLUTION, batch=4)], show_progress=False)
    summary = summarize(buf)
    assert summary.fully_integer
    assert summary.ops.get("CONV_2D") == len(conv_layers(model))
    assert not {"DIV", "SQRT", "RSQRT"} & set(summary.ops)
