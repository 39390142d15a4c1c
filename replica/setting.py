"""Data model (THEORY.md §1) and hyperparameters (THEORY.md §2), with validation.

A :class:`Setting` holds K datasets (sample ratios ``alphas``, noise levels
``sigmas``), which of them enter pretraining, and the prior of the true vectors:
a mixture of K-variate Gaussians ``sum_c weights[c] N(means[c], covs[c])``.
Dataset 0 is the target (dataset 1 in THEORY.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = ["Setting", "Hyperparameters"]

_WEIGHT_TOL = 1e-10
_PSD_TOL = 1e-12


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _check_nonneg(name: str, value: float, allow_inf: bool = False) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if math.isnan(value):
        raise ValueError(f"{name} is NaN")
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    if math.isinf(value) and not allow_inf:
        raise ValueError(f"{name} must be finite, got {value}")
    return value


@dataclass(frozen=True)
class Hyperparameters:
    """λ1, λ2 ≥ 0 finite; κ any finite real; Δλ ∈ [0, ∞] (∞ forbids corrections off supp x1)."""

    lam1: float
    lam2: float
    kappa: float = 0.0
    delta_lam: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "lam1", _check_nonneg("lam1", self.lam1))
        object.__setattr__(self, "lam2", _check_nonneg("lam2", self.lam2))
        object.__setattr__(self, "delta_lam", _check_nonneg("delta_lam", self.delta_lam, allow_inf=True))
        try:
            kappa = float(self.kappa)
        except (TypeError, ValueError):
            raise ValueError(f"kappa must be a real number, got {self.kappa!r}") from None
        if not math.isfinite(kappa):
            raise ValueError(f"kappa must be finite, got {kappa}")
        object.__setattr__(self, "kappa", kappa)

    def as_dict(self) -> dict:
        return {"lam1": self.lam1, "lam2": self.lam2, "kappa": self.kappa, "delta_lam": self.delta_lam}


@dataclass(frozen=True, eq=False)
class Setting:
    """K datasets and a Gaussian-mixture prior on (r^(1), ..., r^(K)) (THEORY.md §1).

    Parameters
    ----------
    alphas : (K,) sample ratios M_k / N; ``alphas[0]`` is the target and must be > 0.
        A source with alpha 0 carries no data.
    sigmas : (K,) noise standard deviations.
    pretrain : (K,) booleans, which datasets enter stage 1 (the set P).
    weights : (C,) mixture weights in [0, 1] summing to 1.
    means : (C, K) component means.
    covs : (C, K, K) component covariances, symmetric positive semidefinite (may be singular).
    """

    alphas: np.ndarray
    sigmas: np.ndarray
    pretrain: np.ndarray
    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray
    name: str = field(default="custom", compare=False)

    def __post_init__(self):
        alphas = np.atleast_1d(np.asarray(self.alphas, dtype=float))
        K = alphas.size
        if alphas.ndim != 1 or K < 1:
            raise ValueError("alphas must be a non-empty 1-D sequence")
        if not alphas[0] > 0:  # the target's own check first: one message for α = 0 and α < 0
            raise ValueError(f"alphas[0] (the target's alpha) must be > 0, got {alphas[0]}")
        for k, a in enumerate(alphas):
            _check_nonneg(f"alphas[{k}]", a)
        sigmas = np.atleast_1d(np.asarray(self.sigmas, dtype=float))
        if sigmas.shape != (K,):
            raise ValueError(f"sigmas must have shape ({K},) like alphas, got {sigmas.shape}")
        for k, s in enumerate(sigmas):
            _check_nonneg(f"sigmas[{k}]", s)
        pretrain = np.atleast_1d(np.asarray(self.pretrain, dtype=bool))
        if pretrain.shape != (K,):
            raise ValueError(f"pretrain must have shape ({K},) like alphas, got {pretrain.shape}")
        if not np.any(pretrain & (alphas > 0)):
            raise ValueError("no pretraining data: every dataset in pretrain has alpha 0")

        weights = np.atleast_1d(np.asarray(self.weights, dtype=float))
        C = weights.size
        if weights.ndim != 1 or C < 1:
            raise ValueError("weights must be a non-empty 1-D sequence")
        if np.any(np.isnan(weights)) or np.any(weights < 0) or np.any(weights > 1):
            raise ValueError(f"prior weights must lie in [0, 1], got {weights.tolist()}")
        if abs(weights.sum() - 1.0) > _WEIGHT_TOL:
            raise ValueError(f"prior weights must sum to 1, got sum {weights.sum()!r}")
        means = np.asarray(self.means, dtype=float)
        if means.shape != (C, K):
            raise ValueError(f"means must have shape ({C}, {K}) = (components, datasets), got {means.shape}")
        covs = np.asarray(self.covs, dtype=float)
        if covs.shape != (C, K, K):
            raise ValueError(f"covs must have shape ({C}, {K}, {K}), got {covs.shape}")
        if not (np.all(np.isfinite(means)) and np.all(np.isfinite(covs))):
            raise ValueError("prior means and covariances must be finite")
        for c in range(C):
            if not np.allclose(covs[c], covs[c].T, atol=1e-12):
                raise ValueError(f"covariance of component {c} is not symmetric")
            eig = np.linalg.eigvalsh(covs[c])
            if eig.min() < -_PSD_TOL * max(1.0, eig.max()):
                raise ValueError(
                    f"covariance of component {c} is not positive semidefinite (min eigenvalue {eig.min():.3g})"
                )
        for name, value in (
            ("alphas", alphas),
            ("sigmas", sigmas),
            ("pretrain", pretrain),
            ("weights", weights / weights.sum()),
            ("means", means),
            ("covs", covs),
        ):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    # ---- derived quantities -------------------------------------------------------------
    @property
    def K(self) -> int:
        return self.alphas.size

    @property
    def n_components(self) -> int:
        return self.weights.size

    @property
    def pretrain_on_target(self) -> bool:
        return bool(self.pretrain[0])

    @cached_property
    def second_moments(self) -> np.ndarray:
        """ρ_kl = E[r^(k) r^(l)] (K×K)."""
        return _frozen(
            np.einsum("c,ckl->kl", self.weights, self.covs + self.means[:, :, None] * self.means[:, None, :])
        )

    @cached_property
    def target_null(self) -> np.ndarray:
        """Per component: True where r^(1) is identically zero (outside supp r^(1))."""
        return _frozen((self.means[:, 0] == 0) & (self.covs[:, 0, 0] == 0))

    @cached_property
    def target_density(self) -> float:
        """P(r^(1) ≠ 0)."""
        return float(self.weights[~self.target_null].sum())

    def with_alphas(self, alphas) -> Setting:
        return Setting(alphas, self.sigmas, self.pretrain, self.weights, self.means, self.covs, name=self.name)

    def with_sigmas(self, sigmas) -> Setting:
        return Setting(self.alphas, sigmas, self.pretrain, self.weights, self.means, self.covs, name=self.name)

    def as_dict(self) -> dict:
        return {
            "alphas": self.alphas.tolist(),
            "sigmas": self.sigmas.tolist(),
            "pretrain": self.pretrain.tolist(),
            "weights": self.weights.tolist(),
            "means": self.means.tolist(),
            "covs": self.covs.tolist(),
            "name": self.name,
        }

    @classmethod
    def from_dict(cls, d: dict) -> Setting:
        return cls(
            d["alphas"], d["sigmas"], d["pretrain"], d["weights"], d["means"], d["covs"], name=d.get("name", "custom")
        )

    def __repr__(self):
        return (
            f"Setting(name={self.name!r}, alphas={self.alphas.tolist()}, sigmas={self.sigmas.tolist()}, "
            f"pretrain={self.pretrain.tolist()}, components={self.n_components})"
        )

    # ---- constructors -------------------------------------------------------------------
    @classmethod
    def single(cls, alpha: float, sigma: float, rho: float) -> Setting:
        """One dataset, Bernoulli–Gaussian prior: r = z ~ N(0,1) with probability ρ, else 0."""
        rho = _check_nonneg("rho", rho)
        if rho > 1:
            raise ValueError(f"rho must be <= 1, got {rho}")
        return cls([alpha], [sigma], [True], [rho, 1 - rho], [[0.0], [0.0]], [[[1.0]], [[0.0]]], name="single")

    @classmethod
    def two_task(
        cls,
        alpha_target: float,
        alpha_source: float,
        sigma_target: float,
        sigma_source: float,
        rho_shared: float,
        rho_target: float,
        rho_source: float,
        pretrain_on_target: bool = True,
    ) -> Setting:
        """Canonical two-task prior (THEORY.md §1).

        With probability ρ_s a coordinate is shared (r^(1) = r^(2) = z ~ N(0,1)), with
        ρ_t target-only, with ρ_u source-only, else zero. ``alpha_source=0`` means no
        source data: stage 1 is then the Lasso on the target alone.
        """
        rs = _check_nonneg("rho_shared", rho_shared)
        rt = _check_nonneg("rho_target", rho_target)
        ru = _check_nonneg("rho_source", rho_source)
        if rs + rt + ru > 1 + _WEIGHT_TOL:
            raise ValueError(f"rho_shared + rho_target + rho_source must be <= 1, got {rs + rt + ru}")
        weights = [rs, rt, ru, max(0.0, 1 - rs - rt - ru)]
        covs = [[[1, 1], [1, 1]], [[1, 0], [0, 0]], [[0, 0], [0, 1]], [[0, 0], [0, 0]]]
        return cls(
            [alpha_target, alpha_source],
            [sigma_target, sigma_source],
            [pretrain_on_target, True],
            weights,
            np.zeros((4, 2)),
            covs,
            name="two_task",
        )

    @classmethod
    def similarity(
        cls,
        alpha_target: float,
        alpha_source: float,
        sigma_target: float,
        sigma_source: float,
        rho: float,
        shared_fraction: float,
        correlation: float = 1.0,
        pretrain_on_target: bool = True,
    ) -> Setting:
        """Similarity-controlled two-task prior (THEORY.md §1).

        Target and source each have density ρ; a fraction s of the target's nonzeros is
        shared with the source, and shared values have correlation c (unit variances).
        """
        rho = _check_nonneg("rho", rho)
        s = _check_nonneg("shared_fraction", shared_fraction)
        if s > 1:
            raise ValueError(f"shared_fraction must be <= 1, got {s}")
        c = float(correlation)
        if not (-1 <= c <= 1):
            raise ValueError(f"correlation must lie in [-1, 1], got {correlation}")
        if rho * (2 - s) > 1 + _WEIGHT_TOL:
            raise ValueError(f"rho * (2 - shared_fraction) must be <= 1, got {rho * (2 - s)}")
        weights = [rho * s, rho * (1 - s), rho * (1 - s), max(0.0, 1 - rho * (2 - s))]
        covs = [[[1, c], [c, 1]], [[1, 0], [0, 0]], [[0, 0], [0, 1]], [[0, 0], [0, 0]]]
        return cls(
            [alpha_target, alpha_source],
            [sigma_target, sigma_source],
            [pretrain_on_target, True],
            weights,
            np.zeros((4, 2)),
            covs,
            name="similarity",
        )
