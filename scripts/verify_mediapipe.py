"""Run MediaPipe Tasks' ImageClassifier (or ImageSegmenter) on images, to check a .tflite's metadata.

MediaPipe reads the file's TFLite Metadata: the input's normalization and the
output's labels file. A file it loads, whose results carry category names from
our labels, is a file phone apps can drop in. This script imports neither
mobilekit nor TensorFlow: MediaPipe pins a newer absl-py than
tensorflow-model-optimization allows, so it runs in a venv of its own.
With --task-library it uses the TFLite Task Library's ImageClassifier
(tflite-support 0.4.4, a third venv: it pins protobuf<4) instead.

    usage: verify_mediapipe.py FILE.tflite IMAGE... [--top K] [--json OUT.json] [--task-library]
           verify_mediapipe.py --segment FILE.tflite IMAGE... --masks DIR [--confidence] [--json OUT.json]

Exit status 0 when the model loads and every image gets categories with names;
1 otherwise (the error is printed).

With --segment it runs MediaPipe's ImageSegmenter instead (category mask requested) and
writes, for the n-th image, DIR/<nnn>_<image stem>.npz holding ``category_mask`` (uint8, the
image's height x width, the class index of each pixel) and, with --confidence,
``confidence_masks`` (float32, height x width x classes); the JSON summary (DIR/summary.json,
and --json) names the labels MediaPipe read from the file and each image's mask file and class
pixel counts, so a caller can compute mIoU against its own ground truth. Exit status 0 when the
model loads and MediaPipe reports the file's labels; 1 otherwise (the error is printed).

What MediaPipe 1.2.2 does with a segmenter's output (scripts/mediapipe_segmenter_check.py
measures it): a uint8 output is dequantized; the category mask is the argmax of the class
scores resized bilinearly with corners aligned (not half-pixel centres) to the image's size;
confidence masks are resized with half-pixel centres (OpenCV INTER_LINEAR). Images of the
model's input size reach the model unresized, others are stretched to it. To compare masks
with a reference, feed images of the model's input size.

Reproduce the check (from the repository root; a float and an int8 uint8-io
model, both with metadata, on photos from scikit-image):

    bash scripts/setup_mediapipe_venv.sh                 # creates /work/mpvenv
    .venv/bin/python scripts/mediapipe_demo_models.py /tmp/mk_demo
    for f in /tmp/mk_demo/*_metadata.tflite; do
        /work/mpvenv/bin/python scripts/verify_mediapipe.py "$f" /tmp/mk_demo/*.png
    done

and with the TFLite Task Library (needs libusb-1.0-0 from apt; the setup
script installs it when run as root):

    bash scripts/setup_mediapipe_venv.sh --task-library  # also creates /work/tsvenv
    for f in /tmp/mk_demo/*_metadata.tflite; do
        /work/tsvenv/bin/python scripts/verify_mediapipe.py --task-library "$f" /tmp/mk_demo/*.png
    done

`mediapipe_demo_models.py` trains a tiny 3-class network (tabby cat,
astronaut, coffee) on crops of those photos, converts it (float32, and int8
with uint8 input/output), attaches metadata with
`mobilekit.export.metadata.attach` and saves the photos as PNGs. With working
metadata both readers name each photo's class first (tabby cat 0.99,
astronaut 1.00, coffee 0.99), with the label from labels.txt. Controls: the
float file without metadata is refused ("Input tensor has type float32: it
requires specifying NormalizationOptions metadata"); with mean=std=127.5
written instead of 0/1 every photo comes out "astronaut"; per-channel
mean/std on a float input is refused by MediaPipe ("Per-channel image
normalization is not available", which `attach` warns about).

The test suite runs this script too when MOBILEKIT_MEDIAPIPE_PYTHON names the
venv's python:

    export MOBILEKIT_MEDIAPIPE_PYTHON=/work/mpvenv/bin/python
    .venv/bin/python -m pytest tests/test_metadata.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def classify_task_library(model_path: str, images: list[str], top: int) -> list[dict]:
    from tflite_support.task import core, processor, vision

    options = vision.ImageClassifierOptions(
        base_options=core.BaseOptions(file_name=model_path),
        classification_options=processor.ClassificationOptions(max_results=top),
    )
    classifier = vision.ImageClassifier.create_from_options(options)
    results = []
    for path in images:
        head = classifier.classify(vision.TensorImage.create_from_file(path)).classifications[0]
        results.append(
            {
                "image": path,
                "head": head.head_name,
                "categories": [
                    {"index": c.index, "name": c.category_name, "score": round(c.score, 4)} for c in head.categories
                ],
            }
        )
    return results


def classify(model_path: str, images: list[str], top: int) -> list[dict]:
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision.core.image import Image

    with open(model_path, "rb") as f:
        model = f.read()
    options = vision.ImageClassifierOptions(base_options=BaseOptions(model_asset_buffer=model), max_results=top)
    results = []
    with vision.ImageClassifier.create_from_options(options) as classifier:
        for path in images:
            result = classifier.classify(Image.create_from_file(path))
            head = result.classifications[0]
            results.append(
                {
                    "image": path,
                    "head": head.head_name,
                    "categories": [
                        {"index": c.index, "name": c.category_name, "score": round(c.score, 4)} for c in head.categories
                    ],
                }
            )
    return results


def segment(model_path: str, images: list[str], masks_dir: str, confidence: bool) -> dict:
    """Segment each image; write its masks to `masks_dir`; the labels and per-image summaries."""
    import numpy as np
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions
    from mediapipe.tasks.python.vision.core.image import Image

    with open(model_path, "rb") as f:
        model = f.read()
    options = vision.ImageSegmenterOptions(
        base_options=BaseOptions(model_asset_buffer=model),
        output_category_mask=True,
        output_confidence_masks=confidence,
    )
    os.makedirs(masks_dir, exist_ok=True)
    results = []
    with vision.ImageSegmenter.create_from_options(options) as segmenter:
        labels = list(segmenter.labels)
        for i, path in enumerate(images):
            result = segmenter.segment(Image.create_from_file(path))
            arrays = {"category_mask": np.array(result.category_mask.numpy_view(), dtype=np.uint8)}
            if arrays["category_mask"].ndim == 3:  # (h, w, 1)
                arrays["category_mask"] = arrays["category_mask"][..., 0]
            if confidence:
                arrays["confidence_masks"] = np.stack(
                    [
                        np.asarray(m.numpy_view(), dtype=np.float32).reshape(m.height, m.width)
                        for m in result.confidence_masks
                    ],
                    axis=-1,
                )
            stem = os.path.splitext(os.path.basename(path))[0]
            out = os.path.join(masks_dir, f"{i:03d}_{stem}.npz")
            np.savez_compressed(out, **arrays)
            values, counts = np.unique(arrays["category_mask"], return_counts=True)
            results.append(
                {
                    "image": path,
                    "masks": out,
                    "shape": list(arrays["category_mask"].shape),
                    "class_pixels": {int(v): int(c) for v, c in zip(values, counts)},
                }
            )
    return {"labels": labels, "results": results}


def main_segment(args) -> int:
    import mediapipe

    reader = f"mediapipe {mediapipe.__version__}"
    print(f"{reader}: ImageSegmenter on {args.model}")
    try:
        summary = segment(args.model, args.images, args.masks, args.confidence)
    except Exception as exc:  # MediaPipe raises RuntimeError/ValueError with its status text
        print(f"{reader} rejected {args.model}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    labels = summary["labels"]
    print(f"  labels ({len(labels)}): {', '.join(labels) or '<none>'}")
    for r in summary["results"]:
        shown = ", ".join(
            f"{labels[k] if k < len(labels) else k}: {n}"
            for k, n in sorted(r["class_pixels"].items(), key=lambda kv: -kv[1])[: args.top]
        )
        print(f"  {r['image']}  mask {r['shape'][1]}x{r['shape'][0]} -> {r['masks']}  [{shown}]")
    document = {"model": args.model, "reader": reader, **summary}
    for path in (os.path.join(args.masks, "summary.json"), args.json):
        if path:
            with open(path, "w") as f:
                json.dump(document, f, indent=2)
    if not labels:
        print("MediaPipe reports no labels: the labels file was not read", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help=".tflite file with TFLite Metadata")
    parser.add_argument("images", nargs="+", help="image files (PNG, JPEG)")
    parser.add_argument("--top", type=int, default=3, help="categories (classes, with --segment) to show per image")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--task-library", action="store_true", help="use tflite-support's Task Library instead")
    parser.add_argument("--segment", action="store_true", help="run MediaPipe's ImageSegmenter instead")
    parser.add_argument("--masks", help="with --segment: the folder to write each image's masks (.npz) to")
    parser.add_argument("--confidence", action="store_true", help="with --segment: also write confidence masks")
    args = parser.parse_args(argv)

    if args.segment:
        if not args.masks:
            parser.error("--segment needs --masks DIR, the folder to write the masks to")
        return main_segment(args)
    if args.task_library:
        from importlib.metadata import version

        runner, reader = classify_task_library, f"tflite-support {version('tflite-support')}"
    else:
        import mediapipe

        runner, reader = classify, f"mediapipe {mediapipe.__version__}"
    print(f"{reader}: ImageClassifier on {args.model}")
    try:
        results = runner(args.model, args.images, args.top)
    except Exception as exc:  # both raise RuntimeError/ValueError with their status text
        print(f"{reader} rejected {args.model}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    ok = True
    for r in results:
        cats = ", ".join(f"{c['name'] or '<no name>'} ({c['index']}) {c['score']:.3f}" for c in r["categories"])
        print(f"  {r['image']}  [head {r['head']!r}]  {cats}")
        ok &= bool(r["categories"]) and all(c["name"] for c in r["categories"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": args.model, "reader": reader, "results": results}, f, indent=2)
    if not ok:
        print("some categories have no name: the labels file was not read", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
