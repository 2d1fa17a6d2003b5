"""What mobilekit's models take and its files hold, as plain data: no TensorFlow behind an import.

Every stage that names a conversion mode, an int8 file's input/output type or
the range of the pixels a model takes reads it here, so the CLI, recipes,
QAT and the converter cannot drift apart.
"""

from __future__ import annotations

# Every zoo model takes raw RGB pixels and normalizes inside its graph; int8 files pin their
# integer input onto this range (a uint8 input value is the pixel value) and QAT starts the
# input's fake quantization there.
PIXEL_RANGE = (0.0, 255.0)

# Conversion modes, the default first: full integer, float16 weights, dynamic-range, float.
MODES = ("int8", "fp16", "dynamic", "float32")

# The input and output type of an int8 file.
IO_TYPES = ("uint8", "int8", "float32")
