"""Stage 1 (pretraining Lasso): conjugates and closure of THEORY.md §3 "Stage 1".

Everything here is closed form: per mixture component c the field
h1 = Σ_k m̂1k r^(k) + ξ1 is Gaussian, so the soft-threshold moments are error functions.
With a_k = α_k 1[k ∈ P], m̂1 = a/(1+χ1): every quadratic form in m̂1 is a precomputed form in
a times 1/(1+χ1)², which :class:`Pretraining` exploits to keep the fixed-point map cheap.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from .gaussian import clip_moments_1, soft_moments
from .setting import Setting

TINY = 1e-300  # floor of χ, χ̂ before their logs (solver coordinates)
_jit = njit(cache=True, error_model="numpy")  # x/0 gives inf/NaN: the root finders treat it as "undefined"


class Stage1Params(NamedTuple):
    """What the compiled stage-1 map takes besides (χ1, χ̂1), one flat bundle: λ1, the mixture
    ``weights`` and ``means``, and the λ1- and χ1-independent forms of the setting (:class:`_Forms`),
    with a = α_k 1[k ∈ P], A = Σ a, and Σ, μ each component's covariance and mean of r.

    The compiled functions take it or the plain tuple of its fields (:attr:`Pretraining.packed`):
    numba types a plain tuple argument in C, a NamedTuple in Python (slower: benchmarks/bench_predict.md).
    """

    lam1: float
    weights: np.ndarray  # (C,)
    means: np.ndarray  # (C, K)
    mean_a: np.ndarray  # (C,) μᵀa
    var_a: np.ndarray  # (C,) aᵀΣa
    d_form: np.ndarray  # (C, K) (a − A e_k)ᵀ Σ a
    diag: np.ndarray  # (C, K) Σ_kk
    gram: np.ndarray  # (C, K) Σ_kk aᵀΣa − (Σa)_k²
    a: np.ndarray  # (K,)
    noise: float  # Σ a_k σ_k²
    A: float


@dataclass(frozen=True, eq=False, kw_only=True)
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
        # writable copies: a read-only array is another numba type, and each type compiles anew (~2 s)
        self.weights = np.array(setting.weights, dtype=float)
        self.means = np.array(setting.means, dtype=float)
        self.cov_a = covs @ a  # (C, K): Cov(r, h1)·(1+χ1)
        self.mean_a = self.means @ a  # (C,):  E[h1]·(1+χ1)
        self.var_a = self.cov_a @ a  # (C,):  m̂1ᵀΣm̂1·(1+χ1)²
        self.diag = np.array(np.einsum("ckk->ck", covs))
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
        self.params = Stage1Params(
            lam1=float(lam1),
            weights=f.weights,
            means=f.means,
            mean_a=f.mean_a,
            var_a=f.var_a,
            d_form=f.d_form,
            diag=f.diag,
            gram=f.gram,
            a=f.a,
            noise=f.noise,
            A=f.A,
        )
        self.packed = tuple(self.params)

    def _fields(self, chi1, chi1_hat):
        q = 1.0 / (1.0 + chi1)
        mean = self.mean_a * q
        std = np.sqrt(np.maximum(self.var_a * q * q + chi1_hat, 0.0))
        return q, self.A * q, mean, std

    def map(self, chi1, chi1_hat):
        """The fixed-point map (χ1, χ̂1) → (χ1', χ̂1') of THEORY.md §3 Stage 1, without Q1 and m1."""
        chi1_new, chi1_hat_new, _ = stage1_map(float(chi1), float(chi1_hat), self.packed)
        return chi1_new, chi1_hat_new

    def state(self, chi1, chi1_hat) -> Stage1:
        """Closure χ1 = E[1{|h1|>λ1}]/Q̂1, Q1 = E[x1²], m1k = E[x1 r^(k)], x1 = soft(h1; λ1)/Q̂1."""
        q, Q_hat, mean, std = self._fields(chi1, chi1_hat)
        w = self.setting.weights
        P, S1, S2 = soft_moments(mean, std, self.lam1)
        cov_r_h1 = self.cov_a * q
        m1 = (w * S1) @ self.setting.means / Q_hat + (w * P) @ cov_r_h1 / Q_hat
        return Stage1(
            chi1=float(w @ P) / Q_hat,
            Q1=float(w @ S2) / Q_hat**2,
            m1=m1,
            Q1_hat=Q_hat,
            m1_hat=self.a * q,
            chi1_hat=chi1_hat,
            h1_mean=mean,
            h1_std=std,
            cov_r_h1=cov_r_h1,
            P1=P,
            lam1=self.lam1,
        )

    def mse(self, s1: Stage1) -> np.ndarray:
        """E[(x1 − r^(k))²] for every k at the state ``s1`` (see :func:`mse`)."""
        chi1_in = self.A / s1.Q1_hat - 1.0  # the χ1 that s1's fields were computed at
        return stage1_map(chi1_in, float(s1.chi1_hat), self.packed)[2]


def closure(setting: Setting, lam1: float, chi1: float, chi1_hat: float) -> Stage1:
    """Closure χ1 = E[1{|h1|>λ1}]/Q̂1, Q1 = E[x1²], m1k = E[x1 r^(k)], x1 = soft(h1; λ1)/Q̂1."""
    return Pretraining(setting, lam1).state(chi1, chi1_hat)


def mse(setting: Setting, s1: Stage1) -> np.ndarray:
    """E[(x1 − r^(k))²] = ρ_kk − 2 m1k + Q1 for every k, free of cancellation.

    Per component, with h1 = a + s z and r_k = E[r_k | h1] + η (η independent of h1):
    x1 − E[r_k | h1] = (a/Q̂1 − μ_k) + z (s² − Q̂1 γ_k)/(Q̂1 s) − clip(h1; λ1)/Q̂1, γ = Cov(r, h1),
    and Var(r_k | h1) = (Σ_kk χ̂1 + m̂1ᵀ(Σ_kk Σ − Σe_k e_kᵀΣ) m̂1)/s². Every term is small when
    x1 ≈ r_k, so the error stays accurate down to the noiseless, λ1 → 0 limit. Cached per state
    (ε^(1st) and stage 2's conjugates both need it); read-only.
    """
    hit = _MSE.get(s1)
    if hit is None or hit[0] is not setting:
        value = Pretraining(setting, s1.lam1).mse(s1)
        value.setflags(write=False)
        hit = _MSE[s1] = (setting, value)
    return hit[1]


_MSE: weakref.WeakKeyDictionary[Stage1, tuple] = weakref.WeakKeyDictionary()


def chi_hat(setting: Setting, s1: Stage1) -> float:
    """χ̂1 = Σ_{k∈P} α_k (ρ_kk − 2 m1k + Q1 + σ_k²) / (1+χ1)², with ρ_kk − 2 m1k + Q1 from :func:`mse`."""
    a = np.where(setting.pretrain, setting.alphas, 0.0)
    return float(np.sum(a * (mse(setting, s1) + setting.sigmas**2)) / (1 + s1.chi1) ** 2)


# ---- the compiled map: predict() evaluates it (and its Jacobian) a few times per solve ----


@_jit
def stage1_map(chi1, chi1_hat, p):
    """(χ1', χ̂1', E[(x1 − r^(k))²] per k) of :meth:`Pretraining.map` (THEORY.md §3 Stage 1);
    the error is cancellation-free (see :func:`mse`)."""
    q = 1.0 / (1.0 + chi1)
    lam1, weights, means, mean_a, var_a, d_form, diag, gram, a, noise, A = p
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
def stage1_T(y, p):
    """The stage-1 map in solver coordinates y = (log χ1, log χ̂1), parameters ``p`` (:class:`Stage1Params`)."""
    chi1 = math.exp(min(max(y[0], -700.0), 700.0))
    chi1_hat = math.exp(min(max(y[1], -700.0), 700.0))
    chi_new, chi_hat_new, _ = stage1_map(chi1, chi1_hat, p)
    out = np.empty(2)
    out[0], out[1] = math.log(max(chi_new, TINY)), math.log(max(chi_hat_new, TINY))
    return out


@_jit
def stage1_TJ(y, p, jacobian):
    """(:func:`stage1_T`(y), its Jacobian by central differences if ``jacobian`` else zeros, nothing):
    the map is a handful of error functions, so four more evaluations are cheaper than carrying
    derivatives through it."""
    out = stage1_T(y, p)
    J = np.zeros((2, 2))
    h = 1e-6
    for i in range(2 if jacobian else 0):
        yp, ym = y.copy(), y.copy()
        yp[i] += h
        ym[i] -= h
        up, down = stage1_T(yp, p), stage1_T(ym, p)
        for r in range(2):  # not J[:, i] = ...: numba compiles a slice assignment's shape error (~2 s)
            J[r, i] = (up[r] - down[r]) / (2 * h)
    return out, J, np.empty(0)
