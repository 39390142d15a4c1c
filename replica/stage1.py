"""Stage 1 (pretraining Lasso): conjugates and closure of THEORY.md §3 "Stage 1".

Everything here is closed form: per mixture component c the field
h1 = Σ_k m̂1k r^(k) + ξ1 is Gaussian, so the soft-threshold moments are error functions.
With a_k = α_k 1[k ∈ P], m̂1 = a/(1+χ1): every quadratic form in m̂1 is a precomputed form in
a times 1/(1+χ1)², which :class:`Pretraining` exploits to keep the fixed-point map cheap.
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


class Pretraining:
    """The stage-1 problem of one (setting, λ1), with the χ1-independent pieces precomputed."""

    def __init__(self, setting: Setting, lam1: float):
        self.setting, self.lam1 = setting, lam1
        a = np.where(setting.pretrain, setting.alphas, 0.0)
        self.a, self.A = a, float(a.sum())
        covs, means = setting.covs, setting.means
        self.cov_a = covs @ a                                    # (C, K): Cov(r, h1)·(1+χ1)
        self.mean_a = means @ a                                  # (C,):  E[h1]·(1+χ1)
        self.var_a = self.cov_a @ a                              # (C,):  m̂1ᵀΣm̂1·(1+χ1)²
        diag = np.einsum("ckk->ck", covs)
        self.diag = diag
        d = a[None, :] - self.A * np.eye(setting.K)              # rows: (a − A e_k)
        self.d_form = np.einsum("kj,cjl,l->ck", d, covs, a)      # (a − A e_k)ᵀ Σ a
        self.gram = diag * self.var_a[:, None] - self.cov_a ** 2  # Σ_kk aᵀΣa − (Σa)_k², ≥ 0
        self.noise = a @ setting.sigmas ** 2

    def _fields(self, chi1, chi1_hat):
        q = 1.0 / (1.0 + chi1)
        mean = self.mean_a * q
        std = np.sqrt(np.maximum(self.var_a * q * q + chi1_hat, 0.0))
        return q, self.A * q, mean, std

    def _mse(self, q, Q_hat, mean, std, chi1_hat, P_in, C1, C2):
        """E[(x1 − r^(k))²] for every k, cancellation-free (see :func:`mse`)."""
        s = std[:, None]
        c0 = mean[:, None] / Q_hat - self.setting.means
        c1 = (self.d_form * q * q + chi1_hat) / (Q_hat * s)
        var_r = (self.diag * chi1_hat + self.gram * q * q) / s ** 2
        P_in, C1, C2 = P_in[:, None], C1[:, None], C2[:, None]
        per = c0 ** 2 + c1 ** 2 + C2 / Q_hat ** 2 - 2 * (c0 * C1 + c1 * s * P_in) / Q_hat + var_r
        return self.setting.weights @ per

    def map(self, chi1, chi1_hat):
        """The fixed-point map (χ1, χ̂1) → (χ1', χ̂1') of THEORY.md §3 Stage 1, without Q1 and m1."""
        q, Q_hat, mean, std = self._fields(chi1, chi1_hat)
        P_in, C1, C2, P_out = clip_moments(mean, std, self.lam1)
        chi1_new = float(self.setting.weights @ P_out) / Q_hat
        mse_k = self._mse(q, Q_hat, mean, std, chi1_hat, P_in, C1, C2)
        return chi1_new, float(self.a @ mse_k + self.noise) / (1 + chi1_new) ** 2

    def state(self, chi1, chi1_hat) -> Stage1:
        """Closure χ1 = E[1{|h1|>λ1}]/Q̂1, Q1 = E[x1²], m1k = E[x1 r^(k)], x1 = soft(h1; λ1)/Q̂1."""
        q, Q_hat, mean, std = self._fields(chi1, chi1_hat)
        w = self.setting.weights
        P, S1, S2 = soft_moments(mean, std, self.lam1)
        cov_r_h1 = self.cov_a * q
        m1 = (w * S1) @ self.setting.means / Q_hat + (w * P) @ cov_r_h1 / Q_hat
        return Stage1(float(w @ P) / Q_hat, float(w @ S2) / Q_hat ** 2, m1, Q_hat, self.a * q, chi1_hat,
                      mean, std, cov_r_h1, P, self.lam1)

    def mse(self, s1: Stage1) -> np.ndarray:
        q = s1.Q1_hat / self.A
        P_in, C1, C2, _ = clip_moments(s1.h1_mean, s1.h1_std, self.lam1)
        return self._mse(q, s1.Q1_hat, s1.h1_mean, s1.h1_std, s1.chi1_hat, P_in, C1, C2)


def closure(setting: Setting, lam1: float, chi1: float, chi1_hat: float) -> Stage1:
    """Closure χ1 = E[1{|h1|>λ1}]/Q̂1, Q1 = E[x1²], m1k = E[x1 r^(k)], x1 = soft(h1; λ1)/Q̂1."""
    return Pretraining(setting, lam1).state(chi1, chi1_hat)


def mse(setting: Setting, s1: Stage1) -> np.ndarray:
    """E[(x1 − r^(k))²] = ρ_kk − 2 m1k + Q1 for every k, free of cancellation.

    Per component, with h1 = a + s z and r_k = E[r_k | h1] + η (η independent of h1):
    x1 − E[r_k | h1] = (a/Q̂1 − μ_k) + z (s² − Q̂1 γ_k)/(Q̂1 s) − clip(h1; λ1)/Q̂1, γ = Cov(r, h1),
    and Var(r_k | h1) = (Σ_kk χ̂1 + m̂1ᵀ(Σ_kk Σ − Σe_k e_kᵀΣ) m̂1)/s². Every term is small when
    x1 ≈ r_k, so the error stays accurate down to the noiseless, λ1 → 0 limit.
    """
    return Pretraining(setting, s1.lam1).mse(s1)


def chi_hat(setting: Setting, s1: Stage1) -> float:
    """χ̂1 = Σ_{k∈P} α_k (ρ_kk − 2 m1k + Q1 + σ_k²) / (1+χ1)², with ρ_kk − 2 m1k + Q1 from :func:`mse`."""
    a = np.where(setting.pretrain, setting.alphas, 0.0)
    return float(np.sum(a * (mse(setting, s1) + setting.sigmas ** 2)) / (1 + s1.chi1) ** 2)
