"""Checkpoint selection ranked by MiFID or by the judge (score_by), and the judge's figures in the scorer."""
import csv

import numpy as np
import pytest

from monet.gan import selection


def _tiny_generator():
    import keras

    from monet.models import networks

    keras.utils.set_random_seed(0)
    return networks.generator(kind="resnet", filters=1, down_blocks=1, res_blocks=0)


@pytest.mark.parametrize("by, chosen", [("mifid", "epoch_0001"), ("kid", "epoch_0002"), ("c2st", "epoch_0003")])
def test_score_by_ranks_by_its_own_figure(tmp_path, by, chosen):
    figures = {"epoch_0001": {"fid": 1.0, "memorization_distance": 0.5, "mifid": 2.0, "kid": 0.3, "c2st_accuracy": 0.9},
               "epoch_0002": {"fid": 2.0, "memorization_distance": 0.5, "mifid": 4.0, "kid": 0.1, "c2st_accuracy": 0.8},
               "epoch_0003": {"fid": 3.0, "memorization_distance": 0.5, "mifid": 6.0, "kid": 0.2, "c2st_accuracy": 0.6}}
    candidates = [({"epoch": i, "global_step": 10 * i}, tmp_path / "checkpoints" / f"epoch_000{i}") for i in (3, 2, 1)]
    generator = _tiny_generator()
    result = selection.score_checkpoints(candidates, lambda folder: generator, lambda g, folder: figures[folder.name],
                                         tmp_path, "a network", log=lambda *_: None, by=by)
    assert result["chosen"]["checkpoint"] == chosen
    assert selection.RANKS[by] in result["note"]
    with open(tmp_path / "checkpoint_scores.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["checkpoint"]: float(r["kid"]) for r in rows} == {k: v["kid"] for k, v in figures.items()}
    assert (tmp_path / "checkpoint_scores.png").is_file() and (tmp_path / "generator.keras").is_file()


def test_a_checkpoint_that_copies_the_paintings_never_wins_on_the_judges_figure(tmp_path):
    """KID and C2ST reward a generator that copies training paintings; MiFID's memorization term does not: by kid
    or c2st, a checkpoint closer than epsilon to the paintings ranks last, and the CSV says why."""
    copy = {"fid": 1.0, "memorization_distance": 0.01, "memorization_distance_thresholded": 0.01, "mifid": 100.0,
            "kid": 0.0, "c2st_accuracy": 0.5}
    fair = {"fid": 2.0, "memorization_distance": 0.5, "memorization_distance_thresholded": 1.0, "mifid": 2.0,
            "kid": 0.1, "c2st_accuracy": 0.7}
    figures = {"epoch_0001": fair, "epoch_0002": copy}
    candidates = [({"epoch": i, "global_step": 10 * i}, tmp_path / "checkpoints" / f"epoch_000{i}") for i in (2, 1)]
    generator = _tiny_generator()
    for by in ("kid", "c2st", "mifid"):
        result = selection.score_checkpoints(candidates, lambda folder: generator,
                                             lambda g, folder: figures[folder.name], tmp_path, "a network",
                                             log=lambda *_: None, by=by)
        assert result["chosen"]["checkpoint"] == "epoch_0001", by
    with open(tmp_path / "checkpoint_scores.csv") as fh:
        assert {r["checkpoint"]: r["too_close"] for r in csv.DictReader(fh)} == {"epoch_0001": "False",
                                                                                 "epoch_0002": "True"}


@pytest.mark.slow
def test_the_scorer_adds_the_judges_figure_when_asked(small_run, monkeypatch):
    """Its images are judged as submitted: JPEG-encoded once (by the judge, or before it when ranked as packaged)."""
    from monet.data import fetch
    from monet.package.postprocess import AsPackaged, Postprocess
    from monet.scoring import judge

    qualities = []
    as_submitted = judge.as_submitted
    monkeypatch.setattr(judge, "as_submitted", lambda x, quality=95: qualities.append(quality) or as_submitted(
        x, quality))
    photos = [r["path"] for r in fetch.read_manifest(small_run)["photo"]][:12]
    generator = _tiny_generator()
    by_kid = selection.feature_scorer(small_run, photos, "none", batch_size=6, log=lambda *_: None, score_by="kid")(
        generator, None)
    assert np.isfinite(by_kid["kid"]) and "c2st_accuracy" not in by_kid and np.isfinite(by_kid["mifid"])
    packaged = AsPackaged(Postprocess(), 75)
    as_jpeg = selection.feature_scorer(small_run, photos, "none", batch_size=6, log=lambda *_: None, score_by="kid",
                                       post=packaged)(generator, None)
    assert np.isfinite(as_jpeg["kid"]) and qualities == [95, None]
    plain = selection.feature_scorer(small_run, photos, "none", batch_size=6, log=lambda *_: None)(generator, None)
    assert "kid" not in plain and plain["mifid"] == pytest.approx(by_kid["mifid"], rel=1e-5)


def test_checkpoints_are_ranked_through_the_package_filters_the_run_sets(small_run, tmp_path, monkeypatch):
    import json
    import shutil

    import keras
    import tensorflow as tf

    from monet.core import params
    from monet.data import fetch
    from monet.scoring import inception

    class MeanColours:  # a stand-in feature network: each image's mean and spread per channel
        kind = "random"

        def features(self, x):
            x = tf.cast(x, tf.float32)
            return tf.concat([tf.reduce_mean(x, [1, 2]), tf.math.reduce_std(x, [1, 2])], 1).numpy()

    monkeypatch.setattr(inception, "network", lambda weights: MeanColours())
    run = tmp_path / "run"  # a copy: the paintings' stand-in features are cached beside it, not beside small_run
    shutil.copytree(small_run, run)
    photos = [r["path"] for r in fetch.read_manifest(run)["photo"]][:12]
    generator = _tiny_generator()
    seen = []

    def brighten(image):  # a stand-in filter: it is given each of the generator's uint8 translations
        seen.append((image.shape, image.dtype))
        return np.minimum(image.astype(np.int32) + 40, 255).astype(np.uint8)

    quiet = lambda *_: None  # noqa: E731
    filtered = selection.feature_scorer(run, photos, "none", batch_size=6, log=quiet, post=brighten)(generator, None)
    assert seen == [((256, 256, 3), np.uint8)] * 12
    # the same as a generator whose output is 40 levels brighter (its tanh range stays within 0-255 before that)
    plain = selection.feature_scorer(run, photos, "none", batch_size=6, log=quiet)
    brighter = keras.Sequential([generator, keras.layers.Lambda(lambda y: y + 40 / 127.5)])
    assert filtered["fid"] == pytest.approx(plain(brighter, None)["fid"], rel=1e-4)
    assert abs(filtered["fid"] - plain(generator, None)["fid"]) > 100
    # the filters and the JPEG quality a run packages with are the ones it ranks with
    cfg = params.validate({"package": {"mode_filter": 5, "colour_match": "histogram", "jpeg_quality": 80, "grain": 6}})
    (run / "run.json").write_text(json.dumps({"params": cfg}))
    packaged = selection.as_packaged(run)
    assert (packaged.post.mode_size, packaged.post.how, packaged.post.target is not None) == (5, "histogram", True)
    assert packaged.quality == 80 and packaged.describe_short() == "mode 5x5, histogram, grain sd 6, JPEG q80"
    (run / "run.json").write_text(json.dumps({"params": params.validate({"package": {"grain": 2.5}})}))
    assert selection.as_packaged(run).describe_short() == "grain sd 2.5, JPEG q75"  # grain alone, no palette read
    (run / "run.json").write_text(json.dumps({"params": params.validate({})}))
    assert not selection.as_packaged(run).post and selection.as_packaged(run).describe_short() == "JPEG q75"


def test_restart_from_a_runs_best_checkpoint_with_its_own_learning_rate(small_run, tmp_path):
    """A run folder's best scored checkpoint is loaded (weights and Adam's state) and trained with the new run's
    learning rate from step 0: with a rate of 0 the packaged generator is that checkpoint's, bit for bit."""
    import json
    import shutil

    import keras

    from monet.core import runs
    from monet.gan import cyclegan, training
    from tests.conftest import tiny_cyclegan

    first = tmp_path / "first"
    shutil.copytree(small_run / "data", first / "data")
    known = {"epoch_0001": 5.0, "epoch_0002": 3.0, "epoch_0003": 4.0}
    stub = lambda generator, folder: {"fid": 1.0, "memorization_distance": 0.5, "mifid": known[folder.name]}  # noqa
    training.train(first, tiny_cyclegan(epochs=3, keep_checkpoints=0, score_checkpoints=3), seed=2,
                   log=lambda *_: None, scorer=stub)
    second = tmp_path / "second"
    shutil.copytree(small_run / "data", second / "data")
    lines = []
    summary = training.train(second, tiny_cyclegan(epochs=1, learning_rate=0.0, restart_from=str(first)), seed=3,
                             log=lines.append)
    restarted = summary["restarted_from"]
    assert restarted["checkpoint"].endswith("epoch_0002") and restarted["learning_rate"] == 0.0
    assert summary["global_steps"] == summary["steps_per_epoch"] and summary["learning_rate_first"] == 0.0
    assert any("Restarting from" in line and "epoch_0002" in line for line in lines)
    best, _ = cyclegan.load_checkpoint(first / "cyclegan" / "checkpoints" / "epoch_0002")
    packaged = keras.saving.load_model(second / "cyclegan" / "generator.keras", compile=False)
    for a, b in zip(packaged.get_weights(), best.gen_g.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert json.loads((second / "cyclegan" / "summary.json").read_text())["restarted_from"] == restarted
    assert runs.stage_extras(second, "cyclegan_train")["restarted_from"] == restarted  # what run.json gets
    # Adam's state came along: its step count goes on from the best checkpoint's
    done, _ = cyclegan.load_checkpoint(cyclegan.latest_checkpoint(second / "cyclegan" / "checkpoints"))
    steps = summary["steps_per_epoch"]
    assert int(done.optimizers["gen_g"].iterations.numpy()) == int(best.optimizers["gen_g"].iterations.numpy()) + steps
    # a restarted run that resumes (another session, more epochs) is still recorded as restarted
    again = training.train(second, tiny_cyclegan(epochs=2, learning_rate=0.0, restart_from=str(first)), seed=3,
                           log=lambda *_: None)
    assert again["resumed_from"] and again["restarted_from"] == restarted
    with pytest.raises(ValueError, match="trained with model 'cyclegan', this run asks for 'cut'"):
        selection.restart_checkpoint(first, tiny_cyclegan(model="cut"))


def test_restart_from_names_what_is_wrong(tmp_path):
    with pytest.raises(FileNotFoundError, match="cyclegan.restart_from .*neither a checkpoint folder"):
        selection.restart_checkpoint(tmp_path)
    run = tmp_path / "run"
    (run / "cyclegan").mkdir(parents=True)
    (run / "cyclegan" / "summary.json").write_text('{"chosen_checkpoint": null}')
    with pytest.raises(ValueError, match="scored no checkpoint"):
        selection.restart_checkpoint(run)
    (run / "cyclegan" / "summary.json").write_text('{"chosen_checkpoint": "epoch_0004"}')
    with pytest.raises(FileNotFoundError, match="is gone"):
        selection.restart_checkpoint(run)


def test_spread_out_keeps_checkpoints_across_the_whole_run():
    """About evenly spaced from the run's start to its newest (which always stays), where keeping the newest would
    hold only the run's last fifth; pruning after every checkpoint keeps what one pass over all keeps."""
    from pathlib import Path

    from monet.gan.cyclegan import spread_out

    found = [(step, Path(f"epoch_{step // 500:04d}")) for step in range(500, 24_501, 500)]  # 49 checkpoints
    kept = []
    for item in found:
        kept = spread_out([*kept, item], 10)
    assert kept == spread_out(found, 10) and len(kept) == 10
    steps = [0] + [step for step, _ in kept]
    assert steps[-1] == 24_500 and steps[1] <= 24_500 / 5
    assert max(b - a for a, b in zip(steps, steps[1:])) <= 1.5 * 24_500 / 10
    assert [s for s, _ in spread_out(found[:6], 3)] == [1000, 2000, 3000]
    assert spread_out(found[:4], 10) == found[:4] and spread_out(found, 0) == found


def test_spread_checkpoints_keeps_and_scores_the_run_not_its_end(small_run, tmp_path):
    """With spread_checkpoints, 6 epochs keeping 4 hold epochs 2, 4, 5 and 6 (not 3-6), the 3 scored are 2, 4 and 6
    (not 4-6, whose best is 5), and the best, epoch 2, is packaged: a generator that drifted late is not stuck with
    its last checkpoints."""
    import shutil

    from monet.gan import cyclegan, training
    from tests.conftest import tiny_cyclegan

    shutil.copytree(small_run / "data", tmp_path / "data")
    known = {"epoch_0002": 3.0, "epoch_0004": 4.0, "epoch_0005": 3.5, "epoch_0006": 5.0}
    scored = []

    def stub(generator, folder):
        scored.append(folder.name)
        return {"fid": 1.0, "memorization_distance": 0.5, "mifid": known[folder.name]}

    summary = training.train(tmp_path, tiny_cyclegan(epochs=6, keep_checkpoints=4, score_checkpoints=3,
                                                     spread_checkpoints=True), seed=2, log=lambda *_: None,
                             scorer=stub)
    kept = [folder.name for _, folder in cyclegan.list_checkpoints(tmp_path / "cyclegan" / "checkpoints")]
    assert kept == ["epoch_0002", "epoch_0004", "epoch_0005", "epoch_0006"]
    assert sorted(scored) == ["epoch_0002", "epoch_0004", "epoch_0006"] and summary["chosen_checkpoint"] == "epoch_0002"
