"""CycleGAN (or CUT / FastCUT) training: the run's loop over epochs and steps, with its time budget, history and
checkpoints.

:func:`train` is the ``cyclegan_train`` stage. It reads as its steps: prepare (strategy, precision, data), resume
or build the models of :mod:`monet.gan.cyclegan` (``cyclegan.model: cut`` or ``fastcut``: :mod:`monet.gan.cut`,
every lever the same), set the budget (what the stages after training need, measured),
train epoch after epoch (planning and re-planning an ``epochs: auto`` run from the measured speed, a checkpoint
after every epoch and where the budget stops it), choose the checkpoint to package, save ``generator.keras`` and
write ``summary.json``. It also writes ``cyclegan/history.csv`` (losses and the learning rate of every step),
``losses.png`` and ``samples/epoch_NN.png``.

``epochs: auto``: after 5 measured steps the run plans its total steps so that training, with one checkpoint per
epoch, ends when the time left is what the stages after it need (:func:`monet.core.budget.plan_training_steps`), and
re-plans every :data:`monet.gan.planning.REPLAN_EVERY_S` seconds as the measured speed changes; the learning-rate
schedule follows the plan without ever rising (:mod:`monet.gan.schedules`). A plan shorter than one pass over the
photos (unless checkpoint selection packaged an earlier step), or a stop before the speed was measured, is flagged
undertrained. The session's context and state are :mod:`monet.gan.session`, its budget :mod:`monet.gan.planning`,
its record :mod:`monet.gan.history`.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from monet.core import budget, files, progress as monet_progress
from monet.core.environment import seed_everything
from monet.core.params import fingerprint, without_later_defaults
from monet.core.schema import decay_from
from monet.data import fetch, images, tfdata
from monet.gan import distribute, schedules
from monet.gan.cut import CUT_MODELS, build_model, load_model_checkpoint, make_cut_step
from monet.gan.selection import restart_checkpoint
from monet.gan.cyclegan import (RESUMABLE_KEYS, CycleGAN, checkpoint_name, latest_checkpoint, list_checkpoints,
                                make_train_step, packaged_generator, prune_checkpoints, remove_unfinished,
                                save_checkpoint, spread_out)
from monet.gan.history import end_of_epoch, read_history, sample_photos, write_history
from monet.gan.planning import SCORING, budget_figures, plan, set_budget, undertrained_verdict
from monet.gan.guards import check_losses, check_weights
from monet.gan.session import Run, State, Stop
from monet.models.architecture import describe_nce, model_args

__all__ = ["train", "UNUSED_KEYS"]

# Keys that the other kind of model never reads: left out of the fingerprint, so that a CycleGAN run's
# checkpoints written before CUT existed still resume, and a CUT run's do not depend on lambda_cycle.
UNUSED_KEYS = {"cyclegan": ("model", "lambda_nce", "nce_idt", "nce_layers", "nce_t", "num_patches", "netf_units",
                            "flip_equivariance"),
               "cut": ("lambda_cycle", "lambda_identity", "pool_size")}


def train(run_dir: str | Path, cfg: dict, seed: int = 42, deterministic: bool = False, log=print,
          progress=None, scorer=None) -> dict:
    """Train (or resume) the CycleGAN (or with ``cfg['model']`` cut / fastcut, the CUT) of a run with the
    ``cyclegan`` params section ``cfg``.

    Resumes from the run's last checkpoint (an epoch's end, or the step where a time budget stopped it) when
    ``cfg['resume']`` and the checkpoint was made with the same training params (``epochs``, the precision policy
    and the strategy may change); otherwise an existing ``cyclegan/`` folder is kept, renamed with a timestamp, and
    training starts afresh. With a time budget (:mod:`monet.core.budget`), ``epochs: auto`` plans the run's length from
    its measured speed; any run stops, with a checkpoint, when going on would leave less than the stages after
    training need. With ``score_checkpoints`` the last (or spread) checkpoints are scored (``scorer``: default
    :func:`monet.gan.selection.feature_scorer`) and the best is packaged. ``progress`` (optional) is called with a dict
    after every step. Returns the summary also written to ``cyclegan/summary.json``.
    """
    t_start = time.time()
    run = _prepare(Path(run_dir), cfg, seed, deterministic, log)
    state = _resume_or_build(run)
    _describe(run, state)
    set_budget(run, state)
    _train_epochs(run, state, progress)
    choice = _choose_checkpoint(run, state, scorer)
    if choice is None or choice["chosen"] is None:
        with files.atomic_path(run.out / "generator.keras", ".keras") as tmp:
            packaged_generator(state.m).save(str(tmp))
    files.write_json(run.out / "generator.json", {"factory": "monet.models.networks.generator",
                                                  "args": state.m.args["generator"], "ema": cfg["ema"]})
    return _summarize(run, state, choice, t_start)


# ------------------------------------------------------------------------------------------------ prepare
def _prepare(run_dir: Path, cfg: dict, seed: int, deterministic: bool, log) -> Run:
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
    left_out = RESUMABLE_KEYS + UNUSED_KEYS["cut" if cfg.get("model") in CUT_MODELS else "cyclegan"]
    what = {"cfg": without_later_defaults({k: v for k, v in cfg.items()
                                           if k not in left_out + ("batch_size", "mixed_precision")}),
            "global_batch": batch, "seed": seed, "deterministic": deterministic,
            "data": fingerprint((run_dir / "data" / "manifest.csv").read_text())}
    fp = fingerprint(what)
    # Checkpoints written before the policy left the fingerprint (same policy) still resume.
    earlier = fingerprint({**what, "precision": policy})
    return Run(run_dir, run_dir / "cyclegan", cfg, seed, deterministic, batch, strategy, policy, photos, monets,
               from_files, cfg["steps_per_epoch"] or math.ceil(len(photos) / batch), deadline, fp, log, earlier)


def _training_images(run_dir: Path, cfg: dict) -> tuple[list, list, bool]:
    manifest = fetch.read_manifest(run_dir)
    if cfg["data_format"] == "jpg":
        return [r["path"] for r in manifest["photo"]], [r["path"] for r in manifest["monet"]], True
    summary = json.loads((run_dir / "data" / "summary.json").read_text())
    files_ = {d: summary["domains"][d]["tfrecords"] for d in ("photo", "monet")}
    missing = [d for d, f in files_.items() if not f]
    if missing:
        raise images.DataError(f"cyclegan.data_format is 'tfrec' but {summary['data_dir']} has no "
                             f"{', '.join(fetch.TFREC_FOLDERS[d] + '/*.tfrec' for d in missing)}; use data_format: jpg")
    return tfdata.read_tfrecord_images(files_["photo"]), tfdata.read_tfrecord_images(files_["monet"]), False


def _options(run: Run) -> dict:
    return {"ema": run.cfg["ema"], "pool_size": run.cfg["pool_size"],
            "image_shape": (run.cfg.get("train_size", images.IMAGE_SIZE),) * 2 + (3,)}


# ------------------------------------------------------------------------------------------- resume or build
def _resume_or_build(run: Run) -> State:
    """The models and the schedule: from the last checkpoint when it may be resumed, else new (an existing
    ``cyclegan/`` folder is moved aside). Stale half-written checkpoints of a killed run are removed first."""
    cfg, log = run.cfg, run.log
    gone = remove_unfinished(run.out / "checkpoints") if (run.out / "checkpoints").is_dir() else []
    if gone:
        log(f"Removed what a killed run left half-written: {', '.join(gone)}")
    seed_everything(run.seed, run.deterministic)
    planned = None if run.auto else cfg["epochs"] * run.steps
    lr = schedules.learning_rate(cfg["lr_schedule"], cfg["learning_rate"], planned, decay_from(cfg))
    loss_scale = run.policy == "mixed_float16"
    last = latest_checkpoint(run.out / "checkpoints")
    if last is not None:
        meta = json.loads((last / "checkpoint.json").read_text())
        if cfg["resume"] and meta.get("fingerprint") in (run.fp, run.earlier_fp):
            m, meta = load_model_checkpoint(last, lr, cfg["beta_1"], run.strategy, loss_scale, **_options(run))
            return _resumed(run, m, lr, meta, last, planned)
        why = "resume is off" if not cfg["resume"] else "its training params or data differ"
        log(f"Existing checkpoints in {run.out} are not resumed ({why}); moved to {files.move_aside(run.out)}.")
    run.out.mkdir(parents=True, exist_ok=True)
    if cfg["restart_from"]:
        return _restarted(run, lr, planned)
    m = build_model(model_args(cfg), lr, cfg["beta_1"], run.strategy, loss_scale, **_options(run))
    return State(m, lr, 0, None, planned)


def _restarted(run: Run, lr, planned: int | None) -> State:
    """A new run from another run's best checkpoint (``restart_from``): its networks, weights and Adam's state,
    with this run's learning rate and schedule from step 0."""
    folder, why = restart_checkpoint(Path(run.cfg["restart_from"]), run.cfg)
    m, meta = load_model_checkpoint(folder, lr, run.cfg["beta_1"], run.strategy, run.policy == "mixed_float16",
                                    **_options(run))
    if m.args != model_args(run.cfg):
        run.log("NOTE: restart_from: the networks are the checkpoint's; this run's generator/discriminator params "
                "differ and are not used.")
    restarted = {"checkpoint": str(folder), "why": why, "global_step": meta["global_step"],
                 "learning_rate": run.cfg["learning_rate"], "lr_schedule": run.cfg["lr_schedule"]}
    run.log(f"Restarting from {folder} ({why}; {meta['global_step']:,} steps trained there) with learning rate "
            f"{run.cfg['learning_rate']:g} ({run.cfg['lr_schedule']}) from step 0.")
    return State(m, lr, 0, None, planned, restarted_from=restarted)


