"""Neural style transfer (Gatys et al.) as the report does it: optimize a photo's pixels against VGG19 features.

Loss of an image x with content photo p and style painting s:
    style_weight * mean over style layers of style_loss(gram(VGG_l(s)), gram(VGG_l(x)))
    + content_weight * content_loss(VGG_c(p), VGG_c(x)) + tv_weight * total_variation_loss(x)
(:mod:`monet.losses`), optimized from x = p in VGG19's preprocessed space by SGD with an exponentially decaying
learning rate (the Keras example's default) or Adam.

Speed: :class:`BatchPainter` optimizes a batch of *slots* at once in one compiled step. Each slot holds its own
photo, style, optimizer state, schedule position and early-stopping state; the update is element-wise, so a
photo gets the same result in a batch as alone. A slot whose image stopped is frozen, its image written at once,
and the slot refilled with the next photo. :func:`paint_photos` writes each finished image as it finishes, so an
interrupted run resumes without repainting anything.
"""
from __future__ import annotations

import csv
import json
import time
from collections import deque
from pathlib import Path

import numpy as np
from PIL import Image

from . import budget, data, files, losses
from .environment import seed_everything
from .params import fingerprint
from .weights import WeightsError, keras_application

__all__ = ["WeightsError", "VGG_MEAN_BGR", "vgg_preprocess", "vgg_deprocess", "load_vgg19", "vgg19_layer_names",
           "feature_extractor", "BatchPainter", "pair_styles", "paint_photos", "paint_user_images",
           "load_image", "NOT_REAL"]

VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
NOT_REAL = ("vgg_weights is 'none': VGG19 has random weights, so these images are NOT a real style transfer "
            "(a demo and test of the machinery only)")
KERAS_WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"


# ------------------------------------------------------------------------------------------- VGG19
def vgg_preprocess(images) -> np.ndarray:
    """RGB in [0, 255] (B, H, W, 3) -> VGG19's input: BGR minus the ImageNet mean (Keras's 'caffe' mode)."""
    x = np.asarray(images, dtype=np.float32)
    return x[..., ::-1] - VGG_MEAN_BGR


def vgg_deprocess(x) -> np.ndarray:
    """The inverse of :func:`vgg_preprocess`, clipped and rounded to uint8 RGB."""
    x = np.asarray(x, dtype=np.float32) + VGG_MEAN_BGR
    return np.clip(np.rint(x[..., ::-1]), 0, 255).astype(np.uint8)


def vgg19_layer_names() -> list[str]:
    """The layer names of Keras's VGG19 without its top (``block1_conv1`` .. ``block5_pool``)."""
    import keras

    return [layer.name for layer in keras.applications.VGG19(include_top=False, weights=None).layers[1:]]


def load_vgg19(weights: str):
    """Keras's VGG19 without its top. ``weights``: 'imagenet' (Keras's download and cache), a path to
    ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5``, or 'none' (random: tests and the offline demo)."""
    return keras_application("VGG19", weights, KERAS_WEIGHTS_FILE, "nst.vgg_weights")


def feature_extractor(vgg, style_layers: list[str], content_layer: str):
    """A model mapping preprocessed images to [style layer outputs..., content layer output]."""
    import keras

    valid = [layer.name for layer in vgg.layers[1:]]
    unknown = [n for n in [*style_layers, content_layer] if n not in valid]
    if unknown:
        raise ValueError(f"unknown VGG19 layer(s) {', '.join(unknown)}; valid layers: {', '.join(valid)}")
    outputs = [vgg.get_layer(n).output for n in style_layers] + [vgg.get_layer(content_layer).output]
    return keras.Model(vgg.inputs, outputs, name="vgg19_features")


