"""The optimization pipeline's figures on mnist5k's held-out test split, from one float model.

    python scripts/bench_optimize.py --output runs/bench_optimize

Runs five recipes (each resumable: rerun the command after an interruption)
and prints, against the targets of issue 4:

  float        the float Keras model                         target >= 98%
  PTQ int8     post-training int8 file of that model         within 1 point of float
  QAT int8     QAT fine-tuned from it, int8 file             within 0.3 points of float
  pruned+QAT   75% sparse (prune-preserving QAT), int8 file  within 1 point; gzipped <= 45% of dense
  distilled    a small student on 10% of the training images, distilled from the float
               model, against the same student trained alone on the same 10%

Accuracy is top-1 of the LiteRT interpreter (files) or Keras (float) on the
1,000 test images (the last 100 of each digit), never seen in training.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

import mobilekit  # noqa: F401  (selects tf_keras before TensorFlow loads)
from mobilekit import recipes
from mobilekit.errors import UserError
from mobilekit.recipes import (
    DataSpec,
    DistillStage,
    EvaluateStage,
    ExportStage,
    ModelSpec,
    PruneStage,
    QatStage,
    Recipe,
    Stage,
    TrainStage,
)


def _arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=pathlib.Path, default=pathlib.Path("runs/bench_optimize"))
    parser.add_argument("--model", default="resnet18", help="the float model")
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=15, help="float training epochs")
    parser.add_argument("--qat-epochs", type=int, default=2)
    parser.add_argument("--prune-epochs", type=int, default=6)
    parser.add_argument("--student", default="mobilenet_v3_small")
    parser.add_argument("--student-alpha", type=float, default=0.5)
    parser.add_argument("--student-epochs", type=int, default=40, help="epochs over 10%% of the training images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def _recipe(name: str, model: ModelSpec, data: DataSpec, *stages, seed: int) -> Recipe:
    settings = {
        TrainStage: "train",
        PruneStage: "prune",
        DistillStage: "distill",
        QatStage: "qat",
        ExportStage: "export",
        EvaluateStage: "evaluate",
    }
    return Recipe(
        name=name, model=model, data=data, seed=seed, stages=tuple(Stage(settings[type(s)], s, line=0) for s in stages)
    )


def _run(recipe: Recipe, folder: pathlib.Path, quiet: bool) -> dict:
    print(f"== {recipe.name} -> {folder}", file=sys.stderr, flush=True)
    return recipes.run(recipe, folder, verbose=0 if quiet else 2, show_progress=not quiet)


def main(argv=None) -> int:
    args = _arguments(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data = DataSpec(source="mnist5k", batch_size=64)
    few = DataSpec(source="mnist5k", batch_size=32, train_fraction=0.1)
    export, evaluate = ExportStage(mode="int8", calibration_steps=200), EvaluateStage(split="test")
    model = ModelSpec(args.model, resolution=args.resolution, alpha=args.alpha)

    base = _run(
        _recipe(
            "float_ptq",
            model,
            data,
            TrainStage(epochs=args.epochs, learning_rate=2e-3),
            export,
            evaluate,
            seed=args.seed,
        ),
        args.output / "float_ptq",
        args.quiet,
    )
    trained = str(args.output / "float_ptq" / base["stages"][0]["artifact"])
    from_float = ModelSpec(args.model, resolution=args.resolution, alpha=args.alpha, weights=trained)
    qat = _run(
        _recipe(
            "qat",
            from_float,
            data,
            QatStage(epochs=args.qat_epochs, learning_rate=1e-4),
            export,
            evaluate,
            seed=args.seed,
        ),
        args.output / "qat",
        args.quiet,
    )
    pruned = _run(
        _recipe(
            "prune_qat",
            from_float,
            data,
            PruneStage(epochs=args.prune_epochs, target_sparsity=0.75, learning_rate=5e-4),
            QatStage(epochs=args.qat_epochs, learning_rate=1e-4),
            export,
            evaluate,
            seed=args.seed,
        ),
        args.output / "prune_qat",
        args.quiet,
    )
    student = ModelSpec(args.student, resolution=args.resolution, alpha=args.student_alpha)
    alone = _run(
        _recipe(
            "student_alone",
            student,
            few,
            TrainStage(epochs=args.student_epochs, learning_rate=2e-3),
            export,
            evaluate,
            seed=args.seed,
        ),
        args.output / "student_alone",
        args.quiet,
    )
    distilled = _run(
        _recipe(
            "student_distilled",
            student,
            few,
            DistillStage(teacher=trained, epochs=args.student_epochs, learning_rate=2e-3, alpha=0.1, temperature=4.0),
            export,
            evaluate,
            seed=args.seed,
        ),
        args.output / "student_distilled",
        args.quiet,
    )

    figures = {
        name: run["summary"]
        for name, run in (
            ("float_ptq", base),
            ("qat", qat),
            ("prune_qat", pruned),
            ("student_alone", alone),
            ("student_distilled", distilled),
        )
    }
    (args.output / "bench.json").write_text(json.dumps(figures, indent=2) + "\n")
    _report(figures, args, time.perf_counter() - started)
    return 0


def _report(figures: dict, args, seconds: float) -> None:
    float_top1 = figures["float_ptq"]["float_top1"]
    ptq, qat, pruned = (figures[name]["tflite_top1"] for name in ("float_ptq", "qat", "prune_qat"))
    dense_gzip, sparse_gzip = figures["qat"]["gzip_bytes"], figures["prune_qat"]["gzip_bytes"]
    alone, distilled = figures["student_alone"]["tflite_top1"], figures["student_distilled"]["tflite_top1"]
    rows = [
        ("float (Keras)", f"{float_top1:.2%}", ">= 98%", float_top1 >= 0.98),
        ("post-training int8", f"{ptq:.2%} ({_points(ptq - float_top1)})", "within 1 pt", ptq >= float_top1 - 0.01),
        ("QAT int8", f"{qat:.2%} ({_points(qat - float_top1)})", "within 0.3 pt", qat >= float_top1 - 0.003),
        (
            f"75% sparse + QAT int8 (sparsity {figures['prune_qat'].get('sparsity', 0):.1%})",
            f"{pruned:.2%} ({_points(pruned - float_top1)})",
            "within 1 pt",
            pruned >= float_top1 - 0.01,
        ),
        (
            "  gzipped file vs dense QAT int8",
            f"{sparse_gzip / 1e3:.1f} kB / {dense_gzip / 1e3:.1f} kB = {sparse_gzip / dense_gzip:.1%}",
            "<= 45%",
            sparse_gzip <= 0.45 * dense_gzip,
        ),
        (
            "distilled student int8 vs alone (10% data)",
            f"{distilled:.2%} vs {alone:.2%} ({_points(distilled - alone)})",
            "distilled ahead",
            distilled > alone,
        ),
    ]
    print(
        f"mnist5k test split (1,000 images); float model {args.model} alpha {args.alpha} at {args.resolution} px, "
        f"student {args.student} alpha {args.student_alpha}; {seconds / 60:.1f} min this run"
    )
    width = max(len(row[0]) for row in rows)
    for label, value, target, met in rows:
        print(f"  {label:<{width}}  {value:<32} target {target:<16} {'met' if met else 'MISSED'}")
    print(f"  figures: {args.output / 'bench.json'}")


def _points(difference: float) -> str:
    return f"{difference * 100:+.2f} pt"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as error:
        sys.exit(f"error: {error}")
