"""The quality judge: how far a set of images is from real Monet paintings, with no downloaded weights.

Two measures that need no pretrained network, each figure naming what it is:

- **C2ST** (classifier two-sample test; Lopez-Paz & Oquab, ICLR 2017): a small CNN trained from scratch to tell
  real paintings from the other set, k-fold (every image judged once, by a classifier that never saw it), seeded.
  The figure is the *balanced* accuracy of the held-out predictions, the mean of the two classes' recalls, with
  the classes weighted alike in training: sets of different sizes (50 paintings against 1,000 images) read 0.5
  when they cannot be told apart, never the larger class's share. 0.5: indistinguishable; 1.0: plainly different.
  Its 95% interval is the normal one of a mean of two binomial proportions, each with Agresti and Coull's
  variance (never zero width at 0 or 1). Exact copies within a set are dropped first, and a set of fewer than :data:`MIN_C2ST`
  distinct images is refused (the figure would mean nothing). Images are judged at
  :data:`C2ST_SIZE` px (downsampled by area), which keeps it at about a minute for 1,250 images on 2 CPU cores.
- **KID** (kernel inception distance; Binkowski et al., ICLR 2018): the unbiased estimate of the squared MMD
  with the cubic polynomial kernel k(a, b) = (a.b / d + 1)^3, averaged over random subsets of equal size (its
  spread over them reported), on features that carry signal: Kaggle's or Keras's Inception features where those
  weights are at hand (:mod:`monet.scoring.metrics`), and always on :func:`random_features`: a randomly
  initialised CNN (He-normal, ReLU, seeded; the random-feature papers' recipe: Naeem et al. 2020 use random
  embeddings, Lee et al. 2022 random CNNs) whose per-channel mean and standard deviation at five scales (texture
  and colour statistics, as a Gram matrix's diagonal) are standardised by the real paintings' spread.

``docs/quality.md`` records how both read on known sets (real against real: the floor; photos against paintings:
the ceiling) and between seeds. Neither replaces Kaggle's own score (Kynkaanniemi et al. 2023).
"""
from __future__ import annotations

import functools
import math
import time

import numpy as np

from monet.scoring.sources import image_source, read_path

__all__ = ["C2ST_SIZE", "MAX_IMAGES", "MIN_C2ST", "distinct", "RANDOM_FEATURES", "as_submitted", "load_images", "random_features",
           "standardised", "kid", "classifier_test", "judge_arrays", "judge", "describe"]

WIDTHS = (16, 32, 64, 128, 240)  # channels of the random network's five stages
MIN_C2ST = 20  # distinct images each set needs for C2ST: fewer give an interval too wide to read
MAX_IMAGES = 1000  # generated images judged at most (evenly spaced): about a minute against 250 paintings
C2ST_SIZE = 128  # px the judge sees (C2ST and random features): images are downsampled by area
RANDOM_FEATURES = ("random CNN features (seeded He-normal, per-channel mean and std at 5 scales, standardised by "
                   "the real paintings' spread): offline, NOT Inception, NOT Kaggle's scale")
C2ST_NOTE = ("C2ST balanced accuracy of a small CNN trained from scratch, k-fold: 0.5 = indistinguishable from the "
             "real paintings, 1.0 = plainly different")


# ------------------------------------------------------------------------------------------------ images
def load_images(source, size: int, limit: int | None = None, most: int | None = None) -> np.ndarray:
    """(n, size, size, 3) uint8 from an images.zip, a folder of JPEG/PNG images or a list of paths, in name order
    (the first ``limit``; of those at most ``most``, evenly spaced), resized by area when ``size`` is not the
    images' own."""
    import io

    from PIL import Image

    if isinstance(source, (list, tuple)):
        names, read = sorted(map(str, source))[:limit], read_path
    else:
        names, read = image_source(source, limit)
    if most and len(names) > most:
        names = [names[i] for i in np.linspace(0, len(names) - 1, most).round().astype(int)]
    out = np.empty((len(names), size, size, 3), np.uint8)
    for i, name in enumerate(names):
        image = Image.open(io.BytesIO(read(name))).convert("RGB")
        if image.size != (size, size):
            image = image.resize((size, size), Image.BOX)
        out[i] = np.asarray(image)
    return out


