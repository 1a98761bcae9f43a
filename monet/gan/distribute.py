"""Strategy and precision selection in one place, using TensorFlow's own distribution engine.

``strategy`` (the ``cyclegan.strategy`` param):
- ``auto``: a TPU when a TPU cluster resolves, else ``MirroredStrategy`` when more than one GPU is visible, else
  ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` names several workers, else the default strategy;
- ``tpu``, ``mirrored`` (every GPU, or every logical CPU device when there is no GPU), ``multi_worker``,
  ``default``: that one.

``batch_size`` is the global batch (the images of each domain per step, over all replicas): ``auto`` gives 32
on a TPU (4 per core of a v3-8), 4 per GPU, 1 on a CPU. A strategy of several replicas splits it evenly; under
``auto`` a batch that does not split over the visible GPUs trains on one device instead (the report's
experiments, batch 1, train as the report did wherever they run).

``mixed_precision`` (the ``cyclegan.mixed_precision`` param): ``auto`` (``mixed_bfloat16`` on TPU,
``mixed_float16`` on GPU, off on CPU), ``off``, ``mixed_float16`` or ``mixed_bfloat16``. Generators end in a
float32 tanh and losses are computed in float32; float16 gets dynamic loss scaling.
"""
from __future__ import annotations

import json
import os

__all__ = ["STRATEGIES", "PRECISIONS", "global_batch", "make_strategy", "precision_policy", "describe"]

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


def _tpu_available() -> bool:
    try:
        import tensorflow as tf

        tf.distribute.cluster_resolver.TPUClusterResolver()
        return True
    except Exception:  # noqa: BLE001 - no TPU here
        return False


def global_batch(batch_size, strategy: str = "auto") -> int:
    """The global batch for the ``batch_size`` param (an int, or 'auto': see the module docstring)."""
    import tensorflow as tf

    if batch_size != "auto":
        return int(batch_size)
    if strategy in ("auto", "tpu") and _tpu_available():
        return 32
    gpus = len(tf.config.list_logical_devices("GPU"))
    return 4 * gpus if gpus else 1


def make_strategy(name: str = "auto", batch: int | None = None):
    """The tf.distribute strategy for ``name`` (see the module docstring); ``batch`` is the global batch, which
    every replica must get an equal share of."""
    import tensorflow as tf

    if name not in STRATEGIES:
        raise ValueError(f"strategy {name!r}: expected one of {', '.join(STRATEGIES)}")
    if name == "auto":
        try:
            strategy = _tpu_strategy()
        except Exception:  # noqa: BLE001 - no TPU here: try the next kind
            gpus = len(tf.config.list_logical_devices("GPU"))
            if gpus > 1 and (batch is None or batch % gpus == 0):
                strategy = tf.distribute.MirroredStrategy()
            elif _workers_in_tf_config() > 1:
                strategy = tf.distribute.MultiWorkerMirroredStrategy()
            else:
                strategy = tf.distribute.get_strategy()
    elif name == "tpu":
        strategy = _tpu_strategy()
    elif name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
    elif name == "multi_worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        strategy = tf.distribute.get_strategy()
    replicas = strategy.num_replicas_in_sync
    if batch is not None and batch % replicas:
        raise ValueError(f"cyclegan.batch_size {batch} (the global batch) does not split evenly over the "
                         f"{replicas} replicas of {type(strategy).__name__}; use a multiple of {replicas}")
    return strategy


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