# ------------------------------------------------------------------------------------- the painter
class BatchPainter:
    """Optimizes ``slots`` images of ``size`` (height, width) at once, each slot independent.

    cfg keys used: style_weight, content_weight, tv_weight, optimizer ('sgd' | 'adam'), learning_rate,
    decay_steps, decay_rate (lr_t = learning_rate * decay_rate ** (t / decay_steps)), max_iterations, patience,
    delta (relative: a loss must fall below best * (1 - delta) to count as an improvement), jit_compile.
    """

    BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7  # Adam, Keras's defaults

    def __init__(self, extractor, cfg: dict, size: tuple[int, int], slots: int):
        import tensorflow as tf

        self.extractor, self.cfg, self.size, self.slots = extractor, cfg, tuple(size), slots
        h, w = self.size
        shapes = [tuple(o.shape[1:]) for o in extractor.outputs]
        zeros = lambda shape, dtype=tf.float32: tf.Variable(tf.zeros(shape, dtype), trainable=False)  # noqa: E731
        self.x = zeros((slots, h, w, 3))
        self.best_x, self.m, self.v = zeros((slots, h, w, 3)), zeros((slots, h, w, 3)), zeros((slots, h, w, 3))
        self.t = zeros((slots,), tf.int32)
        self.limit = zeros((slots,), tf.int32)  # each slot's own max_iterations (auto gives each photo its share)
        self.wait = zeros((slots,), tf.int32)
        self.best = tf.Variable(tf.fill((slots,), np.float32(np.inf)), trainable=False)
        self.active = zeros((slots,), tf.bool)
        self.style_grams = [zeros((slots, s[-1], s[-1])) for s in shapes[:-1]]
        content_hw = extractor.compute_output_shape((1, h, w, 3))[-1][1:]
        self.content = zeros((slots, *content_hw))
        self._step = tf.function(self._step_fn, jit_compile=cfg["jit_compile"])
        self._targets = tf.function(lambda x: extractor(x, training=False))

    def load(self, slot: int, content_rgb: np.ndarray, style_rgb: np.ndarray, max_iterations: int | None = None) -> None:
        """Start painting ``content_rgb`` with ``style_rgb`` (uint8 HxWx3 of this painter's size) in ``slot``, for
        at most ``max_iterations`` (default: the cfg's)."""
        x0 = vgg_preprocess(content_rgb[None])
        content_features = self._targets(x0)[-1]
        style_features = self._targets(vgg_preprocess(style_rgb[None]))[:-1]
        self.x[slot].assign(x0[0])
        self.best_x[slot].assign(x0[0])
        self.m[slot].assign(np.zeros_like(x0[0]))
        self.v[slot].assign(np.zeros_like(x0[0]))
        self.content[slot].assign(content_features[0])
        for var, feats in zip(self.style_grams, style_features):
            var[slot].assign(losses.gram_matrix(feats)[0])
        self.t[slot].assign(0)
        self.set_limit(slot, self.cfg["max_iterations"] if max_iterations is None else max_iterations)
        self.wait[slot].assign(0)
        self.best[slot].assign(np.inf)
        self.active[slot].assign(True)

    def _loss_terms(self, x):
        import tensorflow as tf

        feats = self.extractor(x, training=False)
        pixels = self.size[0] * self.size[1]
        style = tf.add_n([losses.style_loss(g, losses.gram_matrix(f), pixels)
                          for g, f in zip(self.style_grams, feats[:-1])]) / len(self.style_grams)
        content = losses.content_loss(self.content, feats[-1])
        tv = losses.total_variation_loss(x)
        c = self.cfg
        return c["style_weight"] * style, c["content_weight"] * content, c["tv_weight"] * tv

    def _step_fn(self):
        import tensorflow as tf

        c = self.cfg
        active = self.active
        mask = tf.cast(active, tf.float32)[:, None, None, None]
        x_before = tf.identity(self.x)
        with tf.GradientTape() as tape:
            tape.watch(self.x)
            style, content, tv = self._loss_terms(self.x)
            total = style + content + tv
            objective = tf.reduce_sum(total * tf.cast(active, tf.float32))
        grad = tape.gradient(objective, self.x)
        t_new = self.t + tf.cast(active, tf.int32)
        t_float = tf.cast(t_new, tf.float32)
        lr = c["learning_rate"] * tf.pow(c["decay_rate"], (t_float - 1.0) / c["decay_steps"])[:, None, None, None]
        if c["optimizer"] == "adam":
            m = self.BETA_1 * self.m + (1 - self.BETA_1) * grad
            v = self.BETA_2 * self.v + (1 - self.BETA_2) * tf.square(grad)
            self.m.assign(mask * m + (1 - mask) * self.m)
            self.v.assign(mask * v + (1 - mask) * self.v)
            t4 = tf.maximum(t_float, 1.0)[:, None, None, None]
            m_hat = self.m / (1 - tf.pow(self.BETA_1, t4))
            v_hat = self.v / (1 - tf.pow(self.BETA_2, t4))
            update = lr * m_hat / (tf.sqrt(v_hat) + self.EPSILON)
        else:
            update = lr * grad
        self.x.assign(self.x - mask * update)
        self.t.assign(t_new)
        # Early stopping on the loss of x_before (the image the loss was measured on).
        improved = tf.logical_and(active, total < self.best * (1.0 - c["delta"]))
        self.best_x.assign(tf.where(improved[:, None, None, None], x_before, self.best_x))
        self.best.assign(tf.where(improved, total, self.best))
        self.wait.assign(tf.where(improved, 0, self.wait + tf.cast(active, tf.int32)))
        done = tf.logical_and(active, tf.logical_or(self.wait >= c["patience"], t_new >= self.limit))
        self.active.assign(tf.logical_and(active, tf.logical_not(done)))
        return {"total": total, "style": style, "content": content, "tv": tv, "done": done}

    def step(self) -> dict:
        """One iteration for every active slot; returns per-slot numpy arrays (losses before the update, done)."""
        return {k: v.numpy() for k, v in self._step().items()}

    def result(self, slot: int) -> np.ndarray:
        """The slot's best image so far as uint8 RGB."""
        return vgg_deprocess(self.best_x[slot].numpy())

    def set_limit(self, slot: int, max_iterations: int) -> None:
        """Change a slot's iteration limit (never below the iterations it has done plus one)."""
        limit = 2 ** 30 if max_iterations == "auto" else int(max_iterations)
        self.limit[slot].assign(max(limit, int(self.t[slot].numpy()) + 1))

    def state(self, slot: int) -> dict:
        return {"iterations": int(self.t[slot].numpy()), "best_loss": float(self.best[slot].numpy()),
                "limit": int(self.limit[slot].numpy())}


