"""CycleGAN training: the run's loop over epochs and steps, with its time budget, history and checkpoints.

:func:`train` is the ``cyclegan_train`` stage. It reads as its steps: prepare (strategy, precision, data), resume
or build the models of :mod:`monet.cyclegan`, set the budget (what the stages after training need, measured),
train epoch after epoch (planning and re-planning an ``epochs: auto`` run from the measured speed, a checkpoint
after every epoch and where the budget stops it), choose the checkpoint to package, save ``generator.keras`` and
write ``summary.json``. It also writes ``cyclegan/history.csv`` (losses and the learning rate of every step),
``losses.png`` and ``samples/epoch_NN.png``.

``epochs: auto``: after 5 measured steps the run plans its total steps so that training, with one checkpoint per
epoch, ends when the time left is what the stages after it need (:func:`monet.budget.plan_training_steps`), and
re-plans every :data:`REPLAN_EVERY_S` seconds as the measured speed changes; the learning-rate schedule follows
the plan without ever rising (:mod:`monet.schedules`). A plan shorter than one pass over the photos, or a stop
before the speed was measured, is flagged undertrained.
"""
from __future__ import annotations

import csv
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from monet.core import budget, files, plots, progress as monet_progress
from monet.core.params import fingerprint
from monet.data import fetch as data, tfdata as datasets
from monet.gan import distribute, schedules
from monet.gan.cyclegan import (LOSS_KEYS, RESUMABLE_KEYS, STEP_KEYS, CycleGAN, checkpoint_name, latest_checkpoint,
                                list_checkpoints, load_checkpoint, make_train_step, model_args, packaged_generator,
                                prune_checkpoints, remove_unfinished, save_checkpoint, seed_everything)
from monet.package import translator

__all__ = ["train", "REPLAN_EVERY_S", "PLAN_AFTER_STEPS"]

PLAN_AFTER_STEPS = 5  # epochs auto: the first plan after this many measured step intervals (the first call traces)
REPLAN_EVERY_S = 30.0  # then the plan is checked against the measured speed this often
REPLAN_CHANGE = 0.01  # and moved when it changes by more than this fraction


@dataclass
class _Run:
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

    @property
    def auto(self) -> bool:
        return self.cfg["epochs"] == "auto"

    @property
    def floor(self) -> int:
        """An auto plan shorter than this (one pass over the photos) is undertrained."""
        return math.ceil(len(self.photos) / self.batch)


@dataclass
class _State:
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


class _Stop(Exception):
    """The time budget ends training here."""


def train(run_dir: str | Path, cfg: dict, seed: int = 42, deterministic: bool = False, log=print,
          progress=None, scorer=None) -> dict:
    """Train (or resume) the CycleGAN of a run with the ``cyclegan`` params section ``cfg``.

    Resumes from the run's last checkpoint (an epoch's end, or the step where a time budget stopped it) when
    ``cfg['resume']`` and the checkpoint was made with the same training params (``epochs``, the precision policy
    and the strategy may change); otherwise an existing ``cyclegan/`` folder is kept, renamed with a timestamp, and
    training starts afresh. With a time budget (:mod:`monet.budget`), ``epochs: auto`` plans the run's length from
    its measured speed; any run stops, with a checkpoint, when going on would leave less than the stages after
    training need. With ``score_checkpoints`` the last checkpoints are scored (``scorer``: default
    :func:`monet.selection.feature_scorer`) and the best is packaged. ``progress`` (optional) is called with a dict
    after every step. Returns the summary also written to ``cyclegan/summary.json``.
    """
    t_start = time.time()
    run = _prepare(Path(run_dir), cfg, seed, deterministic, log)
    state = _resume_or_build(run)
    _describe(run, state)
    _set_budget(run, state)
    _train_epochs(run, state, progress)
    choice = _choose_checkpoint(run, state, scorer)
    if choice is None or choice["chosen"] is None:
        with files.atomic_path(run.out / "generator.keras", ".keras") as tmp:
            packaged_generator(state.m).save(str(tmp))
    files.write_json(run.out / "generator.json", {"factory": "monet.models.networks.generator",
                                                  "args": state.m.args["generator"], "ema": cfg["ema"]})
    return _summarize(run, state, choice, t_start)


