"""CUT and FastCUT: the patches PatchNCE compares, where gradients go, flip equivariance, checkpoints that rebuild
the models, exact resume, and the params' errors (tiny tensors and networks, CPU)."""
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from monet.core import environment, params
from monet.gan import cut, cyclegan, training
from monet.models import architecture

from tests.conftest import stopped_then_resumed, tiny_cyclegan


def tiny_cut(model="cut", **overrides) -> dict:
    return tiny_cyclegan(model=model, num_patches=16, netf_units=8, **overrides)


def new_cut(model="cut", **overrides):
    environment.seed_everything(0)
    return cut.CUT(architecture.model_args(tiny_cut(model, **overrides)), 2e-4)


def images(n=2, size=32, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (n, size, size, 3)).astype("float32")


def keys(m, step=0):
    return cyclegan.step_keys(m, 7, tf.constant(step, tf.int64))


def identity(images, salt):
    return images


def test_patch_positions_are_drawn_without_replacement_and_shared_by_every_image():
    f = tf.zeros((2, 8, 8, 4))
    a, b = cut.patch_ids(f, 16, [1, 2]), cut.patch_ids(f, 16, [1, 2])
    np.testing.assert_array_equal(a, b)  # stateless: the same key, the same positions
    assert len(set(np.asarray(a).tolist())) == 16 and 0 <= int(tf.reduce_min(a)) and int(tf.reduce_max(a)) < 64
    assert not np.array_equal(a, cut.patch_ids(f, 16, [1, 3]))  # another step, other positions
    assert sorted(np.asarray(cut.patch_ids(f, 100, [1, 2])).tolist()) == list(range(64))  # fewer: all
    x = np.random.default_rng(0).normal(size=(1, 8, 8, 4)).astype("float32")
    both = cut.take_patches(np.concatenate([x, x + 100.0]), a)  # the same positions in every image of the batch
    np.testing.assert_allclose(np.asarray(both[1]) - np.asarray(both[0]), 100.0, rtol=1e-5)


def test_queries_and_keys_are_taken_at_the_same_positions(monkeypatch):
    m = new_cut()
    taken = []
    real = cut.take_patches
    monkeypatch.setattr(cut, "take_patches", lambda f, ids: taken.append(np.asarray(ids)) or real(f, ids))
    x = images()
    cut.nce_term(m, x, m.gen_g(x), keys(m), 0)
    n = len(m.args["nce"]["layers"])
    assert len(taken) == 2 * n
    for k_ids, q_ids in zip(taken[:n], taken[n:]):
        np.testing.assert_array_equal(k_ids, q_ids)
    assert len(taken[1]) == 16 and len(taken[0]) == 16  # 32 px: every layer has more than 16 positions


def test_gradients_reach_gen_g_and_every_net_f_mlp_but_not_through_the_keys():
    m = new_cut()
    x, y = images(), images(seed=1)
    with tf.GradientTape(persistent=True) as tape:
        out = cut.cut_losses(m, x, y, keys(m), identity)
    assert set(out) == set(m.loss_keys) == {"gen_g_loss", "disc_y_loss", "nce_loss", "nce_idt_loss"}
    for name in ("gen_g", "net_f"):
        grads = tape.gradient(out["gen_g_loss"], m.models[name].trainable_variables)
        assert all(g is not None for g in grads), name
    kernels = [v for v in m.net_f.trainable_variables if "kernel" in v.path]
    assert len(kernels) == 2 * len(m.args["nce"]["layers"])  # two Dense per NCE layer, each learning
    assert all(float(tf.reduce_sum(tf.abs(g))) > 0 for g in tape.gradient(out["nce_loss"], kernels))
    source, target = tf.constant(x), tf.constant(images(seed=2))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([source, target])
        term = cut.nce_term(m, source, target, keys(m), 0)
    assert tape.gradient(term, source) is None  # the keys' features are held fixed
    assert float(tf.reduce_sum(tf.abs(tape.gradient(term, target)))) > 0


