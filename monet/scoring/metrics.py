"""Local FID and MiFID, computed as Kaggle's published code computes them, to estimate a run's score.

- Features: 2048 pool features of an Inception network (:mod:`monet.scoring.inception`): Kaggle's own 2015 network
  when ``weights`` is ``kaggle`` (its Keras port, converted once by ``python -m monet weights kaggle``; ``auto``
  picks it where it is converted) or the path of ``classify_image_graph_def.pb`` (figures on Kaggle's scale), else
  Keras's
  InceptionV3 (ImageNet weights: another network, not Kaggle's scale; ``none``: random, machinery only). Every
  output names the network.
- FID = |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)); the last trace is the one Kaggle takes from SciPy's
  ``sqrtm``, computed through symmetric eigendecompositions (see :func:`fid`), or, when one set has no more
  images than features, through that set's n x n problem (:func:`fid_of_features`, what scoring uses).
- Memorization distance: for each generated image, the minimum over real images of 1 - |cos| of their features
  (all-zero feature rows dropped), averaged over the generated images. Thresholded: d_thr = d if d < epsilon
  else 1. MiFID = FID / (d_thr + 1e-14).

Kaggle scores against paintings it keeps hidden, so even on Kaggle's network a local figure is an estimate.

Command line: ``python -m monet score IMAGES --real FOLDER [--weights auto|kaggle|PATH.pb|imagenet|FILE.h5|none]``.
"""
from __future__ import annotations

import hashlib
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from monet.core import files, progress as monet_progress
from monet.scoring import inception, judge
from monet.scoring.sources import image_source, read_path

__all__ = ["fid", "fid_of_features", "statistics", "memorization_distance", "thresholded", "mifid",
           "features", "decoded", "cached_features", "evaluate", "evaluate_run", "too_close", "nearest_figure", "judge_or_skip",
           "NOT_COMPARABLE"]

NOT_COMPARABLE = ("weights is 'none': InceptionV3 has random weights, so these FID/MiFID figures are NOT comparable "
                  "to Kaggle's (a test of the machinery only)")
NOTES = {"random": NOT_COMPARABLE,
         "keras": "Keras InceptionV3, not Kaggle's network: these figures are not on Kaggle's scale (run "
                  "`python -m monet weights kaggle` once and use weights 'kaggle' for Kaggle's).",
         "kaggle": "Kaggle's network; still an estimate: Kaggle scores against paintings it keeps hidden, "
                   "not against these."}


