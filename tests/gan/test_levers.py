"""The leaderboard recipe's training levers, each on tiny tensors, and the time-budget planners."""
import json
import shutil

import numpy as np
import pytest

from monet.core import budget, environment
from monet.data import augment
from monet.gan import cyclegan, schedules, training
from monet.gan.image_pool import ImagePool
from monet.models import architecture, losses, networks

from tests.conftest import stopped_then_resumed, tiny_cyclegan


# ------------------------------------------------------------------------------------------------ U-Net
def test_unet_has_the_tutorials_parameters_and_keeps_the_input_size():
    assert architecture.generator_parameters(architecture.generator_args("unet")) == 54_414_979  # the tutorial's
    for filters, depth in ((4, 5), (2, 3), (3, 1)):
        args = architecture.generator_args("unet", filters, depth=depth, dropout=0.5)
        g = networks.generator(**args)
        assert g.count_params() == architecture.generator_parameters(args)
        x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
        y = np.asarray(g(x, training=False))
        assert y.shape == x.shape and np.all(np.abs(y) <= 1.0)
    # 3 dropout layers in the first three up blocks of a depth-8 U-Net, none without dropout
    assert sum(type(l).__name__ == "Dropout" for l in networks.unet_generator(2, 8).layers) == 3
    assert sum(type(l).__name__ == "Dropout" for l in networks.unet_generator(2, 8, dropout=0.0).layers) == 0
    with pytest.raises(ValueError, match="bad unet generator arguments"):
        architecture.generator_args("unet", 64, depth=9)


def test_resnet_parameter_arithmetic_matches_keras():
    for f, d, r in ((4, 2, 1), (3, 3, 0), (5, 1, 2)):
        args = architecture.generator_args("resnet", f, d, r)
        assert networks.generator(**args).count_params() == architecture.generator_parameters(args)
    assert architecture.generator_parameters(architecture.generator_args()) == 11_383_427


# ------------------------------------------------------------------------------------- augmentation
def test_training_augmentation_keeps_range_and_shape_and_is_seeded():
    import tensorflow as tf

    rng = np.random.default_rng(1)
    image = tf.constant(rng.uniform(-1, 1, (256, 256, 3)).astype("float32"))
    ops = ("jitter", "flip", "rot90")
    a = augment.augment_image(image, ops, tf.constant([3, 10], tf.int64)).numpy()
    b = augment.augment_image(image, ops, tf.constant([3, 10], tf.int64)).numpy()
    others = [augment.augment_image(image, ops, tf.constant([3, k], tf.int64)).numpy() for k in range(11, 15)]
    assert a.shape == (256, 256, 3) and a.min() >= -1.0 - 1e-5 and a.max() <= 1.0 + 1e-5
    assert np.array_equal(a, b) and not all(np.array_equal(a, o) for o in others)
    assert np.array_equal(augment.augment_image(image, (), tf.constant([3, 10], tf.int64)).numpy(), image.numpy())
    with pytest.raises(ValueError, match="expected some of flip, jitter, rot90"):
        augment.augment_image(image, ("blur",), tf.constant([0, 0], tf.int64))


def test_training_crops_are_seeded_windows_of_the_augmented_image():
    """train_size: a random crop x crop square of the image after its augmentation, drawn per key."""
    import tensorflow as tf

    image = tf.constant(np.random.default_rng(2).uniform(-1, 1, (64, 64, 3)).astype("float32"))
    crop = lambda k, ops=(): augment.augment_image(image, ops, tf.constant([3, k], tf.int64), crop=16).numpy()  # noqa: E731
    a, again = crop(10), crop(10)
    assert a.shape == (16, 16, 3) and np.array_equal(a, again)
    corners = set()
    for k in range(10, 18):
        window = crop(k)
        hits = [(i, j) for i in range(49) for j in range(49) if np.array_equal(image.numpy()[i:i + 16, j:j + 16], window)]
        assert len(hits) == 1
        corners.add(hits[0])
    assert len(corners) > 4  # the place moves with the key
    # after the augmentation, with draws of its own: the same key jitters and flips alike with and without the crop
    augmented = augment.augment_image(image, ("jitter", "flip"), tf.constant([3, 10], tf.int64)).numpy()
    window = crop(10, ("jitter", "flip"))
    assert any(np.array_equal(augmented[i:i + 16, j:j + 16], window) for i in range(49) for j in range(49))
    assert augment.augment_image(image, (), tf.constant([3, 10], tf.int64), crop=64).shape == (64, 64, 3)


