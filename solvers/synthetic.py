"""Synthetic data of THEORY.md §1: true vectors from the Gaussian-mixture prior, Gaussian designs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from replica import Setting

__all__ = ["Problem", "draw_truth", "draw_problem"]


@dataclass(frozen=True)
class Problem:
    """One draw: ``truth`` (K, N) = r^(k); ``data[k]`` = (A^(k), y^(k)) or None where M_k = 0."""

    truth: np.ndarray
    data: list

    @property
    def target(self):
        return self.data[0]


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    """L with L Lᵀ = cov via eigen-decomposition (covariances may be singular; Cholesky would fail)."""
    vals, vecs = np.linalg.eigh(cov)
    return vecs * np.sqrt(np.clip(vals, 0.0, None))


def draw_truth(setting: Setting, n_features: int, rng: np.random.Generator) -> np.ndarray:
    """(r^(1)_i, …, r^(K)_i) i.i.d. over i from Σ_c w_c N(μ_c, Σ_c) (THEORY.md §1); shape (K, N).

    Zero-variance directions give exact values (e.g. exact zeros off the support).
    """
    comp = rng.choice(setting.n_components, size=n_features, p=setting.weights)
    z = rng.standard_normal((n_features, setting.K))
    roots = np.stack([_sqrt_psd(c) for c in setting.covs])
    r = setting.means[comp] + np.einsum("ikl,il->ik", roots[comp], z)
    # the eigen-square-root can leave ~1e-17 where a variance is exactly zero: make those exact
    exact = np.diagonal(setting.covs, axis1=1, axis2=2)[comp] == 0
    r = np.where(exact, setting.means[comp], r)
    return r.T.copy()


def draw_problem(setting: Setting, n_features: int, rng: np.random.Generator) -> Problem:
    """Truth, then for each dataset k a design with i.i.d. N(0, 1/N) entries and M_k = round(α_k N)
    rows and y^(k) = A^(k) r^(k) + N(0, σ_k²) noise (THEORY.md §1). Datasets with M_k = 0 are None."""
    if int(n_features) < 1:
        raise ValueError(f"n_features must be >= 1, got {n_features}")
    N = int(n_features)
    truth = draw_truth(setting, N, rng)
    data = []
    for k in range(setting.K):
        M = int(round(setting.alphas[k] * N))
        if M == 0:
            data.append(None)
            continue
        A = rng.standard_normal((M, N)) / np.sqrt(N)
        y = A @ truth[k] + setting.sigmas[k] * rng.standard_normal(M)
        data.append((A, y))
    return Problem(truth, data)
