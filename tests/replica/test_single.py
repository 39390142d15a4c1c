"""Single dataset: closed-form Lasso fixed point and the Donoho–Tanner line (THEORY.md §5)."""

import numpy as np
import pytest

from replica import Hyperparameters, Setting, predict
from replica.single_lasso import single_lasso

DT = {0.05: 0.203900, 0.1: 0.328794, 0.2: 0.511130, 0.3: 0.645572}


@pytest.mark.parametrize(
    "alpha,sigma,rho,lam",
    [(0.5, 0.3, 0.1, 0.2), (2.0, 0.5, 0.3, 1.0), (0.3, 0.0, 0.05, 0.05), (1.2, 1.0, 0.2, 0.02), (0.8, 0.1, 0.15, 0.5)],
)
def test_alpha_source_zero_is_the_closed_form_single_lasso(alpha, sigma, rho, lam):
    ref = single_lasso(alpha, sigma, rho, lam)
    p = predict(Setting.two_task(alpha, 0.0, sigma, 0.7, rho, 0.0, 0.0), Hyperparameters(lam, 0.3, 0.5, 1.0))
    assert p.eps1 == pytest.approx(ref["eps"], rel=1e-8)
    assert p.chi1 == pytest.approx(ref["chi"], rel=1e-8)
    assert p.support1 == pytest.approx(ref["support"], rel=1e-8)
    # the two-task prior with only target-only coordinates is the Bernoulli–Gaussian one
    q = predict(Setting.single(alpha, sigma, rho), Hyperparameters(lam, lam))
    assert q.eps1 == pytest.approx(ref["eps"], rel=1e-8)


@pytest.mark.parametrize("rho", [0.05, 0.1, 0.2])
def test_donoho_tanner_line(rho):
    """Noiseless recovery at λ1 = 1e-4 fails just below α_c and succeeds just above."""
    hp = Hyperparameters(1e-4, 1e-4)
    below = predict(Setting.single(DT[rho] - 0.02, 0.0, rho), hp)
    above = predict(Setting.single(DT[rho] + 0.02, 0.0, rho), hp)
    assert below.eps1 > 1e-3
    assert above.eps1 < 1e-5
    assert max(below.residual, above.residual) <= 1e-10


def test_error_vanishes_with_lambda_only_above_the_line():
    """Above α_c the error scales like λ²; below it stays finite."""
    rho, a_c = 0.1, DT[0.1]
    above = [predict(Setting.single(a_c + 0.05, 0.0, rho), Hyperparameters(lam, lam)).eps1 for lam in (1e-3, 1e-4)]
    below = [predict(Setting.single(a_c - 0.05, 0.0, rho), Hyperparameters(lam, lam)).eps1 for lam in (1e-3, 1e-4)]
    assert above[1] / above[0] == pytest.approx(1e-2, rel=0.05)
    assert below[1] / below[0] > 0.9


@pytest.mark.parametrize("offset", [0.005, -0.005])
def test_solver_converges_where_damped_iteration_stalls(offset):
    """Near α_c plain damped iteration (β = 1/2) slows down critically: after ten times the
    evaluations predict() spends on both stages it is still above the 1e-10 residual."""
    import importlib

    prediction = importlib.import_module("replica.prediction")
    rho = 0.1
    setting = Setting.single(DT[rho] + offset, 0.0, rho)
    p = predict(setting, Hyperparameters(1e-4, 1e-4))
    assert p.residual <= 1e-10
    T = prediction._stage1_map(setting, 1e-4)
    y = np.log([1.0, setting.alphas[0] * rho / 4])
    for _ in range(10 * p.iterations):
        ty = T(y)
        residual = np.max(np.abs(ty - y))
        y = y + 0.5 * (ty - y)
    assert residual > 1e-10