def test_train_size_must_fit_the_networks():
    from monet.core import params

    ok = params.validate({"cyclegan": {"generator": "unet", "unet_depth": 6, "train_size": 128}})
    assert ok["cyclegan"]["train_size"] == 128 and params.defaults()["cyclegan"]["train_size"] == 256
    with pytest.raises(params.ParamsError, match=r"cyclegan.train_size': 128 is not a multiple of 2\*\*cyclegan.unet_depth"):
        params.validate({"cyclegan": {"generator": "unet", "train_size": 128}})
    with pytest.raises(params.ParamsError, match=r"train_size': 98 is not a multiple of 2\*\*cyclegan.gen_down_blocks"):
        params.validate({"cyclegan": {"train_size": 98}})
    with pytest.raises(params.ParamsError, match=r"innermost map 1x1 after cyclegan.unet_depth = 7 halvings"):
        params.validate({"cyclegan": {"generator": "unet", "unet_depth": 7, "train_size": 128}})
    params.validate({"cyclegan": {"train_size": 32}})  # the 70x70 PatchGAN's last patch: 32 -> 4 -> 1 logit
    with pytest.raises(params.ParamsError, match="leaves the discriminator no patch"):
        params.validate({"cyclegan": {"train_size": 16}})


def test_diffaugment_is_seeded_per_image_and_off_when_not_asked():
    import tensorflow as tf

    x = tf.constant(np.repeat(np.random.default_rng(2).uniform(-1, 1, (1, 32, 32, 3)), 4, 0).astype("float32"))
    policy = ("color", "translation", "cutout")
    key = tf.constant([7, 1], tf.int64)
    a, b = augment.diff_augment(x, policy, key).numpy(), augment.diff_augment(x, policy, key).numpy()
    assert a.shape == x.shape and np.array_equal(a, b)
    assert not np.array_equal(a, augment.diff_augment(x, policy, tf.constant([7, 2], tf.int64)).numpy())
    assert len({a[i].tobytes() for i in range(4)}) == 4  # four copies of one image, four different draws
    assert augment.diff_augment(x, (), key) is x
    with pytest.raises(ValueError, match="expected some of color, translation, cutout"):
        augment.diff_augment(x, ("zoom",), key)


def test_translation_and_cutout_do_what_the_paper_says():
    import tensorflow as tf

    x = tf.ones((64, 16, 16, 3))
    shifted = augment.diff_augment(x, ("translation",), tf.constant([0, 0], tf.int64)).numpy()
    zero_rows = (shifted == 0).all(axis=(2, 3)).sum(axis=1)  # rows filled with zeros per image
    assert zero_rows.max() <= 2 and zero_rows.max() > 0  # at most 1/8 of 16 = 2 pixels
    cut = augment.diff_augment(x, ("cutout",), tf.constant([0, 0], tf.int64)).numpy()
    zeros = (cut[..., 0] == 0).sum(axis=(1, 2))
    assert zeros.max() == 64 and zeros.min() > 0  # an 8x8 square (half the side), sometimes cut by the border


def test_diffaugment_is_differentiable_so_generator_gradients_flow():
    import tensorflow as tf

    g = networks.resnet_generator(4, 1, 1)
    d = networks.patch_discriminator(2, 4, 2, 2, "relu")
    x = tf.constant(np.random.default_rng(3).uniform(-1, 1, (2, 32, 32, 3)).astype("float32"))
    with tf.GradientTape() as tape:
        fake = augment.diff_augment(g(x, training=True), ("color", "translation", "cutout"),
                                    tf.constant([0, 5], tf.int64))
        loss = losses.generator_loss(d(fake, training=True))
    grads = tape.gradient(loss, g.trainable_variables)
    assert all(gr is not None for gr in grads) and sum(float(tf.reduce_sum(tf.abs(gr))) for gr in grads) > 0


