"""Each lever alone, and the CPU recipe with its curve, on Kaggle's network (the quality proof's second part).

    python scripts/levers_proof.py --work /tmp/quality --minutes 15 crop128 no_diffaugment   # levers, one each
    python scripts/levers_proof.py --work /tmp/quality cpu          # params/cpu.yaml as a user runs it, 60 min
    python scripts/levers_proof.py --work /tmp/quality cpu_lambda10  # cpu.yaml as it was before (CPU_RUNS)
    python scripts/levers_proof.py --work /tmp/quality cpu120        # cpu.yaml with a 120-minute budget
    python scripts/levers_proof.py --work /tmp/quality --curve cpu  # its checkpoints at 15, 30, 45 min and its last
    python scripts/levers_proof.py --work /tmp/quality --filters cpu  # its packaged generator through the filters
    python scripts/levers_proof.py --work /tmp/quality --write-docs # the tables into docs/quality.md

Same data, split and probe as ``scripts/quality_proof.py`` (500 photos against the 100 held-out paintings, the
sizes of its SIZES). A lever run is the leaderboard recipe (or, for the ``cpu_*`` levers, the earlier cpu.yaml:
CPU_BEFORE; for the ``cut_*`` levers, cut_kaggle.yaml) with one setting changed; its packaged generator's
translations are written as images.zip writes them (JPEG q75) and scored on Kaggle's network. The CPU runs
(CPU_RUNS: ``cpu`` and ``cpu_filtered``, ``params/cpu.yaml`` unchanged when they ran, and its variants) take their
own sizes and the whole chain (their images.zip is checked, and scored as it is: after the package's filters, if
any, and without them), with every checkpoint kept for the curve.
Results go to ``WORK/levers.json``; a name already there is not run again.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import zipfile
from datetime import datetime
from pathlib import Path

import numpy as np
import quality_proof as qp

REPO = qp.REPO
CPU_BEFORE = ["cyclegan.lambda_cycle=10", "cyclegan.ema=0", "cyclegan.score_checkpoints=0"]  # cpu.yaml until 2026-12-03
BASE = ("leaderboard.yaml", ["cyclegan.batch_size=1"])
# name: (params file, --set items after the proof's sizes, lever, setting)
LEVERS = {
    "leaderboard": (*BASE, "none (the leaderboard recipe at the proof's sizes)", "-"),
    "seed1": (BASE[0], BASE[1] + ["seed=1"], "training seed", "1 (the base: 42)"),
    "crop128": (BASE[0], BASE[1] + ["cyclegan.train_size=128", "cyclegan.unet_depth=6"],
                "train_size (with U-Net depth 6: 2x2 innermost on a crop)", "128 (base: 256, depth 8)"),
    "identity": (BASE[0], BASE[1] + ["cyclegan.identity_start=true"], "identity_start", "on (base: off)"),
    "no_diffaugment": (BASE[0], BASE[1] + ["cyclegan.diffaugment=[]"], "DiffAugment", "off (base: color, "
                       "translation, cutout)"),
    "no_smoothing": (BASE[0], BASE[1] + ["cyclegan.label_smoothing=0"], "label smoothing", "0 (base: 0.3)"),
    "pool50": (BASE[0], BASE[1] + ["cyclegan.pool_size=50"], "image pool", "50 (base: 0)"),
    "ema": (BASE[0], BASE[1] + ["cyclegan.ema=0.999"], "EMA of gen_g", "0.999 (base: off)"),
    "constant_lr": (BASE[0], BASE[1] + ["cyclegan.lr_schedule=constant"], "schedule", "constant (base: decay "
                    "from 0.6)"),
    "resnet": (BASE[0], BASE[1] + ["cyclegan.generator=resnet"], "generator", "ResNet, 4 blocks (base: U-Net)"),
    # cpu.yaml as it was before (CPU_BEFORE) at the proof's sizes with one change: compare with cpu_lambda10's
    # 15.7-minute checkpoint.
    "cpu_no_identity_loss": ("cpu.yaml", CPU_BEFORE + ["cyclegan.lambda_identity=0"],
                             "identity loss, on the earlier cpu.yaml", "0 (base: 0.5)"),
    "cpu_cycle3": ("cpu.yaml", CPU_BEFORE + ["cyclegan.lambda_cycle=3"], "lambda_cycle, on the earlier cpu.yaml",
                   "3 (base: 10)"),
    "cut_unet": ("cut_kaggle.yaml", ["cyclegan.batch_size=1", "cyclegan.generator=unet"], "CUT generator",
                 "U-Net (cut_kaggle's until 2026-12-04)"),
    "cut_resnet": ("cut_kaggle.yaml", ["cyclegan.batch_size=1", "cyclegan.generator=resnet"], "CUT generator",
                   "ResNet, 4 blocks (the paper's kind; cut_kaggle's since)"),
}
CPU = ("cpu.yaml", ["cyclegan.keep_checkpoints=0"])  # every checkpoint kept, for the curve
# The CPU runs, each the whole chain for cpu.yaml's hour (cpu120: two hours): name: (--set items after CPU's, label in the curve table)
CPU_RUNS = {"cpu": ([], "cpu.yaml (lambda_cycle 1, EMA, the best of 10 checkpoints)"),
            "cpu_lambda10": (CPU_BEFORE,
                             "cpu.yaml before: lambda_cycle 10, no EMA, its last checkpoint"),
            "cpu_lambda1": (["cyclegan.ema=0", "cyclegan.score_checkpoints=0"],
                            "cpu.yaml without EMA, its last checkpoint"),
            "cpu120": (["time_budget_minutes=120"], "cpu.yaml with a 120-minute budget"),
            "cpu_d32": (["cyclegan.disc_filters=32", "cyclegan.spread_checkpoints=true"],
                        "cpu.yaml with discriminators of 32 filters (64 before), checkpoints spread over the run"),
            "cpu_decay03": (["cyclegan.decay_from=0.3", "cyclegan.spread_checkpoints=true"],
                            "cpu.yaml with the decay from 0.3 and spread checkpoints"),
            "cpu_filtered": ([], "cpu.yaml as shipped 2026-12-04 afternoon (images.zip through the mode filter and "
                                 "histogram matching)"),
            "cpu_grain": ([], "cpu.yaml as shipped 2026-12-04 evening to 2026-12-05 (grain after the two filters, "
                              "checkpoints ranked as packaged)"),
            # cpu_seed1 ran with the filters of 2026-12-04 evening (RGB histograms, grain on each channel)
            "cpu_seed1": (["seed=1"], "cpu.yaml as shipped, training seed 1 (cpu_grain: 42)"),
            "cpu30": (["time_budget_minutes=30"], "cpu.yaml as shipped with a 30-minute budget"),
            "cpu30_seed1": (["time_budget_minutes=30", "seed=1"],
                            "cpu.yaml as shipped with a 30-minute budget, training seed 1"),
            "cpu30_seed2": (["time_budget_minutes=30", "seed=2"],
                            "cpu.yaml as shipped with a 30-minute budget, training seed 2"),
            "cpu_lr1e4": (["cyclegan.learning_rate=1e-4"],
                          "cpu.yaml with the learning rate 1e-4 (2e-4 before)"),
            "cpu120_shipped": (["time_budget_minutes=120"], "cpu.yaml as shipped with a 120-minute budget"),
            "cpu_g32": (["cyclegan.gen_filters=32"], "cpu.yaml with generators of 32 filters (16 before)"),
            "cpu_g32_seed1": (["cyclegan.gen_filters=32", "seed=1"],
                              "cpu.yaml with generators of 32 filters, training seed 1"),
            "cpu_hsv": ([], "cpu.yaml as shipped since 2026-12-05 (hue, saturation and value matched, grey "
                            "grain)"),
            "cpu_hsv_seed1": (["seed=1"], "cpu.yaml as shipped since 2026-12-05, training seed 1 (cpu_hsv: 42)")}
CURVE_MINUTES = (15, 30, 45, 60, 90, 120)  # those a run reached (the curve adds its last checkpoint)
EARLIER = ("leaderboard", "identity")  # trained by scripts/quality_proof.py: rescored at q75 there, not retrained


def pipeline(name: str, params: str, sets: list[str], work: Path, data_root: Path, minutes: int | None,
             stages: str | None) -> dict:
    """``pipeline.py`` for one run; returns its cyclegan summary."""
    cmd = [sys.executable, str(REPO / "pipeline.py"), "--params", str(REPO / "params" / params),
           "--outputs", str(work / "outputs"), "--run-name", name, "--set", f"data_dir={data_root}"]
    for item in ([f"stages={stages}"] if stages else []) + ([f"time_budget_minutes={minutes}"] if minutes else []) \
            + sets:
        cmd += ["--set", item]
    log = work / f"{name}.log"
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {' '.join(cmd[1:])}", flush=True)
    with open(log, "w") as fh:
        rc = subprocess.call(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=fh,
                             stderr=subprocess.STDOUT)
    summary = work / "outputs" / name / "cyclegan" / "summary.json"
    if rc != 0 or not summary.is_file():
        raise RuntimeError(f"{name}: the pipeline exited {rc}; see {log}")
    return json.loads(summary.read_text())


def scored(work: Path, name: str, held, probe) -> dict:
    """Kaggle's network's figures of the run's packaged generator, its translations as JPEG q75."""
    return qp.on_kaggle(held, qp.as_jpeg(qp.translated(qp.packaged(work, name), probe), 75))


