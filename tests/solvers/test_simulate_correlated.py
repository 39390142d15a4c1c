"""Simulations on correlated designs (THEORY.md §7): rows N(0, Σ/N), Σ-norm errors, reproducible records."""

import numpy as np
import pytest

from replica import Hyperparameters
from replica.covariance import Covariance, ar1
from solvers import draw_problem, simulate
from solvers.twostage import fit_two_stage
from tests.builders import CORRELATED_HYPER, CORRELATED_SETTING, two_task


def test_rows_have_covariance_sigma_over_n():
    N = 30
    Sigma = ar1(N, 0.6)
    setting = two_task(alpha_target=40.0, alpha_source=0.0).with_covariance(Sigma)
    (A, _), _ = draw_problem(setting, N, np.random.default_rng(0)).data
    emp = N * A.T @ A / A.shape[0]
    assert np.max(np.abs(emp - Sigma)) < 6 / np.sqrt(A.shape[0])  # 1200 rows: entries within ~6 SE


def test_dimension_must_match():
    setting = two_task().with_covariance(ar1(20, 0.5))
    with pytest.raises(ValueError, match="does not match the dimension 20"):
        simulate(setting, Hyperparameters(0.5, 0.1), 30, [0])
    with pytest.raises(ValueError, match="does not match the dimension 20"):
        draw_problem(setting, 30, np.random.default_rng(0))


def test_records_reproducible_and_independent_of_processes():
    setting = CORRELATED_SETTING.with_covariance(
        Covariance.empirical(np.random.default_rng(3).standard_normal((200, 60)))
    )
    hp = CORRELATED_HYPER["full"]
    one = simulate(setting, hp, 60, [0, 1, 2], workers=1, measure_r21=True)
    two = simulate(setting, hp, 60, [0, 1, 2], workers=2, measure_r21=True)
    assert one == two  # bit for bit
    assert one[0] != one[1]


def test_errors_are_sigma_norms():
    """ε = σ² + (r − x̂)ᵀΣ(r − x̂)/N, the expected error on a fresh target row, from the same draw and fit."""
    N, seed = 40, 5
    Sigma = ar1(N, 0.7)
    setting = CORRELATED_SETTING.with_covariance(Sigma)
    hp = CORRELATED_HYPER["value"]
    rec = simulate(setting, hp, N, [seed], workers=1)[0]
    prob = draw_problem(setting, N, np.random.default_rng(seed))
    fit = fit_two_stage(prob.target, [prob.data[1]], hp)
    d = prob.truth[0] - hp.kappa * fit.coef_pretrain - fit.coef_finetune
    assert rec["eps2"] == pytest.approx(setting.sigmas[0] ** 2 + d @ Sigma @ d / N, rel=1e-12)
    assert rec["eps2"] != pytest.approx(setting.sigmas[0] ** 2 + d @ d / N, rel=1e-3)