# ------------------------------------------------------------------------------------------------ prepare
def _prepare(run_dir: Path, cfg: dict, seed: int, deterministic: bool, log) -> _Run:
    """Strategy, precision, the training images, the steps of an epoch, the deadline and the fingerprint that
    decides whether a checkpoint may be resumed."""
    import keras
    import tensorflow as tf

    batch = distribute.global_batch(cfg["batch_size"], cfg["strategy"])
    strategy = distribute.make_strategy(cfg["strategy"], batch)
    policy = distribute.precision_policy(cfg["mixed_precision"], strategy)
    keras.mixed_precision.set_global_policy(policy or "float32")
    if isinstance(strategy, tf.distribute.TPUStrategy) and cfg["data_format"] == "jpg":
        log("On TPU the training data is read from the TFRecords (data_format tfrec).")
        cfg = {**cfg, "data_format": "tfrec"}
    photos, monets, from_files = _training_images(run_dir, cfg)
    deadline = budget.deadline()
    if cfg["epochs"] == "auto" and deadline is None:
        raise ValueError("cyclegan.epochs is 'auto' but this run has no time budget: set time_budget_minutes "
                         "(Kaggle sets 270 by default) or a number of epochs")
    # Not in the fingerprint: what may change between sessions (RESUMABLE_KEYS), the batch param (its value, the
    # global batch, is), and the precision policy (weights are float32 under every policy; see load_checkpoint).
    fp = fingerprint({"cfg": {k: v for k, v in cfg.items() if k not in RESUMABLE_KEYS + ("batch_size", "mixed_precision")},
                      "global_batch": batch, "seed": seed, "deterministic": deterministic,
                      "data": fingerprint((run_dir / "data" / "manifest.csv").read_text())})
    return _Run(run_dir, run_dir / "cyclegan", cfg, seed, deterministic, batch, strategy, policy, photos, monets,
                from_files, cfg["steps_per_epoch"] or math.ceil(len(photos) / batch), deadline, fp, log)


def _training_images(run_dir: Path, cfg: dict) -> tuple[list, list, bool]:
    manifest = data.read_manifest(run_dir)
    if cfg["data_format"] == "jpg":
        return [r["path"] for r in manifest["photo"]], [r["path"] for r in manifest["monet"]], True
    summary = json.loads((run_dir / "data" / "summary.json").read_text())
    files_ = {d: summary["domains"][d]["tfrecords"] for d in ("photo", "monet")}
    missing = [d for d, f in files_.items() if not f]
    if missing:
        raise data.DataError(f"cyclegan.data_format is 'tfrec' but {summary['data_dir']} has no "
                             f"{', '.join(data.TFREC_FOLDERS[d] + '/*.tfrec' for d in missing)}; use data_format: jpg")
    return datasets.read_tfrecord_images(files_["photo"]), datasets.read_tfrecord_images(files_["monet"]), False


def _options(run: _Run) -> dict:
    return {"ema": run.cfg["ema"], "pool_size": run.cfg["pool_size"],
            "image_shape": (data.IMAGE_SIZE, data.IMAGE_SIZE, 3)}


# ------------------------------------------------------------------------------------------- resume or build
def _resume_or_build(run: _Run) -> _State:
    """The models and the schedule: from the last checkpoint when it may be resumed, else new (an existing
    ``cyclegan/`` folder is moved aside). Stale half-written checkpoints of a killed run are removed first."""
    cfg, log = run.cfg, run.log
    gone = remove_unfinished(run.out / "checkpoints") if (run.out / "checkpoints").is_dir() else []
    if gone:
        log(f"Removed what a killed run left half-written: {', '.join(gone)}")
    seed_everything(run.seed, run.deterministic)
    planned = None if run.auto else cfg["epochs"] * run.steps
    lr = schedules.learning_rate(cfg["lr_schedule"], cfg["learning_rate"], planned, cfg["decay_from"])
    loss_scale = run.policy == "mixed_float16"
    last = latest_checkpoint(run.out / "checkpoints")
    if last is not None:
        meta = json.loads((last / "checkpoint.json").read_text())
        if cfg["resume"] and meta.get("fingerprint") == run.fp:
            m, meta = load_checkpoint(last, lr, cfg["beta_1"], run.strategy, loss_scale, **_options(run))
            return _resumed(run, m, lr, meta, last, planned)
        kept = run.out.with_name(f"cyclegan.{time.strftime('%Y%m%d-%H%M%S')}")
        why = "resume is off" if not cfg["resume"] else "its training params or data differ"
        log(f"Existing checkpoints in {run.out} are not resumed ({why}); moved to {kept}.")
        run.out.rename(kept)
    m = CycleGAN(model_args(cfg), lr, cfg["beta_1"], run.strategy, loss_scale, **_options(run))
    run.out.mkdir(parents=True, exist_ok=True)
    return _State(m, lr, 0, None, planned)


