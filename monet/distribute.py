"""Strategy and precision selection in one place, using TensorFlow's own distribution engine.

``strategy`` (the ``cyclegan.strategy`` param):
- ``auto``: a TPU when a TPU cluster resolves, else ``MirroredStrategy`` when more than one GPU is visible, else
  ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names several workers, else the default strategy;
- ``tpu``, ``mirrored`` (every GPU, or every logical CPU device when there is no GPU), ``multi_worker``,
  ``default``: that one.

``mixed_precision`` (the ``cyclegan.mixed_precision`` param): ``auto`` (``mixed_bfloat16`` on TPU,
``mixed_float16`` on GPU, off on CPU), ``off``, ``mixed_float16`` or ``mixed_bfloat16``. Generators end in a
float32 tanh and losses are computed in float32; float16 gets dynamic loss scaling.
"""
from __future__ import annotations

import json
import os

__all__ = ["STRATEGIES", "PRECISIONS", "make_strategy", "precision_policy", "describe"]

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("auto", "off", "mixed_float16", "mixed_bfloat16")


def _tpu_strategy():
    import tensorflow as tf

    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()  # raises when no TPU is there
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _workers_in_tf_config() -> int:
    try:
        return len(json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {}).get("worker", []))
    except json.JSONDecodeError:
        return 0


def make_strategy(name: str = "auto"):
    """The tf.distribute strategy for ``name`` (see the module docstring)."""
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(f"strategy {name!r}: expected one of {', '.join(STRATEGIES)}")
    if name == "tpu":
        return _tpu_strategy()
    if name == "auto":
        try:
            return _tpu_strategy()
        except Exception:  # noqa: BLE001 - no TPU here: try the next kind
            pass
        if len(tf.config.list_logical_devices("GPU")) > 1:
            return tf.distribute.MirroredStrategy()
        if _workers_in_tf_config() > 1:
            return tf.distribute.MultiWorkerMirroredStrategy()
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def precision_policy(name: str, strategy) -> str | None:
    """The Keras mixed-precision policy name for ``name`` under ``strategy``, or None for float32."""
    import tensorflow as tf

    if name not in PRECISIONS:
        raise ValueError(f"mixed_precision {name!r}: expected one of {', '.join(PRECISIONS)}")
    if name == "off":
        return None
    if name != "auto":
        return name
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    if tf.config.list_logical_devices("GPU"):
        return "mixed_float16"
    return None


def describe(strategy) -> str:
    """One line: the strategy's class, replicas and devices."""
    try:
        devices = tuple(strategy.extended.worker_devices)
    except (RuntimeError, AttributeError):  # the default strategy has no device list
        devices = ()
    return (f"{type(strategy).__name__} with {strategy.num_replicas_in_sync} replica(s)"
            + (f" on {', '.join(devices)}" if devices else ""))
