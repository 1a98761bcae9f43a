"""The quality proof: train named recipes for the same wall time on real data, judge each, write docs/quality.md.

    python scripts/quality_proof.py --work /tmp/quality --minutes 15 calibrate untrained exp1 leaderboard
    python scripts/quality_proof.py --work /tmp/quality --rejudge --write-docs
    python scripts/quality_proof.py --work /tmp/quality --anchors --kaggle   # on Kaggle's network

Data: ``../shared/data/gan-getting-started-train/`` (250 of the competition's paintings, all 7,038 photos; read-only)
or ``--data``. The 250 paintings are split once, seeded: :data:`HELD_OUT` paintings are kept for the judge and
never trained on, the rest (with every photo) are the recipes' training data (symlinked into ``WORK/data``).

Each recipe is ``python pipeline.py --params params/<file> --set ...`` with stages fetch and cyclegan_train,
``epochs: auto`` and one ``time_budget_minutes`` for all (the planner fills it), at the sizes of
:data:`SIZES` (2 CPU cores: the recipes' full-size networks would take ~10 s a step). Then the same
:data:`JUDGE_PHOTOS` photos are translated by each recipe's packaged generator and judged against the held-out
paintings (:mod:`monet.scoring.judge`: C2ST and KID on random features), beside baselines: the photos themselves
(the ceiling), the training paintings (real against real: the floor) and the untrained generator. Results go to
``WORK/results.json`` (a recipe already there is not run again); ``--write-docs`` writes the table between the
markers of ``docs/quality.md`` and the grid (the same photos through every recipe) to ``WORK/grid.jpg``: made from
the competition's photos, it is not committed (the data's terms); copy it where you like.

``--src DIR`` runs the recipes from another checkout (a snapshot of the code, so that editing this one while a
recipe trains changes nothing).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "gan-getting-started-train"
HELD_OUT = 100  # paintings kept for the judge (fewer leave C2ST too little to learn from)
JUDGE_PHOTOS = 500  # photos translated by every recipe and judged
GRID_PHOTOS = 6
SEEDS = (0, 1, 2)  # judge seeds of every row (each seed: another classifier, folds and random network)
MARK_BEGIN, MARK_END = "<!-- quality table: begin -->", "<!-- quality table: end -->"

# Sizes that fit 2 CPU cores: generators at 16 filters (ResNet: 4 residual blocks), steps of 250 per epoch
# (a checkpoint and samples every 250 steps). Every recipe keeps its own levers.
SIZES = ["cyclegan.gen_filters=16", "cyclegan.gen_res_blocks=4", "cyclegan.steps_per_epoch=250",
         "cyclegan.keep_checkpoints=1", "cyclegan.score_checkpoints=0"]
RECIPES = {
    "exp1": ("exp1.yaml", [], "the report's recipe: ResNet, exp1's 8-filter PatchGAN (RF 32), lr 1e-4, constant"),
    "best": ("best.yaml", [], "the report's best: exp1's settings (it only trains longer)"),
    "leaderboard": ("leaderboard.yaml", ["cyclegan.batch_size=1"],
                    "the leaderboard levers: U-Net, jitter/flip/rot90, DiffAugment, label smoothing 0.3, BCE, "
                    "linear decay from 60%"),
    "identity": ("leaderboard.yaml", ["cyclegan.batch_size=1", "cyclegan.identity_start=true"],
                 "the leaderboard recipe with generators that start as the identity (identity_start)"),
    # cut and fastcut ran with the U-Net cut_kaggle.yaml had until 2026-12-04 (the ResNet since)
    "cut": ("cut_kaggle.yaml", ["cyclegan.batch_size=1", "cyclegan.generator=unet"],
            "CUT (the cut_kaggle recipe, its U-Net)"),
    "fastcut": ("cut_kaggle.yaml", ["cyclegan.batch_size=1", "cyclegan.generator=unet", "cyclegan.model=fastcut"],
                "FastCUT (the cut_kaggle recipe, its U-Net, with model fastcut)"),
}


def split(data: Path, seed: int = 0) -> tuple[list[Path], list[Path], list[Path]]:
    """(training paintings, held-out paintings, photos), the paintings split by a seeded permutation."""
    paintings = sorted((data / "monet_jpg").glob("*.jpg"))
    photos = sorted((data / "photo_jpg").glob("*.jpg"))
    order = np.random.default_rng(seed).permutation(len(paintings))
    held = [paintings[i] for i in sorted(order[:HELD_OUT])]
    train = [paintings[i] for i in sorted(order[HELD_OUT:])]
    return train, held, photos


def training_folder(work: Path, train: list[Path], photos: list[Path]) -> Path:
    """WORK/data with monet_jpg/ (the training paintings) and photo_jpg/ (every photo) as symlinks."""
    root = work / "data"
    for name, items in (("monet_jpg", train), ("photo_jpg", photos)):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for p in items:
            if not (folder / p.name).exists():
                (folder / p.name).symlink_to(p)
    return root


def judge_photos(photos: list[Path]) -> list[Path]:
    picked = np.random.default_rng(1).choice(len(photos), JUDGE_PHOTOS, replace=False)
    return [photos[i] for i in sorted(picked)]


def train_recipe(name: str, work: Path, data_root: Path, minutes: int, src: Path) -> dict:
    """Run the recipe's pipeline (fetch, train) for ``minutes``; returns its training summary."""
    params, extra, _ = RECIPES[name]
    cmd = [sys.executable, str(src / "pipeline.py"), "--params", str(src / "params" / params),
           "--outputs", str(work / "outputs"), "--run-name", name, "--set", f"data_dir={data_root}",
           "--set", "stages=[fetch, cyclegan_train]", "--set", f"time_budget_minutes={minutes}",
           "--set", "cyclegan.epochs=auto"]
    for item in SIZES + extra:
        cmd += ["--set", item]
    log = work / f"{name}.log"
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {' '.join(cmd)}", flush=True)
    env = {**os.environ, "PYTHONPATH": str(src)}
    with open(log, "w") as fh:
        rc = subprocess.call(cmd, cwd=src, env=env, stdout=fh, stderr=subprocess.STDOUT)
    summary = work / "outputs" / name / "cyclegan" / "summary.json"
    if rc != 0 or not summary.is_file():
        raise RuntimeError(f"{name}: the pipeline exited {rc}; see {log}")
    return json.loads(summary.read_text())


