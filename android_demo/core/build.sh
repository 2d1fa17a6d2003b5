#!/usr/bin/env bash
# Compile the pure-Kotlin core and its tests with plain kotlinc, then run the tests.
#   android_demo/core/build.sh [OUT_DIR]      (default: android_demo/core/build)
# kotlinc is found via $KOTLINC, then the repository's .kotlin/ npm prefix, then PATH.
# Writes OUT_DIR/core-tests.jar: main + test classes with the Kotlin runtime (one kotlinc run, ~15 s).
# Set SKIP_TESTS=1 to only compile.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
out="${1:-$here/build}"
kotlinc="${KOTLINC:-}"
if [[ -z "$kotlinc" && -x "$root/.kotlin/node_modules/kotlin-compiler/bin/kotlinc" ]]; then
  kotlinc="$root/.kotlin/node_modules/kotlin-compiler/bin/kotlinc"
fi
if [[ -z "$kotlinc" ]]; then
  kotlinc="$(command -v kotlinc || true)"
fi
if [[ -z "$kotlinc" ]]; then
  echo "kotlinc not found: set KOTLINC, or run: npm install --prefix .kotlin kotlin-compiler@2.4.20" >&2
  exit 3
fi
mkdir -p "$out"
main_sources=$(find "$here/src/main/kotlin" -name '*.kt' | sort)
test_sources=$(find "$here/src/test/kotlin" -name '*.kt' | sort)
# shellcheck disable=SC2086
"$kotlinc" -nowarn -jvm-target 17 -include-runtime -d "$out/core-tests.jar" $main_sources $test_sources
if [[ "${SKIP_TESTS:-0}" != 1 ]]; then
  java -cp "$out/core-tests.jar" dev.mobilekit.core.CoreTestsKt
fi
