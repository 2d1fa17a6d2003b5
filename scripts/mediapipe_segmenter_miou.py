"""Mean IoU of a .tflite segmenter as MediaPipe's ImageSegmenter runs it, against `mobilekit eval`'s.

    usage: .venv/bin/python scripts/mediapipe_segmenter_miou.py FILE.tflite [--data digit_scenes]
               [--split test] [--mediapipe-python PY] [--keep DIR]

Saves the split's images at the file's input size as PNGs (so MediaPipe feeds them to the model
unresized), runs scripts/verify_mediapipe.py --segment on them in the MediaPipe venv (PY, default
$MOBILEKIT_MEDIAPIPE_PYTHON or /work/mpvenv/bin/python; `bash scripts/setup_mediapipe_venv.sh` makes
it), scores MediaPipe's category masks against the split's masks, and prints that mean IoU beside the
one `mobilekit eval` computes with the LiteRT interpreter (which resizes the probabilities as MediaPipe's
category mask does: bilinear, corners aligned), and the share of pixels where the two masks agree. Exit status 1 when MediaPipe fails. Writes the figures to DIR/miou.json with --keep DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402

SCRIPT = Path(__file__).resolve().parent / "verify_mediapipe.py"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--data", default="digit_scenes", help="a mask folder or digit_scenes")
    parser.add_argument("--split", default="test")
    parser.add_argument(
        "--mediapipe-python",
        default=os.environ.get("MOBILEKIT_MEDIAPIPE_PYTHON", "/work/mpvenv/bin/python"),
        help="the MediaPipe venv's python",
    )
    parser.add_argument("--keep", type=Path, help="keep the images, masks and miou.json here")
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "toolkit"))
    from PIL import Image

    from mobilekit.data import datasets
    from mobilekit.export import metadata
    from mobilekit.metrics import confusion_matrix, segmentation_scores
    from mobilekit.runtime import segmentation
    from mobilekit.runtime.evaluate import file_input, match_labels
    from mobilekit.runtime.interpreter import TFLiteModel

    buf = args.file.read_bytes()
    info = file_input(buf)
    data = datasets.load(args.data, resolution=info.resolution, task="segmentation", augment=False, shuffle=False)
    pairs = [
        (image, mask) for images, masks in data.split(args.split) for image, mask in zip(images.numpy(), masks.numpy())
    ]
    channels = match_labels(metadata.labels(buf), data.class_names, info.outputs)
    work = args.keep or Path(tempfile.mkdtemp(prefix="mk_mp_miou_"))
    (work / "images").mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (image, _) in enumerate(pairs):
        path = work / "images" / f"{i:04d}.png"
        Image.fromarray(np.clip(np.round(image), 0, 255).astype(np.uint8)).save(path)
        paths.append(str(path))
    run = subprocess.run(
        [args.mediapipe_python, str(SCRIPT), "--segment", str(args.file), *paths, "--masks", str(work / "masks")],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        print(run.stdout[-2000:], run.stderr[-2000:], sep="\n")
        return 1
    # MediaPipe's masks hold the file's channel indices; map them to the data's classes.
    to_class = np.full(info.outputs, 255, np.int64)
    to_class[channels] = np.arange(len(channels))
    tflite = TFLiteModel(buf)
    classes = data.num_classes
    theirs, ours = np.zeros((classes, classes), np.int64), np.zeros((classes, classes), np.int64)
    agree = total = 0
    for i, (image, mask) in enumerate(pairs):
        (found,) = (work / "masks").glob(f"{i:03d}_*.npz")
        mediapipe_mask = to_class[np.load(found)["category_mask"].astype(np.int64)]
        our_mask = segmentation.category_mask(tflite(image)[..., channels], mask.shape)
        theirs += confusion_matrix(mask, mediapipe_mask, classes)
        ours += confusion_matrix(mask, our_mask, classes)
        agree, total = agree + int((mediapipe_mask == our_mask).sum()), total + mask.size
    figures = {
        "file": str(args.file),
        "images": len(pairs),
        "mediapipe_miou": segmentation_scores(theirs)["miou"],
        "mobilekit_eval_miou": segmentation_scores(ours)["miou"],
        "mediapipe_pixel_accuracy": segmentation_scores(theirs)["pixel_accuracy"],
        "mobilekit_eval_pixel_accuracy": segmentation_scores(ours)["pixel_accuracy"],
        "mask_agreement": agree / total,
    }
    figures["difference_points"] = 100 * (figures["mediapipe_miou"] - figures["mobilekit_eval_miou"])
    print(
        f"{args.file} on {data.source} ({args.split}, {len(pairs)} images): mean IoU MediaPipe "
        f"{figures['mediapipe_miou']:.2%}, mobilekit eval {figures['mobilekit_eval_miou']:.2%} "
        f"({figures['difference_points']:+.2f} points); masks agree on {figures['mask_agreement']:.2%} of pixels"
    )
    if args.keep:
        (args.keep / "miou.json").write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
