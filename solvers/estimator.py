"""The two-stage estimators' scikit-learn side: shared parameters, data checks, ``predict``, and :class:`TransLasso`.

:func:`fit_transfer` is the one fit both estimators make, in the user's units: the plain design for
the theory's own estimator (``fit_intercept=False, standardize=False``), else the scaled
:class:`solvers.problem.TransferProblem` with per-dataset intercepts (:mod:`solvers.twostage`).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from replica import Hyperparameters

from .lasso import DEFAULT_TOL
from .problem import TransferProblem, check_hyperparameters, check_transfer_data
from .twostage import fit_problem, fit_two_stage

__all__ = ["TransLasso", "TransferRegressor", "TransferFit", "fit_transfer", "check_tol"]


def check_tol(name: str, value) -> float:
    """``value`` as a tolerance in (0, 1), or a ValueError naming ``name``.

    Parameters
    ----------
    name : str
        The parameter's name.
    value : float
        Its value.

    Returns
    -------
    float

    Examples
    --------
    >>> check_tol("tol", 1e-8)
    1e-08
    >>> check_tol("tol", 2)
    Traceback (most recent call last):
    ...
    ValueError: tol must lie in (0, 1), got 2
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"{name} must lie in (0, 1), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class TransferFit:
    """A two-stage fit in the user's units: what ``fit`` stores on an estimator.

    Attributes
    ----------
    coef_pretrain, coef_finetune : ndarray of shape (N,)
        x1 and x2.
    coef : ndarray of shape (N,)
        κ x1 + x2.
    intercept : float
        The target's intercept.
    rel_gaps : (float, float)
        Certified relative duality gaps of the two stages.

    Examples
    --------
    >>> import numpy as np
    >>> fit = TransferFit(np.ones(2), np.zeros(2), np.ones(2), 0.5, (0.0, 0.0))
    >>> est = fit.store(TransLasso())
    >>> est.coef_.tolist(), est.intercept_
    ([1.0, 1.0], 0.5)
    """

    coef_pretrain: np.ndarray
    coef_finetune: np.ndarray
    coef: np.ndarray
    intercept: float
    rel_gaps: tuple

    def store(self, estimator):
        """Set ``coef_pretrain_``, ``coef_finetune_``, ``coef_``, ``intercept_`` and ``rel_gaps_`` on ``estimator``.

        Parameters
        ----------
        estimator : TransferRegressor

        Returns
        -------
        The estimator.
        """
        estimator.coef_pretrain_ = self.coef_pretrain
        estimator.coef_finetune_ = self.coef_finetune
        estimator.coef_ = self.coef
        estimator.intercept_ = self.intercept
        estimator.rel_gaps_ = self.rel_gaps
        return estimator


def fit_transfer(
    X,
    y,
    sources,
    hyper: Hyperparameters,
    *,
    pretrain_on_target,
    fit_intercept,
    standardize,
    tol,
    problem=None,
    scaling=None,
) -> TransferFit:
    """The two-stage fit of ``TransLasso`` on checked data, in the user's units.

    Without intercepts and standardization it is :func:`solvers.twostage.fit_two_stage` on the user's
    design (the theory's estimator exactly); otherwise :func:`solvers.twostage.fit_problem` on the
    problem scaled by :class:`solvers.problem.Scaling` (``problem`` and ``scaling``: one already built
    from the same data, so that it is scaled once).

    Parameters
    ----------
    X, y, sources
        Checked data (:func:`solvers.problem.check_transfer_data`).
    hyper : replica.Hyperparameters
        (λ1, λ2, κ, Δλ) of the design that is fitted (scaled, or the user's own).
    pretrain_on_target, fit_intercept, standardize : bool
        As in :class:`TransLasso`.
    tol : float
        Relative duality gap of each stage.
    problem : solvers.problem.TransferProblem, optional
        The scaled problem of these data.
    scaling : solvers.problem.Scaling, optional
        Its scaling (required with ``problem``).

    Returns
    -------
    TransferFit

    Examples
    --------
    >>> import numpy as np
    >>> from replica import Hyperparameters
    >>> rng = np.random.default_rng(0)
    >>> A, As = rng.standard_normal((40, 10)), rng.standard_normal((80, 10))
    >>> fit = fit_transfer(A, A[:, 0] + 3.0, [(As, As[:, 0])], Hyperparameters(1.0, 1.0, 1.0, 0.0),
    ...                    pretrain_on_target=True, fit_intercept=True, standardize=True, tol=1e-8)
    >>> round(fit.intercept, 1), int(np.argmax(np.abs(fit.coef)))
    (3.0, 0)
    """
    if not (fit_intercept or standardize):
        X = X.tocsc() if sparse.issparse(X) else X
        fit = fit_two_stage((X, y), sources, hyper, pretrain_on_target, tol=tol)
        x1, x2 = fit.coef_pretrain, fit.coef_finetune
        return TransferFit(x1, x2, hyper.kappa * x1 + x2, 0.0, (fit.rel_gap_pretrain, fit.rel_gap_finetune))
    if problem is None:
        problem, scaling = TransferProblem.scaled(X, y, sources, fit_intercept, standardize)
    fit = fit_problem(problem, hyper, pretrain_on_target=pretrain_on_target, tol=tol)
    x1, x2 = scaling.coef_to_user(fit.coef_pretrain), scaling.coef_to_user(fit.coef_finetune)
    coef = hyper.kappa * x1 + x2
    if fit_intercept:
        y_mean = problem.target_design()[2]
        intercept = y_mean - float(np.asarray(X.mean(axis=0)).ravel() @ coef)
    else:
        intercept = 0.0
    return TransferFit(x1, x2, coef, intercept, (fit.rel_gap_pretrain, fit.rel_gap_finetune))


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
        """:func:`check_transfer_data`; with intercepts, every source must carry something its own
        intercept does not absorb: two rows or more, and a response that is not constant."""
        X, y, checked = check_transfer_data(self, X, y, sources)
        if self.fit_intercept:
            for k, (Xk, yk) in enumerate(checked):
                if Xk.shape[0] < 2:
                    raise ValueError(f"source {k} has {Xk.shape[0]} row: its own intercept absorbs it; drop it")
                if np.ptp(yk) == 0:
                    raise ValueError(
                        f"source {k} has a constant response: nothing to transfer beyond its intercept; drop it"
                    )
        return X, y, checked


