"""Generalized Trans-Lasso (THEORY.md §2): exact two-stage fit and a scikit-learn estimator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, check_X_y, validate_data

from replica import Hyperparameters

from .backend import DEFAULT_TOL, solve_weighted_lasso

__all__ = ["TransLasso", "TwoStageFit", "fit_two_stage", "fit_transfer", "check_transfer_data", "stage2_weights"]


@dataclass(frozen=True)
class TwoStageFit:
    coef_pretrain: np.ndarray
    coef_finetune: np.ndarray
    rel_gap_pretrain: float
    rel_gap_finetune: float


def _stack(blocks):
    if any(sparse.issparse(A) for A in blocks):
        return sparse.vstack(blocks, format="csc")
    return np.vstack(blocks)


def stage2_weights(coef_pretrain: np.ndarray, lam2: float, delta_lam: float) -> np.ndarray:
    """Per-feature stage-2 penalty λ2 + Δλ·1[x1_i = 0] (THEORY.md §2); Δλ = ∞ gives ∞ off supp x1."""
    return np.where(coef_pretrain == 0, lam2 + delta_lam, lam2)


def fit_two_stage(
    target,
    sources,
    hyper: Hyperparameters,
    pretrain_on_target: bool = True,
    field=None,
    coef_init=None,
    tol: float = DEFAULT_TOL,
) -> TwoStageFit:
    """Stage 1 and stage 2 of THEORY.md §2, each to relative duality gap ≤ tol.

    λ = 0 is solved as well: unpenalized coordinates get the minimum-ℓ2-norm solution when
    the design restricted to them is rank deficient (e.g. λ2 = 0, Δλ = ∞ with more stage-1
    nonzeros than target samples). That is one well-defined choice among the minimizers, not
    the λ → 0+ limit (which is the minimum-ℓ1 one); with full column rank it is the unique one.

    Parameters
    ----------
    target : (A, y) pair
        Target design (M1, N), dense or scipy.sparse, and response (M1,).
    sources : sequence of (A_k, y_k) pairs
        Source datasets (possibly empty).
    hyper : replica.Hyperparameters
        (λ1, λ2, κ, Δλ).
    pretrain_on_target : bool, default True
        Pool the target rows into stage 1.
    field : ndarray of shape (N,), optional
        Adds −Hᵀx to the stage-1 objective (THEORY.md §3, used for R21).
    coef_init : (x1, x2) pair, optional
        Warm starts of the two stages.
    tol : float, default DEFAULT_TOL
        Relative duality gap each stage must reach (checked).

    Returns
    -------
    TwoStageFit
        x1, x2 and the relative gaps reached by the two stages.

    Examples
    --------
    >>> import numpy as np
    >>> from replica import Hyperparameters
    >>> rng = np.random.default_rng(0)
    >>> A, As = rng.standard_normal((50, 80)) / 9, rng.standard_normal((150, 80)) / 9
    >>> r = np.where(rng.random(80) < 0.1, 1.0, 0.0)
    >>> fit = fit_two_stage((A, A @ r), [(As, As @ r)], Hyperparameters(0.1, 0.1, 1.0, 0.5))
    >>> bool(max(fit.rel_gap_pretrain, fit.rel_gap_finetune) <= DEFAULT_TOL)
    True
    """
    A1, y1 = target
    pretrain = ([(A1, y1)] if pretrain_on_target else []) + list(sources)
    if not pretrain:
        raise ValueError("no pretraining data: pretrain_on_target=False and no sources")
    A_pre = _stack([A for A, _ in pretrain])
    y_pre = np.concatenate([y for _, y in pretrain])
    N = A1.shape[1]
    x1_init, x2_init = (None, None) if coef_init is None else coef_init
    s1 = solve_weighted_lasso(A_pre, y_pre, np.full(N, hyper.lam1), linear=field, coef_init=x1_init, tol=tol)
    x1 = s1.coef
    w2 = stage2_weights(x1, hyper.lam2, hyper.delta_lam)
    y_res = y1 - hyper.kappa * np.asarray(A1 @ x1).ravel() if hyper.kappa != 0 else y1
    s2 = solve_weighted_lasso(A1, y_res, w2, coef_init=x2_init, tol=tol)
    return TwoStageFit(x1, s2.coef, s1.rel_gap, s2.rel_gap)


def check_transfer_data(estimator, X, y, sources, *, reset: bool = True):
    """Validate the target (X, y) and ``sources`` = [(X_k, y_k), ...]; ValueError naming the problem.

    X and y via scikit-learn's ``validate_data`` (sets ``n_features_in_`` when ``reset``; ``check_X_y``
    when ``estimator`` is None); each source
    must be an (X, y) pair of finite values with the target's number of features.
    """
    kw = dict(accept_sparse=("csr", "csc"), dtype=np.float64, y_numeric=True)
    if estimator is None:
        X, y = check_X_y(X, y, **kw)
    else:
        X, y = validate_data(estimator, X, y, reset=reset, **kw)
    X = _small_indices(X)
    if sources is None:
        sources = ()
    if isinstance(sources, tuple) and len(sources) == 2 and not isinstance(sources[0], (tuple, list)):
        raise ValueError("sources must be a list of (X, y) pairs, e.g. sources=[(X_source, y_source)]")
    checked = []
    for k, pair in enumerate(sources):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"source {k} must be an (X, y) pair")
        Xk, yk = pair
        if getattr(yk, "ndim", 1) != 1 and np.ndim(yk) != 1:
            raise ValueError(f"source {k}: y must be 1-D, got shape {np.shape(yk)}")
        try:
            Xk, yk = check_X_y(Xk, yk, accept_sparse=("csr", "csc"), dtype=np.float64, y_numeric=True)
        except ValueError as exc:
            raise ValueError(f"source {k}: {exc}") from None
        if Xk.shape[1] != X.shape[1]:
            raise ValueError(f"source {k} has {Xk.shape[1]} features, the target has {X.shape[1]}")
        checked.append((_small_indices(Xk), yk))
    return X, y, checked


def _small_indices(X):
    """Sparse X with 32-bit indices (the solvers' kernels take those) when its size allows."""
    if sparse.issparse(X) and X.indices.dtype != np.int32 and X.nnz < 2**31 and max(X.shape) < 2**31:
        X = X.copy()
        X.indices = X.indices.astype(np.int32)
        X.indptr = X.indptr.astype(np.int32)
    return X


def fit_transfer(target, sources, hyper: Hyperparameters, *, pretrain_on_target, fit_intercept, standardize, tol):
    """Two-stage fit with per-dataset intercepts and/or the theory's column scaling (:class:`solvers.cv.Scaling`).

    Returns (coef_pretrain, coef_finetune, intercept, rel_gaps, scaling) with coefficients in the user's units.
    Both stages are certified by :func:`solvers.backend.duality_gap` on the block-centred design.
    """
    from .cv import TransferProblem
    from .design import certify, lasso

    X, y = target
    problem, scaling = TransferProblem.scaled(X, y, sources, fit_intercept, standardize)
    N = X.shape[1]
    design1, y1 = problem.pretrain_design(None, pretrain_on_target)
    w1 = np.full(N, hyper.lam1)
    x1, _ = lasso(design1, y1, w1, tol=tol)
    gap1 = certify(design1, y1, w1, x1, tol)
    design2, y2, y_mean = problem.target_design()
    w2 = stage2_weights(x1, hyper.lam2, hyper.delta_lam)
    y_res = y2 - hyper.kappa * design2.matvec(x1) if hyper.kappa != 0 else y2
    x2, _ = lasso(design2, y_res, w2, tol=tol)
    gap2 = certify(design2, y_res, w2, x2, tol)
    x1u, x2u = scaling.coef_to_user(x1), scaling.coef_to_user(x2)
    coef = hyper.kappa * x1u + x2u
    intercept = y_mean - float(np.asarray(X.mean(axis=0)).ravel() @ coef) if fit_intercept else 0.0
    return x1u, x2u, intercept, (gap1, gap2), scaling


class LinearPredictor:
    """``predict`` of a fitted linear model with ``coef_`` and ``intercept_`` (shared by the estimators)."""

    def predict(self, X):
        """Predict target responses X·coef_ + intercept_.

        Parameters
        ----------
        X : ndarray or scipy.sparse matrix of shape (n, N)
            Target design, in the units given to ``fit``.

        Returns
        -------
        ndarray of shape (n,)
            Predicted responses.
        """
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, accept_sparse=("csr", "csc"), dtype=np.float64, reset=False)
        return np.asarray(X @ self.coef_).ravel() + self.intercept_


