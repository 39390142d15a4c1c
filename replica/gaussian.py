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
    mu, tau, lam = np.broadcast_arrays(np.asarray(mu, float), np.asarray(tau, float), np.asarray(lam, float))
    finite = np.isfinite(lam)
    lam_f = np.where(finite, lam, 0.0)
    t = np.maximum(tau, 1e-300)  # tau = 0 sends z to ±inf, where the formulas reduce to the point mass
    with np.errstate(over="ignore", invalid="ignore"):
        zp = (lam_f - mu) / t  # upper tail: h > lam
        zm = (lam_f + mu) / t  # lower tail: -h > lam
        Qp, Qm = ndtr(-zp), ndtr(-zm)
        fp, fm = t * _npdf(zp), t * _npdf(zm)
        dp, dm = mu - lam_f, -mu - lam_f  # mean excess over the threshold, each side
        E1p = fp + dp * Qp
        E1m = fm + dm * Qm
        E2p = (dp * dp + t * t) * Qp + dp * fp
        E2m = (dm * dm + t * t) * Qm + dm * fm
    zero = tau <= 0
    if np.any(zero):
        s = soft(mu, lam_f)
        E1p = np.where(zero, np.maximum(s, 0), E1p)
        E1m = np.where(zero, np.maximum(-s, 0), E1m)
        E2p = np.where(zero, s * s, E2p)
        E2m = np.where(zero, 0.0, E2m)
        Qp = np.where(zero, (mu > lam_f).astype(float), Qp)
        Qm = np.where(zero, (-mu > lam_f).astype(float), Qm)
    P = np.where(finite, Qp + Qm, 0.0)
    S1 = np.where(finite, E1p - E1m, 0.0)
    S2 = np.where(finite, E2p + E2m, 0.0)
    return P, S1, S2
