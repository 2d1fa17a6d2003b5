"""The architecture zoo: models.build(name, ...) -> tf_keras.Model taking raw RGB pixels.

    from mobilekit import models
    model = models.build("efficientnet_b0", weights="imagenet")
    models.names()            # every registered name
    models.info("mobilenet_v2")  # family, default resolution, reference
    models.check_options("densenet121", {"growth_rate": 24})  # a model's own knobs, without building

The depthwise family (efficient.py: MobileNetV2/V3, MnasNet, MixNet,
EfficientNet) shares one block builder; the classic families (classic.py:
AlexNet, VGG, GoogLeNet, MobileNetV1; residual.py: ResNet, DenseNet) are
config tables over small block functions. Each model either is
weight-compatible with its tf_keras.applications counterpart (one table of
them, with their ImageNet files: keras_counterparts.py; weights.py loads them)
or has the parameter and MAC counts of a named public implementation
(`info(name)`). See registry.build for the arguments.
"""

import mobilekit  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from mobilekit.models import classic, efficient, residual, segmentation  # noqa: F401  (register the models)
from mobilekit.models.classic import strip_aux_heads
from mobilekit.models.complexity import count_macs, count_params
from mobilekit.models.registry import (
    BuildSettings,
    ModelInfo,
    ReferenceCounts,
    build,
    check,
    check_options,
    info,
    names,
    weights_source,
)

__all__ = [
    "BuildSettings",
    "ModelInfo",
    "ReferenceCounts",
    "build",
    "check",
    "check_options",
    "count_macs",
    "count_params",
    "info",
    "names",
    "strip_aux_heads",
    "weights_source",
]
