"""The one multiply-accumulate rule, shared by Keras models and .tflite files.

Kept free of TensorFlow so that counting a .tflite file (mobilekit bench,
mobilekit inspect) never imports it. `mobilekit.models.complexity` applies it
to Keras layers, `mobilekit.export.tflite_file.complexity` to a file's ops.
"""

from __future__ import annotations

import math


def macs(output_positions: int, kernel_shape) -> int:
    """Multiply-accumulates of one convolution or dense layer: positions * kernel elements."""
    return int(output_positions) * math.prod(int(d) for d in kernel_shape)
