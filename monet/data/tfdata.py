"""tf.data pipelines over the competition's images: decoding, the seeded epoch order that makes resume exact,
paired (photo X, painting Y) training batches and photo batches for translation.

Items are file paths (from the manifest of :mod:`monet.data.fetch`) or encoded image bytes (read from TFRecords).
"""
from __future__ import annotations

import numpy as np

from monet.data.fetch import IMAGE_SIZE

__all__ = ["decode_image", "read_tfrecord_images", "epoch_order", "domain_window", "paired_epoch",
           "photo_batches"]

def decode_image(data, size: int = IMAGE_SIZE):
    """JPEG (or PNG) bytes -> float32 HxWx3 in [-1, 1], resized to ``size`` when it is not already."""
    import tensorflow as tf

    image = tf.io.decode_image(data, channels=3, expand_animations=False)
    image = tf.cond(tf.reduce_all(tf.equal(tf.shape(image)[:2], [size, size])),
                    lambda: tf.cast(image, tf.float32),
                    lambda: tf.image.resize(tf.cast(image, tf.float32), [size, size]))
    image.set_shape([size, size, 3])
    return image / 127.5 - 1.0


def read_tfrecord_images(paths: list[str]) -> list[bytes]:
    """The JPEG bytes of every record in ``paths`` (feature ``image``), in file order."""
    import tensorflow as tf

    spec = {"image": tf.io.FixedLenFeature([], tf.string)}
    ds = tf.data.TFRecordDataset(sorted(paths)).map(lambda r: tf.io.parse_single_example(r, spec)["image"])
    return [b.numpy() for b in ds]


def epoch_order(n: int, seed: int, start: int, count: int) -> np.ndarray:
    """Indices into ``n`` items for stream positions ``start .. start+count-1``.

    The stream is an endless sequence of passes, each a fresh seeded permutation of all ``n`` items, so every
    item appears once per pass and the window for any position can be recomputed (that is what makes resume
    exact: epoch e of a resumed run sees the same images as epoch e of an uninterrupted one).
    """
    out = np.empty(count, dtype=np.int64)
    pos = start
    while pos < start + count:
        p, offset = divmod(pos, n)
        take = min(n - offset, start + count - pos)
        out[pos - start:pos - start + take] = np.random.default_rng([seed, p]).permutation(n)[offset:offset + take]
        pos += take
    return out


def domain_window(items: list, from_files: bool, seed: int, start: int, count: int, augment_ops=(),
                  crop: int | None = None):
    """A tf.data.Dataset of ``count`` images at stream positions ``start..`` (see :func:`epoch_order`).

    ``items`` are file paths (``from_files``) or encoded image bytes. Augmentation (``augment_ops``, see
    :func:`monet.data.augment.augment_image`) and the random ``crop`` are stateless and keyed by (seed, position),
    so they are reproducible too.
    """
    import tensorflow as tf

    from monet.data.augment import augment_image

    order = epoch_order(len(items), seed, start, count)
    positions = np.arange(start, start + count, dtype=np.int64)
    chosen = [items[i] for i in order]
    ds = tf.data.Dataset.from_tensor_slices((positions, tf.constant(chosen, dtype=tf.string)))

    def load(position, item):
        data = tf.io.read_file(item) if from_files else item
        image = decode_image(data)
        if augment_ops or (crop is not None and crop < IMAGE_SIZE):
            image = augment_image(image, tuple(augment_ops), tf.stack([tf.cast(seed, tf.int64), position]), crop)
        return image

    return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def paired_epoch(photos: list, monets: list, from_files: bool, epoch: int, steps: int, batch_size: int,
                 seed: int, augment_photo=(), augment_monet=(), first_step: int = 0, last_step: int | None = None,
                 crop: int | None = None):
    """Batches of (photo X, painting Y) for steps ``first_step .. last_step - 1`` of an epoch of ``steps`` steps
    (all of them by default; a run resumed mid-epoch starts later, a run planned to end mid-epoch stops sooner).

    Photos advance through their own stream (each photo once per pass over the photos: an epoch of the
    default length shows every photo once); paintings, usually far fewer, repeat reshuffled in theirs.
    Unlike zipping two finite datasets, nothing is cut to the shorter domain. ``crop``: random squares of that
    side from both domains (``cyclegan.train_size``).
    """
    import tensorflow as tf

    last_step = steps if last_step is None else last_step
    start = (epoch * steps + first_step) * batch_size
    count = max(0, last_step - first_step) * batch_size
    x = domain_window(photos, from_files, seed, start, count, augment_photo, crop)
    y = domain_window(monets, from_files, seed + 1, start, count, augment_monet, crop)
    return tf.data.Dataset.zip((x, y)).batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def photo_batches(paths: list[str], batch_size: int):
    """Photos in the given order as float batches in [-1, 1], decoding overlapped with the caller's work."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(tf.constant(paths, dtype=tf.string))
    ds = ds.map(lambda p: decode_image(tf.io.read_file(p)), num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.batch(batch_size).prefetch(2)
