"""Reductions: special cases of the two-stage equations that must reduce exactly."""

import math

import numpy as np
import pytest

from replica import Hyperparameters, Setting, predict
from tests import builders

TWO_TASK = dict(builders.TWO_TASK, alpha_target=0.6, sigma_source=0.4, rho_shared=0.08, rho_target=0.04)


@pytest.mark.parametrize("lam1", [0.05, 0.4, 2.0])
@pytest.mark.parametrize("pretrain_on_target", [True, False])
def test_no_transfer_is_the_target_only_lasso(lam1, pretrain_on_target):
    """κ = 0, Δλ = 0: stage 2 ignores stage 1 and is the Lasso on the target alone."""
    lam2 = 0.3
    p = predict(Setting.two_task(**TWO_TASK, pretrain_on_target=pretrain_on_target), Hyperparameters(lam1, lam2, 0, 0))
    target_only = dict(TWO_TASK, alpha_source=0.0)
    q = predict(Setting.two_task(**target_only), Hyperparameters(lam2, 1.0))
    assert p.eps2 == pytest.approx(q.eps1, rel=1e-9)
    assert p.support2 == pytest.approx(q.support1, rel=1e-9)
    assert p.chi2 == pytest.approx(q.chi1, rel=1e-9)
    assert p.R21 == pytest.approx(0.0, abs=1e-9)


def test_source_only_pretraining_has_no_cross_response():
    p = predict(Setting.two_task(**TWO_TASK, pretrain_on_target=False), Hyperparameters(0.4, 0.1, 0.8, 2.0))
    assert p.R21 == 0.0 and p.chi12_hat == 0.0
    # and it differs from pretraining with the target, where R21 is generically nonzero
    q = predict(Setting.two_task(**TWO_TASK), Hyperparameters(0.4, 0.1, 0.8, 2.0))
    assert abs(q.R21) > 1e-3


def test_infinite_delta_lambda_is_the_limit_of_large_delta_lambda():
    s = Setting.two_task(**TWO_TASK)
    inf = predict(s, Hyperparameters(0.3, 0.05, 0.6, math.inf))
    finite = [predict(s, Hyperparameters(0.3, 0.05, 0.6, d)) for d in (0.1, 0.3, 1.0, 3.0)]
    # off supp x1 nothing survives: support of the final estimate is that of x1
    assert inf.support_final == pytest.approx(inf.support1, rel=1e-12)
    assert inf.support2 <= inf.support1 + 1e-12
    gaps = [abs(f.eps2 - inf.eps2) for f in finite]
    assert gaps[0] > gaps[1] > gaps[2] >= gaps[3]
    assert gaps[0] > 1e-3 and gaps[3] < 1e-12


def test_trans_lasso_with_huge_lam2_is_the_pretrained_model():
    """κ = 1 and λ2 → large: x2 = 0, so ε^(2nd) = ε^(1st)."""
    p = predict(Setting.two_task(**TWO_TASK), Hyperparameters(0.3, 50.0, 1.0, 0.0))
    assert p.support2 < 1e-12
    assert p.eps2 == pytest.approx(p.eps1, rel=1e-10)


def test_general_setting_with_two_datasets_equals_two_task():
    s = Setting.two_task(**TWO_TASK)
    general = Setting(
        alphas=[0.6, 1.5],
        sigmas=[0.3, 0.4],
        pretrain=[True, True],
        weights=[0.08, 0.04, 0.05, 0.83],
        means=np.zeros((4, 2)),
        covs=[[[1, 1], [1, 1]], [[1, 0], [0, 0]], [[0, 0], [0, 1]], np.zeros((2, 2))],
    )
    hp = Hyperparameters(0.4, 0.1, 0.7, 1.5)
    a, b = predict(s, hp), predict(general, hp)
    for name in ("eps1", "eps2", "support1", "support2", "R21", "Q12", "chi2"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-12), name


def test_source_split_in_two_identical_halves_reduces():
    """Two sources with the same true vector and noise, α/2 each, are one source with α."""
    w = [0.08, 0.04, 0.05, 0.83]
    covs2 = [np.ones((2, 2)), np.diag([1.0, 0.0]), np.diag([0.0, 1.0]), np.zeros((2, 2))]
    src = np.array([[0, 0, 0], [0, 1, 1], [0, 1, 1]], float)
    covs3 = [np.ones((3, 3)), np.diag([1.0, 0.0, 0.0]), src, np.zeros((3, 3))]
    two = Setting([0.6, 1.5], [0.3, 0.4], [True, True], w, np.zeros((4, 2)), covs2)
    split = Setting([0.6, 0.75, 0.75], [0.3, 0.4, 0.4], [True, True, True], w, np.zeros((4, 3)), covs3)
    hp = Hyperparameters(0.4, 0.1, 0.7, 1.5)
    a, b = predict(two, hp), predict(split, hp)
    for name in ("eps1", "eps2", "support1", "support2", "R21"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-10), name


