"""A recipe run's QAT model against its int8 files, hard-swish lowered (the default) and stock.

    .venv/bin/mobilekit run recipes/quickstart.yaml --output runs/quickstart
    .venv/bin/python scripts/int8_lowering_check.py runs/quickstart

Loads the run's QAT model (the `qat` stage's best.h5) and converts it twice the
way the recipe's export stage does (int8, uint8 I/O, calibration from the
validation split): as mobilekit writes it now (hard-swish as ADD and MUL, the
1/6 folded, export.lowering) and with `keep_hard_swish=True` (TFLite's own
op, the file before the lowering). On the recipe's test split it prints each
file's top-1, the QAT Keras model's, how often each file's class equals the
QAT model's, and how XNNPACK splits each file.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys

import mobilekit  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=pathlib.Path, help="a recipe's output folder with a qat stage")
    parser.add_argument("--calibration-steps", type=int, default=200)
    args = parser.parse_args(argv)

    from mobilekit.progress import import_tensorflow_quietly

    import_tensorflow_quietly()
    from mobilekit import load_model
    from mobilekit.data import datasets
    from mobilekit.export import convert
    from mobilekit.runtime import coverage
    from mobilekit.runtime.interpreter import TFLiteModel

    results = json.loads((args.run / "results.json").read_text())
    (qat,) = [s for s in results["stages"] if s["stage"] == "qat"]
    model = load_model(args.run / qat["artifact"])
    spec = results["recipe"]["data"]
    resolution = model.input_shape[1]
    data = datasets.load(
        spec["source"],
        resolution=resolution,
        batch_size=64,
        seed=spec["seed"],
        validation_split=spec["validation_split"],
        test_split=spec["test_split"],
        augment=False,
        shuffle=False,
        show_progress=False,
    )

    def arrays(split):
        pairs = [(images.numpy(), labels.numpy()) for images, labels in data.split(split)]
        return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])

    calibration, _ = arrays("validation" if data.validation is not None else "train")
    images, truth = arrays("test")
    calibration = calibration[: args.calibration_steps]
    keras_classes = model.predict(images, batch_size=64, verbose=0).argmax(1)
    print(
        f"{args.run}: QAT Keras model, test split ({len(images)} images): top-1 {np.mean(keras_classes == truth):.1%}"
    )
    for label, keep in (("lowered (default)", False), ("stock HARD_SWISH", True)):
        buf = convert.convert(
            model, mode="int8", calibration=[calibration], io="uint8", keep_hard_swish=keep, show_progress=False
        )
        file = TFLiteModel(buf)
        classes = np.array([file(image).argmax() for image in images])
        print(
            f"  int8 {label:<18} top-1 {np.mean(classes == truth):.1%}, same class as the QAT model on "
            f"{np.mean(classes == keras_classes):.1%}; {coverage.xnnpack_coverage(buf).describe()}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
