"""Ablations: which of ptlasso's ingredients make it beat our CV-tuned transfer on IMDb (issue 13, item 4).

A small two-stage pipeline with switches, each one an ingredient of ptlasso's
``PretrainedLassoCV`` (``benchmarks/ptlasso_findings`` in the shared notes):

* ``lam1``: "grid" = λ1 chosen by the target CV over the study's five λ1 (our engine), or
  "1se"/"min" = λ1 chosen by K-fold CV of the pooled stage-1 Lasso (glmnet's lambda.1se / min);
* ``intercept``: per-dataset intercepts in stage 1 (each dataset's columns and response centred
  by its own means) and an intercept in stage 2 (target columns, response and offset centred by
  the target training means);
* ``standardize``: columns scaled to unit standard deviation (stage 1: pooled within-dataset
  std; stage 2: the target training rows' std), i.e. penalty ∝ column std as in glmnet;
* ``target_in_stage1``: the target training rows join the pooled stage 1 (with their own
  intercept), and ``prevalidate`` then takes the stage-2 offset on those rows from the
  out-of-fold stage-1 fits at the selected λ1 (ptlasso's pre-validation);
* ``cells``: "study" = the (κ, u) cells of ``experiments.transfer_cv`` (all 7 strategies),
  "ptlasso" = κ = 1 − a, u = log(1/a) for a ∈ {0, 0.1, ..., 1} (a = 0: Δλ = ∞);
* ``n_lam2``: λ2 grid size (the study uses 8 points from 1 to 0.02 λ2_max).

Stage 1 is solved from Gram matrices (one per fold of the pooled rows) on the square Cholesky
factor, as in ``experiments.transfer_cv``; stage 2 by sklearn ``enet_path`` on the dense target
rows. Penalties follow glmnet's convention (mean loss, λ fixed across folds).

Run: ``python benchmarks/ablate_ptlasso.py [--n-targets 100 500 2000] [--subsamples 0]``.
Appends records to ``benchmarks/ablate_ptlasso.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import enet_path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from experiments.transfer_cv import _factor, default_cells  # noqa: E402

from experiments.imdb import DATA_DEFAULT, FULL, load_study, subsample  # noqa: E402

_TOL = 1e-6


@dataclass(frozen=True)
class Recipe:
    lam1: str = "grid"
    intercept: bool = False
    stage1_intercept: bool | None = None  # None: same as ``intercept``
    standardize: bool = False
    target_in_stage1: bool = False
    prevalidate: bool = False
    cells: str = "study"
    n_lam2: int = 8
    folds1: int = 5
    n_lam1_path: int = 25


def _lasso_path(G, b, n_rows, lams):
    """Coefficients (N, len(lams)) of min ½ xᵀGx − bᵀx + n_rows·λ||x||₁ along decreasing λ (mean-loss λ)."""
    U, ytil = _factor(G, b)
    N = len(G)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, coefs, _ = enet_path(U, ytil, l1_ratio=1.0, alphas=np.asarray(lams) * n_rows / N, tol=_TOL, max_iter=10000)
    return coefs


class PooledStage1:
    """Stage 1 on pooled datasets [(A_k, y_k)], with per-dataset folds for its own CV.

    Sufficient statistics per fold f and dataset k (Gram of the fold rows, column sums, response
    sums) let every fold-complement fit be solved without touching the rows again.
    """

    def __init__(self, datasets, folds: int, seed: int, intercept: bool, standardize: bool):
        self.datasets = [(sparse.csr_matrix(A), np.asarray(y, float)) for A, y in datasets]
        self.K, self.intercept, self.standardize = folds, intercept, standardize
        N = self.datasets[0][0].shape[1]
        ng = len(self.datasets)
        rng = np.random.default_rng(seed)
        self.fold_of = []
        self.G = np.zeros((folds, N, N))
        self.b = np.zeros((folds, N))
        self.sx = np.zeros((ng, folds, N))
        self.sy = np.zeros((ng, folds))
        self.n = np.zeros((ng, folds))
        for k, (A, y) in enumerate(self.datasets):
            fold = np.empty(len(y), int)
            fold[rng.permutation(len(y))] = np.arange(len(y)) % folds
            self.fold_of.append(fold)
            for f in range(folds):
                rows = fold == f
                Af = A[rows]
                self.G[f] += (Af.T @ Af).toarray()
                self.b[f] += Af.T @ y[rows]
                self.sx[k, f] = np.asarray(Af.sum(axis=0)).ravel()
                self.sy[k, f] = y[rows].sum()
                self.n[k, f] = rows.sum()

    def system(self, train):
        """(G, b, n_rows, scale, means (ng, N), ybar (ng,)) of the fit on folds ``train`` (bool mask)."""
        G = self.G[train].sum(0)
        b = self.b[train].sum(0)
        n_k = self.n[:, train].sum(1)
        means = self.sx[:, train].sum(1) / n_k[:, None]
        ybar = self.sy[:, train].sum(1) / n_k
        if self.intercept:
            G = G - (means.T * n_k) @ means
            b = b - means.T @ (n_k * ybar)
        n_rows = n_k.sum()
        scale = np.sqrt(np.maximum(np.diag(G), 1e-300) / n_rows) if self.standardize else np.ones(len(b))
        return G / np.outer(scale, scale), b / scale, n_rows, scale, means, ybar

    def predict(self, coef, k, A, system):
        """Linear predictor of dataset k's rows A for coefficients (N, m) in original units."""
        _, _, _, _, means, ybar = system
        eta = np.asarray(A @ coef)
        if self.intercept:
            eta = eta + (ybar[k] - means[k] @ coef)
        return eta

    def fit_path(self, train, lams):
        system = self.system(train)
        G, b, n_rows, scale, _, _ = system
        return _lasso_path(G, b, n_rows, lams) / scale[:, None], system

    def lam_max(self):
        G, b, n_rows, *_ = self.system(np.ones(self.K, bool))
        return float(np.max(np.abs(b)) / n_rows)

    def cv(self, lams):
        """Pooled CV MSE per fold (K, L) and out-of-fold predictors of every dataset's rows (rows, L)."""
        losses = np.zeros((self.K, len(lams)))
        oof = [np.zeros((len(y), len(lams))) for _, y in self.datasets]
        for f in range(self.K):
            train = np.arange(self.K) != f
            coefs, system = self.fit_path(train, lams)
            sq, cnt = 0.0, 0
            for k, (A, y) in enumerate(self.datasets):
                rows = self.fold_of[k] == f
                eta = self.predict(coefs, k, A[rows], system)
                oof[k][rows] = eta
                sq = sq + ((y[rows, None] - eta) ** 2).sum(0)
                cnt += rows.sum()
            losses[f] = sq / cnt
        return losses, oof


