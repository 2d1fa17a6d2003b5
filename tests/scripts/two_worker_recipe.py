"""Run by tests/test_distribute.py: a recipe on two workers through scripts/local_cluster.py, one worker
killed mid-epoch once, and the same training in one process; prints JSON with what came out.

    python tests/scripts/two_worker_recipe.py OUTPUT_DIR

The recipe trains MobileNetV3-Small (32 px, alpha 0.35, no dropout: its masks are random per replica)
for 2 epochs with SGD on a folder of 360 of the bundled digits (PNG files, so each worker decodes and
trains on its own half of the training files), with backups every 2 steps, then QAT for an epoch and
an int8 export. While epoch 2 trains, worker 1 is killed (SIGKILL); the launcher stops
worker 0 and starts the job again, which resumes from the last backup. The train stage alone also runs
on two workers without interruption, to compare the weights, followed by a prune stage (one epoch of 9
steps, masks at steps 0, 4 and 8: 50% of each pruned kernel at step 8).
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
MOBILEKIT = str(pathlib.Path(sys.executable).parent / "mobilekit")
RECIPE = """\
model: {{name: mobilenet_v3_small, resolution: 32, alpha: 0.35, weights: none, dropout: 0.0}}
data: {{source: {folder}, batch_size: 32}}
distribute: {{strategy: multi-worker, backup_steps: 2}}
stages:
  - train: {{epochs: 2, optimizer: sgd, learning_rate: 0.01}}
"""
MORE_STAGES = """\
  - qat: {epochs: 1, learning_rate: 1e-4}
  - export: {mode: int8}
"""
PRUNE_STAGE = """\
  - prune: {epochs: 1, target_sparsity: 0.5, frequency: 4}
"""


def digits_folder(folder: pathlib.Path, per_class: int = 36) -> pathlib.Path:
    """The first `per_class` bundled digits of each class as PNG files in class sub-folders."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(10):
        (folder / str(label)).mkdir(parents=True)
        for i, position in enumerate(np.flatnonzero(digits.target == label)[:per_class]):
            pixels = np.round(digits.images[position] * (255.0 / 16.0)).astype(np.uint8)
            Image.fromarray(pixels).save(folder / str(label) / f"{i:03d}.png")
    return folder


def saved_position(backup: pathlib.Path):
    import tensorflow as tf

    try:
        latest = tf.train.latest_checkpoint(str(backup))
        if latest is None:
            return None
        return int(tf.train.load_variable(latest, "ckpt_saved_epoch/.ATTRIBUTES/VARIABLE_VALUE"))
    except (tf.errors.OpError, ValueError):  # being written
        return None


def final_weights(folder: pathlib.Path) -> dict:
    """The model's variables in the train stage's last checkpoint (after its last epoch), by name."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(folder / "1_train" / "resume")))
    names = [name for name in reader.get_variable_to_shape_map() if name.startswith("model/")]
    return {name: reader.get_tensor(name) for name in names if "OPTIMIZER_SLOT" not in name}


def pruned_kernels(folder: pathlib.Path) -> list[float]:
    """The sparsity of each kernel the prune stage of the run in `folder` reports."""
    stages = json.loads((folder / "results.json").read_text())["stages"]
    prune = next(stage for stage in stages if stage["stage"] == "prune")
    return [row["sparsity"] for row in prune["results"]["sparsity"]["rows"]]


def compare(two: pathlib.Path, one: pathlib.Path) -> dict:
    import numpy as np

    ours, theirs = final_weights(two), final_weights(one)
    statistics = [name for name in ours if "moving_" in name]  # fused (one process) vs synchronized batch norm
    trained = [name for name in ours if name not in statistics]
    histories = [json.loads((folder / "1_train" / "history.json").read_text()) for folder in (two, one)]
    return {
        "same_variables": sorted(ours) == sorted(theirs),
        "trained_variables": len(trained),
        "trained_difference": max(float(np.max(np.abs(ours[n] - theirs[n]))) for n in trained),
        "trained_largest": max(float(np.max(np.abs(theirs[n]))) for n in trained),
        "val_loss": [[entry["val_loss"] for entry in history["epochs"]] for history in histories],
        "artifacts": sorted(str(p.relative_to(two)) for p in two.rglob("*") if p.is_file()),
        "train_share": json.loads((two / "1_train" / "train_config.json").read_text())["data"].get("train_share"),
        "pruned_kernels": pruned_kernels(one),
    }


def run_cluster(recipe: pathlib.Path, output: pathlib.Path, *, kill: bool) -> dict:
    """The recipe on two workers (worker 1 killed once while epoch 2 trains, when `kill`)."""
    command = [sys.executable, str(ROOT / "scripts" / "local_cluster.py"), "--workers", "2", "--restarts", "1", "--"]
    command += [MOBILEKIT, "run", str(recipe), "--output", str(output), "--quiet"]
    launcher = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(iter(launcher.stdout.readline, "")), daemon=True)
    reader.start()
    killed_at = None
    try:
        deadline = time.monotonic() + 900
        while kill and killed_at is None and launcher.poll() is None and time.monotonic() < deadline:
            epoch = saved_position(output / "1_train" / "backup" / "chief")
            pids = [line.split()[4] for line in list(lines) if line.startswith("[cluster] worker 1 pid")]
            if epoch is not None and epoch >= 1 and pids:
                os.kill(int(pids[-1]), signal.SIGKILL)
                killed_at = epoch
            time.sleep(0.1)
        code = launcher.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
        reader.join(timeout=10)
    return {
        "code": code,
        "killed_in_epoch": None if killed_at is None else killed_at + 1,
        "restarted": any("restarting the job" in line for line in lines),
        "log_tail": "".join(lines[-40:]),
    }


def main() -> None:
    out = pathlib.Path(sys.argv[1])
    recipe = RECIPE.format(folder=digits_folder(out / "digits"))
    (out / "killed.yaml").write_text(recipe + MORE_STAGES)
    (out / "whole.yaml").write_text(recipe + PRUNE_STAGE)
    killed = run_cluster(out / "killed.yaml", out / "killed", kill=True)
    whole = run_cluster(out / "whole.yaml", out / "whole", kill=False)
    done = killed["code"] == 0 and whole["code"] == 0
    print(json.dumps({"killed": killed, "whole": whole, **(compare(out / "killed", out / "whole") if done else {})}))


if __name__ == "__main__":
    main()