def test_the_train_step_augments_real_and_fake_alike_before_every_discriminator(monkeypatch):
    """Every discriminator call sees what DiffAugment returned: with a policy that blanks the images, the
    discriminators judge four blank batches, so their losses are what D(blank) gives, computed by hand. (Counting
    calls would pass if the augmented images were thrown away.)"""
    import tensorflow as tf

    calls = []

    def blank(images, policy, key):
        calls.append(tuple(policy))
        return tf.zeros_like(images)

    monkeypatch.setattr(augment, "diff_augment", blank)
    environment.seed_everything(0)
    m = cyclegan.CycleGAN(architecture.model_args(tiny_cyclegan()), 2e-4)
    zeros = np.zeros((1, 32, 32, 3), "float32")
    expected = {}
    for d in ("x", "y"):
        out = m.models[f"disc_{d}"](zeros, training=True)
        expected[d] = float(losses.discriminator_loss(out, out, "lsgan"))
    step = cyclegan.make_train_step(m, diffaugment=["color", "translation", "cutout"])
    x = np.random.default_rng(4).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
    got = step(x, x[:, ::-1].copy())
    assert calls == [("color", "translation", "cutout")] * 4  # D_X(fake X), D_Y(fake Y), D_X(real X), D_Y(real Y)
    assert float(got["disc_x_loss"]) == pytest.approx(expected["x"], rel=1e-5)
    assert float(got["disc_y_loss"]) == pytest.approx(expected["y"], rel=1e-5)


def test_random_streams_never_overlap():
    """Each (step, replica, use, draw) has its own stream: the stateless keys of the train step's uses (salts
    0-7) and of DiffAugment's draws within a use (salts 0-9) are all distinct over many steps."""
    import tensorflow as tf

    seen = set()
    for step in range(40):
        base = augment.sub_key(tf.constant([3, step], tf.int64), 0)
        for use in range(8):
            key = augment.sub_key(base, use)
            for draw in range(10):
                seen.add(tuple(augment.sub_key(key, draw).numpy().tolist()))
    assert len(seen) == 40 * 8 * 10


# ---------------------------------------------------------------------------- label smoothing, pool
def test_label_smoothing_lowers_only_the_real_target():
    real, fake = np.full((1, 4, 4, 1), 0.7, "float32"), np.zeros((1, 4, 4, 1), "float32")
    assert float(losses.discriminator_loss(real, fake, "lsgan", label_smoothing=0.3)) == pytest.approx(0.0, abs=1e-7)
    assert float(losses.discriminator_loss(real, fake, "lsgan")) == pytest.approx(0.5 * 0.09, rel=1e-5)
    assert float(losses.generator_loss(real)) == pytest.approx(0.09, rel=1e-5)  # the generator still aims at 1
    logits = np.zeros((1, 2, 2, 1), "float32")  # sigmoid 0.5: BCE with target t is log 2 whatever t
    assert float(losses.adversarial_loss(logits, True, "bce", real_label=0.7)) == pytest.approx(np.log(2), rel=1e-5)


def test_image_pool_passes_through_until_full_then_returns_stored_images():
    import tensorflow as tf

    pool = ImagePool(3, (2, 2, 1))
    batch = lambda v: tf.constant(np.full((1, 2, 2, 1), v, "float32"))  # noqa: E731
    for v in (1, 2, 3):  # filling: every image passes through and is stored
        assert float(pool.query(batch(v), tf.constant([0, v], tf.int64))[0, 0, 0, 0]) == v
    assert sorted(pool.images.numpy()[:, 0, 0, 0].tolist()) == [1, 2, 3] and int(pool.count.numpy()) == 3
    seen = []
    for v in range(4, 40):
        stored = set(pool.images.numpy()[:, 0, 0, 0].tolist())
        out = float(pool.query(batch(v), tf.constant([0, v], tf.int64))[0, 0, 0, 0])
        after = set(pool.images.numpy()[:, 0, 0, 0].tolist())
        if out == v:  # passed through: the pool is unchanged
            assert after == stored
        else:  # swapped: a stored image comes out and the new one takes its place
            assert out in stored and after == stored - {out} | {v}
        seen.append(out)
    assert sum(o < v for o, v in zip(seen, range(4, 40))) > 5  # about half are swapped for stored ones
    again = ImagePool(3, (2, 2, 1))
    replay = [float(again.query(batch(v), tf.constant([0, v], tf.int64))[0, 0, 0, 0]) for v in range(1, 40)]
    assert replay[3:] == seen  # stateless draws: the same keys give the same history


