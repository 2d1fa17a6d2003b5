#!/usr/bin/env bash
# Create the venvs that scripts/verify_mediapipe.py runs in, apart from the
# project's .venv: MediaPipe pins a newer absl-py than
# tensorflow-model-optimization allows, and tflite-support 0.4.4 pins protobuf<4.
#
#   bash scripts/setup_mediapipe_venv.sh                  # MediaPipe venv only
#   bash scripts/setup_mediapipe_venv.sh --task-library   # and the Task Library venv
#
# MP_VENV (default /work/mpvenv), TS_VENV (default /work/tsvenv) and
# MEDIAPIPE_VERSION (default 1.2.2, the version the check was run with) override.
set -euo pipefail

MP_VENV=${MP_VENV:-/work/mpvenv}
TS_VENV=${TS_VENV:-/work/tsvenv}
MEDIAPIPE_VERSION=${MEDIAPIPE_VERSION:-1.2.2}
PYTHON=${PYTHON:-python3}

if [ ! -x "$MP_VENV/bin/python" ]; then
  "$PYTHON" -m venv "$MP_VENV"
fi
"$MP_VENV/bin/pip" install -q "mediapipe==$MEDIAPIPE_VERSION"
"$MP_VENV/bin/python" -c "import mediapipe; print('mediapipe', mediapipe.__version__, 'in $MP_VENV')"

if [ "${1:-}" = "--task-library" ]; then
  # tflite-support's native extension links libusb-1.0.
  if ! ldconfig -p | grep -q 'libusb-1.0.so.0'; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && apt-get install -y -qq libusb-1.0-0
    else
      echo "tflite-support needs libusb-1.0: run 'sudo apt-get install libusb-1.0-0' first" >&2
      exit 1
    fi
  fi
  if [ ! -x "$TS_VENV/bin/python" ]; then
    "$PYTHON" -m venv "$TS_VENV"
  fi
  "$TS_VENV/bin/pip" install -q "tflite-support==0.4.4"
  "$TS_VENV/bin/python" -c "from tflite_support.task import vision; print('tflite-support Task Library in $TS_VENV')"
fi
