#!/usr/bin/env bash
# Benchmark .tflite files on a connected Android phone through the demo app's BenchmarkActivity,
# following the contract in android_demo/README.md ("Benchmark mode"). Run with --help for usage.
set -euo pipefail

# Bash 3.2 (macOS) compatible: no associative arrays, empty arrays expanded with ${a[@]+...}.
APP_ID=dev.mobilekit.demo
COMPONENT=$APP_ID/.BenchmarkActivity
APP_DIR=/sdcard/Android/data/$APP_ID/files
KNOWN_ACCELERATORS=(xnnpack cpu gpu nnapi)
PROG=${0##*/}

REPO=$(cd "$(dirname "$0")/.." && pwd)
ADB=${ADB:-adb}
# Seconds between checks for a run's results file (tests set a small value).
POLL_SECONDS=${ANDROID_BENCH_POLL_SECONDS:-1}

usage() {
  cat <<EOF
Usage: $PROG [options] MODEL.tflite [MODEL.tflite ...]
       $PROG [options] --table DIR

Benchmark .tflite files on a connected Android phone with the mobilekit demo app:
install the app, push the models, run every model x accelerator x thread count through
$COMPONENT and pull one mobilekit.bench/1 JSON per run.
With --table, time every file of a latency table and write the table with the phone's numbers.

Options:
  --apk PATH            APK to install (default: android_demo/app/build/outputs/apk/release/
                        app-release.apk in this repository)
  --no-install          use the app already on the phone
  --accelerators LIST   comma-separated, of xnnpack,cpu,gpu,nnapi (default: xnnpack,gpu,nnapi)
  --threads LIST        comma-separated thread counts (default: 1,4)
  --warmup N            untimed inferences after the first (default 10)
  --runs N              timed inferences (default 50)
  --output DIR          where the JSON files land (default: android_bench/)
  --serial SERIAL       adb -s SERIAL (default: \$ANDROID_SERIAL / the only device)
  --timeout SECONDS     per run, waiting for the results file (default 300)
  --table DIR           a latency table (DIR/table.json, mobilekit.latency-table/1, from
                        mobilekit adapt --export-table-models DIR) instead of MODEL arguments
  -h, --help            show this help

Each run writes DIR/<model stem>_<accelerator>_t<threads>.json; a file of the same name from
an earlier run is replaced. A delegate the phone refuses is recorded as a result with "error".
Then: mobilekit report DIR/*.json --output DIR/report

Latency table (--table DIR): every file DIR/table.json names (its "overhead" file, each of its
"ops" and, when it has them, each of its "networks") runs on one accelerator (--accelerators,
default xnnpack; one value only) with one thread count (--threads, default the table's
"threads"; one value only). The app runs any .tflite (every input filled with random values)
but takes one model per start, so each file is its own run: a table of a few hundred files
takes minutes. When every file has a median, table.json in the --output folder is
DIR/table.json with each "ms" replaced by the phone's median for its file, "device" by the
phone's and "threads" by the count used, written whole or not at all. A file that failed, or
that the delegate refused, is named and no table is written.
Then: mobilekit adapt ... --latency-table OUTPUT/table.json. Needs python3 (standard library).

Environment: ADB (the adb executable, default adb), ANDROID_SERIAL.
Exit status: 0 when at least one result was collected (--table: when the table was written), 1
when none was (--table: when any file has no result; or the phone was not ready), 2 for a usage
or setup mistake.

Examples:
  $PROG --accelerators xnnpack,gpu --threads 1,4 mobilenet_v3_small_int8.tflite efficientnet_b0_int8.tflite
  $PROG --table table_models/ --output phone/       # writes phone/table.json
EOF
}

die_usage() {
  echo "$PROG: error: $*" >&2
  exit 2
}

die() {
  echo "$PROG: error: $*" >&2
  exit 1
}

warn() {
  echo "$PROG: warning: $*" >&2
}

# A whole number >= $2, or a usage error naming the option.
# The app refuses larger values (BenchmarkRequest.kt's MAX_*; a test keeps the two in step).
MAX_THREADS=16
MAX_WARMUP=1000
MAX_RUNS=10000

check_number() {
  local option=$1 minimum=$2 value=$3 maximum=${4:-}
  if ! [[ $value =~ ^[0-9]+$ ]] || (( 10#$value < minimum )); then
    die_usage "$option needs a whole number >= $minimum, got '$value'"
  fi
  if [[ -n $maximum ]] && (( 10#$value > maximum )); then
    die_usage "$option is at most $maximum (the app refuses more), got '$value'"
  fi
}

# ---------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------

apk=$REPO/android_demo/app/build/outputs/apk/release/app-release.apk
install=1
accelerators_arg=xnnpack,gpu,nnapi
threads_arg=1,4
warmup=10
runs=50
output=android_bench
serial=
timeout=300
table_dir=
accelerators_given=0
threads_given=0
models=()

while (( $# > 0 )); do
  option=$1
  value=
  case $option in
    -h | --help)
      usage
      exit 0
      ;;
    --no-install)
      install=0
      shift
      continue
      ;;
    --)
      shift
      models+=("$@")
      break
      ;;
    --*=*)
      value=${option#*=}
      option=${option%%=*}
      shift
      ;;
    --*)
      (( $# >= 2 )) || die_usage "$option needs a value (see --help)"
      value=$2
      shift 2
      ;;
    -*)
      die_usage "unknown option '$option' (see --help)"
      ;;
    *)
      models+=("$option")
      shift
      continue
      ;;
  esac
  case $option in
    --apk) apk=$value ;;
    --accelerators)
      accelerators_arg=$value
      accelerators_given=1
      ;;
    --threads)
      threads_arg=$value
      threads_given=1
      ;;
    --table)
      [[ -n $value ]] || die_usage "--table needs the folder that holds table.json"
      table_dir=$value
      ;;
    --warmup) warmup=$value ;;
    --runs) runs=$value ;;
    --output) output=$value ;;
    --serial) serial=$value ;;
    --timeout) timeout=$value ;;
    *) die_usage "unknown option '$option' (see --help)" ;;
  esac
done

# The latency table: its files become the models; one accelerator, one thread count.
table_json=
table_files=()
if [[ -n $table_dir ]]; then
  (( ${#models[@]} == 0 )) ||
    die_usage "--table DIR times the files its table.json names; pass no MODEL.tflite with it (got ${models[0]})"
  [[ $table_dir == */ && $table_dir != / ]] && table_dir=${table_dir%/}
  [[ -d $table_dir ]] || die_usage "--table $table_dir is not a folder; pass the folder that holds table.json (from mobilekit adapt --export-table-models DIR)"
  table_json=$table_dir/table.json
  command -v python3 > /dev/null 2>&1 || die_usage "--table needs python3 (standard library only) on PATH"
  if ! listing=$(python3 "$REPO/scripts/latency_table.py" files "$table_json"); then
    die_usage "--table: ${listing:-could not read $table_json}"
  fi
  table_threads=
  first=1
  while IFS= read -r line; do
    if (( first )); then
      table_threads=$line
      first=0
    else
      table_files+=("$line")
    fi
  done <<< "$listing"
  (( accelerators_given )) || accelerators_arg=xnnpack
  [[ $accelerators_arg != *,* ]] ||
    die_usage "--table measures on one accelerator; pass one of ${KNOWN_ACCELERATORS[*]} with --accelerators (got '$accelerators_arg')"
  if (( threads_given )); then
    [[ $threads_arg != *,* ]] || die_usage "--table measures with one thread count; pass one with --threads (got '$threads_arg')"
  else
    check_number "$table_json \"threads\" (or pass --threads)" 1 "$table_threads" "$MAX_THREADS"
    threads_arg=$table_threads
  fi
  for file in "${table_files[@]}"; do
    models+=("$table_dir/$file")
  done