def symmetric(m):
    """Make gen_g flip-equivariant by construction: every conv kernel mirrored onto itself along the width (no
    stride-2 convs, reflection padding and per-channel norms are symmetric already)."""
    for v in m.gen_g.trainable_variables:
        if len(v.shape) == 4:
            v.assign((v + tf.reverse(v, axis=[1])) / 2)


def test_fastcut_flips_the_input_and_flips_the_queries_back():
    m = new_cut("fastcut", gen_down_blocks=0, gen_res_blocks=1)
    symmetric(m)
    x, flip = images(1), tf.constant(True)
    flipped = cut.flip_width(x, flip)
    np.testing.assert_array_equal(np.asarray(flipped), x[:, :, ::-1])
    np.testing.assert_array_equal(np.asarray(cut.flip_width(x, tf.constant(False))), x)
    np.testing.assert_allclose(np.asarray(m.gen_g(flipped)), np.asarray(m.gen_g(x))[:, :, ::-1], atol=1e-5)
    key = keys(m)
    plain = float(cut.nce_term(m, x, m.gen_g(x), key, 0))
    undone = float(cut.nce_term(m, x, m.gen_g(flipped), key, 0, flip))  # queries flipped back: aligned again
    assert undone == pytest.approx(plain, rel=1e-4)
    assert float(cut.nce_term(m, x, m.gen_g(flipped), key, 0)) != pytest.approx(plain, rel=1e-2)  # not undone
    assert float(cut.cut_losses(m, x, x, key, identity, flip=flip)["nce_loss"]) == pytest.approx(plain, rel=1e-4)
    coins = [bool(cut.flip_coin(keys(m, step))) for step in range(200)]
    assert 70 < sum(coins) < 130 and coins == [bool(cut.flip_coin(keys(m, step))) for step in range(200)]


def test_a_step_updates_the_three_models_and_fastcut_has_no_identity_term():
    for model, expected in (("cut", cut.CUT_LOSS_KEYS), ("fastcut", cut.CUT_LOSS_KEYS[:3])):
        m = new_cut(model)
        before = {k: [w.copy() for w in v.get_weights()] for k, v in m.models.items()}
        out = {k: float(v) for k, v in cut.make_cut_step(m, seed=3)(images(), images(seed=1)).items()}
        assert list(out) == [*expected, "lr"] and all(np.isfinite(list(out.values())))
        assert set(m.models) == {"gen_g", "disc_y", "net_f"} and not m.pools
        for name, model_ in m.models.items():
            assert any(not np.array_equal(a, b) for a, b in zip(before[name], model_.get_weights())), (model, name)


def test_a_cut_checkpoint_rebuilds_its_models_and_the_packaged_generator(tmp_path):
    environment.seed_everything(0)
    args = architecture.model_args(tiny_cut("fastcut"))
    m = cut.CUT(args, 1e-3, ema=0.5)
    cut.make_cut_step(m)(images(), images(seed=1))
    cyclegan.save_checkpoint(m, tmp_path / "epoch_0001", {"epoch": 1})
    meta = json.loads((tmp_path / "epoch_0001" / "checkpoint.json").read_text())
    assert meta["model_args"]["model"] == "fastcut" and meta["model_args"]["nce"]["layers"] == [0, 1, 2, 3]
    restored, _ = cut.load_model_checkpoint(tmp_path / "epoch_0001", 1e-3, ema=0.5)
    assert isinstance(restored, cut.CUT) and restored.args == m.args
    for name in m.models:
        for a, b in zip(m.models[name].get_weights(), restored.models[name].get_weights()):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(m.optimizers[name].variables, restored.optimizers[name].variables):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    averaged = cyclegan.packaged_generator(restored)
    assert averaged.count_params() == m.gen_g.count_params()
    with pytest.raises(ValueError, match="monet.gan.cut"):
        cyclegan.load_checkpoint(tmp_path / "epoch_0001")  # a CycleGAN cannot be built from CUT's args


