"""What stops a run that diverged: a non-finite loss (at once, or after a few steps that float16's loss scale
skips), and non-finite weights before a checkpoint would keep them (:class:`monet.gan.session.NonFinite`)."""
from __future__ import annotations

import math

from monet.gan.cyclegan import latest_checkpoint
from monet.gan.session import NonFinite, Run, State

__all__ = ["NONFINITE_PATIENCE", "check_losses", "check_weights"]

NONFINITE_PATIENCE = 8  # consecutive non-finite steps float16's loss scale may skip before training stops


def check_losses(run: Run, state: State, values: dict, always: bool = False) -> None:
    """Stop at the first step whose losses are not finite (float32, bfloat16), or at the NONFINITE_PATIENCE-th in
    a row under float16 (its loss scale skips such steps and halves itself), or (``always``) at once: a NonFinite
    error that names the step and the last checkpoint, which is kept. Nothing after it is saved."""
    bad = {k: v for k, v in values.items() if not math.isfinite(v) and k != "lr"}
    state.nonfinite = state.nonfinite + 1 if bad else 0
    if not bad or (not always and run.policy == "mixed_float16" and state.nonfinite < NONFINITE_PATIENCE):
        return
    latest = latest_checkpoint(run.out / "checkpoints")
    kept = (f"the last checkpoint, {latest}, is kept (cyclegan.restart_from can start from it)" if latest
            else "no checkpoint was written before it")
    raise NonFinite(f"cyclegan: non-finite {'weights' if always else 'losses'} at global step {state.g:,} ("
                    + ", ".join(f"{k}={v}" for k, v in bad.items()) + (
                        f", {state.nonfinite} steps in a row under float16" if state.nonfinite > 1 else "")
                    + f"): training diverged and stopped; {kept}. Lower cyclegan.learning_rate (now "
                    f"{run.cfg['learning_rate']:g}).")


def check_weights(run: Run, state: State) -> None:
    """No checkpoint holds non-finite weights: a step's losses come before its update, so the update of an epoch's
    last step is checked here, before it is saved (NonFinite, as for a loss)."""
    import numpy as np

    bad = [name for name, model in state.m.models.items()
           if not all(np.isfinite(w).all() for w in model.get_weights())]
    if bad:
        check_losses(run, state, {f"{name} weights": float("nan") for name in bad}, always=True)
