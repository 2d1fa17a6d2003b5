"""Latency of an LR-ASPP segmenter's files: float32 against int8, masks at 1/8 against resized in the graph.

    .venv/bin/python scripts/bench_segmentation.py [--model lraspp_mobilenet_v3_small] [--resolution 512]
        [--weights none|imagenet|FILE] [--classes 21] [--runs 50] [--threads 1] [--output DIR]

Converts the model four ways with `mobilekit convert` (float32 and int8 with uint8 input and output, each with
the class probabilities at 1/8 of the input and with `--option resize_output=true`), then times the four files
in one interleaved `mobilekit bench` run (XNNPACK, one run of each per round) and prints its table; the first
file (float32, 1/8) is the ratio's reference. Give trained weights (a run's best.keras; they load at any
resolution): with random ones the two classifier branches' int8 scales are so far apart that XNNPACK leaves
their ADD to the interpreter, which a trained model's file does not.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
VARIANTS = (
    ("float32_eighth", [], "false"),
    ("int8_eighth", ["--int8"], "false"),
    ("float32_resized", [], "true"),
    ("int8_resized", ["--int8"], "true"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lraspp_mobilenet_v3_small")
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--weights", default="none")
    parser.add_argument("--classes", type=int, default=21)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--threads", default="1")
    parser.add_argument("--output", type=pathlib.Path, help="keep the files and bench.json here")
    args = parser.parse_args()
    cli = str(pathlib.Path(sys.executable).with_name("mobilekit"))
    folder = args.output or pathlib.Path(tempfile.mkdtemp(prefix="mk_bench_seg_"))
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name, flags, resized in VARIANTS:
        path = folder / f"{args.model}_{args.resolution}_{name}.tflite"
        command = [cli, "convert", "--model", args.model, *flags, "--weights", args.weights]
        command += ["--resolution", str(args.resolution), "--num-classes", str(args.classes)]
        command += ["--option", f"resize_output={resized}", "--output", str(path), "--force", "--quiet"]
        print("$", " ".join(command), flush=True)
        subprocess.run(command, check=True, cwd=ROOT)
        files.append(str(path))
    bench = [cli, "bench", *files, "--runs", str(args.runs), "--threads", args.threads]
    bench += ["--json", str(folder / "bench.json"), "--force"]
    print("$", " ".join(bench), flush=True)
    return subprocess.run(bench, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