def zip_images(run_dir: Path, probe: list[Path]) -> np.ndarray:
    """The probe photos' images as the run's images.zip holds them (after the package's filters, if any)."""
    from monet.scoring import metrics

    with zipfile.ZipFile(run_dir / "images.zip") as zf:
        return np.stack([metrics.decoded(zf.read(f"{p.stem}.jpg")) for p in probe])


def save(work: Path, name: str, key: str | None, value) -> None:
    """levers.json with run NAME's entry (``key`` None) or one field of it set to ``value``, read again just before
    writing: a --filters or --curve of another run may have written it meanwhile."""
    path = work / "levers.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    if key is None:
        results[name] = value
    else:
        results[name][key] = value
    path.write_text(json.dumps(results, indent=1))


# way: (mode filter size, colour matching, grain sd, grey grain)
FILTERS = {"none": (0, "off", 0, False), "mode_filter": (5, "off", 0, False), "mean_sd": (0, "mean_sd", 0, False),
           "histogram": (0, "histogram", 0, False), "mode_filter+mean_sd": (5, "mean_sd", 0, False),
           "mode_filter+histogram": (5, "histogram", 0, False), "grain": (0, "off", 6.0, False),
           "mode_filter+histogram+grain": (5, "histogram", 6.0, False),
           "mode_filter+histogram+grey_grain": (5, "histogram", 6.0, True),
           "mode_filter+hsv_histogram": (5, "hsv_histogram", 0, False),
           "mode_filter+hsv_histogram+grain": (5, "hsv_histogram", 6.0, False),
           "mode_filter+hsv_histogram+grey_grain": (5, "hsv_histogram", 6.0, True)}


