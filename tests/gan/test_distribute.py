"""tf.distribute on this machine: the CPU split into two logical devices.

The split must happen before TensorFlow starts, so the checks run in a child process (``distribute_child``)
that prints its findings as JSON.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow  # a child process trains four small runs
child_group = pytest.mark.xdist_group("distribute_child")  # one worker runs the child once for its three tests
# (mixed_float16 through training.train is the rehearsal's, tests/test_rehearsal.py; under two replicas,
# tests/gan/test_replica_overflow.py's)

CHILD = r'''
import json, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from monet.core import params
from monet.data import fetch as data
from monet.gan import distribute, training

root = sys.argv[1]
data.fetch(root + "/base", "synthetic", seed=3, synthetic_photos=24, synthetic_monet=4, sample_images=2)


def cfg(**kw):
    c = params.defaults()["cyclegan"]
    c.update(gen_filters=4, gen_res_blocks=1, disc_blocks=2, disc_filters=4, disc_kernel=2, disc_strides=2,
             disc_activation="relu", steps_per_epoch=3, epochs=1, sample_images=2, augment_photo=["flip"],
             train_size=64)
    c.update(kw)
    return c


import shutil

def run(name, **kw):
    shutil.copytree(root + "/base/data", root + f"/{name}/data", dirs_exist_ok=True)
    return training.train(root + f"/{name}", cfg(**kw), seed=5, log=lambda *_: None)


def history(name):
    import csv
    with open(root + f"/{name}/cyclegan/history.csv") as fh:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(fh)]


out = {"auto": distribute.describe(distribute.make_strategy("auto")),
       "mirrored": distribute.describe(distribute.make_strategy("mirrored"))}
a = run("default", strategy="default", batch_size=2)
b = run("mirrored", strategy="mirrored", batch_size=2)  # the global batch: 2 replicas x 1
out["summary_default"] = {k: a[k] for k in ("strategy", "replicas", "global_batch_size")}
out["summary_mirrored"] = {k: b[k] for k in ("strategy", "replicas", "global_batch_size")}
out["epoch1_default"], out["epoch1_mirrored"] = history("default"), history("mirrored")
# Each resumes under the other strategy for a second epoch.
a2 = run("default", strategy="mirrored", batch_size=2, epochs=2)
b2 = run("mirrored", strategy="default", batch_size=2, epochs=2)
out["resumed"] = [a2["resumed_from"], b2["resumed_from"]]
out["epoch2_default_then_mirrored"] = history("default")[3:]
out["epoch2_mirrored_then_default"] = history("mirrored")[3:]
print("RESULT " + json.dumps(out))
'''


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    root = tmp_path_factory.mktemp("distribute")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(root)], capture_output=True, text=True, cwd=REPO,
                          timeout=900)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, f"child failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return json.loads(line[len("RESULT "):])


def close(rows_a, rows_b, rtol=2e-3):
    keys = ["gen_g_loss", "gen_f_loss", "disc_x_loss", "disc_y_loss", "cycle_loss", "identity_loss"]
    assert len(rows_a) == len(rows_b) > 0
    for ra, rb in zip(rows_a, rows_b):
        for k in keys:
            assert ra[k] == pytest.approx(rb[k], rel=rtol, abs=1e-5), (k, ra, rb)


@child_group
def test_strategy_selection(child):
    assert child["auto"].startswith("_DefaultDistributionStrategy with 1 replica")  # no TPU, GPUs or TF_CONFIG
    assert child["mirrored"].startswith("MirroredStrategy with 2 replica(s)")
    assert child["summary_mirrored"]["replicas"] == 2 and child["summary_mirrored"]["global_batch_size"] == 2
    assert child["summary_default"]["replicas"] == 1 and child["summary_default"]["global_batch_size"] == 2


@child_group
def test_two_replicas_train_like_one(child):
    close(child["epoch1_default"], child["epoch1_mirrored"])


@child_group
def test_a_checkpoint_resumes_under_the_other_strategy(child):
    assert all(r and r.endswith("epoch_0001") for r in child["resumed"])
    close(child["epoch2_default_then_mirrored"], child["epoch2_mirrored_then_default"])
    assert len(child["epoch2_default_then_mirrored"]) == 3


WORKER = r'''
import json, os, sys
os.environ["TF_CONFIG"] = json.dumps({"cluster": {"worker": sys.argv[3].split(",")},
                                      "task": {"type": "worker", "index": int(sys.argv[2])}})
from monet.core import params
from monet.gan import training
cfg = params.defaults()["cyclegan"]
cfg.update(gen_filters=4, gen_res_blocks=1, disc_blocks=2, disc_filters=4, disc_kernel=2, disc_strides=2,
           disc_activation="relu", steps_per_epoch=3, epochs=1, sample_images=2, strategy=sys.argv[4], batch_size=2,
           train_size=64)
summary = training.train(sys.argv[1], cfg, seed=5, log=lambda *_: None)
print("RESULT " + json.dumps({"replicas": summary["replicas"], "strategy": summary["strategy"]}))
'''


def _free_ports(n):
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_worker_processes_train_like_one(small_run, tmp_path):
    """MultiWorkerMirroredStrategy across two processes on 127.0.0.1 (TF_CONFIG with two local ports) gives the
    losses of one process with the same global batch."""
    import csv
    import shutil

    runs = {name: tmp_path / name for name in ("one", "w0", "w1")}
    for run in runs.values():
        shutil.copytree(small_run / "data", run / "data")
    hosts = ",".join(f"127.0.0.1:{p}" for p in _free_ports(2))
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(runs[f"w{i}"]), str(i), hosts, "multi_worker"],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
               for i in (0, 1)]
    single = subprocess.run([sys.executable, "-c", WORKER, str(runs["one"]), "0", "127.0.0.1:1", "default"],
                            cwd=REPO, capture_output=True, text=True, env=env, timeout=600)
    outs = []
    for w in workers:
        try:
            outs.append(w.communicate(timeout=600)[0])
        finally:
            w.kill()
    for out in outs + [single.stdout + single.stderr]:
        assert "RESULT " in out, out[-4000:]
    results = [json.loads(o.split("RESULT ")[1].splitlines()[0]) for o in outs]
    assert [r["replicas"] for r in results] == [2, 2], results

    def history(run):
        with open(run / "cyclegan" / "history.csv") as fh:
            return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(fh)]

    close(history(runs["w0"]), history(runs["one"]))
    close(history(runs["w1"]), history(runs["one"]))