def _resumed(run: _Run, m: CycleGAN, lr, meta: dict, folder: Path, planned: int | None) -> _State:
    done, log = meta["global_step"], run.log
    log(f"Resuming from {folder} ({done:,} steps done).")
    if (meta.get("precision") or None) != run.policy:
        log(f"NOTE: the checkpoint was written under precision {meta.get('precision') or 'float32'}, this session "
            f"trains under {run.policy or 'float32'}: the weights and Adam's state carry over (weights are float32 "
            "under every policy); a float16 loss scale starts afresh.")
    total = planned
    if run.auto:
        total = meta.get("planned_steps")
        if hasattr(lr, "restore"):
            lr.restore(meta.get("schedule"))  # the continuation starts from the rate the last session reached
        if total is not None and done >= total and not meta.get("stopped_early"):
            log(f"NOTE: this run completed its plan of {total:,} steps (its learning rate decayed to 0); nothing "
                "more is trained and generator.keras is rewritten from that checkpoint.")
    elif done > planned:
        log(f"NOTE: this run has trained {done:,} steps, more than cyclegan.epochs = {run.cfg['epochs']} asks "
            f"({planned:,}); nothing more is trained and generator.keras is rewritten from that checkpoint.")
    history = _read_history(run.out / "history.csv", done)
    return _State(m, lr, done, str(folder), total, g=done, history=history)


def _describe(run: _Run, state: _State) -> None:
    import tensorflow as tf

    m, replicas = state.m, run.strategy.num_replicas_in_sync
    run.log(f"Strategy: {distribute.describe(run.strategy)}; global batch {run.batch} ({run.batch // replicas} per "
            f"replica); precision {run.policy or 'float32'}")
    run.log(f"Generator {m.args['generator']['kind']}: {m.gen_g.count_params():,} parameters; discriminator "
            f"receptive field: {m.receptive_field}x{m.receptive_field} px; devices: "
            f"{[d.device_type for d in tf.config.list_logical_devices()]}")
    if run.cfg["jit_compile"] and (replicas > 1 or isinstance(run.strategy, tf.distribute.TPUStrategy)):
        run.log(f"NOTE: cyclegan.jit_compile applies to one device only; this step runs on {replicas} replicas "
                "without it (a TPU compiles with XLA by itself).")


# ------------------------------------------------------------------------------------------------- budget
def _later_stages(run_dir: Path) -> list[str]:
    """The stages of this run after training (from run.json; packaging when training runs on its own)."""
    from monet.core.runs import read_run_json

    stages = (read_run_json(run_dir).get("params") or {}).get("stages", ["cyclegan_train", "package_submission"])
    return stages[stages.index("cyclegan_train") + 1:] if "cyclegan_train" in stages else stages


def _set_budget(run: _Run, state: _State) -> None:
    """With a deadline: what the rest of the run needs after training (measured), and the first guess of what an
    epoch end costs (one checkpoint write, measured)."""
    if not run.deadline:
        return
    saves = _time_saves(run, state.m)
    state.reserve = _reserve(run, state.m, saves)
    state.clock = budget.StepClock(epoch_end_guess=saves["checkpoint"])
    run.log(f"Time budget: {(run.deadline - time.time()) / 60:.1f} min left; after training the run needs about "
            f"{state.reserve.describe()}.")


