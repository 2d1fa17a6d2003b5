"""The CLI end to end: help, convert, inspect, models, and clear errors for bad input."""

import json
import pathlib
import subprocess
import sys

import pytest
from click.testing import CliRunner

from mobilekit.cli.main import COMMANDS, cli
from mobilekit.export import metadata, tflite_file


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def invoke(runner, *args):
    return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_help_does_not_import_tensorflow():
    code = (
        "import sys; from click.testing import CliRunner; from mobilekit.cli.main import cli; "
        "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0, r.output; "
        "assert 'convert' in r.output; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_help(runner, command):
    result = invoke(runner, command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3


@pytest.fixture(scope="module")
def converted(runner, tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    (folder / "labels.txt").write_text("".join(f"thing {i}\n" for i in range(10)))
    output = folder / "small.tflite"
    result = invoke(
        runner,
        "convert",
        "--model",
        "mobilenet_v3_small",
        "--int8",
        "--weights",
        "none",
        "--resolution",
        64,
        "--num-classes",
        10,
        "--labels",
        folder / "labels.txt",
        "--calib-steps",
        8,
        "--output",
        output,
    )
    assert result.exit_code == 0, result.output
    return output, result.output


def test_convert_writes_a_fully_integer_file_with_metadata(converted):
    path, output = converted
    buf = path.read_bytes()
    summary = tflite_file.summarize(buf)
    assert summary.fully_integer
    assert summary.inputs[0].dtype == "uint8" and summary.inputs[0].shape == (1, 64, 64, 3)
    assert "HARD_SWISH" not in summary.ops  # lowered for XNNPACK (export.lowering)
    assert metadata.labels(buf) == [f"thing {i}" for i in range(10)]
    assert metadata.read(buf)["metadata"]["name"] == "mobilenet_v3_small"


def test_convert_prints_a_summary(converted):
    _, output = converted
    assert "fully integer  yes" in output
    assert "CONV_2D" in output and "uint8" in output
    assert "top-1 agreement" in output
    assert "cpu delegate   XNNPACK runs" in output and "in 1 partition;" in output and "warning" not in output


def test_convert_keeps_hard_swish_when_asked_and_warns_about_the_cut(runner, tmp_path):
    output = tmp_path / "stock.tflite"
    result = invoke(
        runner,
        "convert",
        "--model",
        "mobilenet_v3_small",
        "--int8",
        "--keep-hard-swish",
        "--weights",
        "none",
        "--resolution",
        32,
        "--num-classes",
        10,
        "--calib-steps",
        4,
        "--output",
        output,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert "HARD_SWISH" in tflite_file.summarize(output.read_bytes()).ops
    assert "warning: XNNPACK runs this file in" in result.output and "HARD_SWISH" in result.output


def test_keep_hard_swish_is_for_int8_files_only(runner):
    result = invoke(runner, "convert", "--model", "mobilenet_v3_small", "--fp16", "--keep-hard-swish")
    assert result.exit_code != 0 and "--keep-hard-swish applies to --int8 files only" in result.output


def test_inspect_reads_back_what_convert_wrote(runner, converted):
    path, _ = converted
    text = invoke(runner, "inspect", path)
    assert text.exit_code == 0 and "labels         10 (thing 0" in text.output
    assert "cpu delegate   XNNPACK runs" in text.output and "gpu delegate   LiteRT's GPU delegate" in text.output
    document = json.loads(invoke(runner, "inspect", path, "--json").output)
    assert document["fully_integer"] is True
    assert document["xnnpack"]["partitions"] == 1 and document["gpu_refusals"] == {}
    assert document["labels"][3] == "thing 3"
    assert document["inputs"][0]["quantization"]["scale"] == [1.0]
    assert document["ops"]["CONV_2D"] > 0 and "HARD_SWISH" not in document["ops"]


def test_models_lists_the_zoo(runner):
    result = invoke(runner, "models", "--name", "mobilenet_v3_small", "--name", "mobilenet_v2", "--json")
    rows = {row["name"]: row for row in json.loads(result.output)}
    assert rows["mobilenet_v2"]["parameters"] == 3_504_872  # keras.applications MobileNetV2's trainable count
    assert rows["mobilenet_v3_small"]["resolution"] == 224
    assert rows["mobilenet_v2"]["macs"] > 250e6
    assert {row["task"] for row in rows.values()} == {"classification"}


def test_models_shows_the_task_and_a_segmenters_reference_counts(runner):
    result = invoke(runner, "models", "--name", "lraspp_mobilenet_v3_small", "--name", "mobilenet_v3_small")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if line.startswith(("lraspp", "mobilenet"))]
    assert [row[:2] for row in rows] == [
        ["lraspp_mobilenet_v3_small", "segmentation"],
        ["mobilenet_v3_small", "classification"],
    ]
    card = invoke(runner, "models", "lraspp_mobilenet_v3_large").output
    assert "(lraspp, segmentation)" in card and "3,221,538 parameters, 2086.0 M MACs at 520 px with 21 classes" in card
    assert "parameters  3,221,538" in card  # built with the reference's 21 classes


def test_models_card_names_paper_idea_and_counts(runner):
    result = invoke(runner, "models", "mnasnet_a1")
    assert result.exit_code == 0, result.output
    for needle in (
        "arXiv:1807.11626",
        "platform-aware",
        "3,887,038",
        "311.6 M",
        "timm.models.semnasnet_100",
        "depth_multiplier=1.0",
    ):
        assert needle in result.output
    card = json.loads(invoke(runner, "models", "mobilenet_v2", "--json").output)
    assert card["matches"] == "weight-compatible" and card["imagenet_weights"] is True
    assert card["idea"] == "inverted residual with linear bottleneck"


def test_convert_passes_model_options_to_the_builder(runner, tmp_path):
    output = tmp_path / "shallow.tflite"
    result = invoke(
        runner,
        "convert",
        "--model",
        "mnasnet_b1",
        "--int8",
        "--weights",
        "none",
        "--resolution",
        32,
        "--alpha",
        0.25,
        "--num-classes",
        3,
        "--calib-steps",
        2,
        "--option",
        "depth_multiplier=0.5",
        "--output",
        output,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    # MnasNet-B1 repeats (1, 3, 3, 3, 2, 4, 1) at depth 0.5, rounded up: 11 blocks, one depthwise conv each.
    assert tflite_file.summarize(output.read_bytes()).ops["DEPTHWISE_CONV_2D"] == 11


def test_models_card_of_an_unknown_name_suggests_one(runner):
    result = runner.invoke(cli, ["models", "mixnet_x"])
    assert result.exit_code != 0 and "Did you mean 'mixnet_s'" in result.output
    assert isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "mobilenet_v3_smal", "--int8"], "mobilenet_v3_small"),
        (["--model", "mobilenet_v2", "--int8", "--fp16"], "--int8 and --fp16 conflict"),
        (["--model", "mobilenet_v2", "--fp16", "--io", "int8"], "--io applies to --int8 files only"),
        (["--model", "mobilenet_v2", "--int8", "--num-classes", 3, "--labels", "{tmp}/labels.txt"], "has 2 lines"),
        (["--model", "mobilenet_v2", "--int8", "--calib", "{tmp}/empty"], "it is empty"),
        (["--model", "mobilenet_v2", "--int8", "--calib", "{tmp}/missing"], "does not exist"),
        (["--model", "mobilenet_v2", "--int8", "--output", "{tmp}/exists.tflite"], "--force"),
        (["--model", "mobilenet_v2", "--int8", "--output", "{tmp}/no/such/dir/m.tflite"], "does not exist"),
        (["--model", "mobilenet_v2", "--weights", "{tmp}/missing.h5"], "missing.h5"),
        (["--model", "mobilenet_v2", "--int8", "--option", "lrn=true"], "has no option 'lrn'"),
        (["--model", "mnasnet_a1", "--int8", "--option", "depth_multiplier"], "expected KEY=VALUE"),
        (["--model", "mnasnet_a1", "--int8", "--option", "depth_multiplier=deep"], "must be a float"),
        (["--model", "mixnet_s", "--int8"], "publishes no ImageNet weights for mixnet_s"),
    ],
)
def test_user_errors_are_clear_and_lose_nothing(runner, tmp_path, args, message):
    (tmp_path / "labels.txt").write_text("a\nb\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "exists.tflite").write_bytes(b"keep me")
    args = [str(a).format(tmp=tmp_path) for a in args]
    result = runner.invoke(cli, ["convert", *args, "--resolution", "32", "--calib-steps", "2"])
    assert result.exit_code != 0
    assert message in result.output
    assert isinstance(result.exception, SystemExit), result.exception  # a message, not a traceback
    assert (tmp_path / "exists.tflite").read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "exists.tflite", "labels.txt"]