def _resumed(run: Run, m: CycleGAN, lr, meta: dict, folder: Path, planned: int | None) -> State:
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
    history = read_history(run.out / "history.csv", done)
    return State(m, lr, done, str(folder), total, g=done, history=history,
                 restarted_from=meta.get("restarted_from"))  # a restarted run stays one across sessions


def _describe(run: Run, state: State) -> None:
    import tensorflow as tf

    m, replicas = state.m, run.strategy.num_replicas_in_sync
    run.log(f"Strategy: {distribute.describe(run.strategy)}; global batch {run.batch} ({run.batch // replicas} per "
            f"replica); precision {run.policy or 'float32'}")
    run.log(f"Generator {m.args['generator']['kind']}: {m.gen_g.count_params():,} parameters; discriminator "
            f"receptive field: {m.receptive_field}x{m.receptive_field} px; devices: "
            f"{[d.device_type for d in tf.config.list_logical_devices()]}")
    run.log(f"Model {m.kind}: " + ", ".join(f"{name} {model.count_params():,}" for name, model in m.models.items())
            + " parameters" + (f"; {describe_nce(m.args['generator'], m.args['nce'])}" if "nce" in m.args else ""))
    if run.cfg["jit_compile"] and (replicas > 1 or isinstance(run.strategy, tf.distribute.TPUStrategy)):
        run.log(f"NOTE: cyclegan.jit_compile applies to one device only; this step runs on {replicas} replicas "
                "without it (a TPU compiles with XLA by itself).")


