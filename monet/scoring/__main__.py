"""The old entry point ``python -m monet.scoring ...``, kept for commands users wrote: it runs
``python -m monet score ...``."""
import runpy
import sys

sys.argv[:1] = ["monet", "score"]
runpy.run_module("monet", run_name="__main__")
