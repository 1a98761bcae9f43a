"""CycleGAN losses, named after the maths. Each returns a scalar float32 tensor (mean over its inputs).

Discriminator outputs are logits (one per patch). ``mode`` is 'lsgan' (least squares: real -> 1, fake -> 0,
the paper's choice) or 'bce' (binary cross-entropy on the logits).
"""
from __future__ import annotations

from keras import ops

__all__ = ["adversarial_loss", "generator_loss", "discriminator_loss", "cycle_loss", "identity_loss"]

MODES = ("lsgan", "bce")


def adversarial_loss(logits, target_is_real: bool, mode: str = "lsgan"):
    """Mean over patches of (D - t)^2 for 'lsgan', or BCE(sigmoid(D), t) for 'bce'; t = 1 if real else 0."""
    logits = ops.cast(logits, "float32")
    target = ops.ones_like(logits) if target_is_real else ops.zeros_like(logits)
    if mode == "lsgan":
        return ops.mean(ops.square(logits - target))
    if mode == "bce":
        return ops.mean(ops.binary_crossentropy(target, logits, from_logits=True))
    raise ValueError(f"adversarial loss mode must be one of {MODES}, got {mode!r}")


def generator_loss(fake_logits, mode: str = "lsgan"):
    """The generator wants its fakes judged real: adversarial_loss(D(G(x)), real)."""
    return adversarial_loss(fake_logits, True, mode)


def discriminator_loss(real_logits, fake_logits, mode: str = "lsgan"):
    """(adversarial_loss(D(y), real) + adversarial_loss(D(G(x)), fake)) / 2, the paper's halved D loss."""
    return 0.5 * (adversarial_loss(real_logits, True, mode) + adversarial_loss(fake_logits, False, mode))


def _l1(a, b):
    return ops.mean(ops.abs(ops.cast(a, "float32") - ops.cast(b, "float32")))


def cycle_loss(real, cycled):
    """Mean absolute error |x - F(G(x))| (L1), unweighted; the train step multiplies by lambda_cycle."""
    return _l1(real, cycled)


def identity_loss(real, same):
    """Mean absolute error |y - G(y)| (L1), unweighted; weighted by lambda_cycle * lambda_identity."""
    return _l1(real, same)
