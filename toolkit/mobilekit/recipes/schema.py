"""What a recipe says: one frozen dataclass per section and per stage, the checks of a value as field metadata.

The loader (`recipes.loader`) fills these from YAML; the stages
(`recipes.stages`) read them. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from mobilekit.formats import IO_TYPES, MODES, SPLITS
from mobilekit.train import DEFAULT_SCHEDULE, OPTIMIZERS, SCHEDULES  # TensorFlow only inside functions
from mobilekit.train.distribute import CHOICES as DISTRIBUTE_CHOICES
from mobilekit.train.loop import DEFAULT_BACKUP_STEPS

SKIP_KINDS = ("first_conv", "depthwise", "classifier")


def _setting(default=dataclasses.MISSING, **checks):
    """A recipe field: its default and the checks its value must pass (choices, low, high, above)."""
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=checks)
    return dataclasses.field(default=default, metadata=checks)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A zoo model to build (see `mobilekit models`)."""

    name: str
    resolution: int | None = _setting(None, low=1)
    alpha: float = _setting(1.0, above=0)
    weights: str = "none"
    options: dict = _setting({})
    bn_momentum: float | None = _setting(0.9, low=0, high=0.999999)
    dropout: float | None = _setting(None, low=0, high=0.999999)


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """Where the images come from and how they are split (see `data.load`)."""

    source: str
    batch_size: int = _setting(32, low=1)
    validation_split: float = _setting(0.1, low=0, high=0.9)
    test_split: float | None = _setting(None, low=0, high=0.9)
    augment: bool = True
    seed: int = 0
    train_fraction: float = _setting(1.0, above=0, high=1)  # train on a share of the training split


@dataclasses.dataclass(frozen=True)
class DistributeSpec:
    """How the training stages run on several devices or machines (`train.distribute`)."""

    strategy: str = _setting("auto", choices=DISTRIBUTE_CHOICES)
    backup_steps: int = _setting(DEFAULT_BACKUP_STEPS, low=1)  # steps between backups of the training state


@dataclasses.dataclass(frozen=True, kw_only=True)
class Training:
    """What every training stage takes (`train.fit`'s settings)."""

    epochs: int = _setting(low=1)
    learning_rate: float = _setting(1e-3, above=0)
    optimizer: str = _setting("adam", choices=OPTIMIZERS)
    schedule: str = _setting(DEFAULT_SCHEDULE, choices=SCHEDULES)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TeacherSpec(Training):
    """A teacher for distillation: a zoo model, trained here first when `epochs` is given."""

    model: str
    weights: str = "none"
    alpha: float = _setting(1.0, above=0)
    options: dict = _setting({})
    epochs: int | None = _setting(None, low=1)


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainStage(Training):
    freeze_base: bool = False


@dataclasses.dataclass(frozen=True, kw_only=True)
class PruneStage(Training):
    """Magnitude pruning: sparsity rises over `ramp_epochs`, the rest fine-tune at the target."""

    target_sparsity: float = _setting(0.75, above=0, high=0.99)
    m_by_n: list[int] | None = None
    ramp_epochs: int | None = _setting(None, low=1)  # default: half of epochs, at least 1
    frequency: int = _setting(100, low=1)
    skip: list[str] = _setting(list(SKIP_KINDS), each=SKIP_KINDS)
    skip_layers: list[str] = _setting([])
    learning_rate: float = _setting(1e-4, above=0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DistillStage(Training):
    """Train the model so far (the student) against a frozen teacher's soft labels."""

    teacher: str | TeacherSpec
    alpha: float = _setting(0.1, low=0, high=1)
    temperature: float = _setting(4.0, above=0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class QatStage(Training):
    """Quantization-aware fine-tuning; `teacher` adds the distillation loss ("float": the model before QAT)."""

    learning_rate: float = _setting(1e-4, above=0)
    per_channel: bool = True
    preserve_sparsity: bool | None = None  # default: when a prune stage came before
    calibrate_ranges: bool = True  # start activation ranges at the data's, not tfmot's [-6, 6]
    teacher: str | TeacherSpec | None = None
    alpha: float = _setting(0.1, low=0, high=1)
    temperature: float = _setting(4.0, above=0)


@dataclasses.dataclass(frozen=True, kw_only=True)
class AdaptStage(Training):
    """NetAdapt: fewer channels until the model's file meets `target_latency` on this machine's LiteRT
    ('12.5' ms, or '0.6x' of the model's own), or by `latency_table` (a table.json timed on a phone);
    then `epochs` of fine-tuning (0: none)."""

    target_latency: str | float
    epochs: int = _setting(2, low=0)
    learning_rate: float = _setting(1e-4, above=0)
    mode: str = _setting("int8", choices=MODES)
    threads: int = _setting(1, low=1)
    runs: int = _setting(30, low=1)
    initial_step: float = _setting(0.025, above=0, high=1)
    step_decay: float = _setting(0.96, above=0, high=1)
    short_steps: int = _setting(50, low=0)
    max_iterations: int = _setting(50, low=1)
    selection: str = _setting("accuracy", choices=("accuracy", "ratio"))
    latency_table: str | None = None


@dataclasses.dataclass(frozen=True)
class ExportStage:
    mode: str = _setting("int8", choices=MODES)
    io: str = _setting("uint8", choices=IO_TYPES)
    calibration_steps: int = _setting(200, low=1)
    keep_hard_swish: bool = False  # int8: the stock HARD_SWISH op rather than the lowering XNNPACK runs whole


@dataclasses.dataclass(frozen=True)
class EvaluateStage:
    split: str = _setting("test", choices=SPLITS)


@dataclasses.dataclass(frozen=True)
class Stage:
    kind: str
    settings: Any  # the settings dataclass of its kind (stages.STAGES)
    line: int


@dataclasses.dataclass(frozen=True)
class Recipe:
    name: str
    model: ModelSpec
    data: DataSpec
    stages: tuple[Stage, ...]
    description: str = ""
    seed: int = 0
    path: str | None = None
    distribute: DistributeSpec = DistributeSpec()  # not in any fingerprint: it changes where, not what

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "seed": self.seed,
            "distribute": dataclasses.asdict(self.distribute),
            "model": dataclasses.asdict(self.model),
            "data": dataclasses.asdict(self.data),
            "stages": [{stage.kind: dataclasses.asdict(stage.settings)} for stage in self.stages],
        }