# ------------------------------------------------------------------------------------- the stage
def load_image(path, size: tuple[int, int] | None = None, max_side: int | None = None) -> np.ndarray:
    """Any image file as uint8 RGB (grayscale, palette and RGBA converted; alpha flattened onto white),
    resized to ``size`` (height, width) or so that its longest side is ``max_side``."""
    with Image.open(path) as im:
        im.load()
        im = data.to_rgb(im)
        if size is not None and im.size != (size[1], size[0]):
            im = im.resize((size[1], size[0]), Image.LANCZOS)
        elif max_side is not None:
            scale = max_side / max(im.size)
            im = im.resize((max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale))), Image.LANCZOS)
        return np.asarray(im)


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
    with files.atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def _save_jpeg(array: np.ndarray, path: Path, quality: int = 95) -> None:
    files.write_bytes(path, data.jpeg_bytes(array, quality))


def paint_photos(run_dir: str | Path, cfg: dict, seed: int = 42, log=print, deterministic: bool = False) -> dict:
    """The nst_generate stage: paint the run's photos (all, or the first ``limit``) into ``nst/images/``.

    Finished images are written as they finish and listed in ``nst/results.csv``; a rerun with the same params
    skips them. A rerun with other params keeps the old ``nst/`` folder, renamed with a timestamp.
    With ``max_iterations: auto`` and a time budget, the painter measures its speed on the first batch and gives
    each photo, as it starts, the iterations that let every waiting photo finish in the time left (photos that
    stop early leave their time to the rest); too little time for ``min_iterations`` each is an error before the
    rest is painted. Returns the summary also written to ``nst/summary.json``.
    """
    from tqdm import tqdm

    run_dir = Path(run_dir)
    out = run_dir / "nst"
    manifest = data.read_manifest(run_dir)
    photos = manifest["photo"][:cfg["limit"]] if cfg["limit"] else manifest["photo"]
    monets = {r["name"]: r["path"] for r in manifest["monet"]}
    styles = pair_styles([p["name"] for p in photos], list(monets), cfg["style"], seed)
    fp = fingerprint({k: v for k, v in cfg.items() if k not in ("limit", "plot_images", "batch_size",
                                                                 "jit_compile", "user_images", "user_max_side")}
                     | {"seed": seed})
    config_path = out / "config.json"
    if config_path.is_file() and json.loads(config_path.read_text()).get("fingerprint") != fp:
        kept = out.with_name(f"nst.{time.strftime('%Y%m%d-%H%M%S')}")
        log(f"{out} was painted with other params; moved to {kept}")
        out.rename(kept)
    (out / "images").mkdir(parents=True, exist_ok=True)
    files.write_json(config_path, {"fingerprint": fp, "params": cfg, "seed": seed})

    results_path = out / "results.csv"
    done = {n: r for n, r in _read_results(results_path).items() if (out / "images" / f"{n}.jpg").is_file()}
    _rewrite_results(results_path, list(done.values()))  # drops rows a killed run left incomplete
    traces_path = out / "traces.json"
    traces = json.loads(traces_path.read_text()) if traces_path.is_file() else {}
    todo = [(p, s) for p, s in zip(photos, styles) if p["name"] not in done]
    tracked = {p["name"] for p in photos[:cfg["plot_images"]]}
    log(f"{len(photos):,} photos to paint: {len(done):,} done earlier, {len(todo):,} now "
        f"({cfg['optimizer']}, at most {cfg['max_iterations']} iterations, batch {cfg['batch_size']})")
    if cfg["vgg_weights"] == "none":
        log("WARNING: " + NOT_REAL)

    seed_everything(seed, deterministic)
    extractor = feature_extractor(load_vgg19(cfg["vgg_weights"]), cfg["style_layers"], cfg["content_layer"])
    size = (cfg["image_size"], cfg["image_size"])
    painter = BatchPainter(extractor, cfg, size, min(cfg["batch_size"], max(1, len(todo))))
    slots: list[dict | None] = [None] * painter.slots
    queue = deque(todo)
    t0 = time.time()
    deadline = budget.deadline()
    auto = cfg["max_iterations"] == "auto"
    if auto and deadline is None:
        raise ValueError("nst.max_iterations is 'auto' but this run has no time budget: set time_budget_minutes "
                         "(Kaggle sets 270 by default) or a number of iterations")
    # The package stage only zips finished JPEGs (about 1 ms each, and as much to check them).
    reserve = budget.Reserve(budget.KERNEL_OVERHEAD_S + 30.0, 0.002, len(manifest["photo"]), "zipping JPEGs")
    stopped_early, share, step_times = None, None, []
    bar = tqdm(total=len(todo), desc="painting", unit="img", mininterval=10, ascii=True)
    with open(results_path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=RESULT_FIELDS)
        while True:
            for i, job in enumerate(slots):
                if job is None and queue:
                    photo, style = queue.popleft()
                    if share is not None:  # auto: this photo's share of the time left
                        waiting = len(queue) + 1 + sum(j is not None for j in slots)
                        share = max(1, budget.nst_iterations_per_photo(
                            deadline - time.time(), float(np.median(step_times[1:])), painter.slots, waiting,
                            reserve.seconds))
                    painter.load(i, load_image(photo["path"], size), load_image(monets[style], size),
                                 "auto" if auto and share is None else share)
                    slots[i] = {"name": photo["name"], "style": style, "start": time.time(), "trace": []}
            if all(job is None for job in slots):
                break
            if deadline and time.time() + reserve.seconds > deadline:
                unfinished = len(queue) + sum(job is not None for job in slots)
                stopped_early = (f"stopped early by the time budget with {unfinished:,} photo(s) unpainted; "
                                 "run the same command again to go on")
                log("STOPPED EARLY: " + stopped_early)
                break
            t_step = time.perf_counter()
            out_step = painter.step()
            step_times.append(time.perf_counter() - t_step)
            if auto and share is None and len(step_times) == 5:  # the first step traces: time 4 after it
                per_step = float(np.median(step_times[1:]))
                waiting = len(queue) + sum(j is not None for j in slots)
                share = budget.nst_iterations_per_photo(deadline - time.time(), per_step, painter.slots, waiting,
                                                        reserve.seconds)
                plan = (f"max_iterations auto: {per_step:.3f} s per step of {painter.slots} photo(s); "
                        f"{(deadline - time.time()) / 60:.1f} min left for {waiting:,} photos gives each about "
                        f"{share:,} iterations")
                log(plan)
                if share < cfg["min_iterations"]:
                    raise ValueError(f"{plan}, fewer than nst.min_iterations = {cfg['min_iterations']}: the budget "
                                     "cannot paint every photo. Raise time_budget_minutes, lower nst.image_size, or "
                                     "paint fewer photos (nst.limit) and package another source")
                for i, job in enumerate(slots):
                    if job is not None:
                        painter.set_limit(i, share)
            for i, job in enumerate(slots):
                if job is None:
                    continue
                if job["name"] in tracked:
                    job["trace"].append(float(out_step["total"][i]))
                job["last"] = {k: float(out_step[k][i]) for k in ("total", "style", "content", "tv")}
                if out_step["done"][i]:
                    state = painter.state(i)
                    image = painter.result(i)
                    if image.shape[:2] != (256, 256):
                        image = np.asarray(Image.fromarray(image).resize((256, 256), Image.LANCZOS))
                    _save_jpeg(image, out / "images" / f"{job['name']}.jpg")
                    writer.writerow({
                        "name": job["name"], "style": job["style"], "iterations": state["iterations"],
                        "stopped": "max_iterations" if state["iterations"] >= state["limit"] else "patience",
                        "loss": state["best_loss"], "style_loss": job["last"]["style"],
                        "content_loss": job["last"]["content"], "tv_loss": job["last"]["tv"],
                        "seconds": round(time.time() - job["start"], 3)})
                    fh.flush()
                    if job["trace"]:
                        traces[job["name"]] = job["trace"]
                        files.write_json(traces_path, traces, indent=None)
                    slots[i] = None
                    bar.update(1)
    bar.close()
    seconds = time.time() - t0
    results = list(_read_results(results_path).values())
    note = NOT_REAL if cfg["vgg_weights"] == "none" else None
    _figures(run_dir, photos, monets, results, traces, note)
    iterations = [int(r["iterations"]) for r in results]
    summary = {
        "painted": len(results), "painted_now": len(todo), "photos": len(photos), "seconds": round(seconds, 2),
        "images_per_second": round(len(todo) / seconds, 4) if todo and seconds else None,
        "mean_iterations": round(float(np.mean(iterations)), 1) if iterations else None,
        "stopped_by_patience": sum(r["stopped"] == "patience" for r in results),
        "vgg_weights": cfg["vgg_weights"], "real_style_transfer": note is None, "stopped_early": stopped_early,
    }
    if note:
        summary["note"] = note
    files.write_json(out / "summary.json", summary)
    return summary


def _figures(run_dir: Path, photos, monets, results, traces, note) -> None:
    from . import plots

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

    from . import plots

    run_dir, folder = Path(run_dir), Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"nst.user_images {str(folder)!r}: no such folder")
    out = run_dir / "nst" / "user"
    out.mkdir(parents=True, exist_ok=True)
    monets = {r["name"]: r["path"] for r in data.read_manifest(run_dir)["monet"]}
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