def select(losses, rule):
    mean = losses.mean(0)
    best = int(np.argmin(mean))
    if rule == "min":
        return best
    se = losses.std(0, ddof=1) / math.sqrt(losses.shape[0])
    return int(np.flatnonzero(mean <= mean[best] + se[best])[0])


def cells_of(kind):
    if kind == "study":
        return [(c.kappa, c.u) for c in default_cells()]
    return [(1.0 - a, math.log(1.0 / a) if a > 0 else math.inf) for a in np.linspace(0.0, 1.0, 11)]


def _stage2_design(X, r, on, u, intercept, standardize, stats=None):
    """Transformed (Z, rc, col_scale, stats) for a Lasso in λ2 with penalty factor e^u off ``on``."""
    if stats is None:
        mx = X.mean(0) if intercept else np.zeros(X.shape[1])
        sd = X.std(0) if standardize else np.ones(X.shape[1])
        stats = (mx, sd)
    mx, sd = stats
    pen = np.where(on, 1.0, math.exp(u) if math.isfinite(u) else math.inf)
    with np.errstate(invalid="ignore"):  # sd = 0 (absent word) times pen = ∞: dropped below
        col = sd * pen
    keep = np.isfinite(col) & (col > 0)
    Z = (X[:, keep] - mx[keep]) / col[keep]
    rc = r - r.mean() if intercept else r
    return np.asfortranarray(Z), rc, col, keep, stats