def _time_saves(run: _Run, m: CycleGAN) -> dict:
    """Seconds to write a checkpoint, save the packaged generator and load it again, measured in a scratch folder
    beside the checkpoints (a U-Net's checkpoint with its optimizers is about 1.4 GB)."""
    import keras

    run.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=run.out / "checkpoints" if (run.out / "checkpoints").is_dir() else run.out,
                                     prefix=".probe-") as tmp:
        t0 = time.perf_counter()
        save_checkpoint(m, Path(tmp) / "checkpoint", {"probe": True})
        t1 = time.perf_counter()
        packaged_generator(m).save(str(Path(tmp) / "generator.keras"))
        t2 = time.perf_counter()
        keras.saving.load_model(str(Path(tmp) / "generator.keras"), compile=False)
        t3 = time.perf_counter()
    return {"checkpoint": t1 - t0, "save": t2 - t1, "load": t3 - t2}


def _reserve(run: _Run, m: CycleGAN, saves: dict) -> budget.Reserve:
    """Time kept after training: the final checkpoint and the generator's save; then, for the stages that follow
    in this run, packaging measured on real photos (with the generator's load), checkpoint scoring, evaluation."""
    cfg, later = run.cfg, _later_stages(run.dir)
    if "package_submission" not in later:
        reserve = budget.Reserve(0.0, 0.0, 0, "no packaging in this run")
    elif run.from_files:
        reserve = translator.measure_packaging(m.gen_g, run.photos)
        reserve.photos = len(run.photos)
        reserve.add(saves["load"], "generator load")
    else:  # TFRecords: no files to time the packaging path on; time the generator alone
        reserve = budget.Reserve(budget.KERNEL_OVERHEAD_S + 60.0, 0.05, len(run.photos), "estimated (TFRecords)")
    reserve.add(budget.SAFETY * (saves["checkpoint"] + saves["save"]), "final checkpoint and generator save")
    if cfg["score_checkpoints"]:  # each: load, translate and score score_photos photos
        n = cfg["score_checkpoints"]
        reserve.scoring = n * (15.0 + budget.SAFETY * (saves["checkpoint"] + 2 * reserve.per_image * cfg["score_photos"]))
        reserve.add(reserve.scoring, f"{n} checkpoint(s) to score")
    if "evaluate" in later:
        reserve.fixed += budget.KERNEL_OVERHEAD_S + 60.0  # InceptionV3 load and trace
        reserve.per_image *= 2  # features of every image: about one more generator pass
        reserve.how += ", x2 per image for evaluate"
    return reserve


def _plan(run: _Run, state: _State, now: float, force: bool = False) -> None:
    """epochs auto: (re)plan the total steps from the measured speed; the schedule follows without rising."""
    if not run.auto or state.clock.measured < PLAN_AFTER_STEPS:
        return
    if not force and state.total is not None and now - state.last_plan_at < REPLAN_EVERY_S:
        return
    state.last_plan_at = now
    per_step, per_end = state.clock.seconds_per_step(), state.clock.seconds_per_epoch_end()
    headroom = per_end + 2 * per_step  # the budget check comes before a step: never plan the last one to the second
    total = budget.plan_training_steps(run.deadline - now, per_step, state.reserve.seconds + headroom, state.g,
                                       steps_per_epoch=run.steps, seconds_per_epoch_end=per_end)
    if total <= state.g:  # no time for another step: the budget stops the run here, with its checkpoint
        raise _Stop
    first = state.total is None
    if not first and abs(total - state.total) <= max(1, REPLAN_CHANGE * (state.total - state.done)):
        return
    rate = state.lr.replan(state.g, total) if hasattr(state.lr, "replan") else run.cfg["learning_rate"]
    ends = total // run.steps - state.g // run.steps
    state.predicted_end = now + (total - state.g) * per_step + ends * per_end
    state.plans.append({"at_step": state.g, "total": total, "seconds_per_step": round(per_step, 4),
                        "seconds_per_epoch_end": round(per_end, 2), "rate": rate})
    state.total = total
    run.log(f"epochs auto: {per_step:.3f} s per step (wall time, measured), {per_end:.1f} s per epoch end; "
            f"{'planned' if first else 're-planned'} {total:,} steps ({total / run.steps:.2f} epochs of "
            f"{run.steps:,} steps), learning rate {rate:.3g} now")


