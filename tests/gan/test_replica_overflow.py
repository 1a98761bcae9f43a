"""Two replicas under float16 (Kaggle's "T4 x2"): an overflow on replica 1 alone skips the step on both and lowers
the loss scale, instead of summing NaN into the weights. Two logical CPUs stand in for the GPUs; the split must
happen before TensorFlow starts, so the check runs in a child process that prints JSON."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

CHILD = r'''
import json, sys
import numpy as np
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from monet.gan import cyclegan
from monet.core import params
from monet.models import architecture

keras.mixed_precision.set_global_policy("mixed_float16")
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
cfg = params.defaults()["cyclegan"]
cfg.update(gen_filters=4, gen_res_blocks=1, disc_blocks=2, disc_filters=4, disc_kernel=2, disc_strides=2,
           disc_activation="relu")
args = architecture.model_args(cfg)
m = cyclegan.CycleGAN(args, 2e-4, strategy=strategy, loss_scale=True)
step = cyclegan.make_train_step(m)
rng = np.random.default_rng(0)
fine = rng.uniform(-1, 1, (1, 32, 32, 3)).astype("float32")
huge = np.full((1, 32, 32, 3), 1e6, "float32")  # past float16's range: inf on this replica only

def per_replica(a, b):
    return strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(a if ctx.replica_id_in_sync_group == 0 else b))

scales = lambda: {n: float(o.dynamic_scale.numpy()) for n, o in m.optimizers.items()}
finite = lambda: {n: all(bool(np.isfinite(w.numpy()).all()) for w in mod.weights) for n, mod in m.models.items()}
out = {}
for where, x in (("replica1", per_replica(fine, huge)), ("replica0", per_replica(huge, fine))):
    before = scales()
    step(x, per_replica(fine, fine), tf.constant(0, tf.int64))
    out[where] = {"finite": finite(), "before": before, "after": scales()}
weights = [w.numpy().copy() for w in m.gen_g.trainable_weights]
before = scales()
step(per_replica(fine, fine), per_replica(fine, fine), tf.constant(1, tf.int64))  # a normal step trains on
out["finite_after_next"] = all(finite().values())
out["next_step_trained"] = any(not np.array_equal(a, w.numpy()) for a, w in zip(weights, m.gen_g.trainable_weights))
out["next_step_kept_scales"] = scales() == before
print("RESULT " + json.dumps(out))
'''


@pytest.mark.slow
def test_an_overflow_on_one_replica_skips_the_step_on_every_replica():
    """Replica 1 overflows alone, then replica 0 alone: each time no model takes NaN weights and the loss scales of
    the optimizers whose gradients overflowed halve; a normal step afterwards trains on."""
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, cwd=REPO, timeout=600)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = json.loads(line[len("RESULT "):])
    for where in ("replica1", "replica0"):
        case = out[where]
        assert all(case["finite"].values()), (where, case)  # no NaN summed into any model
        # gen_g and gen_f's losses see the inf images (and disc_x's, which judges them): their scales halve
        lowered = [n for n in case["before"] if case["after"][n] < case["before"][n]]
        assert "gen_g" in lowered and "disc_x" in lowered, (where, case)
    assert out["finite_after_next"] and out["next_step_trained"] and out["next_step_kept_scales"], out
