"""Exact numerics: closed-form Gaussian pieces and the quadrature, against mpmath (THEORY.md §4)."""

import math

import numpy as np
import pytest

from replica import ConvergenceError, Hyperparameters, Setting, gaussian, predict
from replica import stage1 as st1
from replica import stage2 as st2
from replica.gaussian import soft_moments
from tests.builders import LARGE_SOURCE, THEORY_CASES, two_task
from tests.reference import mp_reference as ref

REL = 1e-9


@pytest.mark.parametrize(
    "mu,tau,lam",
    [(0.3, 1.0, 0.5), (2.0, 0.1, 1e-3), (-1.0, 2.0, 3.0), (5.0, 0.5, 0.2), (0.0, 0.3, 0.0), (1e-3, 1e-2, 0.5)],
)
@pytest.mark.parametrize("compiled", [False, True])
def test_soft_and_clip_moments_match_mpmath(mu, tau, lam, compiled):
    """Both the vectorized soft moments (replica.gaussian) and the scalar ones inside the compiled maps."""
    soft = gaussian.soft_moments_1 if compiled else soft_moments
    P, S1, S2 = soft(mu, tau, lam)
    rP, rS1, rS2 = ref.soft_moments(mu, tau, lam)
    for got, want in ((P, rP), (S1, rS1), (S2, rS2)):
        assert abs(got - float(want)) <= 1e-13 * max(abs(float(want)), 1e-300) + 1e-300
    P_in, C1, C2, P_out = gaussian.clip_moments_1(mu, tau, lam)
    assert P_out == pytest.approx(float(rP), rel=1e-12, abs=1e-300)
    clip = lambda h: max(-lam, min(lam, h))  # noqa: E731
    assert P_in == pytest.approx(
        float(ref.gauss_expect(lambda h: 1 if abs(h) <= lam else 0, mu, tau, (-lam, lam))), rel=1e-12, abs=1e-300
    )
    assert C1 == pytest.approx(float(ref.gauss_expect(clip, mu, tau, (-lam, lam))), rel=1e-12, abs=1e-300)
    assert C2 == pytest.approx(
        float(ref.gauss_expect(lambda h: clip(h) ** 2, mu, tau, (-lam, lam))), rel=1e-12, abs=1e-300
    )


def test_soft_moments_limits():
    P, S1, S2 = soft_moments(np.array([2.0, -2.0, 0.1]), 0.0, 0.5)
    np.testing.assert_array_equal(P, [1, 1, 0])
    np.testing.assert_allclose(S1, [1.5, -1.5, 0])
    np.testing.assert_allclose(S2, [2.25, 2.25, 0])
    assert soft_moments(1.0, 1.0, math.inf) == (0.0, 0.0, 0.0)
    assert gaussian.soft_moments_1(2.0, 0.0, 0.5) == (1.0, 1.5, 2.25)
    assert gaussian.soft_moments_1(0.1, 0.0, 0.5) == (0.0, 0.0, 0.0)
    assert gaussian.soft_moments_1(1.0, 1.0, math.inf) == (0.0, 0.0, 0.0)


CASES = [
    *[(setting, hp) for _, setting, hp in THEORY_CASES],
    (Setting.similarity(0.8, 2.0, 0.1, 0.5, 0.15, 0.6, 0.8), Hyperparameters(0.4, 0.15, 1.0, math.inf)),
    (two_task(pretrain_on_target=False, **LARGE_SOURCE), Hyperparameters(0.4, 0.1, 0.7, 0.3)),
    # stage 2 almost repeats stage 1 (λ2 ≈ λ1, target-only pretraining): sharp crossings on both sides
    (Setting.two_task(2.1, 0.0, 0.42, 0.38, 0.2, 0.28, 0.013), Hyperparameters(1.09, 1.10, 0.33, math.inf)),
]


def _state(setting, hp):
    p = predict(setting, hp)
    s1 = st1.closure(setting, hp.lam1, p.chi1, p.chi1_hat)
    conj = st2.Conjugates2(p.Q2_hat, p.m2_hat, p.m21_hat, p.chi2_hat, p.chi12_hat)
    return p, s1, conj


# the two theory cases run by default (and sharp crossings in test_narrow_crossing_is_resolved); the
# similarity prior, source-only pretraining and the two-sided sharp crossings (3-6 s each) with -m slow
MPMATH_SLOW = (2, 3, 4)


