"""The style-transfer painter: VGG19 features and :class:`BatchPainter`, which optimizes many photos at once.

Speed: :class:`BatchPainter` optimizes a batch of *slots* at once in one compiled step. Each slot holds its own
photo, style, optimizer state, schedule position and early-stopping state; the update is element-wise, so a
photo gets the same result in a batch as alone. A slot whose image stopped is frozen, its image written at once,
and the slot refilled with the next photo.

The stage that paints a run's photos with it is :mod:`monet.style.transfer`; the losses are :mod:`monet.models.losses`.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from monet.core.weights import KERAS_FILES, keras_application
from monet.data import images
from monet.models import losses

__all__ = ["VGG_MEAN_BGR", "vgg_preprocess", "vgg_deprocess", "vgg19_layer_names", "load_vgg19",
           "feature_extractor", "BatchPainter", "load_image"]

VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


# ------------------------------------------------------------------------------------------- VGG19
def vgg_preprocess(images) -> np.ndarray:
    """RGB in [0, 255] (B, H, W, 3) -> VGG19's input: BGR minus the ImageNet mean (Keras's 'caffe' mode)."""
    x = np.asarray(images, dtype=np.float32)
    return x[..., ::-1] - VGG_MEAN_BGR


def vgg_deprocess(x) -> np.ndarray:
    """The inverse of :func:`vgg_preprocess`, clipped and rounded to uint8 RGB."""
    x = np.asarray(x, dtype=np.float32) + VGG_MEAN_BGR
    return np.clip(np.rint(x[..., ::-1]), 0, 255).astype(np.uint8)


def vgg19_layer_names() -> list[str]:
    """The layer names of Keras's VGG19 without its top (``block1_conv1`` .. ``block5_pool``)."""
    import keras

    return [layer.name for layer in keras.applications.VGG19(include_top=False, weights=None).layers[1:]]


def load_vgg19(weights: str):
    """Keras's VGG19 without its top. ``weights``: 'imagenet' (Keras's download and cache), a path to
    ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5``, or 'none' (random: tests and the offline demo)."""
    return keras_application("VGG19", weights, KERAS_FILES["vgg"], "nst.vgg_weights")


def feature_extractor(vgg, style_layers: list[str], content_layer: str):
    """A model mapping preprocessed images to [style layer outputs..., content layer output]."""
    import keras

    valid = [layer.name for layer in vgg.layers[1:]]
    unknown = [n for n in [*style_layers, content_layer] if n not in valid]
    if unknown:
        raise ValueError(f"unknown VGG19 layer(s) {', '.join(unknown)}; valid layers: {', '.join(valid)}")
    outputs = [vgg.get_layer(n).output for n in style_layers] + [vgg.get_layer(content_layer).output]
    return keras.Model(vgg.inputs, outputs, name="vgg19_features")


