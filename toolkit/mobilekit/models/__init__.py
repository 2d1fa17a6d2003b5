"""The architecture zoo: models.build(name, ...) -> tf_keras.Model taking raw RGB pixels.

    from mobilekit import models
    model = models.build("efficientnet_b0", weights="imagenet")
    models.names()            # every registered name
    models.info("mobilenet_v2")  # family, default resolution, reference

Each depthwise-family model (efficient.py) is weight-compatible with its
tf_keras.applications counterpart; see registry.build for the arguments.
"""

import mobilekit  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from mobilekit.models import efficient  # noqa: F401  (registers the models)
from mobilekit.models.complexity import count_macs, count_params
from mobilekit.models.registry import BuildSettings, ModelInfo, build, info, names

__all__ = ["BuildSettings", "ModelInfo", "build", "count_macs", "count_params", "info", "names"]
