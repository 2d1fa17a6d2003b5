"""NetAdapt against a uniform width multiplier on mnist5k, both timed as int8 files on this machine's LiteRT.

    python scripts/bench_netadapt.py --output runs/bench_netadapt

Checks the targets of issue 16 in one resumable run (rerun the command after an
interruption; finished parts are read back from --output):

  start        a float MobileNetV3-Small (alpha 1.0, no pre-trained weights) trained on
               mnist5k at 96 px for --epochs
  adapted      NetAdapt (`netadapt.adapt_to`) to 0.6x the start's measured int8 latency
               (`HostLatency`: int8 files, LiteRT with XNNPACK, 1 thread), then --long-epochs
               of fine-tuning, as `mobilekit adapt` does
  width        the same architecture with the largest uniform width multiplier (alpha) whose
               int8 latency is at or below the adapted model's: a grid of freshly built models
               is timed in one interleaved run with the adapted model; trained from scratch for
               as many epochs as the adapted model saw in all (see "epochs" in the output)

The three are converted to int8 files, timed in one interleaved run and evaluated (top-1,
LiteRT) on mnist5k's 1,000 held-out test images. Targets: the adapted file within 1.5 points
of the start's top-1; the adapted file at least as accurate as the width-multiplier file, which
is no slower than it. Timing figures are this machine's: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import math
import pathlib
import platform
import shutil
import sys
import time
import warnings

import mobilekit  # noqa: F401  (selects tf_keras before TensorFlow loads)
from mobilekit import files
from mobilekit.errors import MobilekitWarning, UserError

SOURCE = "mnist5k"
START_DIR, ADAPT_DIR = "start", "adapt"
GRID_FILE, RESULTS_FILE = "width_grid.json", "results.json"
FILES = {"start": "start_int8.tflite", "adapted": "adapted_int8.tflite", "width": "width_int8.tflite"}
TOP1_POINTS = 1.5  # the adapted file's top-1 may lose at most this many points against the start's


def _whole(low: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {value}")
        return value

    return parse


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def _arguments(argv):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    add = parser.add_argument
    add("--output", type=pathlib.Path, default=pathlib.Path("runs/bench_netadapt"), help="folder for everything")
    add("--model", default="mobilenet_v3_small", help="the start model (a zoo name, trained from scratch)")
    add("--alpha", type=_positive, default=1.0, help="the start model's width multiplier")
    add("--resolution", type=_whole(1), default=96, help="input size in pixels")
    add("--epochs", type=_whole(1), default=8, help="the start model's training epochs")
    add("--learning-rate", type=_positive, default=1e-3, help="of the start and width-multiplier training (cosine)")
    add("--batch-size", type=_whole(1), default=32, help="images per step (training and NetAdapt's short steps)")
    add("--target", default="0.6x", help="NetAdapt's latency target: a fraction of the start's (0.6x) or ms")
    add(
        "--initial-step",
        type=float,
        default=0.025,
        help="NetAdapt's first latency cut, as a fraction of the start's latency: the paper's 0.025 took 15 "
        "iterations to reach 0.6x here, 0.05 took 9; 0.1 leaves few groups able to meet a budget alone and "
        "cuts those hard",
    )
    add("--step-decay", type=float, default=0.96, help="each later cut is this share of the one before")
    add("--short-steps", type=_whole(0), default=20, help="fine-tuning steps per NetAdapt proposal")
    add("--max-iterations", type=_whole(1), default=50, help="NetAdapt iterations at most")
    add("--selection", choices=("accuracy", "ratio"), default="accuracy", help="how NetAdapt picks a proposal")
    add("--long-epochs", type=_whole(0), default=2, help="fine-tuning epochs of the adapted model (lr 1e-4)")
    add("--alpha-min", type=_positive, default=0.25, help="the smallest width multiplier of the baseline's grid")
    add("--alpha-step", type=_positive, default=0.05, help="the grid's step, from --alpha-min up to --alpha")
    add("--runs", type=_whole(1), default=30, help="timed runs per candidate (NetAdapt and the alpha grid)")
    add("--final-runs", type=_whole(1), default=100, help="timed runs per file in the final three-file run")
    add("--seed", type=int, default=0)
    add("--force", action="store_true", help="discard what an earlier run wrote into --output and start over")
    add("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    return parser.parse_args(argv)


def _check(args):
    """Everything a user can get wrong, before any training: UserError with what to do."""
    from mobilekit import models
    from mobilekit.adapt import netadapt

    models.check(args.model, weights=None, alpha=args.alpha, resolution=args.resolution)
    target = netadapt.parse_target(args.target)
    netadapt.Settings(  # the NetAdapt settings' own checks, with a placeholder target
        target_ms=1.0,
        initial_step=args.initial_step,
        step_decay=args.step_decay,
        short_steps=args.short_steps,
        max_iterations=args.max_iterations,
        selection=args.selection,
    )
    if args.alpha_min > args.alpha:
        raise UserError(f"--alpha-min {args.alpha_min} is above --alpha {args.alpha}: the grid runs up to --alpha")
    if args.output.exists() and not args.output.is_dir():
        raise UserError(f"--output {args.output} is a file; the benchmark writes a folder. Pass a folder path.")
    try:
        args.output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UserError(f"cannot create the --output folder {args.output}: {error}. Choose another.") from None
    return target


def _alpha_grid(low: float, high: float, step: float) -> list[float]:
    count = math.floor((high - low) / step + 1e-9)
    return sorted({round(low + i * step, 4) for i in range(count + 1)} | {round(high, 4)})


def _cpu_name() -> str:
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _clear(folder: pathlib.Path) -> None:
    """Remove only what this script writes into `folder`."""
    names = [START_DIR, ADAPT_DIR, GRID_FILE, RESULTS_FILE, *FILES.values(), *(p.name for p in folder.glob("width_*"))]
    for path in (folder / name for name in names):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _conv_channels(model) -> int:
    """Output channels of every Conv2D, summed: how wide the network is, one number."""
    return sum(int(layer.filters) for layer in model.layers if type(layer).__name__ == "Conv2D")


def main(argv=None) -> int:
    args = _arguments(argv)
    from mobilekit.progress import import_tensorflow_quietly

    import_tensorflow_quietly()  # before the model checks, which load TensorFlow
    target = _check(args)
    started = time.perf_counter()
    seconds = {}
    out = args.output
    if args.force and out.is_dir():
        _clear(out)
    out.mkdir(parents=True, exist_ok=True)
    verbose, show = (0, False) if args.quiet else (2, True)
    from mobilekit import data as datasets
    from mobilekit import load_model, train
    from mobilekit.adapt import netadapt
    from mobilekit.adapt.latency import HostLatency

    data = datasets.load(SOURCE, resolution=args.resolution, batch_size=args.batch_size, seed=args.seed)

    def build(alpha: float):
        return train.build_model(
            args.model,
            num_classes=data.num_classes,
            weights=None,
            alpha=alpha,
            resolution=args.resolution,
            seed=args.seed,
        )

    # 1. The start model: train.fit resumes an interrupted run and does nothing for a finished one.
    clock = time.perf_counter()
    _log(
        f"== start: {args.model} alpha {args.alpha} at {args.resolution} px, {args.epochs} epoch(s) -> {out / START_DIR}"
    )
    history = train.fit(
        build(args.alpha),
        data,
        epochs=args.epochs,
        output_dir=out / START_DIR,
        learning_rate=args.learning_rate,
        seed=args.seed,
        verbose=verbose,
    )
    start = load_model(out / START_DIR / history["best"]["file"])
    seconds["start_training"] = time.perf_counter() - clock

    # 2. NetAdapt (adapt.json resumes it), then the long fine-tune of the model it reached.
    clock = time.perf_counter()
    host = HostLatency(calibration=data.calibration_images(64), mode="int8", threads=1, runs=args.runs, seed=args.seed)
    _log(f"== NetAdapt to {args.target} of the start's int8 latency -> {out / ADAPT_DIR}")
    state = netadapt.adapt_to(
        start,
        data,
        target,
        host.of,
        out / ADAPT_DIR,
        log=_log,
        show_progress=show,
        initial_step=args.initial_step,
        step_decay=args.step_decay,
        short_steps=args.short_steps,
        max_iterations=args.max_iterations,
        selection=args.selection,
    )
    if state["model"] is None:
        raise UserError(f"NetAdapt could not shrink {args.model} at all: {state.get('stopped')}")
    seconds["netadapt"] = time.perf_counter() - clock
    clock = time.perf_counter()
    adapted = load_model(out / ADAPT_DIR / state["model"])
    if args.long_epochs:
        finetune = out / ADAPT_DIR / f"finetune_{pathlib.Path(state['model']).stem}"
        _log(f"== long fine-tune of {state['model']}: {args.long_epochs} epoch(s) -> {finetune}")
        tuned = train.fit(
            adapted,
            data,
            epochs=args.long_epochs,
            output_dir=finetune,
            learning_rate=1e-4,
            seed=args.seed,
            verbose=verbose,
        )
        adapted = load_model(finetune / tuned["best"]["file"])
    seconds["long_finetune"] = time.perf_counter() - clock

    # 3. The width-multiplier baseline: the largest alpha no slower than the adapted model.
    clock = time.perf_counter()
    grid = _width_grid(args, out, state, adapted, build, host)
    seconds["alpha_grid"] = time.perf_counter() - clock
    clock = time.perf_counter()
    iterations = len(state["iterations"])
    steps_per_epoch = math.ceil(data.counts["train"] / args.batch_size)
    extra = math.ceil(iterations * args.short_steps / steps_per_epoch)
    width_epochs = args.epochs + args.long_epochs + extra
    width_dir = out / f"width_alpha{grid['chosen']:.2f}"
    _log(f"== width multiplier alpha {grid['chosen']:.2f} from scratch: {width_epochs} epoch(s) -> {width_dir}")
    trained = train.fit(
        build(grid["chosen"]),
        data,
        epochs=width_epochs,
        output_dir=width_dir,
        learning_rate=args.learning_rate,
        seed=args.seed,
        verbose=verbose,
    )
    width = load_model(width_dir / trained["best"]["file"])
    seconds["width_training"] = time.perf_counter() - clock

    # 4. Three int8 files: timed in one interleaved run, evaluated on the test split.
    clock = time.perf_counter()
    models = {"start": start, "adapted": adapted, "width": width}
    buffers = {}
    for name, model in models.items():
        buffers[name] = host.file(model)
        files.write_atomic(out / FILES[name], buffers[name], force=True)
    seconds["conversion"] = time.perf_counter() - clock
    clock = time.perf_counter()
    final = HostLatency(calibration=host.calibration, threads=1, runs=args.final_runs, seed=args.seed)
    _log(f"== timing the three int8 files, {args.final_runs} interleaved runs each")
    latency_ms = dict(zip(models, final.of_files(list(buffers.values()))))
    seconds["latency"] = time.perf_counter() - clock
    clock = time.perf_counter()
    top1 = {name: _file_top1(buffers[name], args, show) for name in models}
    float_top1 = {name: float(train.evaluate(model, data.split("test"))["top1"]) for name, model in models.items()}
    seconds["evaluation"] = time.perf_counter() - clock

    rows = {
        name: {
            "file": FILES[name],
            "alpha": args.alpha if name != "width" else grid["chosen"],
            "conv_channels": _conv_channels(model),
            "params": int(model.count_params()),
            "int8_ms": latency_ms[name],
            "ratio_to_start": latency_ms[name] / latency_ms["start"],
            "float_top1": float_top1[name],
            "int8_top1": top1[name],
            "bytes": len(buffers[name]),
        }
        for name, model in models.items()
    }
    epochs = {
        "start": args.epochs,
        "adapted": {"start": args.epochs, "short_steps": iterations * args.short_steps, "long": args.long_epochs},
        "width": width_epochs,
        "counted": (
            f"width = {args.epochs} (start) + {args.long_epochs} (long fine-tune) + {extra} = ceil({iterations} "
            f"iteration(s) x {args.short_steps} short steps / {steps_per_epoch} steps per epoch), the short "
            "fine-tunes on the chosen proposals' path"
        ),
    }
    checks = _checks(rows)
    results = {
        "cpu": _cpu_name(),
        "model": args.model,
        "resolution": args.resolution,
        "source": SOURCE,
        "test_images": data.counts["test"],
        "settings": {k: str(v) if isinstance(v, pathlib.Path) else v for k, v in vars(args).items()},
        "netadapt": {
            key: state.get(key) for key in ("start_ms", "target_ms", "reached", "stopped", "model", "start_accuracy")
        }
        | {"iterations": iterations, "path": [it["chosen"] for it in state["iterations"]]},
        "width_grid": grid,
        "epochs": epochs,
        "models": rows,
        "checks": checks,
        "seconds": seconds | {"total_this_run": time.perf_counter() - started},
    }
    files.write_json(out / RESULTS_FILE, results, force=True)
    _report(results, args, out)
    return 0


def _width_grid(args, out: pathlib.Path, state: dict, adapted, build, host) -> dict:
    """The alpha grid's latencies, measured in one interleaved run with the adapted model, and the
    largest alpha at or below the adapted model's latency; read back from width_grid.json when the
    adapted architecture and the grid are the same as then."""
    alphas = _alpha_grid(args.alpha_min, args.alpha, args.alpha_step)
    key = {"adapted": state["model"], "resolution": args.resolution, "model": args.model, "alphas": alphas}
    earlier = files.read_json(out / GRID_FILE, remedy="Delete it, or pass --force to start over.")
    if earlier and earlier.get("key") == key:
        _log(f"== alpha grid: read back from {out / GRID_FILE} (alpha {earlier['chosen']:.2f})")
        return earlier
    _log(
        f"== alpha grid: {len(alphas)} width multipliers {alphas[0]:.2f}..{alphas[-1]:.2f}, timed with the adapted model"
    )
    distinct, same_as = {}, {}  # alphas whose channel rounding gives the same model are built and timed once
    for alpha in reversed(alphas):
        model = build(alpha)
        params = int(model.count_params())
        if params in distinct:
            same_as[alpha] = distinct[params][0]
        else:
            distinct[params] = (alpha, model)
    timed = sorted(distinct.values())
    measured = host.of([adapted, *(model for _, model in timed)])
    adapted_ms, by_alpha = measured[0], {alpha: ms for (alpha, _), ms in zip(timed, measured[1:])}
    latency = {alpha: by_alpha[same_as.get(alpha, alpha)] for alpha in alphas}
    meeting = [alpha for alpha in alphas if latency[alpha] <= adapted_ms]
    grid = {
        "key": key,
        "adapted_ms": adapted_ms,
        "alphas": [
            {
                "alpha": alpha,
                "params": next(p for p, (a, _) in distinct.items() if a == same_as.get(alpha, alpha)),
                "int8_ms": latency[alpha],
                "same_model_as": same_as.get(alpha),
            }
            for alpha in alphas
        ],
        "chosen": max(meeting) if meeting else min(alphas),
        "met": bool(meeting),
    }
    if not meeting:
        _log(f"   no alpha down to {alphas[0]:.2f} is as fast as the adapted model: taking the smallest")
    files.write_json(out / GRID_FILE, grid, force=True)
    return grid


def _file_top1(buf: bytes, args, show: bool) -> float:
    from mobilekit.runtime import evaluate

    with warnings.catch_warnings():  # the files carry no labels: their outputs are the digits in order
        warnings.simplefilter("ignore", MobilekitWarning)
        return float(
            evaluate.accuracy(
                buf, SOURCE, split="test", seed=args.seed, batch_size=args.batch_size, show_progress=show
            ).top1
        )


def _checks(rows: dict) -> list[dict]:
    start, adapted, width = rows["start"], rows["adapted"], rows["width"]
    return [
        {
            "check": f"adapted int8 top-1 within {TOP1_POINTS} points of the start's",
            "value": f"{adapted['int8_top1']:.2%} vs {start['int8_top1']:.2%}",
            "margin_points": (adapted["int8_top1"] - start["int8_top1"]) * 100 + TOP1_POINTS,
            "pass": adapted["int8_top1"] >= start["int8_top1"] - TOP1_POINTS / 100,
        },
        {
            "check": "adapted int8 top-1 >= width-multiplier int8 top-1",
            "value": f"{adapted['int8_top1']:.2%} vs {width['int8_top1']:.2%}",
            "margin_points": (adapted["int8_top1"] - width["int8_top1"]) * 100,
            "pass": adapted["int8_top1"] >= width["int8_top1"],
        },
        {
            "check": "  at equal or lower latency: width-multiplier file no slower than the adapted one",
            "value": f"{width['int8_ms']:.3f} ms vs {adapted['int8_ms']:.3f} ms",
            "margin_ms": adapted["int8_ms"] - width["int8_ms"],
            "pass": width["int8_ms"] <= adapted["int8_ms"],
        },
    ]


def _report(results: dict, args, out: pathlib.Path) -> None:
    rows, net, grid = results["models"], results["netadapt"], results["width_grid"]
    start_channels = rows["start"]["conv_channels"]
    widths = {
        "start": f"alpha {rows['start']['alpha']:.2f}",
        "adapted": f"alpha {rows['adapted']['alpha']:.2f}, {rows['adapted']['conv_channels'] / start_channels:.0%} ch",
        "width": f"alpha {rows['width']['alpha']:.2f}, {rows['width']['conv_channels'] / start_channels:.0%} ch",
    }
    print(
        f"\n{results['model']} at {results['resolution']} px on {results['source']} "
        f"({results['test_images']:,} test images); int8 files on LiteRT (XNNPACK, 1 thread), {args.final_runs} "
        f"interleaved runs each; CPU {results['cpu']}; {results['seconds']['total_this_run'] / 60:.1f} min this run"
    )
    header = f"  {'model':<9} {'width (ch = conv channels)':<28} {'params':>10} {'int8 ms':>9} {'x start':>8}"
    print(header + f" {'float top-1':>12} {'int8 top-1':>11}")
    for name, row in rows.items():
        print(
            f"  {name:<9} {widths[name]:<28} {row['params']:>10,} {row['int8_ms']:>9.3f} "
            f"{row['ratio_to_start']:>8.2f} {row['float_top1']:>12.2%} {row['int8_top1']:>11.2%}"
        )
    reached = "reached" if net["reached"] else f"NOT reached ({net['stopped']})"
    print(
        f"  NetAdapt: {net['iterations']} iteration(s), start {net['start_ms']:.3f} ms, target {net['target_ms']:.3f} ms "
        f"({args.target}) {reached}"
    )
    for step in net["path"]:
        print(
            f"    group {step['group']:>3}: {step['of']:>4} -> {step['channels']:>4} channels, {step['latency_ms']:.3f} ms"
        )
    grid_line = ", ".join(f"{row['alpha']:.2f}: {row['int8_ms']:.3f}" for row in grid["alphas"])
    print(f"  alpha grid (ms; adapted {grid['adapted_ms']:.3f} ms in the same run): {grid_line}")
    if not grid["met"]:
        print(f"  no alpha in the grid was as fast as the adapted model; the smallest, {grid['chosen']:.2f}, was taken")
    print(f"  epochs: start {args.epochs}; {results['epochs']['counted']}")
    for check in results["checks"]:
        margin = f"{check['margin_points']:+.2f} pt" if "margin_points" in check else f"{check['margin_ms']:+.3f} ms"
        print(f"  {check['check']:<82} {check['value']:<24} {'PASS' if check['pass'] else 'MISS'} ({margin})")
    print(f"  figures: {out / RESULTS_FILE}")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as error:
        sys.exit(f"error: {error}")
