"""Correlated designs (THEORY.md §7): the covariance model, its validation, and the fixed-point machinery.

The machinery is checked apart from the sampling: with Σ = I the effective problems separate, and the
correlated fixed point fed the exact closed-form/quadrature expectations (``SeparableOracle``) must give
back ``replica.predict`` to 1e-6; fed the sampled ones, it must agree within its reported standard error.
"""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse

from replica import ConvergenceError, Hyperparameters, Setting, optimize, predict
from replica import correlated as corr
from replica.correlated import SE_QUANTITIES, SeparableOracle, predict_correlated
from replica.covariance import Covariance, ar1, block, power_law, sparse_precision
from tests.builders import HYPER, THEORY_CASES, two_task

MACHINERY_CASES = [
    *THEORY_CASES,
    ("source-only pretraining, Δλ = ∞", two_task(pretrain_on_target=False, alpha_source=2.0), HYPER),
    ("Δλ = ∞", two_task(), Hyperparameters(0.4, 0.1, 0.7, math.inf)),
    ("stage 2 repeats stage 1", two_task(alpha_source=0.0), Hyperparameters(0.4, 0.4, 0.0, 1.0)),
]


# ---- the model and its validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    "Sigma, message",
    [
        (np.array([[1.0, 0.2], [0.3, 1.0]]), "not symmetric"),
        (np.array([[1.0, 2.0], [2.0, 1.0]]), "not positive definite"),
        (np.eye(3)[:2], "square"),
        (np.ones(3), "square"),
        (2 * np.eye(2), "unit diagonal"),
        (np.array([[1.0, np.nan], [np.nan, 1.0]]), "NaN"),
        (np.array([[1.0, np.inf], [np.inf, 1.0]]), "infinite"),
        ("abc", "numeric"),
    ],
)
def test_invalid_sigma_is_named(Sigma, message):
    with pytest.raises(ValueError, match=message):
        two_task().with_covariance(Sigma)


def test_invalid_sampling_and_design():
    with pytest.raises(ValueError, match="draws"):
        Covariance.dense(np.eye(2), draws=1)
    with pytest.raises(ValueError, match="constant column"):
        Covariance.empirical(np.array([[1.0, 2.0], [1.0, 3.0]]))
    with pytest.raises(ValueError, match="NaN"):
        Covariance.empirical(np.array([[np.nan, 2.0], [1.0, 3.0]]))
    with pytest.raises(ValueError, match="covariance must be"):
        Setting(
            *[getattr(two_task(), k) for k in ("alphas", "sigmas", "pretrain", "weights", "means", "covs")],
            covariance=np.eye(2),
        )
    with pytest.raises(ValueError, match="draws and seed"):
        two_task().with_covariance(None, draws=4)


def test_empirical_is_the_correlation_matrix_dense_or_sparse():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 8)) * rng.uniform(0.5, 3, 8) + rng.uniform(-2, 2, 8)
    want = np.corrcoef(X.T)
    dense = Covariance.empirical(X)
    sp = Covariance.empirical(sparse.csr_matrix(np.where(rng.random(X.shape) < 0.5, X, 0.0)))
    assert np.allclose(dense.matrix, want, atol=1e-12)
    assert np.allclose(np.diag(sp.matrix), 1.0)
    v = rng.standard_normal(8)
    for cov in (dense, sp):  # Σ = BᵀB, products through the factor B
        assert np.allclose(cov.design_rmatvec(cov.design_matvec(v)), cov.matrix @ v, atol=1e-12)
    # fewer rows than columns: singular, still valid
    small = Covariance.empirical(rng.standard_normal((5, 8)))
    assert np.linalg.matrix_rank(small.matrix) == 4


def test_families_are_correlation_matrices():
    for S in (ar1(40, 0.8), block(40, 7, 0.5), power_law(40, 1.0), sparse_precision(40)):
        cov = Covariance.dense(S)  # validates symmetry, unit diagonal, definiteness
        assert cov.N == 40


def test_settings_keep_identity_and_the_iid_path():
    s = two_task()
    sc = s.with_covariance(ar1(20, 0.5))
    assert sc != s.with_covariance(ar1(20, 0.5)) and hash(sc) != hash(s)  # identity, as before
    assert sc.with_alphas([0.6, 1.5]).covariance is sc.covariance
    assert sc.with_sigmas([0.2, 0.3]).covariance is sc.covariance
    back = sc.with_covariance(None)
    assert back.covariance is None and back.as_dict() == s.as_dict()
    assert predict(back, HYPER).as_dict() == predict(s, HYPER).as_dict()  # bit-identical
    assert "covariance" in sc.as_dict() and "covariance" not in s.as_dict()
    with pytest.raises(ValueError, match="fingerprint"):
        Setting.from_dict(sc.as_dict())
    assert len(predict(s, HYPER).as_dict()) == 27


# ---- the fixed-point machinery without sampling: Σ = I, exact expectations ----------------------


@pytest.mark.parametrize("name,setting,hp", MACHINERY_CASES, ids=[c[0] for c in MACHINERY_CASES])
def test_identity_with_exact_oracle_reproduces_predict(name, setting, hp):
    sc = setting.with_covariance(np.eye(2))
    got = predict_correlated(sc, hp, oracle=SeparableOracle(sc)).as_dict()
    want = predict(setting, hp).as_dict()
    for key in want:
        if key in ("residual", "iterations"):
            continue
        assert np.allclose(got[key], want[key], rtol=0, atol=1e-6), (key, got[key], want[key])


