"""The CV engine (solvers.cv): its fits against the exact estimator, strategy cells, selection, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse
from sklearn.model_selection import KFold

from replica import STRATEGY_NAMES, Hyperparameters
from solvers import fit_two_stage
from solvers.cv import cross_validate, stage2_path
from solvers.grid import Cell, Grid, cell_strategies, default_cells
from solvers.problem import TransferProblem

STRATEGIES = tuple(s for s in STRATEGY_NAMES if s != "pretrained")


def _problem(seed=0, n=60, n_src=300, N=40, sparse_design=False):
    rng = np.random.default_rng(seed)
    r = np.where(rng.random(N) < 0.2, rng.standard_normal(N), 0.0)
    A_t, A_s = rng.standard_normal((n, N)) / np.sqrt(N), rng.standard_normal((n_src, N)) / np.sqrt(N)
    y_t, y_s = A_t @ r + 0.1 * rng.standard_normal(n), A_s @ r + 0.1 * rng.standard_normal(n_src)
    if sparse_design:
        A_t, A_s = sparse.csr_matrix(A_t), sparse.csr_matrix(A_s)
    return TransferProblem(A_t, y_t, [(A_s, y_s)], fit_intercept=False)


@pytest.mark.parametrize(
    "hyper",
    [
        Hyperparameters(0.05, 0.02, 0.7, 0.0),
        Hyperparameters(0.05, 0.02, 0.0, 0.05),
        Hyperparameters(0.1, 0.03, 0.5, math.inf),
    ],
)
def test_engine_fits_match_exact_two_stage(hyper):
    problem = _problem(sparse_design=True)
    design1, y1 = problem.pretrain_design()
    from solvers.lasso import lasso

    x1, _ = lasso(design1, y1, np.full(problem.n_features, hyper.lam1), tol=1e-10)
    design2, y2, _ = problem.target_design()
    coef = stage2_path(design2, y2, x1, Cell.of(hyper), [hyper.lam2], tol=1e-12)[:, 0]
    exact = fit_two_stage((problem.A, problem.y), problem.sources, hyper, True)
    np.testing.assert_allclose(coef, hyper.kappa * exact.coef_pretrain + exact.coef_finetune, atol=1e-5)


def test_every_strategy_has_cells_and_pretraining_lasso_relation():
    cells = default_cells()
    for strategy in STRATEGIES:
        assert any(strategy in cell_strategies(c) for c in cells), strategy
    for c in cells:
        if "pretraining_lasso" in cell_strategies(c):
            a = 1 - c.kappa
            assert c.delta_lam(2.0) == pytest.approx(2.0 * (1 / a - 1))


def test_cv_selection_nests():
    problem = _problem(seed=1)
    lam2_max = float(np.max(np.abs(problem.A.T @ problem.y)))
    grid = Grid((3.0, 1.0, 0.3), tuple(lam2_max * np.geomspace(1, 0.01, 6)))
    splits = list(KFold(3, shuffle=True, random_state=0).split(problem.A))
    cv = cross_validate(problem, grid, splits, pretrain_on_target=True)
    errors = {s: cv.mean[cv.select(s)[1]] for s in STRATEGIES}
    assert all(np.isfinite(e) for e in errors.values())
    for sub in ("value", "support", "trans_lasso", "pretraining_lasso", "target_only"):
        assert errors["full"] <= errors[sub] + 1e-12
    assert cv.select("support")[0].kappa == 0 and cv.select("value")[0].delta_lam == 0
    assert cv.err.shape == (3, 3, len(grid.cells), 6)


def test_bad_grid_raises_value_error():
    with pytest.raises(ValueError, match="lam2 must be strictly decreasing"):
        Grid((1.0,), (0.1, 0.2))
    with pytest.raises(ValueError, match="finite positive"):
        Grid((-1.0,), (0.1,))
    assert Cell(0.5, Cell.of(Hyperparameters(1, 1, 0.5, math.inf)).u).delta_lam(1.0) == math.inf


def test_screened_cv_certifies_every_strategy_minimum():
    # loose paths only rank the grid: each strategy's minimum and its λ2 path up to one point past
    # it are refitted to tol, and the selections are those of the CV fitted to tol throughout
    problem = _problem(seed=2, sparse_design=True)
    lam2_max = float(np.max(np.abs(problem.A.T @ problem.y)))
    grid = Grid((3.0, 1.0, 0.3), tuple(lam2_max * np.geomspace(1, 0.003, 8)))
    splits = list(KFold(3, shuffle=True, random_state=0).split(problem.A))
    exact = cross_validate(problem, grid, splits, tol=1e-9)
    screened = cross_validate(problem, grid, splits, tol=1e-9, screen_tol=1e-3)
    assert exact.certified.all() and not screened.certified.all()
    for s in STRATEGIES:
        hyper, (i, k, j) = screened.select(s)
        assert (hyper, (i, k, j)) == exact.select(s), s
        done = screened.certified[i, k]
        assert done[: min(j + 2, len(grid.lam2))].all()
        np.testing.assert_allclose(screened.err[:, i, k, done], exact.err[:, i, k, done], rtol=1e-6)
    # a loose fit does move the errors (the screening is real), and refits are counted
    assert np.max(np.abs(screened.err - exact.err)) > 1e-6
    assert screened.fits > exact.fits
