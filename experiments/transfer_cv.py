"""Fast K-fold cross-validation of the two-stage estimator over all hyperparameter strategies.

The estimator is THEORY.md §2 (stage 1 on the sources, plus the target fold when
``pretrain_on_target``; stage 2 on the target fold with offset κ x1 and penalty
λ2 + Δλ·1[x1_i = 0]). CV error = mean squared error on the held-out target fold.

Why it is cheap:

* stage 1 depends only on (λ1, fold). Every stage-1 problem is solved from its Gram
  matrix: G = Σ AᵀA is formed once for the sources, a fold only adds its own rows, and
  ½||y − Ax||² = ½||ỹ − Lx||² + const with G = LᵀL (Cholesky), so coordinate descent runs
  on an N × N dense design instead of the ~20,000-row pooled one. Fits with the target
  are warm-started from the sources-only solution at the same λ1, which the target
  rows barely move; with ``pretrain_on_target=False`` stage 1 is fitted once per λ1 for
  the whole study (:class:`Pretrainer` caches it).
* stage 2 with Δλ = λ2 (e^u − 1) at fixed (κ, u) is a plain Lasso in λ2 after dividing
  the columns off supp x1 by e^u, so one warm-started regularization path
  (sklearn ``enet_path``) covers the whole λ2 grid; u = ∞ keeps only the columns of
  supp x1.
* every strategy is a subset of one grid of cells (κ, u) × λ1 × λ2, so the 4-D search
  (``full``) evaluates each cell once and the other strategies reuse its errors;
  κ = 0, u = 0 (target-only) is fitted once per fold, not once per λ1.

Costs are attributed per strategy as if it were cross-validated alone (its stage-1
fits, if it uses stage 1, plus the stage-2 paths of its cells); a λ2 point of a path
counts as one fit.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import linalg, sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import enet_path

from replica import STRATEGY_NAMES, Hyperparameters, strategies_containing

__all__ = [
    "STRATEGIES",
    "Cell",
    "Grid",
    "Pretrainer",
    "CVResult",
    "cross_validate",
    "cell_strategies",
    "default_cells",
    "stage2_path",
    "refit",
    "kfold",
    "mse",
]

STRATEGIES = STRATEGY_NAMES
_CD_TOL = 1e-5
_MAX_ITER = 5000


def mse(A, y, coef) -> np.ndarray:
    """Mean squared error of A @ coef against y; coef (N,) or (N, n) gives a scalar or (n,)."""
    pred = A @ coef
    pred = pred.toarray() if sparse.issparse(pred) else np.asarray(pred)
    return np.mean((y.reshape((-1,) + (1,) * (pred.ndim - 1)) - pred) ** 2, axis=0)


@dataclass(frozen=True)
class Cell:
    """A stage-2 transfer mode: value offset κ and u = log((λ2 + Δλ)/λ2) (u = ∞: Δλ = ∞)."""

    kappa: float
    u: float

    def delta_lam(self, lam2: float) -> float:
        return math.inf if math.isinf(self.u) else lam2 * math.expm1(self.u)


def cell_strategies(cell: Cell) -> frozenset[str]:
    """The strategies whose family contains ``cell`` (THEORY.md §2, special cases)."""
    return strategies_containing(cell.kappa, cell.u)


def default_cells() -> tuple[Cell, ...]:
    """Cells of the 4-D search: value κ grid, support u grid, Pretraining-Lasso mixings a ∈ {1/2, 1/4, 1/10},
    and mixed points; every strategy has ≥ 3 cells except target-only and Trans-Lasso (one each)."""
    cells = [Cell(0.0, 0.0)]
    cells += [Cell(k, 0.0) for k in (0.25, 0.5, 0.75, 1.0)]
    cells += [Cell(0.0, u) for u in (math.log(3.0), math.log(10.0), math.inf)]
    cells += [Cell(-math.expm1(-u), u) for u in (math.log(2.0), math.log(4.0), math.log(10.0))]
    cells += [Cell(k, u) for k in (0.5, 1.0) for u in (math.log(10.0), math.inf)]
    return tuple(cells)


@dataclass(frozen=True)
class Grid:
    """Absolute penalties (decreasing λ2) and the cells (κ, u) searched."""

    lam1: tuple
    lam2: tuple
    cells: tuple = field(default_factory=default_cells)

    def __post_init__(self):
        for name in ("lam1", "lam2"):
            values = np.asarray(getattr(self, name), float)
            if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
                raise ValueError(f"grid {name} must be a non-empty sequence of finite positive penalties")
        if np.any(np.diff(self.lam2) >= 0):
            raise ValueError("grid lam2 must be strictly decreasing (a warm-started path)")
        if not self.cells:
            raise ValueError("grid has no cells")

    @classmethod
    def relative(cls, lam1_max: float, lam2_max: float, lam1_ratios, lam2_ratios, cells=None) -> Grid:
        """Penalties as fractions of λ_max = ||Aᵀy||_∞ of the pooled pretraining and the target data."""
        lam2 = tuple(sorted((float(lam2_max * r) for r in lam2_ratios), reverse=True))
        return cls(tuple(float(lam1_max * r) for r in lam1_ratios), lam2, cells or default_cells())


def _cd(L: np.ndarray, ytil: np.ndarray, lam: float, coef_init) -> np.ndarray:
    """Lasso ½||ỹ − Lx||² + λ||x||₁ by coordinate descent on the square factor L."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, coefs, _ = enet_path(
            L,
            ytil,
            l1_ratio=1.0,
            alphas=[lam / L.shape[0]],
            precompute=False,
            coef_init=None if coef_init is None else np.array(coef_init, order="F"),  # CD works in place
            tol=_CD_TOL,
            max_iter=_MAX_ITER,
            check_input=False,
        )
    return coefs[:, 0]


