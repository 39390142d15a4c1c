"""Synthetic data of THEORY.md §1: true vectors from the Gaussian-mixture prior, Gaussian designs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from replica import Setting
from replica.covariance import Covariance, ar1, block, power_law, sparse_precision

__all__ = ["Problem", "draw_truth", "draw_problem", "design_covariances", "mnist_pixel_covariance"]


@dataclass(frozen=True)
class Problem:
    """One draw of the data of THEORY.md §1.

    Parameters
    ----------
    truth : ndarray of shape (K, N)
        The true vectors r^(k), one row per dataset (row 0 is the target).
    data : list of length K
        ``data[k]`` is the pair (A^(k), y^(k)) of design, shape (M_k, N), and response, shape
        (M_k,), or None where M_k = 0.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import Problem
    >>> prob = Problem(truth=np.zeros((2, 3)), data=[(np.eye(3), np.ones(3)), None])
    >>> prob.target[1], prob.data[1] is None
    (array([1., 1., 1.]), True)
    """

    truth: np.ndarray
    data: list

    @property
    def target(self):
        """The target's (A^(1), y^(1)), i.e. ``data[0]``."""
        return self.data[0]


def _sqrt_psd(cov: np.ndarray) -> np.ndarray:
    """L with L Lᵀ = cov via eigen-decomposition (covariances may be singular; Cholesky would fail)."""
    vals, vecs = np.linalg.eigh(cov)
    return vecs * np.sqrt(np.clip(vals, 0.0, None))


