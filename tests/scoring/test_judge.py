"""The judge that needs no downloaded weights: KID's estimator by hand, C2ST's balance and folds, and the judge
telling different sets apart but not two draws of one; on the real sample, a short training moves it."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from monet.scoring import judge


def test_polynomial_mmd2_is_the_unbiased_estimate_written_out():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 3)), rng.normal(1.0, 1.0, size=(5, 3))
    k = lambda x, y: (x @ y / 3 + 1) ** 3  # noqa: E731
    m = 5
    xx = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(b[i], b[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(a[i], b[j]) for i in range(m) for j in range(m)) / (m * m)
    assert judge.polynomial_mmd2(a, b) == pytest.approx(xx + yy - 2 * xy, rel=1e-12)


def test_kid_is_near_zero_for_one_distribution_and_large_for_two():
    rng = np.random.default_rng(1)
    same = judge.kid(rng.normal(size=(400, 20)), rng.normal(size=(400, 20)), subsets=20)
    apart = judge.kid(rng.normal(size=(400, 20)), rng.normal(0.5, 1.0, size=(400, 20)), subsets=20)
    assert abs(same["kid"]) < 3 * same["kid_std"] + 1e-3
    assert apart["kid"] > 10 * same["kid_std"] and apart["kid"] > 0.05
    assert same["subset_size"] == 200  # at most half the smaller set: the draws differ, the spread means something
    with pytest.raises(ValueError, match="at least 4"):
        judge.kid(np.zeros((3, 2)), np.zeros((10, 2)))


def test_balanced_accuracy_does_not_reward_the_larger_class():
    labels = np.r_[np.ones(50), np.zeros(1000)]
    always_other = np.zeros(1050)
    accuracy, _ = judge.balanced_accuracy(labels, always_other)
    assert accuracy == 0.5  # plain accuracy would read 0.95
    perfect, se = judge.balanced_accuracy(labels, labels)
    assert perfect == 1.0 and 0.01 < se < 0.03  # 50 paintings cannot prove exactly 1: Agresti-Coull's spread, not zero
    small, se_small = judge.balanced_accuracy(np.r_[np.ones(20), np.zeros(20)], np.r_[np.ones(20), np.zeros(20)])
    assert small == 1.0 and se_small > se


def test_copies_are_dropped_before_the_folds_and_tiny_sets_refused():
    """A copy in a training fold would teach the classifier the image it is tested on: exact copies go first;
    fewer than MIN_C2ST distinct images in a set are refused, naming the counts."""
    real = _textures(30, rough=False, seed=0)
    repeated = np.concatenate([_textures(10, rough=True, seed=1)] * 7)  # fit_count: repeat's 7 copies
    assert len(judge.distinct(repeated)) == 10 and len(judge.distinct(real)) == 30
    with pytest.raises(ValueError, match="at least 20 distinct images in each set.*got 30 and 10"):
        judge.classifier_test(real, repeated)


def test_the_classifier_is_float32_under_a_float16_run():
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = judge.classifier(0, 32)
        assert all(layer.compute_dtype == "float32" for layer in model.layers)
        assert keras.mixed_precision.global_policy().name == "mixed_float16"  # the run's policy is left as it was
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_folds_deal_both_classes_into_every_fold():
    fold = judge.folds(12, 100, 5, seed=3)
    for f in range(5):
        assert 2 <= np.sum(fold[:12] == f) <= 3 and 19 <= np.sum(fold[12:] == f) <= 21
    assert not np.array_equal(fold, judge.folds(12, 100, 5, seed=4))


def _textures(n: int, rough: bool, seed: int) -> np.ndarray:
    """Smooth colour gradients, or the same with strong pixel noise: sets plainly different to the eye."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, judge.C2ST_SIZE)[None, :, None]
    out = []
    for _ in range(n):
        base = 60 + 120 * ramp * rng.uniform(0.5, 1.0, 3) + rng.uniform(0, 40, 3)
        image = np.broadcast_to(base, (judge.C2ST_SIZE, judge.C2ST_SIZE, 3)).copy()
        if rough:
            image += rng.normal(0, 40, image.shape)
        out.append(np.clip(image, 0, 255).astype(np.uint8))
    return np.stack(out)


