"""CycleGAN training: the run's loop over epochs and steps, with its time budget, history and checkpoints.

:func:`train` is the ``cyclegan_train`` stage: it builds (or resumes) the models of :mod:`monet.cyclegan`, streams
the two domains (:func:`monet.datasets.paired_epoch`), runs the compiled step, writes ``cyclegan/history.csv``,
``losses.png``, ``samples/epoch_NN.png``, a checkpoint after every epoch (and where a time budget stops it),
``generator.keras`` (the generator to package: the last, averaged with ``ema``, or the best scored checkpoint's)
and ``summary.json``.
"""
from __future__ import annotations

import csv
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

from . import budget, data, datasets, distribute, files, plots, schedules
from . import progress as monet_progress
from .cyclegan import (LOSS_KEYS, RESUMABLE_KEYS, CycleGAN, _checkpoint_name, _checkpoints, _prune,
                       latest_checkpoint, load_checkpoint, make_train_step, model_args, packaged_generator,
                       save_checkpoint, seed_everything)
from .params import fingerprint

__all__ = ["train"]


def _read_history(path: Path, up_to_step: int) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        rows = [{k: (int(v) if k in ("epoch", "step", "global_step") else float(v)) for k, v in r.items()}
                for r in csv.DictReader(fh)]
    return [r for r in rows if r["global_step"] <= up_to_step]


def _write_history(path: Path, rows: list[dict]) -> None:
    with files.atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["epoch", "step", "global_step", *LOSS_KEYS])
        writer.writeheader()
        writer.writerows(rows)


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


def _later_stages(run_dir: Path) -> list[str]:
    from .runs import read_run_json

    return (read_run_json(run_dir).get("params") or {}).get("stages", ["package_submission"])



class _Stop(Exception):
    """The time budget ends training here."""


