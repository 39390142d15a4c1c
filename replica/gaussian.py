"""Closed-form Gaussian moments of the soft-threshold (the inner integrals of THEORY.md §4).

For h ~ N(mu, tau²) and threshold lam ≥ 0 (lam may be +inf):

    P  = P(|h| > lam)
    S1 = E[soft(h; lam)]
    S2 = E[soft(h; lam)²]

Any variable z jointly Gaussian with h then has, by Stein's identity,
E[z soft(h)] = E[z] S1 + Cov(z, h) P.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from scipy.special import ndtr

INV_SQRT_2PI = 0.3989422804014327
_INV_SQRT_2 = 0.7071067811865476


def _npdf(z):
    return INV_SQRT_2PI * np.exp(-0.5 * z * z)


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


# ---- compiled scalar versions, inlined into the fixed-point maps of stage1.py / stage2.py ----


@njit(cache=True, inline="always")
def _ndtr(x):
    return 0.5 * math.erfc(-x * _INV_SQRT_2)


@njit(cache=True, inline="always")
def threshold_moments(mu, tau, lam):
    """(P, S1, S2, ∂P/∂μ, ∂P/∂τ, ∂S1/∂τ, P_in, C1, C2) for one h ~ N(mu, tau²), lam ≥ 0 or ∞.

    The soft moments of :func:`soft_moments`, their derivatives not already among them (∂S1/∂μ = P,
    ∂S2/∂μ = 2 S1, ∂S2/∂τ = 2τP; zero at τ = 0 and lam = ∞), and the
    clip moments P_in = P(|h| ≤ lam), C1 = E[clip(h)], C2 = E[clip(h)²] (clip(h) = h − soft(h; lam),
    see :func:`clip_moments_1`) from the same error functions. P_in = 1 − P is accurate to absolute
    rounding only, which is what the stage-2 sums that use it need (THEORY.md §3 "Stage 2").
    Inlined: unused outputs cost nothing.
    """
    if math.isinf(lam):  # soft(h) = 0, clip(h) = h
        return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, mu, mu * mu + tau * tau
    if tau <= 0.0:
        s = math.copysign(max(abs(mu) - lam, 0.0), mu)
        out = abs(mu) > lam
        return (1.0 if out else 0.0), s, s * s, 0.0, 0.0, 0.0, (0.0 if out else 1.0), mu - s, (mu - s) ** 2
    dp, dm = mu - lam, -mu - lam
    inv_tau = 1.0 / tau  # one division: this runs at every quadrature node
    zp, zm = dp * inv_tau, dm * inv_tau
    Qp, Qm = _ndtr(zp), _ndtr(zm)
    gp = INV_SQRT_2PI * math.exp(-0.5 * zp * zp)
    gm = INV_SQRT_2PI * math.exp(-0.5 * zm * zm)
    fp, fm = tau * gp, tau * gm
    t2 = tau * tau
    P = Qp + Qm
    P_in = 1.0 - P
    Ez = gm - gp  # E[z 1(|h| ≤ lam)], z = (h − mu)/tau
    Ez2 = P_in + zm * gm + zp * gp  # E[z² 1(|h| ≤ lam)]
    return (
        P,
        (fp + dp * Qp) - (fm + dm * Qm),
        (dp * dp + t2) * Qp + dp * fp + (dm * dm + t2) * Qm + dm * fm,
        (gp - gm) * inv_tau,
        -(zp * gp + zm * gm) * inv_tau,
        gp - gm,
        P_in,
        lam * (Qp - Qm) + mu * P_in + tau * Ez,
        lam * lam * P + mu * mu * P_in + 2.0 * mu * tau * Ez + t2 * Ez2,
    )


@njit(cache=True, inline="always")
def soft_moments_1(mu, tau, lam):
    """(P, S1, S2) of :func:`soft_moments` for one h ~ N(mu, tau²)."""
    P, S1, S2, _, _, _, _, _, _ = threshold_moments(mu, tau, lam)
    return P, S1, S2


@njit(cache=True, inline="always")
def clip_moments_1(mu, tau, lam):
    """(P(|h| ≤ lam), E[clip(h)], E[clip(h)²], P(|h| > lam)) for h ~ N(mu, tau²), tau > 0.

    clip(h) = h − soft(h; lam) is the projection on [−lam, lam]. Computed directly rather than as
    E[h] − S1, which cancels when the threshold is small against the spread of h; P(|h| > lam)
    comes from the tails so that it keeps its relative precision when small.
    """
    lo, hi = (-lam - mu) / tau, (lam - mu) / tau
    P_in = _ndtr(-lo) - _ndtr(-hi) if lo > 0 else _ndtr(hi) - _ndtr(lo)
    P_hi, P_lo = _ndtr(-hi), _ndtr(lo)
    f_lo, f_hi = INV_SQRT_2PI * math.exp(-0.5 * lo * lo), INV_SQRT_2PI * math.exp(-0.5 * hi * hi)
    Ez = f_lo - f_hi
    Ez2 = P_in + lo * f_lo - hi * f_hi
    C1 = lam * (P_hi - P_lo) + mu * P_in + tau * Ez
    P_out = P_hi + P_lo
    C2 = lam * lam * P_out + mu * mu * P_in + 2 * mu * tau * Ez + tau * tau * Ez2
    return P_in, C1, C2, P_out
