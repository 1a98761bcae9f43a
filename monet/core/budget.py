"""The run's time budget: its deadline, the time kept for packaging, and the plans that fill the rest.

``pipeline.py`` turns ``time_budget_minutes`` (270 on Kaggle by default) into a deadline and hands it to the
stages it starts through the ``MONET_DEADLINE`` environment variable, so a notebook run by hand later in the same
folder has no deadline (none is read from files). Training and style transfer stop, or plan their length, so
that what is left after them is the measured time that writing, checking (and scoring) ``images.zip`` needs.
"""
from __future__ import annotations

import math
import os
import time

__all__ = ["DEADLINE_ENV", "deadline", "seconds_left", "Reserve", "plan_training_steps",
           "StepClock", "nst_iterations_per_photo"]

DEADLINE_ENV = "MONET_DEADLINE"
KERNEL_OVERHEAD_S = 45.0  # a stage's kernel start, imports and reports: measured 20-40 s on 2 CPU cores
SAFETY = 1.25  # the measured per-image costs are scaled by this (a busy machine, slower photos)


def deadline() -> float | None:
    """The Unix time by which images.zip must be written, as set by ``pipeline.py`` for this run; else None."""
    value = os.environ.get(DEADLINE_ENV, "").strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{DEADLINE_ENV}={value!r}: expected a Unix time in seconds") from None


def seconds_left(at: float | None = None) -> float | None:
    """Seconds until the deadline (negative when past), or None without a budget."""
    d = deadline()
    return None if d is None else d - (time.time() if at is None else at)


class Reserve:
    """Seconds to keep for the stages after training: ``fixed`` (kernel start, loading, tracing) plus
    ``per_image`` x the photos to package; ``how`` says where the figures came from, ``parts`` what each
    :meth:`add` kept."""

    def __init__(self, fixed: float, per_image: float, photos: int, how: str):
        self.fixed, self.per_image, self.photos, self.how = fixed, per_image, photos, how
        self.parts: dict[str, float] = {}

    def add(self, seconds: float, what: str) -> None:
        """Keep ``seconds`` more for ``what`` (named in :meth:`describe`, kept in :attr:`parts`)."""
        self.fixed += seconds
        self.parts[what] = self.parts.get(what, 0.0) + seconds
        self.how += f", {what} {seconds:.0f} s"

    @property
    def seconds(self) -> float:
        return self.fixed + SAFETY * self.per_image * self.photos

    def describe(self) -> str:
        return (f"{self.seconds / 60:.1f} min ({self.how}: {self.fixed:.0f} s fixed + {self.per_image * 1000:.1f} ms "
                f"x {self.photos:,} photos x {SAFETY})")


def plan_training_steps(seconds_left_now: float, seconds_per_step: float, reserve_seconds: float,
                        steps_done: int = 0, minimum: int = 1, steps_per_epoch: int | None = None,
                        seconds_per_epoch_end: float = 0.0) -> int:
    """Total steps of a run whose length is ``epochs: auto``: the steps already done plus as many as fit in the
    time left after the reserve, 97 % of it (a margin for noise), at ``seconds_per_step`` (the wall time between
    steps: input, logging and progress included), each epoch end crossed on the way costing
    ``seconds_per_epoch_end`` (its checkpoint, samples and plots). At least ``minimum`` more steps when anything is
    left, none when nothing is."""
    usable = 0.97 * (seconds_left_now - reserve_seconds)
    if usable <= 0 or seconds_per_step <= 0:
        return steps_done
    if not steps_per_epoch or seconds_per_epoch_end <= 0:
        return steps_done + max(minimum, int(math.floor(usable / seconds_per_step)))

    def cost(more: int) -> float:
        ends = (steps_done + more) // steps_per_epoch - steps_done // steps_per_epoch
        return more * seconds_per_step + ends * seconds_per_epoch_end

    more = int(usable / (seconds_per_step + seconds_per_epoch_end / steps_per_epoch)) + steps_per_epoch
    while more > 0 and cost(more) > usable:
        more -= 1
    return steps_done + max(minimum, more)


class StepClock:
    """What training spends, measured as it goes: the wall time between consecutive steps (the step, the input,
    the logging and the progress line), and apart from it each epoch's turn: from an epoch's last step to the
    next epoch's first (checkpoint, samples, plots, the next epoch's input pipeline), less one step; a session's
    first turn pays one-off costs (the sample grid's trace, the first plot) and is not planned with. Its
    :meth:`seconds_per_step` follows the machine: the mean of the last ``window`` intervals (the mean, not the
    median: the occasional slow step costs time too), so a host that slows down (or speeds up) re-plans the run."""

    def __init__(self, window: int = 100, epoch_end_guess: float = 0.0):
        self.window = window
        self.intervals: list[float] = []
        self.epoch_ends: list[float] = []
        self.epoch_end_guess = epoch_end_guess
        self._last: float | None = None
        self._paused_at: float | None = None
        self._turns = 0

    def step(self, now: float | None = None) -> None:
        """A step has just finished. The first step's interval (its trace) is not counted; the first after a
        :meth:`pause` is an epoch's turn."""
        now = time.perf_counter() if now is None else now
        if self._last is not None:
            self.intervals.append(now - self._last)
            del self.intervals[:-self.window]
        elif self._paused_at is not None and self.intervals:
            self._turns += 1
            if self._turns > 1:
                self.epoch_end(max(0.0, now - self._paused_at - self.seconds_per_step()))
        self._last, self._paused_at = now, None

    def pause(self) -> None:
        """Time that is not a step follows (an epoch end, a new epoch's input pipeline): the interval up to the
        next step is an epoch's turn, not a step."""
        if self._last is not None:  # a second pause before a step keeps the first's time
            self._paused_at = self._last
        self._last = None

    def epoch_end(self, seconds: float) -> None:
        self.epoch_ends.append(seconds)

    @property
    def measured(self) -> int:
        return len(self.intervals)

    def seconds_per_step(self, last: int | None = None) -> float | None:
        """The mean interval of the window, or of its ``last`` intervals."""
        recent = self.intervals[-last:] if last else self.intervals
        if not recent:
            return None
        return sum(recent) / len(recent)

    def seconds_per_epoch_end(self) -> float:
        """The mean epoch's turn seen (what the epochs left are planned with: a one-off stall, such as the 60 s
        seen on a 2-core machine, is not charged to each of them), or before any the first checkpoint's write."""
        return sum(self.epoch_ends) / len(self.epoch_ends) if self.epoch_ends else self.epoch_end_guess

    def slowest_epoch_end(self) -> float:
        """The slowest epoch's turn seen, or before any the first checkpoint's write (the plan's headroom)."""
        return max(self.epoch_ends) if self.epoch_ends else self.epoch_end_guess


def nst_iterations_per_photo(seconds_left_now: float, seconds_per_step: float, slots: int, photos_left: int,
                             reserve_seconds: float = 0.0) -> int:
    """Iterations each waiting photo can get if all ``photos_left`` are to finish in the time left: one step
    advances every one of the ``slots`` photos being painted by one iteration."""
    usable = seconds_left_now - reserve_seconds
    if photos_left <= 0:
        return 0
    if usable <= 0 or seconds_per_step <= 0:
        return 0
    return int(usable / seconds_per_step * slots / photos_left)
