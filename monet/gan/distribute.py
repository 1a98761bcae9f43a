"""Strategy and precision selection in one place, using TensorFlow's own distribution engine.

``strategy`` (the ``cyclegan.strategy`` param):
- ``auto``: the TPU when one is attached (its resolver as the environment names it, else the local TPU of a TPU
  VM; one that is attached but does not start is an error, not a CPU run), else ``MirroredStrategy`` when more than one GPU is visible, else
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

__all__ = ["STRATEGIES", "PRECISIONS", "global_batch", "make_strategy", "precision_policy", "describe", "TPUError",
           "tpu_present", "tpu_resolver", "auto_tpu", "TPU_ENV"]

STRATEGIES = ("auto", "default", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("auto", "off", "mixed_float16", "mixed_bfloat16")


class TPUError(RuntimeError):
    """A TPU is attached but does not start: training on the host's CPU instead would run at a fraction of the
    speed, silently, so the run stops and says why."""


# What a machine with a TPU shows before TensorFlow starts: Colab and Kaggle name it in the environment, a TPU VM
# has its chips as /dev/accel* (/dev/vfio is left out: GPU hosts that pass devices through have it too).
TPU_ENV = ("TPU_NAME", "COLAB_TPU_ADDR", "TPU_ACCELERATOR_TYPE", "TPU_WORKER_HOSTNAMES")
TPU_DEVICES = ("/dev/accel0",)


def tpu_present(environ=None, exists=os.path.exists) -> bool:
    """Whether this machine has a TPU attached (whether or not it starts)."""
    environ = os.environ if environ is None else environ
    return any(environ.get(k) for k in TPU_ENV) or any(exists(p) for p in TPU_DEVICES)


def tpu_resolver(factory=None):
    """The TPU cluster resolver: as the environment names it (``TPU_NAME``, Colab's address), else the local TPU
    (``tpu="local"``: TPU VMs, which set no name). Raises the last error when neither resolves."""
    import tensorflow as tf

    factory = factory or tf.distribute.cluster_resolver.TPUClusterResolver
    try:
        return factory()
    except Exception:  # noqa: BLE001 - no name given: a TPU VM's own TPU
        return factory(tpu="local")


def _tpu_strategy(factory=None):
    import tensorflow as tf

    resolver = tpu_resolver(factory)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _workers_in_tf_config() -> int:
    try:
        return len(json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {}).get("worker", []))
    except json.JSONDecodeError:
        return 0


def _tpu_available() -> bool:
    if not tpu_present():
        return False
    try:
        tpu_resolver()
        return True
    except Exception:  # noqa: BLE001 - no TPU here
        return False


def auto_tpu(factory=None, present=None):
    """``strategy: auto``'s first choice: the TPU strategy where a TPU is attached, None where none is; a TPU that
    is attached but does not start raises TPUError (with the resolver's reason) rather than train on the CPU."""
    if not (tpu_present() if present is None else present):
        return None
    try:
        return _tpu_strategy(factory)
    except Exception as exc:  # noqa: BLE001 - any failure to start it
        raise TPUError(f"a TPU is attached ({', '.join(k for k in TPU_ENV if os.environ.get(k)) or 'a TPU device'}) "
                       f"but did not start ({type(exc).__name__}: {exc}). Restart the session (a TPU can be held "
                       "by another process), or set cyclegan.strategy: default to train on the CPU on purpose."
                       ) from None


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
        strategy = auto_tpu()
        gpus = len(tf.config.list_logical_devices("GPU"))
        if strategy is not None:
            pass
        elif gpus > 1 and (batch is None or batch % gpus == 0):
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