fi

(( ${#models[@]} > 0 )) || die_usage "no model given. Usage: $PROG [options] MODEL.tflite [...] or --table DIR (see --help)"

check_number --warmup 0 "$warmup" "$MAX_WARMUP"
check_number --runs 1 "$runs" "$MAX_RUNS"
check_number --timeout 1 "$timeout"
[[ -n $output ]] || die_usage "--output needs a folder"
[[ $output == */ && $output != / ]] && output=${output%/}

IFS=, read -r -a accelerators <<< "$accelerators_arg"
(( ${#accelerators[@]} > 0 )) || die_usage "--accelerators is empty; pick from: ${KNOWN_ACCELERATORS[*]}"
for accelerator in "${accelerators[@]}"; do
  case " ${KNOWN_ACCELERATORS[*]} " in
    *" $accelerator "*) ;;
    *) die_usage "unknown accelerator '$accelerator'; pick from: ${KNOWN_ACCELERATORS[*]}" ;;
  esac
done

IFS=, read -r -a thread_counts <<< "$threads_arg"
(( ${#thread_counts[@]} > 0 )) || die_usage "--threads is empty; pass thread counts such as 1,4"
for i in "${!thread_counts[@]}"; do
  check_number --threads 1 "${thread_counts[i]}" "$MAX_THREADS"
  thread_counts[i]=$((10#${thread_counts[i]}))
done

names=()
for i in "${!models[@]}"; do
  model=${models[i]}
  [[ -e $model ]] || die_usage "model file not found: $model"
  [[ -f $model && -r $model ]] || die_usage "$model is not a readable file"
  name=${model##*/}
  [[ $name == *.tflite ]] || die_usage "$model is not a .tflite file (the name must end in .tflite)"
  [[ $name =~ ^[A-Za-z0-9._+-]+$ ]] ||
    die_usage "$model: the file name may only hold letters, digits and . _ + - (it travels through the phone's shell); copy it to such a name"
  magic=$(head -c 8 -- "$model" | tail -c 4 | tr '\0' '.')
  [[ $magic == TFL3 ]] || die_usage "$model is not a TFLite model (no 'TFL3' identifier at byte 4)"
  for (( j = 0; j < i; j++ )); do
    if [[ ${names[j]} == "$name" ]]; then
      die_usage "${models[j]} and $model have the same file name $name; on the phone one would replace the other. Rename one"
    fi
  done
  names+=("$name")
done

if (( install )) && [[ ! -f $apk ]]; then
  die_usage "APK not found: $apk. Build it (cd android_demo && ./gradlew assembleRelease), pass --apk PATH, or --no-install to use the app already on the phone"
fi
if [[ -e $output && ! -d $output ]]; then
  die_usage "--output $output is a file; pass a folder for the JSON files"
fi
if [[ -n $table_dir && -d $output && $(cd "$output" && pwd -P) == "$(cd "$table_dir" && pwd -P)" ]]; then
  die_usage "--output $output is the table's folder; its table.json would be replaced. Pass another folder"
fi
if ! command -v "$ADB" > /dev/null 2>&1; then
  die_usage "adb not found ('$ADB'). Install Android SDK Platform-Tools (https://developer.android.com/tools/releases/platform-tools, or 'sdkmanager platform-tools'), put adb on PATH or set ADB=/path/to/adb"
fi

# ---------------------------------------------------------------------------
# The phone
# ---------------------------------------------------------------------------

adb_args=()
[[ -n $serial ]] && adb_args=(-s "$serial")

# adb with the chosen device; stdin closed so that adb never reads the script's input.
adb_() {
  "$ADB" ${adb_args[@]+"${adb_args[@]}"} "$@" < /dev/null
}

workdir=$(mktemp -d "${TMPDIR:-/tmp}/android_bench.XXXXXX")
partial=
cleanup() {
  [[ -n $partial ]] && rm -f -- "$partial"
  rm -rf -- "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

state=$(adb_ get-state 2>&1 | tr -d '\r') || true
if [[ $state != device ]]; then
  die "no phone ready (adb get-state: ${state:-no answer}). Connect one with USB debugging on and accept its prompt; 'adb devices' should list it as 'device'; with several, pass --serial"
fi

if (( install )); then
  echo "installing $apk"
  if ! log=$(adb_ install -r "$apk" 2>&1); then
    die "adb install -r $apk failed: $(tr -d '\r' <<< "$log" | tail -n 1)"
  fi
fi

adb_ shell mkdir -p "$APP_DIR/models" "$APP_DIR/bench" > /dev/null ||
  die "could not create $APP_DIR/models and $APP_DIR/bench on the phone"
for i in "${!models[@]}"; do
  echo "pushing ${models[i]}"
  adb_ push "${models[i]}" "$APP_DIR/models/${names[i]}" > /dev/null ||
    die "adb push ${models[i]} $APP_DIR/models/${names[i]} failed"
done

mkdir -p -- "$output"
# Pulled files get the usual mode (mktemp makes them private).
file_mode=$(printf '%o' $(( 0666 & ~$(umask) )))

# ---------------------------------------------------------------------------
# The runs
# ---------------------------------------------------------------------------

# 'result', 'error' or 'waiting': which of the run's files the app has written.
remote_state() {
  local remote=$1 answer
  answer=$(adb_ shell "if [ -e $remote ]; then echo result; elif [ -e $remote.error ]; then echo error; else echo waiting; fi" 2> /dev/null | tr -d '\r') || true
  case $answer in
    result | error) echo "$answer" ;;
    *) echo waiting ;;
  esac
}

# The median latency of a results file, or nothing (read from the app's layout: one field a line).
json_median() {
  sed -n 's/^ *"median": *\([0-9.eE+-]*\),\{0,1\} *$/\1/p' "$1" | head -n 1
}

# A result's error text (still JSON-escaped), or nothing when the run measured latency.
json_error() {
  if grep -q '"error" *:' "$1"; then
    sed -n 's/^ *"error": *"\(.*\)",\{0,1\} *$/\1/p' "$1" | head -n 1 | grep . || echo "(see the file)"
  fi
}

total=$(( ${#models[@]} * ${#accelerators[@]} * ${#thread_counts[@]} ))
run=0
collected=0
refused=0
failed=0
# The files without a latency, for --table.
unmeasured=()
for name in "${names[@]}"; do
  stem=${name%.tflite}
  for accelerator in "${accelerators[@]}"; do
    for threads in "${thread_counts[@]}"; do
      run=$((run + 1))
      out_name=${stem}_${accelerator}_t${threads}.json
      remote=$APP_DIR/bench/$out_name
      plural=threads
      (( threads == 1 )) && plural=thread
      printf '[%d/%d] %s %s %d %s ... ' "$run" "$total" "$name" "$accelerator" "$threads" "$plural"

      adb_ shell rm -f "$remote" "$remote.error" > /dev/null 2>&1 || true
      if ! started=$(adb_ shell am start -W -S -n "$COMPONENT" \
        --es model "models/$name" --es accelerator "$accelerator" --ei threads "$threads" \
        --ei warmup "$warmup" --ei runs "$runs" --es output "$out_name" 2>&1 | tr -d '\r') ||
        [[ $started == *Error* || $started == *error:* || $started == *Exception* ]]; then
        echo "failed"
        warn "am start did not start $COMPONENT: $(grep -m 1 -E 'Error|error:|Exception' <<< "$started" || tail -n 1 <<< "$started")"
        failed=$((failed + 1))
        unmeasured+=("$name")
        continue
      fi

      # SECONDS counts whole seconds: one more makes the wait at least $timeout seconds.
      deadline=$((SECONDS + timeout + 1))
      while state=$(remote_state "$remote") && [[ $state == waiting ]]; do
        if (( SECONDS >= deadline )); then
          state=timeout
          break
        fi
        sleep "$POLL_SECONDS"
      done

      case $state in
        result)
          partial=$(mktemp "$output/.$out_name.XXXXXX")
          if adb_ pull "$remote" "$partial" > /dev/null 2>&1 && grep -q '"mobilekit.bench/1"' "$partial"; then
            chmod "$file_mode" "$partial"
            mv -f -- "$partial" "$output/$out_name"
            partial=
            collected=$((collected + 1))
            error=$(json_error "$output/$out_name")
            median=$(json_median "$output/$out_name")
            if [[ -n $error ]]; then
              refused=$((refused + 1))
              unmeasured+=("$name")
              echo "done, recorded with an error"
              warn "$name $accelerator $threads $plural: $error"
            elif [[ -n $median ]]; then
              echo "done $median ms median"
            else
              echo "done"
            fi
          else
            rm -f -- "$partial"
            partial=
            echo "failed"
            warn "could not pull a results file from $remote"
            failed=$((failed + 1))
            unmeasured+=("$name")
          fi
          ;;
        error)
          echo "failed"
          if adb_ pull "$remote.error" "$workdir/run.error" > /dev/null 2>&1; then
            warn "the app could not run it: $(tr -d '\r' < "$workdir/run.error" | head -n 1)"
          else
            warn "the app wrote $remote.error, which could not be pulled"
          fi
          failed=$((failed + 1))
          unmeasured+=("$name")
          ;;
        *)
          echo "failed"
          warn "no results file after ${timeout}s ($remote); is the app installed, and is the phone unlocked?"
          failed=$((failed + 1))
          unmeasured+=("$name")
          ;;
      esac
    done
  done
done

echo
summary="collected $collected of $total results in $output/"
(( refused > 0 )) && summary+=" ($refused with a delegate error)"
(( failed > 0 )) && summary+="; $failed failed"
echo "$summary"
if [[ -n $table_dir ]]; then
  if (( ${#unmeasured[@]} > 0 )); then
    earlier=
    [[ -e $output/table.json ]] && earlier=" (the $output/table.json there is an earlier run's)"
    die "no $output/table.json written$earlier: no phone latency for ${#unmeasured[@]} of $total files: ${unmeasured[*]}"
  fi
  if ! device_name=$(python3 "$REPO/scripts/latency_table.py" merge "$table_json" "$output" \
    "${accelerators[0]}" "${thread_counts[0]}"); then
    die "no $output/table.json written (the files above have no usable result)"
  fi
  plural=threads
  (( thread_counts[0] == 1 )) && plural=thread
  echo "wrote $output/table.json: ${#table_files[@]} files timed on $device_name (${accelerators[0]}, ${thread_counts[0]} $plural)"
  echo "next: mobilekit adapt ... --latency-table $output/table.json"
  exit 0
fi
if (( collected == 0 )); then
  die "nothing collected"
fi
echo "report: mobilekit report $output/*.json --output $output/report"
