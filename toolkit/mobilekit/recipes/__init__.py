"""YAML recipes: the optimization chain written down, validated, and run stage by stage.

    from mobilekit import recipes
    recipe = recipes.load("recipes/quickstart.yaml")      # validated: errors name the key and the line
    results = recipes.run(recipe, "runs/quickstart")       # rerun: finished stages are skipped

A recipe names the model, the data and the ordered stages::

    model: {name: mobilenet_v3_small, resolution: 32, weights: none}
    data: {source: mnist5k, batch_size: 64}
    stages:
      - train: {epochs: 10}
      - qat: {epochs: 2, learning_rate: 1e-4}
      - export: {mode: int8}
      - evaluate: {}

Every stage takes the model the stages before it made (the first one builds
`model`) and writes its artifact into ``OUTPUT/<n>_<stage>/``; ``results.json``
records, per stage, its settings' fingerprint, seconds and results (accuracy
float/int8, size, sparsity). A rerun skips every stage whose fingerprint (its
settings and those of everything before it) is unchanged and whose artifact is
there; an interrupted training stage resumes from its last epoch.

`schema` holds the dataclasses, `loader` reads YAML into them, `stages` the
stage functions and their table, `runner` the loop and results.json.
"""

from mobilekit.recipes.loader import load, parse
from mobilekit.recipes.runner import (
    RESULTS_FILE,
    Run,
    check_output,
    fingerprint,
    read_results,
    run,
    stage_folder,
    summarize,
)
from mobilekit.recipes.schema import (
    SKIP_KINDS,
    SPLITS,
    AdaptStage,
    DataSpec,
    DistillStage,
    EvaluateStage,
    ExportStage,
    ModelSpec,
    PruneStage,
    QatStage,
    Recipe,
    Stage,
    TeacherSpec,
    TrainStage,
    Training,
)
from mobilekit.recipes.stages import MODEL_LOADERS, STAGES, ModelFile, StageKind

__all__ = [
    "AdaptStage",
    "MODEL_LOADERS",
    "RESULTS_FILE",
    "SKIP_KINDS",
    "SPLITS",
    "STAGES",
    "DataSpec",
    "DistillStage",
    "EvaluateStage",
    "ExportStage",
    "ModelFile",
    "ModelSpec",
    "PruneStage",
    "QatStage",
    "Recipe",
    "Run",
    "Stage",
    "StageKind",
    "TeacherSpec",
    "TrainStage",
    "Training",
    "check_output",
    "fingerprint",
    "load",
    "parse",
    "read_results",
    "run",
    "stage_folder",
    "summarize",
]
