"""FID, the memorization distance and MiFID as Kaggle computes them; the feature cache; comparing runs."""
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from monet import cli
from monet.package import images_zip
from monet.scoring import metrics as S, sources


def test_fid_of_a_set_with_itself_is_zero():
    feats = np.random.default_rng(0).normal(size=(500, 8))
    mu, sigma = S.statistics(feats)
    assert abs(S.fid(mu, sigma, mu, sigma)) < 1e-6


def test_fid_of_two_gaussian_samples_matches_the_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = np.array([0.0, 1.0, -1.0, 2.0]), np.array([0.5, 1.0, 0.0, 2.0])
    s1, s2 = np.array([1.0, 2.0, 0.5, 1.0]), np.array([1.5, 1.0, 0.5, 2.0])
    a = rng.normal(mu1, s1, size=(200_000, 4))
    b = rng.normal(mu2, s2, size=(200_000, 4))
    closed = np.sum((mu1 - mu2) ** 2) + np.sum((s1 - s2) ** 2)  # diagonal covariances: sum (s1 - s2)^2
    assert S.fid(*S.statistics(a), *S.statistics(b)) == pytest.approx(closed, rel=0.02)


def test_singular_covariances_give_a_finite_distance():
    feats = np.random.default_rng(2).normal(size=(3, 10))  # 3 samples in 10 dims: singular covariance
    value = S.fid(*S.statistics(feats), *S.statistics(feats + 1.0))
    assert np.isfinite(value) and isinstance(value, float) and value == pytest.approx(10.0, abs=1e-6)  # a shift


def test_the_trace_term_is_scipys_sqrtm_of_the_product():
    """Kaggle's code takes Tr(sqrtm(sigma1 sigma2)) from SciPy; the symmetric route gives the same value."""
    from scipy import linalg

    rng = np.random.default_rng(5)
    for n, dims in ((200, 8), (50, 64)):
        s1 = np.cov(rng.normal(size=(n, dims)) @ rng.normal(size=(dims, dims)), rowvar=False)
        s2 = np.cov(rng.normal(size=(n, dims)) @ rng.normal(size=(dims, dims)), rowvar=False)
        expected = np.trace(linalg.sqrtm(s1 @ s2)).real
        assert S.trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-7)


def test_fid_of_features_takes_the_small_sets_route_to_the_same_value(monkeypatch):
    """No more samples than features (the paintings against Inception's 2,048): the n x n route, never the two d x d
    eigendecompositions, gives the value of the d x d one, in either order, and SciPy's where the other set's
    covariance is full rank; with more samples than features in both sets it is the d x d route."""
    from scipy import linalg

    rng = np.random.default_rng(6)
    mix = rng.normal(size=(40, 40))
    for n1, n2 in ((12, 30), (30, 12), (12, 200), (300, 25), (40, 60), (41, 60)):
        f1 = rng.normal(size=(n1, 40)) @ mix
        f2 = rng.normal(0.3, 1.5, size=(n2, 40)) @ mix
        (m1, s1), (m2, s2) = S.statistics(f1), S.statistics(f2)
        expected = S.fid(m1, s1, m2, s2)
        with monkeypatch.context() as patch:
            if min(n1, n2) <= 40:  # the d x d route would raise
                patch.setattr(S, "trace_sqrt_product", lambda *_: pytest.fail("the d x d route was taken"))
            value = S.fid_of_features(f1, f2)
        assert value == pytest.approx(expected, rel=1e-7)  # round-off: a few 1e-8 when singular
        if max(n1, n2) > 40:
            sqrtm_trace = np.trace(linalg.sqrtm(s1 @ s2)).real
            assert value == pytest.approx(np.sum((m1 - m2) ** 2) + np.trace(s1 + s2) - 2 * sqrtm_trace, rel=1e-7)
    assert S.fid_of_features(f1[:, 0], f2[:, 0]) == pytest.approx(S.fid(*S.statistics(f1[:, 0]),
                                                                         *S.statistics(f2[:, 0])))  # 1-D: one feature


def test_memorized_copies_give_a_tiny_distance_and_a_huge_mifid():
    real = np.random.default_rng(3).uniform(0.1, 1, size=(50, 16))
    generated = real[:20] * 3.0  # the same directions: copies
    d = S.memorization_distance(generated, real)
    assert d < 1e-9
    assert S.mifid(10.0, d) > 1e9


def test_the_minimum_runs_in_kaggles_direction():
    """For each generated image its nearest real one, averaged over generated images (not the other way)."""
    real = np.array([[1.0, 0.0]])
    generated = np.array([[1.0, 0.0], [0.0, 1.0]])  # a copy of the real image, and an orthogonal one
    assert S.memorization_distance(generated, real) == pytest.approx(0.5)  # (0 + 1) / 2
    assert S.memorization_distance(real, generated) == pytest.approx(0.0)  # the other direction differs


