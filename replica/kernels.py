"""Compiled fixed-point maps of both stages (THEORY.md §3, §4).

predict() evaluates the stage-2 map (on ~10³ quadrature nodes) and the stage-1 map a few times
per solve, with their Jacobians; in numpy each evaluation was dominated by call overhead, so each
map runs here as one numba function. The scalar Gaussian pieces are those of :mod:`replica.gaussian`
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


@_jit
def _breaks(z_lam0, z_lam1, c0, c1, tau, targets, narrow, panel, z_max, grading):
    """Breakpoints of one component's rule: ±λ1 and, for crossings narrower than ``narrow`` panels,
    the crossing and points at ±width·GRADING^j around it (:mod:`replica.quadrature`). A crossing
    just outside its piece still steepens the integrand inside it: those within 20 widths are kept."""
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
            out[n] = zk
            n += 1
            if abs(zk) < z_max:
                step = max(w, 1e-14)
                while step < panel:
                    out[n], out[n + 1] = zk + step, zk - step
                    n += 2
                    step *= grading
    return out[:n]


@njit(cache=True, inline="always")
def soft_moments_d(mu, tau, lam):
    """(P, S1, S2, ∂P/∂μ, ∂P/∂τ, ∂S1/∂τ) for one h ~ N(mu, tau²): the moments of
    :func:`replica.gaussian.soft_moments` and the derivatives not already among them (∂S1/∂μ = P,
    ∂S2/∂μ = 2 S1, ∂S2/∂τ = 2τP). The derivatives are zero where the moments are not
    differentiable (τ = 0) or vanish (lam = ∞). Inlined: unused outputs cost nothing."""
    if math.isinf(lam):
        return 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    if tau <= 0.0:
        s = math.copysign(max(abs(mu) - lam, 0.0), mu)
        return (1.0 if abs(mu) > lam else 0.0), s, s * s, 0.0, 0.0, 0.0
    dp, dm = mu - lam, -mu - lam
    zp, zm = dp / tau, dm / tau
    Qp, Qm = _ndtr(zp), _ndtr(zm)
    gp = _INV_SQRT_2PI * math.exp(-0.5 * zp * zp)
    gm = _INV_SQRT_2PI * math.exp(-0.5 * zm * zm)
    fp, fm = tau * gp, tau * gm
    t2 = tau * tau
    return (
        Qp + Qm,
        (fp + dp * Qp) - (fm + dm * Qm),
        (dp * dp + t2) * Qp + dp * fp + (dm * dm + t2) * Qm + dm * fm,
        (gp - gm) / tau,
        -(zp * gp + zm * gm) / tau,
        gp - gm,
    )


@njit(cache=True, inline="always")
def soft_moments_1(mu, tau, lam):
    """(P, S1, S2) of :func:`replica.gaussian.soft_moments` for one h ~ N(mu, tau²)."""
    P, S1, S2, _, _, _ = soft_moments_d(mu, tau, lam)
    return P, S1, S2


@_jit
def stage2_sums(
    a,
    s,
    mu1,
    g1,
    S11,
    nonnull,
    wc,
    tau,
    slope_u,
    cov_r1_u,
    cov_xi1_u,
    lam1,
    lam2,
    delta_lam,
    Q1_hat,
    chi1_hat,
    m2_hat,
    m21_hat,
    chi12_hat,
    gl_x,
    gl_w,
    narrow,
    panel,
    z_max,
    grading,
    deriv,
):
    """Node sums of the stage-2 closure, one Gauss–Legendre rule per mixture component.

    Returns (sums, d_sums): sums = [Σ P, Σ S1 E[ξ1|h1] + P Cov(ξ1,u|h1), Σ S2, Σ S1 E[r|h1] + P Cov(r,u|h1),
    Σ S1 x1, Σ P 1[r ≠ 0], Σ (1[x1 ≠ 0] or P)] with weights of N(0,1) × the mixture weight; if
    ``deriv``, d_sums[i, j] = ∂ sums[i]/∂θ_j for i < 5, θ = (m̂2, m̂21, χ̂2, χ̂12), else zeros. The
    breakpoints move with θ too, but the integrands are continuous there, so only the integrands count.
    """
    out = np.zeros(7)
    d_out = np.zeros((5, 4))
    outer_slope = s / Q1_hat
    n_gl = gl_x.size
    acc = np.zeros(6)
    # derivative accumulators: Σ Pμ{1, z, x1}, Σ Pτ, Σ P{z, x1, z², z x1, x1²}, Σ S1τ{1, z, x1}
    dacc = np.zeros(12)
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
        acc[:] = 0.0
        dacc[:] = 0.0
        for e in range(edges.size - 1):
            length = edges[e + 1] - edges[e]
            if length <= 0.0:
                continue
            n_sub = int(math.ceil(length / panel - 1e-12))
            h = length / n_sub
            for j in range(n_sub):
                left = edges[e] + h * j
                pP = pS1 = pS1z = pS2 = pS1x1 = pfin = 0.0
                d0 = d1 = d2 = d3 = d4 = d5 = d6 = d7 = d8 = d9 = d10 = d11 = 0.0
                for k in range(n_gl):
                    z = left + 0.5 * h * (gl_x[k] + 1.0)
                    wz = 0.5 * h * gl_w[k] * _INV_SQRT_2PI * math.exp(-0.5 * z * z)
                    h1 = a[c] + s[c] * z
                    out_ = abs(h1) > lam1
                    x1 = math.copysign(abs(h1) - lam1, h1) / Q1_hat if out_ else 0.0
                    lam_eff = lam2 if out_ else lam2 + delta_lam
                    mu = c0m + slope_u[c] * z + m21_hat * x1
                    if deriv:
                        P, S1, S2, P_mu, P_tau, S1_tau = soft_moments_d(mu, tau[c], lam_eff)
                        wPmu, wP, wS1tau = wz * P_mu, wz * P, wz * S1_tau
                        d0 += wPmu
                        d1 += wPmu * z
                        d2 += wPmu * x1
                        d3 += wz * P_tau
                        d4 += wP * z
                        d5 += wP * x1
                        d6 += wP * z * z
                        d7 += wP * z * x1
                        d8 += wP * x1 * x1
                        d9 += wS1tau
                        d10 += wS1tau * z
                        d11 += wS1tau * x1
                    else:
                        P, S1, S2 = soft_moments_1(mu, tau[c], lam_eff)
                    pP += wz * P
                    pS1 += wz * S1
                    pS1z += wz * S1 * z
                    pS2 += wz * S2
                    pS1x1 += wz * S1 * x1
                    pfin += wz if out_ else wz * P
                acc += np.array((pP, pS1, pS1z, pS2, pS1x1, pfin))
                if deriv:
                    dacc += np.array((d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11))
        w = 2.0 * wc[c] if sym else wc[c]
        sP, sS1, sS1z, sS2, sS1x = acc[0], acc[1], acc[2], acc[3], acc[4]
        out[0] += w * sP
        out[1] += w * ((chi1_hat / s[c]) * sS1z + sP * cov_xi1_u[c])  # E[ξ1 | h1] = χ̂1 z / s
        out[2] += w * sS2
        out[3] += w * (mu1[c] * sS1 + (g1[c] / s[c]) * sS1z + sP * cov_r1_u[c])  # E[r | h1] = μ + γ z / s
        out[4] += w * sS1x
        out[5] += w * sP * nonnull[c]
        out[6] += w * acc[5]
        if deriv:
            if sym:  # odd integrands integrate to zero over the whole line
                dacc[0] = dacc[4] = dacc[5] = dacc[9] = 0.0
            _sum_derivatives(
                d_out,
                dacc,
                w,
                sP,
                sS1,
                sS1z,
                sS1x,
                tau[c],
                s[c],
                mu1[c],
                g1[c],
                S11[c],
                cov_r1_u[c],
                cov_xi1_u[c],
                m2_hat,
                chi1_hat,
                chi12_hat,
            )
    return out, d_out


@njit(cache=True, inline="always")
def _sum_derivatives(
    d_out, dacc, w, sP, sS1, sS1z, sS1x, tau, s, mu1, g1, S11, cov_r1_u, cov_xi1_u, m2_hat, chi1_hat, chi12_hat
):
    """Add one component's ∂ sums/∂θ to d_out. Given h1, μ = m̂2 μ1 + (m̂2 γ + χ̂12) z/s + m̂21 x1 is
    the mean of h2 and τ² = m̂2² Σ11 + χ̂2 − (m̂2 γ + χ̂12)²/s² its variance (γ = Cov(r^(1), h1));
    dP = Pμ dμ + Pτ dτ, dS1 = P dμ + S1τ dτ, dS2 = 2 S1 dμ + 2τP dτ."""
    M0, Mz, Mx, T0, Pz, Px, Pzz, Pzx, Pxx, U0, Uz, Ux = (
        dacc[0],
        dacc[1],
        dacc[2],
        dacc[3],
        dacc[4],
        dacc[5],
        dacc[6],
        dacc[7],
        dacc[8],
        dacc[9],
        dacc[10],
        dacc[11],
    )
    s2 = s * s
    cov_uh = m2_hat * g1 + chi12_hat
    inv_tau = 1.0 / tau if tau > 0.0 else 0.0
    for j in range(4):
        # dμ = b1 + bz z + bx x1, dτ = t, and the derivatives of the two conditional covariances
        if j == 0:  # m̂2
            b1, bz, bx, t = mu1, g1 / s, 0.0, cov_r1_u * inv_tau
            d_xi, d_r = -chi1_hat * g1 / s2, S11 - g1 * g1 / s2
        elif j == 1:  # m̂21
            b1, bz, bx, t, d_xi, d_r = 0.0, 0.0, 1.0, 0.0, 0.0, 0.0
        elif j == 2:  # χ̂2
            b1, bz, bx, t, d_xi, d_r = 0.0, 0.0, 0.0, 0.5 * inv_tau, 0.0, 0.0
        else:  # χ̂12
            b1, bz, bx, t = 0.0, 1.0 / s, 0.0, -cov_uh / s2 * inv_tau
            d_xi, d_r = 1.0 - chi1_hat / s2, -g1 / s2
        dP = M0 * b1 + Mz * bz + Mx * bx + T0 * t
        dS1 = sP * b1 + Pz * bz + Px * bx + U0 * t
        dS1z = Pz * b1 + Pzz * bz + Pzx * bx + Uz * t
        dS1x = Px * b1 + Pzx * bz + Pxx * bx + Ux * t
        dS2 = 2.0 * (sS1 * b1 + sS1z * bz + sS1x * bx) + 2.0 * tau * sP * t
        d_out[0, j] += w * dP
        d_out[1, j] += w * ((chi1_hat / s) * dS1z + d_xi * sP + cov_xi1_u * dP)
        d_out[2, j] += w * dS2
        d_out[3, j] += w * (mu1 * dS1 + (g1 / s) * dS1z + d_r * sP + cov_r1_u * dP)
        d_out[4, j] += w * dS1x


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
            mse[k] += weights[c] * (
                c0 * c0 + c1 * c1 + C2 / (Q_hat * Q_hat) - 2.0 * (c0 * C1 + c1 * s * P_in) / Q_hat + var_r
            )
    chi_new /= Q_hat
    chi_hat_new = (a @ mse + noise) / (1.0 + chi_new) ** 2
    return chi_new, chi_hat_new, mse


@_jit
def stage1_T(y, lam1, weights, means, mean_a, var_a, d_form, diag, gram, a, noise, A):
    """The stage-1 map in solver coordinates y = (log χ1, log χ̂1)."""
    chi1 = math.exp(min(max(y[0], -700.0), 700.0))
    chi1_hat = math.exp(min(max(y[1], -700.0), 700.0))
    chi_new, chi_hat_new, _ = stage1_map(
        chi1, chi1_hat, lam1, weights, means, mean_a, var_a, d_form, diag, gram, a, noise, A
    )
    out = np.empty(2)
    out[0], out[1] = math.log(max(chi_new, TINY)), math.log(max(chi_hat_new, TINY))
    return out


@_jit
def g2_coefficients(kappa, R21, chi1, chi2, cross):
    """(a_v, a_1, a_2): g2 = a_v v + a_1 ω1 + a_2 ω2 + a_v e, from the two forms of g2 in THEORY.md §3.

    Target in P: g2 = [(1−κ) y − ω2 + (κ − R21) g1]/(1+χ2), g1 = (y − ω1)/(1+χ1).
    Target not in P: g2 = (y − κ ω1 − ω2)/(1+χ2) (the same with (κ − R21)/(1+χ1) → κ).
    """
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
def stage2_inputs(y, alpha1, sigma1, rho11, m11, Q1, chi1, kappa, cross, chi1_hat):
    """(Q̂2, m̂2, m̂21, χ̂2, χ̂12) at solver coordinates y (see :func:`stage2_T`)."""
    chi2 = math.exp(min(max(y[0], -700.0), 700.0))
    chi2_hat = math.exp(min(max(y[1], -700.0), 700.0))
    R21 = y[2] * (1.0 + chi2) if cross else 0.0
    chi12_hat = y[3] * math.sqrt(chi1_hat * chi2_hat) if cross else 0.0
    Q2_hat, m2_hat, m21_hat, _, _ = conjugates(
        alpha1, sigma1, rho11, m11, Q1, chi1, kappa, cross, chi2, R21, 0.0, 0.0, 0.0
    )
    return Q2_hat, m2_hat, m21_hat, chi2_hat, chi12_hat


@_jit
def _stage2_outputs(y, sums, Q2_hat, chi12_hat, alpha1, sigma1, rho11, m11, Q1, chi1, kappa, cross, chi1_hat):
    """The new solver coordinates from the closure's sums (see :func:`stage2_T`)."""
    chi2_new = sums[0] / Q2_hat
    R21_new = (sums[1] / Q2_hat - chi12_hat * chi2_new) / chi1_hat if cross else 0.0
    _, _, _, chi2_hat_new, chi12_hat_new = conjugates(
        alpha1,
        sigma1,
        rho11,
        m11,
        Q1,
        chi1,
        kappa,
        cross,
        chi2_new,
        R21_new,
        sums[2] / Q2_hat**2,
        sums[3] / Q2_hat,
        sums[4] / Q2_hat,
    )
    out = np.empty(y.size)
    out[0], out[1] = math.log(max(chi2_new, TINY)), math.log(max(chi2_hat_new, TINY))
    if cross:
        out[2] = R21_new / (1.0 + chi2_new)
        out[3] = chi12_hat_new / math.sqrt(chi1_hat * max(chi2_hat_new, TINY))
    return out