def draw_truth(setting: Setting, n_features: int, rng: np.random.Generator) -> np.ndarray:
    """Draw the true vectors: (r^(1)_i, …, r^(K)_i) i.i.d. over i from Σ_c w_c N(μ_c, Σ_c) (THEORY.md §1).

    Zero-variance directions give exact values (e.g. exact zeros off the support, identical
    values where a covariance is singular).

    Parameters
    ----------
    setting : replica.Setting
        The prior: mixture weights, means and covariances over the K datasets.
    n_features : int
        N, the number of coordinates drawn.
    rng : numpy.random.Generator
        The source of randomness.

    Returns
    -------
    ndarray of shape (K, N)
        Row k is r^(k+1); row 0 is the target's truth.

    Examples
    --------
    >>> import numpy as np
    >>> from replica import Setting
    >>> r = draw_truth(Setting.two_task(0.5, 1.5, 0.3, 0.3, 0.1, 0.05, 0.05), 10_000, np.random.default_rng(0))
    >>> shared = (r[0] != 0) & (r[1] != 0)  # the component of covariance [[1, 1], [1, 1]], ρ_s = 0.1
    >>> r.shape, bool(abs(shared.mean() - 0.1) < 0.01), bool(np.all(r[0, shared] == r[1, shared]))
    ((2, 10000), True, True)
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
    """Draw the truth, then every dataset's Gaussian design and noisy response (THEORY.md §1).

    Dataset k has M_k = round(α_k N) rows, a design with i.i.d. N(0, 1/N) entries and
    y^(k) = A^(k) r^(k) + N(0, σ_k²) noise. With a design covariance
    (:meth:`replica.Setting.with_covariance`) the rows are drawn from N(0, Σ/N) instead
    (:meth:`replica.covariance.Covariance.sample`).

    Parameters
    ----------
    setting : replica.Setting
        Sample ratios α_k, noise levels σ_k and the prior of the truth.
    n_features : int
        N, the number of features, ≥ 1.
    rng : numpy.random.Generator
        The source of randomness (the truth is drawn first, then the datasets in order).

    Returns
    -------
    Problem
        The truth and the datasets; ``data[k]`` is None where M_k = 0.

    Raises
    ------
    ValueError
        If ``n_features`` < 1, or differs from the dimension of the setting's design covariance.

    Examples
    --------
    >>> import numpy as np
    >>> from replica import Setting
    >>> from solvers import draw_problem
    >>> setting = Setting.two_task(0.5, 0.0, 0.3, 0.3, 0.1, 0.05, 0.05)
    >>> prob = draw_problem(setting, 200, np.random.default_rng(1))
    >>> A, y = prob.target
    >>> A.shape, y.shape, prob.data[1] is None
    ((100, 200), (100,), True)
    """
    if int(n_features) < 1:
        raise ValueError(f"n_features must be >= 1, got {n_features}")
    N = int(n_features)
    cov = setting.covariance
    if cov is not None and cov.N != N:
        raise ValueError(f"n_features = {N} does not match the dimension {cov.N} of the setting's design covariance")
    truth = draw_truth(setting, N, rng)
    data = []
    for k in range(setting.K):
        M = int(round(setting.alphas[k] * N))
        if M == 0:
            data.append(None)
            continue
        if cov is None:
            A = rng.standard_normal((M, N)) / np.sqrt(N)
        else:  # rows N(0, Σ/N) (THEORY.md §7)
            A = cov.sample(rng, M) / np.sqrt(N)
        y = A @ truth[k] + setting.sigmas[k] * rng.standard_normal(M)
        data.append((A, y))
    return Problem(truth, data)


def mnist_pixel_covariance(data_dir, min_images: int = 10, draws: int | None = None) -> Covariance:
    """The correlation matrix of MNIST's pixels (THEORY.md §7), as
    :meth:`replica.covariance.Covariance.empirical` of the 10,000 test images.

    Only pixels nonzero in at least ``min_images`` images are kept (N = 594 with the default 10).
    Of the 668 pixels with nonzero variance, the rarest are a few spikes once standardized, and pairs
    of them are exactly collinear (13 pairs with |correlation| > 0.99, 7 zero eigenvalues); from 10
    images on, the largest |correlation| is 0.91 and the smallest eigenvalue 0.016.

    Parameters
    ----------
    data_dir : path
        The data root of :func:`solvers.datasets.load_mnist`.
    min_images : int, default 10
        Keep the pixels nonzero in at least this many images.
    draws : int, optional
        Draws of the effective problems (default: the covariance's).

    Returns
    -------
    replica.covariance.Covariance
    """
    from ..datasets import load_mnist

    images, _ = load_mnist(data_dir)
    X = images.reshape(len(images), -1).astype(float)
    return Covariance.empirical(X[:, np.count_nonzero(X, axis=0) >= min_images], draws=draws)


def design_covariances(n_features: int, mnist_dir=None) -> dict:
    """The design covariances of the correlated-design validation (THEORY.md §7), by name.

    ``ar1_0.5``, ``ar1_0.8`` (Σ_ij = ρ^|i−j|), ``block_0.5`` (blocks of 10 equicorrelated features),
    ``power_law`` (eigenvalues ∝ 1/i in a random basis, unit diagonal), ``sparse_precision`` (Σ⁻¹ a
    random graph of mean degree 4, unit diagonal), and with ``mnist_dir`` ``mnist`` (MNIST's pixel
    correlations, :func:`mnist_pixel_covariance`, whose N = 594 is fixed by the data).

    Parameters
    ----------
    n_features : int
        N of the synthetic covariances.
    mnist_dir : path, optional
        MNIST data root; without it there is no ``mnist`` entry.

    Returns
    -------
    dict of str to replica.covariance.Covariance

    Examples
    --------
    >>> sorted(design_covariances(20))
    ['ar1_0.5', 'ar1_0.8', 'block_0.5', 'power_law', 'sparse_precision']
    """
    N = int(n_features)
    out = {
        "ar1_0.5": Covariance.dense(ar1(N, 0.5)),
        "ar1_0.8": Covariance.dense(ar1(N, 0.8)),
        "block_0.5": Covariance.dense(block(N, 10, 0.5)),
        "power_law": Covariance.dense(power_law(N, 1.0, seed=1)),
        "sparse_precision": Covariance.dense(sparse_precision(N, seed=2)),
    }
    if mnist_dir is not None:
        out["mnist"] = mnist_pixel_covariance(mnist_dir)
    return out