def test_all_zero_rows_are_dropped_and_sign_is_ignored():
    real = np.array([[1.0, 1.0], [0.0, 0.0]])
    assert S.memorization_distance(np.array([[-1.0, -1.0]]), real) == pytest.approx(0.0)


def test_threshold():
    assert S.thresholded(0.05) == 0.05 and S.thresholded(0.1) == 1.0 and S.thresholded(0.5, epsilon=0.6) == 0.5
    assert S.mifid(20.0, 0.3) == pytest.approx(20.0)
    assert S.mifid(20.0, 0.05) == pytest.approx(400.0)


@pytest.fixture()
def images(tmp_path):
    return noise_images(tmp_path, 6)


@pytest.fixture()
def judged_images(tmp_path):
    """Enough images for the judge's C2ST (20 distinct in each set)."""
    return noise_images(tmp_path, 20)


def noise_images(tmp_path, n: int):
    rng = np.random.default_rng(4)
    real, gen = tmp_path / "real", tmp_path / "gen"
    for folder in (real, gen):
        folder.mkdir()
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(real / f"r{i}.jpg")
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(gen / f"g{i}.png")
    return real, gen


@pytest.mark.slow
def test_evaluate_writes_metrics_and_reuses_then_invalidates_the_cache(images, tmp_path):
    real, gen = images
    cache = tmp_path / "cache"
    m = S.evaluate(gen, real, tmp_path / "run", weights="none", batch_size=4, cache_dir=cache, log=lambda *_: None,
                   judge_seed=None)
    assert m["generated_images"] == 6 and m["real_images"] == 6 and not m["real_features_cached"]
    assert np.isfinite(m["fid"]) and not m["comparable_to_kaggle"] and "NOT comparable" in m["note"]
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["mifid"] == m["mifid"]
    assert (tmp_path / "run" / "evaluate" / "nearest.png").is_file()
    again = S.evaluate(gen, real, tmp_path / "run", weights="none", batch_size=4, cache_dir=cache,
                       log=lambda *_: None, judge_seed=None)
    assert again["real_features_cached"] and again["fid"] == pytest.approx(m["fid"], rel=1e-5)
    Image.new("RGB", (64, 64), (1, 2, 3)).save(real / "r0.jpg")  # a painting changed: the cache is stale
    third = S.evaluate(gen, real, tmp_path / "run", weights="none", batch_size=4, cache_dir=cache,
                       log=lambda *_: None, judge_seed=None)
    assert not third["real_features_cached"] and len(list(cache.glob("*.npz"))) == 2


def test_evaluate_identical_sets_scores_zero_and_memorized(images, tmp_path):
    real, _ = images
    m = S.evaluate(real, real, tmp_path / "run", weights="none", batch_size=3, nearest_images=0, log=lambda *_: None,
                   judge_seed=None, training=[str(p) for p in real.glob("*.jpg")])
    assert abs(m["fid"]) < 1e-2 and 0 <= m["memorization_distance"] < 1e-6
    assert "not measured" in m["memorization"]["skipped"]  # a random network: every image near every painting
    assert m["memorization_distance_thresholded"] == m["memorization_distance"]  # below epsilon: penalized


