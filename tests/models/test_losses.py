"""Each loss against a value computed by hand."""
import math

import numpy as np
import pytest

from monet.models import losses as L


def f(x):
    return float(np.asarray(x))


def test_lsgan():
    logits = np.array([[0.5, -1.0]], "float32")
    assert f(L.adversarial_loss(logits, True, "lsgan")) == pytest.approx((0.25 + 4.0) / 2)
    assert f(L.adversarial_loss(logits, False, "lsgan")) == pytest.approx((0.25 + 1.0) / 2)
    assert f(L.generator_loss(logits)) == pytest.approx(2.125)


def test_bce():
    assert f(L.adversarial_loss(np.zeros((2, 3)), True, "bce")) == pytest.approx(math.log(2), rel=1e-5)
    z = 2.0
    assert f(L.adversarial_loss(np.full((1, 1), z), False, "bce")) == pytest.approx(math.log1p(math.exp(z)), rel=1e-5)
    assert f(L.adversarial_loss(np.full((1, 1), z), True, "bce")) == pytest.approx(math.log1p(math.exp(-z)), rel=1e-5)


def test_discriminator_loss_is_half_the_sum():
    real, fake = np.array([1.0, 0.0], "float32"), np.array([0.5, 0.0], "float32")
    # real: ((1-1)^2 + (0-1)^2)/2 = 0.5; fake: (0.25 + 0)/2 = 0.125
    assert f(L.discriminator_loss(real, fake)) == pytest.approx(0.5 * (0.5 + 0.125))


def test_cycle_and_identity_are_l1():
    a, b = np.array([1.0, 2.0], "float32"), np.array([0.0, 4.0], "float32")
    assert f(L.cycle_loss(a, b)) == pytest.approx(1.5)
    assert f(L.identity_loss(a, a)) == 0.0


def test_unknown_mode():
    with pytest.raises(ValueError, match="lsgan"):
        L.adversarial_loss(np.zeros(1), True, "wgan")


def test_gram_matrix_by_hand():
    f = np.array([[[[1.0, 2.0]], [[3.0, 4.0]]]], "float32")  # one image, 2x1 positions, 2 channels
    np.testing.assert_allclose(np.asarray(L.gram_matrix(f)), [[[10.0, 14.0], [14.0, 20.0]]])


def test_style_loss_by_hand():
    s = np.zeros((2, 2, 2), "float32")
    g = np.array([np.eye(2), np.zeros((2, 2))], "float32")
    # image 0: sum of squares 2, / (4 * 9 * 16^2) for a 4x4 image; image 1: identical grams
    np.testing.assert_allclose(np.asarray(L.style_loss(s, g, image_pixels=16)), [2 / (4 * 9 * 256), 0.0], rtol=1e-6)


def test_content_loss_by_hand():
    a = np.zeros((2, 1, 2, 1), "float32")
    b = np.array([[[[1.0], [2.0]]], [[[0.0], [0.0]]]], "float32")
    np.testing.assert_allclose(np.asarray(L.content_loss(a, b)), [5.0, 0.0])


def test_total_variation_by_hand():
    x = np.zeros((1, 2, 2, 1), "float32")
    x[0, 1, 0, 0] = 2.0  # only the top-left pixel has neighbours in both directions: (2^2 + 0^2)^1.25
    assert f(L.total_variation_loss(x)[0]) == pytest.approx(4.0 ** 1.25)
    assert f(L.total_variation_loss(np.ones((1, 3, 3, 3)))[0]) == 0.0