# -------------------------------------------------------------------------------------------- the maths
def statistics(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rows are samples) of a feature matrix, in float64."""
    feats = np.asarray(feats, dtype=np.float64)
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def fid(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between two Gaussians: |mu1 - mu2|^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr(sqrt(sigma1 sigma2)).

    Kaggle's code (as the TTUR reference) takes the last trace from SciPy's ``sqrtm`` of the product, which is not
    symmetric: a complex Schur decomposition (13.2 s for 2048 features on 2 CPU cores, ``benchmarks/bench_fid.py``),
    and warnings (then an offset) when few images make the product singular. The product of two covariance matrices has the eigenvalues of the
    symmetric ``sqrt(sigma1) sigma2 sqrt(sigma1)``, so the trace is the sum of their square roots: two symmetric
    eigendecompositions, 2.1 s, the same value (to SciPy's own round-off) and no special case when singular."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt_product(sigma1, sigma2))


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """Tr(sqrt(sigma1 sigma2)) for symmetric positive semi-definite ``sigma1``, ``sigma2`` (round-off below zero
    clipped)."""
    w, v = np.linalg.eigh((sigma1 + sigma1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    return sum_sqrt_eigenvalues(root1 @ sigma2 @ root1)


def sum_sqrt_eigenvalues(m: np.ndarray) -> float:
    """The sum of the square roots of a symmetric positive semi-definite matrix's eigenvalues (round-off below zero
    clipped): Tr(sqrt(m))."""
    return float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum())


def fid_of_features(feats1: np.ndarray, feats2: np.ndarray) -> float:
    """:func:`fid` of two feature sets (rows are samples). When the smaller set has no more samples than features
    (300 paintings against Inception's 2,048), its covariance is ``a.T @ a`` (``a``: its centred rows over
    sqrt(n - 1)), and the nonzero eigenvalues of ``sigma a.T a`` are those of the n x n ``a sigma a.T``: the same
    trace from an n x n eigendecomposition instead of two of 2,048 x 2,048 (``benchmarks/bench_fid.py``)."""
    f1, f2 = np.asarray(feats1, np.float64), np.asarray(feats2, np.float64)
    small, large = (f1, f2) if len(f1) <= len(f2) else (f2, f1)
    if f1.ndim != 2 or f2.ndim != 2 or not 2 <= len(small) <= small.shape[1]:
        return fid(*statistics(f1), *statistics(f2))
    mu_large, sigma_large = statistics(large)
    mu_small = small.mean(axis=0)
    a = (small - mu_small) / np.sqrt(len(small) - 1)
    trace_sqrt = sum_sqrt_eigenvalues(a @ sigma_large @ a.T)
    diff = mu_small - mu_large
    return float(diff.dot(diff) + np.trace(sigma_large) + np.sum(a * a) - 2 * trace_sqrt)


def _normalize_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def memorization_distance(generated: np.ndarray, real: np.ndarray) -> float:
    """Mean over generated images of the minimum over real images of 1 - |cos| (Kaggle's direction)."""
    g = np.asarray(generated, np.float64)
    r = np.asarray(real, np.float64)
    g, r = g[np.sum(g, axis=1) != 0], r[np.sum(r, axis=1) != 0]
    d = 1.0 - np.abs(_normalize_rows(g) @ _normalize_rows(r).T)
    return max(0.0, float(np.mean(np.min(d, axis=1))))  # rounding can leave -1e-17 for exact copies


def thresholded(distance: float, epsilon: float = 0.1) -> float:
    """The distance when below ``epsilon`` (memorization is penalized), else 1."""
    return distance if distance < epsilon else 1.0


def mifid(fid_value: float, distance: float, epsilon: float = 0.1) -> float:
    return fid_value / (thresholded(distance, epsilon) + 1e-14)


# ------------------------------------------------------------------------------------------- features
def features(net, names: list[str], read, batch_size: int = 32, progress: bool = True,
             task: str = "scoring") -> np.ndarray:
    """Pool features of the images with ``net`` (:class:`monet.scoring.inception.FeatureNetwork`), batched; the
    next batch is read and decoded (0-255 RGB at 256x256, the competition's size) in a thread while the network
    runs. Pillow decodes, as Kaggle's scoring code reads images (TensorFlow's JPEG decoder differs by a level here
    and there: FID moves ~0.3%)."""
    from concurrent.futures import ThreadPoolExecutor

    from tqdm import tqdm

    def batch(start):
        return np.stack([at_256(decoded(read(name))) for name in names[start:start + batch_size]])

    out = []
    live = monet_progress.Progress(task, len(names), "images") if progress else None
    with tqdm(total=len(names), desc="features", unit="img", mininterval=10, ascii=True, file=sys.stdout,
              disable=not progress) as bar, ThreadPoolExecutor(1) as pool:
        starts = range(0, len(names), batch_size)
        pending = pool.submit(batch, 0) if names else None
        for start in starts:
            images = pending.result()
            if start + batch_size < len(names):
                pending = pool.submit(batch, start + batch_size)
            out.append(net.features(images.astype(np.float32)))
            bar.update(len(out[-1]))
            if live:
                live.update(bar.n)
    return np.concatenate(out) if out else np.zeros((0, 2048), np.float32)


def at_256(image: np.ndarray) -> np.ndarray:
    """A decoded image at the competition's 256x256 (TensorFlow's bilinear resize; the identity at 256x256)."""
    if image.shape[:2] == (256, 256):
        return image
    import tensorflow as tf

    return tf.image.resize(tf.cast(image, tf.float32), [256, 256]).numpy()


def decoded(blob: bytes) -> np.ndarray:
    """An image file's bytes as Pillow decodes them: RGB uint8 (h, w, 3)."""
    return np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))


def _content_key(names: list[str], read, weights: str) -> str:
    h = hashlib.sha256()
    h.update(f"{inception.network_key(weights)}|".encode())
    for name in names:
        h.update(hashlib.sha256(read(name)).digest())
    return h.hexdigest()[:24]