def as_submitted(images: np.ndarray, quality: int | None = 95, size: int = C2ST_SIZE) -> np.ndarray:
    """Generated uint8 images (n, 256, 256, 3) as the judge sees submitted ones: JPEG-encoded at ``quality`` (95:
    packaging's quality when the judge was calibrated; it now writes 75), decoded, downsampled by area to ``size``.
    Judging raw arrays against decoded JPEG paintings would let C2ST learn the compression instead of the
    painting. ``quality`` None: the images are decoded JPEGs already (ranked as packaged); only downsampled."""
    import io

    from PIL import Image

    from monet.data.images import jpeg_bytes

    out = np.empty((len(images), size, size, 3), np.uint8)
    for i, image in enumerate(images):
        image = np.asarray(image, np.uint8)
        decoded = Image.open(io.BytesIO(jpeg_bytes(image, quality))) if quality is not None else Image.fromarray(image)
        decoded = decoded.convert("RGB")
        out[i] = np.asarray(decoded if decoded.size == (size, size) else decoded.resize((size, size), Image.BOX))
    return out


# -------------------------------------------------------------------------------------- random features
def random_features(images: np.ndarray, seed: int = 0, batch_size: int = 64) -> np.ndarray:
    """(n, 966) float64 features of uint8 images from a random CNN: pixel mean and std per colour, then for five
    3x3 conv + ReLU stages (16, 32, 64, 128, 240 channels; the first at stride 1, the rest stride 2; He-normal
    weights, zero biases, drawn from ``seed``) each channel's spatial mean and standard deviation."""
    forward = feature_network(seed)
    parts = [forward(images[i:i + batch_size]).numpy() for i in range(0, len(images), batch_size)]
    return np.concatenate(parts).astype(np.float64) if parts else np.zeros((0, 6 + 2 * sum(WIDTHS)))


@functools.lru_cache(maxsize=2)
def feature_network(seed: int):
    """The compiled random network of :func:`random_features` for ``seed`` (built once per process)."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    kernels, channels = [], 3
    for w in WIDTHS:
        kernels.append(tf.constant(rng.normal(0, math.sqrt(2.0 / (9 * channels)), (3, 3, channels, w)), tf.float32))
        channels = w

    @tf.function(reduce_retracing=True)
    def forward(x):
        x = tf.cast(x, tf.float32) / 127.5 - 1.0
        stats = [tf.reduce_mean(x, [1, 2]), tf.math.reduce_std(x, [1, 2])]
        for i, k in enumerate(kernels):
            x = tf.nn.relu(tf.nn.conv2d(x, k, 1 if i == 0 else 2, "SAME"))
            stats += [tf.reduce_mean(x, [1, 2]), tf.math.reduce_std(x, [1, 2])]
        return tf.concat(stats, 1)

    return forward


def standardised(real: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both feature sets centred and scaled by the *real* set's per-feature mean and standard deviation, so every
    set judged against the same paintings is measured on the same scale (a set's own spread never shrinks its
    distance); a feature that barely varies among the paintings is scaled by a tenth of the median spread instead
    (a few dozen paintings would otherwise blow it up)."""
    mu, sd = real.mean(0), real.std(0)
    floor = 0.1 * float(np.median(sd[sd > 0])) if np.any(sd > 0) else 1.0
    sd = np.maximum(sd, floor)
    return (real - mu) / sd, (other - mu) / sd