def test_images_are_judged_as_submitted_with_one_jpeg_encoding():
    """Raw translations are JPEG-encoded once before the judge sees them; images already decoded from JPEG (ranked
    as packaged) are only downsampled, not encoded a second time."""
    images = np.random.default_rng(0).integers(0, 256, (2, 256, 256, 3), dtype=np.uint8)
    box = np.stack([np.asarray(Image.fromarray(im).resize((64, 64), Image.BOX)) for im in images])
    assert np.array_equal(judge.as_submitted(images, quality=None, size=64), box)
    encoded = judge.as_submitted(images, size=64).astype(int)
    assert encoded.shape == box.shape and np.abs(encoded - box).mean() > 1  # q95 changed noise


def test_judge_tells_different_sets_apart_and_not_two_draws_of_one():
    real = _textures(40, rough=False, seed=0)
    apart = judge.judge_arrays(real, _textures(60, rough=True, seed=1), seed=0, c2st_epochs=6)
    same = judge.judge_arrays(real, _textures(60, rough=False, seed=2), seed=0, c2st_epochs=6)
    assert apart["c2st_accuracy"] >= 0.9 and apart["c2st_ci95"][0] > 0.5
    assert same["c2st_accuracy"] < 0.75 and same["c2st_ci95"][0] < 0.6
    assert apart["kid"] > 20 * max(same["kid"], same["kid_std"])


def test_judge_reads_folders_and_zips_and_names_what_it_measures(tmp_path):
    import zipfile

    real_dir = tmp_path / "real"
    real_dir.mkdir()
    for i, image in enumerate(_textures(22, rough=False, seed=5)):
        Image.fromarray(image).resize((256, 256)).save(real_dir / f"r{i}.jpg")
    with zipfile.ZipFile(tmp_path / "images.zip", "w") as zf:
        for i, image in enumerate(_textures(25, rough=True, seed=6)):
            path = tmp_path / f"g{i}.jpg"
            Image.fromarray(image).resize((256, 256)).save(path)
            zf.write(path, f"g{i}.jpg")
    out = judge.judge(real_dir, tmp_path / "images.zip", seed=0, limit=20, c2st_epochs=2, kid_subsets=5,
                      log=lambda _: None)
    assert out["real_images"] == 22 and out["other_images"] == 20
    assert "NOT Inception" in out["kid_features"] and "C2ST" in out["judge"]
    assert set(out["seconds"]) == {"load", "kid", "c2st"}
    json.dumps(out)  # metrics.json can hold it


SAMPLE = os.environ.get("MONET_DATA_DIR")


@pytest.mark.skipif(not SAMPLE, reason="MONET_DATA_DIR names no data folder")
def test_random_features_separate_real_photos_from_real_paintings():
    """Where a random InceptionV3 gives FID ~0 between photos and paintings, the judge's random features do not."""
    paintings = judge.load_images(sorted(Path(SAMPLE, "monet_jpg").glob("*.jpg")), judge.C2ST_SIZE)
    photos = judge.load_images(sorted(Path(SAMPLE, "photo_jpg").glob("*.jpg"))[:60], judge.C2ST_SIZE)
    halves = judge.judge_arrays(paintings[::2], paintings[1::2], c2st=False, kid_subsets=30)
    apart = judge.judge_arrays(paintings, photos, c2st=False, kid_subsets=30)
    assert apart["kid"] > 0.5 and apart["kid"] > 10 * max(halves["kid"], halves["kid_std"])


STEPS, TRAIN_SIZE = 200, 96


