"""The train step, checkpoints that rebuild their models, and exact resume."""
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from monet.core import environment
from monet.gan import cyclegan, training
from monet.models import architecture, networks
from monet.package import images_zip, translator

from tests.conftest import ReserveThatRunsOut, tiny_cyclegan

against_straight = pytest.mark.xdist_group("straight_run")  # see conftest.straight_history


def test_train_step_updates_all_models_and_returns_finite_losses():
    environment.seed_everything(0)
    m = cyclegan.CycleGAN(architecture.model_args(tiny_cyclegan()), 2e-4)
    before = {k: [w.copy() for w in model.get_weights()] for k, model in m.models.items()}
    step = cyclegan.make_train_step(m, "lsgan", 10.0, 0.5)
    rng = np.random.default_rng(0)
    x, y = (rng.uniform(-1, 1, (2, 32, 32, 3)).astype("float32") for _ in range(2))
    out = {k: float(v) for k, v in step(x, y).items()}
    assert set(out) == set(cyclegan.STEP_KEYS) and all(np.isfinite(list(out.values()))) and out["lr"] == pytest.approx(2e-4)
    for name, model in m.models.items():
        assert any(not np.array_equal(a, b) for a, b in zip(before[name], model.get_weights())), name
    assert int(m.optimizers["gen_g"].iterations) == 1


def test_bce_step_runs():
    m = cyclegan.CycleGAN(architecture.model_args(tiny_cyclegan()), 2e-4)
    out = cyclegan.make_train_step(m, "bce")(np.zeros((1, 16, 16, 3), "float32"), np.ones((1, 16, 16, 3), "float32"))
    assert np.isfinite(float(out["disc_y_loss"]))


def test_checkpoint_carries_args_weights_and_optimizer_state(tmp_path):
    cfg = tiny_cyclegan(disc_strides=[2, 1], gen_res_blocks=2)
    m = cyclegan.CycleGAN(architecture.model_args(cfg), 1e-3)
    cyclegan.make_train_step(m)(np.zeros((1, 16, 16, 3), "float32"), np.ones((1, 16, 16, 3), "float32"))
    folder = cyclegan.save_checkpoint(m, tmp_path / "epoch_0001", {"epoch": 1})
    meta = json.loads((folder / "checkpoint.json").read_text())
    assert meta["model_args"]["discriminator"]["strides"] == [2, 1]
    restored, meta = cyclegan.load_checkpoint(folder, 1e-3)
    assert meta["epoch"] == 1 and restored.args == m.args
    for name in cyclegan.MODEL_NAMES:
        for a, b in zip(m.models[name].get_weights(), restored.models[name].get_weights()):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(m.optimizers[name].variables, restored.optimizers[name].variables):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not list(tmp_path.glob("*.partial"))
    assert cyclegan.latest_checkpoint(tmp_path) == folder


@pytest.mark.slow
@against_straight
def test_resume_gives_the_same_history_as_an_uninterrupted_run(small_run, straight_history, tmp_path):
    resumed = tmp_path / "resumed"
    shutil.copytree(small_run / "data", resumed / "data")
    training.train(resumed, tiny_cyclegan(epochs=1), seed=5, deterministic=True, log=lambda *_: None)
    logs = []
    summary = training.train(resumed, tiny_cyclegan(epochs=2), seed=5, deterministic=True, log=logs.append)
    assert summary["resumed_from"].endswith("epoch_0001") and summary["epochs_trained_now"] == 1
    assert any("Resuming from" in line for line in logs)
    assert (resumed / "cyclegan" / "history.csv").read_text().splitlines() == straight_history[:1 + 6]
    for name in ("epoch_01.png", "epoch_02.png"):
        assert (resumed / "cyclegan" / "samples" / name).is_file()
    assert (resumed / "cyclegan" / "losses.png").is_file()
    g = networks.generator(**json.loads((resumed / "cyclegan" / "generator.json").read_text())["args"])
    assert g.count_params() == summary["generator_parameters"]


