"""The old entry point ``python -m monet.kaggle_io ...``, kept for commands users wrote: it runs
``python -m monet download|bundle|push|submit ...``. The module moved: import monet.kaggle.download, monet.kaggle.bundle or monet.kaggle.submit."""
import runpy
import sys

if __name__ != "__main__":
    raise ImportError("monet.kaggle_io moved: import monet.kaggle.download, monet.kaggle.bundle or monet.kaggle.submit; the command is python -m monet download|bundle|push|submit ...")
sys.argv[:1] = ['monet']
runpy.run_module("monet", run_name="__main__")
