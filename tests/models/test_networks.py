"""Shapes, receptive fields and saving of the architectures (tiny tensors, CPU)."""
import keras
import numpy as np
import pytest

from monet.models import architecture as A, networks as N

REPORT_BEST = dict(blocks=3, filters=8, kernel=2, strides=2, activation="relu")
REPORT_EXP2 = dict(blocks=4, filters=64, kernel=2, strides=2, activation="relu")
CLASSIC = dict(blocks=4, filters=64, kernel=4, strides=[2, 2, 2, 1], activation="leaky_relu")


@pytest.mark.parametrize("config,expected", [(REPORT_BEST, 32), (REPORT_EXP2, 64), (CLASSIC, 70)],
                         ids=["report-best", "report-exp2", "classic-patchgan"])
def test_receptive_field(config, expected):
    assert A.receptive_field(A.discriminator_layers(**config)) == expected


def test_receptive_field_by_hand():
    assert A.receptive_field([(3, 1)]) == 3
    assert A.receptive_field([(3, 1), (3, 1)]) == 5
    assert A.receptive_field([(2, 2), (2, 2)]) == 4


@pytest.mark.parametrize("config,size,out", [(REPORT_BEST, 256, 29), (REPORT_EXP2, 256, 13), (CLASSIC, 256, 29),
                                             (REPORT_BEST, 64, 5)])
def test_discriminator_shapes(config, size, out):
    d = N.patch_discriminator(**config)
    y = d(np.zeros((2, size, size, 3), "float32"))
    assert tuple(y.shape) == (2, out, out, 1)


def test_discriminator_filters_double_and_cap():
    d = N.patch_discriminator(blocks=5, filters=128, kernel=3, strides=2)
    convs = [layer.filters for layer in d.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs == [128, 256, 512, 512, 512, 1]


@pytest.mark.parametrize("filters,down,res,size", [(4, 2, 1, 32), (8, 1, 2, 16), (4, 0, 0, 8), (2, 3, 1, 64)])
def test_generator_shapes_and_range(filters, down, res, size):
    g = N.resnet_generator(filters, down, res)
    x = np.random.default_rng(0).uniform(-1, 1, (2, size, size, 3)).astype("float32")
    y = np.asarray(g(x))
    assert y.shape == x.shape
    assert np.all(np.abs(y) <= 1.0)


def test_report_generator_size():
    assert N.resnet_generator().count_params() == 11_383_427  # the report's 11.4 M


def test_generator_blocks_are_counted():
    g = N.resnet_generator(4, 2, 3)
    assert sum(isinstance(layer, keras.layers.Add) for layer in g.layers) == 3
    assert sum(isinstance(layer, keras.layers.Conv2DTranspose) for layer in g.layers) == 2


def test_reflection_padding_mirrors():
    x = np.arange(9, dtype="float32").reshape(1, 3, 3, 1)
    y = np.asarray(N.ReflectionPadding2D(1)(x))[0, :, :, 0]
    assert y.shape == (5, 5)
    np.testing.assert_array_equal(y[0], [4, 3, 4, 5, 4])
    np.testing.assert_array_equal(y[:, 0], [4, 1, 4, 7, 4])


def test_instance_norm_normalizes_each_image_and_channel():
    x = np.random.default_rng(1).normal(3, 5, (2, 8, 8, 3)).astype("float32")
    y = np.asarray(N.instance_norm()(x))
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0, atol=1e-4)
    np.testing.assert_allclose(y.std(axis=(1, 2)), 1, atol=1e-2)


def test_generator_saves_and_loads(tmp_path):
    g = N.resnet_generator(4, 1, 1)
    x = np.random.default_rng(2).uniform(-1, 1, (1, 16, 16, 3)).astype("float32")
    g.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(g(x)), atol=1e-6)


def test_seeded_builds_are_identical_and_layers_differ():
    keras.utils.set_random_seed(5)
    a = N.resnet_generator(4, 1, 2)
    keras.utils.set_random_seed(5)
    b = N.resnet_generator(4, 1, 2)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    convs = [layer.get_weights()[0] for layer in a.layers if type(layer) is keras.layers.Conv2D
             and layer.get_weights()[0].shape == (3, 3, 8, 8)]
    assert len(convs) == 4 and not np.array_equal(convs[0], convs[1])  # not one shared initializer seed


def test_bad_arguments():
    with pytest.raises(ValueError, match="one stride per block"):
        N.patch_discriminator(blocks=3, strides=[2, 2])
    with pytest.raises(ValueError, match="activation"):
        N.patch_discriminator(blocks=1, strides=2, activation="gelu")
    with pytest.raises(ValueError, match="bad resnet generator"):
        N.resnet_generator(0)


@pytest.mark.parametrize("kind, extra", [("resnet", dict(filters=2, down_blocks=1, res_blocks=1)),
                                         ("unet", dict(filters=2, depth=3, dropout=0.0))])
def test_a_generator_that_starts_as_the_identity(tmp_path, kind, extra):
    """identity_start: at initialisation the output is the photo (to float32 round-off), the same weights as the
    plain generator, gradients reach the last conv, and the .keras file loads back to the same function."""
    import tensorflow as tf

    args = A.generator_args(kind, **extra, identity_start=True)
    assert args["identity_start"] and "identity_start" not in A.generator_args(kind, **extra)
    g = N.generator(**args)
    plain = N.generator(**A.generator_args(kind, **extra))
    assert g.count_params() == plain.count_params() == A.generator_parameters(args)
    x = tf.constant(np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)), tf.float32)
    np.testing.assert_allclose(g(x).numpy(), x.numpy(), atol=1e-6)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(g(x, training=True) - 0.5))
    grads = tape.gradient(loss, g.trainable_variables)
    assert float(tf.reduce_sum(tf.abs(grads[-2]))) > 0  # the last conv's kernel learns from the start
    g.layers[-3].set_weights([w + 0.01 for w in g.layers[-3].get_weights()])  # no longer the identity
    g.save(tmp_path / "g.keras")
    loaded = keras.saving.load_model(tmp_path / "g.keras", compile=False)
    np.testing.assert_allclose(loaded(x).numpy(), g(x).numpy(), atol=1e-6)
    assert not np.allclose(g(x).numpy(), x.numpy(), atol=1e-3)
