"""Losses, named after the maths.

CycleGAN and CUT losses return a scalar float32 tensor (mean over their inputs). Discriminator outputs are logits (one
per patch); ``mode`` is 'lsgan' (least squares: real -> 1, fake -> 0, the paper's choice) or 'bce' (binary
cross-entropy on the logits).

Style-transfer losses (Gatys et al., as in the Keras example the report follows) work on a batch and return one
value per image, so that every image of a batch can be optimized, and stopped, on its own.
"""
from __future__ import annotations

from keras import ops

__all__ = ["adversarial_loss", "generator_loss", "discriminator_loss", "cycle_loss", "identity_loss",
           "patch_nce_loss", "gram_matrix", "style_loss", "content_loss", "total_variation_loss"]

MODES = ("lsgan", "bce")


def adversarial_loss(logits, target_is_real: bool, mode: str = "lsgan", real_label: float = 1.0):
    """Mean over patches of (D - t)^2 for 'lsgan', or BCE(sigmoid(D), t) for 'bce'; t = ``real_label`` (1 unless
    smoothed) if real, else 0."""
    logits = ops.cast(logits, "float32")
    target = ops.full_like(logits, real_label) if target_is_real else ops.zeros_like(logits)
    if mode == "lsgan":
        return ops.mean(ops.square(logits - target))
    if mode == "bce":
        return ops.mean(ops.binary_crossentropy(target, logits, from_logits=True))
    raise ValueError(f"adversarial loss mode must be one of {MODES}, got {mode!r}")


def generator_loss(fake_logits, mode: str = "lsgan"):
    """The generator wants its fakes judged real: adversarial_loss(D(G(x)), real)."""
    return adversarial_loss(fake_logits, True, mode)


def discriminator_loss(real_logits, fake_logits, mode: str = "lsgan", label_smoothing: float = 0.0):
    """(adversarial_loss(D(y), real) + adversarial_loss(D(G(x)), fake)) / 2, the paper's halved D loss.

    ``label_smoothing`` s (one-sided, Salimans et al. 2016): the discriminator's target for real images is
    1 - s; fakes stay 0 and the generator still aims at 1.
    """
    return 0.5 * (adversarial_loss(real_logits, True, mode, 1.0 - label_smoothing)
                  + adversarial_loss(fake_logits, False, mode))


def _l1(a, b):
    return ops.mean(ops.abs(ops.cast(a, "float32") - ops.cast(b, "float32")))


def cycle_loss(real, cycled):
    """Mean absolute error |x - F(G(x))| (L1), unweighted; the train step multiplies by lambda_cycle."""
    return _l1(real, cycled)


def identity_loss(real, same):
    """Mean absolute error |y - G(y)| (L1), unweighted; weighted by lambda_cycle * lambda_identity."""
    return _l1(real, same)


def patch_nce_loss(feat_q, feat_k, temperature: float = 0.07):
    """PatchNCE (Park et al. 2020, the CUT code's ``PatchNCELoss``) for one layer, unweighted: the mean over every
    image b and patch i of the cross-entropy of

        logits = [q_bi . k_bi, q_bi . k_bj for every j != i] / temperature,  target 0 (the positive),

    with ``feat_q``, ``feat_k`` of shape (batch, patches, dim) (the same patch positions in both; normalised by
    net_f). The keys are held fixed (stop_gradient): gradients flow through the queries only. Negatives come from
    the same image's other patches only; the diagonal (a patch with itself) is masked with -10 before the division
    by the temperature, as the CUT code does, instead of being dropped."""
    q = ops.cast(feat_q, "float32")
    k = ops.stop_gradient(ops.cast(feat_k, "float32"))
    l_pos = ops.sum(q * k, axis=-1, keepdims=True)  # (B, N, 1)
    l_neg = ops.einsum("bnd,bmd->bnm", q, k)  # (B, N, N)
    diagonal = ops.eye(ops.shape(l_neg)[-1], dtype="bool")
    l_neg = ops.where(diagonal[None], ops.full_like(l_neg, -10.0), l_neg)
    logits = ops.concatenate([l_pos, l_neg], axis=-1) / temperature
    return -ops.mean(ops.log_softmax(logits, axis=-1)[..., 0])


# ------------------------------------------------------------------------------------- style transfer
def gram_matrix(features):
    """G[b, c, d] = sum over positions of F[b, :, :, c] * F[b, :, :, d], for features (B, H, W, C)."""
    features = ops.cast(features, "float32")
    return ops.einsum("bhwc,bhwd->bcd", features, features)


def style_loss(style_gram, generated_gram, image_pixels: int, channels: int = 3):
    """Per image: sum((S - G)^2) / (4 * channels^2 * image_pixels^2), the Keras example's normalisation
    (``image_pixels`` = height * width of the image, ``channels`` = its 3 colour channels)."""
    return ops.sum(ops.square(style_gram - generated_gram), axis=(1, 2)) / (4.0 * channels ** 2 * image_pixels ** 2)


def content_loss(content_features, generated_features):
    """Per image: sum of squared feature differences."""
    diff = ops.cast(generated_features, "float32") - ops.cast(content_features, "float32")
    return ops.sum(ops.square(diff), axis=(1, 2, 3))


def total_variation_loss(images):
    """Per image: sum over pixels of ((x[i,j] - x[i+1,j])^2 + (x[i,j] - x[i,j+1])^2) ** 1.25."""
    x = ops.cast(images, "float32")
    a = ops.square(x[:, :-1, :-1, :] - x[:, 1:, :-1, :])
    b = ops.square(x[:, :-1, :-1, :] - x[:, :-1, 1:, :])
    return ops.sum(ops.power(a + b, 1.25), axis=(1, 2, 3))