# ------------------------------------------------------------------------------------------------ training
def _train_epochs(run: _Run, state: _State, progress) -> None:
    """Epoch after epoch until the plan is done, or until the budget stops the run (with a checkpoint)."""
    cfg = run.cfg
    step_fn = make_train_step(state.m, cfg["adversarial_loss"], cfg["lambda_cycle"], cfg["lambda_identity"],
                              cfg["jit_compile"], cfg["diffaugment"], cfg["label_smoothing"], run.seed)
    samples = _sample_photos(run)
    live = monet_progress.Progress("training", unit="steps", deadline=run.deadline)
    try:
        while state.total is None or state.g < state.total:
            t_epoch = time.time()
            try:
                _train_epoch(run, state, step_fn, live, progress)
            finally:
                state.train_seconds += time.time() - t_epoch
            if state.g % run.steps == 0 or (state.total is not None and state.g >= state.total):
                t_end = time.perf_counter()
                _end_of_epoch(state.m, run.out, state.history, samples, state.g, run.steps, t_epoch, run.log)
                _checkpoint(run, state)
                state.clock.epoch_end(time.perf_counter() - t_end)
    except _Stop:
        _stop(run, state)
    state.ended = time.time()
    live.close()


def _train_epoch(run: _Run, state: _State, step_fn, live, progress) -> None:
    """One epoch's steps (from where the last session stopped, up to the plan's end)."""
    import tensorflow as tf
    from tqdm import tqdm

    cfg, epoch, first = run.cfg, state.g // run.steps, state.g % run.steps
    last_step = run.steps if state.total is None else min(run.steps, state.total - epoch * run.steps)
    ds = datasets.paired_epoch(run.photos, run.monets, run.from_files, epoch, run.steps, run.batch, run.seed,
                               cfg["augment_photo"], cfg["augment_monet"], first_step=first, last_step=last_step)
    if run.strategy.num_replicas_in_sync > 1:
        ds = run.strategy.experimental_distribute_dataset(ds)
    label = f"epoch {epoch + 1}/{'auto' if run.auto else cfg['epochs']}"
    state.clock.pause()  # the interval up to this epoch's first step is an epoch end, not a step
    with tqdm(total=last_step, initial=first, desc=label, file=sys.stdout, mininterval=10, ascii=True,
              disable=progress is not None) as bar:
        for real_x, real_y in ds:
            if state.reserve is not None and time.time() + state.reserve.seconds > run.deadline:
                raise _Stop
            values = {k: float(v) for k, v in step_fn(real_x, real_y, tf.constant(state.g, tf.int64)).items()}
            state.clock.step()
            state.g += 1
            state.history.append({"epoch": epoch + 1, "step": state.g - epoch * run.steps, "global_step": state.g,
                                  **values})
            bar.update(1)
            _plan(run, state, time.time())
            live.update(state.g, state.total, prefix=label, **{k[:-5]: values[k] for k in LOSS_KEYS[:4]})
            if progress is not None:
                progress({"epoch": epoch + 1, "step": state.g - epoch * run.steps, "steps": last_step,
                          "global_step": state.g, "total_steps": state.total, "losses": values,
                          "seconds_per_step": state.clock.seconds_per_step()})
            if state.total is not None and state.g >= state.total:
                break


def _checkpoint(run: _Run, state: _State, note: str | None = None) -> Path:
    """Save the state at the current step (once: a stop right after an epoch's checkpoint only adds its note)."""
    g, steps = state.g, run.steps
    meta = {"epoch": g // steps, "step_in_epoch": g % steps, "global_step": g, "planned_steps": state.total,
            "fingerprint": run.fp, "steps_per_epoch": steps, "batch_size": run.batch, "precision": run.policy,
            "schedule": state.lr.state() if hasattr(state.lr, "state") else None,
            "losses": state.history[-1] if state.history else None, "stopped_early": note}
    folder = run.out / "checkpoints" / checkpoint_name(meta["epoch"], meta["step_in_epoch"])
    found = dict((f, s) for s, f in list_checkpoints(run.out / "checkpoints"))
    if found.get(folder) == g:
        old = json.loads((folder / "checkpoint.json").read_text())
        files.write_json(folder / "checkpoint.json", {**old, "stopped_early": note})
        return folder
    save_checkpoint(state.m, folder, meta)
    prune_checkpoints(run.out / "checkpoints", run.cfg["keep_checkpoints"])
    return folder