# ------------------------------------------------------------------------------------------ schedule
def test_linear_decay_schedule_values_and_resume():
    s = schedules.HoldThenLinearDecay(1e-3, total_steps=100, decay_from=0.6)

    def at(step):
        s.step.assign(step)
        return float(s())

    assert at(0) == pytest.approx(1e-3) and at(59) == pytest.approx(1e-3) and at(60) == pytest.approx(1e-3)
    assert at(80) == pytest.approx(0.5e-3) and at(100) == pytest.approx(0.0) and at(150) == 0.0
    assert all(at(k) == pytest.approx(schedules.lr_at(k, 1e-3, 100, 0.6)) for k in range(0, 101, 7))
    s.set_total_steps(200)  # a fixed plan: a pure function of the step
    assert at(120) == pytest.approx(1e-3) and at(160) == pytest.approx(0.5e-3)
    # The optimizers read the rate at the global step the train step sets, not at their own counters.
    m = cyclegan.CycleGAN(architecture.model_args(tiny_cyclegan()), schedules.HoldThenLinearDecay(1e-3, 100, 0.6))
    m.learning_rate.step.assign(80)
    assert all(float(opt.learning_rate) == pytest.approx(0.5e-3) for opt in m.optimizers.values())
    assert schedules.learning_rate("constant", 2e-4, 10) == 2e-4


def test_an_unplanned_schedule_holds_and_a_replan_never_raises_the_rate():
    s = schedules.HoldThenLinearDecay(2e-4, total_steps=None, decay_from=0.8)

    def at(step):
        s.step.assign(step)
        return float(s())

    # epochs auto before its speed is measured: the full rate, never 0 (it was 0 for steps 1-6 before)
    assert [at(k) for k in range(7)] == pytest.approx([2e-4] * 7) and s.state()["total"] is None
    s.replan(6, 10_000)  # the first plan: hold to 8,000, then decay to 0 at 10,000
    assert at(7_999) == pytest.approx(2e-4) and at(9_000) == pytest.approx(1e-4) and at(10_000) == 0.0
    # A continuation after a budget stop at 9,000 (rate 1e-4) plans 19,006 steps from its new budget: the rate
    # goes on from 1e-4 down to 0 at 19,006, it does not jump back to 2e-4.
    saved = s.state()
    t = schedules.HoldThenLinearDecay(2e-4, total_steps=None, decay_from=0.8)
    t.restore(saved)
    assert t.rate_at(9_000) == pytest.approx(1e-4)
    assert t.replan(9_000, 19_006) == pytest.approx(1e-4)
    rates = [t.rate_at(k) for k in range(9_000, 19_007, 1_000)]
    assert all(b <= a for a, b in zip(rates, rates[1:])) and t.rate_at(19_006) == 0.0
    assert t.rate_at(19_005) == pytest.approx(1e-4 / 10_006)  # the last planned step's rate: ~0
    # A slower machine shortens the plan: the rate falls faster, from where it is.
    assert t.replan(12_000, 13_000) == pytest.approx(t.rate_at(12_000)) and t.rate_at(13_000) == 0.0
    # While the hold lasts, a re-plan only moves the decay point.
    h = schedules.HoldThenLinearDecay(2e-4, total_steps=None, decay_from=0.5)
    h.replan(10, 1_000)
    assert h.replan(100, 2_000) == pytest.approx(2e-4) and h.rate_at(999) == pytest.approx(2e-4)
    assert h.rate_at(1_500) == pytest.approx(1e-4)
    # the graph's rate and plain Python's agree after every kind of change
    for step in (0, 999, 1_000, 1_500, 1_999, 2_000):
        h.step.assign(step)
        assert float(h()) == pytest.approx(h.rate_at(step), rel=1e-6, abs=1e-12)  # float32 in the graph


def test_the_rate_follows_the_global_step_when_float16_skips_steps():
    """The loss-scale optimizer skips steps whose float16 gradients overflow without counting them; the schedule
    reads the global step, so the rate of step k is the same with and without skips."""
    import keras
    import tensorflow as tf

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        lr = schedules.HoldThenLinearDecay(1e-3, total_steps=4, decay_from=0.5)
        m = cyclegan.CycleGAN(architecture.model_args(tiny_cyclegan()), lr, loss_scale=True)
        step = cyclegan.make_train_step(m)
        x = np.random.default_rng(0).uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
        rates = [float(step(x, x, tf.constant(k, tf.int64))["lr"]) for k in range(4)]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert rates == pytest.approx([1e-3, 1e-3, 1e-3, 0.5e-3])
    # the initial loss scale (2**15) overflows float16 here: Keras skipped some updates and did not count them
    assert int(m.optimizers["gen_g"].iterations.numpy()) < 4


