"""Check that MediaPipe's ImageSegmenter loads our LR-ASPP files and agrees with LiteRT.

    usage: .venv/bin/python scripts/mediapipe_segmenter_check.py OUT_DIR [--mediapipe-python PY]
                                                                   [--resolution 96] [--classes 11]

Builds LR-ASPP on MobileNetV3-Small (alpha 0.35) with random weights, its low-level
classifier's weights scaled up so the mask varies from pixel to pixel (random weights
alone give a uniform softmax), converts it to int8 with uint8 I/O and with float32 I/O,
attaches `SegmenterMetadataSpec` metadata (activation NONE, and SOFTMAX on the uint8 file
as a control), saves scikit-image's astronaut, coffee and chelsea resized to the model's
input size plus one noise image as PNGs, runs scripts/verify_mediapipe.py --segment on each
file in the MediaPipe venv (PY, default $MOBILEKIT_MEDIAPIPE_PYTHON or /work/mpvenv/bin/python),
and compares MediaPipe's masks with the LiteRT interpreter's output on the same pixels:

- category mask against the argmax of the output resized bilinearly to the image, with
  half-pixel centres (tf.image.resize, cv2.resize INTER_LINEAR) and with corners aligned;
- confidence masks against the output resized with half-pixel centres (max |difference|).

Prints one line per file and writes OUT_DIR/report.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np  # noqa: E402

LABELS = ("background", "sky", "road", "person", "car", "tree", "building", "grass", "water", "sign", "bike")
SCRIPT = Path(__file__).resolve().parent / "verify_mediapipe.py"


def build_files(out: Path, resolution: int, classes: int, images: np.ndarray) -> dict[str, Path]:
    import tf_keras

    from mobilekit.export import convert, metadata
    from mobilekit.models import efficient, segmentation

    tf_keras.utils.set_random_seed(0)
    net = segmentation.build_lraspp(
        efficient.MOBILENET_V3_SMALL, name="lraspp_small", alpha=0.35, resolution=resolution, num_classes=classes
    )
    rng = np.random.default_rng(3)
    layer = net.get_layer("lraspp_low_classifier")
    kernel, bias = layer.get_weights()
    layer.set_weights([rng.normal(0, 300, kernel.shape).astype(np.float32), bias])
    labels = (LABELS + tuple(f"class {i}" for i in range(len(LABELS), classes)))[:classes]
    calibration = [np.concatenate([images, rng.uniform(0, 255, (5, resolution, resolution, 3))]).astype(np.float32)]
    files = {}
    for io in ("uint8", "float32"):
        flat = convert.convert(net, mode="int8", calibration=calibration, io=io, show_progress=False)
        for activation in ("NONE", "SOFTMAX") if io == "uint8" else ("NONE",):
            spec = metadata.SegmenterMetadataSpec(name="lraspp_small", labels=labels, activation=activation)
            path = out / f"lraspp_small_{resolution}_{io}_{activation.lower()}.tflite"
            path.write_bytes(metadata.attach(flat, spec))
            files[path.stem] = path
    return files


def save_images(out: Path, resolution: int) -> tuple[list[Path], np.ndarray]:
    import skimage.data
    from PIL import Image

    arrays = {
        name: np.asarray(Image.fromarray(getattr(skimage.data, name)()[..., :3]).resize((resolution,) * 2))
        for name in ("astronaut", "coffee", "chelsea")
    }
    arrays["noise"] = np.random.default_rng(1).integers(0, 256, (resolution, resolution, 3), dtype=np.uint8)
    paths = []
    for name, pixels in arrays.items():
        paths.append(out / f"{name}.png")
        Image.fromarray(pixels).save(paths[-1])
    return paths, np.stack(list(arrays.values()))


def litert_scores(path: Path, pixels: np.ndarray) -> np.ndarray:
    """The output on one image as real values (a uint8 output dequantized)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    interpreter.set_tensor(inp["index"], pixels[None].astype(inp["dtype"]))
    interpreter.invoke()
    scores = interpreter.get_tensor(out["index"])[0].astype(np.float32)
    scale, zero_point = out["quantization"]
    return (scores - zero_point) * scale if out["dtype"] != np.float32 else scores


