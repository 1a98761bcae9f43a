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


def write_inception_graph(path, layers: dict) -> None:
    """The 2015 Inception graph up to pool_3 as Kaggle's classify_image_graph_def.pb lays it out: a JPEG decoded,
    ``ExpandDims``, ``ResizeBilinear`` to 299, ``Sub``/``Mul``, and each conv layer as ``NAME/conv2d_params``,
    ``NAME/Conv2D`` (its strides and padding) and ``NAME/batchnorm/{beta,moving_mean,moving_variance}`` constants,
    then ``pool_3``. ``layers`` are by graph name, as :func:`monet.scoring.kaggle_weights.load` returns them."""
    import tensorflow as tf

    from monet.scoring.kaggle_inception import assemble

    graph = tf.Graph()
    made = {}

    def conv(x, name):
        layer = layers[name]
        with tf.name_scope(name + "/"):
            kernel = tf.constant(layer["kernel"], name="conv2d_params")
            y = tf.nn.conv2d(x, kernel, int(layer["stride"]), layer["padding"].upper(), name="Conv2D")
            with tf.name_scope(name + "/batchnorm/"):
                beta = tf.constant(layer["beta"], name="beta")
                mean = tf.constant(layer["mean"], name="moving_mean")
                var = tf.constant(layer["var"], name="moving_variance")
            y = tf.nn.batch_normalization(y, mean, var, beta, None, 0.001)
            return tf.nn.relu(y, name="relu")

    def step(x, item, prefix):
        if isinstance(item, tuple):
            kind, size, stride, padding = item
            pool = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d
            return pool(x, size, stride, padding.upper())
        name = f"{prefix}/{item}" if prefix else item
        if name not in made:
            made[name] = conv(x, name)
        return made[name]

    with graph.as_default():
        jpeg = tf.compat.v1.placeholder(tf.string, [], name="DecodeJpeg/contents")
        image = tf.cast(tf.io.decode_jpeg(jpeg, channels=3), tf.float32, name="Cast")
        x = tf.expand_dims(image, 0, name="ExpandDims")
        x = tf.compat.v1.image.resize_bilinear(x, [299, 299], name="ResizeBilinear")
        x = tf.multiply(tf.subtract(x, 128.0, name="Sub"), 1.0 / 128.0, name="Mul")
        x = assemble(x, step, lambda outs, block: tf.concat(outs, 3, name=f"{block}/join"))
        tf.nn.avg_pool2d(x, 8, 1, "VALID", name="pool_3")
    path.write_bytes(graph.as_graph_def().SerializeToString())
