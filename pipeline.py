#!/usr/bin/env python
"""Run an experiment: validate its params, then execute the stage notebooks in order with papermill.

    python pipeline.py --params params/quickstart.yaml          # run (or resume) outputs/quickstart/
    python pipeline.py --params params/exp2.yaml --dry-run      # validate and print the plan
    python pipeline.py --params params/exp1.yaml --set cyclegan.epochs=3 --set data_dir=/data/gan
    python pipeline.py --list                                   # the experiments in params/

The same as ``python -m monet run ...`` (``python -m monet --help`` lists the other commands); the work is done
in :mod:`monet.pipeline`. Exit status: 0 done, 1 a stage failed, 2 bad params or data, 130 interrupted.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the checkout's own package, installed or not

from monet.cli import main as _main  # noqa: E402


def main(argv=None) -> int:
    return _main(["run", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