@_jit
def stage2_T(
    y,
    alpha1,
    sigma1,
    rho11,
    m11,
    Q1,
    chi1,
    kappa,
    cross,
    chi1_hat,
    Q1_hat,
    lam1,
    lam2,
    delta_lam,
    a,
    s,
    mu1,
    S11,
    g1,
    nonnull,
    wc,
    gl_x,
    gl_w,
    narrow,
    panel,
    z_max,
    grading,
    jacobian,
):
    """The stage-2 map in solver coordinates y = (log χ2, log χ̂2[, R21/(1+χ2), χ̂12/√(χ̂1 χ̂2)])
    (:func:`replica.prediction._stage2_map`): conjugates of y, closure, new conjugates.

    Returns (T(y), J, sums) with J = dT/dy if ``jacobian`` (else zeros) and the closure's sums at y.
    J is exact in the closure's sums (:func:`stage2_sums`' derivatives) and central differences of the
    cheap scalar maps around them, accurate to ~1e-9: plenty for Newton steps.
    """
    c = (alpha1, sigma1, rho11, m11, Q1, chi1, kappa, cross, chi1_hat)
    Q2_hat, m2_hat, m21_hat, chi2_hat, chi12_hat = stage2_inputs(y, *c)
    tau, slope_u, cov_r1_u, cov_xi1_u = conditional_fields(a, s, S11, g1, chi1_hat, m2_hat, chi2_hat, chi12_hat)
    sums, d_sums = stage2_sums(
        a,
        s,
        mu1,
        g1,
        S11,
        nonnull,
        wc,
        tau,
        slope_u,
        cov_r1_u,
        cov_xi1_u,
        lam1,
        lam2,
        delta_lam,
        Q1_hat,
        chi1_hat,
        m2_hat,
        m21_hat,
        chi12_hat,
        gl_x,
        gl_w,
        narrow,
        panel,
        z_max,
        grading,
        jacobian,
    )
    out = _stage2_outputs(y, sums, Q2_hat, chi12_hat, *c)
    n = y.size
    J = np.zeros((n, n))
    if jacobian:
        theta0 = np.array([m2_hat, m21_hat, chi2_hat, chi12_hat])
        h = 1e-6
        for i in range(n):
            col = np.zeros(n)
            for sign in (1.0, -1.0):
                yi = y.copy()
                yi[i] += sign * h
                Qh, m2h, m21h, c2h, c12h = stage2_inputs(yi, *c)
                lin = sums[:5] + d_sums @ (np.array([m2h, m21h, c2h, c12h]) - theta0)
                col += sign * _stage2_outputs(yi, lin, Qh, c12h, *c)
            J[:, i] = col / (2 * h)
    return out, J, sums


