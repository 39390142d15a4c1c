"""K-fold cross-validation of the two-stage estimator (THEORY.md §2) over a :class:`solvers.grid.Grid`, at text scale.

The estimator: stage 1 on the sources (plus the target's training rows if
``pretrain_on_target``), stage 2 on the target's training rows with offset κ x1 and penalty
λ2 + Δλ·1[x1_i = 0] (:func:`solvers.problem.finetune_inputs`); every dataset has its own free
intercept when ``fit_intercept`` (:mod:`solvers.lasso.centred`: columns centred implicitly, sparse
designs stay sparse). The CV error is the mean squared error on the held-out target rows, and
:class:`CVResult` holds the selection rules.

Why it is cheap:

* stage 1 depends only on (λ1, fold): one warm-started λ1 path per fold (one for the whole CV
  without the target in pretraining);
* stage 2 with Δλ = λ2 (e^u − 1) at a fixed cell (κ, u) is a weighted Lasso in λ2 with weights
  1 on supp x1 and e^u off it, so one warm-started path covers the λ2 grid; the target-only
  cell (κ = 0, u = 0) does not depend on λ1 and is fitted once per fold;
* every strategy of :mod:`replica.strategies` is a set of cells, so one grid serves them all.

Nothing forms an N × N matrix: each coordinate update costs O(nnz of the column + number of
datasets). Every fit (each point of each path) is solved to a relative duality gap, checked
(:func:`solvers.lasso.lasso`): ``tol`` for stage 1 and for the paths whose errors decide the
selection, a looser ``screen_tol`` for the rest, which only rank the grid (:func:`cross_validate`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from scipy import sparse

from replica import Hyperparameters
from replica.strategies import NESTED_ORDER

from .grid import Cell, Grid, cell_strategies, narrowest_strategy
from .lasso import Design, lasso_path
from .problem import TransferProblem, finetune_inputs

__all__ = [
    "CV_TOL",
    "SCREEN_TOL",
    "pretrain_path",
    "finetune_path",
    "stage2_path",
    "cross_validate",
    "CVResult",
    "fold_se",
]

CV_TOL = 1e-6
# stage-2 paths that only rank grid points (cross_validate); as strict as scikit-learn's default tol
SCREEN_TOL = 1e-4


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
    y_res, unit = finetune_inputs(y_c, design.matvec(x1), x1, cell.kappa, 1.0, cell.delta_lam(1.0))
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
    """Per-fold CV errors ``err[fold, λ1, cell, λ2]`` on ``grid``, and the selection rules on them.

    Attributes
    ----------
    grid : solvers.grid.Grid
        The grid scored.
    err : ndarray of shape (folds, λ1, cells, λ2)
        Validation MSE of every point in every fold (ALO: one "fold" per target row).
    fits : int
        Lasso fits spent (a path point counts as one).
    certified : ndarray of bool (λ1, cells, λ2) or None
        Points fitted to the CV tolerance rather than the screening one (None: all were).

    Examples
    --------
    >>> import numpy as np
    >>> from solvers.grid import TARGET_ONLY, Grid
    >>> res = CVResult(Grid((1.0,), (0.5, 0.2, 0.1), (TARGET_ONLY,)), np.array([[[[3.0, 1.0, 2.0]]], [[[3.0, 1.2, 1.4]]]]), 6)
    >>> res.select("target_only")[1], res.select("target_only", "1se")[1]
    ((0, 0, 1), (0, 0, 1))
    """

    grid: Grid
    err: np.ndarray
    fits: int
    certified: np.ndarray | None = None
    per_sample = False  # True: err's first axis is target rows scored by ALO, not folds (solvers.alo)

    @property
    def mean(self) -> np.ndarray:
        """Mean CV error of every point, (λ1, cells, λ2)."""
        return self.err.mean(axis=0)

    @property
    def se(self) -> np.ndarray:
        """Its standard error over folds, (λ1, cells, λ2)."""
        return fold_se(self.err)

    def cells_of(self, strategy: str) -> list[int]:
        """Indices of the grid's cells that belong to ``strategy``.

        Parameters
        ----------
        strategy : str
            A name of :data:`replica.STRATEGY_NAMES`.

        Returns
        -------
        list of int
        """
        return [k for k, cell in enumerate(self.grid.cells) if strategy in cell_strategies(cell)]

    def select(self, strategy: str, selection: str = "min") -> tuple[Hyperparameters, tuple]:
        """CV-optimal point of ``strategy``'s cells: (hyperparameters, (i, cell, j) index).

        Parameters
        ----------
        strategy : str
            Whose cells to search.
        selection : {"min", "1se"}, default "min"
            ``"1se"``: at the cell and λ1 of the minimum, the largest λ2 whose mean error is within one
            standard error (of the minimum's fold errors) of the minimum, as glmnet's lambda.1se.

        Returns
        -------
        hyperparameters : replica.Hyperparameters
        index : (i, k, j)
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
        return self.grid.point(i, k, j), (int(i), int(k), int(j))

    def table(self, strategy: str) -> dict:
        """The CV results of ``strategy``'s cells in ``GridSearchCV``'s ``cv_results_`` layout.

        Rows are (cell, λ1, λ2) in that order; columns ``params``, ``param_<name>``, ``strategy`` (the
        narrowest containing each point), ``certified`` (fitted to the CV tolerance), ``split<f>_test_mse``
        (none for ALO), ``mean_test_mse``, ``std_test_mse`` (ALO: the per-sample SE) and ``rank_test_mse``.

        Parameters
        ----------
        strategy : str
            Whose cells.

        Returns
        -------
        dict
        """
        g = self.grid
        cells = self.cells_of(strategy)
        keys = [(i, k, j) for k in cells for i in range(len(g.lam1)) for j in range(len(g.lam2))]
        folds = 0 if self.per_sample else self.err.shape[0]
        splits = np.array([[self.err[f, i, k, j] for (i, k, j) in keys] for f in range(folds)])
        index = tuple(np.array(keys).T)
        mean = self.mean[index]
        out = {"params": [g.point(i, k, j).as_dict() for (i, k, j) in keys]}
        for name in ("lam1", "lam2", "kappa", "delta_lam"):
            out[f"param_{name}"] = np.array([p[name] for p in out["params"]])
        out["strategy"] = np.array([narrowest_strategy(g.cells[k]) for (_, k, _) in keys])
        out["certified"] = np.array([True if self.certified is None else bool(self.certified[key]) for key in keys])
        for f in range(folds):
            out[f"split{f}_test_mse"] = splits[f]
        out["mean_test_mse"] = mean
        out["std_test_mse"] = self.se[index] if self.per_sample else splits.std(axis=0)
        out["rank_test_mse"] = (np.argsort(np.argsort(mean, kind="stable"), kind="stable") + 1).astype(np.int32)
        return out

    def row(self, strategy: str, index: tuple) -> int:
        """The row of grid point ``index`` = (i, k, j) in :meth:`table` of ``strategy``.

        Parameters
        ----------
        strategy : str
        index : (i, k, j)

        Returns
        -------
        int
        """
        i, k, j = index
        g = self.grid
        return (self.cells_of(strategy).index(k) * len(g.lam1) + i) * len(g.lam2) + j

    def select_nearest(self, strategy: str, selection: str, lam2: float):
        """The theory+cv choice (THEORY.md §6, "Selection"): the theory is the prior, and CV departs from
        it only on evidence beyond the fold noise.

        The grid's first cell holds the theory's κ. Points are taken in order of their distance from the
        theory's point (|log κ/κ*| + |log λ2/``lam2``|, the larger λ2 first on ties: the ladder's κ rungs
        before other λ2 scales); the first whose CV error is within one paired standard error of the CV
        minimum (the SE over folds of the fold-wise difference of the two points' errors) is chosen.
        With ``selection="1se"``, that point's κ, then its λ2 by the one-SE rule. A difference in one
        fold alone is never beyond one SE (its mean equals its SE).

        Parameters
        ----------
        strategy : str
            The strategy tuned.
        selection : {"min", "1se"}
            As in :meth:`select`.
        lam2 : float
            The theory's λ2.

        Returns
        -------
        hyperparameters : replica.Hyperparameters
        index : (i, k, j)
            Of the chosen point.
        decisive : list of (i, k, J)
            The paths whose errors decided the choice (:func:`cross_validate`'s ``decisive``): the CV
            minimum's and the chosen rung's, each up to its decisive point.
        """
        g, err = self.grid, self.err
        i0, k0, j0 = np.unravel_index(int(np.argmin(self.mean)), self.mean.shape)
        kappa0 = g.cells[0].kappa

        def distance(point):
            k, j = point
            rung = abs(math.log(g.cells[k].kappa / kappa0)) if kappa0 > 0 else 0.0
            return rung + abs(math.log(g.lam2[j] / lam2)), -g.lam2[j]

        best = err[:, i0, k0, j0]

        def within(diff):
            # a difference in one fold only (the others equal: e.g. x2 = 0 at both λ2) has mean = SE exactly;
            # the tolerance keeps rounding from deciding such a tie against the nearer point
            return diff.mean() <= fold_se(diff) * (1 + 1e-9)

        k, j = next(
            (k, j)
            for k, j in sorted(np.ndindex(len(g.cells), len(g.lam2)), key=distance)
            if within(err[:, i0, k, j] - best)
        )
        decisive = [(int(i0), int(k0), int(j0) + 1), (int(i0), int(k), int(j) + 1)]
        if selection == "1se":
            rung = CVResult(Grid(g.lam1, g.lam2, (g.cells[k],)), err[:, :, [k], :], self.fits)
            _, (_, _, j_low) = rung.select(strategy, "min")  # the rung's minimum bounds its one-SE choice
            hyper, (i0, _, j) = rung.select(strategy, selection)
            return hyper, (i0, k, j), decisive + [(int(i0), int(k), j_low + 1)]
        return g.point(i0, k, j), (int(i0), int(k), int(j)), decisive


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
