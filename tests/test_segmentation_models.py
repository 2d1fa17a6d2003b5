"""LR-ASPP on MobileNetV3 backbones: torchvision's parameters, output strides, int8 conversion."""

import numpy as np
import pytest

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
