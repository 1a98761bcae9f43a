"""How long the judge takes: C2ST and KID (random features) of 1,000 images against 250 paintings, on this machine.

    python benchmarks/bench_judge.py [--data DIR]

DIR (default: ../shared/data/gan-getting-started-train, else generated images) holds monet_jpg/ and photo_jpg/;
the photos stand in for generated images. Prints the seconds of each part, the figures, and the ratio to the
issue's target of about a minute each (``c2st_vs_minute=``, ``kid_vs_minute=``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from monet.scoring import judge  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "gan-getting-started-train"


def images(data: Path | None, n_real: int, n_other: int) -> tuple[np.ndarray, np.ndarray, str]:
    if data and (data / "monet_jpg").is_dir():
        monet = sorted((data / "monet_jpg").glob("*.jpg"))[:n_real]
        photos = sorted((data / "photo_jpg").glob("*.jpg"))
        photos = [photos[i] for i in np.random.default_rng(1).choice(len(photos), n_other, replace=False)]
        return judge.load_images(monet, judge.C2ST_SIZE), judge.load_images(photos, judge.C2ST_SIZE), str(data)
    rng = np.random.default_rng(0)
    size = judge.C2ST_SIZE
    real = rng.integers(0, 256, (n_real, size, size, 3), dtype=np.uint8)
    other = rng.integers(0, 256, (n_other, size, size, 3), dtype=np.uint8)
    return real, other, "generated noise images"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--real", type=int, default=250)
    ap.add_argument("--other", type=int, default=1000)
    args = ap.parse_args()
    real, other, source = images(args.data, args.real, args.other)
    print(f"{len(real)} real against {len(other)} other images from {source}; {os.cpu_count()} CPUs")
    t0 = time.perf_counter()
    out = judge.judge_arrays(real, other, seed=0)
    total = time.perf_counter() - t0
    print(f"kid_seconds={out['seconds']['kid']:.1f} c2st_seconds={out['seconds']['c2st']:.1f} total={total:.1f}")
    print(f"kid={out['kid']:.4f} kid_std={out['kid_std']:.4f} c2st_accuracy={out['c2st_accuracy']:.3f} "
          f"ci95={out['c2st_ci95'][0]:.3f}-{out['c2st_ci95'][1]:.3f}")
    print(f"kid_vs_minute={out['seconds']['kid'] / 60:.2f} c2st_vs_minute={out['seconds']['c2st'] / 60:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
