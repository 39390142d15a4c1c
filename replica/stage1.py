"""Stage 1 (pretraining Lasso): conjugates and closure of THEORY.md §3 "Stage 1".

Everything here is closed form: per mixture component c the field
h1 = Σ_k m̂1k r^(k) + ξ1 is Gaussian, so the soft-threshold moments are error functions.
With a_k = α_k 1[k ∈ P], m̂1 = a/(1+χ1): every quadratic form in m̂1 is a precomputed form in
a times 1/(1+χ1)², which :class:`Pretraining` exploits to keep the fixed-point map cheap.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from . import kernels
from .gaussian import soft_moments
from .setting import Setting


@dataclass(frozen=True, eq=False)
class Stage1:
    """A stage-1 state: order parameters, conjugates and per-component field statistics
    (compared and hashed by identity: caches key on it)."""

    chi1: float
    Q1: float
    m1: np.ndarray  # (K,) m1k = E[x1 r^(k)]
    Q1_hat: float
    m1_hat: np.ndarray  # (K,)
    chi1_hat: float
    h1_mean: np.ndarray  # (C,) per-component mean of h1
    h1_std: np.ndarray  # (C,) per-component std of h1
    cov_r_h1: np.ndarray  # (C, K) Cov(r^(k), h1) per component
    P1: np.ndarray  # (C,) P(x1 ≠ 0) per component
    lam1: float


class _Forms:
    """The λ1- and χ1-independent quadratic forms of one setting's stage 1 (see :class:`Pretraining`)."""

    def __init__(self, setting: Setting):
        a = np.where(setting.pretrain, setting.alphas, 0.0)
        self.a, self.A = a, float(a.sum())
        covs = setting.covs
        self.means = np.ascontiguousarray(setting.means, dtype=float)
        self.cov_a = covs @ a  # (C, K): Cov(r, h1)·(1+χ1)
        self.mean_a = self.means @ a  # (C,):  E[h1]·(1+χ1)
        self.var_a = self.cov_a @ a  # (C,):  m̂1ᵀΣm̂1·(1+χ1)²
        self.diag = np.ascontiguousarray(np.einsum("ckk->ck", covs))
        d = a[None, :] - self.A * np.eye(setting.K)  # rows: (a − A e_k)
        self.d_form = np.einsum("kj,cjl,l->ck", d, covs, a)  # (a − A e_k)ᵀ Σ a
        self.gram = self.diag * self.var_a[:, None] - self.cov_a**2  # Σ_kk aᵀΣa − (Σa)_k², ≥ 0
        self.noise = float(a @ setting.sigmas**2)


_FORMS: weakref.WeakKeyDictionary[Setting, _Forms] = weakref.WeakKeyDictionary()


class Pretraining:
    """The stage-1 problem of one (setting, λ1), with the χ1-independent pieces precomputed
    (once per setting: sweeps over λ1 and the optimizers create many problems per setting)."""

    def __init__(self, setting: Setting, lam1: float):
        self.setting, self.lam1 = setting, lam1
        f = _FORMS.get(setting)
        if f is None:
            f = _FORMS[setting] = _Forms(setting)
        self.a, self.A, self.cov_a, self.mean_a, self.var_a = f.a, f.A, f.cov_a, f.mean_a, f.var_a
        # the arguments of kernels.stage1_map / stage1_T after (χ1, χ̂1) / y
        self.kernel_args = (
            float(lam1),
            setting.weights,
            f.means,
            f.mean_a,
            f.var_a,
            f.d_form,
            f.diag,
            f.gram,
            f.a,
            f.noise,
            f.A,
        )

    def _fields(self, chi1, chi1_hat):
        q = 1.0 / (1.0 + chi1)
        mean = self.mean_a * q
        std = np.sqrt(np.maximum(self.var_a * q * q + chi1_hat, 0.0))
        return q, self.A * q, mean, std

    def map(self, chi1, chi1_hat):
        """The fixed-point map (χ1, χ̂1) → (χ1', χ̂1') of THEORY.md §3 Stage 1, without Q1 and m1."""
        chi1_new, chi1_hat_new, _ = kernels.stage1_map(float(chi1), float(chi1_hat), *self.kernel_args)
        return chi1_new, chi1_hat_new

    def state(self, chi1, chi1_hat) -> Stage1:
        """Closure χ1 = E[1{|h1|>λ1}]/Q̂1, Q1 = E[x1²], m1k = E[x1 r^(k)], x1 = soft(h1; λ1)/Q̂1."""
        q, Q_hat, mean, std = self._fields(chi1, chi1_hat)
        w = self.setting.weights
        P, S1, S2 = soft_moments(mean, std, self.lam1)
        cov_r_h1 = self.cov_a * q
        m1 = (w * S1) @ self.setting.means / Q_hat + (w * P) @ cov_r_h1 / Q_hat
        return Stage1(
            float(w @ P) / Q_hat,
            float(w @ S2) / Q_hat**2,
            m1,
            Q_hat,
            self.a * q,
            chi1_hat,
            mean,
            std,
            cov_r_h1,
            P,
            self.lam1,
        )

    def mse(self, s1: Stage1) -> np.ndarray:
        """E[(x1 − r^(k))²] for every k at the state ``s1`` (see :func:`mse`)."""
        chi1_in = self.A / s1.Q1_hat - 1.0  # the χ1 that s1's fields were computed at
        return kernels.stage1_map(chi1_in, float(s1.chi1_hat), *self.kernel_args)[2]


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
    return float(np.sum(a * (mse(setting, s1) + setting.sigmas**2)) / (1 + s1.chi1) ** 2)