def filters(work: Path, data: Path, name: str) -> None:
    """The run's packaged generator's translations through each combination of the package's filters (FILTERS:
    the 5x5 mode filter, colour matching to the training paintings by mean and sd or by histograms of RGB or HSV,
    grain of sd 6 on each channel or grey), as JPEG q75, on Kaggle's network; combinations measured before are
    kept."""
    from monet.package import postprocess

    path = work / "levers.json"
    results = json.loads(path.read_text())
    train, held, photos = qp.split(data)
    images = qp.translated(qp.packaged(work, name), qp.judge_photos(photos))
    target = postprocess.palette(qp.load_images(train))
    out = results[name].get("filters", {})
    for way, (size, how, sd, grey) in FILTERS.items():
        if way in out:
            continue
        post = postprocess.Postprocess(size, how, target, sd, grey)
        out[way] = qp.on_kaggle(held, qp.as_jpeg(np.stack([post(im) for im in images]), 75))
        print(f"{name} filters {way}: FID {out[way]['fid']:.2f} KID {out[way]['kid']:.4f}", flush=True)
        save(work, name, "filters", out)


def run(names: list[str], work: Path, data: Path, minutes: int) -> None:
    path = work / "levers.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    train, held, photos = qp.split(data)
    data_root = qp.training_folder(work, train, photos)
    probe = qp.judge_photos(photos)
    unknown = [n for n in names if n not in CPU_RUNS and n not in LEVERS]
    if unknown:
        raise SystemExit(f"unknown run(s) {', '.join(unknown)}: expected one of {', '.join([*CPU_RUNS, *LEVERS])}")
    for name in names:
        if name in results:
            print(f"{name}: already in {path}", flush=True)
            continue
        if name in EARLIER and "kaggle_q75" in json.loads((work / "results.json").read_text()).get(name, {}):
            results[name] = earlier(work, name)
            save(work, name, None, results[name])
            continue
        if name in CPU_RUNS:  # scored as its images.zip holds them, and its generator's images unfiltered
            summary = pipeline(name, CPU[0], CPU[1] + CPU_RUNS[name][0], work, data_root, None, None)
            entry = {"zip": check_zip(work / "outputs" / name, len(photos)),
                     "kaggle": qp.on_kaggle(held, zip_images(work / "outputs" / name, probe)),
                     "kaggle_unfiltered": scored(work, name, held, probe)}
        else:
            params, sets, _, _ = LEVERS[name]
            summary = pipeline(name, params, qp.SIZES + sets, work, data_root, minutes, "[fetch, cyclegan_train]")
            entry = {"kaggle": scored(work, name, held, probe)}
        entry.update(steps=summary.get("global_steps"),
                     train_seconds=summary.get("train_seconds"), seconds_per_step=summary.get("seconds_per_step"),
                     finished=time.strftime("%Y-%m-%d %H:%M"))
        results[name] = entry
        save(work, name, None, entry)
        k = entry["kaggle"]
        print(f"[{time.strftime('%H:%M:%S')}] {name}: FID {k['fid']:.2f} KID {k['kid']:.4f} MiFID {k['mifid']:.2f} "
              f"({entry['steps']} steps)", flush=True)


