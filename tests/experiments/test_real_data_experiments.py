"""Real-data studies: the fast CV engine against the exact estimator, and both --quick modes end to end.

The quick runs need the files of ../shared/data (skipped if absent) and take about two
minutes together on 2 cores, so they are marked slow: the default run checks the CV engine
against the exact estimator here, on synthetic data, and the real-data loaders in
tests/solvers/test_data_imdb.py and test_data_mnist.py.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from scipy import sparse

from experiments import imdb, mnist
from experiments.transfer_cv import (
    STRATEGIES,
    Cell,
    Grid,
    Pretrainer,
    cell_strategies,
    cross_validate,
    default_cells,
    kfold,
    refit,
)
from replica import Hyperparameters
from solvers import fit_two_stage


def _problem(seed=0, n=60, n_src=300, N=40, sparse_design=False):
    rng = np.random.default_rng(seed)
    r = np.where(rng.random(N) < 0.2, rng.standard_normal(N), 0.0)
    A_t, A_s = rng.standard_normal((n, N)) / np.sqrt(N), rng.standard_normal((n_src, N)) / np.sqrt(N)
    y_t, y_s = A_t @ r + 0.1 * rng.standard_normal(n), A_s @ r + 0.1 * rng.standard_normal(n_src)
    if sparse_design:
        A_t, A_s = sparse.csr_matrix(A_t), sparse.csr_matrix(A_s)
    return (A_t, y_t), (A_s, y_s)


@pytest.mark.parametrize("pretrain_on_target", [False, True])
@pytest.mark.parametrize(
    "hyper",
    [
        Hyperparameters(0.05, 0.02, 0.7, 0.0),
        Hyperparameters(0.05, 0.02, 0.0, 0.05),
        Hyperparameters(0.1, 0.03, 0.5, math.inf),
    ],
)
def test_refit_matches_exact_two_stage(hyper, pretrain_on_target):
    target, source = _problem(sparse_design=True)
    coef = refit(target, Pretrainer([source]), "full", hyper, pretrain_on_target)
    exact = fit_two_stage(target, [source], hyper, pretrain_on_target)
    # the engine stops coordinate descent at CV-grade tolerances (1e-5, 1e-4), not at gap 1e-8
    np.testing.assert_allclose(coef, hyper.kappa * exact.coef_pretrain + exact.coef_finetune, atol=1e-3)


def test_every_strategy_has_cells_and_pretraining_lasso_relation():
    cells = default_cells()
    for strategy in STRATEGIES[:-1]:
        assert any(strategy in cell_strategies(c) for c in cells), strategy
    for c in cells:
        if "pretraining_lasso" in cell_strategies(c):
            a = 1 - c.kappa
            assert c.delta_lam(2.0) == pytest.approx(2.0 * (1 / a - 1))


def test_cv_selection_and_costs():
    target, source = _problem(seed=1)
    pre = Pretrainer([source])
    grid = Grid.relative(
        pre.lam_max, float(np.max(np.abs(target[0].T @ target[1]))), [0.3, 0.1, 0.03], np.geomspace(1, 0.01, 6)
    )
    cv = cross_validate(target, pre, grid, folds=3, pretrain_on_target=True)
    errors = {s: cv.best(s)[1] for s in STRATEGIES}
    assert all(np.isfinite(e) for e in errors.values())
    for sub in ("value", "support", "trans_lasso", "pretraining_lasso", "target_only"):
        assert errors["full"] <= errors[sub] + 1e-12
    assert cv.best("support")[0].kappa == 0 and cv.best("value")[0].delta_lam == 0
    fits = {s: cv.cost(s)[0] for s in STRATEGIES}
    assert fits["full"] > fits["value"] > fits["trans_lasso"] > 0 and fits["target_only"] == 3 * 6


def test_bad_input_raises_value_error():
    with pytest.raises(ValueError, match="lam2 must be strictly decreasing"):
        Grid((1.0,), (0.1, 0.2))
    with pytest.raises(ValueError, match="folds"):
        kfold(5, 1, 0)
    with pytest.raises(ValueError, match="unknown strategy"):
        refit(*_problem()[:1], Pretrainer([_problem()[1]]), "bogus", Hyperparameters(1, 1))
    with pytest.raises(ValueError, match="at least one source"):
        Pretrainer([])
    assert Cell(0.5, math.inf).delta_lam(1.0) == math.inf


def _read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_imdb_quick(tmp_path):
    if not (imdb.DATA_DEFAULT / "aclImdb_labeled.tar.gz").is_file():
        pytest.skip("aclImdb data not available")
    imdb.main(["--quick", "--out", str(tmp_path), "--cache", str(tmp_path / "cache"), "--no-progress"])
    rows = _read(tmp_path / "imdb_summary.csv")
    assert {r["method"] for r in rows} == set(imdb.METHODS)
    assert all(np.isfinite(float(r["test_mse_mean"])) and float(r["test_mse_mean"]) > 0 for r in rows)
    for ext in ("png", "pdf"):
        assert (tmp_path / f"imdb_test_mse.{ext}").stat().st_size > 0


@pytest.mark.slow
def test_mnist_quick(tmp_path):
    if not mnist.DATA_DEFAULT.is_dir():
        pytest.skip("MNIST data not available")
    mnist.main(["--quick", "--out", str(tmp_path), "--cache", str(tmp_path / "cache"), "--no-progress"])
    rows = _read(tmp_path / "mnist_summary.csv")
    assert {r["strategy"] for r in rows} == set(mnist.COMPARED)
    for r in rows:
        for key in ("eps_theory_pred", "eps_theory_test_mean", "eps_cv_test_mean"):
            assert np.isfinite(float(r[key])) and float(r[key]) > 0
    for ext in ("png", "pdf"):
        assert (tmp_path / f"mnist_theory_vs_finite.{ext}").stat().st_size > 0