def _factor(G: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(L, ỹ) with LᵀL = G and Lᵀỹ = b; a tiny ridge if G is numerically singular."""
    jitter = 0.0
    for _ in range(6):
        try:
            U = linalg.cholesky(G + jitter * np.eye(len(G)), lower=False, check_finite=False)
            break
        except linalg.LinAlgError:
            jitter = max(10 * jitter, 1e-10 * np.trace(G) / len(G))
    else:
        raise ValueError("the pretraining Gram matrix is not positive definite (fewer pretraining rows than features?)")
    ytil = linalg.solve_triangular(U, b, trans="T", check_finite=False)
    return np.asfortranarray(U), ytil


class Pretrainer:
    """Stage 1 on the sources (plus optional target rows), solved from Gram matrices.

    ``sources`` = [(A_k, y_k), ...] (dense or sparse). ``fit(lam1, extra)`` solves stage 1 for
    each λ1 (decreasing order, warm-started along the path); ``extra`` = (A, y) target rows
    added to the pooled data, warm-started from the cached sources-only solutions.
    """

    def __init__(self, sources):
        if not sources:
            raise ValueError("stage 1 needs at least one source (X, y) pair")
        self.n_features = sources[0][0].shape[1]
        self.G = np.zeros((self.n_features, self.n_features))
        self.b = np.zeros(self.n_features)
        self.yy = 0.0
        self.n_rows = 0
        for k, (A, y) in enumerate(sources):
            if A.shape[1] != self.n_features or A.shape[0] != len(y):
                raise ValueError(f"source {k}: design {A.shape} and response {len(y)} do not match")
            self.G += _gram(A)
            self.b += np.asarray(A.T @ y).ravel()
            self.yy += float(y @ y)
            self.n_rows += A.shape[0]
        self.lam_max = float(np.max(np.abs(self.b)))
        self._factor = None
        self._cache: dict[float, np.ndarray] = {}
        self.fits = 0
        self.seconds = 0.0

    def sources_only(self, lam1) -> np.ndarray:
        """x1 (N, n_λ1) pretrained on the sources alone; cached per λ1."""
        todo = [lam for lam in sorted(set(map(float, lam1)), reverse=True) if lam not in self._cache]
        if todo:
            t0 = time.perf_counter()
            if self._factor is None:
                self._factor = _factor(self.G, self.b)
            L, ytil = self._factor
            for lam in todo:
                warm = self._nearest_cached(lam)
                self._cache[lam] = _cd(L, ytil, lam, warm)
                self.fits += 1
            self.seconds += time.perf_counter() - t0
        return np.column_stack([self._cache[float(lam)] for lam in lam1])

    def rss(self, coef: np.ndarray) -> np.ndarray:
        """Residual sum of squares ||y − Ax||² on the pooled sources, from the Gram matrix; coef (N,) or (N, n)."""
        return self.yy - 2 * self.b @ coef + np.sum(coef * (self.G @ coef), axis=0)

    def _nearest_cached(self, lam):
        if not self._cache:
            return None
        return self._cache[min(self._cache, key=lambda c: abs(math.log(c / lam)))]

    def fit(self, lam1, extra=None) -> np.ndarray:
        """x1 (N, n_λ1) on the sources plus ``extra`` = (A, y) target rows (None: sources only)."""
        if extra is None:
            return self.sources_only(lam1)
        warm = self.sources_only(lam1)
        A, y = extra
        L, ytil = _factor(self.G + _gram(A), self.b + np.asarray(A.T @ y).ravel())
        return np.column_stack([_cd(L, ytil, float(lam), warm[:, j]) for j, lam in enumerate(lam1)])


def _gram(A) -> np.ndarray:
    G = A.T @ A
    return G.toarray() if sparse.issparse(G) else np.asarray(G)


def stage2_path(A, y, x1, cell: Cell, lam2) -> np.ndarray:
    """Final estimators κ x1 + x2 (N, n_λ2) along the decreasing λ2 grid at fixed (κ, u).

    Penalty λ2 c_i with c_i = e^u off supp x1 (1 on it) = a Lasso in λ2 on columns A_i / c_i.
    """
    n, N = A.shape
    on = x1 != 0
    scale = np.where(on, 1.0, math.exp(cell.u) if math.isfinite(cell.u) else math.inf)
    cols = np.flatnonzero(np.isfinite(scale))
    y_res = y - cell.kappa * np.asarray(A @ x1).ravel() if cell.kappa != 0 else y
    out = np.repeat((cell.kappa * x1)[:, None], len(lam2), axis=1)
    if cols.size == 0:
        return out
    X = A[:, cols] if cols.size < N else A
    if sparse.issparse(X):
        X = sparse.csc_matrix(X @ sparse.diags(1.0 / scale[cols]))
    else:
        X = np.asfortranarray(X / scale[cols])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, z, _ = enet_path(
            X, y_res, l1_ratio=1.0, alphas=np.asarray(lam2) / n, precompute=False, tol=_CD_TOL * 10, max_iter=_MAX_ITER
        )
    out[cols] += z / scale[cols, None]
    return out


def kfold(n: int, folds: int, seed: int) -> list[np.ndarray]:
    """Validation index sets of a seeded random K-fold split of range(n)."""
    if not 2 <= folds <= n:
        raise ValueError(f"folds must lie in [2, {n}], got {folds}")
    return np.array_split(np.random.default_rng(seed).permutation(n), folds)


@dataclass
class CVResult:
    """CV errors err[λ1, cell, λ2] (mean over folds), pretrained errors err1[λ1], and costs.

    ``stage1_seconds``/``stage1_fits`` cover the fold-dependent stage-1 fits (with the target in
    pretraining) or the sources-only fits charged to this CV (without it).
    """

    grid: Grid
    err: np.ndarray
    err1: np.ndarray
    cell_seconds: np.ndarray
    cell_fits: np.ndarray
    stage1_seconds: float
    stage1_fits: int
    wall_seconds: float

    def best(self, strategy: str) -> tuple[Hyperparameters, float]:
        """CV-optimal hyperparameters of ``strategy`` and their CV error."""
        g = self.grid
        if strategy == "pretrained":
            i = int(np.argmin(self.err1))
            return Hyperparameters(g.lam1[i], g.lam1[i], 1.0, math.inf), float(self.err1[i])
        cells = self.cells_of(strategy)
        sub = self.err[:, cells, :]
        i, c, j = np.unravel_index(int(np.nanargmin(sub)), sub.shape)
        cell = g.cells[cells[c]]
        return Hyperparameters(g.lam1[i], g.lam2[j], cell.kappa, cell.delta_lam(g.lam2[j])), float(sub[i, c, j])

    def cells_of(self, strategy: str) -> list[int]:
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
        return [k for k, cell in enumerate(self.grid.cells) if strategy in cell_strategies(cell)]

    def cost(self, strategy: str) -> tuple[int, float]:
        """(fits, seconds) of cross-validating ``strategy`` alone with this engine."""
        uses_stage1 = strategy != "target_only"
        fits = self.stage1_fits if uses_stage1 else 0
        seconds = self.stage1_seconds if uses_stage1 else 0.0
        if strategy != "pretrained":
            cells = self.cells_of(strategy)
            fits += int(self.cell_fits[cells].sum())
            seconds += float(self.cell_seconds[cells].sum())
        return fits, seconds


def cross_validate(
    target, pretrainer: Pretrainer, grid: Grid, *, folds: int = 5, seed: int = 0, pretrain_on_target: bool = False
) -> CVResult:
    """K-fold CV on the target training data only, for every cell of ``grid`` (module docstring).

    ``target`` = (A, y). Without the target in pretraining, the sources-only stage-1 fits are
    charged to this CV only if they were not cached before.
    """
    t_wall = time.perf_counter()
    A, y = target
    A = A.tocsr() if sparse.issparse(A) else np.asarray(A)
    n = A.shape[0]
    n1, nc, n2 = len(grid.lam1), len(grid.cells), len(grid.lam2)
    err = np.zeros((n1, nc, n2))
    err1 = np.zeros(n1)
    cell_seconds = np.zeros(nc)
    cell_fits = np.zeros(nc, dtype=int)
    fits0, sec0 = pretrainer.fits, pretrainer.seconds
    stage1_seconds, stage1_fits = 0.0, 0
    for val in kfold(n, folds, seed):
        train = np.setdiff1d(np.arange(n), val)
        A_tr, y_tr, A_va, y_va = A[train], y[train], A[val], y[val]
        if sparse.issparse(A_tr):
            A_tr = A_tr.tocsc()
        t0 = time.perf_counter()
        x1s = pretrainer.fit(grid.lam1, (A_tr, y_tr) if pretrain_on_target else None)
        if pretrain_on_target:
            stage1_seconds += time.perf_counter() - t0
            stage1_fits += n1
        w = len(val) / n
        err1 += w * mse(A_va, y_va, x1s)
        for k, cell in enumerate(grid.cells):
            for i in range(n1):
                if cell.kappa == 0 and cell.u == 0 and i > 0:
                    continue  # target-only: λ1 is irrelevant, copied from i = 0 after the loop
                t0 = time.perf_counter()
                coefs = stage2_path(A_tr, y_tr, x1s[:, i], cell, grid.lam2)
                cell_seconds[k] += time.perf_counter() - t0
                cell_fits[k] += n2
                err[i, k] += w * mse(A_va, y_va, coefs)
    for k, cell in enumerate(grid.cells):
        if cell.kappa == 0 and cell.u == 0:
            err[:, k] = err[0, k]
    if not pretrain_on_target:
        stage1_fits, stage1_seconds = pretrainer.fits - fits0, pretrainer.seconds - sec0
    return CVResult(grid, err, err1, cell_seconds, cell_fits, stage1_seconds, stage1_fits, time.perf_counter() - t_wall)


def refit(
    target, pretrainer: Pretrainer, strategy: str, hyper: Hyperparameters, pretrain_on_target: bool = False
) -> np.ndarray:
    """The estimator of ``strategy`` at ``hyper`` fitted on all target training data: κ x1 + x2,
    or x1 alone for ``pretrained``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")
    A, y = target
    if sparse.issparse(A):
        A = A.tocsc()
    x1 = pretrainer.fit([hyper.lam1], (A, y) if pretrain_on_target else None)[:, 0]
    if strategy == "pretrained":
        return x1
    if math.isinf(hyper.delta_lam):
        u = math.inf
    else:
        u = math.log1p(hyper.delta_lam / hyper.lam2) if hyper.delta_lam > 0 else 0.0
    return stage2_path(A, y, x1, Cell(hyper.kappa, u), [hyper.lam2])[:, 0]
