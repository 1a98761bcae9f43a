"""FID's trace term at Inception's 2048 features: SciPy's sqrtm of the product (Kaggle's code) against the two
symmetric eigendecompositions of monet.scoring (the same value).

    python benchmarks/bench_fid.py [--images 300] [--repeats 2]

Prints ``sqrtm_s=``, ``ours_s=``, ``ratio=`` (sqrtm / ours) and the relative difference of the two traces.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import linalg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from monet.scoring import metrics as scoring  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=300, help="feature vectors per set (Kaggle's paintings: 300)")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    s1 = np.cov(rng.normal(size=(args.images, 2048)), rowvar=False)
    s2 = np.cov(rng.normal(size=(args.images, 2048)) + 0.1, rowvar=False)
    timings = {}
    for name, fn in (("sqrtm", lambda: np.trace(linalg.sqrtm(s1 @ s2)).real),
                     ("ours", lambda: scoring.trace_sqrt_product(s1, s2))):
        best = float("inf")
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            value = fn()
            best = min(best, time.perf_counter() - t0)
        timings[name] = (best, value)
    (t_ref, v_ref), (t_ours, v_ours) = timings["sqrtm"], timings["ours"]
    print(f"sqrtm_s={t_ref:.2f} ours_s={t_ours:.2f} ratio={t_ref / t_ours:.1f} "
          f"relative_difference={abs(v_ref - v_ours) / abs(v_ref):.1e}")


if __name__ == "__main__":
    main()
