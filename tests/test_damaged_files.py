"""Damaged .tflite files (cut short, bits flipped) give a one-line error naming the file, never a
traceback or a crash: the Python readers, and the commands inspect, eval and bench."""

from __future__ import annotations

import pathlib

import pytest
from click.testing import CliRunner
from fuzzing import damaged_copies

from mobilekit.cli.main import cli
from mobilekit.errors import UserError
from mobilekit.export import integrity, metadata, tflite_file

READERS = {
    "summarize": tflite_file.summarize,
    "complexity": tflite_file.complexity,
    "metadata.read": metadata.read,
    "metadata.labels": metadata.labels,
    "metadata.read_spec": metadata.read_spec,
    "metadata.reader_problems": metadata.reader_problems,
    "metadata.associated_files": metadata.associated_files,
}


@pytest.fixture(scope="module")
def copies(tiny_int8_file) -> dict[str, bytes]:
    return damaged_copies(tiny_int8_file.read_bytes())


@pytest.fixture(scope="module")
def readable(copies) -> dict[str, bytes]:
    """The damaged copies whose flatbuffer still passes integrity.check (bits flipped in data or names)."""
    kept = {}
    for label, data in copies.items():
        try:
            tflite_file.read(data)
        except UserError:
            continue
        kept[label] = data
    return kept


def test_the_fuzz_reaches_both_sides_of_the_check(copies, readable):
    rejected = len(copies) - len(readable)
    assert rejected >= 100 and len(readable) >= 20, (rejected, len(readable))


def test_readers_raise_only_user_errors(copies):
    unexpected = []
    for label, data in copies.items():
        for name, read in READERS.items():
            try:
                read(data)
            except UserError:
                pass
            except Exception as error:  # noqa: BLE001 -- what the test looks for
                unexpected.append(f"{name} on {label}: {type(error).__name__}: {error}")
    assert not unexpected, "\n".join(unexpected[:20])


def one_line_error(result, path) -> str:
    assert isinstance(result.exception, SystemExit), result.exception  # a message, not a traceback
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: "), result.output
    return lines[0]


def test_inspect_names_the_file_and_what_is_wrong(copies, tmp_path):
    path = tmp_path / "model.tflite"
    failures = 0
    for label, data in copies.items():
        path.write_bytes(data)
        result = CliRunner().invoke(cli, ["inspect", str(path), "--json"])
        if result.exit_code == 0:
            continue
        failures += 1
        one_line_error(result, path)
    assert failures >= 100


def test_a_cut_in_the_packed_labels_is_named(tiny_int8_file, tmp_path):
    data = tiny_int8_file.read_bytes()
    path = tmp_path / "cut.tflite"
    path.write_bytes(data[: len(data) - 3])  # the flatbuffer is whole; the appended ZIP is not
    result = CliRunner().invoke(cli, ["inspect", str(path)])
    assert "damaged (cut short or corrupted)" in one_line_error(result, path)


def zero_point_out_of_range(data: bytes) -> bytes:
    model = tflite_file.read(data)
    graph = model.subgraphs[0]
    graph.tensors[graph.outputs[0]].quantization.zeroPoint[0] = 1 << 23  # a uint8 output
    return tflite_file.write(model)


def test_integrity_check_says_which_tensor(tiny_int8_file):
    with pytest.raises(integrity.DamagedFile, match=r"tensor \d+ has zero point 8388608, outside uint8's range"):
        tflite_file.summarize(zero_point_out_of_range(tiny_int8_file.read_bytes()))


def huge_filter_scale(data: bytes) -> bytes:
    """A per-channel filter scale of 1e30: well-formed, but LiteRT aborts when it prepares the op."""
    model = tflite_file.read(data)
    graph = model.subgraphs[0]
    conv = next(op for op in graph.operators if tflite_file.op_name(model, op.opcodeIndex) == "CONV_2D")
    graph.tensors[conv.inputs[1]].quantization.scale[0] = 1e30
    return tflite_file.write(model)


@pytest.mark.parametrize("command", ["eval", "bench"])
def test_a_file_that_crashes_the_interpreter_is_reported_not_run(tiny_int8_file, tmp_path, command):
    path = tmp_path / "crash.tflite"
    path.write_bytes(huge_filter_scale(tiny_int8_file.read_bytes()))
    args = {"eval": ["--data", "digits"], "bench": ["--runs", "2", "--warmup", "0"]}[command]
    result = CliRunner().invoke(cli, [command, str(path), *args, "--quiet"])
    assert "LiteRT's interpreter crashed on it" in one_line_error(result, path)


@pytest.mark.slow
def test_eval_and_bench_survive_readable_damaged_copies(readable, tmp_path):
    """Copies that pass the flatbuffer checks are evaluated and benchmarked: a result, or one line."""
    outcomes = {"ran": 0, "refused": 0}
    for index, (label, data) in enumerate(list(readable.items())[:16]):
        path = tmp_path / f"copy{index}.tflite"
        path.write_bytes(data)
        for args in (["eval", str(path), "--data", "digits"], ["bench", str(path), "--runs", "2", "--warmup", "0"]):
            result = CliRunner().invoke(cli, [*args, "--quiet"])
            if result.exit_code == 0:
                outcomes["ran"] += 1
                continue
            outcomes["refused"] += 1
            one_line_error(result, path)
    assert outcomes["ran"] and outcomes["refused"], outcomes


@pytest.mark.parametrize("fixture", ["host_bench.json", "quickstart_results.json", "adapt.json"])
def test_report_inputs_that_are_damaged_raise_only_user_errors(fixture, tmp_path):
    from mobilekit.report import collect

    source = pathlib.Path(__file__).parent / "fixtures" / fixture
    unexpected, refused = [], 0
    for index, (label, data) in enumerate(damaged_copies(source.read_bytes(), cuts=24, flips=80).items()):
        path = tmp_path / f"copy{index}.json"
        path.write_bytes(data)
        try:
            collect.collect([path])
        except UserError as error:
            refused += 1
            assert path.name in str(error), (label, str(error))
        except Exception as error:  # noqa: BLE001 -- what the test looks for
            unexpected.append(f"{label}: {type(error).__name__}: {error}")
    assert not unexpected, "\n".join(unexpected[:20])
    assert refused >= 24
