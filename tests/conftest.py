"""Shared fixtures: small models and real images, built once per session."""

from __future__ import annotations

import mobilekit  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import numpy as np
import pytest


@pytest.fixture(scope="session")
def tiny_classifier():
    """A 32 px, 10-class model that takes raw pixels like every zoo model."""
    import tf_keras

    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((32, 32, 3))
    x = tf_keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = tf_keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x)
    x = tf_keras.layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
    # Over 1024 weights, so dynamic-range quantization has a tensor to quantize.
    x = tf_keras.layers.Conv2D(48, 3, padding="same", activation="relu")(x)
    x = tf_keras.layers.GlobalAveragePooling2D()(x)
    outputs = tf_keras.layers.Dense(10, activation="softmax")(x)
    return tf_keras.Model(inputs, outputs, name="tiny")


@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory):
    """Real photos from scikit-image as files, one in a sub-folder, plus a non-image file."""
    from PIL import Image
    from skimage import data

    folder = tmp_path_factory.mktemp("photos")
    (folder / "nested").mkdir()
    Image.fromarray(data.astronaut()).save(folder / "astronaut.png")
    Image.fromarray(data.coffee()).save(folder / "coffee.jpg")
    Image.fromarray(data.chelsea()).save(folder / "nested" / "chelsea.jpg")
    (folder / "notes.txt").write_text("not an image")
    return folder


@pytest.fixture(scope="session")
def calibration_images():
    from mobilekit.data import calibration

    return calibration.sample(calibration.bundled_photos(), 32, count=16, seed=0)


@pytest.fixture(scope="session")
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def tiny_int8_file(tiny_classifier, calibration_images, tmp_path_factory):
    """tiny_classifier as a fully-integer file with metadata whose labels are the digits' class names."""
    from mobilekit.export import convert, metadata

    flat = convert.convert(tiny_classifier, mode="int8", calibration=[calibration_images], show_progress=False)
    spec = metadata.ModelMetadataSpec(
        name="tiny",
        labels=[str(digit) for digit in range(10)],
        description="A tiny test classifier.",
        version="1",
        author="mobilekit tests",
    )
    path = tmp_path_factory.mktemp("tiny_int8") / "tiny_int8.tflite"
    path.write_bytes(metadata.attach(flat, spec))
    return path


@pytest.fixture(scope="session")
def conv_file(tmp_path_factory):
    """A plain 64 px two-convolution classifier whose cost is its convolutions: halving them is clearly faster."""
    import tf_keras

    from mobilekit import train

    tf_keras.utils.set_random_seed(0)
    inputs = tf_keras.Input((64, 64, 3))
    x = tf_keras.layers.Rescaling(1 / 255.0)(inputs)
    x = tf_keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = tf_keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = tf_keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = tf_keras.layers.Dense(10, activation="softmax")(x)
    path = tmp_path_factory.mktemp("adapt") / "convs.keras"
    train.save_model_atomic(tf_keras.Model(inputs, outputs), path)
    return path


@pytest.fixture(scope="session")
def scene_folder(tmp_path_factory):
    """A segmentation mask folder: 40 digit scenes at 64 px (labels.txt, images/*.png, masks/*.png), and the
    scenes themselves."""
    from PIL import Image

    from mobilekit.data import digit_scenes

    folder = tmp_path_factory.mktemp("scenes")
    scenes = digit_scenes.generate("train", 40, size=64, seed=3)
    (folder / "images").mkdir()
    (folder / "masks").mkdir()
    (folder / "labels.txt").write_text("\n".join(digit_scenes.CLASS_NAMES) + "\n")
    for i, (image, mask) in enumerate(zip(scenes.images, scenes.masks)):
        Image.fromarray(image).save(folder / "images" / f"scene{i:02d}.png")
        Image.fromarray(mask).save(folder / "masks" / f"scene{i:02d}.png")
    return folder, scenes
