"""K-fold cross-validation of the two-stage estimator (THEORY.md §2) over a grid of cells, at text scale.

The estimator: stage 1 on the sources (plus the target's training rows if
``pretrain_on_target``), stage 2 on the target's training rows with offset κ x1 and penalty
λ2 + Δλ·1[x1_i = 0]; every dataset has its own free intercept when ``fit_intercept``
(:mod:`solvers.design`: columns centred implicitly, sparse designs stay sparse). The CV
error is the mean squared error on the held-out target rows.

Why it is cheap:

* stage 1 depends only on (λ1, fold): one warm-started λ1 path per fold (one for the whole CV
  without the target in pretraining);
* stage 2 with Δλ = λ2 (e^u − 1) at a fixed cell (κ, u) is a weighted Lasso in λ2 with weights
  1 on supp x1 and e^u off it, so one warm-started path covers the λ2 grid; the target-only
  cell (κ = 0, u = 0) does not depend on λ1 and is fitted once per fold;
* every strategy of :mod:`replica.strategies` is a set of cells, so one grid serves them all.

Nothing forms an N × N matrix: each coordinate update costs O(nnz of the column + number of
datasets). Every fit (each point of each path) is solved to a relative duality gap, checked
(:func:`solvers.design.lasso`): ``tol`` for stage 1 and for the paths whose errors decide the
selection, a looser ``screen_tol`` for the rest, which only rank the grid (:func:`cross_validate`).

Data units: :class:`Scaling` maps the user's columns to the theory's convention (design entries
of mean square 1/N, so rows have mean squared norm 1, THEORY.md §1) before anything is fitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from joblib import Parallel, delayed
from scipy import sparse

from replica import Hyperparameters
from replica.strategies import NESTED_ORDER, delta_from_u, strategies_containing, u_from_delta

from .design import Design, lasso_path

__all__ = [
    "Scaling",
    "TransferProblem",
    "Cell",
    "Grid",
    "default_cells",
    "cell_strategies",
    "narrowest_strategy",
    "pretrain_path",
    "finetune_path",
    "stage2_path",
    "cross_validate",
    "CVResult",
]

CV_TOL = 1e-6
# stage-2 paths that only rank grid points (cross_validate); as strict as scikit-learn's default tol
SCREEN_TOL = 1e-4


@dataclass(frozen=True)
class Scaling:
    """Column divisors taking the user's design to the theory's convention (THEORY.md §1).

    ``standardize=True``: every column of the pooled training data (centred within each dataset
    when there are intercepts) gets mean square 1/N. ``False``: one common factor, so that the
    mean squared row norm is 1 and the user's relative column scales are kept.
    """

    divisors: np.ndarray

    @classmethod
    def fit(cls, blocks, fit_intercept: bool, standardize: bool) -> Scaling:
        N = blocks[0].shape[1]
        rows = sum(b.shape[0] for b in blocks)
        ms = np.zeros(N)
        for b in blocks:
            sq = np.asarray(b.multiply(b).sum(axis=0) if sparse.issparse(b) else (b * b).sum(axis=0)).ravel()
            if fit_intercept:
                sq = sq - np.asarray(b.mean(axis=0)).ravel() ** 2 * b.shape[0]
            ms += np.maximum(sq, 0.0)
        ms /= rows
        if standardize:
            div = np.sqrt(ms * N)
            div[div <= 1e-12 * max(div.max(), 1e-300)] = 1.0  # constant columns: left as they are
        else:
            total = math.sqrt(ms.sum())
            if total == 0:
                raise ValueError("X is constant: every column has zero variance")
            div = np.full(N, total)
        return cls(div)

    def apply(self, A):
        if sparse.issparse(A):
            return sparse.csr_matrix(A @ sparse.diags(1.0 / self.divisors))
        return np.asarray(A) / self.divisors

    def coef_to_user(self, coef: np.ndarray) -> np.ndarray:
        return coef / self.divisors


@dataclass
class TransferProblem:
    """Target (A, y) and sources [(A_k, y_k)] in theory units (after :class:`Scaling`)."""

    A: object
    y: np.ndarray
    sources: list
    fit_intercept: bool

    @classmethod
    def scaled(cls, X, y, sources, fit_intercept: bool, standardize: bool) -> tuple[TransferProblem, Scaling]:
        """The problem of user-unit data mapped to theory units by the :class:`Scaling` fitted on
        the target and sources together, and that scaling."""
        scaling = Scaling.fit([X] + [Xk for Xk, _ in sources], fit_intercept, standardize)
        sources = [(scaling.apply(Xk), yk) for Xk, yk in sources]
        return cls(scaling.apply(X), y, sources, fit_intercept), scaling

    @property
    def n_features(self) -> int:
        return self.A.shape[1]

    def pretrain_design(self, rows=None, pretrain_on_target: bool = True):
        """Stage-1 design and centred response: sources, plus the target rows ``rows`` (None: all)."""
        blocks = [A for A, _ in self.sources]
        ys = [y for _, y in self.sources]
        if pretrain_on_target:
            blocks.append(self.A if rows is None else self.A[rows])
            ys.append(self.y if rows is None else self.y[rows])
        if not blocks:
            raise ValueError("no pretraining data: pretrain_on_target=False and no sources")
        design = Design(blocks, self.fit_intercept)
        return design, design.center(np.concatenate(ys))[0]

    def target_design(self, rows=None):
        """Stage-2 design, centred response and the response mean on the target rows ``rows``."""
        A = self.A if rows is None else self.A[rows]
        y = self.y if rows is None else self.y[rows]
        design = Design([A], self.fit_intercept)
        y_c, means = design.center(y)
        return design, y_c, float(means[0])


@dataclass(frozen=True)
class Cell:
    """A stage-2 transfer mode: offset κ and u = log((λ2 + Δλ)/λ2) (the registry's map; u = U_MAX: Δλ = ∞)."""

    kappa: float
    u: float

    def delta_lam(self, lam2: float) -> float:
        return delta_from_u(self.u, lam2)

    @property
    def is_target_only(self) -> bool:
        """No transfer (κ = 0, Δλ = 0): stage 1 plays no part."""
        return self.kappa == 0 and self.u == 0

    def off_support_factor(self) -> float:
        """(λ2 + Δλ)/λ2: the penalty factor off supp x1 (∞ when Δλ = ∞)."""
        return 1.0 + delta_from_u(self.u, 1.0)

    @classmethod
    def of(cls, hyper: Hyperparameters) -> Cell:
        return cls(hyper.kappa, u_from_delta(hyper.delta_lam, hyper.lam2))


def cell_strategies(cell: Cell) -> frozenset[str]:
    """The strategies whose family contains ``cell`` (THEORY.md §2, special cases)."""
    return strategies_containing(cell.kappa, cell.u)


def narrowest_strategy(cell: Cell) -> str:
    """The most specific strategy containing ``cell`` (first in the registry's nested order)."""
    names = cell_strategies(cell)
    return next(n for n in NESTED_ORDER if n in names)


def default_cells() -> tuple[Cell, ...]:
    """Cells of the 4-D search: value κ grid, support u grid (Δλ/λ2 = 2, 9, ∞), Pretraining-Lasso
    mixings a ∈ {1/2, 1/4, 1/10}, and mixed points."""
    inf = u_from_delta(math.inf, 1.0)
    cells = [Cell(0.0, 0.0)]
    cells += [Cell(k, 0.0) for k in (0.25, 0.5, 0.75, 1.0)]
    cells += [Cell(0.0, u) for u in (math.log(3.0), math.log(10.0), inf)]
    cells += [Cell(-math.expm1(-u), u) for u in (math.log(2.0), math.log(4.0), math.log(10.0))]
    cells += [Cell(k, u) for k in (0.5, 1.0) for u in (math.log(10.0), inf)]
    return tuple(cells)


@dataclass(frozen=True)
class Grid:
    """Absolute penalties λ1 and λ2 (each strictly decreasing) and the cells (κ, u) searched."""

    lam1: tuple
    lam2: tuple
    cells: tuple = field(default_factory=default_cells)

    def __post_init__(self):
        for name in ("lam1", "lam2"):
            values = np.asarray(getattr(self, name), float)
            if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
                raise ValueError(f"grid {name} must be a non-empty sequence of finite positive penalties")
            if np.any(np.diff(values) >= 0):
                raise ValueError(f"grid {name} must be strictly decreasing (a warm-started path)")
        if not self.cells:
            raise ValueError("grid has no cells")

    @property
    def uses_stage1(self) -> bool:
        return not all(c.is_target_only for c in self.cells)


def pretrain_path(problem: TransferProblem, lam1, rows=None, pretrain_on_target=True, init=None, tol=CV_TOL):
    """x1 (N, len(lam1)) along the decreasing λ1 grid; ``init`` (N, len(lam1)) warm-starts each point."""
    design, y_c = problem.pretrain_design(rows, pretrain_on_target)
    out = np.zeros((problem.n_features, len(lam1)))
    x = None
    for j, lam in enumerate(lam1):
        start = init[:, j] if init is not None else x
        out[:, j] = lasso_path(design, y_c, np.ones(problem.n_features), [lam], start, tol)[:, 0]
        x = out[:, j]
    return out


def finetune_path(design: Design, y_c, x1, cell: Cell, lam2, tol=CV_TOL) -> np.ndarray:
    """Fine-tuned x2 (N, n_λ2) on ``design`` along the decreasing λ2 grid at fixed (κ, u)."""
    unit = np.where(x1 != 0, 1.0, cell.off_support_factor())
    y_res = y_c - cell.kappa * design.matvec(x1) if cell.kappa != 0 else y_c
    return lasso_path(design, y_res, unit, lam2, None, tol)


def stage2_path(design: Design, y_c, x1, cell: Cell, lam2, tol=CV_TOL) -> np.ndarray:
    """Final estimators κ x1 + x2 (N, n_λ2) of :func:`finetune_path`."""
    return cell.kappa * x1[:, None] + finetune_path(design, y_c, x1, cell, lam2, tol)


def _predict(design: Design, y_mean: float, A_val, coefs) -> np.ndarray:
    """Predictions on validation rows: intercept ȳ − μᵀcoef of the training rows, per column of coefs."""
    pred = A_val @ coefs
    pred = pred.toarray() if sparse.issparse(pred) else np.asarray(pred)
    return pred + (y_mean - design.mu[0] @ coefs)


def _paths(problem, grid, train, val, x1s, jobs, tol):
    """Validation errors {(i, k): errors of the first J λ2 points} of the (λ1, cell) paths ``jobs`` =
    {(i, k): J} fitted on ``train`` to relative gap ``tol`` (one, or one per λ2), and the number of fits."""
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), (len(grid.lam2),))
    design, y_c, y_mean = problem.target_design(train)
    A_val, y_val = problem.A[val], problem.y[val]
    out, fits = {}, 0
    for (i, k), J in jobs.items():
        cell = grid.cells[k]
        x1 = np.zeros(problem.n_features) if cell.is_target_only else x1s[:, i]
        coefs = stage2_path(design, y_c, x1, cell, grid.lam2[:J], tol[:J])
        out[i, k] = np.mean((y_val[:, None] - _predict(design, y_mean, A_val, coefs)) ** 2, axis=0)
        fits += J
    return out, fits


