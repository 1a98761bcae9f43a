"""The training session's time budget: what the run needs after training (measured), the plan of an
``epochs: auto`` run made and re-made from the measured speed (the schedule following it without rising), whether
the result is undertrained, and when training was predicted to end and ended."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from monet.core import budget
from monet.gan.cyclegan import CycleGAN, packaged_generator, save_checkpoint
from monet.gan.session import Run, State, Stop
from monet.package import translator
from monet.package.postprocess import Palette, Postprocess

__all__ = ["PLAN_AFTER_STEPS", "REPLAN_EVERY_S", "REPLAN_CHANGE", "RECENT_STEPS", "later_stages", "set_budget",
           "time_saves", "reserve_after_training", "plan", "SCORING", "undertrained", "short_plan",
           "excused_short_plan", "undertrained_verdict", "budget_figures"]

PLAN_AFTER_STEPS = 5  # epochs auto: the first plan after this many measured step intervals (the first call traces)
REPLAN_EVERY_S = 30.0  # then the plan is checked against the measured speed this often
REPLAN_CHANGE = 0.01  # and moved when it changes by more than this fraction
RECENT_STEPS = 10  # in the plan's last minute, the speed of the last steps when it is slower than the window's
SCORING = "checkpoint scoring"  # its part of the reserve (what scoring itself may spend)
# The judge on a CPU (benchmarks/bench_judge.py: 250 paintings against 1,000 images): KID seconds, C2ST about a
# minute; kept with a margin (a GPU is faster).
JUDGE_S = {"mifid": 0.0, "kid": 15.0, "c2st": 120.0}
SCORING_SETUP_S = 30.0  # checkpoint scoring's first call: the scoring network, the paintings' features, a trace
PALETTE_S = 10.0  # package.colour_match: reading the paintings for their palette (300 JPEGs: about a second)


def later_stages(run_dir: Path) -> list[str]:
    """The stages of this run after training (from run.json; packaging when training runs on its own)."""
    from monet.core.runs import read_run_json

    stages = (read_run_json(run_dir).get("params") or {}).get("stages", ["cyclegan_train", "package_submission"])
    return stages[stages.index("cyclegan_train") + 1:] if "cyclegan_train" in stages else stages


def set_budget(run: Run, state: State) -> None:
    """With a deadline: what the rest of the run needs after training (measured), and the first guess of what an
    epoch end costs (one checkpoint write, measured)."""
    if not run.deadline:
        return
    saves = time_saves(run, state.m)
    state.reserve = reserve_after_training(run, state.m, saves)
    state.clock = budget.StepClock(epoch_end_guess=saves["checkpoint"])
    run.log(f"Time budget: {(run.deadline - time.time()) / 60:.1f} min left; after training the run needs about "
            f"{state.reserve.describe()}.")


def time_saves(run: Run, m: CycleGAN) -> dict:
    """Seconds to write a checkpoint, save the packaged generator and load it again, measured in a scratch folder
    beside the checkpoints (a U-Net's checkpoint with its optimizers is about 1.4 GB)."""
    import keras

    (run.out / "checkpoints").mkdir(parents=True, exist_ok=True)  # where a killed run's .probe-* is cleaned up
    with tempfile.TemporaryDirectory(dir=run.out / "checkpoints", prefix=".probe-") as tmp:
        t0 = time.perf_counter()
        save_checkpoint(m, Path(tmp) / "checkpoint", {"probe": True})
        t1 = time.perf_counter()
        packaged_generator(m).save(str(Path(tmp) / "generator.keras"))
        t2 = time.perf_counter()
        keras.saving.load_model(str(Path(tmp) / "generator.keras"), compile=False)
        t3 = time.perf_counter()
    return {"checkpoint": t1 - t0, "save": t2 - t1, "load": t3 - t2}


def packaging_settings(run_dir: Path) -> tuple[int, Postprocess]:
    """The package stage's JPEG quality and filters from run.json (what the reserve times). Colour matching is
    timed with a stand-in palette: its cost does not depend on the colours."""
    from monet.core.runs import package_params

    pkg = package_params(run_dir)
    flat = np.tile(np.arange(1, 257) / 256, (3, 1))
    stand_in = Palette((128.0,) * 3, (64.0,) * 3, flat, flat)
    return pkg["jpeg_quality"], Postprocess(pkg.get("mode_filter") or 0, pkg["colour_match"], stand_in,
                                            float(pkg.get("grain") or 0), bool(pkg.get("grain_grey")))


def per_image(run: Run, m: CycleGAN, reserve: budget.Reserve, post: Postprocess, filtered: bool) -> float:
    """Seconds an image of the packaging path with the package's filters (``filtered``: what scoring a checkpoint
    costs an image, since it ranks as packaged) or without them (evaluate's features): packaging's measured figure
    when it is the same path, else measured."""
    if reserve.per_image and (filtered or not post):
        return reserve.per_image
    post = post if filtered else None
    if run.from_files:
        return translator.measure_packaging(m.gen_g, run.photos, post=post).per_image
    return measured_on_stand_ins(m.gen_g, len(run.photos), post=post).per_image


def measured_on_stand_ins(generator, photos: int, sample: int = 32, quality: int = 95,
                          post: Postprocess | None = None) -> budget.Reserve:
    """Packaging measured as for JPEG training (:func:`monet.package.translator.measure_packaging`), on ``sample``
    stand-in 256x256 JPEG photos (smooth random colour fields at the competition's quality 75) when training
    reads TFRecords, scaled to ``photos``."""
    from PIL import Image

    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(prefix="monet-stand-ins-") as tmp:
        paths = []
        for i in range(sample):
            small = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            paths.append(str(Path(tmp) / f"{i:03d}.jpg"))
            Image.fromarray(small).resize((256, 256), Image.BICUBIC).save(paths[-1], quality=75)
        reserve = translator.measure_packaging(generator, paths, sample=sample, quality=quality, post=post)
    reserve.photos, reserve.how = photos, f"measured on {sample} stand-in photos (training reads TFRecords)"
    return reserve


def reserve_after_training(run: Run, m: CycleGAN, saves: dict) -> budget.Reserve:
    """Time kept after training: the final checkpoint and the generator's save; then, for the stages that follow
    in this run, packaging measured on real photos (with the generator's load), checkpoint scoring, evaluation."""
    cfg, later = run.cfg, later_stages(run.dir)
    quality, post = packaging_settings(run.dir)
    if "package_submission" not in later:
        reserve = budget.Reserve(0.0, 0.0, 0, "no packaging in this run")
    elif run.from_files:
        reserve = translator.measure_packaging(m.gen_g, run.photos, quality=quality, post=post)
        reserve.photos = len(run.photos)
        reserve.add(saves["load"], "generator load")
    else:  # TFRecords: the packaging path timed on stand-in photos (the competition's size), not guessed
        reserve = measured_on_stand_ins(m.gen_g, len(run.photos), quality=quality, post=post)
        reserve.add(saves["load"], "generator load")
    if post and "package_submission" in later:
        if post.how != "off":
            reserve.add(PALETTE_S, "the paintings' palette")
        reserve.how += ", with package's filters"
    reserve.add(budget.SAFETY * (saves["checkpoint"] + saves["save"]), "final checkpoint and generator save")
    scored = cfg["score_checkpoints"] and run.from_files
    plain = per_image(run, m, reserve, post, filtered=False) if scored or "evaluate" in later else 0.0
    if scored:  # each: load, translate and filter score_photos photos, take their features (about one more pass)
        n, each = cfg["score_checkpoints"], per_image(run, m, reserve, post, filtered=True) + plain
        # and the chosen one loaded once more to be saved as generator.keras
        judged = JUDGE_S.get(cfg["score_by"], 0.0)  # the judge's figure of each checkpoint, when it ranks them
        reserve.add(SCORING_SETUP_S + budget.SAFETY * saves["checkpoint"] + n * (
            15.0 + judged + budget.SAFETY * (saves["checkpoint"] + each * cfg["score_photos"])), SCORING)
    if "evaluate" in later:
        reserve.add(budget.KERNEL_OVERHEAD_S + 60.0, "evaluate's kernel, InceptionV3 load and trace")
        reserve.add(JUDGE_S["c2st"], "evaluate's judge (C2ST and KID, at most 1,000 images; on by default)")
        reserve.per_image += plain  # features of every image: about one more unfiltered generator pass
        reserve.how += ", one more pass per image for evaluate"
    return reserve


def plan(run: Run, state: State, now: float) -> None:
    """epochs auto: (re)plan the total steps from the measured speed; the schedule follows without rising."""
    if not run.auto or state.clock.measured < PLAN_AFTER_STEPS:
        return
    # Every 30 s; in the plan's last minute every 5 s, where a slower machine has least time to be caught up with.
    ending = state.predicted_end is not None and state.predicted_end - now < 2 * REPLAN_EVERY_S
    if state.total is not None and now - state.last_plan_at < (5.0 if ending else REPLAN_EVERY_S):
        return
    state.last_plan_at = now
    per_step, per_end = state.clock.seconds_per_step(), state.clock.seconds_per_epoch_end()
    # The budget check comes before a step: never plan the end to the second; an epoch end (checkpoint, samples,
    # plots) can take longer than the slowest one seen, so two of the slowest, and a few steps, are kept in hand.
    headroom = 2 * state.clock.slowest_epoch_end() + 3 * per_step
    # In the plan's last minute a host that slows down shows in its last steps first (the window's mean lags):
    # the steps left follow them when they are slower; the headroom does not (a slow patch alone never stops a run).
    if ending:
        per_step = max(per_step, state.clock.seconds_per_step(last=RECENT_STEPS))
    total = budget.plan_training_steps(run.deadline - now, per_step, state.reserve.seconds + headroom, state.g,
                                       steps_per_epoch=run.steps, seconds_per_epoch_end=per_end)
    if state.total is not None and total < state.total:
        # The headroom is the plan's to use up: a plan keeps its steps while they still fit before the reserve
        # (re-applying the whole headroom at every check would cut a plan's last steps on noise alone); when they
        # do not, it shrinks to leave the headroom again, or to what fits when nothing would.
        fits = budget.plan_training_steps(run.deadline - now, per_step, state.reserve.seconds, state.g,
                                          steps_per_epoch=run.steps, seconds_per_epoch_end=per_end)
        total = state.total if fits >= state.total else (total if total > state.g else fits)
    if total <= state.g:  # no time for another step: the budget stops the run here, with its checkpoint
        raise Stop
    first = state.total is None
    if not first and abs(total - state.total) <= max(1, REPLAN_CHANGE * (state.total - state.done)):
        return
    rate = state.lr.replan(state.g, total) if hasattr(state.lr, "replan") else run.cfg["learning_rate"]
    ends = total // run.steps - state.g // run.steps
    state.predicted_end = now + (total - state.g) * per_step + ends * per_end
    state.plans.append({"at_step": state.g, "total": total, "seconds_per_step": round(per_step, 4),
                        "seconds_per_epoch_end": round(per_end, 2), "rate": rate})
    state.total = total
    run.log(f"epochs auto: {per_step:.3f} s per step (wall time, measured), {per_end:.1f} s per epoch end on "
            f"average (the slowest {state.clock.slowest_epoch_end():.1f}); "
            f"{'planned' if first else 're-planned'} {total:,} steps ({total / run.steps:.2f} epochs of "
            f"{run.steps:,} steps), learning rate {rate:.3g} now")




def undertrained(run: Run, state: State, choice: dict | None = None) -> str | None:
    """Why the packaged generator is undertrained, or None. A plan shorter than one pass over the photos is not,
    when checkpoint selection (``choice``) packaged a step before the last: see :func:`excused_short_plan`."""
    if state.total is None:
        return (f"training stopped after {state.g:,} steps, before its speed was measured: no plan was made "
                "(epochs auto)")
    if state.g < state.total:
        return f"the packaged generator trained {state.g:,} of {state.total:,} planned steps"
    short = short_plan(run, state)
    if short and not excused_short_plan(run, state, choice):
        return short + ": raise time_budget_minutes"
    return None


def excused_short_plan(run: Run, state: State, choice: dict | None) -> str | None:
    """Why a short plan that ran to its end is not flagged, or None: checkpoint selection packaged a step before
    the last, so the run's own scores were lowest before its end (a local ranking, noisy at small counts)."""
    chosen = choice and choice.get("chosen")
    short = short_plan(run, state)
    if not (short and chosen and state.total is not None and state.g >= state.total
            and chosen["global_step"] < state.g):
        return None
    return (f"{short}; not flagged undertrained: checkpoint selection packaged step {chosen['global_step']:,} of "
            f"{state.g:,}, so its scores were lowest before the end")


def undertrained_verdict(run: Run, state: State, choice: dict | None) -> dict:
    """The summary's figures for :func:`undertrained` (logged loudly) or an excused short plan (logged as a note)."""
    warning, excused = undertrained(run, state, choice), excused_short_plan(run, state, choice)
    if warning:
        run.log("WARNING: UNDERTRAINED: " + warning)
        return {"undertrained": True, "warning": warning}
    if excused:
        run.log("note: " + excused)
        return {"short_plan": excused}
    return {}


def short_plan(run: Run, state: State) -> str | None:
    """What an ``epochs: auto`` plan shorter than one pass over the photos is, or None."""
    if not (run.auto and state.total is not None and state.total < run.floor):
        return None
    return (f"the time budget planned only {state.total:,} steps, fewer than one pass over the {len(run.photos):,} "
            f"photos ({run.floor:,} steps at batch {run.batch})")


def budget_figures(run: Run, state: State) -> dict:
    """When training was predicted to end and when it did; ``budget_slack_s``: the seconds beyond the reserve
    that were left when it ended (negative: it ran into the time the later stages needed)."""
    stamp = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t)) if t else None  # noqa: E731
    return {"deadline": stamp(run.deadline), "predicted_end_of_training": stamp(state.predicted_end),
            "end_of_training": stamp(state.ended),
            "budget_slack_s": round(run.deadline - state.ended - state.reserve.seconds, 1),
            "plan_error_s": round(state.ended - state.predicted_end, 1) if state.predicted_end else None}


