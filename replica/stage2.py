"""Stage 2 (fine-tuning Lasso): conjugates and closure of THEORY.md §3 "Stage 2".

Per mixture component, h1 ~ N(a, s²); given h1, u = m̂2 r^(1) + ξ2 is Gaussian with mean
linear in h1, and h2 = u + m̂21 x1(h1). The inner expectation over h2 is closed form
(:func:`replica.gaussian.soft_moments`); the outer one over h1 is a composite
Gauss–Legendre rule split at h1 = ±λ1 and at the crossings of ±λ2 (THEORY.md §4).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .gaussian import soft_moments
from .quadrature import N_NODES, graded_points, normal_rule
from .setting import Hyperparameters, Setting
from .stage1 import Stage1


@dataclass(frozen=True)
class Conjugates2:
    """Q̂2, m̂2, m̂21, χ̂2, χ̂12 of THEORY.md §3 Stage 2."""

    Q2_hat: float
    m2_hat: float
    m21_hat: float
    chi2_hat: float
    chi12_hat: float


@dataclass(frozen=True)
class Closure2:
    """Stage-2 order parameters and support statistics from one pass of the closure."""

    chi2: float
    Q2: float
    m2: float
    Q12: float
    R21: float
    E_xi1_x2: float
    support2: float
    tpr2: float
    fpr2: float
    support_final: float


def g2_coefficients(setting: Setting, hp: Hyperparameters, chi1: float, chi2: float, R21: float):
    """g2 = a_v v + a_1 ω1 + a_2 ω2 + a_e e, from the two forms of g2 in THEORY.md §3.

    Target in P: g2 = [(1−κ) y − ω2 + (κ − R21) g1]/(1+χ2), g1 = (y − ω1)/(1+χ1).
    Target not in P: g2 = (y − κ ω1 − ω2)/(1+χ2) (the same with (κ − R21)/(1+χ1) → κ).
    """
    b = (hp.kappa - R21) / (1 + chi1) if setting.pretrain_on_target else hp.kappa
    a_v = (1 - hp.kappa + b) / (1 + chi2)
    return np.array([a_v, -b / (1 + chi2), -1 / (1 + chi2)]), a_v


def conjugates(setting: Setting, hp: Hyperparameters, s1: Stage1,
               chi2: float, R21: float, Q2: float, m2: float, Q12: float) -> Conjugates2:
    """Q̂2 = α1/(1+χ2), m̂2 = α1 E[∂g2/∂v], m̂21 = α1 E[∂g2/∂ω1], χ̂2 = α1 E[g2²], χ̂12 = α1 E[g1 g2]."""
    alpha1, sigma1 = setting.alphas[0], setting.sigmas[0]
    rho11 = setting.second_moments[0, 0]
    m11 = s1.m1[0]
    C = np.array([[rho11, m11, m2], [m11, s1.Q1, Q12], [m2, Q12, Q2]])
    a, a_e = g2_coefficients(setting, hp, s1.chi1, chi2, R21)
    chi2_hat = alpha1 * (a @ C @ a + a_e ** 2 * sigma1 ** 2)
    chi12_hat = 0.0
    if setting.pretrain_on_target:
        c = np.array([1.0, -1.0, 0.0]) / (1 + s1.chi1)
        chi12_hat = alpha1 * (c @ C @ a + c[0] * a_e * sigma1 ** 2)
    return Conjugates2(alpha1 / (1 + chi2), alpha1 * a[0], alpha1 * a[1], float(chi2_hat), float(chi12_hat))


def _component_rule(a, s, lam1, Q1_hat, mean_u0, slope_u, tau, m21_hat, lam2, delta_lam, n_nodes):
    """Quadrature nodes in z (h1 = a + s z) for one component, split where the integrand is not smooth."""
    z_lam = np.array([(-lam1 - a) / s, (lam1 - a) / s])
    # h2's conditional mean is μ(z) = mean_u0 + slope_u z + m̂21 x1(z): linear on each piece of x1.
    kinks, widths = [], []
    pieces = [(-math.inf, z_lam[0], -1.0), (z_lam[0], z_lam[1], 0.0), (z_lam[1], math.inf, 1.0)]
    for lo, hi, sgn in pieces:
        lam_eff = lam2 + (delta_lam if sgn == 0.0 else 0.0)
        if not math.isfinite(lam_eff):
            continue
        # x1 = sgn (a + s z − sgn λ1)/Q̂1 on the outer pieces
        c0 = mean_u0 + (m21_hat * sgn * (a - sgn * lam1) / Q1_hat if sgn else 0.0)
        c1 = slope_u + (m21_hat * s / Q1_hat if sgn else 0.0)
        if c1 == 0.0:
            continue
        for target in (lam_eff, -lam_eff):
            zk = (target - c0) / c1
            if lo < zk < hi:
                kinks.append(zk)
                widths.append(tau / abs(c1))
    breaks = np.concatenate([z_lam, kinks, graded_points(np.array(kinks), np.array(widths))])
    return normal_rule(breaks, n_nodes)


def closure(setting: Setting, hp: Hyperparameters, s1: Stage1, conj: Conjugates2,
            n_nodes: int = N_NODES) -> Closure2:
    """One pass of the stage-2 closure (THEORY.md §3):

    χ2 = E[1{|h2| > λ2,i}]/Q̂2, Q2 = E[x2²], m2 = E[x2 r^(1)], Q12 = E[x1 x2],
    R21 = E[ξ1 x2]/χ̂1 − (χ̂12/χ̂1) χ2, with x2 = soft(h2; λ2 + Δλ·1[x1 = 0])/Q̂2.
    """
    lam1, lam2, dlam = hp.lam1, hp.lam2, hp.delta_lam
    Q1_hat, Q2_hat = s1.Q1_hat, conj.Q2_hat
    m2_hat, m21_hat = conj.m2_hat, conj.m21_hat
    chi1_hat, chi2_hat, chi12_hat = s1.chi1_hat, conj.chi2_hat, conj.chi12_hat
    acc = np.zeros(7)  # χ2·Q̂2, Q2·Q̂2², m2·Q̂2, Q12·Q̂2, E[ξ1 x2]·Q̂2, tp2, final support
    null = setting.target_null
    for c, w in enumerate(setting.weights):
        if w == 0.0:
            continue
        a, s = s1.h1_mean[c], s1.h1_std[c]
        mu1, S11 = setting.means[c, 0], setting.covs[c, 0, 0]
        g1 = s1.cov_r_h1[c, 0]                              # Cov(r^(1), h1)
        cov_uh = m2_hat * g1 + chi12_hat                    # Cov(u, h1)
        var_u = m2_hat ** 2 * S11 + chi2_hat
        tau = math.sqrt(max(var_u - cov_uh ** 2 / s ** 2, 0.0))
        z, wz = _component_rule(a, s, lam1, Q1_hat, m2_hat * mu1, cov_uh / s, tau, m21_hat, lam2, dlam, n_nodes)
        h1 = a + s * z
        out = np.abs(h1) > lam1
        x1 = np.where(out, np.sign(h1) * (np.abs(h1) - lam1), 0.0) / Q1_hat
        mean_h2 = m2_hat * mu1 + (cov_uh / s) * z + m21_hat * x1
        lam_eff = np.where(out, lam2, lam2 + dlam) if math.isfinite(dlam) else np.where(out, lam2, np.inf)
        P, S1, S2 = soft_moments(mean_h2, tau, lam_eff)
        E_r1 = mu1 + (g1 / s) * z
        cov_r1_u = m2_hat * S11 - g1 * cov_uh / s ** 2
        E_xi1 = (chi1_hat / s) * z
        cov_xi1_u = chi12_hat - chi1_hat * cov_uh / s ** 2
        wc = w * wz
        acc += np.array([
            wc @ P, wc @ S2, wc @ (E_r1 * S1) + cov_r1_u * (wc @ P), wc @ (x1 * S1),
            wc @ (E_xi1 * S1) + cov_xi1_u * (wc @ P),
            0.0 if null[c] else wc @ P,
            wc @ np.where(out, 1.0, P) if hp.kappa != 0 else wc @ P,
        ])
    chi2 = acc[0] / Q2_hat
    E_xi1_x2 = acc[4] / Q2_hat
    R21 = (E_xi1_x2 - chi12_hat * chi2) / chi1_hat if setting.pretrain_on_target else 0.0
    dens = setting.target_density
    fp2 = acc[0] - acc[5]
    return Closure2(chi2=chi2, Q2=acc[1] / Q2_hat ** 2, m2=acc[2] / Q2_hat, Q12=acc[3] / Q2_hat, R21=R21,
                    E_xi1_x2=E_xi1_x2, support2=acc[0],
                    tpr2=acc[5] / dens if dens > 0 else math.nan,
                    fpr2=fp2 / (1 - dens) if dens < 1 else math.nan,
                    support_final=acc[6])
