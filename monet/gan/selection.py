"""Choosing the generator to submit: score epoch checkpoints by local MiFID, package the best.

The last epoch is not always the best one, and seed-to-seed spread on the leaderboard is about +-3 MiFID, so with
``cyclegan.score_checkpoints: N`` training ends by translating ``score_photos`` photos with each of the last N
checkpoints' generators (N spread over the run with ``spread_checkpoints``; the averaged one when ``ema`` is on),
scoring them as packaged (the package's filters, then JPEG: :func:`as_packaged`) against the run's paintings with
``score_weights`` (Kaggle's ``classify_image_graph_def.pb`` for Kaggle's scale), and saving the lowest-MiFID one as
``cyclegan/generator.keras``. Every score goes to
``cyclegan/checkpoint_scores.csv`` and ``checkpoint_scores.png``. Newest first: when the time budget runs short the
rest is skipped, and said.

Without Kaggle's network at hand, ``score_by: kid`` or ``c2st`` ranks them by the judge that needs no downloaded
weights (:mod:`monet.scoring.judge`: KID on random CNN features, or C2ST accuracy) on the same translated photos;
the MiFID of ``score_weights``' network is recorded beside them either way.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from monet.core import files, plots
from monet.scoring import inception, judge, metrics

__all__ = ["SCORE_FIELDS", "RANKS", "pick", "restart_checkpoint", "find_restart", "as_packaged", "feature_scorer",
           "score_checkpoints"]

SCORE_FIELDS = ["checkpoint", "epoch", "global_step", "fid", "memorization_distance", "mifid", "kid", "c2st_accuracy",
                "too_close", "seconds"]
RANKS = {"mifid": "mifid", "kid": "kid", "c2st": "c2st_accuracy"}  # score_by -> the column ranked (lowest best)


def pick(rows: list[dict], by: str = "mifid") -> dict:
    """The row with the lowest figure of ``by`` (mifid, kid or c2st; the later checkpoint on a tie). By kid or c2st,
    a checkpoint whose images sit closer than MiFID's epsilon to the paintings on Kaggle's network (``too_close``:
    it copies them, which MiFID punishes and the judge would reward) ranks after every one that does not."""
    return min(rows, key=lambda r: (by != "mifid" and bool(r.get("too_close")), r[RANKS[by]], -r["global_step"]))


def restart_checkpoint(path: Path, cfg: dict | None = None) -> tuple[Path, str]:
    """The checkpoint ``cyclegan.restart_from`` names, and why: a checkpoint folder itself, or a run folder's best
    (the checkpoint its scoring packaged). A clear error otherwise, also when the checkpoint was trained as another
    model, or with other NCE settings, than the run's ``cfg`` (the cyclegan section) asks for."""
    folder, why = find_restart(path)
    if cfg is not None:
        import json

        from monet.models.architecture import model_args

        saved, wanted = json.loads((folder / "checkpoint.json").read_text())["model_args"], model_args(cfg)
        for key in ("model", "nce"):
            if saved.get(key, "cyclegan" if key == "model" else None) != wanted.get(key, "cyclegan" if key ==
                                                                                     "model" else None):
                raise ValueError(f"cyclegan.restart_from {path}: its checkpoint was trained with {key} "
                                 f"{saved.get(key, 'cyclegan')!r}, this run asks for {wanted.get(key)!r}; set "
                                 f"cyclegan.{'model' if key == 'model' else 'lambda_nce/nce_idt/nce_layers'} to match")
    return folder, why


def find_restart(path: Path) -> tuple[Path, str]:
    """The checkpoint folder of :func:`restart_checkpoint`, and why it is that one."""
    import json

    key = "cyclegan.restart_from"
    if (path / "checkpoint.json").is_file():
        return path, "the checkpoint given"
    summary = path / "cyclegan" / "summary.json"
    if not summary.is_file():
        raise FileNotFoundError(f"{key} {path}: neither a checkpoint folder (checkpoint.json) nor a run folder with "
                                "cyclegan/summary.json")
    chosen = json.loads(summary.read_text()).get("chosen_checkpoint")
    if not chosen:
        raise ValueError(f"{key} {path}: that run scored no checkpoint (cyclegan.score_checkpoints was 0 or nothing "
                         f"could be scored), so it has no best; give a checkpoint folder under "
                         f"{path / 'cyclegan' / 'checkpoints'} instead")
    folder = path / "cyclegan" / "checkpoints" / chosen
    if not (folder / "checkpoint.json").is_file():
        raise FileNotFoundError(f"{key} {path}: its best checkpoint {folder} is gone (keep_checkpoints pruned it?)")
    return folder, f"the best of {path.name}'s scored checkpoints"


def as_packaged(run_dir: Path):
    """What the package stage makes of a translated image as this run sets it (run.json's ``package``): its
    filters, then JPEG at its quality (:class:`monet.package.postprocess.AsPackaged`). Checkpoints are ranked on
    the images that would be submitted."""
    from monet.core.runs import package_params
    from monet.package import stage
    from monet.package.postprocess import AsPackaged

    pkg = package_params(run_dir)
    return AsPackaged(stage.filters(run_dir, pkg), pkg["jpeg_quality"])


