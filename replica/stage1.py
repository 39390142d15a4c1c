"""Stage 1 (pretraining Lasso): conjugates and closure of THEORY.md §3 "Stage 1".

Everything here is closed form: per mixture component c the field
h1 = Σ_k m̂1k r^(k) + ξ1 is Gaussian, so the soft-threshold moments are error functions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gaussian import clip_moments, soft_moments
from .setting import Setting


@dataclass(frozen=True)
class Stage1:
    """A stage-1 state: order parameters, conjugates and per-component field statistics."""

    chi1: float
    Q1: float
    m1: np.ndarray        # (K,) m1k = E[x1 r^(k)]
    Q1_hat: float
    m1_hat: np.ndarray    # (K,)
    chi1_hat: float
    h1_mean: np.ndarray   # (C,) per-component mean of h1
    h1_std: np.ndarray    # (C,) per-component std of h1
    cov_r_h1: np.ndarray  # (C, K) Cov(r^(k), h1) per component
    P1: np.ndarray        # (C,) P(x1 ≠ 0) per component
    lam1: float


def hats(setting: Setting, chi1: float) -> tuple[float, np.ndarray]:
    """Q̂1 = Σ_{k∈P} α_k/(1+χ1) and m̂1k = α_k/(1+χ1) for k ∈ P, else 0."""
    a = np.where(setting.pretrain, setting.alphas, 0.0)
    return float(a.sum() / (1 + chi1)), a / (1 + chi1)


def chi_hat(setting: Setting, s1: "Stage1") -> float:
    """χ̂1 = Σ_{k∈P} α_k (ρ_kk − 2 m1k + Q1 + σ_k²) / (1+χ1)², with ρ_kk − 2 m1k + Q1 from :func:`mse`."""
    a = np.where(setting.pretrain, setting.alphas, 0.0)
    return float(np.sum(a * (mse(setting, s1) + setting.sigmas ** 2)) / (1 + s1.chi1) ** 2)


def mse(setting: Setting, s1: "Stage1") -> np.ndarray:
    """E[(x1 − r^(k))²] = ρ_kk − 2 m1k + Q1 for every k, free of cancellation.

    Per component, with h1 = a + s z and r_k = E[r_k | h1] + η (η independent of h1):
    x1 − E[r_k | h1] = (a/Q̂1 − μ_k) + z (s² − Q̂1 γ_k)/(Q̂1 s) − clip(h1; λ1)/Q̂1, γ = Cov(r, h1),
    and Var(r_k | h1) = (Σ_kk χ̂1 + m̂1ᵀ(Σ_kk Σ − Σe_k e_kᵀΣ) m̂1)/s². Every term is small when
    x1 ≈ r_k, so the error stays accurate down to the noiseless, λ1 → 0 limit.
    """
    Q_hat, m_hat = s1.Q1_hat, s1.m1_hat
    a, s = s1.h1_mean[:, None], s1.h1_std[:, None]                   # (C, 1)
    covs, means = setting.covs, setting.means
    gamma = s1.cov_r_h1                                              # (C, K)
    diag = np.einsum("ckk->ck", covs)
    d = m_hat[None, None, :] - Q_hat * np.eye(setting.K)[None]       # rows: m̂1 − Q̂1 e_k
    s2_minus = np.einsum("ckj,cjl,l->ck", d, covs, m_hat) + s1.chi1_hat  # s² − Q̂1 γ_k
    gram = np.einsum("ck,cjl,j,l->ck", diag, covs, m_hat, m_hat) - np.einsum("ck,ck->ck", gamma, gamma)
    var_r = (diag * s1.chi1_hat + gram) / s ** 2
    c0 = a / Q_hat - means
    c1 = s2_minus / (Q_hat * s)
    P_in, C1, C2 = clip_moments(s1.h1_mean, s1.h1_std, s1.lam1)
    P_in, C1, C2 = P_in[:, None], C1[:, None], C2[:, None]
    Ez_clip = s * P_in                                               # Stein: E[z clip] = s P(|h1| ≤ λ1)
    per = c0 ** 2 + c1 ** 2 + C2 / Q_hat ** 2 - 2 * (c0 * C1 + c1 * Ez_clip) / Q_hat + var_r
    return setting.weights @ per


def closure(setting: Setting, lam1: float, chi1: float, chi1_hat: float) -> Stage1:
    """Closure χ1 = E[1{|h1|>λ1}]/Q̂1, Q1 = E[x1²], m1k = E[x1 r^(k)], x1 = soft(h1; λ1)/Q̂1."""
    Q1_hat, m1_hat = hats(setting, chi1)
    w = setting.weights
    cov_r_h1 = setting.covs @ m1_hat                      # (C, K)
    mean = setting.means @ m1_hat                          # (C,)
    std = np.sqrt(np.maximum(cov_r_h1 @ m1_hat + chi1_hat, 0.0))
    P, S1, S2 = soft_moments(mean, std, lam1)
    chi1_new = float(w @ P) / Q1_hat
    Q1 = float(w @ S2) / Q1_hat ** 2
    m1 = (w * S1) @ setting.means / Q1_hat + (w * P) @ cov_r_h1 / Q1_hat
    return Stage1(chi1_new, Q1, m1, Q1_hat, m1_hat, chi1_hat, mean, std, cov_r_h1, P, lam1)
