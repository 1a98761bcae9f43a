"""Colab set-up, in one place: every notebook's first cell imports this module; outside Colab it does nothing.

On Colab it makes this project importable: from the clone this file lies in (open the notebooks from a clone:
``!git clone PROJECT_URL`` in a Colab cell), or else by cloning ``MONET_PROJECT_URL`` (set it to your fork) into
``/content/monet-pipeline``. Colab already has TensorFlow and Keras, so only this package is installed.
"""
import os
import subprocess
import sys
from pathlib import Path

PROJECT_URL = os.environ.get("MONET_PROJECT_URL", "https://github.com/OWNER/REPO")  # where you host this project
CLONE = Path("/content/monet-pipeline")


def setup() -> None:
    if "google.colab" not in sys.modules:
        return
    root = Path(__file__).resolve().parents[1]
    if not (root / "monet" / "__init__.py").is_file():
        if not CLONE.is_dir():
            subprocess.run(["git", "clone", "--depth", "1", PROJECT_URL, str(CLONE)], check=True)
        root = CLONE
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", str(root)], check=True)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    os.chdir(root)  # the notebooks' relative paths (params/, outputs/) are the project's


setup()