def train(run_dir: str | Path, cfg: dict, seed: int = 42, deterministic: bool = False, log=print,
          progress=None, scorer=None) -> dict:
    """Train (or resume) the CycleGAN of a run with the ``cyclegan`` params section ``cfg``.

    Resumes from the run's last checkpoint (an epoch's end, or the step where a time budget stopped it) when
    ``cfg['resume']`` and the checkpoint was made with the same training params (``epochs`` may change);
    otherwise an existing ``cyclegan/`` folder is kept, renamed with a timestamp, and training starts afresh.
    With a time budget (:mod:`monet.budget`), ``epochs: auto`` plans the run's length from its measured speed;
    any run stops, with a checkpoint, when going on would leave less than the measured packaging time.
    With ``score_checkpoints`` the last checkpoints are scored (``scorer``: default
    :func:`monet.selection.feature_scorer`) and the best is packaged. ``progress`` (optional) is called with a dict
    after every step. Returns the summary also written to ``cyclegan/summary.json``.
    """
    import keras
    import tensorflow as tf
    from tqdm import tqdm

    run_dir = Path(run_dir)
    out = run_dir / "cyclegan"
    batch = distribute.global_batch(cfg["batch_size"], cfg["strategy"])
    strategy = distribute.make_strategy(cfg["strategy"], batch)
    policy = distribute.precision_policy(cfg["mixed_precision"], strategy)
    keras.mixed_precision.set_global_policy(policy or "float32")
    if isinstance(strategy, tf.distribute.TPUStrategy) and cfg["data_format"] == "jpg":
        log("On TPU the training data is read from the TFRecords (data_format tfrec).")
        cfg = {**cfg, "data_format": "tfrec"}
    photos, monets, from_files = _training_images(run_dir, cfg)
    replicas = strategy.num_replicas_in_sync
    steps = cfg["steps_per_epoch"] or math.ceil(len(photos) / batch)
    deadline = budget.deadline()
    auto = cfg["epochs"] == "auto"
    if auto and deadline is None:
        raise ValueError("cyclegan.epochs is 'auto' but this run has no time budget: set time_budget_minutes "
                         "(Kaggle sets 270 by default) or a number of epochs")
    manifest_hash = fingerprint((run_dir / "data" / "manifest.csv").read_text())
    fp = fingerprint({"cfg": {k: v for k, v in cfg.items() if k not in RESUMABLE_KEYS + ("batch_size", "mixed_precision")},
                      "global_batch": batch, "precision": policy, "seed": seed, "deterministic": deterministic,
                      "data": manifest_hash})

    seed_everything(seed, deterministic)
    planned = None if auto else cfg["epochs"] * steps
    lr = schedules.learning_rate(cfg["lr_schedule"], cfg["learning_rate"], planned or 1, cfg["decay_from"])
    options = {"ema": cfg["ema"], "pool_size": cfg["pool_size"], "image_shape": (data.IMAGE_SIZE, data.IMAGE_SIZE, 3)}
    last = latest_checkpoint(out / "checkpoints")
    m, done, resumed_from = None, 0, None
    if last is not None:
        meta = json.loads((last / "checkpoint.json").read_text())
        if cfg["resume"] and meta.get("fingerprint") == fp:
            m, meta = load_checkpoint(last, lr, cfg["beta_1"], strategy, policy == "mixed_float16", **options)
            done, resumed_from = meta["global_step"], str(last)
            log(f"Resuming from {last} ({done:,} steps done).")
            if planned is not None and done > planned:
                log(f"NOTE: this run has trained {done:,} steps, more than cyclegan.epochs = {cfg['epochs']} asks "
                    f"({planned:,}); nothing more is trained and generator.keras is rewritten from that checkpoint.")
        else:
            kept = out.with_name(f"cyclegan.{time.strftime('%Y%m%d-%H%M%S')}")
            why = "resume is off" if not cfg["resume"] else "its training params or data differ"
            log(f"Existing checkpoints in {out} are not resumed ({why}); moved to {kept}.")
            out.rename(kept)
    if m is None:
        m = CycleGAN(model_args(cfg), lr, cfg["beta_1"], strategy, policy == "mixed_float16", **options)
    out.mkdir(parents=True, exist_ok=True)
    log(f"Strategy: {distribute.describe(strategy)}; global batch {batch} ({batch // replicas} per replica); "
        f"precision {policy or 'float32'}")
    log(f"Generator {m.args['generator']['kind']}: {m.gen_g.count_params():,} parameters; discriminator receptive "
        f"field: {m.receptive_field}x{m.receptive_field} px; devices: "
        f"{[d.device_type for d in tf.config.list_logical_devices()]}")

    step_fn = make_train_step(m, cfg["adversarial_loss"], cfg["lambda_cycle"], cfg["lambda_identity"],
                              cfg["jit_compile"], cfg["diffaugment"], cfg["label_smoothing"], seed)
    history = _read_history(out / "history.csv", done)
    sample_paths = sorted(photos if from_files else [])[:cfg["sample_images"]]
    samples = (next(iter(datasets.photo_batches(sample_paths, len(sample_paths)))) if from_files
               else tf.stack([datasets.decode_image(b) for b in photos[:cfg["sample_images"]]]))
    reserve = None
    if deadline:
        reserve = _reserve(run_dir, m, photos if from_files else [], len(photos), cfg, log)
        log(f"Time budget: {(deadline - time.time()) / 60:.1f} min left; the stages after training need about "
            f"{reserve.describe()}.")

    t_start, train_seconds, stopped_early = time.time(), 0.0, None
    live = monet_progress.Progress("training", unit="steps", deadline=deadline)
    step_times: list[float] = []
    total = planned if planned is not None else done + 10 ** 9  # auto: set once the speed is measured
    state = {"epoch": done // steps, "step_in_epoch": done % steps, "global": done}

    def checkpoint(note=None):
        meta = {"epoch": state["global"] // steps, "step_in_epoch": state["global"] % steps,
                "global_step": state["global"], "planned_steps": total if total < 10 ** 9 else None,
                "fingerprint": fp, "steps_per_epoch": steps, "batch_size": batch,
                "losses": history[-1] if history else None, "stopped_early": note}
        folder = save_checkpoint(m, out / "checkpoints" / _checkpoint_name(meta["epoch"], meta["step_in_epoch"]), meta)
        _prune(out / "checkpoints", cfg["keep_checkpoints"])
        return folder

    try:
        while state["global"] < total:
            epoch, first = state["global"] // steps, state["global"] % steps
            last_step = min(steps, total - epoch * steps)
            ds = datasets.paired_epoch(photos, monets, from_files, epoch, steps, batch, seed, cfg["augment_photo"],
                                   cfg["augment_monet"], first_step=first, last_step=last_step)
            if replicas > 1:
                ds = strategy.experimental_distribute_dataset(ds)
            t_epoch = time.time()
            epochs_label = "auto" if auto else cfg["epochs"]
            bar = tqdm(total=last_step, initial=first, desc=f"epoch {epoch + 1}/{epochs_label}", file=sys.stdout,
                       mininterval=10, ascii=True, disable=progress is not None)
            for real_x, real_y in ds:
                if reserve is not None and time.time() + reserve.seconds > deadline:
                    raise _Stop
                t0 = time.perf_counter()
                values = {k: float(v) for k, v in step_fn(real_x, real_y, tf.constant(state["global"], tf.int64)).items()}
                step_times.append(time.perf_counter() - t0)
                state["global"] += 1
                g = state["global"]
                history.append({"epoch": epoch + 1, "step": g - epoch * steps, "global_step": g, **values})
                bar.update(1)
                if (g - done) % 25 == 1:
                    bar.set_postfix(g=f"{values['gen_g_loss']:.3f}", dy=f"{values['disc_y_loss']:.3f}")
                if auto and total >= 10 ** 9 and len(step_times) == 6:  # the first call traces: time 5 after it
                    per_step = float(np.median(step_times[1:]))
                    total = budget.plan_training_steps(deadline - time.time(), per_step, reserve.seconds, g)
                    if isinstance(lr, schedules.HoldThenLinearDecay):
                        lr.set_total_steps(total)
                    log(f"epochs auto: {per_step:.3f} s per step measured; {total:,} steps planned "
                        f"({total / steps:.2f} epochs of {steps:,} steps)")
                live.update(g, total if total < 10 ** 9 else None, prefix=f"epoch {epoch + 1}/{epochs_label}",
                            **{k[:-5]: values[k] for k in LOSS_KEYS[:4]})
                if progress is not None:
                    progress({"epoch": epoch + 1, "step": g - epoch * steps, "steps": last_step, "global_step": g,
                              "total_steps": total if total < 10 ** 9 else None, "losses": values,
                              "seconds_per_step": step_times[-1]})
                if g >= total:
                    break
            bar.close()
            train_seconds += time.time() - t_epoch
            if state["global"] % steps == 0 or state["global"] >= total:
                _end_of_epoch(m, out, history, samples, state["global"], steps, t_epoch, log)
                checkpoint()
    except _Stop:
        bar.close()
        train_seconds += time.time() - t_epoch
        left = max(0.0, deadline - time.time()) / 60
        stopped_early = (f"stopped early by the time budget after {state['global'] - done:,} step(s) of this "
                         f"session ({state['global']:,} in all, epoch {state['global'] // steps + 1} at step "
                         f"{state['global'] % steps}): {left:.1f} min were left and the stages after training need "
                         f"about {reserve.seconds / 60:.1f} min. Run the same command again (with more time) to train "
                         "on from the checkpoint.")
        if state["global"] > done:
            _write_history(out / "history.csv", history)
            checkpoint(stopped_early)
        log("STOPPED EARLY: " + stopped_early)

    choice = _choose_checkpoint(run_dir, out, cfg, lr, options, photos if from_files else [], reserve, scorer, log)
    if choice is None or choice["chosen"] is None:
        generator = packaged_generator(m)
        with files.atomic_path(out / "generator.keras", ".keras") as tmp:
            generator.save(str(tmp))
    files.write_json(out / "generator.json", {"factory": "monet.networks.generator", "args": m.args["generator"],
                                              "ema": cfg["ema"]})
    trained_now = state["global"] - done
    planned_total = total if total < 10 ** 9 else None
    summary = {
        "epochs": cfg["epochs"], "epochs_completed": state["global"] // steps,
        "global_steps": state["global"], "planned_steps": planned_total,
        "undertrained": bool(planned_total and state["global"] < planned_total),
        "epochs_trained_now": trained_now / steps, "resumed_from": resumed_from, "stopped_early": stopped_early,
        "steps_per_epoch": steps, "batch_size": batch, "global_batch_size": batch,
        "strategy": distribute.describe(strategy), "replicas": replicas, "mixed_precision": policy or "off",
        "photos": len(photos), "paintings": len(monets), "generator_kind": m.args["generator"]["kind"],
        "receptive_field": m.receptive_field, "generator_parameters": m.gen_g.count_params(),
        "levers": {k: cfg[k] for k in ("augment_photo", "augment_monet", "diffaugment", "label_smoothing",
                                       "pool_size", "lr_schedule", "decay_from", "ema")},
        "reserve_seconds": round(reserve.seconds, 1) if reserve else None,
        "seconds_per_step": round(float(np.median(step_times[1:] or step_times)), 4) if step_times else None,
        "train_seconds": round(train_seconds, 2), "seconds": round(time.time() - t_start, 2),
        "images_per_second": round(trained_now * batch / train_seconds, 3) if train_seconds else None,
        "final_losses": {k: history[-1][k] for k in LOSS_KEYS} if history else None,
        "generator": str(out / "generator.keras"), "model_args": m.args,
    }
    if choice is not None:
        best = choice["chosen"]
        summary.update(chosen_checkpoint=best and best["checkpoint"], chosen_mifid=best and best["mifid"],
                       checkpoint_scores=choice["rows"], scores_skipped=choice["skipped"], selection=choice["note"],
                       scoring_network=choice["network"])
    if summary["undertrained"]:
        summary["warning"] = (f"the packaged generator trained {state['global']:,} of {planned_total:,} planned "
                              "steps")
        log("WARNING: " + summary["warning"])
    files.write_json(out / "summary.json", summary)
    return summary


def _choose_checkpoint(run_dir: Path, out: Path, cfg: dict, lr, options: dict, photo_paths: list[str], reserve,
                       scorer, log) -> dict | None:
    """With ``score_checkpoints``: score the last checkpoints and save the best generator (see
    :mod:`monet.selection`); None when off."""
    from . import inception, selection

    if not cfg["score_checkpoints"]:
        return None
    network = inception.describe(cfg["score_weights"])
    found = [folder for _, folder in _checkpoints(out / "checkpoints")][-cfg["score_checkpoints"]:][::-1]
    if not photo_paths or not found:
        why = "training read TFRecords, not photo files" if not photo_paths else "no checkpoint was written"
        return {"chosen": None, "rows": [], "skipped": [], "note": f"checkpoints not scored: {why}",
                "network": network}
    candidates = [(json.loads((f / "checkpoint.json").read_text()), f) for f in found]
    if scorer is None:
        scorer = selection.feature_scorer(run_dir, sorted(photo_paths)[:cfg["score_photos"]], cfg["score_weights"],
                                          log=log)

    def load_generator(folder):
        return packaged_generator(load_checkpoint(folder, lr, cfg["beta_1"], **options)[0])

    log(f"Scoring the last {len(candidates)} checkpoint(s) with {network}")
    result = selection.score_checkpoints(candidates, load_generator, scorer, out, network, budget.seconds_left,
                                         reserve.seconds if reserve else 0.0, log)
    return {**result, "network": network}


def _reserve(run_dir: Path, m: CycleGAN, photo_paths: list[str], n_photos: int, cfg: dict, log) -> budget.Reserve:
    """Time kept for the stages after training: packaging measured on real photos (the generator's current
    weights), plus evaluation when the run has that stage."""
    if photo_paths:
        reserve = budget.measure_packaging(m.gen_g, photo_paths)
        reserve.photos = n_photos
    else:  # TFRecords: no files to time the packaging path on; time the generator alone
        reserve = budget.Reserve(budget.KERNEL_OVERHEAD_S + 60.0, 0.05, n_photos, "estimated (TFRecords)")
    if cfg["score_checkpoints"]:  # each: load, translate and score score_photos photos
        n = cfg["score_checkpoints"]
        reserve.fixed += n * (15.0 + 2 * reserve.per_image * cfg["score_photos"])
        reserve.how += f", {n} checkpoint(s) to score"
    if "evaluate" in _later_stages(run_dir):
        reserve.fixed += budget.KERNEL_OVERHEAD_S + 60.0  # InceptionV3 load and trace
        reserve.per_image *= 2  # features of every image: about one more generator pass
        reserve.how += ", x2 per image for evaluate"
    return reserve


def _end_of_epoch(m: CycleGAN, out: Path, history: list[dict], samples, global_step: int, steps: int, t_epoch,
                  log) -> None:
    """History, loss curves, a sample grid and a log line after each epoch (or the planned end)."""
    epoch = -(-global_step // steps)
    rows = [h for h in history if h["epoch"] == epoch]
    if rows:
        means = {k: float(np.mean([h[k] for h in rows])) for k in LOSS_KEYS}
        log(f"epoch {epoch}: " + ", ".join(f"{k} {v:.4f}" for k, v in means.items())
            + f" ({time.time() - t_epoch:.1f} s)")
    _write_history(out / "history.csv", history)
    plots.loss_curves(history, LOSS_KEYS[:4] + ["cycle_loss"], out / "losses.png")
    fakes = plots.to_uint8(packaged_generator(m)(samples, training=False))
    plots.image_grid([list(plots.to_uint8(samples)), list(fakes)], out / "samples" / f"epoch_{epoch:02d}.png",
                     row_titles=["photo X", "G(X)"], title=f"epoch {epoch}")
