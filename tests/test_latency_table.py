"""The latency lookup table (mobilekit.adapt.table): one-op files, their shapes, the sum and the interpolation.

What is asserted is the table's arithmetic and files, never how fast this machine is: how close the
estimate comes to a measured network is a figure of scripts/bench_latency_table.py.
"""

import json

import numpy as np
import pytest
from mobilekit import UserError, load_model, models
from mobilekit.adapt import surgery, table, table_record
from mobilekit.adapt.latency import HostLatency

FRACTIONS = (1.0, 0.5)


@pytest.fixture(scope="module")
def zoo_model():
    return models.build("mobilenet_v3_small", weights=None, resolution=32, alpha=0.35, num_classes=10)


@pytest.fixture(scope="module")
def host():
    images = np.random.default_rng(0).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    return HostLatency(calibration=images, runs=3, warmup=1)


@pytest.fixture(scope="module")
def recorded(zoo_model, host, tmp_path_factory):
    folder = tmp_path_factory.mktemp("table") / "mnv3"
    return table_record.record(zoo_model, host, folder, fractions=FRACTIONS), folder


def test_every_op_of_the_model_and_its_narrower_copy_is_a_file_of_its_own(recorded, zoo_model, host):
    timed, folder = recorded
    start_ops = table.op_shapes(host.file(zoo_model))
    assert {entry.shape for entry in timed.entries} >= set(start_ops)
    for entry in timed.entries:
        assert table.op_shapes((folder / entry.file).read_bytes()) == [entry.shape]
        assert entry.ms > 0
    assert [n["fraction"] for n in timed.networks] == list(FRACTIONS)
    assert table.op_shapes((folder / "network_100.tflite").read_bytes()) == start_ops
    (overhead,) = table.op_shapes((folder / table.OVERHEAD_FILE).read_bytes())
    assert overhead.op == "ADD" and timed.overhead_ms > 0
    # a convolution's filter carries channels on its first (out) and last (in) axes, never the kernel's
    filters = {e.varying[1] for e in timed.entries if e.shape.op == "CONV_2D"}
    assert (0, 3) in filters and filters <= {(), (0,), (3,), (0, 3)}
    assert timed.model == zoo_model.name and timed.resolution == 32 and timed.mode == "int8"


def test_the_written_table_reads_back_as_recorded(recorded):
    timed, folder = recorded
    loaded = table.load(folder)
    assert loaded.to_json() == timed.to_json()
    assert loaded.scale == pytest.approx(timed.scale)
    assert json.loads((folder / table.TABLE_FILE).read_text())["format"] == table.FORMAT
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [table.TABLE_FILE, table.OVERHEAD_FILE, *(n["file"] for n in timed.networks), *(e.file for e in timed.entries)]
    )


def test_a_timed_network_is_estimated_as_its_ops_summed(recorded):
    timed, folder = recorded
    data = json.loads((folder / table.TABLE_FILE).read_text())
    by_shape = {(o["op"], json.dumps(o["inputs"]), json.dumps(o["outputs"])): o["ms"] for o in data["ops"]}
    overhead = data["overhead"]["ms"]
    network = (folder / "network_100.tflite").read_bytes()
    summed = sum(
        max(
            by_shape[(s.op, json.dumps([list(i) for i in s.inputs]), json.dumps([list(o) for o in s.outputs]))]
            - overhead,
            0,
        )
        for s in table.op_shapes(network)
    )
    assert timed.op_sum(network) == pytest.approx(summed)
    ops = len(table.op_shapes(network))
    assert timed.estimate(network) == pytest.approx(overhead + timed.scale * summed + timed.per_op_ms * ops)
    # the correction is the least-squares line from the networks' summed ops to their measured times
    sums = [timed.op_sum((folder / n["file"]).read_bytes()) for n in data["networks"]]
    counts = [len(table.op_shapes((folder / n["file"]).read_bytes())) for n in data["networks"]]
    measured = [n["ms"] - overhead for n in data["networks"]]
    fitted = np.array(sums) * timed.scale + np.array(counts) * timed.per_op_ms
    nudged = np.array(sums) * timed.scale * 1.01 + np.array(counts) * timed.per_op_ms
    if timed.per_op_ms > 0:
        assert np.sum((fitted - measured) ** 2) <= np.sum((nudged - measured) ** 2)
    else:  # a fit with a negative cost per op (disturbed timings) falls back to the ratio of the totals
        assert timed.scale == pytest.approx(max(sum(measured), 0) / sum(sums))


