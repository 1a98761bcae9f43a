"""Where the pipeline runs, detected in one place, and each environment's default folders.

Kaggle (``KAGGLE_KERNEL_RUN_TYPE`` is set) is checked before Colab (``google.colab`` is importable), then local.
An explicit param or option always wins over these defaults.

``MONET_KAGGLE_ROOT`` replaces the root ``/kaggle`` (so ``$MONET_KAGGLE_ROOT/input/gan-getting-started`` is the
competition mount and ``$MONET_KAGGLE_ROOT/working`` the output folder), which lets tests build a fake Kaggle tree
from generated data.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

COMPETITION = "gan-getting-started"
KAGGLE_BUDGET_MINUTES = 270  # of the 300 a Kaggle notebook may run: room to write and check images.zip
ENVIRONMENTS = ("kaggle", "colab", "local")


def detect() -> str:
    """'kaggle', 'colab' or 'local'."""
    if "KAGGLE_KERNEL_RUN_TYPE" in os.environ:
        return "kaggle"
    try:
        if importlib.util.find_spec("google.colab") is not None:
            return "colab"
    except (ImportError, ValueError):
        pass
    return "local"


def kaggle_root() -> Path:
    return Path(os.environ.get("MONET_KAGGLE_ROOT", "/kaggle"))


def kaggle_input() -> Path:
    """The read-only competition mount of a Kaggle kernel."""
    return kaggle_root() / "input" / COMPETITION


def kaggle_working() -> Path:
    """A Kaggle kernel's output folder (what Kaggle keeps and submits from)."""
    return kaggle_root() / "working"


def default_outputs(repo: Path, env: str | None = None) -> Path:
    """Where run folders go: Kaggle's working folder, Colab's /content, else the repository's outputs/."""
    env = env or detect()
    if env == "kaggle":
        return kaggle_working() / "outputs"
    if env == "colab":
        return Path("/content/outputs")
    return Path(repo) / "outputs"


def default_download_dir(repo: Path, env: str | None = None) -> Path:
    """Where ``data_dir: kaggle`` downloads the competition (on Kaggle itself the mount is used instead)."""
    env = env or detect()
    if env == "colab":
        return Path("/content") / COMPETITION
    return Path(repo) / "data" / COMPETITION


def default_time_budget_minutes(env: str | None = None) -> int | None:
    """The time budget when the params give none: 270 minutes on Kaggle, none elsewhere."""
    return KAGGLE_BUDGET_MINUTES if (env or detect()) == "kaggle" else None
