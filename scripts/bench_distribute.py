"""Training throughput on one process and on N MultiWorkerMirroredStrategy workers on this machine.

    python scripts/bench_distribute.py [--model mobilenet_v3_small] [--resolution 96] [--batch-size 64]
                                       [--steps 40] [--warmup 10] [--workers 2]

Trains the model on mnist5k (mobilekit's training stream, global batch --batch-size) and times the
steps after --warmup, three ways, each in a fresh process:

  one process       the global batch, every core (what `mobilekit train` does alone)
  one worker's work the per-worker share of the batch (batch / N), one intra-op thread: the compute
                    one of the N workers does per step, with nothing to exchange
  N workers         MultiWorkerMirroredStrategy on 127.0.0.1 (scripts/local_cluster.py), one intra-op
                    thread each, batch norms synchronized, gradients all-reduced every step

and prints images per second for each, and per step the time the N workers spend beyond one worker's
compute: gradient and batch-norm all-reduces over the loopback, and the workers sharing the cores. On
a machine with fewer cores than it needs that is not a speed-up (nothing here asserts one): the figure
is the overhead a real cluster pays on its network instead.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def worker(args) -> None:
    """One process: build, train --warmup + --steps steps, print the median step time as JSON."""
    sys.path.insert(0, str(ROOT / "toolkit"))
    import mobilekit  # noqa: F401
    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    from mobilekit.train import distribute

    plan = distribute.choose("auto")
    strategy = plan.strategy()
    import tf_keras

    from mobilekit import models
    from mobilekit.data import datasets
    from mobilekit.train.loop import synchronize_batch_norm

    data = datasets.load(
        "mnist5k", resolution=args.resolution, batch_size=args.batch_size, show_progress=False, augment=False
    )
    times = []

    class Clock(tf_keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.started = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.started)

    with strategy.scope():
        model = models.build(args.model, weights=None, resolution=args.resolution, num_classes=10)
        if strategy.num_replicas_in_sync > 1:
            synchronize_batch_norm(model)
        model.compile(optimizer=tf_keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy")
    steps = args.warmup + args.steps
    model.fit(data.train_from(0, 0), steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[Clock()])
    step = statistics.median(times[args.warmup :])
    print(json.dumps({"step_s": step, "replicas": strategy.num_replicas_in_sync, "chief": plan.is_chief}), flush=True)


def _run(command: list[str], env: dict | None = None) -> list[dict]:
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800, check=False)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{result.stdout[-2000:]}{result.stderr[-3000:]}")
    found = []
    for line in result.stdout.splitlines():
        text = line.split("] ", 1)[1] if line.startswith("[worker") else line
        if text.startswith("{"):
            found.append(json.loads(text))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="mobilenet_v3_small")
    parser.add_argument("--resolution", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch")
    parser.add_argument("--steps", type=int, default=40, help="timed steps")
    parser.add_argument("--warmup", type=int, default=10, help="steps before timing (tracing, caches)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)  # a worker's intra-op threads
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return 0
    if args.batch_size % args.workers:
        parser.error(f"--batch-size {args.batch_size} does not split evenly over {args.workers} workers")
    me = [sys.executable, str(pathlib.Path(__file__).resolve()), "--worker", "--model", args.model]
    me += ["--resolution", str(args.resolution), "--steps", str(args.steps), "--warmup", str(args.warmup)]
    plain = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    share = args.batch_size // args.workers
    print(f"{args.model} at {args.resolution} px, global batch {args.batch_size}, {args.workers} workers", flush=True)
    (alone,) = _run([*me, "--batch-size", str(args.batch_size)], env=plain)
    (one_share,) = _run([*me, "--batch-size", str(share), "--threads", "1"], env=plain)
    launcher = [sys.executable, str(ROOT / "scripts" / "local_cluster.py"), "--workers", str(args.workers), "--"]
    spread = _run([*launcher, *me, "--batch-size", str(args.batch_size), "--threads", "1"], env=plain)
    cluster_step = max(result["step_s"] for result in spread)  # the step ends when the slowest worker's does
    rows = [
        ("one process", args.batch_size, alone["step_s"]),
        ("one worker's work", share, one_share["step_s"]),
        (f"{args.workers} workers", args.batch_size, cluster_step),
    ]
    sys.path.insert(0, str(ROOT / "toolkit"))
    from mobilekit.runtime.benchmark import host_device

    print(f"\nCPU: {host_device()['name']}, {os.cpu_count()} cores")
    print("| run | images per step | median step | images/s |\n| --- | --- | --- | --- |")
    for name, images, step in rows:
        print(f"| {name} | {images} | {step * 1000:.1f} ms | {images / step:.0f} |")
    overhead = cluster_step - one_share["step_s"]
    print(
        f"\n{args.workers} workers against one process: {alone['step_s'] / cluster_step:.2f}x the images/s; "
        f"per step {overhead * 1000:.1f} ms ({overhead / cluster_step:.0%}) beyond one worker's compute "
        "(all-reduces over the loopback and the workers sharing the cores)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
