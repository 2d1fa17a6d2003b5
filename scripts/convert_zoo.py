"""Run `mobilekit convert --int8 --weights none` for every registered model and tabulate the files.

    .venv/bin/python scripts/convert_zoo.py [--resolution 96] [--name NAME ...] [--keep DIR]

Each model converts in a fresh `mobilekit` process, exactly as a user types
it (the bundled calibration photos, 100 steps unless --calib-steps). Prints,
per model: exit status, wall time, file size, whether the file is fully
integer, and its op count; exits 1 if any conversion failed.
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=96)
    parser.add_argument("--calib-steps", type=int, default=100)
    parser.add_argument("--name", action="append", default=None, help="only these models (repeatable)")
    parser.add_argument("--keep", type=pathlib.Path, default=None, help="keep the files in this folder")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "toolkit"))
    from mobilekit import models
    from mobilekit.export import tflite_file

    names = args.name or models.names()
    cli = str(pathlib.Path(sys.executable).with_name("mobilekit"))
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or pathlib.Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"{'model':<34} {'status':>6} {'wall s':>7} {'size MB':>8} {'fully int':>9} {'ops':>5}", flush=True)
        for name in names:
            output = folder / f"{name}_int8_{args.resolution}.tflite"
            start = time.perf_counter()
            done = subprocess.run(
                [
                    cli,
                    "convert",
                    "--model",
                    name,
                    "--int8",
                    "--weights",
                    "none",
                    "--resolution",
                    str(args.resolution),
                    "--calib-steps",
                    str(args.calib_steps),
                    "--output",
                    str(output),
                    "--force",
                    "--quiet",
                ],
                capture_output=True,
                text=True,
            )
            seconds = time.perf_counter() - start
            if done.returncode != 0:
                failures += 1
                last = (done.stderr.strip().splitlines() or ["?"])[-1]
                print(f"{name:<34} {'FAIL':>6} {seconds:>7.1f}  {last[:120]}", flush=True)
                continue
            summary = tflite_file.summarize(output.read_bytes())
            print(
                f"{name:<34} {'ok':>6} {seconds:>7.1f} {summary.size_bytes / 1e6:>8.2f} "
                f"{str(summary.fully_integer):>9} {sum(summary.ops.values()):>5}",
                flush=True,
            )
    print(f"{len(names) - failures} of {len(names)} converted")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