def test_a_width_between_the_timed_ones_is_interpolated(recorded, zoo_model, host):
    timed, _ = recorded
    graph = surgery.ChannelGraph(zoo_model)
    group = max(graph.prunable(), key=lambda g: g.size)
    proposal = surgery.shrink(graph, {group.id: surgery.keep_strongest(graph, group.id, group.size * 3 // 4)})
    buf = host.file(proposal)
    assert timed.missing(buf), "three quarters of a group was not timed: its ops must come from interpolation"
    assert timed.estimate(buf) > 0
    assert table.TableLatency(timed, host).of([proposal]) == [pytest.approx(timed.estimate(buf))]


def conv_shape(cin: int, cout: int, spatial: int = 8) -> table.OpShape:
    s = spatial
    return table.OpShape("CONV_2D", "int8", ((1, s, s, cin), (cout, 1, 1, cin)), ((1, s, s, cout),))


def conv_entry(cin: int, cout: int, ms: float) -> table.Entry:
    return table.Entry("op.tflite", conv_shape(cin, cout), ((3,), (0, 3), (3,)), ms)


def synthetic(entries) -> table.LatencyTable:
    return table.LatencyTable("net", 8, "int8", 1, {"name": "test"}, 0.001, entries)


def test_interpolation_is_linear_in_channel_work_and_refuses_what_was_not_timed():
    timed = synthetic([conv_entry(8, 8, 0.05), conv_entry(16, 16, 0.40)])  # work 64 and 256
    assert timed.op_ms(conv_shape(16, 16)) == pytest.approx(0.40)
    assert timed.op_ms(conv_shape(16, 10)) == pytest.approx(0.05 + 0.35 * (160 - 64) / 192)
    assert timed.op_ms(conv_shape(4, 12)) == pytest.approx(0.05 - 0.35 * 16 / 192)  # below: the first segment's line
    assert timed.op_ms(conv_shape(1, 1)) == 0.0  # ... never below zero
    with pytest.raises(UserError, match="no measurement as wide as"):
        timed.op_ms(conv_shape(32, 16))
    with pytest.raises(UserError, match="holds no op like CONV_2D int8 \\[\\[1, 4, 4, 8\\]"):
        timed.op_ms(conv_shape(8, 8, spatial=4))


def test_a_table_that_is_not_one_is_a_clear_error(recorded, tmp_path):
    _, folder = recorded
    good = json.loads((folder / table.TABLE_FILE).read_text())
    cases = {
        "format": ({**good, "format": "mobilekit.bench/1"}, "its 'format' is 'mobilekit.bench/1'"),
        "ops": ({k: v for k, v in good.items() if k != "ops"}, "no 'ops'"),
        "ms": ({**good, "ops": [{**good["ops"][0], "ms": None}]}, "has no time measured"),
        "varying": ({**good, "ops": [{**good["ops"][0], "varying": [[3]]}]}, "'varying' names 1 tensors"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
        with pytest.raises(UserError, match=message):
            table.load(tmp_path / f"{name}.json")
    (tmp_path / "cut.json").write_text(json.dumps(good)[:100])
    with pytest.raises(UserError, match="cannot read"):
        table.load(tmp_path / "cut.json")
    (tmp_path / "alone.json").write_text(json.dumps(good))  # its network files are not beside it
    with pytest.raises(UserError, match="network_100.tflite, which is not beside it"):
        table.load(tmp_path / "alone.json")
    with pytest.raises(UserError, match="no latency table at"):
        table.load(tmp_path / "missing.json")


def test_a_table_of_another_model_or_setting_is_refused(recorded, host, zoo_model):
    timed, _ = recorded
    table.check_fits(timed, host, zoo_model, "t.json")  # its own model fits
    other = models.build("mobilenet_v3_small", weights=None, resolution=40, alpha=0.35, num_classes=10)
    other_host = HostLatency(calibration=np.zeros((2, 40, 40, 3), "float32"), runs=1)
    with pytest.raises(UserError, match="recorded for .* at 32 px and lacks"):
        table.check_fits(timed, other_host, other, "t.json")
    with pytest.raises(UserError, match="mode int8, not float32: pass --mode int8"):
        table.check_fits(timed, HostLatency(calibration=host.calibration, mode="float32"), zoo_model, "t.json")
    with pytest.raises(UserError, match="threads 1, not 2: pass --threads 1"):
        table.check_fits(timed, HostLatency(calibration=host.calibration, threads=2), zoo_model, "t.json")


def run_cli(*args):
    from click.testing import CliRunner
    from mobilekit.cli.main import cli

    return CliRunner().invoke(cli, ["adapt", *args])


def test_the_adapt_command_exports_a_table_and_adapts_with_it(conv_file, tmp_path):
    model = ["--model", str(conv_file), "--data", "digits", "--mode", "float32", "--runs", "3", "--quiet"]
    exported = run_cli(*model, "--export-table-models", str(tmp_path / "table"))
    assert exported.exit_code == 0, exported.output
    assert "the table estimates" in exported.output and "android_bench.sh --table" in exported.output
    again = run_cli(*model, "--export-table-models", str(tmp_path / "table"))
    assert again.exit_code != 0 and "holds a latency table; pass --force" in again.output
    out = tmp_path / "adapted"
    args = ["--latency-table", str(tmp_path / "table" / table.TABLE_FILE), "--target-latency", "0.9x"]
    args += ["--output", str(out), "--short-steps", "1", "--long-epochs", "0", "--max-iterations", "1"]
    adapted = run_cli(*model, *args)
    assert adapted.exit_code == 0, adapted.output
    assert "from the latency table" in adapted.output
    state = json.loads((out / "adapt.json").read_text())
    assert state["measured_on"].startswith(f"from the latency table {tmp_path / 'table' / table.TABLE_FILE}, timed on")
    timed = table.load(tmp_path / "table")
    host = HostLatency(calibration=np.zeros((1, 64, 64, 3), "float32"), mode="float32")
    chosen = load_model(out / state["model"])
    assert state["iterations"][0]["chosen"]["latency_ms"] == pytest.approx(timed.estimate(host.file(chosen)))


def test_the_adapt_command_says_which_options_go_together(conv_file, tmp_path):
    model = ["--model", str(conv_file), "--data", "digits"]
    both = run_cli(*model, "--export-table-models", str(tmp_path / "t"), "--output", str(tmp_path / "o"))
    assert both.exit_code == 2 and "adapts nothing" in both.output
    neither = run_cli(*model, "--output", str(tmp_path / "o"))
    assert neither.exit_code == 2 and "needs --target-latency and --output" in neither.output
    missing = run_cli(
        *model, "--target-latency", "0.5x", "--output", str(tmp_path / "o"), "--latency-table", "nope.json"
    )
    assert missing.exit_code != 0 and "no latency table at nope.json" in missing.output
    assert not (tmp_path / "t").exists() and not (tmp_path / "o").exists()
