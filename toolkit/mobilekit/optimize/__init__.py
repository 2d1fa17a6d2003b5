"""Optimization stages: each takes a tf_keras model and returns one with the same call signature.

    from mobilekit.optimize import qat
    trainable = qat.quantize(model)   # quantization-aware training, ready to compile and fit

The stages import the model zoo (for its layer types) but never the export
or runtime stages after them.
"""

import mobilekit  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
