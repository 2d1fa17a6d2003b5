"""Choosing a tf.distribute strategy from --distribute and TF_CONFIG, and the local cluster launcher.

Everything here is plain Python (TF_CONFIG is JSON, the launcher is subprocesses): the runs
under a strategy are in the tests that train.
"""

import json
import pathlib
import subprocess
import sys

import pytest
from mobilekit import UserError
from mobilekit.train import distribute

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "scripts" / "local_cluster.py"


def _config(workers=2, index=0, kind="worker", **cluster):
    return json.dumps(
        {
            "cluster": {"worker": [f"127.0.0.1:{2220 + i}" for i in range(workers)], **cluster},
            "task": {"type": kind, "index": index},
        }
    )


def test_a_cluster_is_read_with_its_chief():
    cluster = distribute.parse_tf_config(_config(workers=3, index=2))
    assert cluster.workers == 3 and cluster.address == "127.0.0.1:2222" and not cluster.is_chief
    assert distribute.parse_tf_config(_config(index=0)).is_chief  # no chief task: worker 0 writes
    with_chief = distribute.parse_tf_config(_config(index=0, chief=["10.0.0.9:2222"]))
    assert with_chief.workers == 3 and not with_chief.is_chief
    assert distribute.parse_tf_config(_config(index=0, kind="chief", chief=["10.0.0.9:2222"])).is_chief


@pytest.mark.parametrize("text", [None, "", "  ", '{"task": {"type": "worker", "index": 0}}', '{"cluster": {}}'])
def test_no_cluster_named_is_none(text):
    assert distribute.parse_tf_config(text) is None


@pytest.mark.parametrize(
    "text, says",
    [
        ("{cluster: 1}", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"cluster": ["a:1"]}', "map task types"),
        ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', "non-empty list"),
        ('{"cluster": {"worker": ["localhost"]}, "task": {"type": "worker", "index": 0}}', "host:port"),
        ('{"cluster": {"worker": ["a:99999"]}, "task": {"type": "worker", "index": 0}}', "host:port"),
        (
            '{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}',
            "parameter servers",
        ),
        ('{"cluster": {"worker": ["a:1"]}}', "which task"),
        (_config(index=2), "index 2 is out of range"),
        (_config(index=-1), "out of range"),
        (_config(index="0"), "out of range"),
        (_config(kind="chief"), "not in its cluster"),
        (_config(kind="evaluator", evaluator=["c:3"]), "'worker' and 'chief' tasks only"),
        (_config(chief=["c:3", "d:4"]), "at most one"),
    ],
)
def test_a_bad_tf_config_is_a_clear_error(text, says):
    with pytest.raises(UserError, match=says):
        distribute.parse_tf_config(text)


def test_auto_follows_tf_config_then_the_gpus():
    assert distribute.choose("auto", environ={"TF_CONFIG": _config()}, gpus=0).kind == "multi-worker"
    assert distribute.choose("auto", environ={}, gpus=2).kind == "mirrored"
    assert distribute.choose("auto", environ={}, gpus=1).kind == "none"
    assert distribute.choose("none", environ={"TF_CONFIG": _config()}).kind == "none"
    plan = distribute.choose("multi-worker", environ={"TF_CONFIG": _config(index=1)})
    assert plan.workers == 2 and not plan.is_chief and "worker 1 at 127.0.0.1:2221" in plan.describe()
    with pytest.raises(UserError, match="needs TF_CONFIG"):
        distribute.choose("multi-worker", environ={})
    with pytest.raises(UserError, match="unknown distribution 'gloo'"):
        distribute.choose("gloo", environ={})


def test_the_global_batch_splits_evenly_or_says_what_would():
    assert distribute.check_global_batch(64, 2) == 32
    with pytest.raises(UserError, match="multiple of 4, e.g. 32 or 36"):
        distribute.check_global_batch(34, 4)


