"""Fault injection below the pipeline: a stage's work killed with SIGKILL at a random moment in a child process,
then run again here with the same arguments. Nothing is lost, no ``.partial`` file stays, and the result is what
an uninterrupted run gives (deterministic). The chain as a whole is killed in tests/test_pipeline.py."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from monet.core import params
from monet.gan import training
from monet.package import images_zip, stage as submission
from monet.style import transfer as style_transfer

from tests.conftest import tiny_cyclegan

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

CHILD = """
import json, sys
from monet.gan import training
from monet.style import transfer as style_transfer
what, run, cfg = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if what == "train":
    training.train(run, cfg, seed=5, deterministic=True, log=lambda *_: None)
else:
    style_transfer.paint_photos(run, cfg, seed=5, deterministic=True, log=lambda *_: None)
"""


def kill_when(what: str, run: Path, cfg: dict, marker, delay: float, timeout: float = 300) -> int:
    """Run ``what`` on ``run`` in a child process and SIGKILL it ``delay`` s after ``marker()`` is true; its exit
    status (``-SIGKILL`` when the kill found it running)."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, what, str(run), json.dumps(cfg)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + timeout
    while not marker() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert marker(), f"the child never got there: {proc.communicate()[0][-3000:]}"
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    return proc.returncode


def no_partial_files(root: Path) -> list:
    return [str(p) for p in root.rglob("*") if ".partial" in p.name]


@pytest.mark.xdist_group("straight_run")  # see conftest.straight_history
def test_training_killed_mid_run_resumes_to_the_same_history(small_run, straight_history, tmp_path):
    killed = tmp_path / "killed"
    shutil.copytree(small_run / "data", killed / "data")
    cfg = tiny_cyclegan(epochs=3, keep_checkpoints=0)
    first = killed / "cyclegan" / "checkpoints" / "epoch_0001" / "checkpoint.json"
    # 0-1 s after epoch 1 (the 6 steps and 2 epoch ends left take longer); a run that finished first fails here
    assert kill_when("train", killed, cfg, first.is_file, random.Random(os.getpid()).uniform(0, 1.0)) == -signal.SIGKILL
    summary = training.train(killed, cfg, seed=5, deterministic=True, log=lambda *_: None)
    assert summary["resumed_from"] and summary["global_steps"] == 9
    assert (killed / "cyclegan" / "history.csv").read_text().splitlines() == straight_history
    assert no_partial_files(killed) == []


def test_style_transfer_killed_mid_run_resumes_to_a_byte_identical_zip(small_run, tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    for run in (straight, killed):
        shutil.copytree(small_run / "data", run / "data")
    cfg = params.defaults()["nst"]
    cfg.update(vgg_weights="none", image_size=32, batch_size=2, max_iterations=25, patience=50, limit=8,
               plot_images=2)
    images = killed / "nst" / "images"
    kill_when("paint", killed, cfg, lambda: images.is_dir() and any(images.glob("*.jpg")),
              random.Random(os.getpid()).uniform(0, 1.0))
    painted_before = len(list(images.glob("*.jpg")))
    summary = style_transfer.paint_photos(killed, cfg, seed=5, deterministic=True, log=lambda *_: None)
    assert summary["painted"] == 8 and summary["painted_now"] == 8 - painted_before
    style_transfer.paint_photos(straight, cfg, seed=5, deterministic=True, log=lambda *_: None)
    package = {**params.defaults()["package"], "source": "nst", "fit_count": "keep"}
    zips = []
    for run in (killed, straight):
        with pytest.raises(images_zip.SubmissionError):  # 8 images: kept aside, for the comparison
            submission.package(run, package, deterministic=True)
        zips.append(run / "submission" / "images.rejected.zip")
    assert zips[0].read_bytes() == zips[1].read_bytes() and len(zipfile.ZipFile(zips[0]).namelist()) == 8
    assert no_partial_files(killed) == []


def test_a_non_finite_loss_stops_training_before_anything_is_saved(small_run, tmp_path):
    """Float32: the first non-finite loss stops training with NonFinite naming the step and what was kept; no
    checkpoint and no generator hold its NaN weights."""
    from monet.gan.session import NonFinite

    run = tmp_path / "run"
    shutil.copytree(small_run / "data", run / "data")
    with pytest.raises(NonFinite, match=r"non-finite losses at global step 2 \(gen_g_loss=nan.*no checkpoint was "
                                        r"written before it\. Lower cyclegan\.learning_rate \(now 1e\+30\)"):
        training.train(run, tiny_cyclegan(epochs=2, learning_rate=1e30), seed=5, log=lambda *_: None)
    assert not list((run / "cyclegan" / "checkpoints").glob("epoch_*"))
    assert not (run / "cyclegan" / "generator.keras").exists()


def test_weights_that_became_non_finite_on_an_epochs_last_step_are_never_checkpointed(small_run, tmp_path):
    """One step an epoch, a learning rate past float32 (inf): the step's losses are finite, its update is not; the
    epoch's checkpoint is refused."""
    from monet.gan.session import NonFinite

    run = tmp_path / "run"
    shutil.copytree(small_run / "data", run / "data")
    with pytest.raises(NonFinite, match=r"non-finite weights at global step 1 \(gen_g weights=nan"):
        training.train(run, tiny_cyclegan(epochs=2, steps_per_epoch=1, learning_rate=1e39), seed=5,
                       log=lambda *_: None)
    assert not list((run / "cyclegan" / "checkpoints").glob("epoch_*"))