def earlier(work: Path, name: str) -> dict:
    """A recipe run of ``scripts/quality_proof.py`` (same sizes, probe and paintings), its q75 figures."""
    e = json.loads((work / "results.json").read_text())[name]
    return {"kaggle": e["kaggle_q75"], "steps": e["steps"], "train_seconds": e["train_seconds"],
            "seconds_per_step": e["summary"]["seconds_per_step"], "source": "results.json (quality_proof.py)"}


def check_zip(run_dir: Path, photos: int) -> dict:
    """The run's images.zip checked as Kaggle would take it (count, size, format): one image per photo; and when
    it was written."""
    from monet.package import images_zip

    zip_path = run_dir / "images.zip"
    report = images_zip.validate_zip(zip_path)  # raises SubmissionError naming what is wrong
    if report["count"] != photos:
        raise RuntimeError(f"{zip_path}: {report['count']} images, expected one per photo ({photos})")
    created = datetime.fromisoformat(json.loads((run_dir / "run.json").read_text())["created"])
    return {"images": report["count"], "valid": True, "bytes": report["bytes"],
            "minutes_after_start": round((zip_path.stat().st_mtime - created.timestamp()) / 60, 1)}


def curve(work: Path, data: Path, name: str) -> None:
    """Kaggle's network's FID of the run's checkpoints nearest each of CURVE_MINUTES after the run started, and of
    its last one (which checkpoint selection may not have packaged). A run whose images.zip holds filters has its
    checkpoints scored as packaged (its filters, then JPEG at its quality), others as the generator's own images
    (JPEG q75); points scored before are kept."""
    import keras

    from monet.gan import cyclegan, selection

    path = work / "levers.json"
    results = json.loads(path.read_text())
    train, held, photos = qp.split(data)
    probe = qp.judge_photos(photos)
    run_dir = work / "outputs" / name
    record = json.loads((run_dir / "run.json").read_text())
    created, cfg = datetime.fromisoformat(record["created"]).timestamp(), record["params"]["cyclegan"]
    packaged = selection.as_packaged(run_dir)
    way, quality = ("as packaged", packaged.quality) if packaged.post else ("raw", 75)
    points = []
    for step, folder in cyclegan.list_checkpoints(run_dir / "cyclegan" / "checkpoints"):
        points.append((((folder / "checkpoint.json").stat().st_mtime - created) / 60, step, folder))
    near = [min(points, key=lambda p: abs(p[0] - target)) for target in CURVE_MINUTES]
    chosen = [p for p, target in zip(near, CURVE_MINUTES) if abs(p[0] - target) <= 5] + [points[-1]]  # and the last
    done = {(c["checkpoint"], c.get("way", "raw")): c for c in results[name].get("curve", [])}  # scored before
    for minutes, step, folder in sorted(set(chosen), key=lambda p: p[1]):
        if (folder.name, way) not in done:
            images = qp.translated(checkpoint_generator(folder, cfg), probe)
            images = np.stack([packaged.post(im) for im in images]) if packaged.post else images
            done[folder.name, way] = {"minutes": round(minutes, 1), "step": step, "checkpoint": folder.name,
                                      "way": way, "kaggle": qp.on_kaggle(held, qp.as_jpeg(images, quality))}
            keras.backend.clear_session()
        k = done[folder.name, way]["kaggle"]
        print(f"{name} at {minutes:.1f} min (step {step}), {way}: FID {k['fid']:.2f} KID {k['kid']:.4f}", flush=True)
    save(work, name, "curve", sorted(done.values(), key=lambda c: (c["step"], c.get("way", "raw"))))


