"""Finite-size extrapolation ε(N) = ε∞ + c/N (to compare simulations with THEORY.md §3 at N → ∞)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Extrapolation", "extrapolate", "extrapolate_records"]


@dataclass(frozen=True)
class Extrapolation:
    """Result of the fit ε(N) = ε∞ + c/N.

    Parameters
    ----------
    value : float
        ε∞, the N → ∞ limit, to compare with the replica prediction (THEORY.md §3).
    stderr : float
        Standard error of ``value``.
    slope : float
        c, the finite-size coefficient; the bias at size N is c/N.
    slope_stderr : float
        Standard error of ``slope``.
    chi2 : float
        Weighted residual sum of squares; about len(N) − 2 when the 1/N model fits.

    Examples
    --------
    >>> from solvers import extrapolate
    >>> ex = extrapolate([250, 500, 1000], [0.31, 0.305, 0.3025], [0.001, 0.001, 0.001])
    >>> round(ex.value, 6), round(ex.slope, 6)
    (0.3, 2.5)
    """

    value: float
    stderr: float
    slope: float
    slope_stderr: float
    chi2: float


def extrapolate(n_features, means, stderrs) -> Extrapolation:
    """Extrapolate per-size means to N → ∞ by weighted least squares on [1, 1/N].

    The weights are 1/stderr². Standard errors are those implied by the given ones,
    sqrt(diag (XᵀWX)⁻¹), not rescaled by the fit's residuals: ``chi2`` tells whether the
    1/N model fits.

    Parameters
    ----------
    n_features : array_like of shape (n_sizes,)
        The sizes N, at least two distinct, all > 0.
    means : array_like of shape (n_sizes,)
        The observable's mean over seeds at each size.
    stderrs : array_like of shape (n_sizes,)
        Standard errors of ``means``, all > 0.

    Returns
    -------
    Extrapolation
        ε∞, c and their standard errors, and the fit's χ².

    Raises
    ------
    ValueError
        If the arrays differ in shape, have fewer than two distinct sizes, or contain
        non-positive sizes or standard errors.

    See Also
    --------
    extrapolate_records : the same fit, straight from :func:`simulate` records.

    Examples
    --------
    >>> from solvers import extrapolate
    >>> n = [250, 500, 1000, 2000]
    >>> ex = extrapolate(n, [0.3 + 2.0 / k for k in n], [0.004, 0.003, 0.002, 0.001])
    >>> round(ex.value, 9), round(ex.slope, 6), ex.stderr > 0
    (0.3, 2.0, True)
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
    """Extrapolate an observable of :func:`simulate` records to N → ∞ (ε(N) = ε∞ + c/N).

    Groups the records by ``n_features``, takes the mean and the seed standard error
    (std with ddof=1 / √n_seeds) of ``key`` at each N, and fits them with :func:`extrapolate`.

    Parameters
    ----------
    records : iterable of dict
        Simulation records, each with ``"n_features"`` and ``key``; at least two sizes,
        at least two seeds per size.
    key : str
        The observable, e.g. ``"eps2"``, ``"support1"`` or ``"R21"``.

    Returns
    -------
    Extrapolation
        The 1/N extrapolation of ``key``: ε∞ (``value``) with its standard error, the slope c.

    Raises
    ------
    ValueError
        If a size has fewer than two seeds, or there are fewer than two sizes.

    Examples
    --------
    >>> from solvers import extrapolate_records
    >>> records = [{"n_features": n, "eps2": 0.3 + 2.0 / n + d} for n in (250, 500, 1000) for d in (-0.01, 0.01)]
    >>> round(extrapolate_records(records, "eps2").value, 9)
    0.3
    """
    by_n: dict[int, list[float]] = {}
    for r in records:
        by_n.setdefault(int(r["n_features"]), []).append(float(r[key]))
    ns = sorted(by_n)
    if any(len(by_n[n]) < 2 for n in ns):
        raise ValueError("need at least two seeds per N for a standard error")
    means = [np.mean(by_n[n]) for n in ns]
    ses = [np.std(by_n[n], ddof=1) / np.sqrt(len(by_n[n])) for n in ns]
    return extrapolate(ns, means, ses)
