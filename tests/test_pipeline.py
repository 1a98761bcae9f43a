"""End to end: pipeline.py on generated data (and on the real sample when MONET_DATA_DIR is set).

These run the real chain with papermill; they take a few minutes in all.
"""
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from monet.core import progress
from monet.package import images_zip

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e
# With pytest-xdist (pyproject's addopts), the tests that read the ci.yaml run share one worker and one run of it;
# the others are spread over the workers.
chain = pytest.mark.xdist_group("ci_chain")
on_synthetic = pytest.mark.xdist_group("synthetic_data")  # one worker generates the data set for both tests


def user_env(env=None) -> dict:
    """The environment a user's shell has: without the oneDNN switch conftest sets for in-process determinism
    (pipeline.py turns oneDNN off itself, for the stages that need it)."""
    return {k: v for k, v in (env or os.environ).items() if k != "TF_ENABLE_ONEDNN_OPTS"}


def pipeline(*args, outputs, check=True, env=None, **kwargs):
    cmd = [sys.executable, str(REPO / "pipeline.py"), "--outputs", str(outputs), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=user_env(env), **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def stream_text(nb_path: Path) -> str:
    nb = nbformat.read(str(nb_path), as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return tmp_path_factory.mktemp("outputs")


FAKE_USER, FAKE_KEY = "fake-user-5f3a9c", "fake0key0d41d8cd98f00b204e9800998ecf"


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A generated data set in the competition's layout, as ci.yaml's fetch makes it (250 photos: ci.yaml
    repeats them to 7,000 images)."""
    from monet.data import fetch as data

    return data.make_synthetic(tmp_path_factory.mktemp("data") / "synthetic", n_monet=30, n_photo=250, seed=7)


@pytest.fixture(scope="module")
def ci_run(outputs):
    """The ci.yaml chain, run with (fake) Kaggle credentials in the environment."""
    env = {**os.environ, "KAGGLE_USERNAME": FAKE_USER, "KAGGLE_KEY": FAKE_KEY}
    proc = pipeline("--params", "params/ci.yaml", "--run-name", "a", outputs=outputs, env=env)
    return outputs / "a", proc


@chain
def test_ci_run_leaves_a_valid_submission(ci_run):
    run, proc = ci_run
    assert "submission: " in proc.stdout
    zip_path = run / "images.zip"
    assert images_zip.validate_zip(zip_path)["count"] == 7000
    photos = sorted(p.stem for p in (run / "data" / "synthetic" / "photo_jpg").glob("*.jpg"))
    with zipfile.ZipFile(zip_path) as zf:  # each photo 28 times, named after it (<name>, <name>_2, ...)
        assert sorted({n[:-4].split("_")[0] for n in zf.namelist()}) == photos and len(photos) == 250
    summary = json.loads((run / "submission" / "summary.json").read_text())
    assert summary["valid"] and summary["count"] == 7000 and summary["bytes"] == zip_path.stat().st_size
    assert summary["translated"] == 250 and "250 photos repeated to 7,000 images" in summary["fit_count"]
    for path in ("data/summary.json", "data/samples.png", "cyclegan/history.csv", "cyclegan/losses.png",
                 "cyclegan/samples/epoch_02.png", "cyclegan/generator.keras", "submission/grid.png",
                 "nst/results.csv", "nst/grid.png", "nst/losses.png", "metrics.json", "evaluate/nearest.png"):
        assert (run / path).is_file(), path
    nst = json.loads((run / "nst" / "summary.json").read_text())
    assert nst["painted"] == 4 and not nst["real_style_transfer"]
    assert len(list((run / "nst" / "images").glob("*.jpg"))) == 4


@chain
def test_ci_run_records_notebooks_html_and_run_json(ci_run):
    run, _ = ci_run
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "done" and record["params"]["cyclegan"]["epochs"] == 2
    assert "tensorflow-cpu" in record["versions"] or "tensorflow" in record["versions"]
    assert "commit" in record["git"]
    for name, stage in record["stages"].items():
        assert stage["status"] == "done" and stage["seconds"] > 0, name
        nb = nbformat.read(stage["notebook"], as_version=4)
        injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert injected and f'run_dir = "{run}"' in injected[0].source
        assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
        html = Path(stage["html"]).read_text()
        assert "<img" in html and "notebook_config" not in html  # outputs, no code
    assert "discriminator receptive field: 16x16" in stream_text(run / "02_cyclegan_train.ipynb")
    assert "NOT a real style transfer" in (run / "03_nst_generate.html").read_text()
    assert "NOT comparable" in (run / "05_evaluate.html").read_text()
    assert record["stages"]["cyclegan_train"]["strategy"].startswith("_DefaultDistributionStrategy with 1 replica")
    assert record["stages"]["cyclegan_train"]["mixed_precision"] == "off"
    assert "FID" in record["stages"]["evaluate"]["note"] and "not comparable" in record["stages"]["evaluate"]["note"]


NOISE = ("All log messages before absl::InitializeLog()", "oneDNN custom operations are on", "cpu_feature_guard")


@chain
def test_ci_run_shows_progress_and_no_tensorflow_noise(ci_run):
    """Not a terminal here: the progress comes as plain lines (the first at once, then every minute), fed by each
    stage's progress file; TensorFlow's start-up lines reach neither the terminal nor the notebooks."""
    run, proc = ci_run
    out = proc.stdout
    assert "[cyclegan_train] training: epoch 1/2, " in out and "/16 steps" in out
    assert "[package_submission] translating: " in out and "/250 images" in out
    assert "[nst_generate] painting: " in out and "[evaluate] scoring " in out
    assert not (run / "progress.json").exists()  # removed when each stage ends
    for noise in NOISE:
        assert noise not in out + proc.stderr
        assert all(noise not in stream_text(run / f"{Path(s['notebook']).stem}.ipynb")
                   for s in json.loads((run / "run.json").read_text())["stages"].values())


@chain
def test_credentials_never_reach_the_run_folder(ci_run):
    run, proc = ci_run
    leaks = [str(p) for p in run.rglob("*") if p.is_file()
             and any(secret.encode() in p.read_bytes() for secret in (FAKE_USER, FAKE_KEY))]
    assert leaks == [] and FAKE_KEY not in proc.stdout + proc.stderr


@chain
def test_rerun_skips_finished_stages(ci_run, outputs):
    proc = pipeline("--params", "params/ci.yaml", "--run-name", "a", outputs=outputs)
    assert proc.stdout.count("skipped: finished earlier with the same params") == 5


def test_bad_params_and_missing_data_fail_before_any_notebook(tmp_path, outputs):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cyclegan:\n  epoch: 3\n")
    proc = pipeline("--params", str(bad), outputs=outputs, check=False)
    assert proc.returncode == 2 and "unknown key 'cyclegan.epoch'" in proc.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
    env["KAGGLE_CONFIG_DIR"] = str(tmp_path / "empty")
    proc = pipeline("--params", "params/exp1.yaml", "--set", f"data_dir={tmp_path}/none", outputs=outputs, check=False,
                    env=env)
    assert proc.returncode == 2 and "no Kaggle credentials found" in proc.stderr  # a new folder means: download
    proc = pipeline("--params", "params/exp1.yaml", "--set", f"data_dir={tmp_path}", outputs=outputs, check=False)
    assert proc.returncode == 2 and "missing monet_jpg/, photo_jpg/" in proc.stderr
    assert not (outputs / "exp1").exists()


@pytest.mark.parametrize("name,expected", [("exp1", "receptive field 32x32"), ("exp2", "receptive field 64x64"),
                                           ("best", "receptive field 32x32"), ("nst", "sgd lr 100.0"),
                                           ("nst_exp1", "adam lr 5.0, at most 600 iterations"),
                                           ("nst_exp2", "content block4_conv2")])
def test_report_experiments_dry_run(name, expected, outputs, small_run):
    offline = ["--set", "nst.vgg_weights=none"] if name.startswith("nst") else []  # 'imagenet' is refused offline
    proc = pipeline("--params", f"params/{name}.yaml", "--dry-run", "--set", f"data_dir={small_run}/data/synthetic",
                    *offline, outputs=outputs)
    assert expected in proc.stdout
    if name.startswith(("exp", "best")):
        assert "generator {'kind': 'resnet', 'filters': 64" in proc.stdout and "11,383,427 parameters" in proc.stdout
    assert not (outputs / name).exists()


def test_list(outputs):
    proc = pipeline("--list", outputs=outputs)
    for name in ("exp1", "exp2", "best", "nst", "nst_exp1", "nst_exp2", "quickstart", "ci", "leaderboard",
                 "nst_kaggle"):
        assert name in proc.stdout
    assert "INVALID" not in proc.stdout


@pytest.mark.skipif(not os.environ.get("MONET_DATA_DIR"), reason="MONET_DATA_DIR names no data folder")
def test_real_data_folder(outputs):
    """Every photo of the folder is translated and the verdict matches the count (the shared sample's 200
    photos must end in the clear too-few-images error, never in a zip Kaggle would reject)."""
    data_dir = Path(os.environ["MONET_DATA_DIR"]).resolve()
    n_photos = sum(1 for p in (data_dir / "photo_jpg").iterdir() if not p.name.startswith("."))
    proc = pipeline("--params", "params/ci.yaml", "--run-name", "real", "--set", f"data_dir={data_dir}",
                    "--set", "stages=[fetch, cyclegan_train, package_submission]",
                    "--set", "package.fit_count=refuse", outputs=outputs, check=False)  # ci.yaml repeats
    run = outputs / "real"
    summary = json.loads((run / "submission" / "summary.json").read_text())
    assert summary["photos"] == n_photos
    if images_zip.MIN_IMAGES <= n_photos <= images_zip.MAX_IMAGES:
        assert proc.returncode == 0 and images_zip.validate_zip(run / "images.zip")["count"] == n_photos
    else:  # refused before translating anything, saying how to go on
        assert proc.returncode == 1 and summary["count"] == 0
        assert f"{n_photos:,} photos give {n_photos:,} images; Kaggle needs 7,000-10,000" in proc.stderr
        assert "Nothing was translated" in proc.stderr and "fit_count" in proc.stderr
        assert "stage 'package_submission' failed in cell" in proc.stderr and "04_package_submission.ipynb" in proc.stderr
        assert not (run / "images.zip").exists() and not (run / "submission" / "images.rejected.zip").exists()
        record = json.loads((run / "run.json").read_text())
        assert record["stages"]["package_submission"]["status"] == "failed"
        assert Path(record["stages"]["package_submission"]["html"]).is_file()


def _tree(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


@on_synthetic
def test_the_kaggle_kernel_runs_as_kaggle_runs_it(synthetic, tmp_path, monkeypatch):
    """The bundle's one notebook, executed by papermill as Kaggle would: from a folder where the checkout is not
    on the path, KAGGLE_KERNEL_RUN_TYPE set, a fake /kaggle whose competition-layout input holds generated data
    (plus the shared real sample when there is one), no credentials. Its training stops early for a 1-minute
    budget; it still leaves a valid working/images.zip, the input untouched, and its own process never loads
    TensorFlow (only the stages' kernels do: on a TPU VM one process may hold the TPU)."""
    import shutil

    import papermill as pm

    from monet.kaggle import bundle as kaggle_bundle

    root = tmp_path / "kaggle"
    mount = root / "input" / "gan-getting-started"
    shutil.copytree(synthetic, mount)
    sample = os.environ.get("MONET_DATA_DIR")
    if sample and (Path(sample) / "photo_jpg").is_dir():  # real competition JPEGs among the generated ones
        for folder in ("monet_jpg", "photo_jpg"):
            for p in (Path(sample) / folder).glob("*.jpg"):
                shutil.copy2(p, mount / folder / p.name)
    (root / "working").mkdir()
    before = _tree(mount)
    out = kaggle_bundle.bundle(REPO / "params" / "ci.yaml", "tester", tmp_path / "bundle",
                           overrides=["time_budget_minutes=1", "stages=[fetch, cyclegan_train, package_submission]"],
                           repo=REPO)
    for key in [k for k in os.environ if k.startswith("KAGGLE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.kaggle either
    monkeypatch.setenv("MONET_KAGGLE_ROOT", str(root))
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")
    monkeypatch.delenv("MONET_DEADLINE", raising=False)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    pm.execute_notebook(str(out / "monet-ci.ipynb"), str(root / "working" / "monet-ci.ipynb"), kernel_name="python3",
                        cwd=str(root / "working"), progress_bar=False)
    assert images_zip.validate_zip(root / "working" / "images.zip")["count"] == 7000  # ci.yaml's repeat
    assert _tree(mount) == before  # the read-only input: nothing written, nothing touched
    shown = stream_text(root / "working" / "monet-ci.ipynb")
    assert "TensorFlow loaded in this notebook's process: False" in shown
    assert "unpacked into" in shown
    run = root / "working" / "outputs" / "ci"
    record = json.loads((run / "run.json").read_text())
    assert record["environment"] == "kaggle" and record["time_budget_minutes"] == 1
    assert record["params"]["data_dir"] == "auto" and record["git"]["source"] == "bundle"
    assert record["git"]["commit"] and record["git"]["commit"] in (out / "monet-ci.ipynb").read_text()
    train = record["stages"]["cyclegan_train"]
    assert train["status"] == "stopped_early" and "stopped early by the time budget" in train["note"]
    assert record["status"] == "stopped_early"
    assert "STOPPED EARLY" in stream_text(run / "02_cyclegan_train.ipynb")
    assert "Warning: " in stream_text(run / "04_package_submission.ipynb") or \
        json.loads((run / "submission" / "summary.json").read_text())["training_warning"]
    assert all((run / f"{Path(s['notebook']).stem}.html").is_file() for s in record["stages"].values())


@chain
def test_shards_through_pipeline_merge_into_the_one_shot_zip(ci_run, outputs, tmp_path):
    """Every documented option runs through pipeline.py: package.shard writes partial zips (and their grids),
    evaluate is skipped with the reason, and the merged zip is byte-identical to the one-shot run's."""
    import shutil

    run = outputs / "shards"
    shutil.copytree(ci_run[0], run)
    parts = []
    for i in (1, 2):
        proc = pipeline("--params", "params/ci.yaml", "--run-name", "shards", "--set", f"package.shard={i}/2",
                        outputs=outputs)
        assert "[package_submission] done" in proc.stdout and "[evaluate] skipped: package.shard" in proc.stdout
        parts.append(run / "submission" / f"images.shard-{i}-of-2.zip")
        assert parts[-1].is_file() and (run / "submission" / f"grid.shard-{i}-of-2.png").is_file()
    merged = tmp_path / "images.zip"
    subprocess.run([sys.executable, "-m", "monet.submission", "merge", *map(str, parts), "--out", str(merged),
                    "--deterministic"], check=True, cwd=REPO, capture_output=True)
    assert merged.read_bytes() == (ci_run[0] / "images.zip").read_bytes()


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _kill_when(cmd, marker: Path, delay: float, timeout: float = 400, sig=signal.SIGKILL, when=None, poll=0.1):
    """Start ``cmd`` in its own process group and send the whole group ``sig`` ``delay`` s after ``marker``
    appears (and ``when(marker)`` holds, if given; both looked at every ``poll`` s); returns the finished process."""
    # Started as from a terminal: with SIGINT at its default (a CI job in the background may have it ignored, and
    # a child inherits that).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True, env=user_env())
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.time() + timeout
    ready = lambda: marker.exists() and (when is None or when(marker))  # noqa: E731
    while not ready() and proc.poll() is None and time.time() < deadline:
        time.sleep(poll)
    assert ready(), f"{marker} never appeared (or never met `when`): {proc.communicate()[0][-2000:]}"
    time.sleep(delay)
    # SIGINT: what Ctrl-C in a terminal does (to its process group); SIGKILL: an OOM kill, a lost machine, which also
    # takes the notebook kernels (Jupyter starts each in a session of its own: a kernel would otherwise go on until it
    # notices that its parent is gone, and could finish what the test means to cut)
    kernels = descendants(proc.pid) if sig == signal.SIGKILL else []
    os.killpg(proc.pid, sig)
    for pid in kernels:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    proc.stdout_text = proc.communicate(timeout=120)[0]
    return proc


def grown_to(size: float):
    """A ``when`` for :func:`_kill_when`: the file has at least ``size`` bytes (False once it is gone)."""
    def ready(path: Path) -> bool:
        try:
            return path.stat().st_size >= size
        except OSError:
            return False
    return ready


@chain
def test_interrupted_in_training_killed_in_packaging_and_evaluation_a_rerun_finishes_byte_identical(ci_run, outputs):
    """Fault injection: Ctrl-C the chain at a random moment of training (exit 130, 'interrupted'), rerun (training
    resumes) and SIGKILL it at a random moment of packaging, rerun and SIGKILL it at a random moment of evaluation,
    rerun to the end. Nothing is lost, no .partial file stays, run.json says what happened, and the zip and the
    scores are identical to an uninterrupted run's (deterministic). (Style transfer killed and resumed:
    tests/test_faults.py.)"""
    import random

    rng = random.Random(os.getpid())
    run = outputs / "killed"
    only = ["--set", "stages=[fetch, cyclegan_train, package_submission, evaluate]"]  # what the zip depends on
    same_photos = ["--set", f"data_dir={ci_run[0] / 'data' / 'synthetic'}"]  # the photos ci_run generated
    cmd = [sys.executable, str(REPO / "pipeline.py"), "--outputs", str(outputs), "--params", "params/ci.yaml",
           "--run-name", "killed", *only, *same_photos]
    first = _kill_when(cmd, run / "cyclegan" / "checkpoints" / "epoch_0001" / "checkpoint.json",
                       rng.uniform(0, 0.2), sig=signal.SIGINT)  # in epoch 2 (its 8 steps, sample grid, saving)
    assert first.returncode == 130, first.stdout_text[-3000:]
    record = json.loads((run / "run.json").read_text())
    trained = record["stages"]["cyclegan_train"]["status"]
    # On a fast machine the Ctrl-C can land after training finished; the run stops there all the same.
    assert trained in ("interrupted", "done") and record["status"] == "interrupted", first.stdout_text[-3000:]
    assert "package_submission" not in record["stages"] and not (run / "images.zip").exists()
    # while the zip is being written: 250 photos translate in about a second and their 6,750 repeats are written in a
    # burst (about 0.2 s), so a size of the partial zip (61 MB when done), not a delay, picks the moment
    partial = run / "submission" / "images.candidate.zip.partial"
    _kill_when(cmd, partial, 0, when=grown_to(rng.uniform(0, 8e6)), poll=0.005)
    assert partial.is_file() and not (run / "images.zip").exists()  # killed mid-write
    record = json.loads((run / "run.json").read_text())
    assert record["stages"]["package_submission"]["status"] == "running"  # as the killed process left it
    scoring = lambda path: (progress.read(path) or {}).get("task", "").startswith("scoring")  # noqa: E731
    # packaging reruns first; scoring ci.yaml's 16 images takes a second or two, so the kill comes soon after it starts
    _kill_when(cmd, run / "progress.json", rng.uniform(0, 0.3), when=scoring)
    record = json.loads((run / "run.json").read_text())
    assert record["stages"]["evaluate"]["status"] == "running" and not (run / "metrics.json").exists()
    again = pipeline(*cmd[2:], outputs=outputs)
    assert "ended without a word while running evaluate" in again.stdout
    assert (run / "images.zip").read_bytes() == (ci_run[0] / "images.zip").read_bytes()
    assert [p for p in outputs.rglob("*") if ".partial" in p.name] == []
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "done" and all(s["status"] == "done" for s in record["stages"].values())
    assert trained == "done" or "Resuming from" in stream_text(run / "02_cyclegan_train.ipynb")
    scores = [json.loads((r / "metrics.json").read_text()) for r in (run, ci_run[0])]
    assert [s["fid"] for s in scores] == [scores[1]["fid"]] * 2 and scores[0]["mifid"] == scores[1]["mifid"]


def test_every_notebook_runs_with_its_defaults(tmp_path, monkeypatch):
    """Each notebook, top to bottom in a fresh kernel, with no parameters injected (in chain order, one run
    folder), started in a copy of notebooks/ as Jupyter starts it, so the defaults cannot rot."""
    import shutil

    import papermill as pm

    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    here = tmp_path / "notebooks"
    shutil.copytree(REPO / "notebooks", here)
    for name in ("01_fetch", "02_cyclegan_train", "03_nst_generate", "04_package_submission", "05_evaluate"):
        pm.execute_notebook(str(here / f"{name}.ipynb"), str(here / f"{name}.out.ipynb"), kernel_name="python3",
                            cwd=str(here), progress_bar=False)
        assert all(noise not in stream_text(here / f"{name}.out.ipynb") for noise in NOISE)
    assert images_zip.validate_zip(here / "outputs" / "notebook" / "images.zip")["count"] == 7038
    assert json.loads((here / "outputs" / "notebook" / "metrics.json").read_text())["generated_images"] == 32


@pytest.mark.e2e
def test_an_absurd_learning_rate_ends_in_a_non_finite_error_and_no_zip(tmp_path):
    """The ci.yaml chain with learning rate 1e30: training stops at the first non-finite loss with an error that
    names the step, and nothing is packaged (no images.zip of black images)."""
    proc = pipeline("--params", "params/ci.yaml", "--run-name", "nan", "--set", "cyclegan.learning_rate=1e30",
                    outputs=tmp_path, check=False)
    assert proc.returncode != 0
    assert "NonFinite: cyclegan: non-finite losses at global step 2" in proc.stdout + proc.stderr
    assert not (tmp_path / "nan" / "images.zip").exists()
    assert not list((tmp_path / "nan" / "cyclegan" / "checkpoints").glob("epoch_*"))
