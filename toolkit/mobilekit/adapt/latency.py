"""Latency measured on the runtime that will run the file: a model converted as it will ship, timed with LiteRT.

`HostLatency` converts each model in the chosen mode (int8 by default, calibrated on the
images it is given) and times the files the way `mobilekit bench` does — interleaved, one
run of each per round, so that the machine's drift hits every candidate alike — and
returns each file's median. Nothing is estimated from FLOPs.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from mobilekit.errors import UserError
from mobilekit.formats import MODES
from mobilekit.progress import native_stderr_filtered
from mobilekit.runtime.benchmark import Session, random_inputs
from mobilekit.runtime.measure import latency_stats, run_interleaved


@dataclasses.dataclass
class HostLatency:
    """Median milliseconds of models as `mode` files on this machine's LiteRT interpreter (XNNPACK on)."""

    calibration: np.ndarray  # raw-pixel images for int8 calibration
    mode: str = "int8"
    threads: int = 1
    warmup: int = 5
    runs: int = 30
    seed: int = 0

    def __post_init__(self):
        if self.mode not in MODES:
            raise UserError(f"unknown mode {self.mode!r}; expected one of {', '.join(MODES)}")
        if self.threads < 1 or self.warmup < 0 or self.runs < 1:
            raise UserError(
                f"threads >= 1, warmup >= 0 and runs >= 1 please, got {self.threads}, {self.warmup}, {self.runs}"
            )

    def describe(self) -> str:
        from mobilekit.runtime.benchmark import host_device

        return f"measured on {host_device()['name']}, {self.mode}, {self.threads} thread(s)"

    def file(self, model) -> bytes:
        """`model` converted as it would ship in this mode."""
        from mobilekit.export import convert

        calibration = [self.calibration] if self.mode == "int8" else None
        return convert.convert(model, mode=self.mode, calibration=calibration, seed=self.seed, show_progress=False)

    def of_files(self, files: list[bytes], *, desc: str = "timing", show_progress: bool = False) -> list[float]:
        """The median latency of each file, in milliseconds, measured in one interleaved run."""
        rng = np.random.default_rng(self.seed)

        def inputs_for(buf, details):
            return [random_inputs(details, rng)]

        with native_stderr_filtered():  # LiteRT's "Created XNNPACK delegate" note, once per file
            sessions = [Session(buf, threads=self.threads, xnnpack=True, inputs_for=inputs_for) for buf in files]
        times = run_interleaved(sessions, warmup=self.warmup, runs=self.runs, desc=desc, show_progress=show_progress)
        return [latency_stats(recorded).median for recorded in times]

    def of(self, models: list) -> list[float]:
        """The median latency of each model's file, in milliseconds."""
        return self.of_files([self.file(model) for model in models])
