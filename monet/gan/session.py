"""What a training session knows (:class:`Run`: fixed before its first step) and what changes as it trains
(:class:`State`), shared by the training loop (:mod:`monet.gan.training`), its budget planning
(:mod:`monet.gan.planning`) and its history (:mod:`monet.gan.history`)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from monet.core import budget
from monet.gan.cyclegan import CycleGAN

__all__ = ["Run", "State", "Stop"]


@dataclass
class Run:
    """What a training session knows before its first step."""
    dir: Path
    out: Path
    cfg: dict
    seed: int
    deterministic: bool
    batch: int
    strategy: object
    policy: str | None
    photos: list
    monets: list
    from_files: bool
    steps: int  # per epoch
    deadline: float | None
    fp: str
    log: object
    earlier_fp: str = ""  # what checkpoints written before this version's fingerprint carry

    @property
    def auto(self) -> bool:
        return self.cfg["epochs"] == "auto"

    @property
    def floor(self) -> int:
        """An auto plan shorter than this (one pass over the photos) is undertrained."""
        return math.ceil(len(self.photos) / self.batch)


@dataclass
class State:
    """What changes as the session trains."""
    m: CycleGAN
    lr: object
    done: int  # steps done before this session
    resumed_from: str | None
    total: int | None  # planned total steps; None until an auto run has measured its speed
    g: int = 0
    history: list = field(default_factory=list)
    plans: list = field(default_factory=list)
    reserve: object = None
    clock: budget.StepClock = field(default_factory=budget.StepClock)
    stopped_early: str | None = None
    train_seconds: float = 0.0
    last_plan_at: float = 0.0
    predicted_end: float | None = None
    ended: float | None = None
    restarted_from: dict | None = None  # cyclegan.restart_from: the checkpoint this run started from
    nonfinite: int = 0  # consecutive steps whose losses were not finite (float16's loss scale skips a few)


class Stop(Exception):
    """The time budget ends training here."""


class NonFinite(RuntimeError):
    """The losses are no longer finite: training diverged. Its message names the step and the checkpoint kept."""


