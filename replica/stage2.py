"""Stage 2 (fine-tuning Lasso): conjugates and closure of THEORY.md §3 "Stage 2".

Per mixture component, h1 ~ N(a, s²); given h1, u = m̂2 r^(1) + ξ2 is Gaussian with mean
linear in h1, and h2 = u + m̂21 x1(h1). The inner expectation over h2 is closed form
(:func:`replica.gaussian.soft_moments`); the outer one over h1 is a composite
Gauss–Legendre rule split at h1 = ±λ1 and at the crossings of ±λ2 (THEORY.md §4), built and
summed in :func:`replica.kernels.stage2_sums`.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from . import kernels
from .quadrature import GRADING, N_NODES, PANEL, Z_MAX, leggauss
from .setting import Hyperparameters, Setting
from .stage1 import Stage1

NARROW = 0.5  # in panels; 0.25 still agrees with always-graded rules to 3e-14, 0.1 only to 2e-8


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


def conjugates(
    setting: Setting, hp: Hyperparameters, s1: Stage1, chi2: float, R21: float, Q2: float, m2: float, Q12: float
) -> Conjugates2:
    """Q̂2 = α1/(1+χ2), m̂2 = α1 E[∂g2/∂v], m̂21 = α1 E[∂g2/∂ω1], χ̂2 = α1 E[g2²], χ̂12 = α1 E[g1 g2]."""
    constants = _stage2_constants(setting, hp, s1)
    return Conjugates2(*kernels.conjugates(*constants, chi2, R21, Q2, m2, Q12))


def _stage2_constants(setting: Setting, hp: Hyperparameters, s1: Stage1) -> tuple:
    """(α1, σ1, ρ11, m11, Q1, χ1, κ, target in P): what the conjugates take from setting and stage 1."""
    return (
        float(setting.alphas[0]),
        float(setting.sigmas[0]),
        float(setting.second_moments[0, 0]),
        float(s1.m1[0]),
        float(s1.Q1),
        float(s1.chi1),
        hp.kappa,
        bool(setting.pretrain_on_target),
    )


_FIELDS: weakref.WeakKeyDictionary[Stage1, tuple] = weakref.WeakKeyDictionary()


def _component_fields(setting: Setting, s1: Stage1) -> tuple:
    """(w, a, s, μ1, Σ11, γ, 1[r ≠ 0]) of the live components: weights, mean and std of h1, mean and
    variance of r^(1), γ = Cov(r^(1), h1); cached per stage-1 state (warm sweeps keep it)."""
    hit = _FIELDS.get(s1)
    if hit is None:
        live = setting.weights > 0
        hit = _FIELDS[s1] = tuple(
            np.ascontiguousarray(v, dtype=float)
            for v in (
                setting.weights[live],
                s1.h1_mean[live],
                s1.h1_std[live],
                setting.means[live, 0],
                setting.covs[live, 0, 0],
                s1.cov_r_h1[live, 0],
                ~setting.target_null[live],
            )
        )
    return hit


class Static:
    """What the stage-2 closure needs that is fixed once stage 1 and the hyperparameters are:
    per-component field statistics (live components only)."""

    def __init__(self, setting: Setting, hp: Hyperparameters, s1: Stage1, n_nodes: int = N_NODES):
        self.setting, self.hp, self.s1, self.n_nodes = setting, hp, s1, n_nodes
        self.w, self.a, self.s, self.mu1, self.S11, self.g1, self.nonnull = _component_fields(setting, s1)
        self.gl_x, self.gl_w = leggauss(n_nodes)
        # the arguments of kernels.stage2_T after y
        self.map_args = (
            *_stage2_constants(setting, hp, s1),
            s1.chi1_hat,
            s1.Q1_hat,
            hp.lam1,
            hp.lam2,
            hp.delta_lam,
            self.a,
            self.s,
            self.mu1,
            self.S11,
            self.g1,
            self.nonnull,
            self.w,
            self.gl_x,
            self.gl_w,
            NARROW,
            PANEL,
            Z_MAX,
            GRADING,
        )


def closure(
    setting: Setting,
    hp: Hyperparameters,
    s1: Stage1,
    conj: Conjugates2,
    n_nodes: int = N_NODES,
    static: Static | None = None,
    sums: np.ndarray | None = None,
) -> Closure2:
    """One pass of the stage-2 closure (THEORY.md §3):

    χ2 = E[1{|h2| > λ2,i}]/Q̂2, Q2 = E[x2²], m2 = E[x2 r^(1)], Q12 = E[x1 x2],
    R21 = E[ξ1 x2]/χ̂1 − (χ̂12/χ̂1) χ2, with x2 = soft(h2; λ2 + Δλ·1[x1 = 0])/Q̂2.
    ``static``: a :class:`Static` of the same (setting, hp, s1), reused across a fixed-point solve;
    ``sums``: :func:`replica.kernels.stage2_sums` at ``conj`` when already computed.
    """
    st = static if static is not None else Static(setting, hp, s1, n_nodes)
    Q2_hat, m2_hat, m21_hat = conj.Q2_hat, conj.m2_hat, conj.m21_hat
    chi1_hat, chi2_hat, chi12_hat = s1.chi1_hat, conj.chi2_hat, conj.chi12_hat
    if sums is None:
        tau, slope_u, cov_r1_u, cov_xi1_u = kernels.conditional_fields(
            st.a, st.s, st.S11, st.g1, chi1_hat, m2_hat, chi2_hat, chi12_hat
        )
        sums, _ = kernels.stage2_sums(
            st.a,
            st.s,
            st.mu1,
            st.g1,
            st.S11,
            st.nonnull,
            st.w,
            tau,
            slope_u,
            cov_r1_u,
            cov_xi1_u,
            st.hp.lam1,
            st.hp.lam2,
            st.hp.delta_lam,
            st.s1.Q1_hat,
            chi1_hat,
            m2_hat,
            m21_hat,
            chi12_hat,
            st.gl_x,
            st.gl_w,
            NARROW,
            PANEL,
            Z_MAX,
            GRADING,
            False,
        )
    support2, xi1_x2, S2, r1_x2, x1_x2, tp2, support_final = sums.tolist()  # Python floats: faster below
    chi2 = support2 / Q2_hat
    E_xi1_x2 = xi1_x2 / Q2_hat
    R21 = (E_xi1_x2 - chi12_hat * chi2) / chi1_hat if setting.pretrain_on_target else 0.0
    dens = setting.target_density
    if hp.kappa == 0:
        support_final = support2
    return Closure2(
        chi2=chi2,
        Q2=S2 / Q2_hat**2,
        m2=r1_x2 / Q2_hat,
        Q12=x1_x2 / Q2_hat,
        R21=R21,
        E_xi1_x2=E_xi1_x2,
        support2=support2,
        tpr2=tp2 / dens if dens > 0 else 0.0,
        fpr2=(support2 - tp2) / (1 - dens) if dens < 1 else 0.0,
        support_final=support_final,
    )
