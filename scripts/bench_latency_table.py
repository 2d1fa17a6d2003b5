#!/usr/bin/env python3
"""How close a latency table recorded on this machine comes to the networks it estimates, measured.

For each model: record its table (`mobilekit adapt --export-table-models` does the same), then time
the model and three narrower versions of it — one channel group cut to 60%, every group at 85% and
at 60% (widths the table never timed: they are interpolated) — each file by itself as the table's
files are timed, in a few rounds, and print each estimate's error against the measured median. The
issue's target: within 10%.

    .venv/bin/python scripts/bench_latency_table.py                         # MobileNetV2, V3-Small, EfficientNet-B0, 224 px
    .venv/bin/python scripts/bench_latency_table.py --resolution 96 --models mobilenet_v3_small
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import numpy as np

TARGET = 0.10
MODELS = ("mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), metavar="NAME")
    parser.add_argument("--resolution", type=int, default=224)
    parser.add_argument("--mode", choices=("int8", "float32"), default="int8")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=50, help="timed runs of each file (default 50)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of timing the versions (default 5)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.resolution < 32 or min(args.threads, args.runs, args.rounds) < 1:
        parser.error("--resolution >= 32, and --threads, --runs and --rounds >= 1 please")
    return args


def versions(model):
    """(label, model): the model and narrower ones at widths the table did not time."""
    from mobilekit.adapt import surgery, table_record

    graph = surgery.ChannelGraph(model)
    widest = max(graph.prunable(), key=lambda g: g.size)
    one = surgery.shrink(graph, {widest.id: surgery.keep_strongest(graph, widest.id, round(0.6 * widest.size))})
    narrower = table_record.narrower_copies(model, (0.85, 0.6))
    return [
        ("as built", model),
        (f"group {widest.id} at 60%", one),
        ("all groups 85%", narrower[0]),
        ("all groups 60%", narrower[1]),
    ]


def measure_alone(host, files: list[bytes], rounds: int) -> list[float]:
    """Each file's median latency timed by itself, run after run — as the table's files are timed, here and by
    the phone — in `rounds` rounds over all the files; the median round, so drift hits every file alike."""
    per_round = [[host.of_files([buf])[0] for buf in files] for _ in range(rounds)]
    return [float(np.median(column)) for column in zip(*per_round)]


def main() -> int:
    args = parse_args()
    from mobilekit.progress import import_tensorflow_quietly

    import_tensorflow_quietly()
    from mobilekit import UserError, models, train
    from mobilekit.adapt import table_record
    from mobilekit.adapt.latency import HostLatency
    from mobilekit.runtime.benchmark import host_device

    for name in args.models:
        try:
            models.check(name, weights="none", resolution=args.resolution)
        except UserError as error:
            sys.exit(f"error: {error}")
    images = np.random.default_rng(args.seed).uniform(0, 255, (32, args.resolution, args.resolution, 3))
    host = HostLatency(
        calibration=images.astype("float32"), mode=args.mode, threads=args.threads, runs=args.runs, seed=args.seed
    )
    print(f"# latency table vs measured, {args.mode}, {args.threads} thread(s), {args.resolution} px")
    print(f"# CPU: {host_device()['name']}")
    print(f"{'model':20s} {'version':20s} {'measured ms':>12s} {'table ms':>9s} {'error':>7s}")
    worst = 0.0
    for name in args.models:
        began = time.perf_counter()
        model = train.build_model(name, num_classes=10, weights="none", resolution=args.resolution, seed=args.seed)
        with tempfile.TemporaryDirectory() as folder:
            recorded = table_record.record(model, host, folder)
        labelled = versions(model)
        files = [host.file(version) for _, version in labelled]
        measured = measure_alone(host, files, args.rounds)
        for (label, _), buf, ms in zip(labelled, files, measured):
            estimate = recorded.estimate(buf)
            error = (estimate - ms) / ms
            worst = max(worst, abs(error))
            print(f"{name:20s} {label:20s} {ms:12.3f} {estimate:9.3f} {error:+7.1%}")
        print(
            f"{'':20s} ({len(recorded.entries)} one-op files, networks/ops scale {recorded.scale:.3f}, "
            f"{time.perf_counter() - began:.0f} s)"
        )
    verdict = "PASS" if worst <= TARGET else "MISS"
    print(f"{verdict}: the largest error is {worst:.1%} (target {TARGET:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
