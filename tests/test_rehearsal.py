"""The leaderboard run rehearsed as Kaggle runs it: params/leaderboard.yaml, bundled, executed in a fake /kaggle
with no internet and no credentials, under a GPU's precision policy (mixed_float16, forced on this CPU: TensorFlow
has float16 kernels for the CPU, so the loss-scale optimizer runs for real), ``epochs: auto`` planned from a
budget of minutes, checkpoint scoring on a stand-in of Kaggle's graph; the host freezes late in the run (as a busy
Kaggle host may), the budget stops training mid-decay, and a second session (the same notebook, a new budget)
continues from that checkpoint with a new budget and finishes the plan."""
import csv
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from monet.package import images_zip

from tests.kaggle_graph import write_graph
from tests.test_pipeline import _tree, descendants, stream_text

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e

STEPS = 16  # an epoch's steps: its turn (checkpoint, plots, the next input pipeline) costs several steps on a busy host
SHRINK = ["cyclegan.gen_filters=1", "cyclegan.disc_filters=4", "cyclegan.disc_blocks=2", "cyclegan.disc_strides=2",
          "cyclegan.batch_size=2", f"cyclegan.steps_per_epoch={STEPS}", "cyclegan.mixed_precision=mixed_float16",
          "cyclegan.score_checkpoints=2", "cyclegan.score_photos=16", "cyclegan.sample_images=2",
          "package.fit_count=repeat", "package.batch_size=64"]


def freeze_late_in_training(run: Path, frozen: dict) -> None:
    """Wait until training has planned its steps and is past 70% of them, then stop every process below this one
    (SIGSTOP) until 20 s before the deadline: a host that froze. Training then finds the budget spent."""
    progress, record = run / "progress.json", run / "run.json"
    t_end = time.time() + 600
    while time.time() < t_end:
        try:
            state = json.loads(progress.read_text())
            deadline = json.loads(record.read_text())["deadline"]
        except (OSError, ValueError, KeyError):
            time.sleep(0.2)
            continue
        if state.get("task") == "training" and state.get("total") and state["done"] >= 0.7 * state["total"]:
            pids = descendants(os.getpid())
            for pid in pids:
                os.kill(pid, signal.SIGSTOP)
            frozen.update(at_step=state["done"], of=state["total"], seconds=max(0.0, deadline - 20 - time.time()))
            time.sleep(frozen["seconds"])
            for pid in pids:
                os.kill(pid, signal.SIGCONT)
            return
        time.sleep(0.2)


def history(run: Path) -> list[dict]:
    with open(run / "cyclegan" / "history.csv") as fh:
        return [{k: float(v) for k, v in r.items()} for r in csv.DictReader(fh)]


