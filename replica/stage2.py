"""Stage 2 (fine-tuning Lasso): conjugates and closure of THEORY.md §3 "Stage 2".

Per mixture component, h1 ~ N(a, s²); given h1, u = m̂2 r^(1) + ξ2 is Gaussian with mean
linear in h1, and h2 = u + m̂21 x1(h1). The inner expectation over h2 is closed form
(:func:`replica.gaussian.soft_moments`); the outer one over h1 is a composite
Gauss–Legendre rule split at h1 = ±λ1 and at the crossings of ±λ2 (THEORY.md §4).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gaussian import soft_moments
from .quadrature import N_NODES, PANEL, graded_points, normal_rule

NARROW = 0.5  # in panels; 0.25 still agrees with always-graded rules to 3e-14, 0.1 only to 2e-8
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


class Static:
    """What the stage-2 closure needs that is fixed once stage 1 and the hyperparameters are:
    per-component field statistics and, per quadrature rule, the node arrays."""

    def __init__(self, setting: Setting, hp: Hyperparameters, s1: Stage1, n_nodes: int = N_NODES):
        self.setting, self.hp, self.s1, self.n_nodes = setting, hp, s1, n_nodes
        live = setting.weights > 0
        self.w = setting.weights[live]
        self.a, self.s = s1.h1_mean[live], s1.h1_std[live]
        self.mu1, self.S11 = setting.means[live, 0], setting.covs[live, 0, 0]
        self.g1 = s1.cov_r_h1[live, 0]                             # Cov(r^(1), h1)
        self.nonnull = ~setting.target_null[live]
        self.z_lam = np.stack([(-hp.lam1 - self.a) / self.s, (hp.lam1 - self.a) / self.s], axis=1)
        self.outer_slope = self.s / s1.Q1_hat                      # |d x1 / dz| on the outer pieces
        # pieces (h1 < −λ1, |h1| ≤ λ1, h1 > λ1): x1 = x1_const + outer_slope z on the outer ones
        sgn = np.array([-1.0, 0.0, 1.0])
        self.outer = sgn != 0
        self.x1_const = np.where(self.outer, (self.a[:, None] - sgn * hp.lam1) / s1.Q1_hat, 0.0)
        lam_eff = np.where(self.outer, hp.lam2, hp.lam2 + hp.delta_lam)
        self.targets = np.stack([lam_eff, -lam_eff])[:, None, :]    # (2, 1, 3): h2 = ±λ2,eff per piece
        C = self.a.size
        self.lo = np.stack([np.full(C, -np.inf), self.z_lam[:, 0], self.z_lam[:, 1]], axis=1)[None]
        self.hi = np.stack([self.z_lam[:, 0], self.z_lam[:, 1], np.full(C, np.inf)], axis=1)[None]
        self._nodes = {}

    def nodes(self, rule):
        """Per-node arrays of a rule (c, z, weight), cached: rules repeat along a solve."""
        key = id(rule[1])
        hit = self._nodes.get(key)
        if hit is not None and hit[0] is rule[1]:
            return hit[1]
        c, z, wz = rule
        hp, s1 = self.hp, self.s1
        h1 = self.a[c] + self.s[c] * z
        out = np.abs(h1) > hp.lam1
        x1 = np.where(out, np.sign(h1) * (np.abs(h1) - hp.lam1), 0.0) / s1.Q1_hat
        d = {"c": c, "z": z, "wz": wz * self.w[c], "x1": x1, "out": out,
             "lam_eff": np.where(out, hp.lam2, hp.lam2 + hp.delta_lam),
             "E_r1": self.mu1[c] + (self.g1 / self.s)[c] * z,       # E[r^(1) | h1]
             "E_xi1": (s1.chi1_hat / self.s)[c] * z,                # E[ξ1 | h1]
             "nonnull": self.nonnull[c]}
        if len(self._nodes) > 32:
            self._nodes.clear()
        self._nodes[key] = (rule[1], d)
        return d


def _rule(st: Static, mean_u0, slope_u, tau, m21_hat):
    """Quadrature nodes z (h1 = a + s z) for all components at once, split where the integrand is not smooth.

    Arguments are (C,) arrays, one entry per component. Returns (component index, z, weight) per node.
    """
    c1_out = slope_u + m21_hat * st.outer_slope
    # crossings smoothed over more than NARROW panels need no breakpoint: the base rule resolves them
    if np.all(tau >= NARROW * PANEL * np.maximum(np.abs(slope_u), np.abs(c1_out))):
        return normal_rule(st.z_lam, st.n_nodes)
    # h2's conditional mean is linear on each piece of x1: μ(z) = c0 + c1 z
    c0 = mean_u0[:, None] + m21_hat * st.x1_const                                   # (C, 3)
    c1 = np.where(st.outer, c1_out[:, None], slope_u[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        zk = (st.targets - c0) / c1                                                 # (2, C, 3)
        wk = np.broadcast_to(tau[:, None] / np.abs(c1), zk.shape)
    # a crossing just outside its piece still steepens the integrand inside it: keep those within 20 widths
    ok = np.isfinite(zk) & (zk > st.lo - 20 * wk) & (zk < st.hi + 20 * wk) & (wk < NARROW * PANEL)
    if not np.any(ok):
        return normal_rule(st.z_lam, st.n_nodes)
    C = zk.shape[1]
    zk = np.where(ok, zk, np.nan).transpose(1, 0, 2).reshape(C, 6)
    wk = np.where(ok, wk, np.inf).transpose(1, 0, 2).reshape(C, 6)
    # Snap widths to powers of 2 and crossings to 1/16 of that: a breakpoint w/32 off a transition of
    # width w costs no accuracy, and the rule (and its node arrays) then repeat along a solve.
    with np.errstate(divide="ignore"):
        wk = np.exp2(np.floor(np.log2(np.maximum(wk, 1e-14))))
    zk = np.round(zk * (16 / wk)) * (wk / 16)
    breaks = np.concatenate([st.z_lam, zk, graded_points(zk, wk)], axis=1)
    return normal_rule(breaks, st.n_nodes)


def closure(setting: Setting, hp: Hyperparameters, s1: Stage1, conj: Conjugates2,
            n_nodes: int = N_NODES, static: Static | None = None) -> Closure2:
    """One pass of the stage-2 closure (THEORY.md §3):

    χ2 = E[1{|h2| > λ2,i}]/Q̂2, Q2 = E[x2²], m2 = E[x2 r^(1)], Q12 = E[x1 x2],
    R21 = E[ξ1 x2]/χ̂1 − (χ̂12/χ̂1) χ2, with x2 = soft(h2; λ2 + Δλ·1[x1 = 0])/Q̂2.
    ``static``: a :class:`Static` of the same (setting, hp, s1), reused across a fixed-point solve.
    """
    st = static if static is not None else Static(setting, hp, s1, n_nodes)
    Q2_hat, m2_hat, m21_hat = conj.Q2_hat, conj.m2_hat, conj.m21_hat
    chi1_hat, chi2_hat, chi12_hat = s1.chi1_hat, conj.chi2_hat, conj.chi12_hat
    s2 = st.s * st.s
    cov_uh = m2_hat * st.g1 + chi12_hat                         # Cov(u, h1), u = m̂2 r^(1) + ξ2
    tau = np.sqrt(np.maximum(m2_hat ** 2 * st.S11 + chi2_hat - cov_uh ** 2 / s2, 0.0))
    cov_r1_u = m2_hat * st.S11 - st.g1 * cov_uh / s2            # Cov(r^(1), u | h1)
    cov_xi1_u = chi12_hat - chi1_hat * cov_uh / s2              # Cov(ξ1, u | h1)
    slope_u = cov_uh / st.s
    nd = st.nodes(_rule(st, m2_hat * st.mu1, slope_u, tau, m21_hat))
    c, wz, x1 = nd["c"], nd["wz"], nd["x1"]
    mean_h2 = (m2_hat * st.mu1)[c] + slope_u[c] * nd["z"] + m21_hat * x1
    P, S1, S2 = soft_moments(mean_h2, tau[c], nd["lam_eff"])
    wP, wS1 = wz * P, wz * S1
    support2 = wP.sum()
    chi2 = support2 / Q2_hat
    E_xi1_x2 = (wS1 @ nd["E_xi1"] + wP @ cov_xi1_u[c]) / Q2_hat
    R21 = (E_xi1_x2 - chi12_hat * chi2) / chi1_hat if setting.pretrain_on_target else 0.0
    tp2 = wP @ nd["nonnull"]
    dens = setting.target_density
    support_final = (wz @ np.where(nd["out"], 1.0, P)) if hp.kappa != 0 else support2
    return Closure2(chi2=chi2, Q2=(wz @ S2) / Q2_hat ** 2, m2=(wS1 @ nd["E_r1"] + wP @ cov_r1_u[c]) / Q2_hat,
                    Q12=(wS1 @ x1) / Q2_hat, R21=R21, E_xi1_x2=E_xi1_x2, support2=support2,
                    tpr2=tp2 / dens if dens > 0 else 0.0,
                    fpr2=(support2 - tp2) / (1 - dens) if dens < 1 else 0.0,
                    support_final=support_final)
