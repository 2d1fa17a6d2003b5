"""mobilekit's int8 files against the plain keras.applications + TFLiteConverter route, measured in one run.

For efficientnet_b0, mobilenet_v2, mobilenet_v3_large and mobilenet_v3_small at
224 px with random weights (weights=None; nothing is downloaded):

  mobilekit    models.build(name, weights=None) -> export.convert(mode="int8") and mode="float32",
               and mode="int8" with keep_hard_swish=True (the file before hard-swish was lowered)
  plain route  tf_keras.applications.<Model>(weights=None) -> TFLiteConverter with
               Optimize.DEFAULT, the same calibration images as representative_dataset,
               TFLITE_BUILTINS_INT8 and uint8 input/output (the documented full-integer
               recipe); where that refuses an op, the default op set (float fallback).

The calibration images are the same raw-pixel batches for both routes
(export.convert.calibration_batches); keras.applications' MobileNetV2 takes
[-1, 1] inputs, so its representative data is those pixels / 127.5 - 1, the
others take raw pixels like mobilekit's models. Both routes' batch-norm
statistics are set from those images first (`batch_norm_from_images`). All
files of all models run interleaved in one mobilekit.runtime.benchmark call
(XNNPACK, 1 and 2 threads), which also reports each file's XNNPACK partitions.

Peak multiply-accumulate rates of this CPU, from /proc/cpuinfo:

  float32: FMA units x fp32 lanes per vector x clock. The vector width is 512 bits
      with avx512f (16 fp32 lanes), 256 with avx2+fma (8 lanes). The number of FMA
      units per core cannot be read from cpuinfo; 2 is assumed (every Intel core since
      Haswell and AMD since Zen 2 issues two FMAs per cycle; some Xeon Bronze/Silver
      parts have one 512-bit unit, which would halve the AVX-512 figure).
  int8: with VNNI (avx512_vnni / avx_vnni), vpdpbusd does 4 u8 x s8 MACs per 32-bit
      lane: 2 units x (width / 8) MACs per cycle (128 for 512 bits). Without VNNI,
      vpmaddubsw gives 2 MACs per 16-bit lane but needs vpmaddwd + vpaddd to widen to
      32 bits on the same ports, so the sustainable rate is about half: width / 8
      MACs per cycle (32 for AVX2).
  clock: the "cpu MHz" cpuinfo reports (nominal; turbo would raise every peak).
  Per thread count: x min(threads, cores).

Achieved GMAC/s is the graph's MACs (tflite_file.complexity, the Keras rule) over
the median latency. Run from the repository root:

    .venv/bin/python scripts/compare_baseline.py          # about 3 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import functools
import os
import pathlib
import sys
import tempfile

import mobilekit  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
import numpy as np

MODELS = ("efficientnet_b0", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small")
APPLICATIONS = {
    "efficientnet_b0": "EfficientNetB0",
    "mobilenet_v2": "MobileNetV2",
    "mobilenet_v3_large": "MobileNetV3Large",
    "mobilenet_v3_small": "MobileNetV3Small",
}
MINUS_ONE_TO_ONE = {"mobilenet_v2"}  # applications models that take [-1, 1] rather than raw pixels
THREADS = (1, 2)


def cpu_peaks(cpuinfo: str | None = None, cores: int | None = None) -> dict:
    """Peak fp32 and int8 GMAC/s per thread count (1 and 2) with the derivation, from /proc/cpuinfo."""
    if cpuinfo is None:
        cpuinfo = pathlib.Path("/proc/cpuinfo").read_text()
    flags, mhz = set(), None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags" and not flags:
            flags = set(value.split())
        elif key.strip() == "cpu MHz" and mhz is None:
            mhz = float(value)
    width = 512 if "avx512f" in flags else 256 if {"avx2", "fma"} <= flags else 128
    units = 2
    fp32 = units * width // 32
    vnni = "avx512_vnni" in flags if width == 512 else "avx_vnni" in flags
    int8 = units * width // 8 if vnni else width // 8
    cores = cores or os.cpu_count() or 1
    ghz = (mhz or 0) / 1000
    how = (
        f"{width}-bit vectors ({'avx512f' if width == 512 else 'avx2+fma' if width == 256 else 'sse'}), "
        f"{units} FMA units assumed: fp32 {units} x {width // 32} lanes = {fp32} MAC/cycle/core; int8 "
        + (
            f"VNNI vpdpbusd {units} x {width // 8} = {int8}"
            if vnni
            else f"no VNNI, vpmaddubsw + vpmaddwd ~ {width} / 8 = {int8}"
        )
        + f" MAC/cycle/core; clock {mhz} MHz (cpuinfo, nominal); {cores} cores"
    )
    return {
        "fp32": {t: fp32 * ghz * min(t, cores) for t in THREADS},
        "int8": {t: int8 * ghz * min(t, cores) for t in THREADS},
        "derivation": how,
    }


def plain_int8(name: str, resolution: int, calibration) -> tuple[bytes, str]:
    """keras.applications model + TFLiteConverter full-integer post-training quantization."""
    import tensorflow as tf
    import tf_keras

    from mobilekit import progress

    model = getattr(tf_keras.applications, APPLICATIONS[name])(weights=None, input_shape=(resolution, resolution, 3))
    scale = (lambda x: x / 127.5 - 1) if name in MINUS_ONE_TO_ONE else (lambda x: x)
    batch_norm_from_images(model, scale(np.concatenate(calibration.batches)))

    def representative():
        for batch in calibration.batches:
            for image in batch:
                yield [scale(image[None].astype("float32"))]

    def convert(builtins_int8: bool) -> bytes:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        if builtins_int8:
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
        with progress.native_stderr_silenced():
            return converter.convert()

    try:
        return convert(True), "TFLITE_BUILTINS_INT8"
    except Exception:  # noqa: BLE001 - the documented fallback: let unquantizable ops stay float
        return convert(False), "default ops (float fallback)"


def batch_norm_from_images(model, images) -> None:
    """Set every batch normalization's statistics to those of `images` (one forward pass, momentum 0).

    Random weights leave MobileNetV3's activations shrinking block by block (at
    224 px the last blocks' ranges are ~1e-6), where hard-swish is x / 2 and
    the lowering folds it away: timing such a file would flatter it. With
    statistics from real images every layer carries signal, as trained
    networks do, and both routes get the same treatment.
    """
    import tf_keras

    norms = [layer for layer in model.submodules if isinstance(layer, tf_keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model(images, training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum


def float_ops(buf: bytes) -> list[str]:
    """Ops that produce a float tensor inside the graph (the I/O excluded)."""
    from mobilekit.export import tflite_file

    summary = tflite_file.summarize(buf)
    floats = {t.index for t in summary.float_tensors}
    model = tflite_file.read(buf)
    return sorted(
        {
            tflite_file.op_name(model, op.opcodeIndex)
            for op in model.subgraphs[0].operators
            if any(o in floats for o in op.outputs)
        }
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--calib-steps", type=int, default=32, help="calibration images, the same for both routes")
    parser.add_argument(
        "--runs",
        type=int,
        default=150,
        help="timed runs per file and thread count (with 50, ratios move by 1-2%% between passes)",
    )
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--keep", type=pathlib.Path, default=None, help="folder to keep the .tflite files in")
    args = parser.parse_args(argv)

    from mobilekit import models, progress
    from mobilekit.export import convert, tflite_file
    from mobilekit.runtime import benchmark

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    folder = args.keep or pathlib.Path(tempfile.mkdtemp(prefix="compare_baseline_"))
    folder.mkdir(parents=True, exist_ok=True)
    paths, notes = {}, {}
    for name in names:
        with progress.stage(f"{name}: building and converting (mobilekit int8 + float32, plain int8)"):
            model = models.build(name, weights=None, resolution=args.resolution)
            calibration = convert.calibration_batches(model, None, args.calib_steps, 0)
            batch_norm_from_images(model, np.concatenate(calibration.batches))
            int8 = functools.partial(
                convert.convert,
                model,
                mode="int8",
                calibration=calibration.batches,
                calibration_steps=args.calib_steps,
                show_progress=False,
            )
            files = {
                "mk_int8": int8(),
                "mk_int8_stock": int8(keep_hard_swish=True),
                "mk_float32": convert.convert(model, mode="float32", show_progress=False),
            }
            files["plain_int8"], notes[name] = plain_int8(name, args.resolution, calibration)
        for kind, buf in files.items():
            path = folder / f"{name}_{kind}.tflite"
            path.write_bytes(buf)
            paths[name, kind] = path

    settings = benchmark.Settings(threads=THREADS, warmup=args.warmup, runs=args.runs)
    report = benchmark.benchmark(list(paths.values()), settings)
    median = {(r.file.path, r.threads): r.latency.median for r in report.results if r.latency}
    gmacs = {(r.file.path, r.threads): r.gmacs_per_s for r in report.results if r.latency}
    partitions = {r.file.path: r.coverage.partitions for r in report.results if r.coverage is not None}
    peaks = cpu_peaks()

    header = (
        "model",
        "thr",
        "mk int8 ms",
        "plain int8 ms",
        "mk/plain",
        "mk int8/fp32",
        "stock hswish int8 ms",
        "mk/stock",
        "int8 GMAC/s (% peak)",
        "fp32 GMAC/s (% peak)",
    )
    rows = []
    for name in names:
        mk, plain, fp = paths[name, "mk_int8"], paths[name, "plain_int8"], paths[name, "mk_float32"]
        stock = paths[name, "mk_int8_stock"]
        for t in THREADS:
            rows.append(
                (
                    name,
                    str(t),
                    f"{median[mk, t]:.2f}",
                    f"{median[plain, t]:.2f}",
                    f"{median[mk, t] / median[plain, t]:.2f}",
                    f"{median[mk, t] / median[fp, t]:.2f}",
                    f"{median[stock, t]:.2f}",
                    f"{median[mk, t] / median[stock, t]:.2f}",
                    f"{gmacs[mk, t]:.1f} ({gmacs[mk, t] / peaks['int8'][t]:.1%})",
                    f"{gmacs[fp, t]:.1f} ({gmacs[fp, t] / peaks['fp32'][t]:.1%})",
                )
            )
    print_table(header, rows)
    print()
    header = ("model", "XNNPACK partitions: mk int8", "stock hswish int8", "plain int8", "mk float32")
    print_table(
        header,
        [
            (
                name,
                *(
                    str(partitions.get(paths[name, kind], "-"))
                    for kind in ("mk_int8", "mk_int8_stock", "plain_int8", "mk_float32")
                ),
            )
            for name in names
        ],
    )
    print()
    header = (
        "model",
        "MMACs",
        "size MB mk/plain",
        "ops mk/plain",
        "fully int mk/plain",
        "plain route",
        "float ops left",
    )
    rows = []
    for name in names:
        mk, plain = paths[name, "mk_int8"].read_bytes(), paths[name, "plain_int8"].read_bytes()
        smk, spl = tflite_file.summarize(mk), tflite_file.summarize(plain)
        left = float_ops(plain)
        rows.append(
            (
                name,
                f"{tflite_file.complexity(mk).macs / 1e6:.1f}",
                f"{len(mk) / 1e6:.2f}/{len(plain) / 1e6:.2f}",
                f"{sum(smk.ops.values())}/{sum(spl.ops.values())}",
                f"{'yes' if smk.fully_integer else 'no'}/{'yes' if spl.fully_integer else 'no'}",
                notes[name],
                ", ".join(left) or "none",
            )
        )
    print_table(header, rows)
    print()
    print(
        f"{report.device['name']}, {report.device['runtime']}, XNNPACK, {args.warmup} warm-up + {args.runs} timed "
        f"runs, all {len(paths)} files interleaved; {args.resolution} px, random weights with batch-norm "
        "statistics from the calibration images, "
        f"{args.calib_steps} calibration images shared by both routes."
    )
    print(f"peaks: {peaks['derivation']}")
    print(
        "       fp32 "
        + ", ".join(f"{t} thr {peaks['fp32'][t]:.0f} GMAC/s" for t in THREADS)
        + "; int8 "
        + ", ".join(f"{t} thr {peaks['int8'][t]:.0f} GMAC/s" for t in THREADS)
    )
    for name in names:
        left = float_ops(paths[name, "plain_int8"].read_bytes())
        if left:
            print(f"note: the keras.applications route leaves float ops in {name}: {', '.join(left)}")
    print(f"files: {folder}")
    return 0


def print_table(header, rows) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for cells in (header, *rows):
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))))
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
