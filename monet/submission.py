"""The old entry point ``python -m monet.submission ...``, kept for commands users wrote: it runs
``python -m monet validate|merge ...``. The module moved: import monet.package.stage (the stage) or monet.package.images_zip (the zip)."""
import runpy
import sys

if __name__ != "__main__":
    raise ImportError("monet.submission moved: import monet.package.stage (the stage) or monet.package.images_zip (the zip); the command is python -m monet validate|merge ...")
sys.argv[:1] = ['monet']
runpy.run_module("monet", run_name="__main__")
