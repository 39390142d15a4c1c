"""Generalized Trans-Lasso (THEORY.md §2): exact two-stage fit and a scikit-learn estimator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_array, check_is_fitted

from replica import Hyperparameters

from .backend import DEFAULT_TOL, solve_weighted_lasso

__all__ = ["TransLasso", "TwoStageFit", "fit_two_stage", "stage2_weights"]


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

    target, sources : (A, y) pairs (sources a possibly empty list). ``field`` adds −Hᵀx to the
    stage-1 objective (THEORY.md §3, used for R21). ``coef_init`` = (x1, x2) warm starts.

    λ = 0 is solved as well: unpenalized coordinates get the minimum-ℓ2-norm solution when
    the design restricted to them is rank deficient (e.g. λ2 = 0, Δλ = ∞ with more stage-1
    nonzeros than target samples). That is one well-defined choice among the minimizers, not
    the λ → 0+ limit (which is the minimum-ℓ1 one); with full column rank it is the unique one.
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


class TransLasso(RegressorMixin, BaseEstimator):
    """Two-stage ℓ1 transfer learning (generalized Trans-Lasso, THEORY.md §2).

    Stage 1: x1 = argmin ½ Σ_{k∈P} ||y_k − A_k x||² + lam1 ||x||_1 (P = sources, plus the
    target if ``pretrain_on_target``). Stage 2: x2 = argmin ½ ||y_1 − A_1(kappa x1 + x)||²
    + Σ_i (lam2 + delta_lam·1[x1_i = 0]) |x_i|. Losses are unnormalized sums of squares; there
    is no intercept. Each stage is solved to relative duality gap ≤ ``tol`` (checked; a
    :class:`solvers.backend.SolverError` is raised otherwise). lam1 = 0 or lam2 = 0 is allowed;
    see :func:`fit_two_stage` for which minimizer is returned when it is not unique.

    Attributes: ``coef_pretrain_`` (x1), ``coef_finetune_`` (x2), ``coef_`` (kappa x1 + x2),
    ``rel_gaps_`` (stage 1, stage 2). ``score`` is R² on the data given (the target).
    """

    def __init__(self, lam1=1.0, lam2=1.0, kappa=1.0, delta_lam=0.0, pretrain_on_target=True, tol=DEFAULT_TOL):
        self.lam1 = lam1
        self.lam2 = lam2
        self.kappa = kappa
        self.delta_lam = delta_lam
        self.pretrain_on_target = pretrain_on_target
        self.tol = tol

    def _check_xy(self, X, y, what):
        X = check_array(X, accept_sparse="csc", dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 1:
            raise ValueError(f"{what}: y must be 1-D, got shape {y.shape}")
        if X.shape[0] != y.shape[0]:
            raise ValueError(f"{what}: X has {X.shape[0]} rows but y has {y.shape[0]} entries")
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{what}: y contains NaN or infinity")
        return X, y

    def fit(self, X, y, sources=()):
        """Fit on the target (X, y) with ``sources`` = [(X_k, y_k), ...] (a fit parameter, so
        cross-validation splits only the target)."""
        hyper = Hyperparameters(self.lam1, self.lam2, self.kappa, self.delta_lam)
        if not (isinstance(self.tol, (int, float)) and 0 < self.tol < 1):
            raise ValueError(f"tol must lie in (0, 1), got {self.tol!r}")
        X, y = self._check_xy(X, y, "target")
        checked = []
        for k, pair in enumerate(sources):
            if len(pair) != 2:
                raise ValueError(f"source {k} must be an (X, y) pair")
            Xk, yk = self._check_xy(*pair, f"source {k}")
            if Xk.shape[1] != X.shape[1]:
                raise ValueError(f"source {k} has {Xk.shape[1]} features, the target has {X.shape[1]}")
            checked.append((Xk, yk))
        fit = fit_two_stage((X, y), checked, hyper, bool(self.pretrain_on_target), tol=self.tol)
        self.coef_pretrain_ = fit.coef_pretrain
        self.coef_finetune_ = fit.coef_finetune
        self.coef_ = hyper.kappa * fit.coef_pretrain + fit.coef_finetune
        self.rel_gaps_ = (fit.rel_gap_pretrain, fit.rel_gap_finetune)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        check_is_fitted(self, "coef_")
        X = check_array(X, accept_sparse="csc", dtype=np.float64)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, the model was fitted with {self.n_features_in_}")
        return np.asarray(X @ self.coef_).ravel()
