"""Neural style transfer (Gatys et al.) as the report does it: optimize a photo's pixels against VGG19 features.

Loss of an image x with content photo p and style painting s:
    style_weight * mean over style layers of style_loss(gram(VGG_l(s)), gram(VGG_l(x)))
    + content_weight * content_loss(VGG_c(p), VGG_c(x)) + tv_weight * total_variation_loss(x)
(:mod:`monet.models.losses`), optimized from x = p in VGG19's preprocessed space by SGD with an exponentially decaying
learning rate (the Keras example's default) or Adam.

The painter itself (VGG19 features, :class:`monet.style.painter.BatchPainter`, which paints a batch of photos at once,
each with its own stopping) is :mod:`monet.style.painter`. :func:`paint_photos` writes each finished image as it
finishes, so an interrupted run resumes without repainting anything.
"""
from __future__ import annotations

import csv
import json
import time
from collections import deque
from pathlib import Path

import numpy as np
from PIL import Image

from monet.core import budget, files, progress
from monet.core.environment import seed_everything
from monet.core.params import fingerprint
from monet.data import fetch, images
from monet.style.painter import BatchPainter, feature_extractor, load_image, load_vgg19

__all__ = ["NOT_REAL", "pair_styles", "paint_photos", "paint_user_images"]

PLAN_AFTER_STEPS = 4  # max_iterations auto: planned from the wall time of the steps after the first (it traces)
NOT_REAL = ("vgg_weights is 'none': VGG19 has random weights, so these images are NOT a real style transfer "
            "(a demo and test of the machinery only)")


# ------------------------------------------------------------------------------------- the stage
def pair_styles(photo_names: list[str], monet_names: list[str], style: str, seed: int) -> list[str]:
    """The painting each photo is painted with: ``style`` 'random' (seeded per photo index) or one painting's
    name. An unknown name is an error listing some valid ones."""
    if style == "random":
        rng = np.random.default_rng([seed, 7])
        return [monet_names[i] for i in rng.integers(0, len(monet_names), len(photo_names))]
    if style not in monet_names:
        raise ValueError(f"nst.style {style!r} is not a painting of this run; use 'random' or a name such as "
                         f"{', '.join(monet_names[:5])} (see data/manifest.csv)")
    return [style] * len(photo_names)


RESULT_FIELDS = ["name", "style", "iterations", "stopped", "loss", "style_loss", "content_loss", "tv_loss", "seconds"]


def _read_results(path: Path) -> dict[str, dict]:
    """The complete rows of ``nst/results.csv`` by photo name (a row cut short by a killed run is left out)."""
    if not path.is_file():
        return {}
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    complete = {}
    for r in rows:
        try:
            int(r["iterations"]), float(r["seconds"])
        except (TypeError, ValueError, KeyError):
            continue
        if all(r.get(k) not in (None, "") for k in RESULT_FIELDS):
            complete[r["name"]] = r
    return complete


def _rewrite_results(path: Path, rows: list[dict]) -> None:
    """Write ``rows`` as ``nst/results.csv`` atomically (after a killed run: only its complete rows)."""
    files.write_csv(path, rows, RESULT_FIELDS)


def _save_jpeg(array: np.ndarray, path: Path, quality: int = 95) -> None:
    files.write_bytes(path, images.jpeg_bytes(array, quality))


