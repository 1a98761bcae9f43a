"""The GPU check, prepared to run as one short script where a GPU is lent (none is on the development machines):
``leaderboard.yaml`` and ``cut_kaggle.yaml`` at full network size under mixed float16, XLA off and on, a few
dozen steps each on generated data, printing steps/s and peak GPU memory; then the two-replica overflow check on
two virtual GPUs carved out of the first one (what Kaggle's "T4 x2" runs).

    python benchmarks/bench_gpu.py [--steps 40] [--batch 4]

Prints one ``recipe=... xla=... steps_per_s=... peak_gib=...`` line per run and ``overflow_two_gpus=...``; on a
machine without a GPU it says so and exits 0.
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CHILD = r'''
import json, sys, time
import tensorflow as tf
recipe, xla, steps, batch, root = sys.argv[1], sys.argv[2] == "on", int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
from monet.core import params
from monet.data import fetch
from monet.gan import training
fetch.fetch(root, "synthetic", seed=1, synthetic_photos=max(64, steps * batch), synthetic_monet=32, sample_images=2)
cfg = params.load_params(f"params/{recipe}.yaml", [
    "cyclegan.mixed_precision=mixed_float16", f"cyclegan.jit_compile={str(xla).lower()}", "cyclegan.epochs=1",
    f"cyclegan.steps_per_epoch={steps}", f"cyclegan.batch_size={batch}", "cyclegan.score_checkpoints=0"])["cyclegan"]
t0 = time.time()
summary = training.train(root, cfg, seed=1, log=lambda *_: None)
peak = tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**30
print("RESULT " + json.dumps({"steps_per_s": 1 / summary["seconds_per_step"] if summary["seconds_per_step"] else None,
                              "peak_gib": peak, "replicas": summary["replicas"], "seconds": time.time() - t0}))
'''

OVERFLOW = r'''
import json
import numpy as np
import tensorflow as tf
gpu = tf.config.list_physical_devices("GPU")[0]
tf.config.set_logical_device_configuration(gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=4096)] * 2)
import keras
from monet.core import params
from monet.gan import cyclegan
from monet.models import architecture
keras.mixed_precision.set_global_policy("mixed_float16")
strategy = tf.distribute.MirroredStrategy(["/gpu:0", "/gpu:1"],  # NCCL refuses two devices of one GPU
                                          cross_device_ops=tf.distribute.HierarchicalCopyAllReduce())
cfg = params.defaults()["cyclegan"]
m = cyclegan.CycleGAN(architecture.model_args(cfg), 2e-4, strategy=strategy, loss_scale=True)
step = cyclegan.make_train_step(m)
fine = np.random.default_rng(0).uniform(-1, 1, (1, 256, 256, 3)).astype("float32")
huge = np.full((1, 256, 256, 3), 1e6, "float32")
per = lambda a, b: strategy.experimental_distribute_values_from_function(
    lambda ctx: tf.constant(a if ctx.replica_id_in_sync_group == 0 else b))
before = {n: float(o.dynamic_scale.numpy()) for n, o in m.optimizers.items()}
step(per(fine, huge), per(fine, fine), tf.constant(0, tf.int64))
finite = all(bool(np.isfinite(w.numpy()).all()) for mod in m.models.values() for w in mod.weights)
after = {n: float(o.dynamic_scale.numpy()) for n, o in m.optimizers.items()}
print("RESULT " + json.dumps({"finite": finite, "scale_before": before, "scale_after": after}))
'''


def child(code: str, *args) -> dict:
    proc = subprocess.run([sys.executable, "-c", code, *args], cwd=REPO, capture_output=True, text=True)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if not line:
        return {"error": (proc.stderr or proc.stdout)[-800:]}
    return json.loads(line[len("RESULT "):])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--batch", type=int, default=4)
    args = ap.parse_args()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print("no GPU on this machine: nothing run (the script is ready for one)")
        return
    print(f"gpus={len(gpus)} tensorflow={tf.__version__} date={time.strftime('%Y-%m-%d')}")
    for recipe in ("leaderboard", "cut_kaggle"):
        for xla in ("off", "on"):
            with tempfile.TemporaryDirectory() as root:
                out = child(CHILD, recipe, xla, str(args.steps), str(args.batch), root)
            print(f"recipe={recipe} xla={xla} " + " ".join(f"{k}={v}" for k, v in out.items()), flush=True)
    print("overflow_two_gpus=" + json.dumps(child(OVERFLOW)))


if __name__ == "__main__":
    main()
