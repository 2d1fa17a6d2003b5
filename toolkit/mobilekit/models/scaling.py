"""Channel rounding and the width / depth / resolution multipliers: the one place they live.

Every channel count in the depthwise family goes through `scale_width`, every
repeat count through `scale_depth`. The modes name the rounding each reference
implementation uses, so that layer widths match keras.applications exactly.
EfficientNet's compound scaling of B0 is the table `EFFICIENTNET_SCALES`.
"""

from __future__ import annotations

import dataclasses
import math

WIDTH_MODES = ("divisible", "floor_divisible", "fixed", "grow_only")
DEPTH_MODES = ("ceil", "round")


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round `value` to the nearest multiple of `divisor`, never down by more than 10%.

    The rule of the MobileNet/EfficientNet reference code (keras' `_make_divisible`,
    `_depth`, `round_filters`): round half up to a multiple of `divisor`, at least
    `min_value` (default `divisor`), and add one `divisor` if rounding lost more
    than 10% of `value`.
    """
    if divisor < 1:
        raise ValueError(f"divisor must be >= 1, got {divisor}")
    if min_value is None:
        min_value = divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return int(rounded)


def scale_width(channels: int, multiplier: float, mode: str = "divisible", divisor: int = 8) -> int:
    """Channels of a layer after the width multiplier, rounded the way `mode` says.

    - "divisible":        make_divisible(channels * multiplier)   (MobileNetV3, EfficientNet)
    - "floor_divisible":  make_divisible(int(channels * multiplier))  (MobileNetV2 blocks)
    - "fixed":            channels, whatever the multiplier  (MobileNetV3 stem)
    - "grow_only":        channels unless multiplier > 1, then "divisible"  (MobileNetV2/V3 heads)
    """
    if mode == "divisible":
        return make_divisible(channels * multiplier, divisor)
    if mode == "floor_divisible":
        return make_divisible(int(channels * multiplier), divisor)
    if mode == "fixed":
        return int(channels)
    if mode == "grow_only":
        return int(channels) if multiplier <= 1.0 else make_divisible(channels * multiplier, divisor)
    raise ValueError(f"unknown width mode {mode!r}; expected one of {', '.join(WIDTH_MODES)}")


def scale_depth(repeats: int, multiplier: float, mode: str = "ceil") -> int:
    """Repeats of a block after the depth multiplier: "ceil" (EfficientNet) or "round"."""
    if mode == "ceil":
        return int(math.ceil(multiplier * repeats))
    if mode == "round":
        return max(1, int(round(multiplier * repeats)))
    raise ValueError(f"unknown depth mode {mode!r}; expected one of {', '.join(DEPTH_MODES)}")


@dataclasses.dataclass(frozen=True)
class CompoundScale:
    """EfficientNet's compound scaling of B0 (Tan & Le, 2019, table and keras.applications)."""

    width: float
    depth: float
    resolution: int
    dropout: float


EFFICIENTNET_SCALES = {
    "efficientnet_b0": CompoundScale(1.0, 1.0, 224, 0.2),
    "efficientnet_b1": CompoundScale(1.0, 1.1, 240, 0.2),
    "efficientnet_b2": CompoundScale(1.1, 1.2, 260, 0.3),
    "efficientnet_b3": CompoundScale(1.2, 1.4, 300, 0.3),
    "efficientnet_b4": CompoundScale(1.4, 1.8, 380, 0.4),
    "efficientnet_b5": CompoundScale(1.6, 2.2, 456, 0.4),
    "efficientnet_b6": CompoundScale(1.8, 2.6, 528, 0.5),
    "efficientnet_b7": CompoundScale(2.0, 3.1, 600, 0.5),
}
