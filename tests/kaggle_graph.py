"""A small stand-in for Kaggle's classify_image_graph_def.pb: the same tensor names and the same path from a
decoded JPEG to the pool features (ExpandDims -> resize -> normalize -> conv -> average pool ``pool_3``)."""
import numpy as np


def write_graph(path, side: int = 16, channels: int = 2048, seed: int = 0):
    import tensorflow as tf

    weights = np.random.default_rng(seed).normal(0, 0.05, (3, 3, 3, channels)).astype("float32")
    graph = tf.Graph()
    with graph.as_default():
        jpeg = tf.compat.v1.placeholder(tf.string, [], name="DecodeJpeg/contents")
        image = tf.cast(tf.io.decode_jpeg(jpeg, channels=3), tf.float32, name="Cast")
        x = tf.expand_dims(image, 0, name="ExpandDims")
        x = tf.compat.v1.image.resize_bilinear(x, [side, side], name="ResizeBilinear")
        x = tf.multiply(tf.subtract(x, 128.0, name="Sub"), 1.0 / 128.0, name="Mul")
        y = tf.nn.relu(tf.nn.conv2d(x, tf.constant(weights), 1, "SAME"))
        tf.nn.avg_pool2d(y, [1, side, side, 1], [1, 1, 1, 1], "VALID", name="pool_3")
    path.write_bytes(graph.as_graph_def().SerializeToString())
    return weights


def expected_features(images: np.ndarray, weights: np.ndarray, side: int = 16) -> np.ndarray:
    """What the graph computes for a batch of 0-255 images, written out with eager ops."""
    import tensorflow as tf

    x = tf.compat.v1.image.resize_bilinear(tf.constant(images, tf.float32), [side, side])
    x = (x - 128.0) / 128.0
    y = tf.nn.relu(tf.nn.conv2d(x, tf.constant(weights), 1, "SAME"))
    return tf.reduce_mean(y, axis=[1, 2]).numpy()