def test_scoring_command_line_without_any_scoring_network_still_judges(judged_images, tmp_path, capsys):
    real, gen = judged_images
    missing = tmp_path / "nowhere" / "classify_image_graph_def.pb"
    assert cli.main(["score", str(gen), "--real", str(real), "--weights", str(missing), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "FID/MiFID not computed" in out and "judge: C2ST accuracy" in out
    saved = json.loads((tmp_path / "judge.json").read_text())
    assert 0 <= saved["judge"]["c2st_accuracy"] <= 1 and not (tmp_path / "metrics.json").exists()
    assert cli.main(["score", str(gen), "--real", str(real), "--weights", str(missing), "--no-judge"]) == 2


def test_scoring_command_line(judged_images, tmp_path, capsys):
    real, gen = judged_images
    assert cli.main(["score", str(gen), "--real", str(real), "--weights", "none", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "MiFID" in out and "judge: C2ST accuracy" in out and "random" in out  # the judge, no downloaded weights
    saved = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert 0 <= saved["judge"]["c2st_accuracy"] <= 1 and "kid_inception" not in saved  # random Inception: no KID on it
    assert cli.main(["score", str(tmp_path / "nothing"), "--real", str(real), "--weights", "none"]) == 2


@pytest.mark.slow
def test_compare_two_small_finished_runs(small_run, tmp_path):
    from monet.core import params
    from monet.core.runs import write_run_json
    from monet.gan import training
    from monet.package import stage as submission
    from monet.scoring import compare

    from tests.conftest import tiny_cyclegan

    runs = []
    for name, lam in (("lam10", 10.0), ("lam5", 5.0)):
        run = tmp_path / name
        shutil.copytree(small_run / "data", run / "data")
        cfg = tiny_cyclegan(lambda_cycle=lam, steps_per_epoch=2)
        training.train(run, cfg, seed=1, log=lambda *_: None)
        try:
            submission.package(run, {**params.defaults()["package"], "fit_count": "keep"})
        except images_zip.SubmissionError:
            pass  # 40 photos: the rejected zip is kept, and the strip can still show it
        p = params.defaults()
        p["cyclegan"] = cfg
        write_run_json(run, {"params": p, "stages": {"cyclegan_train": {"status": "done", "seconds": 3.0},
                                                     "package_submission": {"status": "done", "seconds": 2.0}}})
        runs.append(run)
    result = compare.compare(runs, tmp_path / "cmp", photos=2)
    assert result["header"] == ["", "lam10", "lam5"]
    rows = {row[0]: row[1:] for row in result["rows"]}
    assert rows["cyclegan.lambda_cycle"] == ["10.0", "5.0"] and rows["images"] == ["40", "40"]
    md = (tmp_path / "cmp" / "compare.md").read_text()
    assert "| cyclegan.lambda_cycle | 10.0 | 5.0 |" in md and "losses.png" in md and "strip.png" in md
    assert (tmp_path / "cmp" / "compare.html").read_text().count("<tr>") == 1 + len(result["rows"])
    assert (tmp_path / "cmp" / "losses.png").is_file() and (tmp_path / "cmp" / "strip.png").is_file()


@pytest.fixture()
def graph(tmp_path):
    from tests.kaggle_graph import write_graph

    path = tmp_path / "classify_image_graph_def.pb"
    return path, write_graph(path)


def test_kaggles_graph_is_fed_in_batches_through_expanddims_and_read_at_pool_3(graph, images):
    import tensorflow as tf

    from monet.scoring import inception

    from tests.kaggle_graph import expected_features

    path, weights = graph
    real, _ = images
    net = inception.network(str(path))
    assert net.kind == "kaggle" and "Kaggle's scale" in net.description and net.key.startswith("graph:")
    names, read = sources.image_source(real)
    feats = S.features(net, names, read, batch_size=4, progress=False)  # batches of 4 and 2
    pixels = np.stack([tf.image.resize(tf.cast(S.decoded(read(n)), tf.float32), [256, 256])
                       .numpy() for n in names])
    assert feats.shape == (6, 2048)
    np.testing.assert_allclose(feats, expected_features(pixels, weights), rtol=1e-4, atol=1e-5)
    with pytest.raises(Exception, match="no ExpandDims, pool_3 node|not a TensorFlow GraphDef"):
        bad = path.with_name("other.pb")
        bad.write_bytes(b"not a graph")
        inception.network(str(bad))


def test_the_cache_never_mixes_two_networks(graph, images, tmp_path):
    from monet.scoring import inception

    from tests.kaggle_graph import write_graph

    path, _ = graph
    other = tmp_path / "other" / "classify_image_graph_def.pb"  # the same name, another network
    other.parent.mkdir()
    write_graph(other, seed=1)
    real, gen = images
    cache = tmp_path / "cache"
    quiet = lambda *_: None  # noqa: E731
    first = S.evaluate(gen, real, tmp_path / "a", weights=str(path), batch_size=4, cache_dir=cache, log=quiet,
                       judge_seed=None)
    second = S.evaluate(gen, real, tmp_path / "b", weights=str(other), batch_size=4, cache_dir=cache, log=quiet,
                       judge_seed=None)
    assert not first["real_features_cached"] and not second["real_features_cached"]
    assert len(list(cache.glob("*.npz"))) == 2 and first["fid"] != pytest.approx(second["fid"])
    again = S.evaluate(gen, real, tmp_path / "c", weights=str(path), batch_size=4, cache_dir=cache, log=quiet,
                       judge_seed=None)
    assert again["real_features_cached"] and again["fid"] == pytest.approx(first["fid"], rel=1e-6)
    assert first["comparable_to_kaggle"] and first["network_kind"] == "kaggle" and "Kaggle's network" in first["note"]
    keys = {inception.network_key(w) for w in (str(path), str(other), "none", "imagenet")}
    assert len(keys) == 4  # two graphs, random and ImageNet InceptionV3: four cache keys


def test_scoring_command_line_with_kaggles_graph(graph, images, tmp_path, capsys):
    path, _ = graph
    real, gen = images
    assert cli.main(["score", str(gen), "--real", str(real), "--weights", str(path), "--out", str(tmp_path / "o"),
                     "--no-judge"]) == 0
    out = capsys.readouterr().out
    assert "MiFID" in out and "network: Kaggle's network" in out and "KID" in out and "on the same network" in out
    saved = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert saved["network_kind"] == "kaggle" and "Kaggle's network" in saved["kid_inception"]["features"]
