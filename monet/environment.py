"""Where things are on Kaggle, and how a test can pretend to be there.

``MONET_KAGGLE_ROOT`` replaces the root ``/kaggle`` (so ``$MONET_KAGGLE_ROOT/input/gan-getting-started``
is the competition mount), which lets tests build a fake Kaggle tree from generated data.
"""
from __future__ import annotations

import os
from pathlib import Path

COMPETITION = "gan-getting-started"


def kaggle_root() -> Path:
    return Path(os.environ.get("MONET_KAGGLE_ROOT", "/kaggle"))


def kaggle_input() -> Path:
    """The read-only competition mount of a Kaggle kernel."""
    return kaggle_root() / "input" / COMPETITION


def on_kaggle() -> bool:
    return "KAGGLE_KERNEL_RUN_TYPE" in os.environ