# ------------------------------------------------------------------------------------------------ training
def _train_epochs(run: Run, state: State, progress) -> None:
    """Epoch after epoch until the plan is done, or until the budget stops the run (with a checkpoint)."""
    step_fn = _train_step(run, state.m)
    samples = sample_photos(run)
    live = monet_progress.Progress("training", unit="steps", deadline=run.deadline)
    try:
        while state.total is None or state.g < state.total:
            t_epoch = time.time()
            try:
                _train_epoch(run, state, step_fn, live, progress)
            finally:
                state.train_seconds += time.time() - t_epoch
            if state.g % run.steps == 0 or (state.total is not None and state.g >= state.total):
                end_of_epoch(state.m, run.out, state.history, samples, state.g, run.steps, t_epoch, run.log)
                _checkpoint(run, state)
    except Stop:
        _stop(run, state)
    state.ended = time.time()
    live.close()


def _train_step(run: Run, m: CycleGAN):
    """The compiled step of the model that ``cyclegan.model`` names."""
    cfg = run.cfg
    if cfg.get("model", "cyclegan") in CUT_MODELS:
        return make_cut_step(m, cfg["adversarial_loss"], cfg["jit_compile"], cfg["diffaugment"],
                             cfg["label_smoothing"], run.seed)
    return make_train_step(m, cfg["adversarial_loss"], cfg["lambda_cycle"], cfg["lambda_identity"],
                           cfg["jit_compile"], cfg["diffaugment"], cfg["label_smoothing"], run.seed)