def test_identity_with_sampled_oracle_agrees_within_its_se():
    setting, hp = THEORY_CASES[0][1:]
    p = predict(setting.with_covariance(np.eye(200), draws=16), hp)
    want = predict(setting, hp)
    for key in ("eps1", "eps2", "support1", "support2", "chi1", "chi2", "R21"):
        assert p.se[key] > 0
        assert abs(getattr(p, key) - getattr(want, key)) <= 3.5 * p.se[key], key
    assert set(p.se) == set(SE_QUANTITIES)


def test_stage2_repeating_stage1_returns_stage1():
    """Target-only pretraining, κ = 0, λ2 = λ1: x2 = x1, so every stage-2 output and its SE is stage 1's
    (the i.i.d. path's answer), on a correlated design too."""
    setting, hp = two_task(alpha_source=0.0).with_covariance(ar1(120, 0.6), draws=8), Hyperparameters(0.4, 0.4)
    p = predict(setting, hp)
    pairs = [("eps2", "eps1"), ("support2", "support1"), ("support_final", "support1"), ("tpr2", "tpr1")]
    pairs += [("chi2", "chi1"), ("Q2", "Q1"), ("Q12", "Q1")]
    for two, one in pairs:
        assert getattr(p, two) == pytest.approx(getattr(p, one), rel=1e-12), two
        assert p.se[two] == pytest.approx(p.se[one], rel=1e-12) and p.se[one] > 0, two
    assert p.R21 == 0 and p.m2 == pytest.approx(p.m1[0], rel=1e-12)


# ---- predictions on correlated designs ----------------------------------------------------------


@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    rho=st.floats(0.0, 0.9),
    lam1=st.floats(0.1, 1.5),
    lam2=st.floats(0.02, 1.0),
    kappa=st.floats(0.0, 1.3),
    delta=st.one_of(st.floats(0.0, 2.0), st.just(math.inf)),
)
def test_prediction_properties(rho, lam1, lam2, kappa, delta):
    """Deterministic per seed, finite, in range, with nonnegative standard errors; a correlated design
    never helps the Lasso find more features than the data allow (support ≤ 1)."""
    setting = two_task().with_covariance(ar1(60, rho), draws=40)
    hp = Hyperparameters(lam1, lam2, kappa, delta)
    p = predict(setting, hp)
    again = predict(setting, hp)
    assert p.as_dict() == again.as_dict() and dict(p.se) == dict(again.se)
    s2 = setting.sigmas[0] ** 2
    assert p.eps1 >= s2 and p.eps2 >= s2
    for key in ("support1", "support2", "support_final", "tpr1", "fpr1", "tpr2", "fpr2"):
        assert 0 <= getattr(p, key) <= 1
    assert all(v >= 0 and math.isfinite(v) for v in p.se.values())
    if math.isinf(delta) and kappa == 0:
        assert p.support2 <= p.support1 + 1e-12  # corrections only on supp x1


def test_warm_start_reuses_stage1_and_agrees():
    setting = two_task().with_covariance(ar1(100, 0.5), draws=8)
    p = predict(setting, HYPER)
    q = predict(setting, Hyperparameters(HYPER.lam1, 0.11, HYPER.kappa, HYPER.delta_lam), warm_start=p)
    cold = predict(setting, Hyperparameters(HYPER.lam1, 0.11, HYPER.kappa, HYPER.delta_lam))
    assert q.iterations < cold.iterations
    assert q.eps1 == p.eps1
    assert abs(q.eps2 - cold.eps2) <= 0.2 * cold.se["eps2"]


def test_nonconvergence_raises_with_diagnostics(monkeypatch):
    monkeypatch.setattr(corr, "_MAX_NEWTON", 0)
    with pytest.raises(ConvergenceError) as info:
        predict(two_task().with_covariance(ar1(50, 0.5), draws=4), HYPER)
    assert info.value.diagnostics["stage"] == "stage 1" and "covariance" in info.value.diagnostics


def test_optimize_accepts_correlated_settings():
    setting = two_task().with_covariance(ar1(60, 0.5), draws=4)
    res = optimize(setting, "target_only")
    assert res.prediction.se is not None and res.error == res.prediction.eps2
    assert res.error <= predict(setting, Hyperparameters(1.0, 1.0)).eps2


def test_design_and_gram_engines_agree():
    """An empirical Σ held as its sparse design (least-squares effective problems on B) and as a dense
    matrix (Gram form) give the same prediction: the same draws, the same Lassos."""
    rng = np.random.default_rng(0)
    X = sparse.random(300, 120, density=0.08, random_state=1, format="csr")
    X.data = np.log1p(rng.poisson(2, X.nnz) + 1.0)
    got = [
        predict(two_task().with_covariance(Covariance.empirical(X, dense=dense, draws=8)), HYPER)
        for dense in (True, False)
    ]
    for key, value in got[0].as_dict().items():
        if key not in ("iterations", "residual"):
            assert np.allclose(got[1].as_dict()[key], value, rtol=1e-8, atol=1e-10), key