def feature_scorer(run_dir: Path, photo_paths: list[str], weights: str, epsilon: float = 0.1, batch_size: int = 32,
                   log=print, score_by: str = "mifid", judge_seed: int = 0, post=None):
    """A scorer ``(generator, checkpoint folder) -> {fid, memorization_distance, mifid[, kid, c2st_accuracy]}``:
    the photos translated in memory (then through ``post``, e.g. :func:`as_packaged`, when given), their
    features against the run's (competition) paintings' (cached beside the run folders); with ``score_by`` kid or
    c2st, that judge's figure too."""
    import tensorflow as tf

    from monet.data import fetch, tfdata
    from monet.package.postprocess import AsPackaged
    from monet.package.translator import translator

    net = inception.network(weights)
    paintings = [r["path"] for r in fetch.read_manifest(run_dir, extra=False)["monet"]]
    real, _ = metrics.cached_features(lambda: net, paintings, lambda p: Path(p).read_bytes(), weights,
                                      run_dir.parent / ".feature-cache", batch_size, log)
    real_small = judge.load_images(paintings, judge.C2ST_SIZE) if score_by != "mifid" else None

    def score(generator, _folder) -> dict:
        translate = translator(generator)
        images = [translate(x) for x in tfdata.photo_batches(photo_paths, batch_size)]
        if post:
            images = [tf.constant(np.stack([post(im) for im in x.numpy()])) for x in images]
        feats = np.concatenate([net.features(tf.cast(x, tf.float32)) for x in images])
        out = {**metrics.score_features(real, feats, epsilon), "network_kind": net.kind}
        if real_small is not None:  # judged as submitted: JPEG-encoded (once), like the paintings it is held against
            generated = np.concatenate([x.numpy() for x in images])[:judge.MAX_IMAGES]
            generated = judge.as_submitted(generated, quality=None if isinstance(post, AsPackaged) else 95)
            out.update(judge.judge_arrays(real_small, generated, judge_seed, c2st=score_by == "c2st"))
        return out

    return score


def score_checkpoints(candidates: list[tuple[dict, Path]], load_generator, scorer, out: Path, network: str,
                      seconds_left=lambda: None, reserve_seconds: float = 0.0, log=print, by: str = "mifid") -> dict:
    """Score ``candidates`` ((checkpoint meta, folder), newest first) with ``scorer`` and save the best generator
    as ``out/generator.keras``; skip what the time budget would not fit. Returns {chosen, rows, skipped, note}."""
    rows, skipped, per = [], [], None
    for meta, folder in candidates:
        left = seconds_left()
        if left is not None and per is not None and left - per < reserve_seconds:
            skipped.append(folder.name)
            continue
        t0 = time.perf_counter()
        figures = scorer(load_generator(folder), folder)
        rows.append({"checkpoint": folder.name, "epoch": meta["epoch"], "global_step": meta["global_step"],
                     **{k: float(figures[k]) for k in ("fid", "memorization_distance", "mifid")},
                     **{k: float(figures[k]) if k in figures else None for k in ("kid", "c2st_accuracy")},
                     # the threshold means something on Kaggle's network only (a random one puts everything close)
                     "too_close": figures.get("network_kind", "kaggle") == "kaggle"
                     and figures.get("memorization_distance_thresholded", 1.0) < 1.0,
                     "seconds": round(time.perf_counter() - t0, 2)})
        per = rows[-1]["seconds"] if per is None else max(per, rows[-1]["seconds"])
        judged = "".join(f", {k} {rows[-1][k]:.4f}" for k in ("kid", "c2st_accuracy") if rows[-1][k] is not None)
        log(f"checkpoint {folder.name}: MiFID {rows[-1]['mifid']:.3f} (FID {rows[-1]['fid']:.3f}{judged})")
    if not rows:
        return {"chosen": None, "rows": [], "skipped": skipped, "note": "no checkpoint could be scored in time"}
    best = pick(rows, by)
    generator = load_generator(out / "checkpoints" / best["checkpoint"])
    with files.atomic_path(out / "generator.keras", ".keras") as tmp:
        generator.save(str(tmp))
    rows.sort(key=lambda r: r["global_step"])
    files.write_csv(out / "checkpoint_scores.csv", rows, SCORE_FIELDS)
    plots.checkpoint_scores(rows, best["checkpoint"], out / "checkpoint_scores.png",
                            network if by == "mifid" else judge.describe(), RANKS[by])
    note = (f"packaged {best['checkpoint']}: the lowest {RANKS[by]} ({best[RANKS[by]]:.4f}) of {len(rows)} scored "
            f"checkpoint(s)" + (f"; {len(skipped)} skipped for the time budget" if skipped else ""))
    log(note)
    return {"chosen": best, "rows": rows, "skipped": skipped, "note": note}
