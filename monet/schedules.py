"""Learning-rate schedules of the CycleGAN optimizers (``cyclegan.lr_schedule``).

- ``constant``: ``learning_rate`` throughout (the report).
- ``linear_decay``: ``learning_rate`` held for the first ``decay_from`` fraction of the run's steps, then
  decayed linearly to 0 at its last step (the CycleGAN paper: 100 epochs held, 100 decayed; the public
  recipes that score best hold it long and decay late).

The rate is a function of the optimizer's own step counter, which a checkpoint restores, so a resumed run
follows the same schedule as an uninterrupted one. The run's total steps live in a variable: a run whose
length is planned from its time budget (``epochs: auto``) sets it once it has measured its speed, without
retracing the train step.
"""
from __future__ import annotations

import keras

__all__ = ["SCHEDULES", "learning_rate", "HoldThenLinearDecay", "lr_at"]

SCHEDULES = ("constant", "linear_decay")


def lr_at(step: float, initial: float, total_steps: float, decay_from: float) -> float:
    """The linear-decay rate at ``step`` (0-based count of updates done), in plain Python (for plans and tests)."""
    start = decay_from * total_steps
    if step < start or total_steps <= start:
        return initial
    return initial * max(0.0, (total_steps - step) / (total_steps - start))


@keras.saving.register_keras_serializable(package="monet")
class HoldThenLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``initial`` until step ``decay_from * total_steps``, then linearly down to 0 at ``total_steps``."""

    def __init__(self, initial: float, total_steps: int, decay_from: float = 0.5):
        self.initial = float(initial)
        self.decay_from = float(decay_from)
        self.total_steps = keras.Variable(float(total_steps), trainable=False, dtype="float32",
                                          name="schedule_total_steps")

    def set_total_steps(self, total_steps: int) -> None:
        self.total_steps.assign(float(total_steps))

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        total = ops.convert_to_tensor(self.total_steps)
        start = self.decay_from * total
        fraction = ops.clip((total - step) / ops.maximum(total - start, 1.0), 0.0, 1.0)
        return self.initial * ops.where(step < start, 1.0, fraction)

    def get_config(self):
        return {"initial": self.initial, "total_steps": float(keras.ops.convert_to_numpy(self.total_steps)),
                "decay_from": self.decay_from}


def learning_rate(kind: str, initial: float, total_steps: int, decay_from: float = 0.5):
    """What an optimizer takes as its learning rate for the schedule ``kind`` (see the module docstring)."""
    if kind == "constant":
        return initial
    if kind == "linear_decay":
        return HoldThenLinearDecay(initial, total_steps, decay_from)
    raise ValueError(f"lr_schedule {kind!r}: expected one of {', '.join(SCHEDULES)}")