def resize_half_pixel(scores: np.ndarray, height: int, width: int) -> np.ndarray:
    import tensorflow as tf

    return tf.image.resize(scores[None], (height, width), method="bilinear").numpy()[0]


def resize_align_corners(scores: np.ndarray, height: int, width: int) -> np.ndarray:
    h, w, _ = scores.shape
    ys, xs = np.arange(height) * (h - 1) / (height - 1), np.arange(width) * (w - 1) / (width - 1)
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    ty, tx = (ys - y0)[:, None, None], (xs - x0)[None, :, None]
    top = scores[y0][:, x0] * (1 - tx) + scores[y0][:, x1] * tx
    bottom = scores[y1][:, x0] * (1 - tx) + scores[y1][:, x1] * tx
    return top * (1 - ty) + bottom * ty


def compare(path: Path, images: list[Path], pixels: np.ndarray, python: str, masks: Path) -> dict:
    proc = subprocess.run(
        [python, str(SCRIPT), "--segment", str(path), *map(str, images), "--masks", str(masks), "--confidence"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return {"file": path.name, "loaded": False, "error": proc.stderr.strip().splitlines()[-1:]}
    summary = json.loads((masks / "summary.json").read_text())
    agree = {"half_pixel": 0, "align_corners": 0}
    total, confidence_error, classes = 0, 0.0, []
    for result, image in zip(summary["results"], pixels):
        saved = np.load(result["masks"])
        category, confidence = saved["category_mask"], saved["confidence_masks"]
        scores = litert_scores(path, image)
        height, width = category.shape
        half = resize_half_pixel(scores, height, width)
        agree["half_pixel"] += int((half.argmax(-1) == category).sum())
        agree["align_corners"] += int((resize_align_corners(scores, height, width).argmax(-1) == category).sum())
        total += category.size
        confidence_error = max(confidence_error, float(np.abs(confidence - half).max()))
        classes.append(len(np.unique(category)))
    return {
        "file": path.name,
        "loaded": True,
        "labels": summary["labels"],
        "classes_per_image": classes,
        "category_mask_agreement": {k: round(v / total, 5) for k, v in agree.items()},
        "confidence_max_abs_diff_vs_half_pixel": round(confidence_error, 6),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--mediapipe-python", default=os.environ.get("MOBILEKIT_MEDIAPIPE_PYTHON", "/work/mpvenv/bin/python")
    )
    parser.add_argument("--resolution", type=int, default=96)
    parser.add_argument("--classes", type=int, default=11)
    args = parser.parse_args(argv)

    import mobilekit  # noqa: F401  (selects tf_keras)

    args.out.mkdir(parents=True, exist_ok=True)
    images, pixels = save_images(args.out, args.resolution)
    files = build_files(args.out, args.resolution, args.classes, pixels.astype(np.float32))
    report = [
        compare(path, images, pixels, args.mediapipe_python, args.out / f"masks_{name}") for name, path in files.items()
    ]
    for r in report:
        if not r["loaded"]:
            print(f"{r['file']}: MediaPipe refused it: {r['error']}")
            continue
        print(
            f"{r['file']}: {len(r['labels'])} labels; category mask = argmax of LiteRT output resized "
            f"half-pixel {r['category_mask_agreement']['half_pixel']:.2%}, align-corners "
            f"{r['category_mask_agreement']['align_corners']:.2%}; confidence masks vs half-pixel resize "
            f"max |diff| {r['confidence_max_abs_diff_vs_half_pixel']:.3g}; classes per image {r['classes_per_image']}"
        )
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    return 0 if all(r["loaded"] for r in report) else 1


if __name__ == "__main__":
    sys.exit(main())
