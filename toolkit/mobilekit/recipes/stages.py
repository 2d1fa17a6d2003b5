"""The recipe stages: each one function from the run so far and its settings to its results.json entry.

A stage function takes the run (`runner.Run`: the data, the model the stages
before it made, `fit`, `produced`) and its settings, writes its artifact into
`stage_dir` and returns what results.json records of it. `STAGES` names them;
a new stage is a settings dataclass in `schema`, a function here and a row there.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Callable

from mobilekit import files
from mobilekit.data import datasets
from mobilekit.errors import UserError
from mobilekit.recipes.schema import (
    AdaptStage,
    DistillStage,
    EvaluateStage,
    ExportStage,
    PruneStage,
    QatStage,
    TrainStage,
)

MODEL_LOADERS = ("keras", "pruned", "qat")  # how a stage's model file is read back


@dataclasses.dataclass(frozen=True)
class ModelFile:
    """A stage's model artifact and how to read it (tfmot's wrappers need their scope)."""

    path: pathlib.Path
    loader: str

    def load(self):
        from mobilekit.optimize import load_model

        return load_model(self.path)


def train_stage(run, settings: TrainStage, stage_dir, digest) -> dict:
    history = run.fit(run.model(), settings, stage_dir, digest, freeze_base=settings.freeze_base)
    best = stage_dir / history["best"]["file"]
    run.produced(ModelFile(best, "keras"))
    return {"artifact": run.relative(best), "loader": "keras", "results": _fit_results(history)}


def prune_stage(run, settings: PruneStage, stage_dir, digest) -> dict:
    from mobilekit import train
    from mobilekit.optimize import prune

    steps = datasets.training_steps(run.data)
    ramp_epochs = settings.ramp_epochs or max(1, settings.epochs // 2)
    # The schedule updates masks every `frequency` steps and reaches the target on such a step.
    frequency = min(settings.frequency, ramp_epochs * steps)
    end_step = max(frequency, (ramp_epochs * steps) // frequency * frequency)
    wrapped = prune.prune(
        run.model(),
        target_sparsity=None if settings.m_by_n else settings.target_sparsity,
        end_step=end_step,
        frequency=frequency,
        m_by_n=tuple(settings.m_by_n) if settings.m_by_n else None,
        skip=tuple(settings.skip),
        skip_layers=tuple(settings.skip_layers),
    )
    reached = -(-end_step // steps)  # the first epoch that ends at full sparsity
    history = run.fit(
        wrapped,
        settings,
        stage_dir,
        digest,
        callbacks=prune.callbacks(),
        best_file="best.h5",
        best_after_epoch=min(reached, settings.epochs) - 1,
    )
    best = ModelFile(stage_dir / history["best"]["file"], "pruned").load()
    stripped = prune.strip(best)
    path = stage_dir / "pruned.keras"
    train.save_model_atomic(stripped, path)
    run.produced(ModelFile(path, "keras"), stripped)
    run.pruned = True
    report = prune.sparsity_report(stripped)
    return {
        "artifact": run.relative(path),
        "loader": "keras",
        "results": {
            **_fit_results(history),
            "end_step": end_step,
            "steps_per_epoch": steps,
            "sparsity": report.to_json(),
        },
    }


def teacher_model(run, teacher, stage_dir: pathlib.Path, digest: str):
    from mobilekit.optimize import distill

    if isinstance(teacher, str):
        if teacher == "float":
            return run.float_file.load() if run.float_file is not None else run.model()
        return distill.load_teacher(teacher, num_classes=run.data.num_classes, resolution=run.resolution)
    model = run.build(teacher.model, weights=teacher.weights, alpha=teacher.alpha, options=teacher.options)
    if teacher.epochs:
        run.log(f"  training the teacher {teacher.model} for {teacher.epochs} epoch(s)")
        history = run.fit(model, teacher, stage_dir / "teacher", digest)
        model = ModelFile(stage_dir / "teacher" / history["best"]["file"], "keras").load()
    return model


def distill_stage(run, settings: DistillStage, stage_dir, digest) -> dict:
    from mobilekit import train
    from mobilekit.optimize import distill

    teacher = teacher_model(run, settings.teacher, stage_dir, digest)
    teacher_accuracy = train.evaluate(teacher, run.data.split(_held_out(run.data)))
    history = run.fit(
        run.model(),
        settings,
        stage_dir,
        digest,
        trainer=lambda student: distill.Distiller(
            student, teacher, alpha=settings.alpha, temperature=settings.temperature
        ),
    )
    best = stage_dir / history["best"]["file"]
    run.produced(ModelFile(best, "keras"))
    return {
        "artifact": run.relative(best),
        "loader": "keras",
        "results": {**_fit_results(history), "teacher": teacher_accuracy},
    }


def qat_stage(run, settings: QatStage, stage_dir, digest) -> dict:
    from mobilekit.optimize import distill, qat

    preserve = run.pruned if settings.preserve_sparsity is None else settings.preserve_sparsity
    teacher = None if settings.teacher is None else teacher_model(run, settings.teacher, stage_dir, digest)
    calibration = run.data.calibration_images(64) if settings.calibrate_ranges else None
    quantized = qat.quantize(
        run.model(), per_channel=settings.per_channel, preserve_sparsity=preserve, calibration=calibration
    )
    trainer = (
        None
        if teacher is None
        else (
            lambda student: distill.Distiller(student, teacher, alpha=settings.alpha, temperature=settings.temperature)
        )
    )
    history = run.fit(quantized, settings, stage_dir, digest, best_file="best.h5", trainer=trainer)
    best = stage_dir / history["best"]["file"]
    run.produced(ModelFile(best, "qat"))
    return {
        "artifact": run.relative(best),
        "loader": "qat",
        "results": {**_fit_results(history), "preserve_sparsity": preserve},
    }


def adapt_stage(run, settings: AdaptStage, stage_dir, digest) -> dict:
    from mobilekit import load_model
    from mobilekit.adapt import netadapt
    from mobilekit.adapt.latency import HostLatency

    host = HostLatency(
        run.data.calibration_images(64), settings.mode, settings.threads, runs=settings.runs, seed=run.recipe.seed
    )
    latency, measured_on = host.of, host.describe()
    if settings.latency_table is not None:
        from mobilekit.adapt import table

        recorded = table.load(settings.latency_table)
        table.check_fits(recorded, host, run.model(), f"stage 'adapt': {settings.latency_table}")
        latency, measured_on = table.TableLatency(recorded, host).of, recorded.describe(settings.latency_table)
    state = netadapt.adapt_to(
        run.model(),
        run.data,
        netadapt.parse_target(str(settings.target_latency)),
        latency,
        stage_dir,
        log=lambda line: run.log(f"  {line}"),
        show_progress=run.show,
        measured_on=measured_on,
        initial_step=settings.initial_step,
        step_decay=settings.step_decay,
        short_steps=settings.short_steps,
        max_iterations=settings.max_iterations,
        selection=settings.selection,
        learning_rate=settings.learning_rate,
    )
    if state["model"] is None:
        raise UserError(f"stage 'adapt': no channel group could shrink: {state.get('stopped')}")
    best = stage_dir / state["model"]
    results = {key: state[key] for key in ("start_ms", "target_ms", "reached", "stopped")}
    results.update(iterations=len(state["iterations"]), latency_ms=state["iterations"][-1]["chosen"]["latency_ms"])
    if settings.epochs:
        history = run.fit(load_model(best), settings, stage_dir / "finetune", digest)
        best = stage_dir / "finetune" / history["best"]["file"]
        results.update(_fit_results(history))
    run.produced(ModelFile(best, "keras"))
    return {"artifact": run.relative(best), "loader": "keras", "results": results}


def export_stage(run, settings: ExportStage, stage_dir, digest) -> dict:
    from mobilekit import __version__
    from mobilekit.export import convert, metadata, tflite_file
    from mobilekit.optimize import prune

    model = run.model()
    images = run.data.calibration_images(settings.calibration_steps) if settings.mode == "int8" else None
    buf = convert.convert(
        model,
        mode=settings.mode,
        calibration=[images] if images is not None else None,
        io=settings.io,
        seed=run.recipe.seed,
        show_progress=run.show,
        keep_hard_swish=settings.keep_hard_swish,
    )
    spec = run.recipe.model
    metadata_spec = metadata.SegmenterMetadataSpec if run.task == "segmentation" else metadata.ModelMetadataSpec
    buf = metadata.attach(
        buf,
        metadata_spec(
            name=spec.name,
            labels=tuple(run.data.class_names),
            version=__version__,
            author="mobilekit",
            description=(
                f"{spec.name} {run.resolution}x{run.resolution} RGB, alpha {spec.alpha}, "
                f"{settings.mode} TFLite, from recipe {run.recipe.name}. Takes raw RGB pixels 0..255."
            ),
        ),
    )
    path = stage_dir / f"{spec.name}_{settings.mode}.tflite"
    files.write_atomic(path, buf, force=True)
    run.tflite = path
    summary = tflite_file.summarize(buf)
    return {
        "artifact": run.relative(path),
        "loader": "tflite",
        "results": {
            "mode": settings.mode,
            "size_bytes": len(buf),
            "gzip_bytes": prune.gzipped_size(buf),
            "fully_integer": summary.fully_integer,
            "ops": sum(summary.ops.values()),
        },
    }


def evaluate_stage(run, settings: EvaluateStage, stage_dir, digest) -> dict:
    from mobilekit import train
    from mobilekit.runtime import evaluate, segmentation

    split = run.data.split(settings.split)
    results = {"split": settings.split}
    # The float model: the last one a float stage made, else the recipe's model as built (e.g. from a file).
    float_model = run.float_file.load() if run.float_file is not None else run.recipe_model()
    for key, model in (("float", float_model), ("qat", run.qat_file.load() if run.qat_file else None)):
        if model is not None:
            run.log(f"  evaluating the {key} Keras model")
            results[key] = train.evaluate(model, split)
    spec = run.recipe.data
    score = segmentation.scores if run.task == "segmentation" else evaluate.accuracy
    accuracy = score(
        run.tflite.read_bytes(),
        spec.source,
        split=settings.split,
        seed=spec.seed,
        validation_split=spec.validation_split,
        test_split=spec.test_split,
        batch_size=spec.batch_size,
        show_progress=run.show,
    )
    results["tflite"] = {**accuracy.to_json(), "file": run.relative(run.tflite)}
    path = stage_dir / "accuracy.json"
    files.write_json(path, results, force=True)
    return {"artifact": run.relative(path), "loader": "json", "results": results}


def _fit_results(history: dict) -> dict:
    best = history.get("best") or {}
    return {
        "epochs": len(history.get("epochs", [])),
        "best_epoch": best.get("epoch"),
        history.get("monitor") or "accuracy": best.get(history.get("monitor")),
    }


def _held_out(data) -> str:
    return "validation" if data.validation is not None else "test"


@dataclasses.dataclass(frozen=True)
class StageKind:
    settings: type  # the schema dataclass of its settings
    run: Callable  # (run, settings, stage_dir, fingerprint) -> its results.json entry
    # Runs inside the recipe's tf.distribute strategy. The others see models loaded afresh outside it: a
    # model whose variables are spread over replicas cannot be converted (reading one is a collective op).
    distributed: bool = False


STAGES = {
    "train": StageKind(TrainStage, train_stage, distributed=True),
    "prune": StageKind(PruneStage, prune_stage, distributed=True),
    "distill": StageKind(DistillStage, distill_stage, distributed=True),
    "adapt": StageKind(AdaptStage, adapt_stage),
    "qat": StageKind(QatStage, qat_stage, distributed=True),
    "export": StageKind(ExportStage, export_stage),
    "evaluate": StageKind(EvaluateStage, evaluate_stage),
}