@pytest.mark.parametrize(
    "setting,hp",
    [pytest.param(*case, marks=pytest.mark.slow) if i in MPMATH_SLOW else case for i, case in enumerate(CASES)],
)
def test_expectations_match_mpmath_reference(setting, hp):
    """Stage-1 closed forms and stage-2 quadrature agree with mp.quad at 30 digits to ≤ 1e-9."""
    p, s1, conj = _state(setting, hp)
    chi, Q, m = ref.stage1(setting, hp.lam1, p.chi1, p.chi1_hat)
    assert s1.chi1 == pytest.approx(float(chi), rel=REL)
    assert s1.Q1 == pytest.approx(float(Q), rel=REL)
    np.testing.assert_allclose(s1.m1, [float(v) for v in m], rtol=REL)
    cl = st2.closure(setting, hp, s1, conj)
    want = ref.stage2(setting, hp, s1, conj)
    for name, value in want.items():
        assert getattr(cl, name) == pytest.approx(float(value), rel=REL, abs=1e-15), name


@pytest.mark.parametrize("setting,hp", CASES[:2])
def test_quadrature_converges_with_order(setting, hp):
    """Raising the Gauss–Legendre order changes nothing beyond 1e-13: the rule has converged."""
    _, s1, conj = _state(setting, hp)
    base = st2.closure(setting, hp, s1, conj, n_nodes=12)
    for n in (16, 24, 32):
        fine = st2.closure(setting, hp, s1, conj, n_nodes=n)
        for name in ("chi2", "Q2", "m2", "Q12", "E_xi1_x2"):
            assert getattr(fine, name) == pytest.approx(getattr(base, name), rel=1e-13, abs=1e-16)


def _random_states(n, seed=3):
    """Converged states of random problems, near-interpolating and near-degenerate ones included."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        s = Setting.two_task(
            rng.uniform(0.1, 3),
            rng.choice([0.0, rng.uniform(0.1, 5)]),
            rng.uniform(0, 1),
            rng.uniform(0, 1),
            *rng.uniform(0, 0.3, 3),
        )
        hp = Hyperparameters(
            math.exp(rng.uniform(-5, 1)),
            math.exp(rng.uniform(-5, 1)),
            rng.uniform(0, 1.5),
            rng.choice([0.0, math.inf, math.exp(rng.uniform(-3, 3))]),
        )
        try:
            out.append((s, hp) + _state(s, hp)[1:])
        except ConvergenceError:
            continue
    return out


def test_production_rule_matches_a_finer_always_graded_rule(monkeypatch):
    """On 60 random converged states, the production rule (12 nodes per panel, grading only for
    crossings narrower than NARROW panels) agrees with 32 nodes and grading at every crossing."""
    states = _random_states(60)
    fine = []
    with monkeypatch.context() as m:
        m.setattr(st2, "NARROW", 1e6)
        fine = [st2.closure(s, hp, s1, conj, n_nodes=32) for s, hp, s1, conj in states]
    for (s, hp, s1, conj), ref_cl in zip(states, fine):
        cl = st2.closure(s, hp, s1, conj)
        for name in ("chi2", "Q2", "m2", "Q12", "E_xi1_x2"):
            assert getattr(cl, name) == pytest.approx(getattr(ref_cl, name), rel=1e-9, abs=1e-12), (name, s, hp)


def test_narrow_crossing_is_resolved():
    """Stage 2 nearly repeating stage 1 makes h2 almost deterministic given h1 (τ → 0): the graded rule
    around the crossings still matches mpmath."""
    setting = Setting.two_task(0.8, 0.0, 0.2, 0.2, 0.1, 0.05, 0.0)
    hp = Hyperparameters(0.3, 0.29, 0.0, 0.0)
    p, s1, conj = _state(setting, hp)
    assert p.chi12_hat / math.sqrt(p.chi1_hat * p.chi2_hat) > 0.999
    cl = st2.closure(setting, hp, s1, conj)
    want = ref.stage2(setting, hp, s1, conj)
    for name, value in want.items():
        assert getattr(cl, name) == pytest.approx(float(value), rel=REL, abs=1e-15), name


@pytest.mark.parametrize("setting,hp", CASES)
def test_fixed_point_residual(setting, hp):
    p = predict(setting, hp)
    assert p.residual <= 1e-10
    # the returned state is a fixed point of the closure itself
    s1 = st1.closure(setting, hp.lam1, p.chi1, p.chi1_hat)
    assert s1.chi1 == pytest.approx(p.chi1, rel=1e-9)
    assert st1.chi_hat(setting, s1) == pytest.approx(p.chi1_hat, rel=1e-9)


def test_newton_stops_on_a_non_finite_map_value():
    """A map value that overflowed (T(y) = NaN) with a finite Jacobian: no step and an infinite residual,
    so Newton stops and its caller falls back (numba's solve would raise on the NaN right-hand side).
    Met by replica.optimize on an estimated setting (issue 13's scaled-design test)."""
    from replica.fixed_point import newton, newton_update

    y, J = np.array([0.5, 1.0]), np.array([[0.1, 0.0], [0.0, 0.2]])
    res, _, dy = newton_update(y, np.array([np.nan, 1.0]), J)
    assert res == np.inf and np.all(np.isnan(dy))
    _, res, _, _, _ = newton(lambda y, jac: (np.full(2, np.nan), J, None), y)
    assert res == np.inf