def test_invalid_cut_params_say_which_key():
    base = {"data_dir": "synthetic"}
    with pytest.raises(params.ParamsError, match="cyclegan.pool_size': 50 but cyclegan.model cut"):
        params.validate({**base, "cyclegan": {"model": "cut", "pool_size": 50}})
    with pytest.raises(params.ParamsError, match="cyclegan.model': 'cutt' is not one of"):
        params.validate({**base, "cyclegan": {"model": "cutt"}})
    with pytest.raises(params.ParamsError, match="cyclegan.nce_layers': \\[0, 0\\] names a layer twice"):
        params.validate({**base, "cyclegan": {"model": "cut", "nce_layers": [0, 0]}})
    with pytest.raises(params.ParamsError, match="cyclegan.nce_t': 0.0 is below"):
        params.validate({**base, "cyclegan": {"model": "cut", "nce_t": 0.0}})
    with pytest.raises(params.ParamsError, match="cyclegan.num_patches': 0 is below"):
        params.validate({**base, "cyclegan": {"num_patches": 0}})
    with pytest.raises(ValueError, match="cyclegan.nce_layers \\[9\\]"):
        architecture.model_args(tiny_cut(nce_layers=[9]))
    with pytest.raises(ValueError, match="cyclegan.pool_size must be 0"):
        cut.CUT(architecture.model_args(tiny_cut()), 2e-4, pool_size=2)
    ok = params.validate({**base, "cyclegan": {"model": "fastcut", "nce_layers": 2, "lambda_cycle": 3.0}})
    assert architecture.model_args(ok["cyclegan"])["nce"]["layers"] == [2]


LEVERS = dict(augment_photo=["jitter", "flip"], augment_monet=["flip", "rot90"], diffaugment=["color", "cutout"],
              label_smoothing=0.3, lr_schedule="linear_decay", decay_from="auto", ema=0.9, steps_per_epoch=2)


@pytest.mark.slow
@pytest.mark.parametrize("model,extra", [("cut", {}),
                                         ("fastcut", dict(generator="unet", gen_filters=2, unet_depth=5, **LEVERS))],
                         ids=["cut", "fastcut-unet-levers"])
def test_cut_trains_checkpoints_and_resumes_exactly(small_run, tmp_path, monkeypatch, model, extra):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    for run in (straight, resumed):
        shutil.copytree(small_run / "data", run / "data")
    quiet = lambda *_: None  # noqa: E731
    logs = []
    a = training.train(straight, tiny_cut(model, **extra, epochs=2), seed=5, deterministic=True, log=logs.append)
    cfg = tiny_cut(model, **extra, epochs=2)  # the same params in both sessions: a budget stop after epoch 1
    first, b = stopped_then_resumed(resumed, cfg, cfg["steps_per_epoch"], monkeypatch, seed=5, deterministic=True,
                                    log=quiet)
    assert first["stopped_early"] and first["global_steps"] == cfg["steps_per_epoch"]
    assert b["resumed_from"].endswith("epoch_0001") and a["model"] == b["model"] == model
    assert set(a["parameters"]) == {"gen_g", "disc_y", "net_f"}
    history = (straight / "cyclegan" / "history.csv").read_text()
    assert history == (resumed / "cyclegan" / "history.csv").read_text()
    columns = ["epoch", "step", "global_step", "gen_g_loss", "disc_y_loss", "nce_loss"]
    assert history.splitlines()[0].split(",") == columns + (["nce_idt_loss"] if model == "cut" else []) + ["lr"]
    assert any(line.startswith(f"Model {model}: gen_g ") and "NCE layers" in line for line in logs)
    import keras

    g = keras.saving.load_model(straight / "cyclegan" / "generator.keras", compile=False)
    assert g.count_params() == a["generator_parameters"]