# -------------------------------------------------------------------------------------------- budget
def test_budget_planners():
    # 1,000 s left, 100 s reserve, 0.5 s a step: 0.97 * 900 / 0.5 = 1,746 more steps
    assert budget.plan_training_steps(1000, 0.5, 100, steps_done=200) == 200 + 1746
    assert budget.plan_training_steps(50, 0.5, 100, steps_done=200) == 200  # nothing left after the reserve
    assert budget.plan_training_steps(100.2, 0.5, 100, steps_done=0) == 1  # at least one when anything is left
    # 2 s a step of 8 slots, 3,600 s usable, 7,038 photos: 3600 / 2 * 8 / 7038 = 2.04 -> 2 iterations each
    assert budget.nst_iterations_per_photo(3700, 2.0, 8, 7038, reserve_seconds=100) == 2
    assert budget.nst_iterations_per_photo(3700, 0.02, 16, 7038, reserve_seconds=100) == 409
    assert budget.nst_iterations_per_photo(10, 0.02, 16, 100, reserve_seconds=100) == 0
    r = budget.Reserve(45.0, 0.01, 7038, "test")
    assert r.seconds == pytest.approx(45 + 1.25 * 0.01 * 7038)


def test_deadline_comes_from_the_environment_only(monkeypatch):
    monkeypatch.delenv(budget.DEADLINE_ENV, raising=False)
    assert budget.deadline() is None
    monkeypatch.setenv(budget.DEADLINE_ENV, "1234.5")
    assert budget.deadline() == 1234.5
    monkeypatch.setenv(budget.DEADLINE_ENV, "soon")
    with pytest.raises(ValueError, match="MONET_DEADLINE='soon'"):
        budget.deadline()


# ------------------------------------------------------------------------- every lever, resumed exactly
LEVERS = dict(generator="unet", gen_filters=2, unet_depth=6, train_size=128, augment_photo=["jitter", "flip"],
              augment_monet=["jitter", "flip", "rot90"], diffaugment=["color", "translation", "cutout"],
              label_smoothing=0.3, pool_size=3, lr_schedule="linear_decay", decay_from=0.75, ema=0.9,
              adversarial_loss="bce", steps_per_epoch=2)


@pytest.mark.slow
def test_every_lever_trains_and_resumes_exactly(small_run, tmp_path, monkeypatch):
    """The same params in both sessions, the first stopped by its time budget after epoch 1 (as a user's run
    continues): the history equals an uninterrupted run's line for line."""
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    for run in (straight, resumed):
        shutil.copytree(small_run / "data", run / "data")
    quiet = lambda *_: None  # noqa: E731
    a = training.train(straight, tiny_cyclegan(**LEVERS, epochs=2), seed=5, deterministic=True, log=quiet)
    first, b = stopped_then_resumed(resumed, tiny_cyclegan(**LEVERS, epochs=2), 2, monkeypatch, seed=5,
                                    deterministic=True, log=quiet)
    assert first["stopped_early"] and first["global_steps"] == 2
    assert b["resumed_from"].endswith("epoch_0001") and a["levers"]["pool_size"] == 3
    assert (straight / "cyclegan" / "history.csv").read_text() == (resumed / "cyclegan" / "history.csv").read_text()
    # The packaged generator holds the averaged weights (EMA), not the last ones.
    m, _ = cyclegan.load_checkpoint(cyclegan.latest_checkpoint(straight / "cyclegan" / "checkpoints"),
                                    ema=0.9, pool_size=3, image_shape=(128, 128, 3))  # the pool holds crops
    saved = networks.generator(**json.loads((straight / "cyclegan" / "generator.json").read_text())["args"])
    import keras

    saved = keras.saving.load_model(straight / "cyclegan" / "generator.keras", compile=False)
    averaged = cyclegan.packaged_generator(m)
    for s, av, raw in zip(saved.get_weights(), averaged.get_weights(), m.gen_g.get_weights()):
        np.testing.assert_array_equal(s, av)
    assert any(not np.array_equal(av, raw) for av, raw in zip(averaged.get_weights(), m.gen_g.get_weights()))
    assert int(m.pools["y"].count.numpy()) == 3


