"""Local FID and MiFID, computed as Kaggle's published demo computes them, to estimate a run's score.

- Features: Keras's InceptionV3 without its top, global-average-pooled (2048-d), images resized to 299x299 and
  preprocessed as the network expects (x / 127.5 - 1).
- FID = |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)), the square root from SciPy; when the product is
  singular a small offset is added to the diagonals, and the real part is kept.
- Memorization distance: for each generated image, the minimum over real images of 1 - |cos| of their features
  (all-zero feature rows dropped), averaged over the generated images. Thresholded: d_thr = d if d < epsilon
  else 1. MiFID = FID / (d_thr + 1e-14).

Kaggle scores against paintings it keeps hidden, so a local figure is an estimate; with ``weights: none`` it is
not comparable to Kaggle's at all (every output says so).

Command line: ``python -m monet.scoring IMAGES --real FOLDER [--weights imagenet|FILE|none] [--out DIR]``.
"""
from __future__ import annotations

import argparse
import functools
import hashlib
import io
import json
import sys
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["fid", "statistics", "memorization_distance", "thresholded", "mifid", "inception", "image_source",
           "features", "cached_features", "evaluate", "evaluate_run", "NOT_COMPARABLE", "INCEPTION_FILE"]

INCEPTION_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
NOT_COMPARABLE = ("weights is 'none': InceptionV3 has random weights, so these FID/MiFID figures are NOT comparable "
                  "to Kaggle's (a test of the machinery only)")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


# -------------------------------------------------------------------------------------------- the maths
def statistics(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rows are samples) of a feature matrix, in float64."""
    feats = np.asarray(feats, dtype=np.float64)
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def fid(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Frechet distance between two Gaussians, with Kaggle's safeguards for a singular product."""
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    with warnings.catch_warnings():  # a singular product is expected with few images; handled just below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean, _ = linalg.sqrtm(sigma1.dot(sigma2), disp=False)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


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
@functools.lru_cache(maxsize=2)
def inception(weights: str = "imagenet"):
    """InceptionV3 without its top, average-pooled to 2048 features; weights 'imagenet', a file or 'none'.
    Built once per process and weights (with 'none', seeded: the same random network every time)."""
    import keras

    keras.utils.set_random_seed(0)
    from .weights import keras_application

    return keras_application("InceptionV3", weights, INCEPTION_FILE, "evaluate.weights", pooling="avg",
                             input_shape=(299, 299, 3))


def image_source(path: str | Path, limit: int | None = None) -> tuple[list[str], callable]:
    """(names, read(name) -> bytes) for an images.zip or a folder of JPEG/PNG images, in name order."""
    path = Path(path)
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = sorted(n for n in zf.namelist() if n.lower().endswith(IMAGE_SUFFIXES))[:limit]

        def read(name: str, _zip=[None]) -> bytes:  # noqa: B006 - one open handle per source
            if _zip[0] is None:
                _zip[0] = zipfile.ZipFile(path)
            return _zip[0].read(name)

        return names, read
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
        return [str(p) for p in files], lambda name: Path(name).read_bytes()
    raise FileNotFoundError(f"{path}: expected an images.zip or a folder of .jpg/.png images")


@functools.lru_cache(maxsize=4)
def _forward(model):
    """The model's compiled forward pass, traced once per model (not once per evaluation)."""
    import tensorflow as tf

    return tf.function(lambda x: model(x, training=False))


def features(model, names: list[str], read, batch_size: int = 32, progress: bool = True) -> np.ndarray:
    """Pool features of the images, batched; decoding overlaps the model (tf.data)."""
    import tensorflow as tf
    from tqdm import tqdm

    def generate():
        for name in names:
            yield read(name)

    ds = tf.data.Dataset.from_generator(generate, output_signature=tf.TensorSpec([], tf.string))
    ds = ds.map(lambda b: tf.image.resize(tf.cast(tf.io.decode_image(b, channels=3, expand_animations=False),
                                                  tf.float32), [299, 299]) / 127.5 - 1.0,
                num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size).prefetch(2)
    forward = _forward(model)
    out = []
    with tqdm(total=len(names), desc="features", unit="img", mininterval=10, ascii=True, file=sys.stdout,
              disable=not progress) as bar:
        for batch in ds:
            out.append(forward(batch).numpy())
            bar.update(len(out[-1]))
    return np.concatenate(out) if out else np.zeros((0, 2048), np.float32)


def _content_key(names: list[str], read, weights: str) -> str:
    h = hashlib.sha256()
    weights_id = weights
    if weights not in ("imagenet", "none") and Path(weights).is_file():
        stat = Path(weights).stat()
        weights_id = f"{Path(weights).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    h.update(f"inception-v3-avgpool-299|{weights_id}|".encode())
    for name in names:
        h.update(hashlib.sha256(read(name)).digest())
    return h.hexdigest()[:24]


def cached_features(model_factory, names, read, weights: str, cache_dir: Path | None, batch_size: int = 32,
                    log=print) -> tuple[np.ndarray, bool]:
    """Features of a set of images, cached in ``cache_dir`` under a key made of the files' content and the
    weights: a second evaluation against the same paintings reuses them, a changed file invalidates them.
    Returns (features, whether they came from the cache)."""
    key = _content_key(names, read, weights)
    path = Path(cache_dir) / f"{key}.npz" if cache_dir else None
    if path is not None and path.is_file():
        log(f"real-image features from the cache {path}")
        return np.load(path)["features"], True
    feats = features(model_factory(), names, read, batch_size)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial.npz")
        np.savez(tmp, features=feats)
        tmp.replace(path)
    return feats, False


