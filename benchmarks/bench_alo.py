"""Cost of the approximate leave-one-out error against one TransLasso.fit and 5-fold CV (same process).

Dense: the two-task setting of benchmarks/alo_accuracy.py (α_target = 0.5, α_source = 2) at
N = 500, 1000, 2000, hyperparameters "value" and "support" of that script, default solver tol.
Per N: the minimum over --repeats interleaved timings of a cold ``TransLasso.fit``, of ``loo_error`` with
method "alo_fixed" and "alo" on the fitted estimator, and (largest N only) of a 5-fold CV of the
same point (5 fits on 80% of the target rows, sources unchanged).
Sparse: the same truths with a sparse design (each entry nonzero with probability --density,
then ±1/sqrt(N·density), so the entries still have variance 1/N) at N = 2000, 4000, 8000.
The times are fitted as c·N^p per kind and extrapolated to N = 20,000, where 5-fold CV costs
about 5 fits. Ratios, not absolute times, are the result: the machine is shared.

Example: PYTHONPATH=. OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/bench_alo.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import sparse

from benchmarks.alo_accuracy import SETTINGS, two_task_setting
from solvers import TransLasso, draw_problem, draw_truth, loo_error


def _time(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _sparse_problem(N, density, rng):
    setting = two_task_setting()
    truth = draw_truth(setting, N, rng)
    data = []
    for k, alpha in enumerate(setting.alphas):
        M = int(round(alpha * N))
        A = sparse.random(M, N, density=density, format="csc", random_state=rng)
        A.data = rng.choice([-1.0, 1.0], A.data.size) / np.sqrt(N * density)
        data.append((A, A @ truth[k] + setting.sigmas[k] * rng.standard_normal(M)))
    return data


def _estimator(name):
    on_target, lam1, lam2, kappa, delta_lam = SETTINGS[name]
    return TransLasso(
        lam1, lam2, kappa, delta_lam, pretrain_on_target=on_target, fit_intercept=False, standardize=False
    )


def _cv5(est, A, y, sources):
    folds = np.array_split(np.random.default_rng(0).permutation(A.shape[0]), 5)
    for test in folds:
        keep = np.setdiff1d(np.arange(A.shape[0]), test)
        TransLasso(**est.get_params()).fit(A[keep], y[keep], sources=sources)


def measure(name, data, repeats, cv):
    (A, y), source = data
    est = _estimator(name)
    # interleaved repeats, minimum of each: other users' load only ever adds time
    kinds = ("fit", "alo_fixed", "alo")
    times = {k: [] for k in kinds}
    for _ in range(repeats):
        times["fit"].append(_time(lambda: est.fit(A, y, sources=[source])))
        for m in kinds[1:]:
            times[m].append(_time(lambda m=m: loo_error(est, A, y, sources=[source], method=m)))
    row = {f"t_{k}": min(v) for k, v in times.items()}
    row["support1"] = int(np.count_nonzero(est.coef_pretrain_))
    row["support2"] = int(np.count_nonzero(est.coef_finetune_))
    if cv:
        row["t_cv5"] = _time(lambda: _cv5(est, A, y, [source]))
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--density", type=float, default=0.02)
    p.add_argument("--dense-n", type=int, nargs="+", default=[500, 1000, 2000])
    p.add_argument("--sparse-n", type=int, nargs="+", default=[2000, 4000, 8000])
    a = p.parse_args()
    print("| design | setting | N | |S1| | |S2| | fit (s) | ALO fixed / fit | ALO / fit | 5-fold CV / fit |")
    print("|---|---|---|---|---|---|---|---|---|")
    fits = {}
    for kind, ns in (("dense", a.dense_n), ("sparse", a.sparse_n)):
        for name in ("value", "support"):
            for N in ns:
                rng = np.random.default_rng(N)
                data = (
                    draw_problem(two_task_setting(), N, rng).data
                    if kind == "dense"
                    else _sparse_problem(N, a.density, rng)
                )
                r = measure(name, data, a.repeats, cv=N == max(ns))
                fits.setdefault((kind, name), []).append((N, r["t_fit"], r["t_alo"]))
                cv = f"{r['t_cv5'] / r['t_fit']:.2f}" if "t_cv5" in r else "—"
                print(
                    f"| {kind} | {name} | {N} | {r['support1']} | {r['support2']} | {r['t_fit']:.2f} | "
                    f"{r['t_alo_fixed'] / r['t_fit']:.2f} | {r['t_alo'] / r['t_fit']:.2f} | {cv} |",
                    flush=True,
                )
    print("\n| design | setting | fit ~ N^p | ALO ~ N^p | ALO / fit at N = 20,000 (extrapolated) |")
    print("|---|---|---|---|---|")
    for (kind, name), rows in fits.items():
        n, tf, ta = (np.log(np.array(v)) for v in zip(*rows))
        pf, cf = np.polyfit(n, tf, 1)
        pa, ca = np.polyfit(n, ta, 1)
        ratio = np.exp(ca + pa * np.log(20_000)) / np.exp(cf + pf * np.log(20_000))
        print(f"| {kind} | {name} | {pf:.2f} | {pa:.2f} | {ratio:.1f} |")


if __name__ == "__main__":
    main()
