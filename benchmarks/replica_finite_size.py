"""Measure the finite-size bias of the three settings of tests/test_replica_simulation.py.

Fits each observable as a + c/N over N ∈ {250, 500, 1000} (weighted least squares on seed means)
and prints c/1000, the bias at N = 1000 that the test's allowance must cover.

    python benchmarks/replica_finite_size.py
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from independent_sim import run  # noqa: E402
from test_replica_simulation import CASES, KEYS  # noqa: E402


def main():
    for name, setting, hp in CASES:
        sizes, seeds = (250, 500, 1000), (64, 32, 16)
        rows = {k: [] for k in KEYS}
        for n, m in zip(sizes, seeds):
            recs = [run(setting, hp, n, 10_000 + s) for s in range(m)]
            for k in KEYS:
                v = np.array([r[k] for r in recs])
                rows[k].append((v.mean(), v.std(ddof=1) / np.sqrt(m)))
        print(name)
        for k in KEYS:
            mean, se = np.array(rows[k]).T
            A = np.stack([np.ones(3), 1 / np.array(sizes)], 1) / se[:, None]
            (a, c), *_ = np.linalg.lstsq(A, mean / se, rcond=None)
            c_se = np.sqrt(np.linalg.inv(A.T @ A)[1, 1])
            print(
                f"  {k}: extrapolated {a:.5f}, bias at N=1000 c/N = {c / 1000:+.5f} ± {c_se / 1000:.5f}"
                f" ({c / 1000 / a:+.2%} ± {c_se / 1000 / a:.2%})"
            )


if __name__ == "__main__":
    main()
