"""Neural style transfer: the optimizer, early stopping, batching, resume, weights and the user's photos."""
import csv
import io
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from monet.core import params
from monet.core.weights import WeightsError
from monet.package import images_zip
from monet.style import painter as P, transfer as st


def nst_cfg(**overrides):
    cfg = params.defaults()["nst"]
    cfg.update(vgg_weights="none", image_size=32, batch_size=3, max_iterations=8, patience=50, plot_images=2)
    cfg.update(overrides)
    return cfg


@pytest.fixture(scope="module")
def extractor():
    import keras

    keras.utils.set_random_seed(0)
    return P.feature_extractor(P.load_vgg19("none"), params.defaults()["nst"]["style_layers"], "block5_conv2")


def images(n, seed, size=32):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def test_preprocess_round_trip():
    x = images(2, 0)
    np.testing.assert_array_equal(P.vgg_deprocess(P.vgg_preprocess(x)), x)
    assert P.vgg_preprocess(np.zeros((1, 1, 1, 3)))[0, 0, 0].tolist() == pytest.approx([-103.939, -116.779, -123.68])


def test_total_loss_decreases(extractor):
    painter = P.BatchPainter(extractor, nst_cfg(), (32, 32), 1)
    painter.load(0, images(1, 1)[0], images(1, 2)[0])
    totals = [float(painter.step()["total"][0]) for _ in range(8)]
    assert totals[-1] < totals[0]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_early_stopping_stops_on_a_plateau_and_not_before(extractor, optimizer):
    painter = P.BatchPainter(extractor, nst_cfg(learning_rate=0.0, patience=5, max_iterations=100,
                                                 optimizer=optimizer), (32, 32), 1)
    painter.load(0, images(1, 3)[0], images(1, 4)[0])
    done = [bool(painter.step()["done"][0]) for _ in range(6)]
    assert done == [False] * 5 + [True]  # iteration 1 sets the best; 5 more without improvement stop it
    assert painter.state(0)["iterations"] == 6 and not painter.active[0].numpy()
    before = painter.x.numpy().copy()
    painter.step()
    np.testing.assert_array_equal(painter.x.numpy(), before)  # a stopped image no longer changes


def test_max_iterations_stops_an_improving_image(extractor):
    painter = P.BatchPainter(extractor, nst_cfg(max_iterations=4), (32, 32), 1)
    painter.load(0, images(1, 5)[0], images(1, 6)[0])
    assert [bool(painter.step()["done"][0]) for _ in range(4)] == [False, False, False, True]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_batch_gives_each_image_what_it_gets_alone(extractor, optimizer):
    cfg = nst_cfg(max_iterations=5, optimizer=optimizer, learning_rate=10.0 if optimizer == "sgd" else 2.0)
    contents, styles = images(3, 7), images(3, 8)
    batch = P.BatchPainter(extractor, cfg, (32, 32), 3)
    for i in range(3):
        batch.load(i, contents[i], styles[i])
    for _ in range(5):
        batch.step()
    for i in range(3):
        alone = P.BatchPainter(extractor, cfg, (32, 32), 1)
        alone.load(0, contents[i], styles[i])
        for _ in range(5):
            alone.step()
        np.testing.assert_allclose(batch.best_x[i].numpy(), alone.best_x[0].numpy(), atol=0.05)
        assert np.abs(batch.result(i).astype(int) - alone.result(0)).max() <= 1


def test_unknown_layer_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown VGG19 layer\(s\) block9_conv1; valid layers: block1_conv1, "):
        P.feature_extractor(P.load_vgg19("none"), ["block9_conv1"], "block5_conv2")


def test_weights_errors(tmp_path):
    with pytest.raises(WeightsError, match="no such file"):
        P.load_vgg19(str(tmp_path / "missing.h5"))
    (tmp_path / "bad.h5").write_text("nope")
    with pytest.raises(WeightsError, match="could not load"):
        P.load_vgg19(str(tmp_path / "bad.h5"))


