"""Make the models that scripts/verify_mediapipe.py checks: a tiny real classifier with metadata.

    usage: .venv/bin/python scripts/mediapipe_demo_models.py OUT_DIR

Trains a small network for three classes (tabby cat, astronaut, coffee) on
random crops of scikit-image's photos chelsea, astronaut and coffee (about half
a minute on two CPU cores), converts it twice with TFLiteConverter (float32;
int8 with uint8 input and output, calibrated on the crops), attaches TFLite
Metadata with `mobilekit.export.metadata.attach` and writes into OUT_DIR:

    float32_metadata.tflite, int8_metadata.tflite   the models with metadata
    chelsea.png, astronaut.png, coffee.png           the photos, to classify

It prints the LiteRT interpreter's top class for each photo (resized whole to
the input size), to compare with what MediaPipe prints for the same files.
Like every mobilekit model, the network takes raw RGB pixels in [0, 255] and
normalizes in-graph, so the metadata says mean 0, std 1.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

SIZE = 48
PHOTOS = {"chelsea": "tabby cat", "astronaut": "astronaut", "coffee": "coffee"}


def photos() -> dict[str, np.ndarray]:
    import skimage.data

    return {name: getattr(skimage.data, name)()[..., :3] for name in PHOTOS}


def crops(images: list[np.ndarray], per_image: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random crops (60-100% of each side, whole image included) resized to SIZE, random flips."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for label, img in enumerate(images):
        h, w = img.shape[:2]
        for i in range(per_image):
            if i == 0:
                top, left, ch, cw = 0, 0, h, w
            else:
                ch, cw = int(h * rng.uniform(0.6, 1.0)), int(w * rng.uniform(0.6, 1.0))
                top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            crop = Image.fromarray(img[top : top + ch, left : left + cw]).resize((SIZE, SIZE), Image.BILINEAR)
            arr = np.asarray(crop, dtype=np.float32)
            xs.append(arr[:, ::-1] if rng.random() < 0.5 else arr)
            ys.append(label)
    return np.stack(xs), np.asarray(ys)


def main(out_dir: str) -> int:
    import tensorflow as tf
    import tf_keras as keras
    from mobilekit.export import metadata

    os.makedirs(out_dir, exist_ok=True)
    images = photos()
    for name, img in images.items():
        Image.fromarray(img).save(os.path.join(out_dir, f"{name}.png"))

    keras.utils.set_random_seed(0)
    x, y = crops(list(images.values()), per_image=120, seed=0)
    model = keras.Sequential(
        [
            keras.layers.InputLayer((SIZE, SIZE, 3)),
            keras.layers.Rescaling(1 / 127.5, offset=-1.0),
            keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(len(PHOTOS), activation="softmax"),
        ]
    )
    model.compile(keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x, y, epochs=15, batch_size=32, verbose=2)

    def representative():
        for sample in x[::4]:
            yield [sample[None]]

    converters = {"float32": tf.lite.TFLiteConverter.from_keras_model(model)}
    int8 = tf.lite.TFLiteConverter.from_keras_model(model)
    int8.optimizations = [tf.lite.Optimize.DEFAULT]
    int8.representative_dataset = representative
    int8.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    int8.inference_input_type = tf.uint8
    int8.inference_output_type = tf.uint8
    converters["int8"] = int8

    spec = metadata.ModelMetadataSpec(
        name="mobilekit photo demo",
        labels=tuple(PHOTOS.values()),
        description="Tiny 3-class classifier of scikit-image photos, to check TFLite Metadata.",
        version="1",
        author="mobilekit",
        license="Apache-2.0",
    )
    from ai_edge_litert.interpreter import Interpreter

    for kind, converter in converters.items():
        data = metadata.attach(converter.convert(), spec)
        path = os.path.join(out_dir, f"{kind}_metadata.tflite")
        with open(path, "wb") as f:
            f.write(data)
        interp = Interpreter(model_content=data)
        interp.allocate_tensors()
        inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
        print(f"{path}: {len(data)} bytes, labels {metadata.labels(data)}")
        for name, img in images.items():
            resized = np.asarray(Image.fromarray(img).resize((SIZE, SIZE), Image.BILINEAR))
            interp.set_tensor(inp["index"], resized[None].astype(inp["dtype"]))
            interp.invoke()
            scores = interp.get_tensor(out["index"])[0].astype(np.float32)
            if out["dtype"] != np.float32:
                scale, zero = out["quantization"]
                scores = (scores - zero) * scale
            best = int(np.argmax(scores))
            print(f"  LiteRT {name}.png -> {spec.labels[best]} ({scores[best]:.3f})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