def stage2_fit(X, r, on, u, lams, intercept, standardize):
    """Coefficients (N, L) and intercepts (L,) of the stage-2 Lasso on residual target r."""
    Z, rc, col, keep, (mx, _) = _stage2_design(X, r, on, u, intercept, standardize)
    coef = np.zeros((X.shape[1], len(lams)))
    if keep.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            _, z, _ = enet_path(Z, rc, l1_ratio=1.0, alphas=lams, tol=_TOL, max_iter=10000)
        coef[keep] = z / col[keep, None]
    b0 = (r.mean() - mx @ coef) if intercept else np.zeros(len(lams))
    return coef, b0


def run_recipe(recipe: Recipe, data, A, y, A_test, y_test, seed: int = 0) -> dict:
    """CV-tune the recipe on the target training rows (A, y centred), refit, return test MSE and choices."""
    t0 = time.perf_counter()
    X = A.toarray()
    Xt = A_test.toarray() if sparse.issparse(A_test) else A_test
    sources = [(d.A, d.y) for d in data.sources]
    datasets = ([(A, y)] if recipe.target_in_stage1 else []) + sources
    icept1 = recipe.intercept if recipe.stage1_intercept is None else recipe.stage1_intercept
    s1 = PooledStage1(datasets, recipe.folds1, seed, icept1, recipe.standardize)
    lmax = s1.lam_max()
    info = {}
    if recipe.lam1 == "grid":
        lams = [lmax * r for r in FULL["lam1_ratios"]]
        coefs, system = s1.fit_path(np.ones(s1.K, bool), lams)
        chosen = list(range(len(lams)))
    else:
        lams = list(lmax * np.geomspace(1.0, 3e-3, recipe.n_lam1_path))
        losses, oof = s1.cv(lams)
        j = select(losses, recipe.lam1)
        coefs, system = s1.fit_path(np.ones(s1.K, bool), lams[: j + 1])
        coefs = coefs[:, [j]]
        chosen = [j]
        info["lam1_cv_index"] = j
    k_t = 0 if recipe.target_in_stage1 else None
    offsets, offsets_test, supports = [], [], []
    for c, j in enumerate(chosen):
        x1 = coefs[:, c]
        supports.append(x1 != 0)
        if recipe.target_in_stage1:
            eta_tr = oof[0][:, j] if recipe.prevalidate else s1.predict(x1, k_t, A, system)
            eta_te = s1.predict(x1, k_t, A_test, system)
        else:
            eta_tr, eta_te = np.asarray(A @ x1), np.asarray(A_test @ x1)
        offsets.append(np.asarray(eta_tr).ravel())
        offsets_test.append(np.asarray(eta_te).ravel())
    # stage 2: CV over (λ1 candidate, cell, λ2) on the target rows
    cells = cells_of(recipe.cells)
    Z0, r0, *_ = _stage2_design(X, y, np.ones(X.shape[1], bool), 0.0, recipe.intercept, recipe.standardize)
    lam2_max = float(np.max(np.abs(Z0.T @ r0)) / len(y))
    lam2 = lam2_max * np.geomspace(1.0, 0.02 if recipe.n_lam2 <= 8 else 0.005, recipe.n_lam2)
    n = len(y)
    folds = np.array_split(np.random.default_rng(seed).permutation(n), FULL["folds"])
    err = np.zeros((len(chosen), len(cells), len(lam2)))
    for val in folds:
        tr = np.setdiff1d(np.arange(n), val)
        for c in range(len(chosen)):
            for m, (kappa, u) in enumerate(cells):
                r = y[tr] - kappa * offsets[c][tr]
                coef, b0 = stage2_fit(X[tr], r, supports[c], u, lam2, recipe.intercept, recipe.standardize)
                pred = kappa * offsets[c][val, None] + X[val] @ coef + b0
                err[c, m] += ((y[val, None] - pred) ** 2).sum(0) / n
    c, m, li = np.unravel_index(int(np.argmin(err)), err.shape)
    kappa, u = cells[m]
    r = y - kappa * offsets[c]
    coef, b0 = stage2_fit(X, r, supports[c], u, lam2[: li + 1], recipe.intercept, recipe.standardize)
    pred = kappa * offsets_test[c] + Xt @ coef[:, -1] + b0[-1]
    test = float(np.mean((y_test - pred) ** 2))
    pre_only = offsets_test[c] - (offsets[c].mean() if recipe.intercept else 0.0)
    return {
        "recipe": asdict(recipe),
        "test_mse": test,
        "cv_mse": float(err[c, m, li]),
        "lam1": float(lams[chosen[c]]),
        "lam1_ratio": float(lams[chosen[c]] / lmax),
        "nnz_x1": int(supports[c].sum()),
        "kappa": kappa,
        "u": u,
        "lam2_ratio": float(lam2[li] / lam2_max),
        "pretrained_test_mse": float(np.mean((y_test - pre_only) ** 2)),
        "seconds": time.perf_counter() - t0,
        **info,
    }