def _fold(problem, grid, train, val, pretrain_on_target, x1s, x1_init, tol, path_tol):
    """Errors err[λ1, cell, λ2] on ``val`` of every grid point fitted on ``train`` (stage 1 to ``tol``,
    the λ2 paths to ``path_tol``, one or one per λ2), the number of fits, and the stage-1 path x1s (N, n_λ1)."""
    n1, nc, n2 = len(grid.lam1), len(grid.cells), len(grid.lam2)
    fits = 0
    if grid.uses_stage1 and x1s is None:
        x1s = pretrain_path(problem, grid.lam1, train, True, x1_init, tol)
        fits += n1
    # the target-only cell does not depend on λ1: one path serves every row
    jobs = {(i, k): n2 for k, c in enumerate(grid.cells) for i in (range(1) if c.is_target_only else range(n1))}
    errs, path_fits = _paths(problem, grid, train, val, x1s, jobs, path_tol)
    err = np.zeros((n1, nc, n2))
    for (i, k), e in errs.items():
        err[slice(None) if grid.cells[k].is_target_only else i, k] = e
    return err, fits + path_fits, x1s


def fold_se(err: np.ndarray) -> np.ndarray:
    """Standard error over the first axis (folds, or ALO's rows) of ``err``; 0 with a single entry."""
    k = err.shape[0]
    return err.std(axis=0, ddof=1) / math.sqrt(k) if k > 1 else np.zeros(err.shape[1:])


