"""TransLasso against an independent two-stage reference, exactness, and scikit-learn conventions."""

import numpy as np
import pytest
from scipy import sparse
from sklearn.base import clone
from sklearn.linear_model import Lasso
from sklearn.model_selection import GridSearchCV

from solvers import SolverError, TransLasso, duality_gap, solve_weighted_lasso
from tests.builders import THEORY_UNITS

N = 300


def _data(seed, m_target=150, m_sources=(600,), sigma=0.3):
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(N) * (rng.random(N) < 0.15)
    sets = []
    for m in (m_target, *m_sources):
        rk = r + 0.3 * rng.standard_normal(N) * (rng.random(N) < 0.05)
        A = rng.standard_normal((m, N)) / np.sqrt(N)
        sets.append((A, A @ rk + sigma * rng.standard_normal(m)))
    return sets[0], sets[1:]


def _lasso(A, y, lam):
    """Plain scikit-learn Lasso with its 1/(2n) loss: alpha = lam / n."""
    return Lasso(alpha=lam / A.shape[0], fit_intercept=False, tol=1e-14, max_iter=1_000_000).fit(A, y).coef_


def _reference(target, sources, lam1, lam2, kappa, delta_lam, pretrain_on_target):
    A1, y1 = target
    pre = ([target] if pretrain_on_target else []) + list(sources)
    x1 = _lasso(np.vstack([A for A, _ in pre]), np.concatenate([y for _, y in pre]), lam1)
    w = np.where(x1 == 0, lam2 + delta_lam, lam2)
    keep = np.isfinite(w)
    x2 = np.zeros(N)
    # per-feature penalties by column rescaling: u_i = w_i x_i
    x2[keep] = _lasso(A1[:, keep] / w[keep], y1 - kappa * A1 @ x1, 1.0) / w[keep]
    return x1, x2


CASES = {
    "trans_lasso": dict(lam1=0.5, lam2=0.2, kappa=1.0, delta_lam=0.0),
    "support_only": dict(lam1=0.5, lam2=0.1, kappa=0.0, delta_lam=0.7),
    "values_and_support": dict(lam1=0.4, lam2=0.15, kappa=0.6, delta_lam=0.3),
    "delta_inf": dict(lam1=0.5, lam2=0.1, kappa=1.0, delta_lam=np.inf),
    "source_only": dict(lam1=0.5, lam2=0.2, kappa=1.0, delta_lam=0.2, pretrain_on_target=False),
    "two_sources": dict(lam1=0.6, lam2=0.2, kappa=0.8, delta_lam=0.4, n_sources=2),
}


@pytest.mark.parametrize("name", list(CASES))
def test_matches_independent_reference(name):
    params = dict(CASES[name])
    n_sources = params.pop("n_sources", 1)
    target, sources = _data(1, m_sources=(600, 400)[:n_sources])
    est = TransLasso(**params, **THEORY_UNITS).fit(*target, sources=sources)
    x1, x2 = _reference(target, sources, **{"pretrain_on_target": True, **params})
    assert np.count_nonzero(x1) > 10 and np.count_nonzero(x2) > 0
    np.testing.assert_array_equal(est.coef_pretrain_ != 0, x1 != 0)
    assert np.linalg.norm(est.coef_pretrain_ - x1) <= 1e-6 * np.linalg.norm(x1)
    assert np.linalg.norm(est.coef_finetune_ - x2) <= 1e-6 * np.linalg.norm(x2)
    np.testing.assert_allclose(est.coef_, params["kappa"] * est.coef_pretrain_ + est.coef_finetune_)
    np.testing.assert_allclose(est.predict(target[0]), target[0] @ est.coef_)
    assert max(est.rel_gaps_) <= 1e-8


def test_gap_is_checked_and_certifies():
    (A, y), _ = _data(2)
    w = np.full(N, 0.3)
    sol = solve_weighted_lasso(A, y, w)
    assert sol.rel_gap <= 1e-8
    assert duality_gap(A, y, w, sol.coef)[3] == pytest.approx(sol.rel_gap)
    # a perturbed solution has a visibly larger certified gap
    assert duality_gap(A, y, w, sol.coef * 1.01)[3] > 1e3 * max(sol.rel_gap, 1e-14)
    with pytest.raises(SolverError, match="duality gap"):
        solve_weighted_lasso(A, y, w, tol=1e-300)


