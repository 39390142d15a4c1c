"""Speed of replica.predict against one finite-size fit of the same problem, measured in one run.

Baseline: at N = 1000, a scikit-learn Lasso on the pooled data (stage 1) then one on the target
(stage 2), tol 1e-8 — one finite-size fit of the problem that predict() describes exactly.
Reports (best of repeats, to damp machine noise):
  ratio_cold  = cold predict() / baseline fit            (goal ≤ 0.01)
  ratio_sweep = 50-point warm-started sweep over λ2 / one cold predict()   (goal ≤ 20)
  ratio_sweep_robust = the same with the sweep timed as the sum over its points of each warm
                predict's best time: on a loaded machine no whole sweep runs undisturbed

    python benchmarks/bench_predict.py [--repeats 5] [--out benchmarks/bench_predict.json]
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from pathlib import Path

import numpy as np
from sklearn.linear_model import Lasso

from replica import Hyperparameters, Setting, predict

SETTING = Setting.two_task(0.5, 1.5, 0.3, 0.3, 0.1, 0.05, 0.05)
HP = Hyperparameters(0.5, 0.1, 0.5, 1.0)
N = 1000


def _best(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def finite_size_fit(data):
    X, y, Xt, yt = data
    x1 = Lasso(alpha=HP.lam1 / len(y), fit_intercept=False, tol=1e-8, max_iter=100_000).fit(X, y).coef_
    Lasso(alpha=HP.lam2 / len(yt), fit_intercept=False, tol=1e-8, max_iter=100_000).fit(Xt, yt - HP.kappa * Xt @ x1)


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    u = rng.random(N)
    shared, t_only, s_only = u < 0.1, (u >= 0.1) & (u < 0.15), (u >= 0.15) & (u < 0.2)
    z = rng.standard_normal(N)
    r_t, r_s = np.where(shared | t_only, z, 0.0), np.where(shared | s_only, z, 0.0)
    Mt, Ms = int(SETTING.alphas[0] * N), int(SETTING.alphas[1] * N)
    At, As = rng.standard_normal((Mt, N)) / np.sqrt(N), rng.standard_normal((Ms, N)) / np.sqrt(N)
    yt, ys = At @ r_t + 0.3 * rng.standard_normal(Mt), As @ r_s + 0.3 * rng.standard_normal(Ms)
    return np.vstack([At, As]), np.concatenate([yt, ys]), At, yt


def sweep(n_points=50):
    prev = None
    for lam2 in np.geomspace(0.02, 1.0, n_points):
        prev = predict(SETTING, Hyperparameters(HP.lam1, lam2, HP.kappa, HP.delta_lam), warm_start=prev)


def sweep_point_minima(repeats, n_points=50):
    """The sweep's time as Σ over its points of the best of ``repeats`` runs of each warm predict
    (replayed from the same warm start)."""
    hps = [Hyperparameters(HP.lam1, lam2, HP.kappa, HP.delta_lam) for lam2 in np.geomspace(0.02, 1.0, n_points)]
    starts, prev = [], None
    for hp in hps:
        starts.append(prev)
        prev = predict(SETTING, hp, warm_start=prev)
    return sum(_best(partial(predict, SETTING, hp, warm_start=w), repeats) for hp, w in zip(hps, starts))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    args = ap.parse_args(argv)
    data = make_data()
    predict(SETTING, HP)  # import-time and cache warm-up
    t_fit = _best(lambda: finite_size_fit(data), args.repeats)
    t_cold = _best(lambda: predict(SETTING, HP), 5 * args.repeats)
    t_sweep = _best(sweep, args.repeats)
    t_robust = sweep_point_minima(5 * args.repeats)
    out = {
        "finite_size_fit_s": t_fit,
        "predict_cold_s": t_cold,
        "sweep50_s": t_sweep,
        "ratio_cold": t_cold / t_fit,
        "ratio_sweep": t_sweep / t_cold,
        "sweep50_robust_s": t_robust,
        "ratio_sweep_robust": t_robust / t_cold,
    }
    for k, v in out.items():
        print(f"{k:>18}: {v:.4g}")
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