# ---------------------------------------------------------------------------------------------------- KID
def polynomial_mmd2(a: np.ndarray, b: np.ndarray) -> float:
    """The unbiased squared MMD of two equal-size samples with k(x, y) = (x.y / d + 1)^3 (Binkowski et al.)."""
    d, m = a.shape[1], len(a)
    kaa, kbb, kab = ((a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3)
    off = lambda k: (k.sum() - np.trace(k)) / (m * (m - 1))  # noqa: E731
    return float(off(kaa) + off(kbb) - 2 * kab.mean())


def kid(real: np.ndarray, other: np.ndarray, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> dict:
    """KID of two feature sets: the mean and standard deviation over ``subsets`` draws (without replacement within
    a draw) of ``min(subset_size, half the smaller set)`` rows from each. 0 in expectation for one distribution."""
    m = min(subset_size, min(len(real), len(other)) // 2)  # at most half the smaller set: the draws differ
    if m < 2:
        raise ValueError(f"KID needs at least 4 images in each set, got {len(real)} and {len(other)}")
    rng = np.random.default_rng(seed)
    values = [polynomial_mmd2(real[rng.choice(len(real), m, replace=False)],
                              other[rng.choice(len(other), m, replace=False)]) for _ in range(subsets)]
    return {"kid": float(np.mean(values)), "kid_std": float(np.std(values)), "subsets": subsets, "subset_size": m}


# --------------------------------------------------------------------------------------------------- C2ST
def classifier(seed: int, size: int = C2ST_SIZE):
    """The C2ST's small CNN (about 60 k weights): random flips, four 3x3 stride-2 conv + leaky ReLU stages
    (16, 32, 64, 64), global average pooling, one logit (real painting vs other)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")  # whatever the run trains in: a judge is float32
    try:
        return _classifier(size, seed, keras, layers)
    finally:
        keras.mixed_precision.set_global_policy(policy)


def _classifier(size: int, seed: int, keras, layers):
    model = keras.Sequential([keras.Input((size, size, 3)), layers.Rescaling(1 / 127.5, -1.0),
                              layers.RandomFlip("horizontal", seed=seed)]
                             + [layer for w in (16, 32, 64, 64)
                                for layer in (layers.Conv2D(w, 3, strides=2, padding="same"), layers.LeakyReLU(0.2))]
                             + [layers.GlobalAveragePooling2D(), layers.Dense(1)])
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.BinaryCrossentropy(from_logits=True))
    return model


def distinct(images: np.ndarray) -> np.ndarray:
    """The images less exact copies (first kept): a copy in a training fold would teach the classifier the very
    image it is then tested on (``package.fit_count: repeat`` writes each photo's painting several times)."""
    import hashlib

    seen, keep = set(), []
    for i, image in enumerate(images):
        digest = hashlib.sha1(np.ascontiguousarray(image).tobytes()).digest()
        if digest not in seen:
            seen.add(digest)
            keep.append(i)
    return images if len(keep) == len(images) else images[keep]


def folds(n_real: int, n_other: int, k: int, seed: int) -> np.ndarray:
    """Fold of each image (real first, then other): each class shuffled and dealt round-robin, so every fold holds
    both classes in their proportion."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.permutation(np.arange(n) % k) for n in (n_real, n_other)])


def balanced_accuracy(labels: np.ndarray, predicted: np.ndarray, z: float = 1.96) -> tuple[float, float]:
    """(mean of the two classes' recalls, its standard error as a mean of two binomial proportions). Each
    proportion's variance is Agresti and Coull's (z^2/2 successes and failures added), so a class recalled
    perfectly (0 or 1) still has a spread: n images cannot prove an accuracy of exactly 1."""
    recalls, variances = [], []
    for c in (0, 1):
        mask = labels == c
        n, hits = int(mask.sum()), float(np.sum(predicted[mask] == c))
        recalls.append(hits / max(1, n))
        adjusted = (hits + z * z / 2) / (n + z * z)
        variances.append(adjusted * (1 - adjusted) / (n + z * z))
    return float(np.mean(recalls)), 0.5 * math.sqrt(sum(variances))


def classifier_test(real: np.ndarray, other: np.ndarray, k: int = 5, epochs: int = 8, seed: int = 0,
         batch_size: int = 8) -> dict:
    """The classifier two-sample test of two uint8 image sets (real paintings, other), ``k``-fold: accuracy
    (balanced), its 95% interval, the accuracy of each fold, and the null's spread (the standard error at 0.5)."""
    real, other = distinct(real), distinct(other)
    if min(len(real), len(other)) < max(k, MIN_C2ST):
        raise ValueError(f"C2ST needs at least {max(k, MIN_C2ST)} distinct images in each set to mean anything "
                         f"(its 95% interval near 0.5 would be about +-0.15 or wider), got {len(real)} and "
                         f"{len(other)}")
    x = np.concatenate([real, other])
    y = np.concatenate([np.ones(len(real)), np.zeros(len(other))]).astype(np.float32)
    fold = folds(len(real), len(other), k, seed)
    weight = {1: len(y) / (2 * len(real)), 0: len(y) / (2 * len(other))}
    predicted, per_fold = np.zeros(len(y)), []
    for f in range(k):
        train, test = fold != f, fold == f
        model = classifier(seed * 1000 + f, real.shape[1])
        model.fit(x[train], y[train], batch_size=batch_size, epochs=epochs, verbose=0, shuffle=True,
                  sample_weight=np.where(y[train] == 1, weight[1], weight[0]))
        predicted[test] = (model.predict(x[test], batch_size=128, verbose=0)[:, 0] > 0).astype(float)
        per_fold.append(balanced_accuracy(y[test], predicted[test])[0])
    accuracy, se = balanced_accuracy(y, predicted)
    null_se = 0.5 * math.sqrt(0.25 / len(real) + 0.25 / len(other))
    return {"c2st_accuracy": accuracy, "c2st_ci95": [max(0.0, accuracy - 1.96 * se), min(1.0, accuracy + 1.96 * se)],
            "c2st_fold_accuracies": [round(a, 4) for a in per_fold], "c2st_null_se": null_se,
            "c2st_z": (accuracy - 0.5) / null_se, "folds": k, "epochs": epochs,
            "c2st_distinct_images": [len(real), len(other)]}


# ------------------------------------------------------------------------------------------------- judge
def describe() -> str:
    """One line for every output: what the judge's figures are."""
    return f"{C2ST_NOTE}; KID on {RANDOM_FEATURES}"


def judge_arrays(real: np.ndarray, other: np.ndarray, seed: int = 0, c2st: bool = True, c2st_folds: int = 5,
                 c2st_epochs: int = 8, kid_subsets: int = 100) -> dict:
    """KID on random features (seconds) and, with ``c2st``, the C2ST of two uint8 image sets at the judge's
    size; with the seconds each took."""
    t0 = time.perf_counter()
    r, o = standardised(random_features(real, seed), random_features(other, seed))
    out = {**kid(r, o, kid_subsets, seed=seed), "kid_features": RANDOM_FEATURES}
    t1 = time.perf_counter()
    if c2st:
        out.update(classifier_test(real, other, c2st_folds, c2st_epochs, seed))
    out["seconds"] = {"kid": round(t1 - t0, 2), "c2st": round(time.perf_counter() - t1, 2)}
    return out


def judge(real, other, seed: int = 0, limit: int | None = None, c2st_folds: int = 5, c2st_epochs: int = 8,
          kid_subsets: int = 100, log=print) -> dict:
    """C2ST and KID (random features) of ``other`` (an images.zip, a folder or a list of paths; at most ``limit``
    images, and at most :data:`MAX_IMAGES` spread evenly over them) against the real paintings ``real``, with the
    seconds each took and what each figure is."""
    t0 = time.perf_counter()
    real_images, other_images = load_images(real, C2ST_SIZE), load_images(other, C2ST_SIZE, limit, MAX_IMAGES)
    loaded = time.perf_counter() - t0
    out = judge_arrays(real_images, other_images, seed, True, c2st_folds, c2st_epochs, kid_subsets)
    out.update({"real_images": len(real_images), "other_images": len(other_images), "seed": seed,
                "judge": describe()})
    out["seconds"]["load"] = round(loaded, 2)
    log(f"judge: C2ST {out['c2st_accuracy']:.3f} [{out['c2st_ci95'][0]:.3f}, {out['c2st_ci95'][1]:.3f}], "
        f"KID {out['kid']:.4f} +- {out['kid_std']:.4f} ({len(real_images)} real, {len(other_images)} other, "
        f"{time.perf_counter() - t0:.0f} s)")
    return out
