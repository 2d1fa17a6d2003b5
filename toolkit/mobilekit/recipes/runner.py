"""Run a recipe's stages in order into an output folder, skipping what an earlier run finished.

results.json records, per stage, its settings' fingerprint (those of
everything before it too), its status, seconds and results; a rerun adopts
every finished stage whose fingerprint is unchanged and whose artifact is
there, and runs the rest (an interrupted training stage resumes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import re
import shutil
import time

from mobilekit import files
from mobilekit.errors import UserError
from mobilekit.recipes.schema import Recipe, Stage
from mobilekit.recipes.stages import MODEL_LOADERS, STAGES, ModelFile

RESULTS_FILE = "results.json"


def fingerprint(recipe: Recipe, upto: int) -> str:
    """A digest of what stage `upto` depends on: model, data, seed and the settings of stages 0..upto."""
    document = recipe.to_json()
    document = {
        "model": document["model"],
        "data": document["data"],
        "seed": document["seed"],
        "stages": document["stages"][: upto + 1],
    }
    stamps = _file_stamps(document)
    if stamps:
        document["files"] = stamps
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def _file_stamps(value) -> dict:
    """Size and modification time of every file a setting names (weights, teachers): a new file is a new input."""
    if isinstance(value, dict):
        return {k: v for item in value.values() for k, v in _file_stamps(item).items()}
    if isinstance(value, list):
        return {k: v for item in value for k, v in _file_stamps(item).items()}
    if isinstance(value, str) and value and os.path.isfile(value):
        stat = os.stat(value)
        return {value: [stat.st_size, stat.st_mtime_ns]}
    return {}


def stage_folder(index: int, stage: Stage) -> str:
    return f"{index + 1}_{stage.kind}"


def check_output(output_dir: str | os.PathLike) -> pathlib.Path:
    """Fail early if `output_dir` cannot hold a recipe run."""

    def owned_by_run(folder):
        if not any(folder.iterdir()) or (folder / RESULTS_FILE).is_file():
            return None
        return (
            f"output folder {folder} holds other files and no {RESULTS_FILE}, so it is not a recipe run. "
            "Choose an empty or new folder."
        )

    return files.check_output_folder(output_dir, writes="a recipe run writes a folder", owned_by_run=owned_by_run)


_STAGE_FOLDER = re.compile(rf"^\d+_({'|'.join(STAGES)})$")


def _clear(folder: pathlib.Path, keep: set[str] = frozenset()) -> None:
    """Remove what earlier runs wrote into `folder` (stage folders, results.json), except `keep`; nothing else."""
    for child in folder.iterdir():
        if child.name in keep:
            continue
        if child.is_dir() and _STAGE_FOLDER.match(child.name):
            shutil.rmtree(child)
        elif child.name == RESULTS_FILE:
            child.unlink()


def read_results(folder: pathlib.Path) -> dict | None:
    return files.read_json(folder / RESULTS_FILE, remedy="Pass --force to run the recipe over.")


def run(
    recipe: Recipe,
    output_dir: str | os.PathLike,
    *,
    force: bool = False,
    verbose: int = 1,
    show_progress: bool = True,
    log=None,
    strategy=None,
) -> dict:
    """Run the recipe's stages in order into `output_dir`; returns the results (also in results.json).

    The stages that train run inside `strategy`'s scope (a tf.distribute strategy; default: none).

    Stages finished by an earlier run with the same settings are skipped, an
    interrupted training stage resumes, and a stage whose settings changed runs
    again with every stage after it. `force` runs everything afresh.
    `verbose` is keras' progress display (1 bar, 2 a line per epoch, 0 none);
    `log` receives one line per stage event (default: stderr when show_progress).
    """
    import sys

    folder = check_output(output_dir)
    if log is None:
        log = (lambda line: print(line, file=sys.stderr, flush=True)) if show_progress else (lambda line: None)
    earlier = None if force else read_results(folder)
    if folder.is_dir():  # stage folders of stages this recipe does not have, or all of them with force
        _clear(
            folder, keep=set() if force else {stage_folder(i, s) for i, s in enumerate(recipe.stages)} | {RESULTS_FILE}
        )
    folder.mkdir(exist_ok=True)
    runner = Run(recipe, folder, earlier, verbose=verbose, show_progress=show_progress, log=log, strategy=strategy)
    return runner.run_all()


class Run:
    """One run of a recipe: carries the model from stage to stage and keeps results.json current."""

    def __init__(
        self,
        recipe: Recipe,
        folder: pathlib.Path,
        earlier: dict | None,
        *,
        verbose: int,
        show_progress: bool,
        log,
        strategy=None,
    ):
        import tensorflow as tf

        from mobilekit import __version__

        self.strategy = strategy or tf.distribute.get_strategy()

        self.recipe, self.folder, self.verbose, self.show, self.log = recipe, folder, verbose, show_progress, log
        self.earlier = {entry["folder"]: entry for entry in (earlier or {}).get("stages", [])}
        self.results = {
            "mobilekit": __version__,
            "recipe": recipe.to_json(),
            "source": recipe.path,
            "stages": [],
            "summary": {},
        }
        self._data = None
        self._model = None
        self.model_file: ModelFile | None = None  # what the stages so far made
        self.float_file: ModelFile | None = None  # the last float (not QAT) model
        self.qat_file: ModelFile | None = None
        self.tflite: pathlib.Path | None = None
        self.pruned = False

    # -- state shared by the stages ------------------------------------------------

    @property
    def resolution(self) -> int:
        from mobilekit import models

        return self.recipe.model.resolution or models.info(self.recipe.model.name).default_resolution

    @property
    def task(self) -> str:
        from mobilekit import models

        return models.info(self.recipe.model.name).task

    @property
    def data(self):
        if self._data is None:
            from mobilekit.data import datasets
            from mobilekit.train import distribute

            spec = self.recipe.data
            self._data = datasets.load(
                spec.source,
                resolution=self.resolution,
                batch_size=spec.batch_size,
                validation_split=spec.validation_split,
                test_split=spec.test_split,
                seed=spec.seed,
                augment=spec.augment,
                train_fraction=spec.train_fraction,
                show_progress=self.show,
                shard=distribute.input_shard(self.strategy),
                task=self.task,
            )
            self.log(f"data: {self._data.describe()}")
        return self._data

    def model(self):
        """The model the stages so far made (built from the recipe's `model` before any stage trained)."""
        if self._model is None:
            self._model = self.model_file.load() if self.model_file is not None else self.recipe_model()
        return self._model

    def recipe_model(self):
        spec = self.recipe.model
        return self.build(
            spec.name,
            weights=spec.weights,
            alpha=spec.alpha,
            options=spec.options,
            bn_momentum=spec.bn_momentum,
            dropout=spec.dropout,
        )

    def build(self, name: str, *, weights: str, alpha: float, options: dict, bn_momentum=0.9, dropout=None):
        from mobilekit import models, train

        train.check_weights_file(weights)
        models.check(name, weights=weights, alpha=alpha, resolution=self.resolution, include_top=False, **options)
        return train.build_model(
            name,
            num_classes=self.data.num_classes,
            weights=weights,
            alpha=alpha,
            resolution=self.resolution,
            bn_momentum=bn_momentum,
            dropout=dropout,
            seed=self.recipe.seed,
            **options,
        )

    def produced(self, model_file: ModelFile, model=None) -> None:
        """A stage made a new model: it is the next stage's input."""
        self.model_file, self._model = model_file, model
        if model_file.loader == "qat":
            self.qat_file = model_file
        else:
            self.float_file = model_file

    def fit(self, model, settings, stage_dir: pathlib.Path, fingerprint_: str, **extra) -> dict:
        from mobilekit import train

        return train.fit(
            model,
            self.data,
            epochs=settings.epochs,
            output_dir=stage_dir,
            learning_rate=settings.learning_rate,
            optimizer=settings.optimizer,
            schedule=settings.schedule,
            seed=self.recipe.seed,
            verbose=self.verbose,
            run_info={"build": {"recipe_stage": fingerprint_}},
            backup_steps=self.recipe.distribute.backup_steps,
            **extra,
        )

    # -- the loop ---------------------------------------------------------------

    def run_all(self) -> dict:
        started = time.perf_counter()
        rerun_rest = False
        stages = self.recipe.stages
        replicas = self.strategy.num_replicas_in_sync
        if replicas > 1 and any(stage.kind == "adapt" for stage in stages):
            raise UserError(
                f"the adapt stage times every proposal on this machine, so it runs in one process: run this recipe "
                f"without a strategy over {replicas} replicas (--distribute none), or adapt before distributing"
            )
        for index, stage in enumerate(stages):
            name, digest = stage_folder(index, stage), fingerprint(self.recipe, index)
            stage_dir = self.folder / name
            before = self.earlier.get(name)
            same = before is not None and before.get("fingerprint") == digest
            if not rerun_rest and same and before.get("status") == "done" and self._artifact_present(before):
                self.log(f"[{index + 1}/{len(stages)}] {stage.kind}: done in an earlier run, skipped")
                self._adopt(before)
                self.results["stages"].append(before)
                continue
            if stage_dir.exists() and not (same and before.get("status") == "running" and not rerun_rest):
                shutil.rmtree(stage_dir)  # made with other settings or from another model
            stage_dir.mkdir(exist_ok=True)
            rerun_rest = True
            entry = {
                "stage": stage.kind,
                "folder": name,
                "fingerprint": digest,
                "status": "running",
                "settings": dataclasses.asdict(stage.settings),
            }
            self.results["stages"].append(entry)
            self._save()
            self.log(f"[{index + 1}/{len(stages)}] {stage.kind}: {_settings_line(stage.settings)}")
            t0 = time.perf_counter()
            outcome = self._run_stage(stage, stage_dir, digest)
            outcome = json.loads(files.json_text(outcome))  # as results.json will hold it
            entry.update(status="done", seconds=round(time.perf_counter() - t0, 1), **outcome)
            self._save()
            self.log(f"[{index + 1}/{len(stages)}] {stage.kind}: done in {entry['seconds']:.0f} s")
        self.results["summary"] = summarize(self.results["stages"])
        self.results["summary"]["seconds_this_run"] = round(time.perf_counter() - started, 1)
        self._save()
        return self.results

    def _run_stage(self, stage, stage_dir: pathlib.Path, digest: str) -> dict:
        kind = STAGES[stage.kind]
        if kind.distributed:
            with self.strategy.scope():
                return kind.run(self, stage.settings, stage_dir, digest)
        if self.strategy.num_replicas_in_sync > 1:
            self._model = None  # built inside the strategy: the stage loads it afresh from its file
        return kind.run(self, stage.settings, stage_dir, digest)

    def _artifact_present(self, entry: dict) -> bool:
        artifact = entry.get("artifact")
        return artifact is None or (self.folder / artifact).exists()

    def _adopt(self, entry: dict) -> None:
        """Take over what a skipped stage made, without loading it until a later stage needs it."""
        artifact = entry.get("artifact")
        if artifact is None:
            return
        path = self.folder / artifact
        if entry.get("loader") in MODEL_LOADERS:
            self.produced(ModelFile(path, entry["loader"]))
        if entry["stage"] == "prune":
            self.pruned = True
        if entry["stage"] == "export":
            self.tflite = path

    def _save(self) -> None:
        files.write_json(self.folder / RESULTS_FILE, self.results, force=True)

    def relative(self, path: pathlib.Path) -> str:
        return str(path.relative_to(self.folder))


HEADLINE_FIGURES = ("top1", "miou")  # a classifier's, a segmenter's


def summarize(stages: list[dict]) -> dict:
    """The headline figures of a run: accuracy (or mean IoU) float / Keras QAT / file, size, sparsity, seconds."""
    summary = {"seconds": round(sum(entry.get("seconds", 0) for entry in stages), 1)}
    for entry in stages:
        results = entry.get("results", {})
        if entry["stage"] == "prune":
            summary["sparsity"] = results["sparsity"]["sparsity"]
        if entry["stage"] == "export":
            summary.update(
                mode=results["mode"],
                size_bytes=results["size_bytes"],
                gzip_bytes=results["gzip_bytes"],
                fully_integer=results["fully_integer"],
            )
        if entry["stage"] == "evaluate":
            for key in ("float", "qat", "tflite"):
                for figure in HEADLINE_FIGURES:
                    if figure in results.get(key, {}):
                        summary[f"{key}_{figure}"] = results[key][figure]
    return summary


def _settings_line(settings) -> str:
    return ", ".join(f"{key} {value}" for key, value in dataclasses.asdict(settings).items())