@_jit
def conditional_fields(a, s, S11, g1, chi1_hat, m2_hat, chi2_hat, chi12_hat):
    """Per component, given h1 = a + s z: std τ of u = m̂2 r^(1) + ξ2, its slope in z, and
    Cov(r^(1), u | h1), Cov(ξ1, u | h1)."""
    C = a.size
    tau, slope_u, cov_r1_u, cov_xi1_u = np.empty(C), np.empty(C), np.empty(C), np.empty(C)
    for c in range(C):
        s2 = s[c] * s[c]
        cov_uh = m2_hat * g1[c] + chi12_hat  # Cov(u, h1)
        tau[c] = math.sqrt(max(m2_hat * m2_hat * S11[c] + chi2_hat - cov_uh * cov_uh / s2, 0.0))
        cov_r1_u[c] = m2_hat * S11[c] - g1[c] * cov_uh / s2
        cov_xi1_u[c] = chi12_hat - chi1_hat * cov_uh / s2
        slope_u[c] = cov_uh / s[c]
    return tau, slope_u, cov_r1_u, cov_xi1_u


@_jit
def stage1_TJ(y, lam1, weights, means, mean_a, var_a, d_form, diag, gram, a, noise, A, jacobian):
    """(:func:`stage1_T`(y), its Jacobian by central differences if ``jacobian`` else zeros, nothing):
    the map is a handful of error functions, so four more evaluations are cheaper than carrying
    derivatives through it."""
    out = stage1_T(y, lam1, weights, means, mean_a, var_a, d_form, diag, gram, a, noise, A)
    J = np.zeros((2, 2))
    h = 1e-6
    for i in range(2 if jacobian else 0):
        yp, ym = y.copy(), y.copy()
        yp[i] += h
        ym[i] -= h
        J[:, i] = (
            stage1_T(yp, lam1, weights, means, mean_a, var_a, d_form, diag, gram, a, noise, A)
            - stage1_T(ym, lam1, weights, means, mean_a, var_a, d_form, diag, gram, a, noise, A)
        ) / (2 * h)
    return out, J, np.empty(0)


