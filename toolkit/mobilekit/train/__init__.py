"""Train or fine-tune a zoo model on `data.load(...)` pipelines, with checkpoints that resume.

    from mobilekit import data, train

    dataset = data.load("digits", resolution=32)
    model = train.build_model("mobilenet_v3_small", num_classes=dataset.num_classes,
                              weights=None, alpha=0.35, resolution=32)
    history = train.fit(model, dataset, epochs=5, output_dir="runs/digits")

`fit` writes into `output_dir`:

- ``best.keras``: the model of the best epoch by validation accuracy (training
  accuracy when there is no validation split), saved atomically, without
  optimizer state. ``mobilekit.load_model`` reads it, and so does
  ``models.build(name, weights=".../best.keras", num_classes=N, ...)`` (and
  ``mobilekit convert --weights``), because the model is the zoo model itself
  with an N-class top;
- ``history.json``: one entry per epoch (loss, accuracy, top-5, validation
  figures, learning rate, seconds) and the best epoch, rewritten after every
  epoch;
- ``labels.txt``: the class names, one per line, in output order;
- ``train_config.json``: what was trained on what, to recognise the run again;
- ``resume/``: a TensorFlow checkpoint of the weights, the optimizer state and
  the epoch count, written after every epoch.

Calling `fit` again with the same `output_dir` resumes: the weights and the
optimizer state are restored, the epoch count continues and the history is
appended. `epochs` is the total to reach, so rerunning an interrupted command
finishes it, and a larger `epochs` trains on. The data order after a resume is
not the one an uninterrupted run would have seen. `force=True` starts over.

`model` builds what is trained, `run_folder` owns the output folder, `loop`
is `fit` itself; top-k accuracy is `mobilekit.metrics`' (no TensorFlow).
"""

from mobilekit.formats import check_weights_file
from mobilekit.metrics import top_k_accuracy
from mobilekit.train.loop import (
    DEFAULT_SCHEDULE,
    IDENTITY_KEYS,
    OPTIMIZERS,
    SCHEDULES,
    TRAINING_KEYS,
    evaluate,
    fit,
    learning_rate_at,
    make_optimizer,
)
from mobilekit.train.model import (
    DEFAULT_BN_MOMENTUM,
    HEAD_STARTS,
    build_model,
    check_bn_momentum,
    classifier_layers,
    freeze_backbone,
)
from mobilekit.train.run_folder import (
    BEST_FILE,
    CONFIG_FILE,
    HISTORY_FILE,
    LABELS_FILE,
    RESUME_DIR,
    RUN_FILES,
    RunState,
    check_output,
    run_state,
    save_model_atomic,
)

__all__ = [
    "BEST_FILE",
    "CONFIG_FILE",
    "DEFAULT_BN_MOMENTUM",
    "DEFAULT_SCHEDULE",
    "HEAD_STARTS",
    "HISTORY_FILE",
    "IDENTITY_KEYS",
    "LABELS_FILE",
    "OPTIMIZERS",
    "RESUME_DIR",
    "RUN_FILES",
    "RunState",
    "SCHEDULES",
    "TRAINING_KEYS",
    "build_model",
    "check_bn_momentum",
    "check_output",
    "check_weights_file",
    "classifier_layers",
    "evaluate",
    "fit",
    "freeze_backbone",
    "learning_rate_at",
    "make_optimizer",
    "run_state",
    "save_model_atomic",
    "top_k_accuracy",
]