def _train_epoch(run: Run, state: State, step_fn, live, progress) -> None:
    """One epoch's steps (from where the last session stopped, up to the plan's end)."""
    import tensorflow as tf
    from tqdm import tqdm

    cfg, epoch, first = run.cfg, state.g // run.steps, state.g % run.steps
    last_step = run.steps if state.total is None else min(run.steps, state.total - epoch * run.steps)
    ds = tfdata.paired_epoch(run.photos, run.monets, run.from_files, epoch, run.steps, run.batch, run.seed,
                               cfg["augment_photo"], cfg["augment_monet"], first_step=first, last_step=last_step,
                               crop=cfg.get("train_size"))
    if run.strategy.num_replicas_in_sync > 1:
        ds = run.strategy.experimental_distribute_dataset(ds)
    label = f"epoch {epoch + 1}/{'auto' if run.auto else cfg['epochs']}"
    state.clock.pause()  # from the last epoch's last step to this one's first: the epoch's turn, not a step
    with tqdm(total=last_step, initial=first, desc=label, file=sys.stdout, mininterval=10, ascii=True,
              disable=progress is not None) as bar:
        for real_x, real_y in ds:
            if state.reserve is not None and time.time() + state.reserve.seconds > run.deadline:
                raise Stop
            values = {k: float(v) for k, v in step_fn(real_x, real_y, tf.constant(state.g, tf.int64)).items()}
            state.clock.step()
            state.g += 1
            check_losses(run, state, values)
            state.history.append({"epoch": epoch + 1, "step": state.g - epoch * run.steps, "global_step": state.g,
                                  **values})
            bar.update(1)
            if state.total is None or state.g < state.total:  # a finished plan is not re-planned
                plan(run, state, time.time())
            live.update(state.g, state.total, prefix=label, **{k[:-5]: values[k] for k in state.m.loss_keys[:4]})
            if progress is not None:
                progress({"epoch": epoch + 1, "step": state.g - epoch * run.steps, "steps": last_step,
                          "global_step": state.g, "total_steps": state.total, "losses": values,
                          "seconds_per_step": state.clock.seconds_per_step()})
            if state.total is not None and state.g >= state.total:
                break


def _checkpoint(run: Run, state: State, note: str | None = None) -> Path:
    """Save the state at the current step (once: a stop right after an epoch's checkpoint only adds its note)."""
    g, steps = state.g, run.steps
    meta = {"epoch": g // steps, "step_in_epoch": g % steps, "global_step": g, "planned_steps": state.total,
            "fingerprint": run.fp, "steps_per_epoch": steps, "batch_size": run.batch, "precision": run.policy,
            "schedule": state.lr.state() if hasattr(state.lr, "state") else None,
            "losses": state.history[-1] if state.history else None, "stopped_early": note,
            "restarted_from": state.restarted_from}
    folder = run.out / "checkpoints" / checkpoint_name(meta["epoch"], meta["step_in_epoch"])
    found = dict((f, s) for s, f in list_checkpoints(run.out / "checkpoints"))
    if found.get(folder) == g:
        old = json.loads((folder / "checkpoint.json").read_text())
        files.write_json(folder / "checkpoint.json", {**old, "stopped_early": note})
        return folder
    check_weights(run, state)
    save_checkpoint(state.m, folder, meta)
    prune_checkpoints(run.out / "checkpoints", run.cfg["keep_checkpoints"], run.cfg["spread_checkpoints"])
    return folder


def _stop(run: Run, state: State) -> None:
    left = max(0.0, run.deadline - time.time()) / 60
    g, steps = state.g, run.steps
    state.stopped_early = (f"stopped early by the time budget after {g - state.done:,} step(s) of this session "
                           f"({g:,} in all, epoch {g // steps + 1} at step {g % steps}): {left:.1f} min were left "
                           f"and the stages after training need about {state.reserve.seconds / 60:.1f} min. Run the "
                           "same command again (with more time) to train on from the checkpoint.")
    if g > state.done:
        write_history(run.out / "history.csv", state.history, state.m.loss_keys)
        _checkpoint(run, state, state.stopped_early)
    run.log("STOPPED EARLY: " + state.stopped_early)


