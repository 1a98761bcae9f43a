"""FID's trace term at Inception's 2048 features: SciPy's sqrtm of the product (Kaggle's code) against the two
symmetric eigendecompositions of monet.scoring (the same value); and the whole FID from features, through those
two 2048 x 2048 problems or through the smaller set's n x n one (``fid_of_features``, what scoring uses).

    python benchmarks/bench_fid.py [--images 300] [--generated 1000] [--repeats 2]

Prints ``sqrtm_s=``, ``ours_s=``, ``ratio=`` (sqrtm / ours) and the relative difference of the two traces; then
``fid_dxd_s=``, ``fid_nxn_s=``, ``nxn_ratio=`` and their relative difference.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy import linalg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from monet.scoring import metrics as scoring  # noqa: E402


def best_of(repeats: int, fn) -> tuple[float, float]:
    """The fastest of ``repeats`` calls, and the value."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - t0)
    return best, value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=300, help="feature vectors per set (Kaggle's paintings: 300)")
    ap.add_argument("--generated", type=int, default=1000, help="generated feature vectors for the whole FID")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    s1 = np.cov(rng.normal(size=(args.images, 2048)), rowvar=False)
    s2 = np.cov(rng.normal(size=(args.images, 2048)) + 0.1, rowvar=False)
    t_ref, v_ref = best_of(args.repeats, lambda: np.trace(linalg.sqrtm(s1 @ s2)).real)
    t_ours, v_ours = best_of(args.repeats, lambda: scoring.trace_sqrt_product(s1, s2))
    print(f"sqrtm_s={t_ref:.2f} ours_s={t_ours:.2f} ratio={t_ref / t_ours:.1f} "
          f"relative_difference={abs(v_ref - v_ours) / abs(v_ref):.1e}")
    real, generated = rng.normal(size=(args.images, 2048)), rng.normal(0.1, 1.0, size=(args.generated, 2048))
    t_dxd, v_dxd = best_of(args.repeats, lambda: scoring.fid(*scoring.statistics(real),
                                                             *scoring.statistics(generated)))
    t_nxn, v_nxn = best_of(args.repeats, lambda: scoring.fid_of_features(real, generated))
    print(f"fid_dxd_s={t_dxd:.2f} fid_nxn_s={t_nxn:.2f} nxn_ratio={t_dxd / t_nxn:.1f} "
          f"relative_difference={abs(v_dxd - v_nxn) / abs(v_dxd):.1e}")


if __name__ == "__main__":
    main()