def test_inspect_rejects_a_file_that_is_not_tflite(runner, tmp_path):
    (tmp_path / "x.tflite").write_bytes(b"hello world, not a model")
    result = runner.invoke(cli, ["inspect", str(tmp_path / "x.tflite")])
    assert result.exit_code != 0 and "not a TFLite model" in result.output


def test_train_and_eval_help_do_not_import_tensorflow():
    code = (
        "import sys; from click.testing import CliRunner; from mobilekit.cli.main import cli; "
        "r = [CliRunner().invoke(cli, [c, '--help']) for c in ('train', 'eval')]; "
        "assert all(x.exit_code == 0 for x in r), [x.output for x in r]; "
        "assert '--freeze-base' in r[0].output and '--split' in r[1].output; "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


TRAIN = ["train", "--resolution", "32", "--weights", "none"]


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--model", "mobilenet_v3_smal", "--data", "digits", "--epochs", 1, "--output", "{tmp}/run"],
            "Did you mean 'mobilenet_v3_small'",
        ),
        (
            ["--model", "mobilenet_v3_small", "--data", "mnist", "--epochs", 1, "--output", "{tmp}/run"],
            "Did you mean 'mnist5k'",
        ),
        (
            ["--model", "mobilenet_v3_small", "--data", "{tmp}/nowhere", "--epochs", 1, "--output", "{tmp}/run"],
            "Bundled datasets: mnist5k",
        ),
        (
            ["--model", "mobilenet_v3_small", "--data", "{tmp}/empty", "--epochs", 1, "--output", "{tmp}/run"],
            "it is empty",
        ),
        (
            ["--model", "mobilenet_v3_small", "--data", "digits", "--epochs", 1, "--output", "{tmp}/labels.txt"],
            "is a file",
        ),
        (
            ["--model", "mobilenet_v3_small", "--data", "digits", "--epochs", 1, "--output", "{tmp}/no/run"],
            "does not exist",
        ),
        (["--model", "mobilenet_v3_small", "--data", "digits", "--epochs", 1, "--output", "{tmp}/foreign"], "--force"),
        (
            [
                "--model",
                "mobilenet_v3_small",
                "--data",
                "digits",
                "--epochs",
                1,
                "--output",
                "{tmp}/run",
                "--validation-split",
                "0.6",
                "--test-split",
                "0.5",
            ],
            "leave nothing to train on",
        ),
        (
            [
                "--model",
                "mobilenet_v3_small",
                "--data",
                "digits",
                "--epochs",
                1,
                "--output",
                "{tmp}/run",
                "--option",
                "lrn=true",
            ],
            "has no option 'lrn'",
        ),
        (
            [
                "--model",
                "mobilenet_v3_small",
                "--data",
                "digits",
                "--epochs",
                1,
                "--output",
                "{tmp}/run",
                "--bn-momentum",
                "1.5",
            ],
            "bn_momentum must be in [0, 1)",
        ),
        (
            [
                "--model",
                "mobilenet_v3_small",
                "--data",
                "digits",
                "--epochs",
                1,
                "--output",
                "{tmp}/run",
                "--weights",
                "{tmp}/missing.h5",
            ],
            "missing.h5",
        ),
    ],
)
def test_train_user_errors_are_clear_and_write_nothing(runner, tmp_path, args, message):
    (tmp_path / "labels.txt").write_text("a\nb\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "best.keras").write_bytes(b"keep me")
    args = [str(a).format(tmp=tmp_path) for a in args]
    result = runner.invoke(cli, [*TRAIN, *args])
    assert result.exit_code != 0
    assert message in result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert (tmp_path / "foreign" / "best.keras").read_bytes() == b"keep me"
    assert not (tmp_path / "run" / "history.json").exists()


def test_eval_refuses_labels_that_do_not_match_the_data(runner, converted):
    path, _ = converted  # labels "thing 0" ... "thing 9"
    result = runner.invoke(cli, ["eval", str(path), "--data", "digits", "--quiet"])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit)
    assert "do not match the data's classes" in result.output and "'thing 0'" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["{tmp}/missing.tflite", "--data", "digits"], "is not a file"),
        (["{tmp}/x.tflite", "--data", "digits"], "not a TFLite model"),
        (["{model}", "--data", "cifar"], "unknown data source 'cifar'"),
        (["{model}", "--data", "digits", "--split", "validation", "--validation-split", "0"], "validation split"),
    ],
)
def test_eval_user_errors(runner, tmp_path, converted, args, message):
    (tmp_path / "x.tflite").write_bytes(b"hello world, not a model")
    args = [str(a).format(tmp=tmp_path, model=converted[0]) for a in args]
    result = runner.invoke(cli, ["eval", *args, "--quiet"])
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.exception
    assert message in result.output


