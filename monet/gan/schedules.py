"""Learning-rate schedules of the CycleGAN optimizers (``cyclegan.lr_schedule``).

- ``constant``: ``learning_rate`` throughout (the report).
- ``linear_decay``: ``learning_rate`` held for the first ``decay_from`` fraction of the run's steps, then
  decayed linearly to 0 at its last step (the CycleGAN paper: 100 epochs held, 100 decayed; the public
  recipes that score best hold it long and decay late).

The rate is a function of the run's **global step** (the train step sets :attr:`HoldThenLinearDecay.step`
before the optimizers apply), not of an optimizer's counter: under float16 the loss-scale optimizer skips the
steps whose gradients overflow without counting them, which would shift the schedule. All four optimizers read
the same rate.

A run of a fixed length (``epochs: N``) knows its total steps: the rate is a pure function of the step, the
same in every session. A run planned from its time budget (``epochs: auto``) learns its length as it goes:

- until its speed is measured the rate is held at ``learning_rate`` (the plan is unknown, the decay cannot
  have started);
- :meth:`HoldThenLinearDecay.replan` moves the last step (the speed changed, or a new session brought a new
  budget). While the hold lasts, the decay simply starts at ``decay_from`` of the new total. Once the decay has
  begun (or the new total puts the current step past its decay point), the rate goes linearly from its value
  now to 0 at the new last step: **it may fall faster or slower, it never rises**, and it is 0 at the last
  planned step;
- the schedule's state (total, decay start, rate there) is saved with every checkpoint and restored on resume,
  so a continuation in another session goes on from the rate the first one stopped at.
"""
from __future__ import annotations

__all__ = ["SCHEDULES", "learning_rate", "HoldThenLinearDecay", "lr_at"]

SCHEDULES = ("constant", "linear_decay")
UNPLANNED = float("inf")  # the decay start of a run whose length is not known yet: the rate is held


def lr_at(step: float, initial: float, total_steps: float | None, decay_from: float,
          decay_start: float | None = None, decay_rate: float | None = None) -> float:
    """The rate at ``step`` (0-based count of updates done), in plain Python (for plans and tests)."""
    if total_steps is None:
        return initial
    start = decay_from * total_steps if decay_start is None else decay_start
    rate0 = initial if decay_rate is None else decay_rate
    if step < start:
        return initial
    return rate0 * min(1.0, max(0.0, (total_steps - step) / max(total_steps - start, 1.0)))


class HoldThenLinearDecay:
    """``initial`` until the decay start, then linearly from the rate there down to 0 at the last step.

    A no-argument callable (what a Keras optimizer accepts as its learning rate) that reads the global step
    from :attr:`step`; ``total_steps`` None: the length is not known yet (``epochs: auto``), the rate is held.
    Its variables are made by :meth:`build` (the CycleGAN calls it inside its distribution strategy's scope),
    or on first use.
    """

    def __init__(self, initial: float, total_steps: int | None, decay_from: float = 0.5):
        self.initial = float(initial)
        self.decay_from = float(decay_from)
        self._planned = total_steps
        self._variables = None

    def build(self) -> None:
        """Make the schedule's variables (in the current distribution strategy's scope)."""
        import keras

        if self._variables is not None:
            return
        variable = lambda value, name: keras.Variable(value, trainable=False, dtype="float32", name=name)  # noqa: E731
        self._variables = {"step": variable(0.0, "schedule_step"),
                           "total": variable(UNPLANNED, "schedule_total_steps"),
                           "start": variable(UNPLANNED, "schedule_decay_start"),
                           "rate": variable(self.initial, "schedule_decay_rate")}
        if self._planned is not None:
            self.set_total_steps(self._planned)

    def _var(self, name: str):
        self.build()
        return self._variables[name]

    @property
    def step(self):
        """The global step the rate is read at: the train step assigns it before the optimizers apply."""
        return self._var("step")

    # ------------------------------------------------------------------------------------- plan
    def set_total_steps(self, total_steps: int) -> None:
        """A fixed plan: hold for ``decay_from`` of ``total_steps``, then decay from ``initial`` (the rate is a
        pure function of the step)."""
        self._assign(float(total_steps), self.decay_from * float(total_steps), self.initial)

    def replan(self, step: int, total_steps: int) -> float:
        """Move the last step to ``total_steps`` at global step ``step`` so that the rate never rises: while
        still holding (and the new plan's decay point lies ahead) keep holding; else decay linearly from the rate
        at ``step`` to 0 at ``total_steps``. Returns the rate at ``step`` after the change."""
        state = self.state()
        now = self.rate_at(step)
        holding = state["total"] is None or step < state["decay_start"]  # (decay_start None with total None)
        if holding and step < self.decay_from * total_steps:
            self.set_total_steps(total_steps)
        else:
            self._assign(float(total_steps), float(step), now)
        return self.rate_at(step)

    def _assign(self, total: float, start: float, rate0: float) -> None:
        self._var("total").assign(total)
        self._var("start").assign(start)
        self._var("rate").assign(rate0)

    # ---------------------------------------------------------------------------------- state
    def state(self) -> dict:
        """``total`` (None while the run's length is unknown), ``decay_start`` and ``decay_rate`` (the rate
        there): what a checkpoint saves."""
        import keras

        value = lambda name: float(keras.ops.convert_to_numpy(self._var(name)))  # noqa: E731
        total, start = value("total"), value("start")
        return {"total": None if total == UNPLANNED else total, "decay_start": None if start == UNPLANNED else start,
                "decay_rate": value("rate")}

    def restore(self, state: dict | None) -> None:
        """Take the state a checkpoint saved (None: keep the current one)."""
        if state:
            unplanned = lambda v: UNPLANNED if v is None else float(v)  # noqa: E731 - JSON has no infinity
            self._assign(unplanned(state["total"]), unplanned(state["decay_start"]), float(state["decay_rate"]))

    def rate_at(self, step: float) -> float:
        s = self.state()
        return lr_at(step, self.initial, s["total"], self.decay_from, s["decay_start"], s["decay_rate"])

    # --------------------------------------------------------------------------- in the graph
    def __call__(self):
        from keras import ops

        step, total, start = (ops.convert_to_tensor(self._var(k)) for k in ("step", "total", "start"))
        unplanned = ops.greater_equal(start, UNPLANNED)
        safe_start = ops.where(unplanned, 0.0, start)
        safe_total = ops.where(unplanned, 1.0, total)
        fraction = ops.clip((safe_total - step) / ops.maximum(safe_total - safe_start, 1.0), 0.0, 1.0)
        decayed = ops.convert_to_tensor(self._var("rate")) * fraction
        return ops.where(ops.logical_or(unplanned, step < start), self.initial, decayed)


def learning_rate(kind: str, initial: float, total_steps: int | None, decay_from: float = 0.5):
    """What an optimizer takes as its learning rate for the schedule ``kind`` (see the module docstring);
    ``total_steps`` None: not known yet (``epochs: auto``)."""
    if kind == "constant":
        return initial
    if kind == "linear_decay":
        return HoldThenLinearDecay(initial, total_steps, decay_from)
    raise ValueError(f"lr_schedule {kind!r}: expected one of {', '.join(SCHEDULES)}")
