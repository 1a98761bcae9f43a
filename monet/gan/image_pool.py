"""The CycleGAN paper's image pool (Shrivastava et al. 2017): discriminators see a history of generated images.

Until the pool holds ``size`` images every fake is stored and passed through; after that each fake, with
probability 1/2, is swapped for a stored one (which it replaces), else passed through. The draws are stateless
(keyed by the train step), and the pool's contents are saved in checkpoints, so resume stays exact.
It lives in variables updated inside the compiled step, so it runs with one replica only.
"""
from __future__ import annotations

from monet.data.augment import sub_key

__all__ = ["ImagePool"]


class ImagePool:
    """A pool of ``size`` images of ``shape`` (H, W, C), as TensorFlow variables."""

    def __init__(self, size: int, shape: tuple[int, int, int]):
        import tensorflow as tf

        if size < 1:
            raise ValueError(f"pool size must be >= 1, got {size}")
        self.size = int(size)
        self.images = tf.Variable(tf.zeros((self.size, *shape), tf.float32), trainable=False, name="pool_images")
        self.count = tf.Variable(0, dtype=tf.int32, trainable=False, name="pool_count")

    @property
    def variables(self) -> list:
        return [self.images, self.count]

    def query(self, images, key):
        """The images the discriminator sees instead of the batch ``images`` (N, H, W, C); updates the pool.
        ``key``: an int pair for the stateless draws (e.g. (seed, step))."""
        import tensorflow as tf

        images = tf.cast(images, tf.float32)
        out = []
        for i in range(images.shape[0]):  # the batch is static in the compiled step
            swap_draw = tf.random.stateless_uniform([], seed=sub_key(key, 2 * i))
            slot_draw = tf.random.stateless_uniform([], seed=sub_key(key, 2 * i + 1), maxval=self.size,
                                                    dtype=tf.int32)
            filling = self.count < self.size
            swap = tf.logical_and(tf.logical_not(filling), swap_draw > 0.5)
            slot = tf.where(filling, self.count, slot_draw)
            stored = tf.identity(self.images[slot])
            new = tf.stop_gradient(images[i])
            self.images[slot].assign(tf.where(tf.logical_or(filling, swap), new, stored))
            self.count.assign(tf.minimum(self.count + 1, self.size))
            out.append(tf.where(swap, stored, images[i]))
        return tf.stack(out)
