"""Augmentation: of the training images (tf.data, per domain) and DiffAugment (in the train step).

Both are stateless: every random draw is keyed by an integer pair, so a resumed run draws what an uninterrupted
one drew, and the same key gives the same images.

Training augmentation (``cyclegan.augment_photo`` / ``cyclegan.augment_monet``), any of:
- ``flip``: random horizontal flip;
- ``jitter``: resize 256 -> 286 and crop a random 256 square (the CycleGAN paper's jitter);
- ``rot90``: rotate by a random multiple of 90 degrees.

``crop`` (``cyclegan.train_size``) then cuts a random square of that side: cheaper steps on fully convolutional
networks that still translate whole 256-px photos.

DiffAugment (Zhao et al., "Differentiable Augmentation for Data-Efficient GAN Training", 2020): the same random
policy is applied to real and generated images before every discriminator call, in the discriminator's and the
generator's updates alike, and is differentiable, so the generator learns through it. Policies, as in the
paper's code (images in [-1, 1]):
- ``color``: brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5), each per image;
- ``translation``: shift by up to 1/8 of the side in each direction, zeros filling the gap;
- ``cutout``: zero a square of half the side at a random place (it may stick out of the image).
"""
from __future__ import annotations

__all__ = ["TRAINING_OPS", "DIFF_POLICIES", "sub_key", "augment_image", "diff_augment"]

TRAINING_OPS = ("flip", "jitter", "rot90")
DIFF_POLICIES = ("color", "translation", "cutout")


def sub_key(key, data):
    """An independent stateless key for ``data`` (an int) under ``key`` (an int pair): TensorFlow's
    ``stateless_fold_in``, a hash of both, so no two (key, data) pairs share a stream of draws (arithmetic such
    as ``key * 8 + salt`` makes streams overlap once a salt reaches 8)."""
    import tensorflow as tf

    return tf.random.experimental.stateless_fold_in(tf.cast(key, tf.int64), tf.cast(data, tf.int64))


def _seed(key, salt: int):
    return sub_key(key, salt)


def augment_image(image, ops, key, crop: int | None = None):
    """One HxWx3 training image through the ``ops`` (a subset of :data:`TRAINING_OPS`, applied in that order),
    then cut to a random ``crop`` x ``crop`` square when ``crop`` is smaller than the image; drawn from the
    stateless ``key`` (an int pair)."""
    import tensorflow as tf

    unknown = set(ops) - set(TRAINING_OPS)
    if unknown:
        raise ValueError(f"augmentation {sorted(unknown)}: expected some of {', '.join(TRAINING_OPS)}")
    size = image.shape[0] or 256
    if "jitter" in ops:
        grown = int(round(size * 286 / 256))
        image = tf.image.resize(image, [grown, grown])
        image = tf.image.stateless_random_crop(image, [size, size, 3], seed=_seed(key, 0))
    if "flip" in ops:
        image = tf.image.stateless_random_flip_left_right(image, seed=_seed(key, 1))
    if "rot90" in ops:
        k = tf.random.stateless_uniform([], seed=_seed(key, 2), minval=0, maxval=4, dtype=tf.int32)
        image = tf.image.rot90(image, k)
    if crop is not None and crop < size:
        image = tf.image.stateless_random_crop(image, [crop, crop, 3], seed=_seed(key, 3))
    return image


def _uniform(shape, key, salt, low=0.0, high=1.0):
    import tensorflow as tf

    return tf.random.stateless_uniform(shape, seed=_seed(key, salt), minval=low, maxval=high, dtype=tf.float32)


def _color(x, key):
    import tensorflow as tf

    n = tf.shape(x)[0]
    x = x + _uniform([n, 1, 1, 1], key, 3, -0.5, 0.5)
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - mean) * _uniform([n, 1, 1, 1], key, 4, 0.0, 2.0) + mean
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * _uniform([n, 1, 1, 1], key, 5, 0.5, 1.5) + mean


def _shift_axis(x, shift):
    """Shift every image of ``x`` (N, A, B, C) along axis 1 by ``shift[i]`` pixels, zeros filling the gap."""
    import tensorflow as tf

    length = tf.shape(x)[1]
    padded = tf.pad(x, [[0, 0], [1, 1], [0, 0], [0, 0]])  # row 0 and row length+1 are zeros
    index = tf.clip_by_value(tf.range(length)[None, :] - shift[:, None] + 1, 0, length + 1)
    return tf.gather(padded, index, axis=1, batch_dims=1)


def _translation(x, key, ratio: float = 0.125):
    import tensorflow as tf

    n, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    sh = tf.cast(tf.cast(h, tf.float32) * ratio + 0.5, tf.int32)
    sw = tf.cast(tf.cast(w, tf.float32) * ratio + 0.5, tf.int32)
    dy = tf.random.stateless_uniform([n], seed=_seed(key, 6), minval=-sh, maxval=sh + 1, dtype=tf.int32)
    dx = tf.random.stateless_uniform([n], seed=_seed(key, 7), minval=-sw, maxval=sw + 1, dtype=tf.int32)
    x = _shift_axis(x, dy)
    return tf.transpose(_shift_axis(tf.transpose(x, [0, 2, 1, 3]), dx), [0, 2, 1, 3])


def _cutout(x, key, ratio: float = 0.5):
    import tensorflow as tf

    n, h, w = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
    ch = tf.cast(tf.cast(h, tf.float32) * ratio + 0.5, tf.int32)
    cw = tf.cast(tf.cast(w, tf.float32) * ratio + 0.5, tf.int32)
    cy = tf.random.stateless_uniform([n, 1, 1], seed=_seed(key, 8), minval=0, maxval=h + (1 - ch % 2),
                                     dtype=tf.int32)
    cx = tf.random.stateless_uniform([n, 1, 1], seed=_seed(key, 9), minval=0, maxval=w + (1 - cw % 2),
                                     dtype=tf.int32)
    rows = tf.range(h)[None, :, None] - (cy - ch // 2)
    cols = tf.range(w)[None, None, :] - (cx - cw // 2)
    inside = (rows >= 0) & (rows < ch) & (cols >= 0) & (cols < cw)
    return x * tf.cast(~inside, x.dtype)[..., None]


_POLICY_FUNCTIONS = {"color": _color, "translation": _translation, "cutout": _cutout}


def diff_augment(images, policy, key):
    """DiffAugment of a batch (N, H, W, 3) in [-1, 1] with ``policy`` (some of :data:`DIFF_POLICIES`, applied in
    that order; empty: ``images`` unchanged), random draws from the stateless ``key`` (an int pair), per image.
    Differentiable with respect to ``images``."""
    import tensorflow as tf

    unknown = set(policy) - set(DIFF_POLICIES)
    if unknown:
        raise ValueError(f"DiffAugment policy {sorted(unknown)}: expected some of {', '.join(DIFF_POLICIES)}")
    if not policy:
        return images
    x = tf.cast(images, tf.float32)
    for name in DIFF_POLICIES:
        if name in policy:
            x = _POLICY_FUNCTIONS[name](x, key)
    return tf.cast(x, images.dtype)
