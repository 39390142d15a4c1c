"""Speed of replica.predict on correlated designs (THEORY.md §7), against baselines run in the same process.

Dense Σ (AR(1), ρ = 0.5; the two-task prior of tests.builders.CORRELATED_SETTING, its full-transfer
hyperparameters): a cold ``predict`` (new covariance, nothing cached; numba compiled beforehand), a
warm one (λ2 × 1.05 from the cold one), and two baselines at the same N: one i.i.d. ``predict`` and one
``solvers.TransLasso().fit`` of a dataset drawn from the correlated setting. N = 250 … 2000 gives how the
cost grows with N (the default number of draws is max(8, ⌈2¹⁵/N⌉), so S N is constant above N = 4096/…).

Sparse empirical Σ (``--imdb``): the 20,000-word IMDb study's pooled design (n_t = 1000 target rows of
subsample 0 and the sources, ``experiments.imdb.load_study``). ``TransLassoCV(strategy="value",
tuning="theory")`` estimates the i.i.d. setting; the baseline is one ``TransLasso(fit_intercept=True,
standardize=True).fit`` at its hyperparameters; then a cold ``predict`` of that setting with
``Covariance.empirical`` of the pooled design (its words present in these rows; held as its sparse design:
N > 4096) at the theory's hyperparameters, as a multiple of the fit.

    python benchmarks/bench_correlated.py [--imdb] [--data ../shared/data] [--repeats 3]

Writes benchmarks/bench_correlated.json (merged with earlier runs); the write-up is bench_correlated.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from replica import Hyperparameters, optimize, predict  # noqa: E402
from replica.covariance import Covariance, ar1  # noqa: E402
from solvers import TransLasso, draw_problem  # noqa: E402
from tests.builders import CORRELATED_HYPER, CORRELATED_SETTING  # noqa: E402

OUT = ROOT / "benchmarks" / "bench_correlated.json"


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _best(fn, repeats):
    return min(_timed(fn)[0] for _ in range(repeats))


def dense(sizes, repeats):
    hp = CORRELATED_HYPER["full"]
    step = Hyperparameters(hp.lam1, 1.05 * hp.lam2, hp.kappa, hp.delta_lam)
    predict(CORRELATED_SETTING.with_covariance(ar1(60, 0.5)), hp)  # compile the kernels
    rows = []
    for N in sizes:
        Sigma = ar1(N, 0.5)
        cold, pred = [], None
        for _ in range(repeats):
            setting = CORRELATED_SETTING.with_covariance(Covariance.dense(Sigma))  # nothing cached
            t, pred = _timed(lambda s=setting: predict(s, hp))
            cold.append(t)
        warm = _best(lambda p=pred: predict(p.setting, step, warm_start=p), repeats)
        iid = _best(lambda: predict(CORRELATED_SETTING, hp), repeats)
        prob = draw_problem(pred.setting, N, np.random.default_rng(0))
        (X, y), source = prob.data
        fit = _best(lambda X=X, y=y, src=source: TransLasso(**hp.as_dict()).fit(X, y, sources=[src]), repeats)
        row = {
            "N": N,
            "draws": pred.setting.covariance.draws,
            "cold_s": min(cold),
            "warm_s": warm,
            "iid_predict_s": iid,
            "fit_s": fit,
            "cold_over_fit": min(cold) / fit,
            "cold_over_iid": min(cold) / iid,
            "iterations": pred.iterations,
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def imdb(data, repeats):
    from experiments.imdb import load_study, subsample
    from solvers import TransLassoCV

    study = load_study(str(data), 20000)
    X, y = subsample(study, 1000, 0, 0)
    sources = [(d.A, d.y) for d in study.sources]
    model = TransLassoCV(strategy="value", tuning="theory").fit(X, y, sources=sources)
    h = model.hyperparameters_
    fit = _best(
        lambda: TransLasso(**h.as_dict(), fit_intercept=True, standardize=True).fit(X, y, sources=sources), repeats
    )
    from scipy import sparse

    pooled = sparse.vstack([X] + [A for A, _ in sources], format="csc")
    pooled = pooled[:, np.diff(pooled.indptr) > 0]  # words absent from these rows: constant columns
    hp = optimize(model.setting_, "value").hyperparameters
    t_cov, cov = _timed(lambda: Covariance.empirical(pooled))
    small = sparse.random(300, 100, density=0.1, random_state=0, format="csc")  # compile the design kernel
    predict(CORRELATED_SETTING.with_covariance(Covariance.empirical(small, dense=False)), hp)
    t_pred, pred = _timed(lambda: predict(model.setting_.with_covariance(cov), hp))
    row = {
        "N": pooled.shape[1],
        "rows": pooled.shape[0],
        "nnz": int(pooled.nnz),
        "draws": cov.draws,
        "setting": repr(model.setting_),
        "hyperparameters": hp.as_dict(),
        "fit_s": fit,
        "covariance_s": t_cov,
        "cold_predict_s": t_pred,
        "cold_over_fit": t_pred / fit,
        "iterations": pred.iterations,
        "eps2": pred.eps2,
        "eps2_se": pred.se["eps2"],
        "eps2_iid": predict(model.setting_, hp).eps2,
    }
    print(json.dumps(row), flush=True)
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 784, 1000, 2000])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--imdb", action="store_true")
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = ap.parse_args(argv)
    out = json.loads(OUT.read_text()) if OUT.exists() else {}
    load = os.getloadavg()[0]
    if args.imdb:
        out["imdb"] = {**imdb(args.data, args.repeats), "load_average": load}
    else:
        out["dense"] = dense(args.sizes, args.repeats)
        out["dense_load_average"] = load
    OUT.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