def test_convert_on_a_machine_without_gpu_prints_no_cuda_error(tmp_path):
    mobilekit_command = pathlib.Path(sys.executable).parent / "mobilekit"
    done = subprocess.run(
        [
            str(mobilekit_command),
            "convert",
            "--model",
            "mobilenet_v3_small",
            "--int8",
            "--weights",
            "none",
            "--resolution",
            "32",
            "--alpha",
            "0.35",
            "--num-classes",
            "3",
            "--calib-steps",
            "2",
            "--output",
            str(tmp_path / "m.tflite"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout
    lines = (done.stdout + done.stderr).splitlines()
    assert not [line for line in lines if line.startswith("E0000")], done.stderr
    assert not [line for line in lines if "XNNPACK delegate" in line], done.stderr


def test_native_noise_is_held_back_and_real_errors_shown(capfd):
    import os

    from mobilekit.progress import native_stderr_filtered

    with native_stderr_filtered():
        os.write(2, b"E0000 00:00:1 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error (303)\n")
        os.write(2, b"E0000 00:00:2 some_kernel.cc:7] a real error\n")
    assert capfd.readouterr().err == "E0000 00:00:2 some_kernel.cc:7] a real error\n"


CHEAP_MISTAKES = [
    # the two: a missing data folder before ImageNet weights; a negative alpha before calibration
    (
        ["train", "--model", "mobilenet_v2", "--data", "{tmp}/nowhere", "--epochs", "1", "--output", "{tmp}/run"],
        "unknown data source",
    ),
    (["convert", "--model", "mobilenet_v3_small", "--int8", "--alpha", "-1"], "--alpha"),
    (["convert", "--model", "mobilenet_v2", "--int8", "--fp16"], "--int8 and --fp16 conflict"),
    (["convert", "--model", "mobilenet_v2", "--fp16", "--io", "int8"], "--io applies to --int8 files only"),
    (["convert", "--model", "mobilenet_v2", "--int8", "--output", "{tmp}/exists.tflite"], "--force"),
    (["convert", "--model", "mobilenet_v2", "--int8", "--calib", "{tmp}/empty"], "it is empty"),
    (
        ["convert", "--model", "mobilenet_v2", "--int8", "--num-classes", "3", "--labels", "{tmp}/labels.txt"],
        "has 2 lines",
    ),
    (["convert", "--model", "mobilenet_v2", "--weights", "{tmp}/missing.h5"], "missing.h5"),
    (["convert", "--model", "mnasnet_a1", "--option", "depth_multiplier"], "expected KEY=VALUE"),
    (
        ["train", "--model", "mobilenet_v2", "--data", "digits", "--epochs", "1", "--output", "{tmp}/labels.txt"],
        "is a file",
    ),
    (
        ["train", "--model", "mobilenet_v2", "--data", "{tmp}/empty", "--epochs", "1", "--output", "{tmp}/run"],
        "it is empty",
    ),
    (
        [
            "train",
            "--model",
            "mobilenet_v2",
            "--data",
            "digits",
            "--epochs",
            "1",
            "--output",
            "{tmp}/run",
            "--validation-split",
            "0.6",
            "--test-split",
            "0.5",
        ],
        "leave nothing to train on",
    ),
    (
        [
            "train",
            "--model",
            "mobilenet_v2",
            "--data",
            "digits",
            "--epochs",
            "1",
            "--output",
            "{tmp}/run",
            "--bn-momentum",
            "1.5",
        ],
        "bn_momentum must be in [0, 1)",
    ),
    (
        [
            "train",
            "--model",
            "mobilenet_v2",
            "--data",
            "digits",
            "--epochs",
            "1",
            "--output",
            "{tmp}/run",
            "--weights",
            "{tmp}/missing.h5",
        ],
        "missing.h5",
    ),
    (["eval", "{tmp}/missing.tflite", "--data", "digits"], "is not a file"),
    (["eval", "{tmp}/exists.tflite", "--data", "digits"], "not a TFLite model"),
    (["bench", "{tmp}/exists.tflite"], "not a TFLite model"),
    (["bench", "{tmp}/exists.tflite", "--threads", "two"], "--threads"),
    (["run", "{tmp}/missing.yaml"], "does not exist"),
    (["run", "{tmp}/labels.txt"], "line"),
    (["inspect", "{tmp}/exists.tflite"], "not a TFLite model"),
]


def test_cheap_mistakes_are_reported_before_tensorflow_loads(tmp_path):
    """Each mistake that needs no TensorFlow to find is reported without importing it: at once,
    before data, weights or calibration images are read (a fresh interpreter, so nothing was loaded)."""
    (tmp_path / "labels.txt").write_text("a\nb\n")
    (tmp_path / "empty").mkdir()
    (tmp_path / "exists.tflite").write_bytes(b"keep me")
    cases = [([arg.format(tmp=tmp_path) for arg in args], message) for args, message in CHEAP_MISTAKES]
    code = """
import json, sys
from click.testing import CliRunner
from mobilekit.cli.main import cli
cases = json.loads(sys.argv[1])
report = []
for args, message in cases:
    result = CliRunner().invoke(cli, args)
    report.append([args, result.exit_code, result.output, type(result.exception).__name__,
                   "tensorflow" in sys.modules])
print(json.dumps(report))
"""
    done = subprocess.run([sys.executable, "-c", code, json.dumps(cases)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert len(report) == len(cases)
    for (args, message), (_, code_, output, exception, tensorflow) in zip(cases, report):
        assert code_ != 0 and exception == "SystemExit" and message in output, (args, output, exception)
        assert not tensorflow, f"TensorFlow was imported before {args} was refused: {output}"
    assert (tmp_path / "exists.tflite").read_bytes() == b"keep me"
