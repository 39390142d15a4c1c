"""The two inner solvers of solvers.lasso.weighted: same certified solutions, dispatch, fallback."""

import numpy as np
import pytest
from scipy import sparse

from solvers import SolverError, duality_gap, solve_weighted_lasso
from solvers.lasso import weighted as backend_module


def _sparse_problem(seed=0, M=150, N=400, density=0.05):
    rng = np.random.default_rng(seed)
    A = sparse.random(M, N, density=density, format="csc", random_state=seed, data_rvs=rng.standard_normal)
    r = rng.standard_normal(N) * (rng.random(N) < 0.05)
    y = A @ r + 0.1 * rng.standard_normal(M)
    w = 0.2 * np.abs(A.T @ y).max() * (1 + rng.random(N))
    w[rng.random(N) < 0.2] = np.inf
    return A, y, w


@pytest.mark.slow  # compiles skglm's sparse kernels: ~6 s of CPU once per process
def test_skglm_matches_sklearn_on_sparse_with_infinite_weights_and_warm_start():
    A, y, w = _sparse_problem()
    ref = solve_weighted_lasso(A, y, w, backend="sklearn")
    sol = solve_weighted_lasso(A, y, w, backend="skglm")
    assert sol.backend == "skglm" and ref.backend == "sklearn"
    assert sol.rel_gap <= 1e-8 and duality_gap(A, y, w, sol.coef)[3] == pytest.approx(sol.rel_gap)
    assert np.count_nonzero(sol.coef) > 5
    assert np.all(sol.coef[np.isinf(w)] == 0)
    np.testing.assert_array_equal(sol.coef != 0, ref.coef != 0)
    assert np.linalg.norm(sol.coef - ref.coef) <= 1e-6 * np.linalg.norm(ref.coef)
    # a certified warm start is returned as is; a nearby one needs no more than one solve
    assert solve_weighted_lasso(A, y, w, coef_init=sol.coef, backend="skglm").n_outer == 0
    near = solve_weighted_lasso(A, y, w * 1.01, coef_init=sol.coef, backend="skglm")
    assert near.n_outer == 1 and near.rel_gap <= 1e-8
    # csr input and all-infinite weights
    assert solve_weighted_lasso(A.tocsr(), y, w, backend="skglm").rel_gap <= 1e-8
    zero = solve_weighted_lasso(A, y, np.full(A.shape[1], np.inf), backend="skglm")
    assert not np.any(zero.coef) and zero.rel_gap == 0


def test_auto_uses_skglm_only_for_large_sparse_designs_without_zero_weights_or_linear_term():
    choose = backend_module.choose_backend
    small = sparse.random(10, 10, density=1.0, format="csc")
    dense = np.ones((3, 3))
    threshold = backend_module.SKGLM_MIN_NNZ
    large = sparse.csc_matrix((np.ones(threshold), (np.arange(threshold) % 1000, np.arange(threshold) // 1000)))
    assert large.nnz >= threshold
    assert choose("auto", large, False, False) == "skglm"
    assert choose("auto", large, True, False) == "sklearn"
    assert choose("auto", large, False, True) == "sklearn"
    assert choose("auto", small, False, False) == "sklearn"
    assert choose("auto", dense, False, False) == "sklearn"
    assert choose("skglm", dense, False, False) == "skglm"
    with pytest.raises(ValueError, match="zero weights"):
        choose("skglm", dense, True, False)
    with pytest.raises(ValueError, match="linear term"):
        solve_weighted_lasso(dense, np.ones(3), np.ones(3), linear=np.ones(3), backend="skglm")
    with pytest.raises(ValueError, match="backend must be one of"):
        solve_weighted_lasso(dense, np.ones(3), np.ones(3), backend="celer")


def test_uncertified_skglm_fit_falls_back_or_raises(monkeypatch):
    A, y, w = _sparse_problem(1)

    def stalled(A, y, w, x, tol):
        # skglm stopped at its start: an uncertified fit
        x = np.zeros_like(w)
        return backend_module.LassoSolution(x, *duality_gap(A, y, w, x), 1, "skglm")

    monkeypatch.setattr(backend_module, "_solve_skglm", stalled)
    sol = solve_weighted_lasso(A, y, w, backend="skglm")
    assert sol.backend == "sklearn" and sol.rel_gap <= 1e-8
    with pytest.raises(SolverError, match="skglm reached"):
        solve_weighted_lasso(A, y, w, tol=1e-300, backend="skglm")


@pytest.mark.slow  # compiles skglm's dense kernels: ~3 s of CPU once per process
def test_skglm_matches_sklearn_on_dense():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((200, 500)) / np.sqrt(500)
    y = A[:, :20] @ rng.standard_normal(20) + 0.1 * rng.standard_normal(200)
    w = np.where(rng.random(500) < 0.5, 0.05, 0.2)
    w[-30:] = np.inf
    ref = solve_weighted_lasso(A, y, w, backend="sklearn")
    sol = solve_weighted_lasso(A, y, w, backend="skglm")
    assert sol.backend == "skglm" and sol.rel_gap <= 1e-8
    assert np.linalg.norm(sol.coef - ref.coef) <= 1e-6 * np.linalg.norm(ref.coef)