def _stop(run: _Run, state: _State) -> None:
    left = max(0.0, run.deadline - time.time()) / 60
    g, steps = state.g, run.steps
    state.stopped_early = (f"stopped early by the time budget after {g - state.done:,} step(s) of this session "
                           f"({g:,} in all, epoch {g // steps + 1} at step {g % steps}): {left:.1f} min were left "
                           f"and the stages after training need about {state.reserve.seconds / 60:.1f} min. Run the "
                           "same command again (with more time) to train on from the checkpoint.")
    if g > state.done:
        _write_history(run.out / "history.csv", state.history)
        _checkpoint(run, state, state.stopped_early)
    run.log("STOPPED EARLY: " + state.stopped_early)


# ---------------------------------------------------------------------------------------- choose and save
def _choose_checkpoint(run: _Run, state: _State, scorer) -> dict | None:
    """With ``score_checkpoints``: score the last checkpoints and save the best generator (see
    :mod:`monet.selection`); None when off."""
    from monet.gan import selection
    from monet.scoring import inception

    cfg, out = run.cfg, run.out
    if not cfg["score_checkpoints"]:
        return None
    network = inception.describe(cfg["score_weights"])
    found = [folder for _, folder in list_checkpoints(out / "checkpoints")][-cfg["score_checkpoints"]:][::-1]
    photo_paths = run.photos if run.from_files else []
    if not photo_paths or not found:
        why = "training read TFRecords, not photo files" if not photo_paths else "no checkpoint was written"
        return {"chosen": None, "rows": [], "skipped": [], "note": f"checkpoints not scored: {why}",
                "network": network}
    candidates = [(json.loads((f / "checkpoint.json").read_text()), f) for f in found]
    if scorer is None:
        scorer = selection.feature_scorer(run.dir, sorted(photo_paths)[:cfg["score_photos"]], cfg["score_weights"],
                                          log=run.log)

    def load_generator(folder):  # under the run's precision policy, with its loss-scale optimizers
        m, _ = load_checkpoint(folder, state.lr, cfg["beta_1"], None, run.policy == "mixed_float16", **_options(run))
        return packaged_generator(m)

    run.log(f"Scoring the last {len(candidates)} checkpoint(s) with {network}")
    after = state.reserve.seconds - getattr(state.reserve, "scoring", 0.0) if state.reserve else 0.0  # once scored
    result = selection.score_checkpoints(candidates, load_generator, scorer, out, network, budget.seconds_left,
                                         after, run.log)
    return {**result, "network": network}


def _undertrained(run: _Run, state: _State) -> str | None:
    """Why the packaged generator is undertrained, or None."""
    if state.total is None:
        return (f"training stopped after {state.g:,} steps, before its speed was measured: no plan was made "
                "(epochs auto)")
    if state.g < state.total:
        return f"the packaged generator trained {state.g:,} of {state.total:,} planned steps"
    if run.auto and state.total < run.floor:
        return (f"the time budget planned only {state.total:,} steps, fewer than one pass over the "
                f"{len(run.photos):,} photos ({run.floor:,} steps at batch {run.batch}): raise time_budget_minutes")
    return None


