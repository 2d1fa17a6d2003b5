"""The model `fit` trains: a zoo model with a fresh top and chosen weights, and which of its layers train."""

from __future__ import annotations

import numbers

import numpy as np

from mobilekit.errors import UserError

HEAD_STARTS = ("avg_pool", "flatten", "lraspp_conv", "lraspp_pool")  # classifier tops; the LR-ASPP head
DEFAULT_BN_MOMENTUM = 0.9  # the first layer of every zoo model's classifier top


def build_model(
    name: str,
    *,
    num_classes: int,
    weights=None,
    alpha: float = 1.0,
    resolution: int | None = None,
    dropout: float | None = None,
    bn_momentum: float | None = DEFAULT_BN_MOMENTUM,
    seed: int = 0,
    **options,
):
    """The zoo model `name` with a fresh `num_classes`-class top, ready for `fit`.

    bn_momentum: the momentum of every BatchNormalization layer's moving
      statistics while training; None keeps the zoo's (keras' 0.99 or 0.999,
      made for long ImageNet schedules: after a few epochs on a small dataset
      the moving statistics are still near their initial values and the model
      predicts one class at inference). 0.9 is PyTorch's default (its 0.1).

    weights:
      None / "none": random initialisation (seeded by `seed`), to train from scratch.
      "imagenet": keras.applications' ImageNet weights in the backbone (the
        classifier top is new unless num_classes is 1000), to fine-tune.
      a path: a file for this model with a num_classes top (a best.keras of an
        earlier run, a saved zoo model), or a backbone-only file (include_top=False).
    """
    import tf_keras

    check_bn_momentum(bn_momentum)
    tf_keras.utils.set_random_seed(seed)
    from mobilekit.models.weights import build_with_weights

    model = build_with_weights(
        name, num_classes, weights, dict(alpha=alpha, resolution=resolution, dropout=dropout, **options)
    )
    if bn_momentum is not None:
        for layer in model.submodules:
            if isinstance(layer, tf_keras.layers.BatchNormalization):
                layer.momentum = float(bn_momentum)
    return model


def check_bn_momentum(bn_momentum: float | None) -> None:
    if bn_momentum is not None and (
        isinstance(bn_momentum, bool) or not isinstance(bn_momentum, numbers.Real) or not 0 <= bn_momentum < 1
    ):
        raise UserError(f"bn_momentum must be in [0, 1), got {bn_momentum!r}; e.g. 0.9, or None for the zoo's.")


def classifier_layers(model) -> list:
    """The layers of the model's classifier top (or segmentation head): from the first layer named in
    HEAD_STARTS on.

    Every zoo model's top starts there (global pooling for most families,
    flatten for AlexNet and VGG, the LR-ASPP head's first layers); what comes
    before is the backbone.
    """
    starts = [i for i, layer in enumerate(model.layers) if layer.name in HEAD_STARTS]
    if not starts:
        raise UserError(
            f"cannot tell {model.name}'s classifier from its backbone: no layer named "
            f"{' or '.join(HEAD_STARTS)}. freeze_base works on zoo models (models.build / train.build_model); "
            "for other models set layer.trainable yourself and pass freeze_base=False."
        )
    return model.layers[min(starts) :]


def freeze_backbone(model) -> int:
    """Make only the classifier top trainable; returns the number of trainable parameters.

    Frozen BatchNormalization layers run in inference mode (keras' rule for
    trainable=False), so the backbone's statistics stay as they were.
    """
    head = {id(layer) for layer in classifier_layers(model)}
    for layer in model.layers:
        layer.trainable = id(layer) in head
    return int(sum(np.prod(v.shape) for v in model.trainable_weights))