def cached_features(net_factory, names, read, weights: str, cache_dir: Path | None, batch_size: int = 32,
                    log=print) -> tuple[np.ndarray, bool]:
    """Features of a set of images, cached in ``cache_dir`` under a key made of the files' content and the
    network (:func:`monet.scoring.inception.network_key`): a second evaluation against the same paintings with the same
    network reuses them; a changed file or another network never does. Returns (features, from the cache)."""
    key = _content_key(names, read, weights)
    path = Path(cache_dir) / f"{key}.npz" if cache_dir else None
    if path is not None and path.is_file():
        log(f"real-image features from the cache {path}")
        return np.load(path)["features"], True
    feats = features(net_factory(), names, read, batch_size, task="scoring real paintings")
    if path is not None:
        with files.atomic_path(path, ".npz") as tmp:
            np.savez(tmp, features=feats)  # tmp ends in .npz, so savez writes exactly there
    return feats, False


def score_features(real_feats: np.ndarray, gen_feats: np.ndarray, epsilon: float = 0.1) -> dict:
    """FID, memorization distance (raw and thresholded) and MiFID of generated against real features."""
    fid_value = fid_of_features(real_feats, gen_feats)
    distance = memorization_distance(gen_feats, real_feats)
    return {"fid": fid_value, "memorization_distance": distance,
            "memorization_distance_thresholded": thresholded(distance, epsilon), "epsilon": epsilon,
            "mifid": mifid(fid_value, distance, epsilon)}


# ------------------------------------------------------------------------------------------- evaluate
def evaluate(generated: str | Path, real: str | Path | list[str], out_dir: str | Path, weights: str = "auto",
             batch_size: int = 32, epsilon: float = 0.1, max_images: int | None = None,
             nearest_images: int = 4, cache_dir: str | Path | None = None, log=print, judge_seed: int | None = 0,
             training: list[str] | None = None) -> dict:
    """Score ``generated`` (an images.zip or a folder) against ``real`` (a folder, or a list of image paths).

    FID and MiFID on the ``weights`` network; KID on its features too when it is Kaggle's or Keras's; the judge
    (:mod:`monet.scoring.judge`: C2ST, and KID on random features) unless ``judge_seed`` is None; and, when
    ``training`` (paths of every training painting, extra ones included) differs from ``real``, how many generated
    images sit closer than ``epsilon`` to one of them. Writes ``<out_dir>/metrics.json`` and
    ``<out_dir>/evaluate/nearest.png`` (the generated images closest to a painting, beside it); returns the
    metrics.
    """
    out_dir, weights = Path(out_dir), inception.resolve(weights)
    t0 = time.time()
    gen_names, gen_read = image_source(generated, max_images)
    real_names, real_read = (sorted(map(str, real)), read_path) if isinstance(real, (list, tuple)) else image_source(real)
    if len(gen_names) < 2 or len(real_names) < 2:
        raise ValueError(f"need at least 2 generated and 2 real images, got {len(gen_names)} and {len(real_names)}")
    net = None

    def net_factory():
        nonlocal net
        if net is None:
            net = inception.network(weights)
        return net

    real_feats, from_cache = cached_features(net_factory, real_names, real_read, weights, cache_dir, batch_size,
                                             log)
    gen_feats = features(net_factory(), gen_names, gen_read, batch_size, task="scoring generated images")
    kind = inception.kind_of(weights)
    metrics = {
        **score_features(real_feats, gen_feats, epsilon),
        "generated_images": len(gen_names), "real_images": len(real_names), "generated": str(generated),
        "real": str(real) if not isinstance(real, (list, tuple)) else f"{len(real)} paintings of the run",
        "weights": weights, "network": inception.describe(weights), "network_kind": kind,
        "comparable_to_kaggle": kind == "kaggle", "real_features_cached": from_cache,
        "seconds": round(time.time() - t0, 2), "note": NOTES[kind],
    }
    if kind != "random":
        metrics["kid_inception"] = {**judge.kid(real_feats, gen_feats), "features": inception.describe(weights)}
    if judge_seed is not None:
        metrics["judge"] = judge_or_skip(real, generated, judge_seed, max_images, log)
    if training and kind == "random":
        metrics["memorization"] = {"skipped": "not measured: a random network puts every image near every painting "
                                              "(give evaluate.weights Kaggle's graph or Keras's weights)"}
    elif training:
        train_feats, _ = cached_features(net_factory, sorted(map(str, training)), read_path, weights,
                                         cache_dir, batch_size, log)
        metrics["memorization"] = too_close(gen_feats, train_feats, epsilon, len(training), weights, log)
    out_dir.mkdir(parents=True, exist_ok=True)
    files.write_json(out_dir / "metrics.json", metrics)
    if nearest_images:
        nearest_figure((gen_feats, gen_names, gen_read), (real_feats, real_names, real_read), nearest_images,
                       out_dir / "evaluate" / "nearest.png", inception.describe(weights))
    return metrics


