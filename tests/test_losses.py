"""Each loss against a value computed by hand."""
import math

import numpy as np
import pytest

from monet import losses as L


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