class TransferRegressor(LinearPredictor, RegressorMixin, BaseEstimator):
    """Base of the two-stage estimators: the parameters they share, sparse input, data checks and ``predict``.

    Subclasses list all their parameters in ``__init__`` (scikit-learn reads them from its signature) and
    pass the shared ones on to this ``__init__``, which only stores them.
    """

    def __init__(self, pretrain_on_target, fit_intercept, standardize, tol):
        self.pretrain_on_target = pretrain_on_target
        self.fit_intercept = fit_intercept
        self.standardize = standardize
        self.tol = tol

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _check_data(self, X, y, sources):
        """:func:`check_transfer_data`, and some data for stage 1."""
        X, y, checked = check_transfer_data(self, X, y, sources)
        if not self.pretrain_on_target and not checked:
            raise ValueError("no pretraining data: pretrain_on_target=False and no sources")
        return X, y, checked


class TransLasso(TransferRegressor):
    """Two-stage ℓ1 transfer learning (generalized Trans-Lasso, THEORY.md §2).

    Stage 1: x1 = argmin ½ Σ_{k∈P} ||y_k − A_k x||² + lam1 ||x||_1 (P = sources, plus the
    target if ``pretrain_on_target``). Stage 2: x2 = argmin ½ ||y_1 − A_1(kappa x1 + x)||²
    + Σ_i (lam2 + delta_lam·1[x1_i = 0]) |x_i|. Losses are unnormalized sums of squares. Each
    stage is solved to relative duality gap ≤ ``tol`` (checked; a
    :class:`solvers.backend.SolverError` is raised otherwise). lam1 = 0 or lam2 = 0 is allowed;
    see :func:`fit_two_stage` for which minimizer is returned when it is not unique.

    Parameters
    ----------
    lam1, lam2, kappa, delta_lam : float
        Hyperparameters of THEORY.md §2 (Δλ = ∞ allowed).
    pretrain_on_target : bool
        Whether the target's rows enter stage 1.
    fit_intercept : bool, default False
        Give every dataset its own free intercept (THEORY.md has none; the default keeps this
        estimator the theory's exactly). Sparse X stays sparse (:mod:`solvers.design`).
    standardize : bool, default False
        Map the design to the theory's convention first (:class:`solvers.cv.Scaling`: every column
        of the pooled data to mean square 1/N); the hyperparameters then refer to that design and
        the fitted coefficients are reported in the user's units.
    tol : float
        Relative duality gap of each stage.

    Attributes
    ----------
    coef_pretrain_, coef_finetune_ : x1 and x2; coef_ : kappa x1 + x2 (in the user's units);
    intercept_ : the target's intercept (0.0 without ``fit_intercept``); rel_gaps_ : (stage 1, stage 2).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> A = rng.standard_normal((60, 20)) / np.sqrt(20); r = np.r_[np.ones(3), np.zeros(17)]
    >>> src = rng.standard_normal((200, 20)) / np.sqrt(20)
    >>> est = TransLasso(lam1=0.1, lam2=0.05).fit(A, A @ r, sources=[(src, src @ r)])
    >>> bool(np.all(np.flatnonzero(est.coef_pretrain_) == [0, 1, 2]))
    True
    """

    def __init__(
        self,
        lam1=1.0, lam2=1.0, kappa=1.0, delta_lam=0.0,
        pretrain_on_target=True, fit_intercept=False, standardize=False, tol=DEFAULT_TOL,
    ):  # fmt: skip
        self.lam1 = lam1
        self.lam2 = lam2
        self.kappa = kappa
        self.delta_lam = delta_lam
        super().__init__(pretrain_on_target, fit_intercept, standardize, tol)

    def fit(self, X, y, sources=()):
        """Fit both stages on the target (X, y) and the sources.

        Parameters
        ----------
        X : ndarray or scipy.sparse matrix of shape (M1, N)
            Target design.
        y : ndarray of shape (M1,)
            Target response.
        sources : sequence of (X_k, y_k) pairs, default ()
            Source datasets with N columns (a fit parameter, so cross-validation splits only the
            target).

        Returns
        -------
        self : TransLasso
            The fitted estimator.
        """
        hyper = Hyperparameters(self.lam1, self.lam2, self.kappa, self.delta_lam)
        if not (isinstance(self.tol, (int, float)) and 0 < self.tol < 1):
            raise ValueError(f"tol must lie in (0, 1), got {self.tol!r}")
        X, y, checked = self._check_data(X, y, sources)
        if self.fit_intercept or self.standardize:
            x1, x2, intercept, gaps, _ = fit_transfer(
                (X, y),
                checked,
                hyper,
                pretrain_on_target=bool(self.pretrain_on_target),
                fit_intercept=bool(self.fit_intercept),
                standardize=bool(self.standardize),
                tol=self.tol,
            )
        else:
            X = X.tocsc() if sparse.issparse(X) else X
            fit = fit_two_stage((X, y), checked, hyper, bool(self.pretrain_on_target), tol=self.tol)
            x1, x2, intercept = fit.coef_pretrain, fit.coef_finetune, 0.0
            gaps = (fit.rel_gap_pretrain, fit.rel_gap_finetune)
        self.coef_pretrain_ = x1
        self.coef_finetune_ = x2
        self.coef_ = hyper.kappa * x1 + x2
        self.intercept_ = intercept
        self.rel_gaps_ = gaps
        return self