def reselect(work: Path, data: Path, name: str) -> None:
    """What each selection would have packaged for run NAME, which kept every checkpoint: cpu.yaml's
    ``score_checkpoints`` of them, the last ones or those ``spread_checkpoints`` keeps, each scored as the pipeline
    scores them (local MiFID against the training paintings): on the generator's raw output, as before
    2026-12-04, through the filters alone, and as packaged (the run's filters and JPEG quality), as since. Each
    choice held out on Kaggle's network as the run packages it (with its filters). Results of an earlier call are
    kept beside."""
    import keras

    from monet.core import params, weights
    from monet.data import fetch
    from monet.gan import cyclegan, selection

    path = work / "levers.json"
    results = json.loads(path.read_text())
    _, held, photos = qp.split(data)
    run_dir = work / "outputs" / name
    cfg, packaged = json.loads((run_dir / "run.json").read_text())["params"]["cyclegan"], selection.as_packaged(run_dir)
    if cfg.get("score_by", "mifid") != "mifid":
        raise SystemExit(f"{name}: --reselect replays ranking by local MiFID; this run has score_by {cfg['score_by']}")
    found = cyclegan.list_checkpoints(run_dir / "cyclegan" / "checkpoints")
    n = params.load_params(REPO / "params" / "cpu.yaml")["cyclegan"]["score_checkpoints"]
    ways = {"last": found[-n:], "spread": cyclegan.spread_out(found, n)}
    ways["spread filtered"] = ways["spread as packaged"] = ways["spread"]
    run_photos = sorted(r["path"] for r in fetch.read_manifest(run_dir, extra=False)["photo"])[:cfg["score_photos"]]
    network = weights.resolve_scoring(cfg["score_weights"])
    scorers = {"": selection.feature_scorer(run_dir, run_photos, network),  # raw output, as before 2026-12-04
               " filtered": selection.feature_scorer(run_dir, run_photos, network, post=packaged.post),  # no JPEG
               " as packaged": selection.feature_scorer(run_dir, run_photos, network, post=packaged)}
    out = results[name].get("reselect", {})
    local = out.setdefault("local_mifid", {})
    for step, folder in sorted(set(ways["last"]) | set(ways["spread"])):
        generator = checkpoint_generator(folder, cfg)
        for tag, scorer in scorers.items():
            local[folder.name + tag] = float(scorer(generator, folder)["mifid"])
            print(f"{name} {folder.name} (step {step}): local MiFID{tag} {local[folder.name + tag]:.2f}", flush=True)
        keras.backend.clear_session()
    held_out = {}
    for way, kept in ways.items():
        tag = {"spread filtered": " filtered", "spread as packaged": " as packaged"}.get(way, "")
        step, folder = min(kept, key=lambda item: (local[item[1].name + tag], -item[0]))  # ties: the later, as pick()
        if folder.name not in held_out:
            images = qp.translated(checkpoint_generator(folder, cfg), qp.judge_photos(photos))
            filtered = np.stack([packaged.post(im) for im in images])
            held_out[folder.name] = qp.on_kaggle(held, qp.as_jpeg(filtered, packaged.quality))
        out[way] = {"checkpoint": folder.name, "step": step, "kaggle": held_out[folder.name]}
        print(f"{name}: {way} selection packages {folder.name}: FID {held_out[folder.name]['fid']:.2f}", flush=True)
    save(work, name, "reselect", out)