def _strategy_minima(result) -> list[tuple[int, int, int]]:
    """Every strategy's CV-minimal point and the λ2 after it, as (i, k, J) paths to certify."""
    out = []
    for name in (n for n in NESTED_ORDER if result.cells_of(n)):
        _, (i, k, j) = result.select(name, "min")
        out.append((i, k, min(j + 2, len(result.grid.lam2))))
    return out


@dataclass
class CVResult:
    """Per-fold CV errors ``err[fold, λ1, cell, λ2]`` on ``grid``, the number of fits, and which grid
    points were fitted to the CV tolerance rather than the screening one (:func:`cross_validate`)."""

    grid: Grid
    err: np.ndarray
    fits: int
    certified: np.ndarray | None = None  # [λ1, cell, λ2]: fitted to the CV tolerance (None: all were)
    per_sample = False  # True: err's first axis is target rows scored by ALO, not folds (solvers.alo)

    @property
    def mean(self) -> np.ndarray:
        return self.err.mean(axis=0)

    @property
    def se(self) -> np.ndarray:
        return fold_se(self.err)

    def cells_of(self, strategy: str) -> list[int]:
        return [k for k, cell in enumerate(self.grid.cells) if strategy in cell_strategies(cell)]

    def select(self, strategy: str, selection: str = "min") -> tuple[Hyperparameters, tuple]:
        """CV-optimal point of ``strategy``'s cells: (hyperparameters, (i, cell, j) index).

        ``"1se"``: at the cell and λ1 of the minimum, the largest λ2 whose mean error is within one
        standard error (of the minimum's fold errors) of the minimum, as glmnet's lambda.1se.
        """
        cells = self.cells_of(strategy)
        if not cells:
            raise ValueError(f"the grid has no cell of strategy {strategy!r}")
        sub = self.mean[:, cells, :]
        i, c, j = np.unravel_index(int(np.argmin(sub)), sub.shape)
        k = cells[c]
        if selection == "1se":
            bound = self.mean[i, k, j] + self.se[i, k, j]
            j = int(np.flatnonzero(self.mean[i, k, :] <= bound)[0])  # λ2 is decreasing: first = largest
        g, cell = self.grid, self.grid.cells[k]
        lam2 = g.lam2[j]
        return Hyperparameters(g.lam1[i], lam2, cell.kappa, cell.delta_lam(lam2)), (int(i), int(k), int(j))