def translated(generator, photos: list[Path]) -> np.ndarray:
    """The photos through ``generator``, as uint8 at 256 px."""
    import tensorflow as tf

    from monet.data import tfdata
    from monet.package.translator import translator

    translate = translator(generator)
    return np.concatenate([translate(tf.cast(x, tf.float32)).numpy()
                           for x in tfdata.photo_batches([str(p) for p in photos], 32)])


def judged(held: list[Path], images: np.ndarray, seeds=(0,), generated: bool = True) -> dict:
    """The judge's figures of uint8 256-px images against the held-out paintings, for each seed; mean and spread.
    Generated images are judged as submitted (JPEG at quality 95), as the paintings are JPEGs."""
    from PIL import Image

    from monet.scoring import judge

    small = (judge.as_submitted(images) if generated else
             np.stack([np.asarray(Image.fromarray(im).resize((judge.C2ST_SIZE,) * 2, Image.BOX)) for im in images]))
    real = judge.load_images(held, judge.C2ST_SIZE)
    runs = []
    for seed in seeds:
        runs.append(judge.judge_arrays(real, small, seed))
    out = {"seeds": list(seeds), "runs": runs}
    for key in ("c2st_accuracy", "kid"):
        values = [r[key] for r in runs]
        out[key], out[f"{key}_seeds"] = float(np.mean(values)), values
        out[f"{key}_seed_sd"] = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    out["c2st_ci95"] = runs[0]["c2st_ci95"]
    out["kid_std"] = runs[0]["kid_std"]
    return out


HELD_FEATURES: dict = {}  # the held-out paintings' features on Kaggle's network, computed once a process


def on_kaggle(held: list[Path], images: np.ndarray, epsilon: float = 0.1) -> dict:
    """FID, KID and MiFID on Kaggle's network (the port: ``python -m monet weights kaggle`` once) of uint8 256-px
    images against the held-out paintings; the images are scored as they would be submitted (JPEG q95) unless
    they are files already."""
    from monet.scoring import inception, judge, metrics

    net = inception.network("kaggle")
    key = tuple(map(str, held))
    if key not in HELD_FEATURES:
        HELD_FEATURES[key] = feats_of(net, load_images(held))
    real = HELD_FEATURES[key]
    gen = feats_of(net, images)
    kid = judge.kid(real, gen)
    return {**metrics.score_features(real, gen, epsilon), "kid": kid["kid"], "kid_std": kid["kid_std"],
            "count": len(images), "real_count": len(held)}


