"""CUT's pieces in the models layer: PatchNCE against the formula written out in NumPy, the NCE layers of both
generators, net_f, and the parameter arithmetic of the plan."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from monet.models import architecture as A, losses as L, networks as N


def unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype("float32")


def nce_by_hand(q, k, t):
    """The CUT code's PatchNCELoss written out: per image b and patch i, -log softmax of [q_i.k_i, q_i.k_j (j != i),
    the diagonal -10] / t at the positive; the mean over images and patches."""
    total = []
    for b in range(q.shape[0]):
        for i in range(q.shape[1]):
            negatives = [(-10.0 if j == i else float(q[b, i] @ k[b, j])) for j in range(q.shape[1])]
            logits = np.array([float(q[b, i] @ k[b, i]), *negatives]) / t
            total.append(-(logits[0] - np.log(np.sum(np.exp(logits)))))
    return float(np.mean(total))


def test_patch_nce_loss_is_the_formula_with_negatives_from_the_same_image_only():
    rng = np.random.default_rng(0)
    q, k = unit(rng.normal(size=(2, 5, 4))), unit(rng.normal(size=(2, 5, 4)))
    for t in (0.07, 0.5):
        assert float(L.patch_nce_loss(q, k, t)) == pytest.approx(nce_by_hand(q, k, t), rel=1e-5)
    # The mean of per-image losses: another image's patches are no negatives of this one's.
    per_image = [float(L.patch_nce_loss(q[b:b + 1], k[b:b + 1], 0.07)) for b in range(2)]
    assert float(L.patch_nce_loss(q, k, 0.07)) == pytest.approx(np.mean(per_image), rel=1e-5)
    other = k.copy()
    other[1] = unit(rng.normal(size=(5, 4)))  # image 1's keys change: image 0's loss does not
    changed = float(L.patch_nce_loss(q, other, 0.07))
    assert changed == pytest.approx((per_image[0] + float(L.patch_nce_loss(q[1:], other[1:], 0.07))) / 2, rel=1e-5)
    assert changed != pytest.approx(float(L.patch_nce_loss(q, k, 0.07)))
    # The positive on the diagonal: keys equal to the queries give a lower loss than shuffled keys.
    assert float(L.patch_nce_loss(q, q, 0.07)) < float(L.patch_nce_loss(q, q[:, ::-1], 0.07))


def test_the_keys_are_held_fixed():
    rng = np.random.default_rng(1)
    q, k = tf.Variable(unit(rng.normal(size=(1, 6, 3)))), tf.Variable(unit(rng.normal(size=(1, 6, 3))))
    with tf.GradientTape() as tape:
        loss = L.patch_nce_loss(q, k, 0.07)
    dq, dk = tape.gradient(loss, [q, k])
    assert dk is None and float(tf.reduce_sum(tf.abs(dq))) > 0


@pytest.mark.parametrize("gen,expected", [
    (dict(kind="resnet", filters=4, down_blocks=2, res_blocks=9), [0, 1, 2, 3, 7]),  # the official 0,4,8,12,16
    (dict(kind="resnet", filters=4, down_blocks=2, res_blocks=3), [0, 1, 2, 3, 5]),  # fewer than 5: the last
    (dict(kind="resnet", filters=4, down_blocks=1, res_blocks=1), [0, 1, 2]),
    (dict(kind="unet", filters=2, depth=8, dropout=0.5), [0, 1, 2, 3, 4]),
    (dict(kind="unet", filters=2, depth=2, dropout=0.5), [0, 1, 2]),
])
def test_default_nce_layers(gen, expected):
    args = A.generator_args(**gen)
    assert A.default_nce_layers(args) == expected


@pytest.mark.parametrize("gen,size", [(dict(kind="resnet", filters=4, down_blocks=2, res_blocks=3), 32),
                                      (dict(kind="unet", filters=2, depth=5, dropout=0.5), 64)])
def test_the_nce_encoder_shares_the_generators_layers_and_returns_every_nce_layer(gen, size):
    args = A.generator_args(**gen)
    g = N.generator(**args)
    available = A.nce_layers(args)
    encoder = N.nce_encoder(g, args, list(range(len(available))))
    assert not [w for w in encoder.weights if not any(w is v for v in g.weights)]  # no weights of its own
    x = np.random.default_rng(0).uniform(-1, 1, (1, size, size, 3)).astype("float32")
    feats = encoder(x)
    assert [int(f.shape[-1]) for f in feats] == [c for _, c in available]
    if args["kind"] == "unet":
        np.testing.assert_array_equal(np.asarray(feats[0]), x)  # the input itself
        assert [int(f.shape[1]) for f in feats] == [size // 2 ** i for i in range(len(available))]
    else:
        assert int(feats[0].shape[1]) == size + 6  # the reflection-padded input
        assert [int(f.shape[1]) for f in feats[1:]] == [size // 2, size // 4] + [size // 4] * 3
    # A generator's weights file is the same with or without an encoder built on it.
    fresh = N.generator(**args)
    fresh.set_weights(g.get_weights())
    assert len(fresh.weights) == len(g.weights)


def test_a_saved_generator_loads_after_an_encoder_was_built_on_it(tmp_path):
    args = A.generator_args("resnet", 2, 1, 1)
    g = N.generator(**args, name="gen_g")
    N.nce_encoder(g, args, [0, 1, 2])
    g.save(str(tmp_path / "g.keras"))
    g.save_weights(str(tmp_path / "g.weights.h5"))
    loaded = keras.saving.load_model(str(tmp_path / "g.keras"), compile=False)
    plain = N.generator(**args, name="gen_g")
    plain.load_weights(str(tmp_path / "g.weights.h5"))
    x = np.ones((1, 8, 8, 3), "float32") * 0.3
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(g(x)), atol=1e-6)
    np.testing.assert_allclose(np.asarray(plain(x)), np.asarray(g(x)), atol=1e-6)


def test_net_f_is_one_mlp_per_layer_normalised_with_xavier_weights():
    keras.utils.set_random_seed(0)
    f = N.projection_mlp([3, 64], units=128)
    gen = A.generator_args("resnet", 32, 1, 1)  # NCE layers 0 (3 channels) and 1 (64 channels)
    assert f.count_params() == A.net_f_parameters(gen, {"layers": [0, 1], "units": 128})
    dense = [layer for layer in f.layers if isinstance(layer, keras.layers.Dense)]
    assert len(dense) == 4
    kernel = np.asarray(dense[3].kernel)  # 128 -> 128: xavier normal, gain 0.02
    assert kernel.std() == pytest.approx(0.02 * np.sqrt(2 / 256), rel=0.05)
    assert all(not np.asarray(d.bias).any() for d in dense)
    out = f([np.random.default_rng(0).normal(size=(2, 7, 3)).astype("float32"),
             np.random.default_rng(1).normal(size=(2, 5, 64)).astype("float32")])
    assert [tuple(o.shape) for o in out] == [(2, 7, 128), (2, 5, 128)]
    np.testing.assert_allclose(np.linalg.norm(np.asarray(out[1]), axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("disc", [dict(blocks=4, filters=64, kernel=4, strides=[2, 2, 2, 1]),
                                  dict(blocks=3, filters=8, kernel=2, strides=2, activation="relu"),
                                  dict(blocks=2, filters=4, kernel=2, strides=2, norm="none")])
def test_discriminator_parameter_arithmetic_matches_keras(disc):
    args = A.discriminator_args(**disc)
    assert A.discriminator_parameters(args) == N.patch_discriminator(**args).count_params()


def test_nce_settings_resolve_the_models_defaults_and_name_the_key_when_wrong():
    from monet.core import params

    cfg = params.defaults()["cyclegan"]
    gen = A.model_args(cfg)["generator"]
    cut = A.nce_args({**cfg, "model": "cut"}, gen)
    fast = A.nce_args({**cfg, "model": "fastcut"}, gen)
    assert (cut["lambda"], cut["idt"], cut["flip"]) == (1.0, True, False)
    assert (fast["lambda"], fast["idt"], fast["flip"]) == (10.0, False, True)
    assert A.nce_args({**cfg, "model": "fastcut", "nce_idt": True, "lambda_nce": 2.0}, gen)["idt"] is True
    assert cut["layers"] == [0, 1, 2, 3, 7] and cut["patches"] == 256 and cut["temperature"] == 0.07
    assert "model" not in A.model_args(cfg)  # a CycleGAN's args are what its checkpoints always carried
    with pytest.raises(ValueError, match=r"cyclegan.nce_layers \[0, 12\].*12 layers"):
        A.model_args({**cfg, "model": "cut", "nce_layers": [0, 12]})