# ---------------------------------------------------------------------------------------- choose and save
def _choose_checkpoint(run: Run, state: State, scorer) -> dict | None:
    """With ``score_checkpoints``: score the last (or spread) checkpoints and save the best generator (see
    :mod:`monet.gan.selection`); None when off."""
    from monet.gan import selection
    from monet.scoring import inception

    cfg, out = run.cfg, run.out
    if not cfg["score_checkpoints"]:
        return None
    network = inception.describe(cfg["score_weights"])
    found, n = list_checkpoints(out / "checkpoints"), cfg["score_checkpoints"]
    found = [folder for _, folder in (spread_out(found, n) if cfg["spread_checkpoints"] else found[-n:])][::-1]
    photo_paths = run.photos if run.from_files else []
    if not photo_paths or not found:
        why = "training read TFRecords, not photo files" if not photo_paths else "no checkpoint was written"
        return {"chosen": None, "rows": [], "skipped": [], "note": f"checkpoints not scored: {why}",
                "network": network}
    candidates = [(json.loads((f / "checkpoint.json").read_text()), f) for f in found]
    post = None
    if scorer is None:  # ranked on the images that would be submitted
        post = selection.as_packaged(run.dir)
        scorer = selection.feature_scorer(run.dir, sorted(photo_paths)[:cfg["score_photos"]], cfg["score_weights"],
                                          log=run.log, score_by=cfg["score_by"], post=post)

    def load_generator(folder):  # under the run's precision policy, with its loss-scale optimizers
        m, _ = load_model_checkpoint(folder, state.lr, cfg["beta_1"], None, run.policy == "mixed_float16",
                                     **_options(run))
        return packaged_generator(m)

    which = "checkpoint(s) spread over the run" if cfg["spread_checkpoints"] else "last checkpoint(s)"
    run.log(f"Scoring {len(candidates)} {which} with {network}"
            + (f", as packaged ({post.describe_short()})" if post else ""))
    after = state.reserve.seconds - state.reserve.parts.get(SCORING, 0.0) if state.reserve else 0.0  # once scored
    result = selection.score_checkpoints(candidates, load_generator, scorer, out, network, budget.seconds_left,
                                         after, run.log, cfg["score_by"])
    if post and result["chosen"]:
        result["note"] += f", ranked as packaged ({post.describe_short()})"
    return {**result, "network": network}


def _summarize(run: Run, state: State, choice: dict | None, t_start: float) -> dict:
    cfg, m, g = run.cfg, state.m, state.g
    trained_now = g - state.done
    intervals = state.clock.seconds_per_step()
    summary = {
        "epochs": cfg["epochs"], "epochs_completed": g // run.steps, "global_steps": g, "planned_steps": state.total,
        "undertrained": False, "epochs_trained_now": trained_now / run.steps, "resumed_from": state.resumed_from,
        "restarted_from": state.restarted_from,
        "stopped_early": state.stopped_early, "steps_per_epoch": run.steps, "batch_size": run.batch,
        "global_batch_size": run.batch, "strategy": distribute.describe(run.strategy),
        "replicas": run.strategy.num_replicas_in_sync, "mixed_precision": run.policy or "off",
        "photos": len(run.photos), "paintings": len(run.monets), "model": m.kind,
        "parameters": {name: model.count_params() for name, model in m.models.items()},
        "generator_kind": m.args["generator"]["kind"],
        "receptive_field": m.receptive_field, "generator_parameters": m.gen_g.count_params(),
        "levers": {**{k: cfg[k] for k in ("augment_photo", "augment_monet", "train_size", "diffaugment",
                                          "label_smoothing", "pool_size", "lr_schedule", "ema")},
                   "decay_from": decay_from(cfg)},
        "learning_rate_first": next((r.get("lr") for r in state.history if r["global_step"] == state.done + 1), None),
        "learning_rate_last": state.history[-1]["lr"] if state.history else None,
        "plans": state.plans, "reserve_seconds": round(state.reserve.seconds, 1) if state.reserve else None,
        "seconds_per_step": round(intervals, 4) if intervals else None,
        "train_seconds": round(state.train_seconds, 2), "seconds": round(time.time() - t_start, 2),
        "images_per_second": round(trained_now * run.batch / state.train_seconds, 3) if state.train_seconds else None,
        "final_losses": {k: state.history[-1][k] for k in m.loss_keys} if state.history else None,
        "generator": str(run.out / "generator.keras"), "model_args": m.args,
    }
    if run.deadline and state.reserve is not None:
        summary.update(budget_figures(run, state))
    if choice is not None:
        best = choice["chosen"]
        summary.update(chosen_checkpoint=best and best["checkpoint"], chosen_mifid=best and best["mifid"],
                       checkpoint_scores=choice["rows"], scores_skipped=choice["skipped"], selection=choice["note"],
                       scoring_network=choice["network"])
    summary.update(undertrained_verdict(run, state, choice))
    files.write_json(run.out / "summary.json", summary)
    return summary


