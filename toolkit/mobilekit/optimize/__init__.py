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
        raise UserError(
            f"{purpose} a tf_keras.Model, got {type(model).__name__}. Build the model with "
            "mobilekit.models.build(...) or tf_keras (not keras 3: importing mobilekit first sets "
            "TF_USE_LEGACY_KERAS=1)."
        )
    if isinstance(model, tf_keras.Sequential) or not getattr(model, "_is_graph_network", False):
        raise UserError(
            f"{purpose} functional models; {model.name!r} is a {type(model).__name__}. Rebuild it "
            "with the functional API (tf_keras.Model(inputs, outputs)); every zoo model is one."
        )


MODEL_SUFFIXES = (".keras", ".h5")


def load_model(path, *, compile: bool = False):
    """A model file any mobilekit stage wrote: a zoo or trained model (.keras), or a pruned or
    quantization-aware one (.h5, inside tfmot's wrappers).

    The zoo's layers and mobilekit's quantization configs are in scope, so this
    works after a bare `import mobilekit`. UserError for a missing file, a
    weights-only file or one Keras cannot read.
    """
    import pathlib

    file = pathlib.Path(path).expanduser()
    if file.name.endswith(".weights.h5"):
        raise UserError(
            f"{file} holds weights only, not a model. Build the model and load them: "
            f"mobilekit.models.build(NAME, weights='{file}', ...) with the settings it was saved with."
        )
    if file.suffix not in MODEL_SUFFIXES:
        raise UserError(
            f"{file} is not a saved Keras model (expected {' or '.join(MODEL_SUFFIXES)}): pass the "
            "best.keras of `mobilekit train` or a model file a recipe stage wrote."
        )
    if not file.is_file():
        raise UserError(f"model file {file} does not exist. Check the path (e.g. RUN/best.keras).")
    import tensorflow_model_optimization as tfmot
    import tf_keras

    from mobilekit import models  # noqa: F401  (registers the zoo's layers with Keras)
    from mobilekit.optimize import qat

    try:
        with tfmot.sparsity.keras.prune_scope(), qat.quantize_scope():
            return tf_keras.models.load_model(str(file), compile=compile)
    except Exception as error:  # noqa: BLE001 -- keras raises many kinds for unreadable files
        lines = str(error).strip().splitlines()
        raise UserError(
            f"cannot load a model from {file}: {(lines[0] if lines else type(error).__name__)[:300]}. "
            "Pass a file saved with model.save(...) by mobilekit or tf_keras."
        ) from error
