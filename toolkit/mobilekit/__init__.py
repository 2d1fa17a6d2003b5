"""mobilekit: efficient convolutional networks, optimized and shipped to phones as TFLite."""

import os

# tensorflow-model-optimization works only on Keras 2 models, so TensorFlow must
# resolve `tf.keras` to tf_keras. This has to happen before TensorFlow is imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mobilekit.errors import UserError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["UserError", "__version__", "load_model"]


def load_model(path, *, compile: bool = False):
    """Read a model that mobilekit saved: `best.keras` of a training run, or a recipe stage's
    pruned or quantization-aware `.h5`. Imports TensorFlow on first use; see
    `mobilekit.optimize.load_model`."""
    from mobilekit.optimize import load_model as load

    return load(path, compile=compile)