def _launch(*args, timeout=60):
    return subprocess.run(
        [sys.executable, str(LAUNCHER), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.parametrize(
    ("tasks", "task", "expected"),
    [
        ({"worker": ["a:1", "b:1", "c:1"]}, ("worker", 2), (2, 3)),
        ({"chief": ["a:1"], "worker": ["b:1", "c:1"]}, ("chief", 0), (0, 3)),
        ({"chief": ["a:1"], "worker": ["b:1", "c:1"]}, ("worker", 0), (1, 3)),
        ({"worker": ["a:1"]}, ("worker", 0), None),
    ],
)
def test_the_input_shard_is_numbered_as_tf_distribute_numbers_input_pipelines(tasks, task, expected):
    import types

    import tensorflow as tf

    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(tasks), task_type=task[0], task_id=task[1]
    )
    assert distribute.input_shard(types.SimpleNamespace(cluster_resolver=resolver)) == expected
    assert distribute.input_shard(tf.distribute.get_strategy()) is None


def test_the_launcher_gives_every_worker_its_task_and_prefixes_its_output():
    show = "import os, json; c = json.loads(os.environ['TF_CONFIG']); print(c['task']['index'], c['cluster']['worker'])"
    result = _launch("--workers", "3", "--", sys.executable, "-c", show)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("[worker")]
    assert sorted(line.split("]")[0] for line in lines) == ["[worker 0", "[worker 1", "[worker 2"]
    addresses = {line.split(" ", 3)[3] for line in lines}
    assert len(addresses) == 1  # one cluster, three distinct ports on the loopback
    ports = [address.split(":")[1].rstrip("',]") for address in addresses.pop().split(", ")]
    assert len(set(ports)) == 3
    for line in lines:
        assert line.startswith(f"[worker {line.split()[2]}]")


def _worker_script(body: str) -> str:
    return "import json, os, pathlib, sys, time\nindex = json.loads(os.environ['TF_CONFIG'])['task']['index']\n" + body


def test_one_failing_worker_stops_the_others():
    stopped = _launch(
        "--workers", "2", "--", sys.executable, "-c", _worker_script("time.sleep(60) if index == 0 else sys.exit(3)"),
        timeout=40,
    )  # fmt: skip
    assert stopped.returncode == 3 and "worker 1 exited with 3; stopping the others" in stopped.stdout


def test_a_restart_runs_the_whole_job_again(tmp_path):
    marker = tmp_path / "failed_once"
    body = (
        f"marker = pathlib.Path({str(marker)!r})\n"
        "if index == 1 and not marker.exists():\n"
        "    marker.touch()\n"
        "    sys.exit(3)\n"
        "print('finished')\n"
    )
    restarted = _launch("--workers", "2", "--restarts", "1", "--", sys.executable, "-c", _worker_script(body))
    assert restarted.returncode == 0, restarted.stdout
    assert "restarting the job (1 of 1)" in restarted.stdout and restarted.stdout.count("finished") >= 2


def test_the_launcher_refuses_a_missing_command():
    result = _launch("--workers", "2")
    assert result.returncode == 2 and "give the command after --" in result.stderr


def _run_script(name: str, *args, timeout=600) -> dict:
    """A script of tests/scripts in a process of its own (TensorFlow's devices are fixed when it starts)."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "scripts" / name), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_distiller_reports_and_trains_the_same_on_one_and_two_replicas(tmp_path):
    figures = _run_script("mirrored_vs_one_device.py", tmp_path, "distill")
    assert figures["one_replicas"] == 1 and figures["mirrored_replicas"] == 2
    for loss in ("loss", "hard_loss", "distillation_loss"):  # scaled for the global batch, logged unscaled
        assert figures[f"mirrored_{loss}"] == pytest.approx(figures[f"one_{loss}"], rel=1e-5), loss
    assert figures["one_distillation_loss"] > 0
    assert figures["trained_change"] > 1e-3 and figures["trained_difference"] < 1e-5


@pytest.mark.slow
def test_mirrored_on_two_devices_trains_and_prunes_as_one_device_does(tmp_path):
    figures = _run_script("mirrored_vs_one_device.py", tmp_path, "prune")
    assert figures["one_replicas"] == 1 and figures["mirrored_replicas"] == 2
    assert figures["mirrored_loss"] == pytest.approx(figures["one_loss"], rel=1e-5)
    assert figures["trained_change"] > 1e-3  # the steps moved the weights ...
    assert figures["trained_difference"] < 1e-5  # ... and both runs moved them alike
    assert figures["statistics_difference"] < 1e-2
    # tfmot's masks: the same on both replicas and as on one device, at the schedule's target
    assert figures["masks"] > 20 and figures["sparsity"] == pytest.approx(0.5, abs=0.02)
    assert figures["replicas_differ"] == [] and figures["mask_difference"] == 0.0


@pytest.mark.slow
def test_qat_ranges_agree_across_replicas_fed_different_images():
    figures = _run_script("qat_ranges_across_replicas.py")
    assert figures["ranges"] > 50 and figures["differ"] == []
    # tfmot's own input range follows each replica's images: what mobilekit's pinned input range avoids
    assert figures["stock_differ"], "the stock model's ranges agreed: the replicas did not see different images"


RECIPE = """\
model:
  name: mobilenet_v3_small
  resolution: 32
