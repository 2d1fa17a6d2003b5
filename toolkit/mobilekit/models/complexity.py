"""Parameter and multiply-accumulate counts.

MACs follow one rule for every weighted layer: one multiply-accumulate per
kernel element per output position, batch 1,

    macs = output positions * prod(kernel shape)

Conv2D kernel (kh, kw, cin, cout), DepthwiseConv2D (kh, kw, c, multiplier),
Dense (in, out) with one output position per vector. The same rule applies to
a .tflite file's CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED ops (filter
tensor shape and output shape), which is why `macs` takes plain numbers; it lives
in mobilekit.counting so that counting a file needs no TensorFlow.
Biases, batch norm, activations, pooling and elementwise ops are not counted.
"""

from __future__ import annotations

import math

import tf_keras

from mobilekit.counting import macs
from mobilekit.models.layers import SqueezeExcite


def count_params(model: tf_keras.Model) -> int:
    """Trainable parameters (batch-norm moving statistics and other state excluded)."""
    return int(sum(math.prod(w.shape) for w in model.trainable_weights))


def _kernels(layer) -> list:
    return [w for w in layer.weights if w.name.split("/")[-1].split(":")[0].endswith("kernel")]


def layer_macs(layer) -> int:
    """MACs of one layer of a built model (0 for layers without multiply-accumulates)."""
    if isinstance(layer, SqueezeExcite):
        # Its convolutions run on the pooled 1x1 map: one position each.
        return macs(1, layer.reduce.kernel.shape) + macs(1, layer.expand.kernel.shape)
    if isinstance(layer, tf_keras.Model):
        return sum(layer_macs(inner) for inner in layer.layers)
    if isinstance(
        layer,
        (
            tf_keras.layers.Conv1D,
            tf_keras.layers.Conv2D,
            tf_keras.layers.Conv3D,
            tf_keras.layers.DepthwiseConv2D,
            tf_keras.layers.SeparableConv2D,
            tf_keras.layers.Dense,
        ),
    ):
        output_shape = layer.output.shape
        positions = math.prod(int(d) for d in output_shape[1:-1]) if len(output_shape) > 2 else 1
        return sum(macs(positions, kernel.shape) for kernel in _kernels(layer))
    return 0


def count_macs(model: tf_keras.Model) -> int:
    """Multiply-accumulates of one forward pass at batch 1 (Conv2D, DepthwiseConv2D, Dense, SE convs)."""
    return int(sum(layer_macs(layer) for layer in model.layers))