def checkpoint_generator(folder: Path, cfg: dict):
    """The generator a checkpoint would package: gen_g, or with ``ema`` its averaged weights (which live in the
    optimizer's state, not in gen_g.weights.h5)."""
    from monet.gan import cut, cyclegan
    from monet.models import networks

    if not cfg.get("ema"):
        meta = json.loads((folder / "checkpoint.json").read_text())
        gen = networks.generator(**meta["model_args"]["generator"])
        gen.load_weights(str(folder / "gen_g.weights.h5"))
        return gen
    size = cfg.get("train_size") or 256
    m, _ = cut.load_model_checkpoint(folder, cfg["learning_rate"], cfg["beta_1"], ema=cfg["ema"],
                                     pool_size=cfg["pool_size"], image_shape=(size, size, 3))
    return cyclegan.packaged_generator(m)


def table(work: Path) -> str:
    """The levers table in Markdown: lever, setting, FID, KID, MiFID, steps, seconds a step."""
    results = json.loads((work / "levers.json").read_text())
    rows = ["| run | lever | setting | FID | KID | MiFID | steps | s a step |", "|---|---|---|---|---|---|---|---|"]
    for name, (_, _, lever, setting) in LEVERS.items():
        if name in results:
            e, k = results[name], results[name]["kaggle"]
            rows.append(f"| {name} | {lever} | {setting} | {k['fid']:.1f} | {k['kid']:.4f} | {k['mifid']:.1f} | "
                        f"{e['steps']} | {e['seconds_per_step'] or 0:.2f} |")
    return "\n".join(rows)


def cpu_table(work: Path, photos_fid: float, matched_fid: float) -> str:
    """The CPU recipe's curves in Markdown: FID, KID, MiFID of each CPU run's checkpoints and packaged generator, each
    as a ratio of the untranslated and the colour-matched photos' FID (same 500 photos, same 100 paintings)."""
    results = json.loads((work / "levers.json").read_text())
    rows = ["| run | checkpoint | minutes after the run started | step | FID | KID | MiFID | / photos' FID | "
            "/ colour-matched |", "|---|---|---|---|---|---|---|---|---|"]
    for name, (_, label) in CPU_RUNS.items():
        if name not in results:
            continue
        e = results[name]
        filtered = e.get("kaggle_unfiltered", e["kaggle"]) != e["kaggle"]  # images.zip holds the filters' output
        how = {"raw": " (without the filters)" if filtered else "", "as packaged": " (as packaged)"}
        points = [(f"`{c['checkpoint']}`{how[c.get('way', 'raw')]}", c["minutes"], c["step"], c["kaggle"])
                  for c in e.get("curve", [])]
        chosen, step = packaged_checkpoint(work / "outputs" / name, e["steps"])
        points.append((f"the packaged generator (`images.zip`{chosen})", e["zip"]["minutes_after_start"], step,
                       e["kaggle"]))
        if filtered:
            points.append(("the packaged generator without the filters", "-", step, e["kaggle_unfiltered"]))
        for way, what in (("last", "the last 10's best"), ("spread", "the best of 10 spread over the run"),
                          ("spread filtered", "the best of the spread 10 ranked through the filters, no JPEG"),
                          ("spread as packaged", "the best of the spread 10 ranked as packaged")):
            if way in e.get("reselect", {}):  # offline (--reselect NAME): what each selection would have packaged
                c = e["reselect"][way]
                points.append((f"{what} (`{c['checkpoint']}`, offline)", "-", c["step"], c["kaggle"]))
        for point, minutes, step, k in points:
            rows.append(f"| {label} | {point} | {minutes} | {step} | {k['fid']:.1f} | {k['kid']:.4f} | "
                        f"{k['mifid']:.1f} | {k['fid'] / photos_fid:.3f} | {k['fid'] / matched_fid:.3f} |")
    return "\n".join(rows)