def test_leaderboard_rehearsed_as_kaggle_runs_it(tmp_path, monkeypatch):
    import papermill as pm

    from monet.data import fetch as data
    from monet.gan.planning import PLAN_AFTER_STEPS
    from monet.kaggle import bundle as kaggle_bundle, download as kaggle_download

    root = tmp_path / "kaggle"
    mount = root / "input" / "gan-getting-started"
    data.make_synthetic(mount, n_monet=10, n_photo=40, seed=11)
    sample = os.environ.get("MONET_DATA_DIR")
    if sample and (Path(sample) / "photo_jpg").is_dir():  # real competition JPEGs among the generated ones
        for folder in ("monet_jpg", "photo_jpg"):
            for p in sorted((Path(sample) / folder).glob("*.jpg"))[:20]:
                shutil.copy2(p, mount / folder / p.name)
    graph = root / "input" / "scoring" / "classify_image_graph_def.pb"
    graph.parent.mkdir(parents=True)
    write_graph(graph)
    (root / "working").mkdir()
    before = _tree(root / "input")
    for key in [k for k in os.environ if k.startswith("KAGGLE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.kaggle, no Keras cache
    monkeypatch.setenv("MONET_KAGGLE_ROOT", str(root))
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")  # on Kaggle: offline, a 270-minute default budget
    monkeypatch.delenv("MONET_DEADLINE", raising=False)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)

    # Offline, the bundle refuses 'imagenet' for the scoring network and names what to attach.
    with pytest.raises(kaggle_download.KaggleError, match="cyclegan.score_weights is 'imagenet'.*dog-face"):
        kaggle_bundle.bundle(REPO / "params" / "leaderboard.yaml", "tester", tmp_path / "refused",
                             overrides=[*SHRINK, "cyclegan.score_weights=imagenet"], repo=REPO)

    def session(minutes: int, name: str, continue_from: str | None = None) -> Path:
        out = kaggle_bundle.bundle(REPO / "params" / "leaderboard.yaml", "tester", tmp_path / name,
                                   overrides=[*SHRINK, f"cyclegan.score_weights={graph}",
                                              f"time_budget_minutes={minutes}"], repo=REPO, continue_from=continue_from)
        notebook = next(out.glob("*.ipynb"))
        pm.execute_notebook(str(notebook), str(root / "working" / f"{name}.ipynb"), kernel_name="python3",
                            cwd=str(root / "working"), progress_bar=False)
        return root / "working" / f"{name}.ipynb"

    run = root / "working" / "outputs" / "leaderboard"
    frozen: dict = {}
    freezer = threading.Thread(target=freeze_late_in_training, args=(run, frozen), daemon=True)
    freezer.start()
    first_nb = session(3, "first")
    freezer.join(timeout=1)
    assert frozen, "training never reached 70% of a plan"

    # Session 1: planned, froze, stopped by the budget mid-decay with a checkpoint; the run still ends in a zip.
    first = json.loads((run / "cyclegan" / "summary.json").read_text())
    record = json.loads((run / "run.json").read_text())
    assert record["environment"] == "kaggle" and record["git"]["source"] == "bundle"
    assert record["stages"]["cyclegan_train"]["status"] == "stopped_early" and record["status"] == "stopped_early"
    assert first["stopped_early"] and first["undertrained"] and first["mixed_precision"] == "mixed_float16"
    assert first["plans"] and first["global_steps"] < first["planned_steps"]
    assert "STOPPED EARLY" in stream_text(run / "02_cyclegan_train.ipynb")
    assert images_zip.validate_zip(root / "working" / "images.zip")["count"] == 7000
    rows = history(run)
    start = min(p["at_step"] for p in first["plans"])
    assert all(r["lr"] == pytest.approx(2e-4) for r in rows if r["global_step"] <= start + 1)  # never 0 before
    stopped_at, stopped_rate = rows[-1]["global_step"], rows[-1]["lr"]
    assert 0 < stopped_rate < 2e-4  # in the decay, not at its end

    # Kaggle's next version starts with an empty working folder; the first version's output is attached read-only
    # under /kaggle/input/<its slug> (bundle --continue-from USER/KERNEL), and the kernel copies the run back in.
    attached = root / "input" / "monet-leaderboard"
    shutil.move(str(root / "working"), str(attached))
    for path in [attached, *attached.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    (root / "working").mkdir()
    before = _tree(root / "input")
    first_nb = attached / first_nb.name

    # Session 2: the same experiment with more budget continues from the stop and finishes one schedule.
    second_nb = session(4, "second", continue_from="tester/monet-leaderboard")
    assert "continuing tester/monet-leaderboard's run" in stream_text(second_nb)
    assert json.loads((tmp_path / "second" / "kernel-metadata.json").read_text())["kernel_sources"] == [
        "tester/monet-leaderboard"]
    record = json.loads((run / "run.json").read_text())
    summary = json.loads((run / "cyclegan" / "summary.json").read_text())
    assert record["stages"]["cyclegan_train"]["status"] == "done" and record["status"] == "done", \
        stream_text(second_nb)[-3000:]
    assert "[package_submission] skipped" not in stream_text(second_nb)  # the new generator is what is packaged
    assert summary["resumed_from"].endswith(f"_step_{int(stopped_at) % STEPS:06d}") or stopped_at % STEPS == 0
    assert summary["global_steps"] == summary["planned_steps"] > stopped_at and not summary["stopped_early"]
    rows = history(run)
    rates = [r["lr"] for r in rows]
    assert [r["global_step"] for r in rows] == list(range(1, len(rows) + 1))  # one history, no gap, no repeat
    assert all(b <= a * (1 + 1e-6) for a, b in zip(rates, rates[1:]))  # the rate never rises, across sessions
    after = rates[len([r for r in rows if r["global_step"] <= stopped_at])]
    # The decay goes on from where the first session stopped (not from 2e-4, not from 0); on a slow machine the
    # second session plans few steps, so its first step may take a larger share of what is left.
    assert 0.5 * stopped_rate <= after <= stopped_rate
    # The last planned step ends the run's last line to 0, which reaches 0 one step later (the history holds the rate
    # each step applied): with two or more steps on that line the last runs at half the rate of the one before; a
    # re-plan that left one step runs it at the rate the line starts from. No step before ran at 0.
    total, line = summary["planned_steps"], (first["plans"] + summary["plans"])[-1]
    if total - line["at_step"] >= 2:
        assert rates[-1] == pytest.approx(rates[-2] / 2, rel=1e-3)
    else:
        assert line["total"] == total and rates[-1] == pytest.approx(line["rate"], rel=1e-3)
    assert min(rates) > 0
    # It ended before its deadline: training within the budget, the zip written before the deadline. The second
    # session plans (and predicts its end) unless it had no more steps left than a plan waits to measure.
    assert summary["budget_slack_s"] >= 0
    assert summary["plan_error_s"] is not None if summary["plans"] else total - stopped_at <= PLAN_AFTER_STEPS + 2
    entry = record["stages"]["cyclegan_train"]  # run.json tells the same
    assert entry["budget_slack_s"] == summary["budget_slack_s"] and entry["mixed_precision"] == "mixed_float16"
    assert entry["global_steps"] == entry["planned_steps"] == summary["global_steps"]
    assert (root / "working" / "images.zip").stat().st_mtime <= record["deadline"]
    # Checkpoint selection under mixed precision: both checkpoints scored on the graph, the best packaged.
    # (the second is scored when the budget leaves time for it, and said when it does not)
    scored = [r["checkpoint"] for r in summary["checkpoint_scores"]]
    assert summary["mixed_precision"] == "mixed_float16" and len(scored) + len(summary["scores_skipped"]) == 2
    assert summary["chosen_checkpoint"] in scored and "Kaggle's network" in summary["scoring_network"]
    assert images_zip.validate_zip(root / "working" / "images.zip")["count"] == 7000
    assert _tree(root / "input") == before  # the read-only input: nothing written, nothing touched
    assert "TensorFlow loaded in this notebook's process: False" in stream_text(second_nb)
    assert not list((run / "cyclegan" / "checkpoints").glob("*.partial*"))
    assert first_nb.is_file()
