"""LR-ASPP on MobileNetV3 backbones: torchvision's parameters, output strides, int8 conversion."""

import numpy as np
import pytest
import tf_keras

from mobilekit import UserError, models
from mobilekit.models import efficient, segmentation


def _lraspp(backbone, **settings):
    defaults = dict(name="lraspp", alpha=1.0, resolution=64, num_classes=21)
    return segmentation.build_lraspp(backbone, **{**defaults, **settings})


def _trainable(model) -> int:
    return int(sum(np.prod(weight.shape) for weight in model.trainable_weights))


def test_large_has_torchvisions_parameters_and_small_its_head_on_the_small_features():
    # torchvision.models.segmentation.lraspp_mobilenet_v3_large(num_classes=21): 3,221,538. Small: its
    # 927,008 feature parameters + the head on 24 (stride 8) and 576 channels = 150,946.
    assert _trainable(_lraspp(efficient.MOBILENET_V3_LARGE)) == 3_221_538
    assert _trainable(_lraspp(efficient.MOBILENET_V3_SMALL)) == 927_008 + 150_946


@pytest.mark.parametrize(
    ("dilated", "resize_output", "side"), [(True, False, 12), (False, False, 12), (True, True, 96)]
)
def test_class_probabilities_per_pixel_at_an_eighth_or_the_input(dilated, resize_output, side):
    model = _lraspp(
        efficient.MOBILENET_V3_SMALL,
        alpha=0.35,
        resolution=96,
        num_classes=11,
        dilated=dilated,
        resize_output=resize_output,
    )
    assert segmentation.low_block(efficient.MOBILENET_V3_SMALL) == "block2b_"
    assert model.get_layer("block5a_dwconv").dilation_rate == ((2, 2) if dilated else (1, 1))
    probabilities = model(np.random.default_rng(0).uniform(0, 255, (2, 96, 96, 3)).astype("float32")).numpy()
    assert probabilities.shape == (2, side, side, 11)
    assert np.allclose(probabilities.sum(axis=-1), 1.0, atol=1e-5)


def test_registered_as_segmentation_models_with_their_backbones():
    assert models.names("segmentation") == ["lraspp_mobilenet_v3_large", "lraspp_mobilenet_v3_small"]
    assert not set(models.names("segmentation")) & set(models.names("classification"))
    assert models.names() == models.names("classification") + models.names("segmentation")
    info = models.info("lraspp_mobilenet_v3_small")
    assert (info.task, info.backbone, info.imagenet_weights) == ("segmentation", "mobilenet_v3_small", True)
    assert dict(info.options) == {"dilated": True, "resize_output": False}
    model = models.build("lraspp_mobilenet_v3_small", alpha=0.35, resolution=64, num_classes=5, resize_output=True)
    assert model.output_shape == (None, 64, 64, 5)
    with pytest.raises(UserError, match="no classifier top"):
        models.build("lraspp_mobilenet_v3_small", resolution=64, include_top=False)
    with pytest.raises(UserError, match="option dilated must be a bool"):
        models.build("lraspp_mobilenet_v3_small", resolution=64, dilated=1)


def test_imagenet_weights_fill_the_backbone(tmp_path, monkeypatch):
    """A cached keras no-top file (random weights under keras' name) loads into the backbone, layer by name.
    keras checks MobileNetV3 files against their published hash; this stand-in cannot match it."""
    from tf_keras.src.utils import data_utils

    monkeypatch.setattr(data_utils, "validate_file", lambda *args, **kwargs: True)
    monkeypatch.setenv("HOME", str(tmp_path))
    cache = tmp_path / ".keras" / "models"
    cache.mkdir(parents=True)
    keras_backbone = tf_keras.applications.MobileNetV3Small(input_shape=(224, 224, 3), include_top=False, weights=None)
    rng = np.random.default_rng(0)
    keras_backbone.set_weights([rng.normal(0, 0.1, w.shape).astype("float32") for w in keras_backbone.get_weights()])
    keras_backbone.save_weights(cache / "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5")

    classifier = models.build("mobilenet_v3_small", weights="imagenet", include_top=False, resolution=64)
    segmenter = models.build("lraspp_mobilenet_v3_small", weights="imagenet", resolution=64, num_classes=3)
    loaded = [layer for layer in classifier.layers if layer.weights]
    assert len(loaded) > 50
    for layer in loaded:
        for ours, theirs in zip(segmenter.get_layer(layer.name).get_weights(), layer.get_weights()):
            np.testing.assert_array_equal(ours, theirs)
    fresh = models.build("lraspp_mobilenet_v3_small", resolution=64, num_classes=3)
    kernel = "block1a_dwconv"
    assert not np.array_equal(fresh.get_layer(kernel).get_weights()[0], segmenter.get_layer(kernel).get_weights()[0])
