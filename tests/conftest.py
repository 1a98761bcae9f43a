import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests compare runs bit for bit (deterministic: true), which needs oneDNN off before TensorFlow loads.
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
REPO = Path(__file__).resolve().parents[1]


def _isolate_weights_cache():
    """Kaggle's converted network where this machine keeps it (``python -m monet weights kaggle``; .ci/run makes it),
    found before each test process gets an empty cache folder of its own: there ``auto`` means 'imagenet' unless a
    test names the network (the ``kaggle_net`` fixture)."""
    import tempfile

    from monet.core import weights

    import atexit
    import shutil

    if "MONET_TEST_KAGGLE_NET" not in os.environ:  # the first process (pytest-xdist's workers inherit it)
        found = weights.kaggle_converted()
        os.environ["MONET_TEST_KAGGLE_NET"] = str(found) if found else ""
    os.environ[weights.CACHE_ENV] = tempfile.mkdtemp(prefix="monet-test-cache-")
    atexit.register(shutil.rmtree, os.environ[weights.CACHE_ENV], True)
    return Path(os.environ["MONET_TEST_KAGGLE_NET"]) if os.environ["MONET_TEST_KAGGLE_NET"] else None


KAGGLE_NET = _isolate_weights_cache()
SHARED = REPO.parent / "shared" / "data"


def needed(what: str, how: str):
    """Skip a test whose input this machine lacks; in CI (CI=true), where .ci/run provides it, fail instead."""
    if os.environ.get("CI", "") not in ("", "0", "false"):
        pytest.fail(f"{what} is missing in CI: {how}")
    pytest.skip(f"{what} is missing here: {how}")


@pytest.fixture(scope="session")
def kaggle_net() -> Path:
    """The converted file of Kaggle's network (weights 'kaggle' as a path)."""
    if KAGGLE_NET is None:
        needed("Kaggle's converted network", "run python -m monet weights kaggle")
    return KAGGLE_NET


@pytest.fixture(scope="session")
def kaggle_reference() -> Path:
    """What Kaggle's network returns for the shared sample (features.npz, figures.json; never committed)."""
    path = Path(os.environ.get("MONET_REFERENCE_DIR", SHARED / "kaggle-inception-reference"))
    if not (path / "features.npz").is_file():
        needed(f"{path}/features.npz", "the shared kaggle-inception-reference folder (or MONET_REFERENCE_DIR)")
    return path


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    """The shared sample of real competition images (MONET_DATA_DIR in CI)."""
    path = Path(os.environ.get("MONET_DATA_DIR", SHARED / "gan-getting-started-sample"))
    if not (path / "monet_jpg").is_dir():
        needed(f"{path}/monet_jpg", "the shared gan-getting-started-sample folder (or MONET_DATA_DIR)")
    return path


def pytest_collection_modifyitems(config, items):
    """Longest first: with several workers (pytest-xdist, see pyproject), the groups that share an expensive fixture
    (the ci.yaml chain, the distribute child) and the other end-to-end runs start at once and the quick tests fill
    the gaps, instead of a long one starting last."""
    def rank(item):
        if item.get_closest_marker("xdist_group"):
            return 0
        return 1 if item.get_closest_marker("e2e") else 2 if item.get_closest_marker("slow") else 3

    items.sort(key=rank)  # stable: the collection order within each rank


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def small_run(tmp_path_factory) -> Path:
    """A run folder whose fetch stage ran on a small synthetic data set (40 photos, 6 paintings)."""
    from monet.data import fetch as data

    run_dir = tmp_path_factory.mktemp("run")
    data.fetch(run_dir, "synthetic", seed=3, synthetic_photos=40, synthetic_monet=6, sample_images=2)
    return run_dir


@pytest.fixture(scope="session")
def straight_history(small_run, tmp_path_factory) -> list[str]:
    """The lines of ``history.csv`` of an uninterrupted run of 3 epochs of 3 steps (tiny networks, seed 5,
    deterministic): what a resumed run of the same params must give, line for line. Its tests carry
    ``xdist_group("straight_run")``, so that one worker trains it once for all of them."""
    import shutil

    from monet.gan import training

    run = tmp_path_factory.mktemp("straight")
    shutil.copytree(small_run / "data", run / "data")
    training.train(run, tiny_cyclegan(epochs=3), seed=5, deterministic=True, log=lambda *_: None)
    return (run / "cyclegan" / "history.csv").read_text().splitlines()


def tiny_cyclegan(**overrides) -> dict:
    """The cyclegan params section with the smallest networks (same code as the report's), trained on 64-px crops
    (``train_size``: 16 times fewer pixels a step; sample grids and packaging still translate at 256)."""
    from monet.core import params

    cfg = params.defaults()["cyclegan"]
    cfg.update(gen_filters=4, gen_res_blocks=1, disc_blocks=2, disc_filters=4, disc_kernel=2, disc_strides=2,
               disc_activation="relu", steps_per_epoch=3, epochs=1, sample_images=2, train_size=64)
    cfg.update(overrides)
    return cfg


class ReserveThatRunsOut:
    """A packaging reserve that lets ``steps`` train steps through, then says the budget is spent."""

    def __init__(self, steps):
        self.left, self.how, self.fixed, self.per_image, self.parts = steps, "test", 0.0, 0.0, {}

    def add(self, seconds, what):
        pass

    @property
    def seconds(self):
        self.left -= 1
        return 0.0 if self.left >= 0 else 1e12

    def describe(self):
        return "test reserve"


def stopped_then_resumed(run, cfg: dict, steps: int, monkeypatch, **train_args) -> tuple[dict, dict]:
    """Train ``cfg`` on ``run`` under a time budget that lets ``steps`` steps through (a budget stop with a
    checkpoint), then run the same params again with no budget, as a user's second session does: the summaries
    of both sessions."""
    import time

    from monet.core import budget
    from monet.gan import training
    from monet.package import translator

    monkeypatch.setenv(budget.DEADLINE_ENV, str(time.time() + 3600))
    monkeypatch.setattr(translator, "measure_packaging", lambda *a, **k: ReserveThatRunsOut(steps))
    first = training.train(run, cfg, **train_args)
    monkeypatch.delenv(budget.DEADLINE_ENV)
    monkeypatch.undo()
    return first, training.train(run, cfg, **train_args)