def paint_photos(run_dir: str | Path, cfg: dict, seed: int = 42, log=print, deterministic: bool = False) -> dict:
    """The nst_generate stage: paint the run's photos (all, or the first ``limit``) into ``nst/images/``.

    Finished images are written as they finish and listed in ``nst/results.csv``; a rerun with the same params
    skips them. A rerun with other params keeps the old ``nst/`` folder, renamed with a timestamp.
    With ``max_iterations: auto`` and a time budget, the painter measures its speed on the first batch and gives
    each photo, as it starts, the iterations that let every waiting photo finish in the time left (photos that
    stop early leave their time to the rest); too little time for ``min_iterations`` each is an error before the
    rest is painted, and photos that later get fewer are counted and flagged. Returns the summary also written to
    ``nst/summary.json``.
    """
    job = _Painting(Path(run_dir), cfg, seed, log)
    seed_everything(seed, deterministic)
    extractor = feature_extractor(load_vgg19(cfg["vgg_weights"]), cfg["style_layers"], cfg["content_layer"])
    size = (cfg["image_size"], cfg["image_size"])
    painter = BatchPainter(extractor, cfg, size, min(cfg["batch_size"], max(1, len(job.todo))))
    t0 = time.time()
    with open(job.out / "results.csv", "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_FIELDS)
        job.paint(painter, size, writer, fh)
    job.bar.close()
    job.live.close()
    return job.summarize(time.time() - t0)


class _Painting:
    """One session of the nst_generate stage: what is left to paint, the slots of the batch painter, the plan of
    ``max_iterations: auto`` and the results as they finish."""

    def __init__(self, run_dir: Path, cfg: dict, seed: int, log):
        from tqdm import tqdm

        self.run_dir, self.cfg, self.log, self.out = run_dir, cfg, log, run_dir / "nst"
        manifest = fetch.read_manifest(run_dir)
        self.photos = manifest["photo"][:cfg["limit"]] if cfg["limit"] else manifest["photo"]
        self.monets = {r["name"]: r["path"] for r in manifest["monet"]}
        styles = pair_styles([p["name"] for p in self.photos], list(self.monets), cfg["style"], seed)
        self._keep_or_move_aside(seed)
        results_path = self.out / "results.csv"
        self.done = {n: r for n, r in _read_results(results_path).items()
                     if (self.out / "images" / f"{n}.jpg").is_file()}
        _rewrite_results(results_path, list(self.done.values()))  # drops rows a killed run left incomplete
        traces_path = self.out / "traces.json"
        self.traces = json.loads(traces_path.read_text()) if traces_path.is_file() else {}
        self.todo = [(p, s) for p, s in zip(self.photos, styles) if p["name"] not in self.done]
        self.tracked = {p["name"] for p in self.photos[:cfg["plot_images"]]}
        log(f"{len(self.photos):,} photos to paint: {len(self.done):,} done earlier, {len(self.todo):,} now "
            f"({cfg['optimizer']}, at most {cfg['max_iterations']} iterations, batch {cfg['batch_size']})")
        if cfg["vgg_weights"] == "none":
            log("WARNING: " + NOT_REAL)
        self.deadline = budget.deadline()
        self.auto = cfg["max_iterations"] == "auto"
        if self.auto and self.deadline is None:
            raise ValueError("nst.max_iterations is 'auto' but this run has no time budget: set time_budget_minutes "
                             "(Kaggle sets 270 by default) or a number of iterations")
        # The package stage only zips finished JPEGs (about 1 ms each, and as much to check them).
        self.reserve = budget.Reserve(budget.KERNEL_OVERHEAD_S + 30.0, 0.002, len(manifest["photo"]),
                                      "zipping JPEGs")
        self.stopped_early, self.share, self.short = None, None, []
        self.clock = budget.StepClock()  # wall time between steps, the first (its trace) not counted
        self.queue, self.slots = deque(self.todo), []
        self.bar = tqdm(total=len(self.todo), desc="painting", unit="img", mininterval=10, ascii=True)
        self.live = progress.Progress("painting", len(self.todo), "images", deadline=self.deadline)

    def _keep_or_move_aside(self, seed: int) -> None:
        """Painted with other params: the old ``nst/`` is renamed with a timestamp; then this session's config."""
        cfg, out = self.cfg, self.out
        fp = fingerprint({k: v for k, v in cfg.items() if k not in ("limit", "plot_images", "batch_size",
                                                                     "jit_compile", "user_images", "user_max_side")}
                         | {"seed": seed})
        config_path = out / "config.json"
        if config_path.is_file() and json.loads(config_path.read_text()).get("fingerprint") != fp:
            kept = files.move_aside(out)
            self.log(f"{out} was painted with other params; moved to {kept}")
        (out / "images").mkdir(parents=True, exist_ok=True)
        files.write_json(config_path, {"fingerprint": fp, "params": cfg, "seed": seed})

    def paint(self, painter: BatchPainter, size, writer, fh) -> None:
        """Fill free slots, stop for the budget, step, plan after the first steps, write what finished."""
        self.slots = [None] * painter.slots
        while True:
            self._fill(painter, size)
            if all(job is None for job in self.slots):
                return
            if self.deadline and time.time() + self.reserve.seconds > self.deadline:
                unfinished = len(self.queue) + sum(job is not None for job in self.slots)
                self.stopped_early = (f"stopped early by the time budget with {unfinished:,} photo(s) unpainted; "
                                      "run the same command again to go on")
                self.log("STOPPED EARLY: " + self.stopped_early)
                return
            out_step = painter.step()
            self.clock.step()
            if self.auto and self.share is None and self.clock.measured == PLAN_AFTER_STEPS:
                self._plan(painter)
            self._harvest(painter, out_step, writer, fh)

    def _fill(self, painter: BatchPainter, size) -> None:
        """Load the next photos into free slots (under auto, each with its share of the time left)."""
        for i, job in enumerate(self.slots):
            if job is None and self.queue:
                photo, style = self.queue.popleft()
                if self.share is not None:
                    self.share = self._share_for(photo["name"])
                painter.load(i, load_image(photo["path"], size), load_image(self.monets[style], size),
                             "auto" if self.auto and self.share is None else self.share)
                self.slots[i] = {"name": photo["name"], "style": style, "start": time.time(), "trace": []}

    def _share_for(self, name: str) -> int:
        """This photo's share of the time left; fewer than min_iterations is counted and said, once, loudly."""
        waiting = len(self.queue) + 1 + sum(j is not None for j in self.slots)
        share = max(1, budget.nst_iterations_per_photo(self.deadline - time.time(), self.clock.seconds_per_step(),
                                                       len(self.slots), waiting, self.reserve.seconds))
        if share < self.cfg["min_iterations"]:  # the budget ran short of the first plan
            if not self.short:
                self.log(f"WARNING: UNDERTRAINED: the time left gives {name} and the photos after it {share} "
                         f"iteration(s), fewer than nst.min_iterations = {self.cfg['min_iterations']}; they are "
                         "painted that briefly (counted in the summary)")
            self.short.append(name)
        return share

    def _plan(self, painter: BatchPainter) -> None:
        """max_iterations auto: each photo's share of the budget, from the measured speed (an error below the floor)."""
        per_step = self.clock.seconds_per_step()
        waiting = len(self.queue) + sum(j is not None for j in self.slots)
        self.share = budget.nst_iterations_per_photo(self.deadline - time.time(), per_step, painter.slots, waiting,
                                                     self.reserve.seconds)
        plan = (f"max_iterations auto: {per_step:.3f} s per step of {painter.slots} photo(s); "
                f"{(self.deadline - time.time()) / 60:.1f} min left for {waiting:,} photos gives each about "
                f"{self.share:,} iterations")
        self.log(plan)
        if self.share < self.cfg["min_iterations"]:
            raise ValueError(f"{plan}, fewer than nst.min_iterations = {self.cfg['min_iterations']}: the budget "
                             "cannot paint every photo. Raise time_budget_minutes, lower nst.image_size, or "
                             "paint fewer photos (nst.limit) and package another source")
        for i, job in enumerate(self.slots):
            if job is not None:
                painter.set_limit(i, self.share)

    def _harvest(self, painter: BatchPainter, out_step: dict, writer, fh) -> None:
        """Record each slot's losses; write the photos that finished (image, results row, trace)."""
        for i, job in enumerate(self.slots):
            if job is None:
                continue
            if job["name"] in self.tracked:
                job["trace"].append(float(out_step["total"][i]))
            job["last"] = {k: float(out_step[k][i]) for k in ("total", "style", "content", "tv")}
            if not out_step["done"][i]:
                continue
            state, image = painter.state(i), painter.result(i)
            if image.shape[:2] != (256, 256):
                image = np.asarray(Image.fromarray(image).resize((256, 256), Image.LANCZOS))
            _save_jpeg(image, self.out / "images" / f"{job['name']}.jpg")
            writer.writerow({
                "name": job["name"], "style": job["style"], "iterations": state["iterations"],
                "stopped": "max_iterations" if state["iterations"] >= state["limit"] else "patience",
                "loss": state["best_loss"], "style_loss": job["last"]["style"],
                "content_loss": job["last"]["content"], "tv_loss": job["last"]["tv"],
                "seconds": round(time.time() - job["start"], 3)})
            fh.flush()
            if job["trace"]:
                self.traces[job["name"]] = job["trace"]
                files.write_json(self.out / "traces.json", self.traces, indent=None)
            self.slots[i] = None
            self.bar.update(1)
            self.live.update(self.bar.n)

    def summarize(self, seconds: float) -> dict:
        cfg = self.cfg
        results = list(_read_results(self.out / "results.csv").values())
        note = NOT_REAL if cfg["vgg_weights"] == "none" else None
        _figures(self.run_dir, self.photos, self.monets, results, self.traces, note)
        iterations = [int(r["iterations"]) for r in results]
        painted_now = len(results) - len(self.done)
        summary = {
            "painted": len(results), "painted_now": painted_now, "photos": len(self.photos),
            "seconds": round(seconds, 2),
            "images_per_second": round(painted_now / seconds, 4) if painted_now > 0 and seconds else None,
            "below_min_iterations": len(self.short),
            "mean_iterations": round(float(np.mean(iterations)), 1) if iterations else None,
            "stopped_by_patience": sum(r["stopped"] == "patience" for r in results),
            "vgg_weights": cfg["vgg_weights"], "real_style_transfer": note is None,
            "stopped_early": self.stopped_early,
        }
        if note:
            summary["note"] = note
        if self.short:
            summary["warning"] = (f"{len(self.short):,} photo(s) were painted with fewer than nst.min_iterations = "
                                  f"{cfg['min_iterations']} iterations: the time budget ran short of the first plan")
        files.write_json(self.out / "summary.json", summary)
        return summary


def _figures(run_dir: Path, photos, monets, results, traces, note) -> None:
    from monet.core import plots

    out = run_dir / "nst"
    suffix = f"\n{note}" if note else ""
    if traces:
        plots.loss_traces(traces, out / "losses.png", title="NST loss per iteration" + suffix)
    by_name = {r["name"]: r for r in results}
    rows = []
    for photo in photos:
        r = by_name.get(photo["name"])
        if r is None:
            continue
        rows.append([load_image(photo["path"]), load_image(monets[r["style"]], (256, 256)),
                     load_image(out / "images" / f"{photo['name']}.jpg")])
        if len(rows) == 4:
            break
    if rows:
        plots.image_grid(rows, out / "grid.png", col_titles=["content", "style", "result"],
                         title="Neural style transfer" + suffix)


def paint_user_images(run_dir: str | Path, folder: str | Path, cfg: dict, seed: int = 42, log=print) -> dict:
    """Paint every image of a user's folder (any size; JPEG, PNG...; grayscale or RGBA converted) with a random
    (or the chosen) Monet, at the photo's own aspect ratio with its longest side ``user_max_side``, into
    ``nst/user/``. Unreadable files are listed and skipped. Writes ``nst/user/grid.png``; returns a summary."""
    import keras

    from monet.core import plots

    run_dir, folder = Path(run_dir), Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"nst.user_images {str(folder)!r}: no such folder")
    out = run_dir / "nst" / "user"
    out.mkdir(parents=True, exist_ok=True)
    monets = {r["name"]: r["path"] for r in fetch.read_manifest(run_dir)["monet"]}
    found = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    styles = pair_styles([p.stem for p in found], list(monets), cfg["style"], seed + 1)
    keras.utils.set_random_seed(seed)
    extractor = feature_extractor(load_vgg19(cfg["vgg_weights"]), cfg["style_layers"], cfg["content_layer"])
    painted, skipped, rows = [], [], []
    for path, style in zip(found, styles):
        try:
            content = load_image(path, max_side=cfg["user_max_side"])
        except Exception as exc:  # noqa: BLE001 - any unreadable file is listed and skipped
            skipped.append({"file": str(path), "why": f"{type(exc).__name__}: {exc}"})
            log(f"skipped (unreadable): {path}: {exc}")
            continue
        size = content.shape[:2]
        painter = BatchPainter(extractor, cfg, size, 1)
        painter.load(0, content, load_image(monets[style], size))
        while painter.active[0].numpy():
            painter.step()
        result = painter.result(0)
        _save_jpeg(result, out / f"{path.stem}.jpg")
        painted.append({"file": str(path), "style": style, "size": list(size), **painter.state(0)})
        if len(rows) < 6:
            rows.append([content, load_image(monets[style]), result])
    if rows:
        note = f"\n{NOT_REAL}" if cfg["vgg_weights"] == "none" else ""
        plots.image_grid(rows, out / "grid.png", col_titles=["your photo", "style", "result"],
                         title="Your photos" + note)
    summary = {"painted": painted, "skipped": skipped}
    files.write_json(out / "summary.json", summary)
    return summary