def cross_validate(
    problem: TransferProblem,
    grid: Grid,
    splits,
    *,
    pretrain_on_target: bool = True,
    n_jobs=None,
    x1_init=None,
    tol: float = CV_TOL,
    screen_tol: float | None = None,
    screen_from: int = 0,
    decisive=None,
) -> CVResult:
    """CV errors of every grid point over ``splits`` = [(train, val), ...] of the target rows (module docstring).

    Folds run in parallel with joblib (``n_jobs``), so ``joblib.parallel_backend("dask")`` sends them to a
    Dask cluster. ``x1_init`` (N, len(grid.lam1)): warm starts for stage 1 (e.g. the sources-only path).
    Stage 1 is fitted to relative duality gap ``tol``. The stage-2 λ2 paths too, unless ``screen_tol`` >
    ``tol``: then their points from the ``screen_from``-th λ2 on are first fitted to ``screen_tol``
    (gap-checked; it only ranks the grid points, and near interpolation, with the active set close to
    the number of training rows, coordinate descent needs many times longer for ``tol``), and the paths
    of the points whose errors decide the selection are refitted to ``tol`` in every fold until those
    points are all fitted to ``tol``. ``decisive(result)`` lists them as (i, k, J): the first J points of
    path (λ1_i, cell k); by default every strategy's CV-minimal point and the λ2 after it.
    ``CVResult.certified`` marks the points fitted to ``tol``.
    """
    x1s, fits = None, 0
    if grid.uses_stage1 and not pretrain_on_target:
        x1s = pretrain_path(problem, grid.lam1, None, False, x1_init, tol)
        fits += len(grid.lam1)
    screening = screen_tol is not None and screen_tol > tol
    screened = np.arange(len(grid.lam2)) >= (screen_from if screening else len(grid.lam2))
    path_tol = np.where(screened, screen_tol if screening else tol, tol)
    out = Parallel(n_jobs=n_jobs)(
        delayed(_fold)(problem, grid, train, val, pretrain_on_target, x1s, x1_init, tol, path_tol)
        for train, val in splits
    )
    err = np.stack([e for e, _, _ in out])
    fits += sum(f for _, f, _ in out)
    fold_x1s = [x for _, _, x in out]
    certified = np.broadcast_to(~screened, err.shape[1:]).copy()
    result = CVResult(grid, err, fits, certified)
    decisive = decisive or _strategy_minima
    while True:
        jobs = {}
        for i, k, J in decisive(result):
            if not certified[i, k, :J].all():
                jobs[i, k] = max(jobs.get((i, k), 0), J)
        if not jobs:
            return result
        refits = Parallel(n_jobs=n_jobs)(
            delayed(_paths)(problem, grid, train, val, x, jobs, tol) for (train, val), x in zip(splits, fold_x1s)
        )
        for f, (errs, n) in enumerate(refits):
            result.fits += n
            for (i, k), e in errs.items():
                rows = slice(None) if grid.cells[k].is_target_only else i
                err[f, rows, k, : e.size] = e
                certified[rows, k, : e.size] = True