def filters_table(work: Path, photos_fid: float) -> str:
    """The package's filters (``--filters NAME``) on each run's packaged generator: FID, KID, MiFID, the ratio to the
    untranslated photos' FID."""
    results = json.loads((work / "levers.json").read_text())
    labels = {"none": "none", "mode_filter": "mode filter 5x5", "mean_sd": "colour match: mean_sd",
              "histogram": "colour match: histogram", "mode_filter+mean_sd": "mode filter 5x5, then mean_sd",
              "mode_filter+histogram": "mode filter 5x5, then histogram", "grain": "grain sd 6",
              "mode_filter+histogram+grain": "mode filter 5x5, then histogram, then grain sd 6 (cpu.yaml until "
                                             "2026-12-05)",
              "mode_filter+histogram+grey_grain": "mode filter 5x5, then histogram, then grey grain sd 6",
              "mode_filter+hsv_histogram": "mode filter 5x5, then hsv_histogram",
              "mode_filter+hsv_histogram+grain": "mode filter 5x5, then hsv_histogram, then grain sd 6",
              "mode_filter+hsv_histogram+grey_grain": "mode filter 5x5, then hsv_histogram, then grey grain sd 6 "
                                                      "(cpu.yaml)"}
    rows = ["| run | filters | FID | KID | MiFID | / photos' FID |", "|---|---|---|---|---|---|"]
    for name, e in results.items():
        for way, k in e.get("filters", {}).items():
            rows.append(f"| {name} | {labels[way]} | {k['fid']:.1f} | {k['kid']:.4f} | {k['mifid']:.1f} | "
                        f"{k['fid'] / photos_fid:.3f} |")
    return "\n".join(rows)


def packaged_checkpoint(run_dir: Path, steps: int) -> tuple[str, int]:
    """The table's note on the packaged generator (": `CHECKPOINT`, chosen by local MiFID", or "" when the run
    packaged its last weights) and its step (``steps``, the run's last, when nothing was chosen)."""
    summary = json.loads((run_dir / "cyclegan" / "summary.json").read_text())
    chosen = summary.get("chosen_checkpoint")
    if not chosen:
        return "", steps
    step = next(r["global_step"] for r in summary["checkpoint_scores"] if r["checkpoint"] == chosen)
    return f": `{chosen}`, chosen by local MiFID", step


def write_docs(work: Path) -> None:
    """The levers table and (once a CPU run is recorded) the CPU curves between their markers in docs/quality.md."""
    anchors = json.loads((work / "kaggle_anchors.json").read_text())
    photos, matched = anchors["photos_500"]["fid"], anchors["colour_matched_500"]["fid"]
    tables = {"levers table": table(work)}
    if set(CPU_RUNS) & set(json.loads((work / "levers.json").read_text())):
        tables["cpu curve"] = cpu_table(work, photos, matched)
        tables["filters table"] = filters_table(work, photos)
    doc = REPO / "docs" / "quality.md"
    text = doc.read_text()
    for mark, body in tables.items():
        begin, end = text.index(f"<!-- {mark}: begin -->") + len(f"<!-- {mark}: begin -->"), \
            text.index(f"<!-- {mark}: end -->")
        text = text[:begin] + "\n" + body + "\n" + text[end:]
    doc.write_text(text)
    print(f"{doc}: {', '.join(tables)} written")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help=f"{', '.join([*CPU_RUNS, *LEVERS])}")
    ap.add_argument("--work", type=Path, default=Path("/tmp/quality"))
    ap.add_argument("--data", type=Path, default=qp.DEFAULT_DATA)
    ap.add_argument("--minutes", type=int, default=15, help="time budget of each lever's run")
    ap.add_argument("--curve", metavar="NAME", help="score the checkpoints of run NAME nearest 15, 30, 45 ... minutes")
    ap.add_argument("--reselect", metavar="NAME", help="what the last-10 and the spread selections would have "
                    "packaged for run NAME (one that kept every checkpoint)")
    ap.add_argument("--filters", metavar="NAME", help="run NAME's packaged generator through each combination of "
                    "the package's filters (mode filter, colour match)")
    ap.add_argument("--table", action="store_true", help="print the levers table")
    ap.add_argument("--write-docs", action="store_true", help="write the tables into docs/quality.md")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.names:
        run(args.names, args.work, args.data, args.minutes)
    if args.curve:
        curve(args.work, args.data, args.curve)
    if args.reselect:
        reselect(args.work, args.data, args.reselect)
    if args.filters:
        filters(args.work, args.data, args.filters)
    if args.table:
        print(table(args.work))
        anchors = args.work / "kaggle_anchors.json"
        if anchors.is_file():
            print(filters_table(args.work, json.loads(anchors.read_text())["photos_500"]["fid"]))
        else:
            print(f"{anchors} not found: the filters table needs `quality_proof.py --anchors --kaggle` first")
    if args.write_docs:
        write_docs(args.work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