def nearest_figure(generated: tuple, real: tuple, count: int, path: Path, network: str) -> Path:
    """The ``count`` generated images closest (1 - |cos| of their features) to a painting, beside it; ``generated``
    and ``real`` are (features, names, read)."""
    from monet.core import plots

    (gen_feats, gen_names, gen_read), (real_feats, real_names, real_read) = generated, real
    g = _normalize_rows(np.where(np.sum(gen_feats, 1, keepdims=True) != 0, gen_feats, 1e-12))
    r = _normalize_rows(np.where(np.sum(real_feats, 1, keepdims=True) != 0, real_feats, 1e-12))
    d = 1.0 - np.abs(g @ r.T)
    closest = np.argsort(d.min(axis=1))[:count]
    as_rgb = lambda blob: np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))  # noqa: E731
    rows = [[as_rgb(gen_read(gen_names[i])), as_rgb(real_read(real_names[int(d[i].argmin())]))] for i in closest]
    return plots.image_grid(rows, path, col_titles=["generated", "nearest painting"],
                            row_titles=[f"d={d[i].min():.3f}" for i in closest],
                            title="Generated images closest to a training painting\n" + network)


def judge_or_skip(real, generated, seed: int, limit: int | None, log=print) -> dict:
    """The judge's figures (:func:`monet.scoring.judge.judge`), or ``{"skipped": why}`` when the sets are too small
    for its folds: FID and MiFID stand without it."""
    try:
        return judge.judge(real, generated, seed, limit, log=log)
    except ValueError as exc:
        log(f"judge skipped: {exc}")
        return {"skipped": str(exc)}


def too_close(gen_feats: np.ndarray, train_feats: np.ndarray, epsilon: float, paintings: int, weights: str,
              log=print) -> dict:
    """How many generated images sit closer (1 - |cos| of their features) than ``epsilon`` to a training painting:
    MiFID's memorization threshold. The competition forbids submitting paintings or transformations of them, and a
    painting from an outside collection may be among those Kaggle scores against; a warning names the count."""
    g = _normalize_rows(np.where(np.sum(gen_feats, 1, keepdims=True) != 0, gen_feats, 1e-12))
    t = _normalize_rows(np.where(np.sum(train_feats, 1, keepdims=True) != 0, train_feats, 1e-12))
    nearest = (1.0 - np.abs(g @ t.T)).min(axis=1)
    close = int(np.sum(nearest < epsilon))
    out = {"closer_than_epsilon": close, "generated": len(gen_feats), "training_paintings": paintings,
           "min_distance": float(nearest.min()), "epsilon": epsilon, "network": inception.describe(weights)}
    if close:
        out["warning"] = (f"{close} of {len(gen_feats)} generated images sit closer than epsilon {epsilon} to one of "
                          f"the {paintings} training paintings (extra ones included) on this network: Kaggle's "
                          "rules forbid submitting paintings or transformations of them")
        log("WARNING: " + out["warning"])
    return out


def evaluate_run(run_dir: str | Path, cfg: dict, log=print) -> dict:
    """The evaluate stage: score the run's images.zip against ``cfg['real_dir']`` or the run's own (competition)
    paintings, with the judge when ``cfg['judge']``; when the run trained on extra paintings, also count generated
    images too close to any training painting."""
    from monet.data import fetch

    run_dir = Path(run_dir)
    zip_path = run_dir / "images.zip"
    if not zip_path.is_file():
        raise FileNotFoundError(f"{zip_path} not found: the package_submission stage writes it")
    competition = [r["path"] for r in fetch.read_manifest(run_dir, extra=False)["monet"]]
    training = [r["path"] for r in fetch.read_manifest(run_dir)["monet"]]
    real = cfg["real_dir"] or competition
    cache = Path(cfg["cache_dir"]) if cfg["cache_dir"] else run_dir.parent / ".feature-cache"
    return evaluate(zip_path, real, run_dir, cfg["weights"], cfg["batch_size"], cfg["epsilon"], cfg["max_images"],
                    cfg["nearest_images"], cache, log, cfg["judge_seed"] if cfg["judge"] else None,
                    training if len(training) > len(competition) else None)
