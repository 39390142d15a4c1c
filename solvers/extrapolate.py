"""Finite-size extrapolation ε(N) = ε∞ + c/N (to compare simulations with THEORY.md §3 at N → ∞)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Extrapolation", "extrapolate", "extrapolate_records"]


@dataclass(frozen=True)
class Extrapolation:
    value: float  # ε∞
    stderr: float  # standard error of ε∞
    slope: float  # c
    slope_stderr: float
    chi2: float  # weighted residual sum of squares (≈ len(N) − 2 if the 1/N model fits)


def extrapolate(n_features, means, stderrs) -> Extrapolation:
    """Weighted least squares of ``means`` on [1, 1/N] with weights 1/stderr².

    Standard errors are those implied by the given seed standard errors, sqrt(diag (XᵀWX)⁻¹),
    not rescaled by the fit's residuals (``chi2`` tells whether the 1/N model fits).
    """
    n = np.asarray(n_features, dtype=float)
    m = np.asarray(means, dtype=float)
    se = np.asarray(stderrs, dtype=float)
    if not (n.shape == m.shape == se.shape) or n.ndim != 1:
        raise ValueError("n_features, means and stderrs must be 1-D of equal length")
    if np.unique(n).size < 2:
        raise ValueError("need at least two distinct sizes N")
    if np.any(se <= 0) or np.any(n <= 0):
        raise ValueError("sizes and standard errors must be > 0")
    X = np.column_stack([np.ones_like(n), 1.0 / n])
    W = 1.0 / se**2
    cov = np.linalg.inv(X.T @ (W[:, None] * X))
    beta = cov @ (X.T @ (W * m))
    resid = m - X @ beta
    return Extrapolation(
        float(beta[0]),
        float(np.sqrt(cov[0, 0])),
        float(beta[1]),
        float(np.sqrt(cov[1, 1])),
        float(np.sum(W * resid**2)),
    )


def extrapolate_records(records, key: str) -> Extrapolation:
    """Group simulate() records by n_features; mean and seed standard error (std/sqrt(n)) per N."""
    by_n: dict[int, list[float]] = {}
    for r in records:
        by_n.setdefault(int(r["n_features"]), []).append(float(r[key]))
    ns = sorted(by_n)
    if any(len(by_n[n]) < 2 for n in ns):
        raise ValueError("need at least two seeds per N for a standard error")
    means = [np.mean(by_n[n]) for n in ns]
    ses = [np.std(by_n[n], ddof=1) / np.sqrt(len(by_n[n])) for n in ns]
    return extrapolate(ns, means, ses)