def test_pool_needs_one_replica(monkeypatch):
    import tensorflow as tf

    class Two:
        num_replicas_in_sync = 2

        def scope(self):
            return tf.distribute.get_strategy().scope()

    with pytest.raises(ValueError, match="pool_size needs one replica"):
        cyclegan.CycleGAN(architecture.model_args(tiny_cyclegan()), 2e-4, strategy=Two(), pool_size=2)


def test_the_planner_counts_epoch_ends_and_follows_the_machine():
    # 1,000 s, 100 s reserve: 0.97 * 900 = 873 s; 1 s a step, 10 s an epoch end every 100 steps: 799 steps
    # (7 epoch ends on the way: 799 + 70 = 869 <= 873; step 800 would cross an 8th: 880 > 873)
    assert budget.plan_training_steps(1000, 1.0, 100, 0, steps_per_epoch=100, seconds_per_epoch_end=10) == 799
    assert budget.plan_training_steps(1000, 1.0, 100, 0) == 873  # without epoch ends: the old arithmetic
    clock = budget.StepClock(window=4, epoch_end_guess=7.0)
    assert clock.seconds_per_step() is None and clock.seconds_per_epoch_end() == 7.0
    for t in (0.0, 1.0, 2.0, 3.0, 4.0):  # 1 s a step (the first call only starts the clock)
        clock.step(t)
    assert clock.measured == 4 and clock.seconds_per_step() == 1.0
    clock.pause()
    clock.step(100.0)  # an epoch's turn lies between (checkpoint, next input pipeline): not a step
    # the session's first turn (one-off traces and imports) is not planned with: the guess stands
    assert clock.measured == 4 and clock.epoch_ends == [] and clock.seconds_per_epoch_end() == 7.0
    for t in (102.0, 104.0, 106.0):  # the machine slows down: the window (the last 4) follows it
        clock.step(t)
    assert clock.seconds_per_step() == pytest.approx((1.0 + 2.0 * 3) / 4)
    assert clock.seconds_per_step(last=2) == 2.0  # the last steps show it first
    clock.step(108.0)
    assert clock.seconds_per_step() == 2.0
    clock.pause()
    clock.pause()  # twice before a step: the turn still starts at the last step
    clock.step(120.0)
    assert clock.epoch_ends == [10.0]  # 12 s from step to step, less one step
    clock.pause()
    clock.step(124.0)
    assert clock.epoch_ends == [10.0, 2.0] and clock.seconds_per_epoch_end() == 6.0  # the epochs left: the mean
    assert clock.slowest_epoch_end() == 10.0  # the headroom: the slowest
    fresh = budget.StepClock(epoch_end_guess=3.0)
    fresh.pause()  # a session's first epoch: nothing before it to measure from
    fresh.step(50.0)
    fresh.step(51.0)
    assert fresh.epoch_ends == [] and fresh.seconds_per_epoch_end() == fresh.slowest_epoch_end() == 3.0


def test_decay_from_follows_the_model_unless_given(repo):
    """'auto' is the published schedule of each model: CycleGAN and CUT hold half their epochs, FastCUT decays over
    its last quarter (150 + 50 epochs); a number given is kept."""
    from monet.core import params as P, schema

    cfg = P.defaults()["cyclegan"]
    assert cfg["decay_from"] == "auto" and schema.decay_from(cfg) == 0.5
    assert schema.decay_from({**cfg, "model": "cut"}) == 0.5
    assert schema.decay_from({**cfg, "model": "fastcut"}) == 0.75
    assert schema.decay_from({**cfg, "model": "fastcut", "decay_from": 0.6}) == 0.6
    board = repo / "params" / "cut_kaggle.yaml"
    assert P.load_params(board, ["cyclegan.decay_from=0.3"])["cyclegan"]["decay_from"] == 0.3
    assert schema.decay_from(P.load_params(board, ["cyclegan.model=fastcut"])["cyclegan"]) == 0.75
    with pytest.raises(P.ParamsError, match="decay_from"):
        P.load_params(board, ["cyclegan.decay_from=soon"])
