"""Closed-form Gaussian moments of the soft-threshold (the inner integrals of THEORY.md §4).

For h ~ N(mu, tau²) and threshold lam ≥ 0 (lam may be +inf):

    P  = P(|h| > lam)
    S1 = E[soft(h; lam)]
    S2 = E[soft(h; lam)²]

Any variable z jointly Gaussian with h then has, by Stein's identity,
E[z soft(h)] = E[z] S1 + Cov(z, h) P.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

_INV_SQRT_2PI = 0.3989422804014327


def _npdf(z):
    return _INV_SQRT_2PI * np.exp(-0.5 * z * z)


def soft(h, lam):
    """soft(h; lam) = sign(h) max(|h| - lam, 0)."""
    return np.sign(h) * np.maximum(np.abs(h) - lam, 0.0)


def soft_moments(mu, tau, lam):
    """Return (P, S1, S2) for h ~ N(mu, tau²), soft threshold lam (broadcasting; tau ≥ 0).

    tau = 0 gives the deterministic values; lam = inf gives zeros.
    """
    mu, tau, lam = np.asarray(mu, float), np.asarray(tau, float), np.asarray(lam, float)
    infinite = np.isinf(lam)
    any_inf = infinite.any()
    lam_f = np.where(infinite, 0.0, lam) if any_inf else lam
    t = np.maximum(tau, 1e-300)  # tau = 0 sends z to ±inf, where the formulas reduce to the point mass
    with np.errstate(over="ignore", invalid="ignore"):
        dp, dm = mu - lam_f, -mu - lam_f  # mean excess over the threshold, upper and lower side
        zp, zm = dp / t, dm / t
        Qp, Qm = ndtr(zp), ndtr(zm)
        fp, fm = t * _npdf(zp), t * _npdf(zm)
        t2 = t * t
        P = Qp + Qm
        S1 = (fp + dp * Qp) - (fm + dm * Qm)
        S2 = (dp * dp + t2) * Qp + dp * fp + (dm * dm + t2) * Qm + dm * fm
    zero = tau <= 0
    if zero.any():
        s = soft(mu, lam_f)
        P = np.where(zero, (np.abs(mu) > lam_f).astype(float), P)
        S1 = np.where(zero, s, S1)
        S2 = np.where(zero, s * s, S2)
    if any_inf:
        P, S1, S2 = (np.where(infinite, 0.0, v) for v in (P, S1, S2))
    return P, S1, S2
