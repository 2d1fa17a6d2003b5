"""mobilekit: efficient convolutional networks, optimized and shipped to phones as TFLite."""

import os

# tensorflow-model-optimization works only on Keras 2 models, so TensorFlow must
# resolve `tf.keras` to tf_keras. This has to happen before TensorFlow is imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mobilekit.errors import UserError  # noqa: E402

__version__ = "0.1.0"
__all__ = ["UserError", "__version__"]