class TransLasso(TransferRegressor):
    """Two-stage ℓ1 transfer learning (generalized Trans-Lasso, THEORY.md §2).

    Stage 1: x1 = argmin ½ Σ_{k∈P} ||y_k − A_k x||² + lam1 ||x||_1 (P = sources, plus the
    target if ``pretrain_on_target``). Stage 2: x2 = argmin ½ ||y_1 − A_1(kappa x1 + x)||²
    + Σ_i (lam2 + delta_lam·1[x1_i = 0]) |x_i|. Losses are unnormalized sums of squares. Each
    stage is solved to relative duality gap ≤ ``tol`` (checked; a :class:`solvers.lasso.SolverError`
    naming the stage is raised otherwise).

    The defaults are :class:`TransLassoCV`'s, so ``TransLasso(**model.hyperparameters_.as_dict())``
    refits a tuned model (with its sources ``model.sources_used_``): every dataset gets its own
    intercept and the columns are mapped to the theory's scale (:class:`solvers.problem.Scaling`).
    The theory's own estimator, on the user's design as it is, is
    ``TransLasso(..., fit_intercept=False, standardize=False)``; there lam1 = 0 or lam2 = 0 is
    allowed (:func:`solvers.twostage.fit_two_stage` says which minimizer is returned when it is not
    unique).

    Parameters
    ----------
    lam1, lam2 : float
        Penalties λ1, λ2 ≥ 0 of THEORY.md §2 (numbers, finite).
    kappa : float
        κ ≥ 0: the share of the pretrained values kept (κ = 0: support transfer or none).
    delta_lam : float
        Δλ ≥ 0, ∞ allowed (no corrections off supp x1).
    pretrain_on_target : bool, default True
        Whether the target's rows enter stage 1.
    fit_intercept : bool, default True
        Give every dataset its own free intercept (THEORY.md has none). Sparse X stays sparse
        (:mod:`solvers.lasso.centred`).
    standardize : bool, default True
        Map the design to the theory's convention first (:class:`solvers.problem.Scaling`: every
        column of the pooled data to mean square 1/N; ``False`` with ``fit_intercept``: one common
        factor); the hyperparameters then refer to that design and the fitted coefficients are
        reported in the user's units.
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
    >>> A = rng.standard_normal((60, 20)); r = np.r_[np.ones(3), np.zeros(17)]
    >>> src = rng.standard_normal((200, 20))
    >>> est = TransLasso(lam1=0.1, lam2=0.05).fit(A, A @ r + 1.0, sources=[(src, src @ r)])
    >>> np.flatnonzero(est.coef_pretrain_).tolist(), round(est.intercept_, 2)
    ([0, 1, 2], 1.0)
    """

    def __init__(
        self,
        lam1=1.0, lam2=1.0, kappa=1.0, delta_lam=0.0,
        pretrain_on_target=True, fit_intercept=True, standardize=True, tol=DEFAULT_TOL,
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
        hyper = check_hyperparameters(self.lam1, self.lam2, self.kappa, self.delta_lam)
        tol = check_tol("tol", self.tol)
        X, y, checked = self._check_data(X, y, sources)
        if not self.pretrain_on_target and not checked and (hyper.kappa != 0 or hyper.delta_lam != 0):
            raise ValueError("no pretraining data: pretrain_on_target=False and no sources")
        fit = fit_transfer(
            X,
            y,
            checked,
            hyper,
            pretrain_on_target=bool(self.pretrain_on_target),
            fit_intercept=bool(self.fit_intercept),
            standardize=bool(self.standardize),
            tol=tol,
        )
        return fit.store(self)
