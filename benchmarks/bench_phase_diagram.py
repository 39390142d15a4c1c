"""Benchmark: cost of a phase diagram with full, value and support optimized at every point.

Runs one warm-started chain along α_target (as experiments.phase_diagram does along each
grid row), times the cold first point and the warm ones separately, and extrapolates to an
n×n diagram on ``--workers`` cores: n²·(warm time per point)/workers + (chains)·(cold time).

    python -m benchmarks.bench_phase_diagram [--points 10] [--n 40] [--workers 2]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from experiments.optimal import optimize_strategies
from replica import Setting

# pretrained (1-D, ~10 warm evaluations) supplies the λ1 start that keeps chains off the x1 = 0 plateau
STRATEGIES = ("pretrained", "value", "support", "full")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=10, help="points of the timed chain (default 10)")
    parser.add_argument("--n", type=int, default=40, help="diagram size to extrapolate to (default 40)")
    parser.add_argument("--workers", type=int, default=2, help="cores of the extrapolation (default 2)")
    parser.add_argument("--alpha-source", type=float, default=1.0)
    args = parser.parse_args(argv)
    # the phase diagram's α_target spacing: n log-spaced points over [0.1, 3]
    alphas = np.geomspace(0.1, 3.0, args.n)[: args.points]
    times, evals, previous = [], [], None
    for alpha in alphas:
        setting = Setting.two_task(float(alpha), args.alpha_source, 0.1, 0.1, 0.1, 0.02, 0.02)
        t0 = time.perf_counter()
        previous = optimize_strategies(setting, STRATEGIES, previous)
        times.append(time.perf_counter() - t0)
        evals.append({s: r.evaluations for s, r in previous.items()})
    cold, warm = times[0], np.array(times[1:])
    per_opt = {s: np.mean([e[s] for e in evals[1:]]) for s in STRATEGIES}
    n_chains = args.n // 2    # experiments.phase_diagram: two grid rows per chain
    total = args.n ** 2 * warm.mean() / args.workers + n_chains * cold / args.workers
    print(f"cold first point ({', '.join(STRATEGIES)}; cascade): {cold:.2f} s")
    print(f"warm point: mean {warm.mean():.3f} s, median {np.median(warm):.3f} s "
          f"({warm.mean() / 3:.3f} s per optimization of full, value, support)")
    print("warm predict calls per optimization: " + ", ".join(f"{s} {v:.0f}" for s, v in per_opt.items()))
    print(f"extrapolated {args.n}x{args.n} diagram on {args.workers} cores: {total / 60:.1f} min")


if __name__ == "__main__":
    main()
