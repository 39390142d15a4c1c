"""Data model (THEORY.md §1) and hyperparameters (THEORY.md §2), with validation.

A :class:`Setting` holds K datasets (sample ratios ``alphas``, noise levels
``sigmas``), which of them enter pretraining, and the prior of the true vectors:
a mixture of K-variate Gaussians ``sum_c weights[c] N(means[c], covs[c])``.
Dataset 0 is the target (dataset 1 in THEORY.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from types import MappingProxyType

import numpy as np

from .covariance import Covariance

__all__ = ["Setting", "Hyperparameters", "PAPER_PRIOR"]

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
    """Hyperparameters of the two-stage estimator (THEORY.md §2).

    Stage 1 is the Lasso with penalty ``lam1`` on the pretraining data; stage 2 fits
    x2 = argmin ½||y − A(κ x1 + x)||² + Σ_i (λ2 + Δλ·1[x1_i = 0]) |x_i| on the target, and the
    estimator is κ x1 + x2.

    Parameters
    ----------
    lam1 : float
        λ1 ≥ 0, finite: the stage-1 penalty.
    lam2 : float
        λ2 ≥ 0, finite: the stage-2 penalty on supp x1.
    kappa : float, default 0.0
        κ, any finite real: how much of the values of x1 is transferred.
    delta_lam : float, default 0.0
        Δλ ∈ [0, ∞]: the extra penalty off supp x1 (support transfer); ∞ forbids corrections
        off supp x1.

    Raises
    ------
    ValueError
        If a value is NaN, negative (``lam1``, ``lam2``, ``delta_lam``), infinite (all but
        ``delta_lam``) or not a number.

    Examples
    --------
    >>> import math
    >>> from replica import Hyperparameters
    >>> Hyperparameters(0.5, 0.1, kappa=1.0, delta_lam=math.inf).as_dict()
    {'lam1': 0.5, 'lam2': 0.1, 'kappa': 1.0, 'delta_lam': inf}
    >>> Hyperparameters(-1.0, 0.1)
    Traceback (most recent call last):
    ...
    ValueError: lam1 must be >= 0, got -1.0
    """

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
        """``{"lam1", "lam2", "kappa", "delta_lam"}`` as floats."""
        return {"lam1": self.lam1, "lam2": self.lam2, "kappa": self.kappa, "delta_lam": self.delta_lam}


@dataclass(frozen=True, eq=False)
class Setting:
    """K datasets and a Gaussian-mixture prior on (r^(1), ..., r^(K)) (THEORY.md §1).

    Dataset k has M_k = α_k N samples y^(k) = A^(k) r^(k) + e^(k) with noise N(0, σ_k²); the
    coordinates of the true vectors are i.i.d. draws from Σ_c w_c N(μ_c, Σ_c). The arrays are
    validated, converted to read-only float (bool for ``pretrain``) arrays and stored under the
    same names. Settings compare and hash by identity (caches key on them).

    Parameters
    ----------
    alphas : array_like, shape (K,)
        Sample ratios M_k / N; ``alphas[0]`` is the target and must be > 0. A source with alpha 0
        carries no data.
    sigmas : array_like, shape (K,)
        Noise standard deviations σ_k ≥ 0.
    pretrain : array_like of bool, shape (K,)
        Which datasets enter stage 1 (the set P); at least one with alpha > 0.
    weights : array_like, shape (C,)
        Mixture weights in [0, 1] summing to 1.
    means : array_like, shape (C, K)
        Component means μ_c.
    covs : array_like, shape (C, K, K)
        Component covariances Σ_c, symmetric positive semidefinite (may be singular).
    name : str, default "custom"
        A label (not compared).
    covariance : Covariance, optional
        The design covariance Σ: every dataset's rows are drawn from N(0, Σ/N) (THEORY.md §7). None
        (the default) is the i.i.d. design of THEORY.md §1; see :meth:`with_covariance`.

    Raises
    ------
    ValueError
        Naming the problem: wrong shapes, negative or non-finite values, weights not summing to 1,
        a covariance that is not symmetric positive semidefinite, no pretraining data.

    See Also
    --------
    two_task, similarity, single : the priors of THEORY.md §1.

    Examples
    --------
    >>> from replica import Setting
    >>> s = Setting([0.5, 1.5], [0.3, 0.3], [True, True], [0.1, 0.9], [[0, 0], [0, 0]],
    ...             [[[1, 1], [1, 1]], [[0, 0], [0, 0]]])
    >>> s.K, s.n_components, s.target_density
    (2, 2, 0.1)
    >>> s.second_moments.tolist()
    [[0.1, 0.1], [0.1, 0.1]]
    """

    alphas: np.ndarray
    sigmas: np.ndarray
    pretrain: np.ndarray
    weights: np.ndarray
    means: np.ndarray
    covs: np.ndarray
    name: str = field(default="custom", compare=False)
    covariance: Covariance | None = field(default=None, compare=False)

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
        if self.covariance is not None and not isinstance(self.covariance, Covariance):
            raise ValueError(
                f"covariance must be a replica.covariance.Covariance or None, got {type(self.covariance).__name__}"
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
        """Number of datasets."""
        return self.alphas.size

    @property
    def n_components(self) -> int:
        """Number of mixture components C."""
        return self.weights.size

    @property
    def pretrain_on_target(self) -> bool:
        """Whether the target (dataset 0) is in the pretraining set P."""
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
        """The same setting with sample ratios ``alphas``.

        Parameters
        ----------
        alphas : array_like of shape (K,)
            New sample ratios α_k = M_k / N, one per dataset (validated as in :class:`Setting`).
        """
        return replace(self, alphas=alphas)

    def with_sigmas(self, sigmas) -> Setting:
        """The same setting with noise levels ``sigmas``.

        Parameters
        ----------
        sigmas : array_like of shape (K,)
            New noise standard deviations σ_k, one per dataset (validated as in :class:`Setting`).
        """
        return replace(self, sigmas=sigmas)

    def with_covariance(self, Sigma, draws: int | None = None, seed: int | None = None) -> Setting:
        """The same setting with every dataset's design rows drawn from N(0, Σ/N) (THEORY.md §7).

        Parameters
        ----------
        Sigma : array_like of shape (N, N), Covariance or None
            An (N, N) symmetric positive-definite array with unit diagonal
            (:meth:`Covariance.dense <replica.covariance.Covariance.dense>`), a
            :class:`~replica.covariance.Covariance` (e.g. a design's empirical correlation matrix,
            :meth:`Covariance.empirical <replica.covariance.Covariance.empirical>`), or None for the
            i.i.d. design of THEORY.md §1 (exactly this setting's i.i.d. counterpart).
        draws : int, optional
            Draws over which ``predict`` averages the effective problems (default: the covariance's,
            max(8, ⌈2¹⁵/N⌉) for a new one).
        seed : int, optional
            Seed of those draws (default: the covariance's, 0 for a new one).

        Returns
        -------
        Setting
            A new setting (settings compare by identity) with ``covariance`` set.

        Raises
        ------
        ValueError
            If Σ is not a valid correlation matrix (named: shape, NaN, symmetry, diagonal, definiteness).

        Examples
        --------
        >>> import numpy as np
        >>> from replica import Setting
        >>> s = Setting.two_task(0.5, 2.0, 0.3, 0.3, 0.1, 0.02, 0.02).with_covariance(np.eye(3))
        >>> s.covariance.N, s.with_covariance(None).covariance is None
        (3, True)
        >>> s.with_covariance(2 * np.eye(3))
        Traceback (most recent call last):
        ...
        ValueError: Sigma must have unit diagonal (a correlation matrix); max |Σ_ii - 1| = 1
        """
        if Sigma is None:
            cov = None
            if draws is not None or seed is not None:
                raise ValueError("draws and seed apply to a covariance; Sigma is None")
        elif isinstance(Sigma, Covariance):
            cov = Sigma if draws is None and seed is None else Sigma.with_sampling(draws, seed)
        else:
            cov = Covariance.dense(Sigma, draws=draws, seed=0 if seed is None else seed)
        return replace(self, covariance=cov)

    def as_dict(self) -> dict:
        """JSON-ready dict of the arrays (as lists) and the name; inverse of :meth:`from_dict`.

        A setting with a design covariance adds ``"covariance"``: its fingerprint (kind, N, draws, seed
        and a digest of Σ), which identifies it but does not hold Σ, so :meth:`from_dict` cannot restore it.
        """
        d = {
            "alphas": self.alphas.tolist(),
            "sigmas": self.sigmas.tolist(),
            "pretrain": self.pretrain.tolist(),
            "weights": self.weights.tolist(),
            "means": self.means.tolist(),
            "covs": self.covs.tolist(),
            "name": self.name,
        }
        if self.covariance is not None:
            d["covariance"] = self.covariance.fingerprint()
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Setting:
        """The Setting of an :meth:`as_dict` record.

        Parameters
        ----------
        d : dict
            A record written by :meth:`as_dict` (``name`` is optional).

        Raises
        ------
        ValueError
            If the record has a ``"covariance"`` fingerprint: Σ itself is not in the record.
        """
        if d.get("covariance") is not None:
            raise ValueError("the record names a design covariance (a fingerprint): pass Sigma to with_covariance")
        return cls(
            d["alphas"], d["sigmas"], d["pretrain"], d["weights"], d["means"], d["covs"], name=d.get("name", "custom")
        )

    def __repr__(self):
        cov = "" if self.covariance is None else f", covariance={self.covariance!r}"
        return (
            f"Setting(name={self.name!r}, alphas={self.alphas.tolist()}, sigmas={self.sigmas.tolist()}, "
            f"pretrain={self.pretrain.tolist()}, components={self.n_components}{cov})"
        )

    # ---- constructors -------------------------------------------------------------------
    @classmethod
    def single(cls, alpha: float, sigma: float, rho: float) -> Setting:
        """One dataset, Bernoulli–Gaussian prior: r = z ~ N(0,1) with probability ρ, else 0.

        Parameters
        ----------
        alpha : float
            Sample ratio M / N > 0.
        sigma : float
            Noise standard deviation.
        rho : float
            Density ρ ∈ [0, 1].

        Returns
        -------
        Setting

        Examples
        --------
        >>> from replica import Setting
        >>> Setting.single(0.5, 0.1, 0.2).weights.tolist()
        [0.2, 0.8]
        """
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
        ρ_t target-only, with ρ_u source-only, else zero.
        ``Setting.two_task(alpha_target, alpha_source, **PAPER_PRIOR)`` is the prior of the paper's
        figures (:data:`PAPER_PRIOR`).

        Parameters
        ----------
        alpha_target, alpha_source : float
            Sample ratios of target and source; ``alpha_source=0`` means no source data (stage 1
            is then the Lasso on the target alone).
        sigma_target, sigma_source : float
            Noise standard deviations.
        rho_shared, rho_target, rho_source : float
            ρ_s, ρ_t, ρ_u ≥ 0 with ρ_s + ρ_t + ρ_u ≤ 1.
        pretrain_on_target : bool, default True
            Whether stage 1 pools the target with the source (else: source only).

        Returns
        -------
        Setting
            K = 2 datasets, 4 zero-mean components (shared, target-only, source-only, zero).

        Examples
        --------
        >>> from replica import Setting
        >>> s = Setting.two_task(0.5, 1.5, 0.3, 0.3, 0.1, 0.05, 0.05)
        >>> s.weights.round(3).tolist(), round(s.target_density, 3)
        ([0.1, 0.05, 0.05, 0.8], 0.15)
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

        Parameters
        ----------
        alpha_target, alpha_source : float
            Sample ratios of target and source.
        sigma_target, sigma_source : float
            Noise standard deviations.
        rho : float
            Density ρ of each task, with ρ (2 − s) ≤ 1.
        shared_fraction : float
            s ∈ [0, 1].
        correlation : float, default 1.0
            c ∈ [−1, 1] between shared values.
        pretrain_on_target : bool, default True
            As in :meth:`two_task`.

        Returns
        -------
        Setting
            The four components of :meth:`two_task`, shared values with correlation c.

        Examples
        --------
        >>> from replica import Setting
        >>> s = Setting.similarity(0.8, 2.0, 0.1, 0.5, rho=0.1, shared_fraction=0.6, correlation=0.8)
        >>> s.weights.round(3).tolist(), s.covs[0].tolist()
        ([0.06, 0.04, 0.04, 0.86], [[1.0, 0.8], [0.8, 1.0]])
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


PAPER_PRIOR = MappingProxyType(
    {"sigma_target": 0.1, "sigma_source": 0.1, "rho_shared": 0.1, "rho_target": 0.02, "rho_source": 0.02}
)
"""The two-task prior of the paper's figures (docs/results_theory.md) without the sample ratios (read-only).

``Setting.two_task(alpha_target, alpha_source, **PAPER_PRIOR)``: noise σ = 0.1 in both tasks, a
fraction ρ_s = 0.1 of the features shared, ρ_t = ρ_u = 0.02 specific to the target and to the source.
"""
