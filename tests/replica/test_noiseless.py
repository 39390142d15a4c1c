"""Stage 2's conjugates in the cancellation-free form (THEORY.md §3 "Stage 2"): equal to the
quadratic form of the order parameters, and convergent in noiseless, small-λ problems where that
form cancels to ~1e-8 of its terms."""

import math

import numpy as np
import pytest

from replica import Hyperparameters, Setting, predict
from replica import stage2 as st2

# The 12 noiseless probes: σ = 0, two target sample ratios well above the Donoho–Tanner line of
# the target's density 0.15 (α_c ≈ 0.42), λ1 ∈ {1e-4, 3e-5}, λ2 = 0.999 λ1, κ ∈ {0, 0.5, 1}.
# With χ̂2 from the quadratic form, 3 of them (all κ = 0) raised ConvergenceError.
PROBE_SETTINGS = {
    "alpha_target=0.8": Setting.two_task(0.8, 1.5, 0.0, 0.0, 0.1, 0.05, 0.05),
    "alpha_target=1.2": Setting.two_task(1.2, 2.0, 0.0, 0.0, 0.1, 0.05, 0.05),
}
PROBES = [(name, lam1, kappa) for name in PROBE_SETTINGS for lam1 in (1e-4, 3e-5) for kappa in (0.0, 0.5, 1.0)]


@pytest.fixture(scope="module")
def probes():
    return {
        (name, lam1, kappa): predict(PROBE_SETTINGS[name], Hyperparameters(lam1, 0.999 * lam1, kappa, 0.0))
        for name, lam1, kappa in PROBES
    }


def test_all_twelve_noiseless_probes_converge(probes):
    assert len(probes) == 12
    for key, p in probes.items():
        assert p.residual <= 1e-10, key
        assert p.chi2_hat > 0 and math.isfinite(p.eps2), key


@pytest.mark.parametrize("name", PROBE_SETTINGS)
def test_noiseless_kappa_zero_recovers_the_target(probes, name):
    """κ = 0, no noise, α above the Donoho–Tanner line: stage 2 recovers r^(1) with an error that
    vanishes like λ² (the equations are homogeneous in the penalties)."""
    coarse, fine = probes[(name, 1e-4, 0.0)].eps2, probes[(name, 3e-5, 0.0)].eps2
    assert coarse < 1e-7
    assert fine / coarse == pytest.approx(0.3**2, rel=0.1)


def _state(setting, hp, shift):
    """The stage-2 problem of a converged prediction and solver coordinates moved off its fixed point."""
    p = predict(setting, hp)
    s1 = p.solver_state.stage1
    problem = st2.Static(setting, hp, s1).problem
    return problem, p.solver_state.y2 + shift


NOISY = [
    (Setting.two_task(0.5, 1.5, 0.3, 0.3, 0.1, 0.05, 0.05), Hyperparameters(0.5, 0.1, 0.5, 1.0)),
    (Setting.similarity(0.8, 2.0, 0.1, 0.5, 0.15, 0.6, 0.8), Hyperparameters(0.4, 0.15, 1.0, math.inf)),
    (
        Setting.two_task(0.5, 2.0, 0.3, 0.3, 0.1, 0.05, 0.05, pretrain_on_target=False),
        Hyperparameters(0.4, 0.1, 0.7, 0.3),
    ),
]


@pytest.mark.parametrize("setting,hp", NOISY)
@pytest.mark.parametrize("shift", [0.0, 0.05])
def test_clip_form_equals_the_quadratic_form(setting, hp, shift):
    """Where nothing cancels, χ̂2' and χ̂12' of the map (clip form) equal α1 E[g2²] and α1 E[g1 g2]
    of the new order parameters (quadratic form), at the fixed point and off it (b' ≠ b)."""
    problem, y = _state(setting, hp, shift)
    Q2_hat, m2_hat, m21_hat, chi2_hat, chi12_hat = st2.stage2_inputs(y, problem)
    theta = (m2_hat, m21_hat, chi2_hat, chi12_hat)
    sums, _ = st2.stage2_sums(problem, st2.conditional_fields(problem, theta), theta, False)
    out = st2.stage2_outputs(y, sums, Q2_hat, m21_hat, chi12_hat, problem)
    chi2 = sums[0] / Q2_hat
    R21 = (sums[1] / Q2_hat - chi12_hat * chi2) / problem.chi1_hat if problem.cross else 0.0
    *_, chi2_hat_q, chi12_hat_q = st2.conjugates_of(
        problem, chi2, R21, sums[2] / Q2_hat**2, sums[3] / Q2_hat, sums[4] / Q2_hat
    )
    assert math.exp(out[1]) == pytest.approx(chi2_hat_q, rel=1e-10)
    if problem.cross:
        assert out[3] * math.sqrt(problem.chi1_hat * math.exp(out[1])) == pytest.approx(chi12_hat_q, rel=1e-9)


@pytest.mark.parametrize(
    "setting,hp", NOISY[:2] + [(PROBE_SETTINGS["alpha_target=0.8"], Hyperparameters(1e-4, 0.999e-4))]
)
def test_map_jacobian_matches_finite_differences(setting, hp):
    """The Jacobian stage2_T returns (exact sums' derivatives, including those of the clip sums)
    agrees with central differences of the map itself."""
    problem, y = _state(setting, hp, 0.01)
    problem = tuple(problem)  # the plain tuple, as predict() passes it: the kernel compiled for it
    _, J, _ = st2.stage2_T(y, problem, True)
    h = 1e-5
    fd = np.empty_like(J)
    for i in range(y.size):
        e = np.zeros(y.size)
        e[i] = h
        fd[:, i] = (st2.stage2_T(y + e, problem, False)[0] - st2.stage2_T(y - e, problem, False)[0]) / (2 * h)
    np.testing.assert_allclose(J, fd, rtol=1e-4, atol=1e-5 * np.max(np.abs(fd)))