@_jit
def extrapolate(thetas, y1s, y2s, theta):
    """Warm-start predictor: (y1, y2) at θ from the polynomial through the rows of (y1s, y2s), taken at
    parameters ``thetas`` (most recent first). Uses the longest run of rows that lie one after another
    behind θ on the line through θ and the most recent row (a sweep); Lagrange extrapolation to θ."""
    step = theta - thetas[0]
    n2 = step @ step
    if n2 == 0.0:
        return y1s[0].copy(), y2s[0].copy()
    n_step = math.sqrt(n2)
    k, rows = 0, thetas.shape[0]
    t = np.empty(rows)
    while k < rows:
        d = thetas[k] - theta
        tk = (d @ step) / n_step
        if tk >= 0.0 or tk * tk < 0.999998 * (d @ d) or (k > 0 and tk > t[k - 1] - 1e-12 * n_step):
            break
        t[k] = tk
        k += 1
    y1, y2 = np.zeros(y1s.shape[1]), np.zeros(y2s.shape[1])
    for i in range(k):
        w = 1.0  # Π_{j≠i} t_j / (t_j − t_i)
        for j in range(k):
            if j != i:
                w *= t[j] / (t[j] - t[i])
        y1 += w * y1s[i]
        y2 += w * y2s[i]
    return y1, y2
