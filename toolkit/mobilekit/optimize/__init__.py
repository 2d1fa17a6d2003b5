"""Optimization stages: each takes a tf_keras model and returns one with the same call signature.

    from mobilekit.optimize import distill, prune, qat
    sparse = prune.strip(...)          # magnitude / m-by-n pruning, after fitting prune.prune(model)
    trainer = distill.Distiller(student, teacher)   # knowledge distillation
    trainable = qat.quantize(model)   # quantization-aware training, ready to compile and fit

The stages import the model zoo (for its layer types) but never the export
or runtime stages after them.
"""

import mobilekit  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from mobilekit.errors import UserError


def check_functional(model, purpose: str) -> None:
    """UserError unless `model` is a functional tf_keras model: tfmot clones those layer by layer.

    purpose: what needs it, as the message's subject ("QAT wraps", "prune wraps").
    """
    import tf_keras

    if not isinstance(model, tf_keras.Model):
        raise UserError(f"{purpose} a tf_keras.Model, got {type(model).__name__}. Build the model with "
                        "mobilekit.models.build(...) or tf_keras (not keras 3: importing mobilekit first sets "
                        "TF_USE_LEGACY_KERAS=1).")
    if isinstance(model, tf_keras.Sequential) or not getattr(model, "_is_graph_network", False):
        raise UserError(f"{purpose} functional models; {model.name!r} is a {type(model).__name__}. Rebuild it "
                        "with the functional API (tf_keras.Model(inputs, outputs)); every zoo model is one.")