def feats_of(net, images: np.ndarray) -> np.ndarray:
    return np.concatenate([net.features(images[i:i + 32].astype(np.float32)) for i in range(0, len(images), 32)])


def as_jpeg(images: np.ndarray, quality: int) -> np.ndarray:
    """Each image encoded as a JPEG at ``quality`` with the package's encoder and decoded again by Pillow."""
    from monet.data import images as data_images
    from monet.scoring import metrics

    return np.stack([metrics.decoded(data_images.jpeg_bytes(im, quality)) for im in images])


def colour_matched(photos: np.ndarray, paintings: np.ndarray, mode_size: int = 0,
                   how: str = "mean_sd", grain: float = 0.0, grey: bool = False) -> np.ndarray:
    """Each photo's channels shifted and scaled to the paintings' mean and standard deviation per channel (no
    learning): the cheapest move toward Monet's palette; after the package's mode filter when ``mode_size``, by
    histogram (RGB or HSV) when ``how`` says so, and with the package's grain of sd ``grain`` (grey) last."""
    from monet.package import postprocess

    post = postprocess.Postprocess(mode_size, how, postprocess.palette(paintings), grain, grey)
    return np.stack([post(im) for im in photos])


def mode_filtered(photos: np.ndarray, size: int = 5) -> np.ndarray:
    """Each photo through the package's mode filter alone (Pillow's, ``size`` x ``size``)."""
    from monet.package import postprocess

    return np.stack([postprocess.mode_filter(im, size) for im in photos])