data:
  source: digits
stages:
  - train:
      epochs: 1
"""


def test_a_recipe_distribute_section_is_checked_and_kept_out_of_the_fingerprints():
    from mobilekit import recipes
    from mobilekit.recipes.runner import fingerprint
    from mobilekit.recipes.schema import DistributeSpec

    plain = recipes.parse(RECIPE, name="test", origin="test.yaml")
    assert plain.distribute == DistributeSpec("auto", 50)
    spread = recipes.parse(
        RECIPE + "distribute:\n  strategy: multi-worker\n  backup_steps: 7\n", name="test", origin="t.yaml"
    )
    assert spread.distribute == DistributeSpec("multi-worker", 7)
    assert spread.to_json()["distribute"] == {"strategy": "multi-worker", "backup_steps": 7}
    assert fingerprint(spread, 0) == fingerprint(plain, 0)  # where it trains, not what
    for bad, says in (("strategy: ring", "expected one of auto, none"), ("backup_steps: 0", "backup_steps")):
        with pytest.raises(UserError, match=says):
            recipes.parse(RECIPE + f"distribute:\n  {bad}\n", name="test", origin="test.yaml")


def test_train_refuses_a_bad_tf_config_before_anything_is_written(tmp_path, monkeypatch):
    from click.testing import CliRunner
    from mobilekit.cli.main import cli

    monkeypatch.setenv(
        "TF_CONFIG", '{"cluster": {"worker": ["127.0.0.1:2222"]}, "task": {"type": "worker", "index": 3}}'
    )
    args = ["train", "--model", "mobilenet_v3_small", "--resolution", "32", "--weights", "none", "--data", "digits"]
    result = CliRunner().invoke(cli, [*args, "--epochs", "1", "--output", str(tmp_path / "run")])
    assert result.exit_code != 0 and "task index 3 is out of range" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_a_backup_directory_that_cannot_be_written_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match="backup directory .* is not writable"):
        distribute.check_writable(blocker / "backup", "backup directory")


@pytest.mark.slow
def test_two_workers_write_one_set_of_artifacts_and_a_killed_worker_resumes_exactly(tmp_path):
    figures = _run_script("two_worker_recipe.py", tmp_path, timeout=1500)
    killed, whole = figures["killed"], figures["whole"]
    assert killed["code"] == 0 and whole["code"] == 0, killed["log_tail"] + whole["log_tail"]
    assert killed["killed_in_epoch"] == 2 and killed["restarted"]
    assert not whole["restarted"]
    # one set of files, the chief's: no other worker's folders, no backups left
    assert figures["artifacts"] == [
        "1_train/best.keras",
        "1_train/history.json",
        "1_train/labels.txt",
        "1_train/resume/checkpoint",
        "1_train/resume/ckpt-2.data-00000-of-00001",
        "1_train/resume/ckpt-2.index",
        "1_train/train_config.json",
        "2_qat/best.h5",
        "2_qat/history.json",
        "2_qat/labels.txt",
        "2_qat/resume/checkpoint",
        "2_qat/resume/ckpt-1.data-00000-of-00001",
        "2_qat/resume/ckpt-1.index",
        "2_qat/train_config.json",
        "3_export/mobilenet_v3_small_int8.tflite",
        "results.json",
    ]
    assert figures["train_share"] == {"worker": 0, "of": 2}  # a folder: each worker read its own training files
    # pruning on two workers: the kernels it prunes reach the target (first conv, classifier and depthwise stay dense)
    pruned = [value for value in figures["pruned_kernels"] if value > 0.01]
    assert len(pruned) > 20 and all(value == pytest.approx(0.5, abs=0.05) for value in pruned)
    # the run that was killed and restarted trained what the uninterrupted one did
    assert figures["same_variables"] and figures["trained_variables"] > 100
    assert figures["trained_difference"] <= 1e-6 * figures["trained_largest"]
    assert figures["val_loss"][0] == pytest.approx(figures["val_loss"][1], rel=1e-6)
