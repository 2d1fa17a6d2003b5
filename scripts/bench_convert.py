"""Time `mobilekit convert` against the plain TFLiteConverter route, in one run.

    .venv/bin/python scripts/bench_convert.py [--model efficientnet_b0] [--repeats 1]

Both sides run as fresh processes (TensorFlow import included), one after the
other, `repeats` times each, and convert with random weights to full-integer
uint8-io files using 100 calibration images:

* mobilekit: `mobilekit convert --model NAME --int8 --weights none --output X.tflite`
* plain:     tf_keras.applications.<Model>(weights=None) + TFLiteConverter.from_keras_model,
             int8 with the same 100 bundled-photo calibration images

Prints wall times, their ratio, file sizes against parameter counts, and whether
each file is fully integer.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
PLAIN_CONSTRUCTORS = {
    "efficientnet_b0": "EfficientNetB0",
    "mobilenet_v2": "MobileNetV2",
    "mobilenet_v3_large": "MobileNetV3Large",
    "mobilenet_v3_small": "MobileNetV3Small",
}

PLAIN_ROUTE = """
import sys
import mobilekit  # only for TF_USE_LEGACY_KERAS=1 and the same calibration images
import tensorflow as tf, tf_keras
from mobilekit.data import calibration
constructor, resolution, output = sys.argv[1], int(sys.argv[2]), sys.argv[3]
model = getattr(tf_keras.applications, constructor)(weights=None, input_shape=(resolution, resolution, 3))
images = calibration.load(None, resolution, count=100, warn=False)
if constructor == "MobileNetV2":
    images = images / 127.5 - 1.0  # keras' MobileNetV2 expects preprocessed input
def representative():
    for image in images:
        yield [image[None]]
converter = tf.lite.TFLiteConverter.from_keras_model(model)
converter.optimizations = [tf.lite.Optimize.DEFAULT]
converter.representative_dataset = representative
converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
converter.inference_input_type = tf.uint8
converter.inference_output_type = tf.uint8
open(output, "wb").write(converter.convert())
print(model.count_params(), sum(int(tf.size(w)) for w in model.trainable_weights))
"""


def timed(command: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"command failed: {' '.join(command)}\n{done.stderr[-3000:]}")
    return elapsed, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="efficientnet_b0", choices=sorted(PLAIN_CONSTRUCTORS))
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "toolkit"))
    import mobilekit  # noqa: F401
    from mobilekit import models
    from mobilekit.export import tflite_file

    resolution = models.info(args.model).default_resolution
    mobilekit_cli = str(pathlib.Path(sys.executable).with_name("mobilekit"))
    times = {"mobilekit": [], "plain": []}
    with tempfile.TemporaryDirectory() as tmp:
        ours, plain = pathlib.Path(tmp, "mobilekit.tflite"), pathlib.Path(tmp, "plain.tflite")
        for repeat in range(args.repeats):
            seconds, _ = timed(
                [
                    mobilekit_cli,
                    "convert",
                    "--model",
                    args.model,
                    "--int8",
                    "--weights",
                    "none",
                    "--output",
                    str(ours),
                    "--force",
                    "--quiet",
                ]
            )
            times["mobilekit"].append(seconds)
            seconds, out = timed(
                [sys.executable, "-c", PLAIN_ROUTE, PLAIN_CONSTRUCTORS[args.model], str(resolution), str(plain)]
            )
            times["plain"].append(seconds)
            print(f"run {repeat + 1}: mobilekit {times['mobilekit'][-1]:.1f} s, plain {seconds:.1f} s", flush=True)
        _, trainable = (int(v) for v in out.split())
        files = {"mobilekit": ours.read_bytes(), "plain": plain.read_bytes()}

    print(f"\n{args.model} at {resolution}px, int8 with uint8 io, 100 calibration images, {args.repeats} run(s)")
    print(f"{'route':<10} {'wall s':>8} {'size MB':>8} {'bytes/param':>12} {'fully int':>10}  ops")
    for route, buf in files.items():
        summary = tflite_file.summarize(buf)
        print(
            f"{route:<10} {statistics.median(times[route]):>8.1f} {len(buf) / 1e6:>8.2f} "
            f"{len(buf) / trainable:>12.3f} {str(summary.fully_integer):>10}  {sum(summary.ops.values())}"
        )
    ratio = statistics.median(times["mobilekit"]) / statistics.median(times["plain"])
    print(f"wall-time ratio mobilekit / plain: {ratio:.2f}  ({trainable:,} trainable parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