def test_linear_term_and_zero_weights_satisfy_kkt():
    (A, y), _ = _data(3)
    rng = np.random.default_rng(0)
    h = 0.05 * rng.standard_normal(N)
    w = np.full(N, 0.3)
    w[:10] = 0.0
    w[-50:] = np.inf
    x = solve_weighted_lasso(A, y, w, linear=h).coef
    c = A.T @ (y - A @ x) + h
    on = (x != 0) & np.isfinite(w)
    np.testing.assert_allclose(c[on], w[on] * np.sign(x[on]), atol=1e-6)
    assert np.all(np.abs(c[(x == 0) & np.isfinite(w)]) <= w[(x == 0) & np.isfinite(w)] + 1e-6)
    assert np.all(x[-50:] == 0)


def test_lam2_zero_delta_inf_is_least_squares_on_support():
    target, sources = _data(4, m_target=200)
    est = TransLasso(lam1=1.0, lam2=0.0, kappa=1.0, delta_lam=np.inf, **THEORY_UNITS).fit(*target, sources=sources)
    S = est.coef_pretrain_ != 0
    A1, y1 = target
    assert 0 < S.sum() < A1.shape[0]
    ls = np.linalg.lstsq(A1[:, S], y1 - A1 @ est.coef_pretrain_, rcond=None)[0]
    np.testing.assert_allclose(est.coef_finetune_[S], ls, rtol=1e-8, atol=1e-10)
    assert np.all(est.coef_finetune_[~S] == 0)
    # λ2 = 0 with finite Δλ: unpenalized on supp x1, penalized elsewhere
    est = TransLasso(lam1=1.0, lam2=0.0, kappa=0.5, delta_lam=0.5, **THEORY_UNITS).fit(*target, sources=sources)
    assert max(est.rel_gaps_) <= 1e-8


def test_sklearn_conventions_and_grid_search():
    target, sources = _data(5)
    est = TransLasso(lam1=0.5, lam2=0.2, kappa=0.5, delta_lam=0.1, pretrain_on_target=False, **THEORY_UNITS)
    assert est.get_params()["kappa"] == 0.5
    twin = clone(est)
    assert twin.get_params() == est.get_params() and not hasattr(twin, "coef_")
    assert est.set_params(lam2=0.3) is est and est.lam2 == 0.3
    assert est.fit(*target, sources=sources) is est
    r2 = est.score(*target)
    assert 0 < r2 <= 1
    grid = GridSearchCV(
        TransLasso(lam1=0.5, kappa=1.0, **THEORY_UNITS),
        {"lam2": [0.05, 0.3], "delta_lam": [0.0, 1.0]},
        cv=3,
    )
    grid.fit(*target, sources=sources)
    assert set(grid.best_params_) == {"lam2", "delta_lam"}
    assert grid.best_estimator_.coef_.shape == (N,)


@pytest.mark.parametrize(
    "bad", [dict(lam1=-1.0), dict(lam2=np.nan), dict(kappa=np.inf), dict(delta_lam=-0.5), dict(lam1="a")]
)
def test_bad_hyperparameters_raise_at_fit(bad):
    target, sources = _data(6)
    est = TransLasso(**bad)  # construction stores, fit validates (sklearn convention)
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        est.fit(*target, sources=sources)


def test_shape_mismatch_raises():
    (A, y), [(As, ys)] = _data(7)
    with pytest.raises(ValueError, match="rows|samples"):
        TransLasso().fit(A, y[:-1], sources=[(As, ys)])
    with pytest.raises(ValueError, match="features"):
        TransLasso().fit(A, y, sources=[(As[:, :-1], ys)])
    with pytest.raises(ValueError, match="source 0"):
        TransLasso().fit(A, y, sources=[(As, ys[:-3])])
    with pytest.raises(ValueError, match="pretraining"):
        TransLasso(pretrain_on_target=False).fit(A, y)
    with pytest.raises(ValueError, match="features"):
        TransLasso(lam1=0.5, lam2=0.2).fit(A, y, sources=[(As, ys)]).predict(A[:, :-1])


def test_sparse_equals_dense():
    rng = np.random.default_rng(8)
    (A, y), [(As, ys)] = _data(8)
    mask, mask_s = rng.random(A.shape) < 0.3, rng.random(As.shape) < 0.3
    A, As = A * mask * 2, As * mask_s * 2
    params = dict(lam1=0.3, lam2=0.1, kappa=0.7, delta_lam=0.5, **THEORY_UNITS)
    dense = TransLasso(**params).fit(A, y, sources=[(As, ys)])
    sp = TransLasso(**params).fit(sparse.csr_matrix(A), y, sources=[(sparse.csr_matrix(As), ys)])
    np.testing.assert_allclose(sp.coef_, dense.coef_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(sp.predict(sparse.csr_matrix(A)), dense.predict(A), rtol=1e-7, atol=1e-9)