def _summarize(run: _Run, state: _State, choice: dict | None, t_start: float) -> dict:
    cfg, m, g = run.cfg, state.m, state.g
    trained_now = g - state.done
    intervals = state.clock.seconds_per_step()
    summary = {
        "epochs": cfg["epochs"], "epochs_completed": g // run.steps, "global_steps": g, "planned_steps": state.total,
        "undertrained": False, "epochs_trained_now": trained_now / run.steps, "resumed_from": state.resumed_from,
        "stopped_early": state.stopped_early, "steps_per_epoch": run.steps, "batch_size": run.batch,
        "global_batch_size": run.batch, "strategy": distribute.describe(run.strategy),
        "replicas": run.strategy.num_replicas_in_sync, "mixed_precision": run.policy or "off",
        "photos": len(run.photos), "paintings": len(run.monets), "generator_kind": m.args["generator"]["kind"],
        "receptive_field": m.receptive_field, "generator_parameters": m.gen_g.count_params(),
        "levers": {k: cfg[k] for k in ("augment_photo", "augment_monet", "diffaugment", "label_smoothing",
                                       "pool_size", "lr_schedule", "decay_from", "ema")},
        "learning_rate_first": next((r.get("lr") for r in state.history if r["global_step"] == state.done + 1), None),
        "learning_rate_last": state.history[-1]["lr"] if state.history else None,
        "plans": state.plans, "reserve_seconds": round(state.reserve.seconds, 1) if state.reserve else None,
        "seconds_per_step": round(intervals, 4) if intervals else None,
        "train_seconds": round(state.train_seconds, 2), "seconds": round(time.time() - t_start, 2),
        "images_per_second": round(trained_now * run.batch / state.train_seconds, 3) if state.train_seconds else None,
        "final_losses": {k: state.history[-1][k] for k in LOSS_KEYS} if state.history else None,
        "generator": str(run.out / "generator.keras"), "model_args": m.args,
    }
    if run.deadline and state.reserve is not None:
        summary.update(_budget_figures(run, state))
    if choice is not None:
        best = choice["chosen"]
        summary.update(chosen_checkpoint=best and best["checkpoint"], chosen_mifid=best and best["mifid"],
                       checkpoint_scores=choice["rows"], scores_skipped=choice["skipped"], selection=choice["note"],
                       scoring_network=choice["network"])
    warning = _undertrained(run, state)
    if warning:
        summary.update(undertrained=True, warning=warning)
        run.log("WARNING: UNDERTRAINED: " + warning)
    files.write_json(run.out / "summary.json", summary)
    return summary


def _budget_figures(run: _Run, state: _State) -> dict:
    """When training was predicted to end and when it did; ``budget_slack_s``: the seconds beyond the reserve
    that were left when it ended (negative: it ran into the time the later stages needed)."""
    stamp = lambda t: time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t)) if t else None  # noqa: E731
    return {"deadline": stamp(run.deadline), "predicted_end_of_training": stamp(state.predicted_end),
            "end_of_training": stamp(state.ended),
            "budget_slack_s": round(run.deadline - state.ended - state.reserve.seconds, 1),
            "plan_error_s": round(state.ended - state.predicted_end, 1) if state.predicted_end else None}


# ------------------------------------------------------------------------------------------ history, samples
def _read_history(path: Path, up_to_step: int) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        rows = [{k: (int(v) if k in ("epoch", "step", "global_step") else float(v)) for k, v in r.items() if v != ""}
                for r in csv.DictReader(fh)]
    return [r for r in rows if r["global_step"] <= up_to_step]


def _write_history(path: Path, rows: list[dict]) -> None:
    with files.atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["epoch", "step", "global_step", *STEP_KEYS], restval="")
        writer.writeheader()
        writer.writerows(rows)


def _sample_photos(run: _Run):
    """The photos every epoch's sample grid shows."""
    import tensorflow as tf

    n = run.cfg["sample_images"]
    if run.from_files:
        paths = sorted(run.photos)[:n]
        return next(iter(datasets.photo_batches(paths, len(paths))))
    return tf.stack([datasets.decode_image(b) for b in run.photos[:n]])


def _end_of_epoch(m: CycleGAN, out: Path, history: list[dict], samples, global_step: int, steps: int, t_epoch,
                  log) -> None:
    """History, loss curves, a sample grid and a log line after each epoch (or the planned end)."""
    epoch = -(-global_step // steps)
    rows = [h for h in history if h["epoch"] == epoch]
    if rows:
        means = {k: float(np.mean([h[k] for h in rows])) for k in LOSS_KEYS}
        log(f"epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in means.items())
            + f", lr {rows[-1].get('lr', float('nan')):.3g} ({time.time() - t_epoch:.1f} s)")
    _write_history(out / "history.csv", history)
    plots.loss_curves(history, LOSS_KEYS[:4] + ["cycle_loss"], out / "losses.png")
    fakes = plots.to_uint8(packaged_generator(m)(samples, training=False))
    plots.image_grid([list(plots.to_uint8(samples)), list(fakes)], out / "samples" / f"epoch_{epoch:02d}.png",
                     row_titles=["photo X", "G(X)"], title=f"epoch {epoch}")
