"""Stage 1 (pretraining Lasso): conjugates and closure of THEORY.md §3 "Stage 1".

Everything here is closed form: per mixture component c the field
h1 = Σ_k m̂1k r^(k) + ξ1 is Gaussian, so the soft-threshold moments are error functions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gaussian import soft_moments
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


def hats(setting: Setting, chi1: float) -> tuple[float, np.ndarray]:
    """Q̂1 = Σ_{k∈P} α_k/(1+χ1) and m̂1k = α_k/(1+χ1) for k ∈ P, else 0."""
    a = np.where(setting.pretrain, setting.alphas, 0.0)
    return float(a.sum() / (1 + chi1)), a / (1 + chi1)


def chi_hat(setting: Setting, chi1: float, Q1: float, m1: np.ndarray) -> float:
    """χ̂1 = Σ_{k∈P} α_k (ρ_kk − 2 m1k + Q1 + σ_k²) / (1+χ1)²."""
    rho = np.diag(setting.second_moments)
    a = np.where(setting.pretrain, setting.alphas, 0.0)
    return float(np.sum(a * (rho - 2 * m1 + Q1 + setting.sigmas ** 2)) / (1 + chi1) ** 2)


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
    return Stage1(chi1_new, Q1, m1, Q1_hat, m1_hat, chi1_hat, mean, std, cov_r_h1, P)