def anchors(work: Path, data: Path) -> dict:
    """The anchors on Kaggle's network against the 100 held-out paintings: real paintings (the 150 training ones),
    the photos untranslated (500, and 150 for FID at the paintings' count), colour-matched, through the package's
    filters (the mode filter alone, then with colour matching by mean and sd, or by histogram, then with grain;
    then as cpu.yaml: histograms of hue, saturation and value, grey grain; JPEG q75), re-encoded at q75 and q95,
    and the untrained generator. Anchors measured before are kept."""
    train, held, photos = split(data)
    probe = load_images(judge_photos(photos))
    paintings = load_images(train)
    sets = {"paintings_150": lambda: paintings, "photos_500": lambda: probe,
            "photos_150": lambda: probe[:: len(probe) // 150][:150],
            "colour_matched_500": lambda: colour_matched(probe, paintings),
            "mode_filtered_500": lambda: as_jpeg(mode_filtered(probe), 75),
            "filtered_mean_sd_500": lambda: as_jpeg(colour_matched(probe, paintings, 5), 75),
            "filtered_500": lambda: as_jpeg(colour_matched(probe, paintings, 5, "histogram"), 75),
            "filtered_grain_500": lambda: as_jpeg(colour_matched(probe, paintings, 5, "histogram", 6.0), 75),
            "filtered_hsv_grey_500": lambda: as_jpeg(colour_matched(probe, paintings, 5, "hsv_histogram", 6.0, True),
                                                     75),
            "photos_q75_500": lambda: as_jpeg(probe, 75), "photos_q95_500": lambda: as_jpeg(probe, 95),
            "untrained_500": lambda: as_jpeg(translated(untrained_generator(), judge_photos(photos)), 95)}
    path = work / "kaggle_anchors.json"
    out = json.loads(path.read_text()) if path.is_file() else {}
    for name, images in sets.items():
        if name not in out:
            out[name] = on_kaggle(held, images())
            path.write_text(json.dumps(out, indent=1))
    for name, e in out.items():
        print(f"{name:22s} FID {e['fid']:8.2f}  KID {e['kid']:.4f} +- {e['kid_std']:.4f}  MiFID {e['mifid']:8.2f}  "
              f"d {e['memorization_distance']:.3f}  ({e['count']} against {e['real_count']})", flush=True)
    return out


def kaggle_rejudge(work: Path, data: Path) -> None:
    """Kaggle's network's figures of every trained recipe in WORK/results.json, its images written as JPEG at
    quality 95 (what images.zip holds by default) and at 75 (the competition's own tables): the JPEG lever."""
    results_path = work / "results.json"
    results = json.loads(results_path.read_text())
    train, held, photos = split(data)
    probe = judge_photos(photos)
    for name in [n for n in results if n in RECIPES]:
        images = translated(packaged(work, name), probe)
        results[name]["kaggle"] = on_kaggle(held, as_jpeg(images, 95))
        results[name]["kaggle_q75"] = on_kaggle(held, as_jpeg(images, 75))
        results_path.write_text(json.dumps(results, indent=1, default=str))
        e, q = results[name]["kaggle"], results[name]["kaggle_q75"]
        print(f"{name:12s} q95: FID {e['fid']:.2f} KID {e['kid']:.4f}   q75: FID {q['fid']:.2f} KID {q['kid']:.4f}",
              flush=True)


def load_images(paths: list[Path]) -> np.ndarray:
    from monet.scoring import judge

    return judge.load_images([str(p) for p in paths], 256)


def untrained_generator(seed: int = 42):
    import keras

    from monet.models import networks

    keras.utils.set_random_seed(seed)
    return networks.generator(kind="resnet", filters=16, down_blocks=2, res_blocks=4)


def packaged(work: Path, name: str):
    import keras

    from monet.models import networks  # noqa: F401 - registers the custom layers for loading

    return keras.saving.load_model(str(work / "outputs" / name / "cyclegan" / "generator.keras"), compile=False)


def rejudge(work: Path, data: Path) -> None:
    """Judge every entry of WORK/results.json again with the judge as it is now (the trained generators are kept
    in WORK/outputs): the figures of one table all come from one judge."""
    results_path = work / "results.json"
    results = json.loads(results_path.read_text())
    train, held, photos = split(data)
    probe = judge_photos(photos)
    for name in list(results):
        if name == "calibrate":
            results[name] = {"photos": judged(held, load_images(probe), SEEDS, generated=False),
                             "paintings": judged(held, load_images(train), SEEDS, generated=False)}
        elif name == "untrained":
            results[name] = {**results[name], **judged(held, translated(untrained_generator(), probe), SEEDS)}
        else:
            results[name] = {**results[name], **judged(held, translated(packaged(work, name), probe), SEEDS)}
        results_path.write_text(json.dumps(results, indent=1, default=str))
        print(f"[{time.strftime('%H:%M:%S')}] rejudged {name}", flush=True)


def run(names: list[str], work: Path, data: Path, minutes: int, src: Path) -> None:
    results_path = work / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    train, held, photos = split(data)
    data_root = training_folder(work, train, photos)
    probe = judge_photos(photos)
    for name in names:
        if name in results:
            print(f"{name}: already in {results_path}", flush=True)
            continue
        t0 = time.time()
        if name == "calibrate":
            entry = {"photos": judged(held, load_images(probe), SEEDS, generated=False),
                     "paintings": judged(held, load_images(train), SEEDS, generated=False)}
        elif name == "untrained":
            entry = judged(held, translated(untrained_generator(), probe), SEEDS)
        else:
            summary = train_recipe(name, work, data_root, minutes, src)
            images = translated(packaged(work, name), probe)
            entry = {**judged(held, images, SEEDS), "kaggle": on_kaggle(held, as_jpeg(images, 95)),
                     "train_seconds": summary.get("train_seconds"), "steps": summary.get("global_steps"),
                     "summary": {k: summary.get(k) for k in (
                         "global_steps", "planned_steps", "seconds_per_step", "stopped_early", "undertrained",
                         "seconds", "train_seconds", "generator_parameters", "generator_kind", "learning_rate_first",
                         "learning_rate_last", "final_losses")}}
        if name == "untrained":
            entry["kaggle"] = on_kaggle(held, as_jpeg(translated(untrained_generator(), probe), 95))
        entry["judge_seconds"] = round(time.time() - t0, 1)
        results[name] = entry
        results_path.write_text(json.dumps(results, indent=1, default=str))
        print(f"[{time.strftime('%H:%M:%S')}] {name}: {json.dumps(entry, default=str)[:400]}", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help=f"calibrate, untrained, {', '.join(RECIPES)}")
    ap.add_argument("--work", type=Path, default=Path("/tmp/quality"))
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--minutes", type=int, default=15, help="time budget of each recipe's run")
    ap.add_argument("--src", type=Path, default=REPO, help="the checkout whose pipeline.py trains the recipes")
    ap.add_argument("--write-docs", action="store_true")
    ap.add_argument("--rejudge", action="store_true", help="judge every recorded entry again with today's judge")
    ap.add_argument("--kaggle", action="store_true",
                    help="Kaggle's network's FID/KID/MiFID of every trained recipe, its images at JPEG q95 and q75")
    ap.add_argument("--anchors", action="store_true",
                    help="FID, KID and MiFID on Kaggle's network of the anchors (WORK/kaggle_anchors.json)")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.anchors:
        anchors(args.work, args.data)
    if args.kaggle:
        kaggle_rejudge(args.work, args.data)
    if args.names:
        run(args.names, args.work, args.data, args.minutes, args.src.resolve())
    if args.rejudge:
        rejudge(args.work, args.data)
    if args.write_docs:
        write_docs(args.work, args.data)
    return 0


BASELINES = {"paintings": "real paintings: the 150 training paintings (the floor: real against real)",
             "photos": "the photos themselves, untranslated (the identity baseline)",
             "untrained": "the untrained generator (ResNet, 16 filters, 4 residual blocks)"}


def table(results: dict) -> str:
    """The Markdown table of every baseline and recipe in ``results``."""
    rows = ["| set judged against the 100 held-out paintings | training | steps (s a step) | C2ST accuracy, mean of 3 "
            "seeds (seed 0's 95% CI) [each seed] | KID on random features, mean of 3 seeds (seed 0's +- sd over "
            "subsets) [each seed] |", "|---|---|---|---|---|"]
    entries = [(BASELINES[k], results["calibrate"][k]) for k in ("paintings", "photos") if "calibrate" in results]
    entries += [(BASELINES["untrained"], results["untrained"])] if "untrained" in results else []
    entries += [(f"**{name}**: {RECIPES[name][2]}", results[name]) for name in RECIPES if name in results]
    for label, e in entries:
        training = f"{e['train_seconds'] / 60:.1f} min" if e.get("train_seconds") else "-"
        steps = f"{e['steps']:,} ({e['train_seconds'] / e['steps']:.2f})" if e.get("steps") else "-"
        lo, hi = e["c2st_ci95"]
        each = lambda key, digits: ", ".join(f"{v:.{digits}f}" for v in e[f"{key}_seeds"])  # noqa: E731
        rows.append(f"| {label} | {training} | {steps} | {e['c2st_accuracy']:.3f} ({lo:.2f}-{hi:.2f}) "
                    f"[{each('c2st_accuracy', 2)}] | {e['kid']:.2f} (+-{e['kid_std']:.2f}) [{each('kid', 1)}] |")
    return "\n".join(rows)


def grid(work: Path, data: Path, results: dict) -> Path:
    """WORK/grid.jpg: the same photos through the untrained generator and every trained recipe, and held-out
    paintings for reference."""
    from PIL import Image

    from monet.core import plots

    train, held, photos = split(data)
    chosen = judge_photos(photos)[:: JUDGE_PHOTOS // GRID_PHOTOS][:GRID_PHOTOS]
    rows, titles = [list(load_images(chosen))], ["photo"]
    rows.append(list(translated(untrained_generator(), chosen)))
    titles.append("untrained")
    for name in RECIPES:
        if name in results:
            rows.append(list(translated(packaged(work, name), chosen)))
            titles.append(name)
    rows.append(list(load_images(held[:GRID_PHOTOS])))
    titles.append("held-out paintings")
    png = plots.image_grid(rows, work / "grid.png", row_titles=titles,
                           title="The same photos through every recipe (15 min on 2 CPU cores each)")
    Image.open(png).convert("RGB").save(work / "grid.jpg", quality=88)
    return work / "grid.jpg"


def write_docs(work: Path, data: Path) -> None:
    """The table between the markers of docs/quality.md, and WORK/grid.jpg (not committed: made from the
    competition's photos)."""
    results = json.loads((work / "results.json").read_text())
    doc = REPO / "docs" / "quality.md"
    text = doc.read_text()
    begin, end = text.index(MARK_BEGIN) + len(MARK_BEGIN), text.index(MARK_END)
    doc.write_text(text[:begin] + "\n" + table(results) + "\n" + text[end:])
    print(f"{doc}: table of {len(results)} entries; grid: {grid(work, data, results)}")


if __name__ == "__main__":
    sys.exit(main())
