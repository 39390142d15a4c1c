"""A tuned model is a TransLasso: refitted with TransLasso's defaults from hyperparameters_ and
sources_used_, it predicts as the CV model does (issue 21), on dense, sparse and pandas input; and the
hyperparameters are checked as numbers with one-line errors."""

import numpy as np
import pytest
from scipy import sparse

from solvers import SolverError, TransLasso, TransLassoCV
from solvers.problem import TransferProblem
from solvers.simulation.sources import SourceSpec, draw_sources


@pytest.fixture(scope="module")
def data():
    specs = [SourceSpec("related", 300, -0.5), SourceSpec("unrelated", 300, 0.5)]
    p = draw_sources(specs, n_features=80, n_target=60, n_nonzero=6, rng=np.random.default_rng(0))
    return p.target, p.sources


def _as(kind, X):
    if kind == "sparse":
        return sparse.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    if kind == "pandas":
        pd = pytest.importorskip("pandas")
        return pd.DataFrame(X, columns=[f"w{j}" for j in range(X.shape[1])])
    return X


@pytest.mark.parametrize("kind", ["dense", "sparse", "pandas"])
def test_translasso_refit_from_hyperparameters_predicts_like_the_cv_model(data, kind):
    (X, y), sources = data
    X = _as(kind, X)
    sources = [(_as(kind, Xk), yk) for Xk, yk in sources]
    model = TransLassoCV(strategy="value", random_state=0).fit(X, y, sources=sources)
    refit = TransLasso(**model.hyperparameters_.as_dict()).fit(X, y, sources=[sources[k] for k in model.sources_used_])
    np.testing.assert_allclose(refit.predict(X), model.predict(X), rtol=0, atol=1e-8)
    np.testing.assert_allclose(refit.coef_, model.best_estimator_.coef_, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(kappa=-1.0), "kappa must be >= 0"),
        (dict(lam1="0.5"), "lam1 must be a number, got '0.5'"),
        (dict(lam2=True), "lam2 must be a number"),
        (dict(delta_lam=-0.1), "delta_lam must be >= 0"),
        (dict(lam2=float("nan")), "lam2 is NaN"),
        (dict(tol=0.0), "tol must lie in \\(0, 1\\)"),
    ],
)
def test_bad_hyperparameters_get_one_line_errors(data, params, message):
    (X, y), sources = data
    with pytest.raises(ValueError, match=message) as err:
        TransLasso(**params).fit(X, y, sources=sources)
    assert "\n" not in str(err.value)


def test_lam1_zero_gives_the_minimum_norm_stage_one(data):
    """λ1 = 0 with intercepts: stage 1 is the minimum-norm least-squares fit of the centred, scaled
    pooled data, certified; with more features than pooled rows it interpolates."""
    (X, y), sources = data
    few = [(Xk[:5], yk[:5]) for Xk, yk in sources]  # 60 + 10 rows < 80 features
    est = TransLasso(lam1=0.0, lam2=0.1).fit(X, y, sources=few)
    assert max(est.rel_gaps_) <= 1e-8
    problem, scaling = TransferProblem.scaled(X, y, few, True, True)
    blocks = [np.asarray(problem.A)] + [Ak.toarray() for Ak, _ in problem.sources]
    A = np.vstack([b - b.mean(axis=0) for b in blocks])  # the pooled design, centred per dataset
    r = np.concatenate([yy - yy.mean() for yy in [y] + [yk for _, yk in few]])
    x = est.coef_pretrain_ * scaling.divisors  # x1 in the scaled design's units
    np.testing.assert_allclose(A @ x, r, atol=1e-6)  # it interpolates ...
    np.testing.assert_allclose(x, np.linalg.pinv(A) @ r, atol=1e-6)  # ... with the least norm


def test_a_stage_that_misses_its_gap_says_which_and_what_to_try(data, monkeypatch):
    import solvers.twostage as twostage

    (X, y), sources = data

    def fail(*args, **kwargs):
        raise SolverError("weighted Lasso reached relative duality gap 1e-05 > tol 1e-08")

    monkeypatch.setattr(twostage, "lasso", fail)
    with pytest.raises(SolverError, match=r"^stage 1 \(pretraining, lam1=0\.1\): .* Try: raise lam1, or a looser tol"):
        TransLasso(lam1=0.1, lam2=0.1).fit(X, y, sources=sources)
