"""Data generation, simulate() records and the finite-size extrapolation utility (cheap checks)."""

import numpy as np
import pytest

from replica import Hyperparameters, Setting
from solvers import TransLasso, draw_problem, draw_truth, extrapolate, extrapolate_records, simulate
from tests.builders import THEORY_UNITS, two_task

TWO_TASK = two_task(alpha_source=1.0, sigma_source=0.2)
HYPER = Hyperparameters(lam1=0.4, lam2=0.1, kappa=0.8, delta_lam=0.5)


def test_truth_moments_match_prior():
    setting = Setting.similarity(0.5, 1.0, 0.1, 0.1, rho=0.2, shared_fraction=0.5, correlation=0.6)
    r = draw_truth(setting, 200_000, np.random.default_rng(0))
    np.testing.assert_allclose(r @ r.T / r.shape[1], setting.second_moments, atol=0.01)
    np.testing.assert_allclose((r != 0).mean(axis=1), [0.2, 0.2], atol=0.005)


def test_singular_covariance_gives_identical_shared_values():
    r = draw_truth(TWO_TASK, 5000, np.random.default_rng(1))
    both = (r[0] != 0) & (r[1] != 0)
    assert both.sum() > 300
    np.testing.assert_array_equal(r[0][both], r[1][both])  # Σ = [[1, 1], [1, 1]] is singular


def test_designs_sizes_and_omitted_sources():
    setting = two_task(alpha_source=0.0, sigma_source=0.2)
    prob = draw_problem(setting, 400, np.random.default_rng(2))
    A, y = prob.target
    assert A.shape == (200, 400) and y.shape == (200,)
    assert prob.data[1] is None
    assert abs(A.var() * 400 - 1) < 0.02


def test_records_match_a_direct_fit_and_do_not_depend_on_workers():
    recs = simulate(TWO_TASK, HYPER, 200, [3, 5], workers=1)
    assert recs == simulate(TWO_TASK, HYPER, 200, [3, 5], workers=2)
    assert [r["seed"] for r in recs] == [3, 5]
    prob = draw_problem(TWO_TASK, 200, np.random.default_rng(5))
    est = TransLasso(**HYPER.as_dict(), **THEORY_UNITS).fit(*prob.target, sources=[prob.data[1]])
    r1 = prob.truth[0]
    rec = recs[1]
    assert rec["eps1"] == pytest.approx(0.09 + np.mean((r1 - est.coef_pretrain_) ** 2), rel=1e-6)
    assert rec["eps2"] == pytest.approx(0.09 + np.mean((r1 - est.coef_) ** 2), rel=1e-6)
    assert rec["support2"] == np.mean(est.coef_finetune_ != 0)
    on = r1 != 0
    assert rec["tpr1"] == pytest.approx(np.mean(est.coef_pretrain_[on] != 0))
    assert rec["fpr2"] == pytest.approx(np.mean(est.coef_finetune_[~on] != 0))
    assert "R21" not in rec


def test_r21_record_is_finite():
    rec = simulate(TWO_TASK, HYPER, 300, [0], measure_r21=True)[0]
    assert np.isfinite(rec["R21"]) and abs(rec["R21"]) < 1


def test_extrapolation_recovers_line_and_error():
    n = np.array([250, 500, 1000, 2000])
    se = np.array([0.004, 0.003, 0.002, 0.001])
    ex = extrapolate(n, 0.3 + 2.0 / n, se)
    assert ex.value == pytest.approx(0.3, abs=1e-12) and ex.slope == pytest.approx(2.0, abs=1e-9)
    # standard error from the normal equations, checked by Monte Carlo
    rng = np.random.default_rng(0)
    draws = [extrapolate(n, 0.3 + 2.0 / n + se * rng.standard_normal(4), se).value for _ in range(4000)]
    assert np.std(draws) == pytest.approx(ex.stderr, rel=0.05)
    recs = [{"n_features": int(k), "eps2": 0.3 + 2.0 / k + d} for k in n for d in (-0.01, 0.01)]
    assert extrapolate_records(recs, "eps2").value == pytest.approx(0.3, abs=1e-12)
    with pytest.raises(ValueError):
        extrapolate([500, 500], [0.1, 0.2], [0.01, 0.01])