# ------------------------------------------------------------------------------------------- evaluate
def evaluate(generated: str | Path, real: str | Path | list[str], out_dir: str | Path, weights: str = "imagenet",
             batch_size: int = 32, epsilon: float = 0.1, max_images: int | None = None,
             nearest_images: int = 4, cache_dir: str | Path | None = None, log=print) -> dict:
    """Score ``generated`` (an images.zip or a folder) against ``real`` (a folder, or a list of image paths).

    Writes ``<out_dir>/metrics.json`` and ``<out_dir>/evaluate/nearest.png`` (the generated images closest to a
    training painting, beside it); returns the metrics.
    """
    from . import plots

    out_dir = Path(out_dir)
    t0 = time.time()
    gen_names, gen_read = image_source(generated, max_images)
    if isinstance(real, (list, tuple)):
        real_names, real_read = sorted(map(str, real)), (lambda name: Path(name).read_bytes())
    else:
        real_names, real_read = image_source(real)
    if len(gen_names) < 2 or len(real_names) < 2:
        raise ValueError(f"need at least 2 generated and 2 real images, got {len(gen_names)} and {len(real_names)}")
    model = None

    def model_factory():
        nonlocal model
        if model is None:
            model = inception(weights)
        return model

    real_feats, from_cache = cached_features(model_factory, real_names, real_read, weights, cache_dir, batch_size,
                                             log)
    gen_feats = features(model_factory(), gen_names, gen_read, batch_size)
    fid_value = fid(*statistics(real_feats), *statistics(gen_feats))
    distance = memorization_distance(gen_feats, real_feats)
    metrics = {
        "fid": fid_value, "memorization_distance": distance, "memorization_distance_thresholded":
        thresholded(distance, epsilon), "epsilon": epsilon, "mifid": mifid(fid_value, distance, epsilon),
        "generated_images": len(gen_names), "real_images": len(real_names), "generated": str(generated),
        "real": str(real) if not isinstance(real, (list, tuple)) else f"{len(real)} paintings of the run",
        "weights": weights, "comparable_to_kaggle": weights != "none", "real_features_cached": from_cache,
        "seconds": round(time.time() - t0, 2),
        "note": NOT_COMPARABLE if weights == "none" else
        "An estimate: Kaggle scores against paintings it keeps hidden, not against these.",
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    if nearest_images:
        g = _normalize_rows(np.where(np.sum(gen_feats, 1, keepdims=True) != 0, gen_feats, 1e-12))
        r = _normalize_rows(np.where(np.sum(real_feats, 1, keepdims=True) != 0, real_feats, 1e-12))
        d = 1.0 - np.abs(g @ r.T)
        closest = np.argsort(d.min(axis=1))[:nearest_images]
        as_rgb = lambda blob: np.asarray(Image.open(io.BytesIO(blob)).convert("RGB"))  # noqa: E731
        rows = [[as_rgb(gen_read(gen_names[i])), as_rgb(real_read(real_names[int(d[i].argmin())]))] for i in closest]
        plots.image_grid(rows, out_dir / "evaluate" / "nearest.png", col_titles=["generated", "nearest painting"],
                         row_titles=[f"d={d[i].min():.3f}" for i in closest],
                         title="Generated images closest to a training painting"
                         + (f"\n{NOT_COMPARABLE}" if weights == "none" else ""))
    return metrics


def evaluate_run(run_dir: str | Path, cfg: dict, log=print) -> dict:
    """The evaluate stage: score the run's images.zip against ``cfg['real_dir']`` or the run's own paintings."""
    from . import data

    run_dir = Path(run_dir)
    zip_path = run_dir / "images.zip"
    if not zip_path.is_file():
        raise FileNotFoundError(f"{zip_path} not found: the package_submission stage writes it")
    real = cfg["real_dir"] or [r["path"] for r in data.read_manifest(run_dir)["monet"]]
    cache = Path(cfg["cache_dir"]) if cfg["cache_dir"] else run_dir.parent / ".feature-cache"
    return evaluate(zip_path, real, run_dir, cfg["weights"], cfg["batch_size"], cfg["epsilon"], cfg["max_images"],
                    cfg["nearest_images"], cache, log)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m monet.scoring", description=__doc__.split("\n\n")[0])
    ap.add_argument("images", help="an images.zip or a folder of generated images")
    ap.add_argument("--real", required=True, help="a folder of real paintings (e.g. DATA/monet_jpg)")
    ap.add_argument("--weights", default="imagenet", help="imagenet, a weights file, or none")
    ap.add_argument("--out", default=None, help="where metrics.json goes (default: beside the images)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--epsilon", type=float, default=0.1)
    ap.add_argument("--max-images", type=int, default=None)
    ap.add_argument("--cache", default=None, help="feature cache folder (default: none)")
    args = ap.parse_args(argv)
    out = Path(args.out) if args.out else Path(args.images).resolve().parent
    try:
        m = evaluate(args.images, args.real, out, args.weights, args.batch_size, args.epsilon, args.max_images,
                     cache_dir=args.cache)
    except Exception as exc:  # noqa: BLE001 - one clear line for the command line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"FID {m['fid']:.3f}  memorization distance {m['memorization_distance']:.4f}  MiFID {m['mifid']:.3f}  "
          f"({m['generated_images']} generated, {m['real_images']} real; {m['note']})\n{out / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