def test_the_runs_loss_figure_leaves_a_panel_that_a_cut_run_has_no_column_for(tmp_path):
    from monet.core import plots

    cyc = [{"global_step": str(g), "gen_g_loss": "1.0", "disc_y_loss": "0.5", "cycle_loss": "0.2"} for g in range(30)]
    cut_rows = [{"global_step": str(g), "gen_g_loss": "2.0", "disc_y_loss": "0.4", "nce_loss": "3.0"} for g in range(30)]
    path = plots.loss_comparison([("cyclegan", cyc, 10), ("cut", cut_rows, 10)],
                                 ["gen_g_loss", "disc_y_loss", "cycle_loss"], tmp_path / "losses.png")
    assert path.is_file()
    assert plots.loss_comparison([("cut", cut_rows, 10)], ["cycle_loss"], tmp_path / "only.png").is_file()


def hand_nce(m, source, target, key, term):
    """lambda_NCE x the mean over the NCE layers of losses.patch_nce_loss, computed here: the encoder's features
    of ``source`` (keys) and ``target`` (queries), gathered in numpy at the positions cut_losses draws (per layer
    i: patch_ids from sub_key(key(PATCH_SALT + term), i)), projected by net_f."""
    from monet.data import augment
    from monet.models import losses

    nce = m.args["nce"]
    feats_k = [np.asarray(f) for f in cut._as_list(m.encoder(source, training=True))]
    feats_q = [np.asarray(f) for f in cut._as_list(m.encoder(target, training=True))]
    assert len(feats_k) == len(nce["layers"]) > 1  # several layers: a sum would differ from the mean
    ids = [np.asarray(cut.patch_ids(f, nce["patches"], augment.sub_key(key(cut.PATCH_SALT + term), i)))
           for i, f in enumerate(feats_k)]
    gather = lambda f, i: f.reshape(f.shape[0], -1, f.shape[-1])[:, i]  # noqa: E731
    proj_k = m.net_f([gather(f, i) for f, i in zip(feats_k, ids)])
    proj_q = m.net_f([gather(f, i) for f, i in zip(feats_q, ids)])
    per_layer = [float(losses.patch_nce_loss(q, k, nce["temperature"])) for q, k in zip(proj_q, proj_k)]
    return nce["lambda"] * float(np.mean(per_layer))


@pytest.mark.parametrize("model", ["cut", "fastcut"])
def test_gen_g_loss_is_adversarial_plus_lambda_times_the_layer_mean_of_patchnce(monkeypatch, model):
    """CUT (nce_idt on): gen_g_loss = adversarial + 0.5 (nce_loss + nce_idt_loss); FastCUT (nce_idt off):
    adversarial + nce_loss; each NCE term lambda_NCE (2 here, not the default) x the mean over layers."""
    from monet.models import losses

    m = new_cut(model, lambda_nce=2.0)
    assert m.args["nce"]["lambda"] == 2.0 and m.args["nce"]["idt"] == (model == "cut")
    adversarial = []
    real = losses.generator_loss
    monkeypatch.setattr(losses, "generator_loss", lambda *a, **k: adversarial.append(float(real(*a, **k)))
                        or adversarial[-1])
    x, y, key = images(), images(seed=1), keys(m, 3)
    out = {k: float(v) for k, v in cut.cut_losses(m, x, y, key, identity).items()}
    assert len(adversarial) == 1 and adversarial[0] > 0
    nce = out["gen_g_loss"] - adversarial[0]
    if model == "cut":
        assert nce == pytest.approx(0.5 * (out["nce_loss"] + out["nce_idt_loss"]), rel=1e-5)
        assert out["nce_idt_loss"] == pytest.approx(hand_nce(m, y, m.gen_g(y, training=True), key, 1), rel=1e-5)
    else:
        assert "nce_idt_loss" not in out and nce == pytest.approx(out["nce_loss"], rel=1e-5)
    assert out["nce_loss"] == pytest.approx(hand_nce(m, x, m.gen_g(x, training=True), key, 0), rel=1e-5)
    assert out["nce_loss"] != pytest.approx(out.get("nce_idt_loss", 0.0), rel=1e-2)  # the terms differ
