"""Images and labels: folders, bundled real datasets, calibration sets and tf.data pipelines.

`load(source, resolution=...)` (datasets.py) is the entry point for training
and evaluation data; TensorFlow is imported only when a pipeline is built.
"""

from mobilekit.data.datasets import SOURCES, Data, load

__all__ = ["SOURCES", "Data", "load"]
