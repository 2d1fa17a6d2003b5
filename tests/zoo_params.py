"""Zoo-wide tests in two tiers: the first model of each family in the fast tier, every model in the full run.

A family's other members are the same blocks deeper, wider or at a larger
resolution, so building one of each exercises every builder and layer; the
full run (`pytest`, CI) still runs every registered model but the DEEPER
copies through the pipeline (tests/test_models.py checks those against
keras.applications, and scripts/convert_zoo.py and scripts/qat_coverage.py
convert them all). A new family is in the fast tier by being registered. These are the classifiers
(`models.names("classification")`); segmentation models have their own tests.
"""

from __future__ import annotations

import pytest

from mobilekit import models

CLASSES = 10  # the small settings' class count

# Family members that are only deeper or wider copies of one already run, left out of the most expensive
# zoo-wide tests to keep the full run's time (each family keeps its first, shallower members).
DEEPER = frozenset(
    {f"efficientnet_b{i}" for i in range(2, 8)}
    | {"densenet169", "densenet201", "resnet101", "resnet152", "resnet101_v2", "resnet152_v2", "mixnet_l"}
)


def small_settings(name: str) -> dict:
    """The small settings every model is built with in the zoo-wide pipeline tests (tests/test_zoo.py) and
    QAT coverage (scripts/qat_coverage.py, tests/test_qat.py): its smallest workable resolution, at least
    32 px, alpha 0.5, 10 classes."""
    # EfficientNet-B4/B5 trained for a step at 32 px (1x1 feature maps from stage 5 on)
    # crash TensorFlow 2.21's int8 quantizer (a segfault in mlir_quantize); at 64 px they convert.
    smallest = 64 if models.info(name).default_resolution > 224 else 32
    return dict(resolution=max(models.info(name).min_resolution, smallest), alpha=0.5, num_classes=CLASSES)


def first_of_each_family(names=None) -> set[str]:
    """The first name of each family among `names` (default: every registered model), in registry order."""
    firsts: dict[str, str] = {}
    for name in models.names("classification") if names is None else names:
        firsts.setdefault(models.info(name).family, name)
    return set(firsts.values())


def zoo_params(names=None, *, fast=None) -> list:
    """`names` (default: every registered model but the DEEPER copies) as pytest params, all but each
    family's first (or the names in `fast`) marked slow."""
    names = [name for name in models.names("classification") if name not in DEEPER] if names is None else list(names)
    fast = first_of_each_family(names) if fast is None else set(fast)
    return [pytest.param(name, marks=[] if name in fast else [pytest.mark.slow]) for name in names]