def test_imagenet_offline_names_both_other_ways(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty cache: Keras must download, which fails offline
    import keras

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr("keras.src.applications.vgg19.file_utils.get_file", offline)
    with pytest.raises(WeightsError, match=r"weights file|vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5") as err:
        P.load_vgg19("imagenet")
    assert "vgg_weights: none" in str(err.value) and "Kaggle" in str(err.value)


def test_weights_file_loads(tmp_path):
    import keras

    keras.utils.set_random_seed(1)
    vgg = P.load_vgg19("none")
    vgg.save_weights(str(tmp_path / "vgg.weights.h5"))
    again = P.load_vgg19(str(tmp_path / "vgg.weights.h5"))
    np.testing.assert_array_equal(vgg.get_weights()[0], again.get_weights()[0])


def test_style_pairing():
    assert st.pair_styles(["a", "b"], ["m1", "m2"], "m2", 0) == ["m2", "m2"]
    assert st.pair_styles(list("abcdef"), ["m1", "m2"], "random", 3) == st.pair_styles(list("abcdef"), ["m1", "m2"],
                                                                                          "random", 3)
    with pytest.raises(ValueError, match="'zz' is not a painting of this run.*m1"):
        st.pair_styles(["a"], ["m1"], "zz", 0)


def results(run):
    with open(run / "nst" / "results.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_paint_photos_resumes_without_repainting(small_run, tmp_path, monkeypatch):
    run = tmp_path / "run"
    shutil.copytree(small_run / "data", run / "data")
    cfg = nst_cfg(limit=5, max_iterations=3, batch_size=2)
    real_save, calls = st._save_jpeg, []

    def interrupted_save(array, path, quality=95):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(path)
        real_save(array, path, quality)

    monkeypatch.setattr(st, "_save_jpeg", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        st.paint_photos(run, cfg, seed=2, log=lambda *_: None)
    monkeypatch.setattr(st, "_save_jpeg", real_save)
    first = {p.name: p.stat().st_mtime_ns for p in (run / "nst" / "images").glob("*.jpg")}
    assert len(first) == 3 and len(results(run)) == 3

    summary = st.paint_photos(run, cfg, seed=2, log=lambda *_: None)
    assert summary["painted_now"] == 2 and summary["painted"] == 5
    assert {p.name: p.stat().st_mtime_ns for p in (run / "nst" / "images").glob("*.jpg") if p.name in first} == first
    rows = results(run)
    assert len(rows) == 5 and {r["stopped"] for r in rows} == {"max_iterations"}
    assert all(int(r["iterations"]) == 3 for r in rows)
    for name in ("losses.png", "grid.png", "summary.json"):
        assert (run / "nst" / name).is_file()
    assert not summary["real_style_transfer"] and "NOT a real style transfer" in summary["note"]
    with Image.open(next((run / "nst" / "images").glob("*.jpg"))) as im:
        assert (im.format, im.mode, im.size) == ("JPEG", "RGB", (256, 256))
    assert len(json.loads((run / "nst" / "traces.json").read_text())) == 2


def test_user_images(small_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(small_run / "data", run / "data")
    folder = tmp_path / "mine"
    folder.mkdir()
    Image.new("RGBA", (50, 30), (255, 0, 0, 128)).save(folder / "wide.png")
    Image.new("L", (40, 60), 100).save(folder / "tall.jpg")
    (folder / "broken.jpg").write_bytes(b"not an image")
    summary = st.paint_user_images(run, folder, nst_cfg(max_iterations=2, user_max_side=40), seed=0,
                                   log=lambda *_: None)
    assert [s["file"].rsplit("/", 1)[1] for s in summary["skipped"]] == ["broken.jpg"]
    sizes = {p.stem: Image.open(p).size for p in (run / "nst" / "user").glob("*.jpg")}
    assert sizes == {"wide": (40, 24), "tall": (27, 40)}  # own aspect ratio, longest side 40
    assert (run / "nst" / "user" / "grid.png").is_file()


def test_package_nst_images(small_run, tmp_path):
    from monet.package import stage as submission

    run = tmp_path / "run"
    shutil.copytree(small_run / "data", run / "data")
    st.paint_photos(run, nst_cfg(limit=2, max_iterations=1), seed=0, log=lambda *_: None)
    cfg = params.defaults()["package"]
    cfg["source"] = "nst"
    with pytest.raises(images_zip.SubmissionError, match=r"2 NST images \(38 photos have no NST image"):
        submission.package(run, cfg)
    with io.open(run / "submission" / "summary.json") as fh:
        summary = json.load(fh)
    assert summary["count"] == 0 and summary["source"] == "nst" and "NOT a real" in summary["note"]
    assert "Nothing was translated" in summary["error"] and not (run / "images.zip").exists()


def test_max_iterations_auto_gives_each_photo_its_share_of_the_budget(small_run, tmp_path, monkeypatch):
    import time

    from monet.core import budget

    run = tmp_path / "run"
    shutil.copytree(small_run / "data", run / "data")
    cfg = nst_cfg(limit=6, max_iterations="auto", min_iterations=5, patience=1000, batch_size=2)
    with pytest.raises(ValueError, match="max_iterations is 'auto' but this run has no time budget"):
        st.paint_photos(run, cfg, seed=0, log=lambda *_: None)
    monkeypatch.setenv(budget.DEADLINE_ENV, str(time.time() + 3600))
    asked = []

    def share(left, per_step, slots, waiting, reserve=0.0):
        asked.append((slots, waiting))
        return 7

    monkeypatch.setattr(st.budget, "nst_iterations_per_photo", share)
    logs = []
    summary = st.paint_photos(run, cfg, seed=0, log=logs.append)
    assert summary["painted"] == 6 and asked[0] == (2, 6)  # planned after timing the first batch, for all 6
    with open(run / "nst" / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["iterations"]) for r in rows] == [7] * 6 and {r["stopped"] for r in rows} == {"max_iterations"}
    assert any("max_iterations auto" in line for line in logs)
    monkeypatch.setattr(st.budget, "nst_iterations_per_photo", lambda *a, **k: 3)
    with pytest.raises(ValueError, match="fewer than nst.min_iterations = 5: the budget cannot paint every photo"):
        st.paint_photos(tmp_path / "run", {**cfg, "limit": 10}, seed=0, log=lambda *_: None)


def test_photos_given_fewer_than_min_iterations_later_are_counted_and_flagged(small_run, tmp_path, monkeypatch):
    """The first plan gives every photo enough; when the budget later runs short, the photos that get fewer than
    nst.min_iterations are painted that briefly, counted, and flagged loudly (they were silently given max(1, ...))."""
    import time

    from monet.core import budget

    run = tmp_path / "run"
    shutil.copytree(small_run / "data", run / "data")
    cfg = nst_cfg(limit=6, max_iterations="auto", min_iterations=5, patience=1000, batch_size=2)
    monkeypatch.setenv(budget.DEADLINE_ENV, str(time.time() + 3600))
    shares = iter([7, 7, 2])  # the first plan, one photo loaded later with 7, then the budget runs short

    monkeypatch.setattr(st.budget, "nst_iterations_per_photo", lambda *a, **k: next(shares, 2))
    logs = []
    summary = st.paint_photos(run, cfg, seed=0, log=logs.append)
    rows = results(run)
    short = [r for r in rows if int(r["iterations"]) < 5]
    assert summary["painted"] == summary["painted_now"] == 6 and len(short) == 3
    assert summary["below_min_iterations"] == 3 and "3 photo(s) were painted with fewer" in summary["warning"]
    assert sum(line.startswith("WARNING: UNDERTRAINED") for line in logs) == 1