@pytest.mark.slow
@pytest.mark.skipif(not SAMPLE, reason="MONET_DATA_DIR names no data folder")
def test_a_short_training_on_real_data_moves_the_judge_toward_the_paintings():
    """A tiny CycleGAN, STEPS steps on random TRAIN_SIZE-px crops of the real sample (cyclegan.train_size; the
    networks are fully convolutional), its translations judged at the judge's 128 px: they move (KID on random
    features) from the untrained generator's toward the paintings. A recipe that does not learn at all fails here."""
    import tensorflow as tf

    from monet.data import tfdata
    from monet.gan.cyclegan import CycleGAN, make_train_step
    from monet.models.architecture import discriminator_args, generator_args

    tf.keras.utils.set_random_seed(0)
    photos = [str(p) for p in sorted(Path(SAMPLE, "photo_jpg").glob("*.jpg"))]
    monets = [str(p) for p in sorted(Path(SAMPLE, "monet_jpg").glob("*.jpg"))]
    args = {"generator": generator_args("resnet", 8, 2, 2),
            "discriminator": discriminator_args(3, 8, 4, 2, "leaky_relu", "instance", 4, 1, "valid")}
    m = CycleGAN(args, 2e-3)
    step = make_train_step(m)
    paintings = judge.load_images(monets, judge.C2ST_SIZE)
    small = lambda x: tf.image.resize(x, [judge.C2ST_SIZE] * 2, "area")  # noqa: E731
    probe = np.concatenate([small(x).numpy() for x in tfdata.photo_batches(photos[:80], 16)])

    def kid_now():
        painted = np.round((m.gen_g(probe, training=False).numpy() + 1) * 127.5).clip(0, 255).astype(np.uint8)
        return judge.judge_arrays(paintings, painted, c2st=False, kid_subsets=30)["kid"]

    before = kid_now()
    for g, (x, y) in enumerate(tfdata.paired_epoch(photos, monets, True, 0, STEPS, 1, seed=0, crop=TRAIN_SIZE)):
        step(x, y, tf.constant(g, tf.int64))
    after = kid_now()
    print(f"KID before {before:.3f}, after {after:.3f} ({after / before:.2f})")
    assert after < 0.7 * before, (before, after)


def test_the_scale_is_the_paintings_so_a_wider_worse_set_never_reads_closer():
    """Scaled by the pooled spread, a set far off and widely spread shrank its own distance (KID 2.7 against 7.2
    for a plainly closer set); scaled by the paintings alone it cannot."""
    rng = np.random.default_rng(0)
    real = rng.normal(size=(300, 50))
    closer, worse = rng.normal(1.0, 1.0, size=(300, 50)), rng.normal(3.0, 6.0, size=(300, 50))
    kid_closer = judge.kid(*judge.standardised(real, closer), subsets=10)["kid"]
    kid_worse = judge.kid(*judge.standardised(real, worse), subsets=10)["kid"]
    assert kid_worse > 10 * kid_closer
    flat = np.c_[real[:, :1], np.zeros((300, 1))]  # a feature that never varies among the paintings
    a, b = judge.standardised(flat, np.c_[closer[:, :1], np.ones((300, 1))])
    assert np.isfinite(b).all() and np.abs(b[:, 1]).max() < 100


def test_too_few_images_skip_the_judge_not_the_score():
    from monet.scoring import metrics

    out = metrics.judge_or_skip(_tiny_folder(3, "a"), _tiny_folder(3, "b"), 0, None, log=lambda _: None)
    assert "at least 4 images" in out["skipped"]
    out = metrics.judge_or_skip(_tiny_folder(4, "c"), _tiny_folder(4, "d"), 0, None, log=lambda _: None)
    assert "C2ST needs at least 20 distinct images in each set" in out["skipped"]


def _tiny_folder(n: int, name: str):
    import tempfile

    folder = Path(tempfile.mkdtemp()) / name
    folder.mkdir()
    for i, image in enumerate(_textures(n, rough=False, seed=n)):
        Image.fromarray(image).save(folder / f"{i}.png")
    return folder


def test_too_close_counts_and_warns():
    from monet.scoring import metrics

    rng = np.random.default_rng(0)
    train = rng.normal(size=(10, 8))
    generated = np.r_[train[:3] * 1.01, rng.normal(size=(5, 8))]
    lines = []
    out = metrics.too_close(generated, train, 0.01, 10, "none", lines.append)
    assert out["closer_than_epsilon"] == 3 and "3 of 8" in out["warning"] and lines