# ------------------------------------------------------------------------------------- the painter
class BatchPainter:
    """Optimizes ``slots`` images of ``size`` (height, width) at once, each slot independent.

    cfg keys used: style_weight, content_weight, tv_weight, optimizer ('sgd' | 'adam'), learning_rate,
    decay_steps, decay_rate (lr_t = learning_rate * decay_rate ** (t / decay_steps)), max_iterations, patience,
    delta (relative: a loss must fall below best * (1 - delta) to count as an improvement), jit_compile.
    """

    BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7  # Adam, Keras's defaults

    def __init__(self, extractor, cfg: dict, size: tuple[int, int], slots: int):
        import tensorflow as tf

        self.extractor, self.cfg, self.size, self.slots = extractor, cfg, tuple(size), slots
        h, w = self.size
        shapes = [tuple(o.shape[1:]) for o in extractor.outputs]
        zeros = lambda shape, dtype=tf.float32: tf.Variable(tf.zeros(shape, dtype), trainable=False)  # noqa: E731
        self.x = zeros((slots, h, w, 3))
        self.best_x, self.m, self.v = zeros((slots, h, w, 3)), zeros((slots, h, w, 3)), zeros((slots, h, w, 3))
        self.t = zeros((slots,), tf.int32)
        self.limit = zeros((slots,), tf.int32)  # each slot's own max_iterations (auto gives each photo its share)
        self.wait = zeros((slots,), tf.int32)
        self.best = tf.Variable(tf.fill((slots,), np.float32(np.inf)), trainable=False)
        self.active = zeros((slots,), tf.bool)
        self.style_grams = [zeros((slots, s[-1], s[-1])) for s in shapes[:-1]]
        content_hw = extractor.compute_output_shape((1, h, w, 3))[-1][1:]
        self.content = zeros((slots, *content_hw))
        self._step = tf.function(self._step_fn, jit_compile=cfg["jit_compile"])
        self._targets = tf.function(lambda x: extractor(x, training=False))

    def load(self, slot: int, content_rgb: np.ndarray, style_rgb: np.ndarray, max_iterations: int | None = None) -> None:
        """Start painting ``content_rgb`` with ``style_rgb`` (uint8 HxWx3 of this painter's size) in ``slot``, for
        at most ``max_iterations`` (default: the cfg's)."""
        x0 = vgg_preprocess(content_rgb[None])
        content_features = self._targets(x0)[-1]
        style_features = self._targets(vgg_preprocess(style_rgb[None]))[:-1]
        self.x[slot].assign(x0[0])
        self.best_x[slot].assign(x0[0])
        self.m[slot].assign(np.zeros_like(x0[0]))
        self.v[slot].assign(np.zeros_like(x0[0]))
        self.content[slot].assign(content_features[0])
        for var, feats in zip(self.style_grams, style_features):
            var[slot].assign(losses.gram_matrix(feats)[0])
        self.t[slot].assign(0)
        self.set_limit(slot, self.cfg["max_iterations"] if max_iterations is None else max_iterations)
        self.wait[slot].assign(0)
        self.best[slot].assign(np.inf)
        self.active[slot].assign(True)

    def _loss_terms(self, x):
        import tensorflow as tf

        feats = self.extractor(x, training=False)
        pixels = self.size[0] * self.size[1]
        style = tf.add_n([losses.style_loss(g, losses.gram_matrix(f), pixels)
                          for g, f in zip(self.style_grams, feats[:-1])]) / len(self.style_grams)
        content = losses.content_loss(self.content, feats[-1])
        tv = losses.total_variation_loss(x)
        c = self.cfg
        return c["style_weight"] * style, c["content_weight"] * content, c["tv_weight"] * tv

    def _step_fn(self):
        import tensorflow as tf

        c = self.cfg
        active = self.active
        mask = tf.cast(active, tf.float32)[:, None, None, None]
        x_before = tf.identity(self.x)
        with tf.GradientTape() as tape:
            tape.watch(self.x)
            style, content, tv = self._loss_terms(self.x)
            total = style + content + tv
            objective = tf.reduce_sum(total * tf.cast(active, tf.float32))
        grad = tape.gradient(objective, self.x)
        t_new = self.t + tf.cast(active, tf.int32)
        t_float = tf.cast(t_new, tf.float32)
        lr = c["learning_rate"] * tf.pow(c["decay_rate"], (t_float - 1.0) / c["decay_steps"])[:, None, None, None]
        if c["optimizer"] == "adam":
            m = self.BETA_1 * self.m + (1 - self.BETA_1) * grad
            v = self.BETA_2 * self.v + (1 - self.BETA_2) * tf.square(grad)
            self.m.assign(mask * m + (1 - mask) * self.m)
            self.v.assign(mask * v + (1 - mask) * self.v)
            t4 = tf.maximum(t_float, 1.0)[:, None, None, None]
            m_hat = self.m / (1 - tf.pow(self.BETA_1, t4))
            v_hat = self.v / (1 - tf.pow(self.BETA_2, t4))
            update = lr * m_hat / (tf.sqrt(v_hat) + self.EPSILON)
        else:
            update = lr * grad
        self.x.assign(self.x - mask * update)
        self.t.assign(t_new)
        # Early stopping on the loss of x_before (the image the loss was measured on).
        improved = tf.logical_and(active, total < self.best * (1.0 - c["delta"]))
        self.best_x.assign(tf.where(improved[:, None, None, None], x_before, self.best_x))
        self.best.assign(tf.where(improved, total, self.best))
        self.wait.assign(tf.where(improved, 0, self.wait + tf.cast(active, tf.int32)))
        done = tf.logical_and(active, tf.logical_or(self.wait >= c["patience"], t_new >= self.limit))
        self.active.assign(tf.logical_and(active, tf.logical_not(done)))
        return {"total": total, "style": style, "content": content, "tv": tv, "done": done}

    def step(self) -> dict:
        """One iteration for every active slot; returns per-slot numpy arrays (losses before the update, done)."""
        return {k: v.numpy() for k, v in self._step().items()}

    def result(self, slot: int) -> np.ndarray:
        """The slot's best image so far as uint8 RGB."""
        return vgg_deprocess(self.best_x[slot].numpy())

    def set_limit(self, slot: int, max_iterations: int) -> None:
        """Change a slot's iteration limit (never below the iterations it has done plus one)."""
        limit = 2 ** 30 if max_iterations == "auto" else int(max_iterations)
        self.limit[slot].assign(max(limit, int(self.t[slot].numpy()) + 1))

    def state(self, slot: int) -> dict:
        return {"iterations": int(self.t[slot].numpy()), "best_loss": float(self.best[slot].numpy()),
                "limit": int(self.limit[slot].numpy())}


def load_image(path, size: tuple[int, int] | None = None, max_side: int | None = None) -> np.ndarray:
    """Any image file as uint8 RGB (grayscale, palette and RGBA converted; alpha flattened onto white),
    resized to ``size`` (height, width) or so that its longest side is ``max_side``."""
    with Image.open(path) as im:
        im.load()
        im = images.to_rgb(im)
        if size is not None and im.size != (size[1], size[0]):
            im = im.resize((size[1], size[0]), Image.LANCZOS)
        elif max_side is not None:
            scale = max_side / max(im.size)
            im = im.resize((max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale))), Image.LANCZOS)
        return np.asarray(im)
