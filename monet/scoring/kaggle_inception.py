"""Kaggle's scoring network in Keras: the 2015 Inception graph (``classify_image_graph_def.pb``) up to pool_3.

It takes what Kaggle feeds its graph, 0-255 RGB images of any size (the competition's are 256x256), resizes them
to 299x299 with TF1's bilinear resize (``align_corners=False, half_pixel_centers=False``), scales them to
x/128 - 1 and returns the 2,048 pool_3 features. Each conv layer is the graph's conv without bias, batch norm with
beta only (eps 0.001) and ReLU; the batch norm is folded into the conv's kernel and bias here. The 2015 graph
differs from Keras's InceptionV3 in places (its last block's pool branch takes a max, not an average), so the
topology is written out below with the graph's names; weights come from :mod:`monet.scoring.kaggle_weights`.
"""
from __future__ import annotations

import numpy as np

from monet.core.weights import WeightsError

__all__ = ["LAYERS", "STEM", "BLOCKS", "check_layers", "build", "assemble", "INPUT_SIDE"]

INPUT_SIDE = 299
EPSILON = 0.001

# The graph's topology: each block's branches, each branch a list of conv layer names (relative to the block) or
# a pool ("max"/"avg", size, stride, padding) first. Kernel sizes come from the weights, strides and paddings too.
_A = [["conv"], ["tower/conv", "tower/conv_1"], ["tower_1/conv", "tower_1/conv_1", "tower_1/conv_2"],
      [("avg", 3, 1, "same"), "tower_2/conv"]]
_B = [["conv"], ["tower/conv", "tower/conv_1", "tower/conv_2"], [("max", 3, 2, "valid")]]
_C = [["conv"], ["tower/conv", "tower/conv_1", "tower/conv_2"],
      ["tower_1/conv", "tower_1/conv_1", "tower_1/conv_2", "tower_1/conv_3", "tower_1/conv_4"],
      [("avg", 3, 1, "same"), "tower_2/conv"]]
_D = [["tower/conv", "tower/conv_1"], ["tower_1/conv", "tower_1/conv_1", "tower_1/conv_2", "tower_1/conv_3"],
      [("max", 3, 2, "valid")]]


def _e(pool: str) -> list:
    """The last two blocks: two branches that split in two (1x3 and 3x1), so six outputs."""
    return [["conv"], ["tower/conv", "tower/mixed/conv"], ["tower/conv", "tower/mixed/conv_1"],
            ["tower_1/conv", "tower_1/conv_1", "tower_1/mixed/conv"],
            ["tower_1/conv", "tower_1/conv_1", "tower_1/mixed/conv_1"], [(pool, 3, 1, "same"), "tower_2/conv"]]


STEM = ["conv", "conv_1", "conv_2", ("max", 3, 2, "valid"), "conv_3", "conv_4", ("max", 3, 2, "valid")]
BLOCKS = ([("mixed", _A), ("mixed_1", _A), ("mixed_2", _A), ("mixed_3", _B)]
          + [(f"mixed_{i}", _C) for i in (4, 5, 6, 7)] + [("mixed_8", _D), ("mixed_9", _e("avg")),
                                                           ("mixed_10", _e("max"))])
LAYERS = [s for s in STEM if isinstance(s, str)] + sorted(
    {f"{block}/{step}" for block, branches in BLOCKS for branch in branches for step in branch
     if isinstance(step, str)})


def check_layers(layers: dict) -> None:
    """Every conv layer of the graph is there with a 4-d kernel and matching batch norm vectors, nothing else."""
    missing, extra = sorted(set(LAYERS) - set(layers)), sorted(set(layers) - set(LAYERS))
    if missing or extra:
        raise WeightsError(f"not the 2015 Inception graph's layers: missing {missing[:3]}, unexpected {extra[:3]}"
                           f" ({len(missing)} missing, {len(extra)} unexpected)")
    for name in LAYERS:
        layer = layers[name]
        kernel = np.asarray(layer["kernel"])
        shapes = [np.shape(layer[k]) for k in ("beta", "mean", "var")]
        if kernel.ndim != 4 or any(s != (kernel.shape[3],) for s in shapes):
            raise WeightsError(f"{name}: kernel {kernel.shape} and batch norm {shapes} do not fit")
        if layer["padding"] not in ("same", "valid") or int(layer["stride"]) not in (1, 2):
            raise WeightsError(f"{name}: stride {layer['stride']}, padding {layer['padding']!r} unexpected")


def build(layers: dict):
    """A Keras model: (n, h, w, 3) 0-255 floats -> (n, 2048) pool_3 features."""
    import keras

    check_layers(layers)
    made: dict = {}

    def conv(x, name):
        layer = layers[name]
        scale = 1.0 / np.sqrt(np.asarray(layer["var"], np.float64) + EPSILON)
        kernel = (np.asarray(layer["kernel"], np.float64) * scale).astype(np.float32)
        bias = (np.asarray(layer["beta"], np.float64) - np.asarray(layer["mean"], np.float64) * scale)
        out = keras.layers.Conv2D(kernel.shape[3], kernel.shape[:2], strides=int(layer["stride"]),
                                  padding=layer["padding"], activation="relu", name=name.replace("/", "."),
                                  dtype="float32")
        y = out(x)
        out.set_weights([kernel, bias.astype(np.float32)])
        return y

    def step(x, item, prefix):
        if isinstance(item, tuple):
            kind, size, stride, padding = item
            pool = keras.layers.MaxPooling2D if kind == "max" else keras.layers.AveragePooling2D
            return pool(size, stride, padding, dtype="float32")(x)
        name = f"{prefix}/{item}" if prefix else item
        if name not in made:  # branches of the last blocks share their first convs
            made[name] = conv(x, name)
        return made[name]

    images = keras.Input((None, None, 3), dtype="float32")
    x = _resize_layer()(name="resize_bilinear_tf1", dtype="float32")(images)
    x = assemble(x, step, lambda outs, block: keras.layers.Concatenate(name=f"{block}.join", dtype="float32")(outs))
    pool = keras.layers.GlobalAveragePooling2D(name="pool_3", dtype="float32")(x)  # the graph's 8x8 VALID average
    return keras.Model(images, pool, name="kaggle_inception_2015")


def assemble(x, step, join):
    """The graph's topology applied to ``x``: ``step(x, item, block)`` for each conv name or pool of the stem and
    the blocks' branches, ``join(outputs, block)`` for each block's concatenation."""
    for item in STEM:
        x = step(x, item, "")
    for block, branches in BLOCKS:
        outs = []
        for branch in branches:
            y = x
            for item in branch:
                y = step(y, item, block)
            outs.append(y)
        x = join(outs, block)
    return x


def _resize_layer():
    import keras
    import tensorflow as tf

    class Resize(keras.layers.Layer):
        """TF1's ResizeBilinear to 299x299 (corners not aligned, no half-pixel centres), then x/128 - 1."""

        def call(self, x):
            x = tf.compat.v1.image.resize_bilinear(x, [INPUT_SIDE, INPUT_SIDE], align_corners=False,
                                                   half_pixel_centers=False)
            return (x - 128.0) * (1.0 / 128.0)

        def compute_output_shape(self, shape):
            return (shape[0], INPUT_SIDE, INPUT_SIDE, shape[3])

    return Resize

