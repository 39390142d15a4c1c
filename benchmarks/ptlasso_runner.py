"""Run ptlasso's ``PretrainedLassoCV`` on one exported cell; executed by the ptlasso venv's Python.

ptlasso pins numpy < 2, so it cannot share the project's environment: this script imports
neither our package nor numpy 2 features. ``benchmarks/bench_ptlasso.py`` exports a cell to
.npz (``X`` sparse CSR parts of the stacked target + source training rows, ``y``, ``groups``
with the target = group 0, ``X_test``/``y_test`` of the held-out target reviews) and calls

    <venv>/bin/python benchmarks/ptlasso_runner.py CELL.npz OUT.json [--mode M] [--folds K] ...

Modes:

* ``full``: ``PretrainedLassoCV`` exactly as a user calls it (all groups' stage-2 models);
  reports the target test MSE at the global alpha (``alpha_``) and at the target's own alpha
  (``varying_alphahat_``).
* ``target``: the same code path, but the stage-2 CV (``_group_cv``) is skipped for the source
  groups (a stub returns an empty model). Stage 1 and every target-group fit are ptlasso's own,
  so the own-alpha result is the one ``full`` would give with the same random folds; the global
  alpha is not available (its criterion is dominated by the sources' stage-2 fits).

Timing and the peak resident memory (``ru_maxrss``) of this process are written to OUT.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
from scipy import sparse


def load(path):
    z = np.load(path)

    def mat(prefix):
        return sparse.csr_matrix(
            (z[prefix + "_data"], z[prefix + "_indices"], z[prefix + "_indptr"]), shape=tuple(z[prefix + "_shape"])
        )

    return mat("X"), z["y"], z["groups"], mat("X_test"), z["y_test"]


def build(mode, y_target, **kwargs):
    import ptlasso
    from ptlasso._utils import _StateProxy

    if mode == "full":
        return ptlasso.PretrainedLassoCV(**kwargs)

    class TargetOnlyLasso(ptlasso.PretrainedLasso):
        def _group_cv(self, X_g, X_raw_g, y_g, pf, offset=None, foldid_g=None):
            if len(y_g) == len(y_target) and np.array_equal(y_g, y_target):
                return super()._group_cv(X_g, X_raw_g, y_g, pf, offset, foldid_g)
            p = X_g.shape[1]
            stub = _StateProxy(np.zeros((1, p)), np.ones(1), np.zeros(1))
            return stub, 0, np.zeros(len(y_g))

    class TargetOnlyCV(ptlasso.PretrainedLassoCV):
        def _base_estimator(self, alpha):
            base = super()._base_estimator(alpha)
            est = TargetOnlyLasso(**base.get_params())
            return est

    return TargetOnlyCV(**kwargs)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cell")
    ap.add_argument("out")
    ap.add_argument("--mode", choices=("full", "target"), default="full")
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--path-size", type=int, default=100)
    ap.add_argument("--min-ratio", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0, help="seeds numpy's global RNG (ptlasso's stage-2 folds)")
    args = ap.parse_args(argv)

    np.random.seed(args.seed)
    X, y, groups, X_test, y_test = load(args.cell)
    t0 = time.perf_counter()
    Xd = X.toarray()  # ptlasso accepts dense input only
    y_target = y[groups == 0]
    model = build(
        args.mode,
        y_target,
        n_folds=args.folds,
        lmda_path_size=args.path_size,
        min_ratio=args.min_ratio,
        n_threads=args.threads,
        verbose=False,
    )
    model.fit(Xd, y, groups)
    fit_seconds = time.perf_counter() - t0
    Xt = X_test.toarray()
    g_test = np.zeros(len(y_test), dtype=groups.dtype)

    def test_mse(**kw):
        return float(np.mean((model.predict(Xt, g_test, **kw) - y_test) ** 2))

    result = {
        "mode": args.mode,
        "folds": args.folds,
        "path_size": args.path_size,
        "min_ratio": args.min_ratio,
        "threads": args.threads,
        "seed": args.seed,
        "fit_seconds": fit_seconds,
        "alpha_own": float(model.varying_alphahat_[0]),
        "test_mse_own_alpha": test_mse(alphatype="varying"),
        "test_mse_individual": test_mse(model="individual"),
        "test_mse_overall": test_mse(model="overall"),
        "overall_support": int(np.sum(model.overall_coef_ != 0)),
        "overall_lambda": float(model.overall_model_.lmdas[model.overall_lmda_idx_]),
        "overall_lambda_max": float(model.overall_model_.lmdas[0]),
        "overall_lambda_index": int(model.overall_lmda_idx_),
        "cv_target": {str(a): float(model.cv_results_per_group_[a][0]) for a in model.alphalist_},
        "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }
    if args.mode == "full":
        result["alpha_global"] = float(model.alpha_)
        result["test_mse_global_alpha"] = test_mse(alphatype="best")
        result["cv_global"] = {str(a): float(v) for a, v in model.cv_results_.items()}
    with open(args.out, "w") as fh:
        json.dump(result, fh, indent=1)
    print(json.dumps({k: v for k, v in result.items() if not k.startswith("cv_")}))


if __name__ == "__main__":
    main()
