"""Compiled fixed-point maps of both stages (THEORY.md §3, §4).

A cold predict() evaluates the stage-1 map ~15 times and the stage-2 map ~20 times (on ~10³
quadrature nodes); in numpy each evaluation is dominated by call overhead, so each map runs
here as one numba function. The scalar Gaussian pieces are those of :mod:`replica.gaussian`
(soft threshold) plus the clipped moments of stage 1; tests hold both to mpmath.
Division by zero gives inf/NaN (numpy's error model): the root finders treat it as "undefined".
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit

_INV_SQRT_2PI = 0.3989422804014327
_INV_SQRT_2 = 0.7071067811865476


_jit = njit(cache=True, error_model="numpy")
TINY = 1e-300


@njit(cache=True, inline="always")
def _ndtr(x):
    return 0.5 * math.erfc(-x * _INV_SQRT_2)


@njit(cache=True, inline="always")
def soft_moments_1(mu, tau, lam):
    """(P, S1, S2) of :func:`replica.gaussian.soft_moments` for one h ~ N(mu, tau²)."""
    if math.isinf(lam):
        return 0.0, 0.0, 0.0
    if tau <= 0.0:
        s = math.copysign(max(abs(mu) - lam, 0.0), mu)
        return (1.0 if abs(mu) > lam else 0.0), s, s * s
    dp, dm = mu - lam, -mu - lam
    zp, zm = dp / tau, dm / tau
    Qp, Qm = _ndtr(zp), _ndtr(zm)
    fp = tau * _INV_SQRT_2PI * math.exp(-0.5 * zp * zp)
    fm = tau * _INV_SQRT_2PI * math.exp(-0.5 * zm * zm)
    t2 = tau * tau
    return (Qp + Qm, (fp + dp * Qp) - (fm + dm * Qm),
            (dp * dp + t2) * Qp + dp * fp + (dm * dm + t2) * Qm + dm * fm)


@_jit
def _breaks(z_lam0, z_lam1, c0, c1, tau, targets, narrow, panel, z_max, grading):
    """Breakpoints of one component's rule: ±λ1 and, for crossings narrower than ``narrow`` panels,
    the snapped crossing and its graded neighbours (:func:`replica.stage2._rule`)."""
    out = np.empty(2 + 6 * 2 * 64)
    out[0], out[1] = z_lam0, z_lam1
    n = 2
    lo = (-np.inf, z_lam0, z_lam1)
    hi = (z_lam0, z_lam1, np.inf)
    for piece in range(3):
        slope = c1[piece]
        if slope == 0.0:
            continue
        w = tau / abs(slope)
        if not w < narrow * panel:
            continue
        for side in range(2):
            zk = (targets[piece] * (1.0 - 2.0 * side) - c0[piece]) / slope
            if not (math.isfinite(zk) and zk > lo[piece] - 20 * w and zk < hi[piece] + 20 * w):
                continue
            # snapped so that the rule repeats along a solve (as in the numpy rule)
            ws = math.exp2(math.floor(math.log2(max(w, 1e-14))))
            zk = np.rint(zk * (16 / ws)) * (ws / 16)
            out[n] = zk
            n += 1
            if abs(zk) < z_max and ws < panel:
                step = ws
                while step < panel:
                    out[n], out[n + 1] = zk + step, zk - step
                    n += 2
                    step *= grading
    return out[:n]


@_jit
def stage2_sums(a, s, mu1, g1, nonnull, wc, tau, slope_u, cov_r1_u, cov_xi1_u,
                lam1, lam2, delta_lam, Q1_hat, chi1_hat, m2_hat, m21_hat,
                gl_x, gl_w, narrow, panel, z_max, grading):
    """Node sums of the stage-2 closure, one Gauss–Legendre rule per mixture component.

    Returns [Σ P, Σ S1 E[ξ1|h1] + P Cov(ξ1,u|h1), Σ S2, Σ S1 E[r|h1] + P Cov(r,u|h1), Σ S1 x1,
    Σ P 1[r ≠ 0], Σ (1[x1 ≠ 0] or P)] with weights of N(0,1) × the mixture weight.
    """
    out = np.zeros(7)
    outer_slope = s / Q1_hat
    n_gl = gl_x.size
    for c in range(a.size):
        z_lam0, z_lam1 = (-lam1 - a[c]) / s[c], (lam1 - a[c]) / s[c]
        c0m = m2_hat * mu1[c]
        c1_out = slope_u[c] + m21_hat * outer_slope[c]
        c0 = (c0m + m21_hat * (a[c] + lam1) / Q1_hat, c0m, c0m + m21_hat * (a[c] - lam1) / Q1_hat)
        c1 = (c1_out, slope_u[c], c1_out)
        targets = (lam2, lam2 + delta_lam, lam2)
        b = _breaks(z_lam0, z_lam1, c0, c1, tau[c], targets, narrow, panel, z_max, grading)
        # a zero-mean component has an even integrand (P, S2 even; S1 and the fields odd in z) and a
        # symmetric rule: integrate z ≥ 0 twice
        sym = a[c] == 0.0 and mu1[c] == 0.0
        z_lo = 0.0 if sym else -z_max
        b = b[(b > z_lo) & (b < z_max)]
        edges = np.empty(b.size + 2)
        edges[0], edges[1:-1], edges[-1] = z_lo, np.sort(b), z_max
        # Σ w P, Σ w S1, Σ w S1 z, Σ w S2, Σ w S1 x1, Σ w (1 or P); per-panel partial sums keep the
        # rounding of ~10³ terms at that of ~10² (the errors later lose digits to cancellation)
        acc = np.zeros(6)
        for e in range(edges.size - 1):
            length = edges[e + 1] - edges[e]
            if length <= 0.0:
                continue
            n_sub = int(math.ceil(length / panel - 1e-12))
            h = length / n_sub
            for j in range(n_sub):
                left = edges[e] + h * j
                pP = pS1 = pS1z = pS2 = pS1x1 = pfin = 0.0
                for k in range(n_gl):
                    z = left + 0.5 * h * (gl_x[k] + 1.0)
                    wz = 0.5 * h * gl_w[k] * _INV_SQRT_2PI * math.exp(-0.5 * z * z)
                    h1 = a[c] + s[c] * z
                    out_ = abs(h1) > lam1
                    x1 = math.copysign(abs(h1) - lam1, h1) / Q1_hat if out_ else 0.0
                    lam_eff = lam2 if out_ else lam2 + delta_lam
                    P, S1, S2 = soft_moments_1(c0m + slope_u[c] * z + m21_hat * x1, tau[c], lam_eff)
                    pP += wz * P
                    pS1 += wz * S1
                    pS1z += wz * S1 * z
                    pS2 += wz * S2
                    pS1x1 += wz * S1 * x1
                    pfin += wz if out_ else wz * P
                acc[0] += pP
                acc[1] += pS1
                acc[2] += pS1z
                acc[3] += pS2
                acc[4] += pS1x1
                acc[5] += pfin
        w = 2.0 * wc[c] if sym else wc[c]
        sP, sS1, sS1z = acc[0], acc[1], acc[2]
        out[0] += w * sP
        out[1] += w * ((chi1_hat / s[c]) * sS1z + sP * cov_xi1_u[c])      # E[ξ1 | h1] = χ̂1 z / s
        out[2] += w * acc[3]
        out[3] += w * (mu1[c] * sS1 + (g1[c] / s[c]) * sS1z + sP * cov_r1_u[c])   # E[r | h1] = μ + γ z / s
        out[4] += w * acc[4]
        out[5] += w * sP * nonnull[c]
        out[6] += w * acc[5]
    return out


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
    f_lo, f_hi = _INV_SQRT_2PI * math.exp(-0.5 * lo * lo), _INV_SQRT_2PI * math.exp(-0.5 * hi * hi)
    Ez = f_lo - f_hi
    Ez2 = P_in + lo * f_lo - hi * f_hi
    C1 = lam * (P_hi - P_lo) + mu * P_in + tau * Ez
    P_out = P_hi + P_lo
    C2 = lam * lam * P_out + mu * mu * P_in + 2 * mu * tau * Ez + tau * tau * Ez2
    return P_in, C1, C2, P_out


@_jit
def stage1_map(chi1, chi1_hat, lam1, weights, means, mean_a, var_a, d_form, diag, gram, a, noise, A):
    """(χ1', χ̂1', E[(x1 − r^(k))²] per k) of :meth:`replica.stage1.Pretraining.map`; the error is
    cancellation-free (see :func:`replica.stage1.mse`)."""
    q = 1.0 / (1.0 + chi1)
    Q_hat = A * q
    K = a.size
    chi_new = 0.0
    mse = np.zeros(K)
    for c in range(weights.size):
        mean = mean_a[c] * q
        s = math.sqrt(max(var_a[c] * q * q + chi1_hat, 0.0))
        P_in, C1, C2, P_out = clip_moments_1(mean, s, lam1)
        chi_new += weights[c] * P_out
        for k in range(K):
            c0 = mean / Q_hat - means[c, k]
            c1 = (d_form[c, k] * q * q + chi1_hat) / (Q_hat * s)
            var_r = (diag[c, k] * chi1_hat + gram[c, k] * q * q) / (s * s)
            mse[k] += weights[c] * (c0 * c0 + c1 * c1 + C2 / (Q_hat * Q_hat)
                                    - 2.0 * (c0 * C1 + c1 * s * P_in) / Q_hat + var_r)
    chi_new /= Q_hat
    chi_hat_new = (a @ mse + noise) / (1.0 + chi_new) ** 2
    return chi_new, chi_hat_new, mse


@_jit
def stage1_T(y, lam1, weights, means, mean_a, var_a, d_form, diag, gram, a, noise, A):
    """The stage-1 map in solver coordinates y = (log χ1, log χ̂1)."""
    chi1 = math.exp(min(max(y[0], -700.0), 700.0))
    chi1_hat = math.exp(min(max(y[1], -700.0), 700.0))
    chi_new, chi_hat_new, _ = stage1_map(chi1, chi1_hat, lam1, weights, means, mean_a, var_a, d_form, diag,
                                         gram, a, noise, A)
    out = np.empty(2)
    out[0], out[1] = math.log(max(chi_new, TINY)), math.log(max(chi_hat_new, TINY))
    return out


@_jit
def g2_coefficients(kappa, R21, chi1, chi2, cross):
    """(a_v, a_1, a_2): g2 = a_v v + a_1 ω1 + a_2 ω2 + a_v e (:func:`replica.stage2.g2_coefficients`)."""
    b = (kappa - R21) / (1.0 + chi1) if cross else kappa
    return (1.0 - kappa + b) / (1.0 + chi2), -b / (1.0 + chi2), -1.0 / (1.0 + chi2)


@_jit
def conjugates(alpha1, sigma1, rho11, m11, Q1, chi1, kappa, cross, chi2, R21, Q2, m2, Q12):
    """(Q̂2, m̂2, m̂21, χ̂2, χ̂12) of :func:`replica.stage2.conjugates`."""
    a0, a1, a2 = g2_coefficients(kappa, R21, chi1, chi2, cross)
    # a @ C @ a with C = [[ρ11, m11, m2], [m11, Q1, Q12], [m2, Q12, Q2]]
    Ca0 = rho11 * a0 + m11 * a1 + m2 * a2
    Ca1 = m11 * a0 + Q1 * a1 + Q12 * a2
    Ca2 = m2 * a0 + Q12 * a1 + Q2 * a2
    chi2_hat = alpha1 * (a0 * Ca0 + a1 * Ca1 + a2 * Ca2 + a0 * a0 * sigma1 * sigma1)
    chi12_hat = 0.0
    if cross:
        chi12_hat = alpha1 * ((Ca0 - Ca1) + a0 * sigma1 * sigma1) / (1.0 + chi1)
    return alpha1 / (1.0 + chi2), alpha1 * a0, alpha1 * a1, chi2_hat, chi12_hat


@_jit
def stage2_T(y, alpha1, sigma1, rho11, m11, Q1, chi1, kappa, cross, chi1_hat, Q1_hat, lam1, lam2, delta_lam,
             a, s, mu1, S11, g1, nonnull, wc, gl_x, gl_w, narrow, panel, z_max, grading):
    """The stage-2 map in solver coordinates y = (log χ2, log χ̂2[, R21/(1+χ2), χ̂12/√(χ̂1 χ̂2)])
    (:func:`replica.prediction._stage2_map`): conjugates of y, closure, new conjugates."""
    chi2 = math.exp(min(max(y[0], -700.0), 700.0))
    chi2_hat = math.exp(min(max(y[1], -700.0), 700.0))
    R21 = y[2] * (1.0 + chi2) if cross else 0.0
    chi12_hat = y[3] * math.sqrt(chi1_hat * chi2_hat) if cross else 0.0
    Q2_hat, m2_hat, m21_hat, _, _ = conjugates(alpha1, sigma1, rho11, m11, Q1, chi1, kappa, cross, chi2, R21,
                                               0.0, 0.0, 0.0)
    tau, slope_u, cov_r1_u, cov_xi1_u = conditional_fields(a, s, S11, g1, chi1_hat, m2_hat, chi2_hat, chi12_hat)
    sums = stage2_sums(a, s, mu1, g1, nonnull, wc, tau, slope_u, cov_r1_u, cov_xi1_u, lam1, lam2, delta_lam,
                       Q1_hat, chi1_hat, m2_hat, m21_hat, gl_x, gl_w, narrow, panel, z_max, grading)
    chi2_new = sums[0] / Q2_hat
    R21_new = (sums[1] / Q2_hat - chi12_hat * chi2_new) / chi1_hat if cross else 0.0
    _, _, _, chi2_hat_new, chi12_hat_new = conjugates(
        alpha1, sigma1, rho11, m11, Q1, chi1, kappa, cross, chi2_new, R21_new,
        sums[2] / Q2_hat ** 2, sums[3] / Q2_hat, sums[4] / Q2_hat)
    out = np.empty(y.size)
    out[0], out[1] = math.log(max(chi2_new, TINY)), math.log(max(chi2_hat_new, TINY))
    if cross:
        out[2] = R21_new / (1.0 + chi2_new)
        out[3] = chi12_hat_new / math.sqrt(chi1_hat * max(chi2_hat_new, TINY))
    return out


@_jit
def conditional_fields(a, s, S11, g1, chi1_hat, m2_hat, chi2_hat, chi12_hat):
    """Per component, given h1 = a + s z: std τ of u = m̂2 r^(1) + ξ2, its slope in z, and
    Cov(r^(1), u | h1), Cov(ξ1, u | h1)."""
    C = a.size
    tau, slope_u, cov_r1_u, cov_xi1_u = np.empty(C), np.empty(C), np.empty(C), np.empty(C)
    for c in range(C):
        s2 = s[c] * s[c]
        cov_uh = m2_hat * g1[c] + chi12_hat                    # Cov(u, h1)
        tau[c] = math.sqrt(max(m2_hat * m2_hat * S11[c] + chi2_hat - cov_uh * cov_uh / s2, 0.0))
        cov_r1_u[c] = m2_hat * S11[c] - g1[c] * cov_uh / s2
        cov_xi1_u[c] = chi12_hat - chi1_hat * cov_uh / s2
        slope_u[c] = cov_uh / s[c]
    return tau, slope_u, cov_r1_u, cov_xi1_u