RECIPES = {
    "engine_like": Recipe(),
    "a_lam1_1se": Recipe(lam1="1se"),
    "b_intercept": Recipe(intercept=True),
    "b_standardize": Recipe(standardize=True),
    "b_both": Recipe(intercept=True, standardize=True),
    "ab": Recipe(lam1="1se", intercept=True, standardize=True),
    "ab_intercept_only": Recipe(lam1="1se", intercept=True),
    "c_target_no_pv": Recipe(lam1="1se", intercept=True, standardize=True, target_in_stage1=True),
    "abc": Recipe(lam1="1se", intercept=True, standardize=True, target_in_stage1=True, prevalidate=True),
    "abc_ptcells": Recipe(
        lam1="1se",
        intercept=True,
        standardize=True,
        target_in_stage1=True,
        prevalidate=True,
        cells="ptlasso",
        n_lam2=30,
    ),
    "b_intercept_min": Recipe(lam1="min", intercept=True),
    "b_intercept_ptcells": Recipe(intercept=True, cells="ptlasso", n_lam2=30),
    "b_intercept_stage2_only": Recipe(intercept=True, stage1_intercept=False),
    "b_intercept_stage1_only": Recipe(intercept=False, stage1_intercept=True),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA_DEFAULT)
    ap.add_argument("--n-targets", type=int, nargs="+", default=[100])
    ap.add_argument("--subsamples", type=int, nargs="+", default=[0])
    ap.add_argument("--recipes", nargs="+", default=list(RECIPES))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "ablate_ptlasso.json")
    args = ap.parse_args(argv)
    data, _ = load_study(str(args.data.resolve()))
    records = json.loads(args.out.read_text()) if args.out.exists() else []
    for n_t in args.n_targets:
        for s in args.subsamples:
            A, y, shift = subsample(data, n_t, s, 0)
            y_test = data.target_test.y - shift
            for name in args.recipes:
                rec = run_recipe(RECIPES[name], data, A, y, data.target_test.A, y_test)
                rec |= {"name": name, "n_target": n_t, "subsample": s}
                records.append(rec)
                args.out.write_text(json.dumps(records, indent=1))
                print(
                    f"n_t={n_t} s={s} {name:18s} test {rec['test_mse']:.3f} (pretrained {rec['pretrained_test_mse']:.3f})"
                    f" lam1 ratio {rec['lam1_ratio']:.4f} nnz {rec['nnz_x1']} kappa {rec['kappa']:.2f} u {rec['u']:.2f}"
                    f" lam2 ratio {rec['lam2_ratio']:.3f}  {rec['seconds']:.0f} s",
                    flush=True,
                )


if __name__ == "__main__":
    main()