def test_warm_start_converges_in_few_iterations_to_the_same_point():
    s = Setting.two_task(**TWO_TASK)
    p = predict(s, Hyperparameters(0.4, 0.10, 0.7, 1.5))
    q = predict(s, Hyperparameters(0.4, 0.11, 0.7, 1.5), warm_start=p)
    cold = predict(s, Hyperparameters(0.4, 0.11, 0.7, 1.5))
    assert q.iterations < cold.iterations
    assert q.eps2 == pytest.approx(cold.eps2, rel=1e-10)


def test_sweep_predictor_is_exact_for_polynomials_along_a_line():
    """The warm-start predictor extrapolates along the sweep's line with the polynomial through the
    trail: exact for degree ≤ 5 (six points); off the line it uses only the points on it."""
    from replica.fixed_point import extrapolate

    rng = np.random.default_rng(1)
    direction, origin = rng.normal(size=9), rng.normal(size=9)
    t = -np.array([0.1, 0.25, 0.3, 0.5, 0.65, 0.8])  # most recent first, behind t = 0
    thetas = origin + t[:, None] * direction
    coef1, coef2 = rng.normal(size=(6, 2)), rng.normal(size=(6, 4))
    poly = lambda c, x: sum(c[j] * x**j for j in range(6))  # noqa: E731
    y1s, y2s = np.array([poly(coef1, x) for x in t]), np.array([poly(coef2, x) for x in t])
    y1, y2 = extrapolate(thetas, y1s, y2s, origin)
    np.testing.assert_allclose(y1, coef1[0], atol=1e-9)
    np.testing.assert_allclose(y2, coef2[0], atol=1e-9)
    # a trail that leaves the line after two points: the secant through those two
    bent = thetas.copy()
    bent[2:] += rng.normal(size=(4, 9))
    y1, _ = extrapolate(bent, y1s, y2s, origin)
    np.testing.assert_allclose(y1, y1s[0] + (y1s[0] - y1s[1]) * t[0] / (t[1] - t[0]), atol=1e-12)


def test_sweep_warm_starts_need_one_newton_step():
    """Along a smooth λ2 sweep, once the trail is long, a warm start costs two evaluations of the
    stage-2 map (one Newton step and its check) in most points."""
    s = Setting.two_task(**TWO_TASK)
    prev, iterations = None, []
    for lam2 in np.geomspace(0.03, 0.3, 30):
        prev = predict(s, Hyperparameters(0.4, lam2, 0.7, 1.5), warm_start=prev)
        iterations.append(prev.iterations)
    assert np.median(iterations[6:]) == 2 and max(iterations[6:]) <= 3


def test_warm_start_from_a_different_kind_of_setting_is_harmless():
    """A warm start from a setting with other datasets or pretraining set gives the cold answer."""
    hp = Hyperparameters(0.4, 0.1, 0.7, 1.5)
    target = Setting.two_task(**TWO_TASK, pretrain_on_target=False)
    cold = predict(target, hp)
    for other in (Setting.two_task(**TWO_TASK), Setting.single(0.6, 0.3, 0.1)):
        warm = predict(target, hp, warm_start=predict(other, Hyperparameters(0.2, 0.3, 1.0, 0.0)))
        assert warm.eps2 == pytest.approx(cold.eps2, rel=1e-9)


@pytest.mark.parametrize("delta_lam", [0.0, 0.7, math.inf])
def test_stage2_repeating_stage1_is_stage1(delta_lam):
    """Target-only pretraining, κ = 0, λ2 = λ1: x2 = x1 for any Δλ, returned without solving; it is
    the limit of the solved equations as λ2 → λ1 (noisy target, where they are well conditioned)."""
    s = Setting.two_task(**dict(TWO_TASK, alpha_source=0.0))
    p = predict(s, Hyperparameters(0.3, 0.3, 0.0, delta_lam))
    assert p.eps2 == pytest.approx(p.eps1, rel=1e-12)
    assert p.support2 == p.support1 and p.Q12 == p.Q1 and p.R21 == 0.0
    assert p.chi12_hat == p.chi1_hat == p.chi2_hat
    near = predict(s, Hyperparameters(0.3, 0.3 * (1 + 1e-7), 0.0, delta_lam))
    for name in ("eps2", "support2", "chi2", "Q2", "m2", "Q12", "chi2_hat", "chi12_hat", "m2_hat"):
        assert getattr(near, name) == pytest.approx(getattr(p, name), rel=1e-5), name
    assert near.R21 == pytest.approx(0.0, abs=1e-5)
    assert near.m21_hat == pytest.approx(0.0, abs=1e-5)
