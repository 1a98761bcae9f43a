"""The old entry point ``python -m monet.compare ...``, kept for commands users wrote: it runs
``python -m monet compare ...``. The module moved: import monet.scoring.compare."""
import runpy
import sys

if __name__ != "__main__":
    raise ImportError("monet.compare moved: import monet.scoring.compare; the command is python -m monet compare ...")
sys.argv[:1] = ['monet', 'compare']
runpy.run_module("monet", run_name="__main__")