@pytest.mark.slow
def test_changed_params_keep_old_checkpoints_aside(small_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(small_run / "data", run / "data")
    training.train(run, tiny_cyclegan(), seed=1, log=lambda *_: None)
    logs = []
    summary = training.train(run, tiny_cyclegan(lambda_cycle=5.0), seed=1, log=logs.append)
    assert summary["resumed_from"] is None
    kept = [p for p in run.iterdir() if p.name.startswith("cyclegan.")]
    assert len(kept) == 1 and cyclegan.latest_checkpoint(kept[0] / "checkpoints") is not None
    assert any("not resumed" in line for line in logs)


def test_tfrecord_training_and_missing_tfrecords(small_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(small_run / "data", run / "data")
    summary = training.train(run, tiny_cyclegan(data_format="tfrec", steps_per_epoch=2), seed=1, log=lambda *_: None)
    assert summary["photos"] == 40 and summary["paintings"] == 6
    info = json.loads((run / "data" / "summary.json").read_text())
    info["domains"]["photo"]["tfrecords"] = []
    (run / "data" / "summary.json").write_text(json.dumps(info))
    with pytest.raises(Exception, match="photo_tfrec/\\*.tfrec; use data_format: jpg"):
        training.train(run, tiny_cyclegan(data_format="tfrec", resume=False), seed=1, log=lambda *_: None)


@pytest.mark.slow
def test_default_epoch_covers_every_photo(tmp_path):
    from monet.data import fetch as data

    data.fetch(tmp_path, "synthetic", seed=3, synthetic_photos=6, synthetic_monet=2, sample_images=1)
    summary = training.train(tmp_path, tiny_cyclegan(steps_per_epoch=None, batch_size=4), seed=1, log=lambda *_: None)
    assert summary["steps_per_epoch"] == 2  # ceil(6 photos / 4): the last, short batch counts


@pytest.mark.slow
@against_straight
@pytest.mark.parametrize("allowed", [2, 4])  # mid-epoch 1, and one step into epoch 2
def test_a_budget_stop_checkpoints_and_a_rerun_trains_on_exactly(small_run, straight_history, tmp_path, monkeypatch,
                                                                allowed):
    import time

    from monet.core import budget

    stopped = tmp_path / "stopped"
    shutil.copytree(small_run / "data", stopped / "data")
    quiet = lambda *_: None  # noqa: E731
    monkeypatch.setenv(budget.DEADLINE_ENV, str(time.time() + 3600))
    monkeypatch.setattr(translator, "measure_packaging", lambda *a, **k: ReserveThatRunsOut(allowed))
    logs = []
    first = training.train(stopped, tiny_cyclegan(epochs=2), seed=5, deterministic=True, log=logs.append)
    assert first["stopped_early"] and "Run the same command again" in first["stopped_early"]
    assert first["global_steps"] == allowed and first["undertrained"] and "6 planned" in first["warning"]
    name = cyclegan.checkpoint_name(allowed // 3, allowed % 3)
    assert cyclegan.latest_checkpoint(stopped / "cyclegan" / "checkpoints").name == name
    monkeypatch.delenv(budget.DEADLINE_ENV)  # the rerun: no budget this time
    second = training.train(stopped, tiny_cyclegan(epochs=2), seed=5, deterministic=True, log=quiet)
    assert second["resumed_from"].endswith(name) and not second["stopped_early"] and not second["undertrained"]
    assert (stopped / "cyclegan" / "history.csv").read_text().splitlines() == straight_history[:1 + 6]


@pytest.mark.slow
def test_epochs_auto_plans_from_the_measured_speed(small_run, tmp_path, monkeypatch):
    import time

    from monet.core import budget

    run = tmp_path / "run"
    shutil.copytree(small_run / "data", run / "data")
    with pytest.raises(ValueError, match="epochs is 'auto' but this run has no time budget"):
        training.train(run, tiny_cyclegan(epochs="auto"), seed=1, log=lambda *_: None)
    monkeypatch.setenv(budget.DEADLINE_ENV, str(time.time() + 3600))
    monkeypatch.setattr(translator, "measure_packaging", lambda *a, **k: budget.Reserve(0, 0, 40, "test"))
    planned = []

    def plan(left, per_step, reserve, done, minimum=1, steps_per_epoch=None, seconds_per_epoch_end=0.0):
        planned.append((left, per_step, reserve, done, steps_per_epoch, seconds_per_epoch_end))
        return planned[0][3] + 3  # 13 from the first plan on: a replan (a busy machine's speed moved) keeps it

    monkeypatch.setattr(training.budget, "plan_training_steps", plan)
    logs = []
    summary = training.train(run, tiny_cyclegan(epochs="auto", steps_per_epoch=2, lr_schedule="linear_decay",
                                                learning_rate=2e-4, decay_from=0.5), seed=1, log=logs.append)
    # 5 measured intervals between steps (not counting an epoch's first step, after its checkpoint): step 10
    left, per_step, _, done, per_epoch, per_end = planned[0]
    assert done == 10 and 0 < per_step < 60 and 3000 < left <= 3600 and per_epoch == 2 and per_end > 0
    assert summary["planned_steps"] == summary["global_steps"] == 13
    # a plan shorter than one pass over the 40 photos is flagged, loudly
    assert summary["undertrained"] and "fewer than one pass over the 40 photos" in summary["warning"]
    assert any(line.startswith("WARNING: UNDERTRAINED") for line in logs)
    assert summary["epochs_completed"] == 6 and any("planned 13 steps" in line for line in logs)
    meta = json.loads((cyclegan.latest_checkpoint(run / "cyclegan" / "checkpoints") / "checkpoint.json").read_text())
    assert meta["global_step"] == 13 and meta["planned_steps"] == 13 and meta["schedule"]["total"] == 13
    with open(run / "cyclegan" / "history.csv") as fh:
        rates = [float(r["lr"]) for r in csv.DictReader(fh)]
    # held at the full rate until the plan (never 0 before it), then down to 0 at step 13 (the last step's rate is
    # the last third of the way: the plan put step 10 past its decay point, so the decay starts there)
    assert rates[:11] == pytest.approx([2e-4] * 11) and rates[11:] == pytest.approx([2e-4 * 2 / 3, 2e-4 / 3])
    assert summary["budget_slack_s"] > 0 and summary["plans"][0]["total"] == 13


@pytest.mark.slow
def test_the_best_scored_checkpoint_is_packaged(small_run, tmp_path, monkeypatch):
    import csv

    import keras

    from monet.gan import selection
    from monet.package import stage as submission

    run = tmp_path / "run"
    shutil.copytree(small_run / "data", run / "data")
    known = {"epoch_0001": 5.0, "epoch_0002": 3.0, "epoch_0003": 4.0}
    scored, built = [], []

    def stub(generator, folder):
        scored.append(folder.name)
        return {"fid": known[folder.name] * 10, "memorization_distance": 0.5, "mifid": known[folder.name]}

    def scorer_of(run_dir, photos, weights, **kw):  # the run's own scorer, built as training builds it
        built.append(kw)
        return stub

    monkeypatch.setattr(selection, "feature_scorer", scorer_of)
    cfg = tiny_cyclegan(epochs=3, keep_checkpoints=0, score_checkpoints=3, score_weights="none")
    logs = []
    summary = training.train(run, cfg, seed=2, log=logs.append)
    assert scored == ["epoch_0003", "epoch_0002", "epoch_0001"]  # newest first: the budget may cut the oldest
    assert summary["chosen_checkpoint"] == "epoch_0002" and summary["chosen_mifid"] == 3.0
    # ranked as packaged: no run.json here, so the package's defaults (no filters, JPEG q75)
    post = built[0]["post"]
    assert len(built) == 1 and not post.post and post.quality == 75
    assert summary["selection"].endswith("ranked as packaged (JPEG q75)") and any("as packaged" in ln for ln in logs)
    assert "random weights" in summary["scoring_network"]
    with open(run / "cyclegan" / "checkpoint_scores.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["checkpoint"], float(r["mifid"])) for r in rows] == sorted(known.items())
    assert (run / "cyclegan" / "checkpoint_scores.png").is_file()
    packaged = keras.saving.load_model(run / "cyclegan" / "generator.keras", compile=False)
    m, _ = cyclegan.load_checkpoint(run / "cyclegan" / "checkpoints" / "epoch_0002")
    for a, b in zip(packaged.get_weights(), m.gen_g.get_weights()):
        np.testing.assert_array_equal(a, b)
    from monet.core import params

    with pytest.raises(images_zip.SubmissionError):  # 40 photos: kept aside, but translated by epoch 2's generator
        submission.package(run, {**params.defaults()["package"], "fit_count": "keep", "batch_size": 8})
    info = json.loads((run / "submission" / "summary.json").read_text())
    assert info["generator"] == str(run / "cyclegan" / "generator.keras") and info["count"] == 40


def test_a_checkpoint_resumes_under_another_precision_policy(tmp_path):
    """A checkpoint written under mixed_float16 (with its loss-scale optimizers, whose variables come first) loads
    under float32 and back: weights and Adam's state carry over by their own keys (loading plainly used to fail
    with variable.shape=(7,7,3,4), value.shape=())."""
    import keras
    import tensorflow as tf

    x = np.random.default_rng(1).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        environment.seed_everything(3)
        half = cyclegan.CycleGAN(architecture.model_args(tiny_cyclegan()), 2e-4, loss_scale=True)
        step = cyclegan.make_train_step(half)
        for k in range(6):  # enough for some updates to be applied after the loss scale has come down
            step(x, x, tf.constant(k, tf.int64))
        cyclegan.save_checkpoint(half, tmp_path / "half", {"global_step": 6})
    finally:
        keras.mixed_precision.set_global_policy("float32")
    plain, _ = cyclegan.load_checkpoint(tmp_path / "half")
    for a, b in zip(plain.gen_g.get_weights(), half.gen_g.get_weights()):
        np.testing.assert_array_equal(a, b)
    inner = half.optimizers["gen_g"].inner_optimizer
    assert int(plain.optimizers["gen_g"].iterations.numpy()) == int(inner.iterations.numpy()) > 0
    for a, b in zip(plain.optimizers["gen_g"].variables[2:], inner.variables[2:]):  # Adam's moments
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    cyclegan.save_checkpoint(plain, tmp_path / "plain", {"global_step": 6})
    again, _ = cyclegan.load_checkpoint(tmp_path / "plain", loss_scale=True)  # float32 -> float16: scale afresh
    assert float(again.optimizers["gen_g"].dynamic_scale.numpy()) == 2.0 ** 15
    for a, b in zip(again.gen_g.get_weights(), half.gen_g.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_a_stop_at_an_epoch_boundary_writes_one_checkpoint_and_stale_partials_go(small_run, tmp_path, monkeypatch):
    import time

    from monet.core import budget

    run = tmp_path / "run"
    shutil.copytree(small_run / "data", run / "data")
    stale = [run / "cyclegan" / "checkpoints" / "epoch_0000_step_000002.partial", run / "cyclegan" / "checkpoints" /
             ".probe-x1y2"]
    for folder in stale:
        folder.mkdir(parents=True)
    monkeypatch.setenv(budget.DEADLINE_ENV, str(time.time() + 3600))
    monkeypatch.setattr(translator, "measure_packaging", lambda *a, **k: ReserveThatRunsOut(3))
    saved = []
    real = training.save_checkpoint
    monkeypatch.setattr(training, "save_checkpoint",
                        lambda m, folder, meta: saved.append(Path(folder).name) or real(m, folder, meta))
    logs = []
    summary = training.train(run, tiny_cyclegan(epochs=2), seed=5, log=logs.append)
    assert summary["stopped_early"] and summary["global_steps"] == 3
    assert [n for n in saved if n.startswith("epoch_")] == ["epoch_0001"]  # once, not again for the stop
    meta = json.loads((run / "cyclegan" / "checkpoints" / "epoch_0001" / "checkpoint.json").read_text())
    assert meta["stopped_early"] == summary["stopped_early"]
    assert not any(folder.exists() for folder in stale) and any("half-written" in line for line in logs)


def test_the_packaged_generator_is_float32_whatever_the_run_trained_in():
    """A generator trained under bfloat16 (a TPU) or float16 is saved float32: packaging runs on any device."""
    import keras

    from monet.core import params
    from monet.models import architecture

    cfg = params.defaults()["cyclegan"]
    cfg.update(gen_filters=2, gen_res_blocks=1, disc_blocks=2, disc_filters=4, disc_kernel=2, disc_strides=2)
    for policy, ema in (("mixed_bfloat16", 0.0), ("mixed_float16", 0.9)):
        keras.mixed_precision.set_global_policy(policy)
        try:
            m = cyclegan.CycleGAN(architecture.model_args(cfg), 2e-4, ema=ema)
            packaged = cyclegan.packaged_generator(m)
            assert all(layer.compute_dtype == "float32" for layer in packaged.layers), policy
            if not ema:  # the trained weights themselves (with EMA: the averages, tested with the levers)
                assert all((a == b).all() for a, b in zip(packaged.get_weights(), m.gen_g.get_weights()))
            assert any(layer.compute_dtype != "float32" for layer in m.gen_g.layers)  # it did train in mixed
        finally:
            keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("package,filtered", [({"mode_filter": 5, "colour_match": "hsv_histogram", "grain": 6.0,
                                                "grain_grey": True}, True), ({}, False)])
def test_the_reserve_times_packaging_with_the_package_filters(tmp_path, monkeypatch, package, filtered):
    from types import SimpleNamespace

    from monet.core import budget, params
    from monet.gan import planning

    p = params.validate({"stages": ["fetch", "cyclegan_train", "package_submission", "evaluate"],
                         "package": {**package, "jpeg_quality": 80}})
    (tmp_path / "run.json").write_text(json.dumps({"params": p}))
    calls = []

    def measured(generator, photos, batch_size=32, quality=95, sample=64, post=None):
        calls.append((quality, post))
        return budget.Reserve(1.0, 0.05 if post else 0.01, len(photos), "measured")

    monkeypatch.setattr(translator, "measure_packaging", measured)
    run = SimpleNamespace(cfg={**params.defaults()["cyclegan"], "score_checkpoints": 2}, dir=tmp_path,
                          from_files=True, photos=["photo.jpg"] * 100)
    reserve = planning.reserve_after_training(run, SimpleNamespace(gen_g=None), {"checkpoint": 1, "save": 1, "load": 1})
    quality, post = calls[0]
    assert quality == 80 and bool(post) == filtered
    if filtered:  # then once more without them: checkpoint scoring and evaluate's features do not filter
        assert (post.mode_size, post.how, post.target is not None, post.grain, post.grain_grey) == (
            5, "hsv_histogram", True, 6.0, True)
        assert calls[1:] == [(95, None)] and "the paintings' palette" in reserve.parts
    else:
        assert len(calls) == 1 and "the paintings' palette" not in reserve.parts
    # packaging (with the filters when set) plus one unfiltered pass an image for evaluate
    assert reserve.per_image == pytest.approx(0.06 if filtered else 0.02)
    # scoring ranks the checkpoints as packaged: each translates and filters its photos, then takes their features
    # (about one more unfiltered pass)
    each = ((0.05 if filtered else 0.01) + 0.01) * run.cfg["score_photos"]
    assert reserve.parts[planning.SCORING] == pytest.approx(
        planning.SCORING_SETUP_S + 1.25 + 2 * (15.0 + 1.25 * (1 + each)))


@pytest.mark.parametrize("predicted_in,expected", [(30.0, 27), (300.0, 69)])
def test_in_its_last_minute_the_plan_follows_the_last_steps_speed(predicted_in, expected):
    from types import SimpleNamespace

    from monet.core import budget
    from monet.gan import planning, session

    # 100 s to the deadline, a 10 s reserve; the window's 90 steps took 1 s each, its last 10 took 3 s (a mean of
    # 1.2 s; headroom 3 steps of it): 0.97 * (100 - 10 - 3.6) = 83.8 s: at 3 s a step 27 steps, at 1.2 s 69
    clock = budget.StepClock()
    clock.intervals = [1.0] * 90 + [3.0] * planning.RECENT_STEPS
    run = SimpleNamespace(auto=True, deadline=1100.0, steps=10_000, cfg={"learning_rate": 2e-4}, log=lambda *_: None)
    state = session.State(m=None, lr=None, done=0, resumed_from=None, total=500, g=200, clock=clock,
                          reserve=budget.Reserve(10.0, 0.0, 0, "test"), predicted_end=1000.0 + predicted_in)
    planning.plan(run, state, now=1000.0)
    assert state.total == 200 + expected and state.plans[-1]["total"] == 200 + expected


@pytest.mark.parametrize("left,after", [(30.0, 205), (12.0, 201), (10.0, "stop")])
def test_a_plan_uses_up_its_headroom_before_it_is_cut(left, after):
    from types import SimpleNamespace

    from monet.core import budget
    from monet.gan import planning, session

    # 1 s a step, a 20 s epoch turn seen: the headroom is 2 turns and 3 steps, 43 s; 5 planned steps are left.
    # 30 s left (reserve 10): they fit before the reserve, so the plan keeps them (re-applying the headroom would
    # stop the run here); 12 s: only 1 fits, the plan shrinks to it; 10 s: nothing fits, the budget stops the run.
    clock = budget.StepClock()
    clock.intervals, clock.epoch_ends = [1.0] * 20, [20.0]
    run = SimpleNamespace(auto=True, deadline=1000.0 + left, steps=10_000, cfg={"learning_rate": 2e-4},
                          log=lambda *_: None)
    state = session.State(m=None, lr=None, done=0, resumed_from=None, total=205, g=200, clock=clock,
                          reserve=budget.Reserve(10.0, 0.0, 0, "test"), predicted_end=2000.0)
    if after == "stop":
        with pytest.raises(session.Stop):
            planning.plan(run, state, now=1000.0)
    else:
        planning.plan(run, state, now=1000.0)
        assert state.total == after


def test_one_slow_epoch_end_is_not_charged_to_every_epoch_left():
    from types import SimpleNamespace

    from monet.core import budget
    from monet.gan import planning, session

    # 1 s a step, 100 steps an epoch; nine epoch turns of 2 s and one stall of 62 s: the epochs left are planned at
    # the mean turn (8 s), the headroom keeps two of the slowest (2 * 62 + 3 steps = 127 s). 2,000 s left, reserve
    # 10: 0.97 * 1,863 = 1,807.1 s for 1,679 steps and 16 turns (1,807 s); at 62 s a turn it would be 1,125 steps.
    clock = budget.StepClock()
    clock.intervals, clock.epoch_ends = [1.0] * 20, [2.0] * 9 + [62.0]
    logged = []
    run = SimpleNamespace(auto=True, deadline=3000.0, steps=100, cfg={"learning_rate": 2e-4}, log=logged.append)
    state = session.State(m=None, lr=None, done=0, resumed_from=None, total=None, g=200, clock=clock,
                          reserve=budget.Reserve(10.0, 0.0, 0, "test"), predicted_end=None)
    planning.plan(run, state, now=1000.0)
    assert state.total == 1879 and state.plans[-1]["seconds_per_epoch_end"] == 8.0
    assert "8.0 s per epoch end on average (the slowest 62.0)" in logged[-1]


def test_a_short_plan_is_undertrained_unless_selection_packaged_an_earlier_step():
    from types import SimpleNamespace

    from monet.gan import planning, session

    # 100 photos at batch 1: a plan of 60 steps is short of one pass; ended as planned (60 of 60)
    run = SimpleNamespace(auto=True, photos=[f"p{i}" for i in range(100)], batch=1, floor=100)
    state = session.State(m=None, lr=None, done=0, resumed_from=None, total=60, g=60, clock=None, reserve=None,
                          predicted_end=None)
    short = "the time budget planned only 60 steps, fewer than one pass over the 100 photos (100 steps at batch 1)"
    flagged = short + ": raise time_budget_minutes"
    chose = lambda step: {"chosen": {"checkpoint": "c", "global_step": step}}  # noqa: E731
    assert planning.short_plan(run, state) == short
    for choice in (None, {"chosen": None}, chose(60)):  # no selection, nothing scored, the last step packaged
        assert planning.undertrained(run, state, choice) == flagged
        assert planning.excused_short_plan(run, state, choice) is None
    assert planning.undertrained(run, state, chose(30)) is None  # its scores were lowest before the end
    assert planning.excused_short_plan(run, state, chose(30)) == (
        short + "; not flagged undertrained: checkpoint selection packaged step 30 of 60, so its scores were lowest "
        "before the end")
    state.g = 50  # stopped short of its plan: undertrained whatever was chosen
    assert planning.undertrained(run, state, chose(30)) == "the packaged generator trained 50 of 60 planned steps"
    assert planning.excused_short_plan(run, state, chose(30)) is None
    state.g, state.total = 100, 100  # a whole pass: not short
    assert planning.short_plan(run, state) is None and planning.undertrained(run, state, chose(50)) is None
    run.auto, state.g, state.total = False, 60, 60  # a fixed number of epochs is the user's choice
    assert planning.short_plan(run, state) is None and planning.undertrained(run, state) is None
    # what the summary gets and the log says: loud when flagged, a note when excused, nothing otherwise
    logged = []
    run.log, run.auto = logged.append, True
    assert planning.undertrained_verdict(run, state, chose(60)) == {"undertrained": True, "warning": flagged}
    assert planning.undertrained_verdict(run, state, chose(30)) == {
        "short_plan": planning.excused_short_plan(run, state, chose(30))}
    assert logged == ["WARNING: UNDERTRAINED: " + flagged, "note: " + planning.excused_short_plan(run, state, chose(30))]
    run.auto = False
    assert planning.undertrained_verdict(run, state, chose(30)) == {} and len(logged) == 2
