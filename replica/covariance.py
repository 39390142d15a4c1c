"""Design covariance Σ of the correlated model (THEORY.md §7): rows of every design drawn from N(0, Σ/N).

A :class:`Covariance` is either a dense symmetric positive-definite matrix with unit diagonal
(:meth:`Covariance.dense`) or the empirical correlation matrix of a design (:meth:`Covariance.empirical`),
which may be singular. It holds what the effective problems of THEORY.md §7 need: products with Σ,
a factor for drawing Gaussian vectors of covariance Σ, and the number of draws (and their seed) over
which the effective problems are averaged.
"""

from __future__ import annotations

import hashlib

import numpy as np
from scipy import linalg, sparse

__all__ = ["Covariance", "DEFAULT_DRAW_SIZE", "ar1", "block", "power_law", "sparse_precision"]

_SYMMETRY_TOL = 1e-10
_DIAGONAL_TOL = 1e-8
# Σ is held as a dense N×N matrix up to this N (the Gram coordinate descent needs it; 8·N² bytes)
_DENSE_MAX = 4096
DEFAULT_DRAW_SIZE = 2**15
"""Default number of sampled coordinates, draws × N, of the effective problems (at least 8 draws)."""


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


class Covariance:
    """Design covariance Σ with unit diagonal (THEORY.md §7), for :meth:`replica.Setting.with_covariance`.

    Build it with :meth:`dense` (a given Σ) or :meth:`empirical` (a design's correlation matrix). It
    compares and hashes by identity, like :class:`replica.Setting`.

    Parameters
    ----------
    kind : {"dense", "empirical"}
        Which constructor built it.
    N : int
        The dimension.
    matrix : ndarray of shape (N, N) or None
        Σ, read-only (None for a large empirical Σ held as its design).
    chol : ndarray of shape (N, N) or None
        Lower Cholesky factor of a dense Σ.
    design, mean, scale : array or sparse matrix, ndarray, ndarray, or None
        The factor B = (design − 1 meanᵀ) diag(scale) of an empirical Σ = BᵀB.
    draws : int or None
        Draws of the effective problems (≥ 2); None for the default max(8, ⌈2¹⁵/N⌉).
    seed : int
        Seed of the draws.
    n_samples : int or None
        Rows of the design behind an empirical Σ.

    Attributes
    ----------
    N : int
        The dimension.
    kind : str
        ``"dense"`` or ``"empirical"``.
    draws : int
        Sampled draws (of the prior and the Gaussian fields) over which ``replica.predict`` averages
        the effective problems.
    seed : int
        Seed of those draws: predictions are deterministic.
    n_samples : int or None
        Rows of the design behind an empirical Σ.

    Examples
    --------
    >>> import numpy as np
    >>> from replica.covariance import Covariance
    >>> i = np.arange(4)
    >>> cov = Covariance.dense(0.5 ** np.abs(i[:, None] - i[None, :]))  # AR(1), ρ = 0.5
    >>> cov.N, cov.kind, cov.draws
    (4, 'dense', 8192)
    >>> float(cov.quadratic(np.ones(4)))  # 1ᵀΣ1 / N
    2.0625
    >>> Covariance.dense([[1.0, 2.0], [2.0, 1.0]])
    Traceback (most recent call last):
    ...
    ValueError: Sigma is not positive definite (smallest eigenvalue -1)
    """

    def __init__(self, kind, N, matrix, chol, design, mean, scale, draws, seed, n_samples):
        self.kind, self.N = kind, int(N)
        self._matrix, self._chol = matrix, chol
        self._design, self._mean, self._scale = design, mean, scale
        self.draws = _check_count("draws", draws, 2) if draws is not None else max(8, -(-DEFAULT_DRAW_SIZE // self.N))
        self.seed = _check_count("seed", seed, 0)
        self.n_samples = n_samples

    # ---- constructors -------------------------------------------------------------------
    @classmethod
    def dense(cls, Sigma, draws: int | None = None, seed: int = 0) -> Covariance:
        """Σ given as an (N, N) array: symmetric, positive definite, unit diagonal, finite.

        Parameters
        ----------
        Sigma : array_like of shape (N, N)
            The covariance (a correlation matrix).
        draws : int, optional
            Draws of the effective problems (≥ 2); default max(8, ⌈2¹⁵/N⌉).
        seed : int, default 0
            Seed of the draws.

        Returns
        -------
        Covariance

        Raises
        ------
        ValueError
            Naming the problem: not a square 2-D array, NaN or infinite entries, not symmetric, a
            diagonal entry ≠ 1, not positive definite.
        """
        try:
            S = np.array(Sigma, dtype=float)
        except (TypeError, ValueError):
            raise ValueError(f"Sigma must be a numeric (N, N) array, got {type(Sigma).__name__}") from None
        if S.ndim != 2 or S.shape[0] != S.shape[1] or S.shape[0] < 1:
            raise ValueError(f"Sigma must be a square (N, N) array, got shape {S.shape}")
        if np.isnan(S).any():
            raise ValueError("Sigma contains NaN")
        if not np.isfinite(S).all():
            raise ValueError("Sigma contains infinite entries")
        asym = float(np.max(np.abs(S - S.T)))
        if asym > _SYMMETRY_TOL:
            raise ValueError(f"Sigma is not symmetric (max |Σ - Σᵀ| = {asym:.3g})")
        diag_dev = float(np.max(np.abs(np.diag(S) - 1.0)))
        if diag_dev > _DIAGONAL_TOL:
            raise ValueError(f"Sigma must have unit diagonal (a correlation matrix); max |Σ_ii - 1| = {diag_dev:.3g}")
        S = 0.5 * (S + S.T)
        np.fill_diagonal(S, 1.0)
        try:
            chol = linalg.cholesky(S, lower=True, check_finite=False)
        except linalg.LinAlgError:
            low = float(np.linalg.eigvalsh(S)[0])
            raise ValueError(f"Sigma is not positive definite (smallest eigenvalue {low:.3g})") from None
        S.setflags(write=False)
        chol.setflags(write=False)
        return cls("dense", S.shape[0], S, chol, None, None, None, draws, seed, None)

    @classmethod
    def empirical(cls, X, draws: int | None = None, seed: int = 0, dense: bool | None = None) -> Covariance:
        """The correlation matrix of a design X (n rows, N columns), dense or scipy.sparse.

        Σ = D⁻¹ X_cᵀX_c D⁻¹ / n, with X_c the columns centred over the n rows and D the diagonal of
        their standard deviations (divisor n): Σ_ii = 1. Equivalently Σ = N X_sᵀX_s / n for X_s the
        columns centred and scaled to mean square 1/N (the theory's convention for design entries).
        Σ = BᵀB with B = X_c D⁻¹/√n (n × N), so Σ is singular when n ≤ N; B is the design of the
        effective problems (THEORY.md §7). Sparse X stays sparse (the centring is implicit).

        Parameters
        ----------
        X : array_like or scipy.sparse matrix of shape (n, N)
            The design; n ≥ 2, every column with nonzero variance.
        draws : int, optional
            Draws of the effective problems (≥ 2); default max(8, ⌈2¹⁵/N⌉).
        seed : int, default 0
            Seed of the draws (the effective problems' Gaussian vectors).
        dense : bool, optional
            Hold Σ as a dense N × N matrix (the effective problems in Gram form) or only its design B
            (least-squares form on B; X sparse stays sparse). Default: dense for N ≤ 4096.

        Returns
        -------
        Covariance
            Σ = the correlation matrix of X's columns.

        Raises
        ------
        ValueError
            X not 2-D, fewer than 2 rows, NaN or infinite entries, or a constant column (named).

        Examples
        --------
        >>> import numpy as np
        >>> from replica.covariance import Covariance
        >>> X = np.random.default_rng(0).standard_normal((50, 3))
        >>> cov = Covariance.empirical(X)
        >>> np.allclose(np.diag(cov.matrix), 1.0), cov.n_samples
        (True, 50)
        """
        if sparse.issparse(X):
            A = sparse.csc_matrix(X, dtype=float)
            values = A.data
        else:
            try:
                A = np.array(X, dtype=float)
            except (TypeError, ValueError):
                raise ValueError(f"X must be a numeric (n, N) array, got {type(X).__name__}") from None
            values = A
        if A.ndim != 2:
            raise ValueError(f"X must be a 2-D (n, N) design, got shape {A.shape}")
        n, N = A.shape
        if n < 2 or N < 1:
            raise ValueError(f"X must have at least 2 rows and 1 column, got shape {A.shape}")
        if np.isnan(values).any():
            raise ValueError("X contains NaN")
        if not np.isfinite(values).all():
            raise ValueError("X contains infinite entries")
        mean = np.asarray(A.mean(axis=0)).ravel()
        if sparse.issparse(A):
            sq = np.asarray(A.multiply(A).mean(axis=0)).ravel()
            var = np.maximum(sq - mean**2, 0.0)
        else:
            A = A - mean
            var = np.mean(A**2, axis=0)
        constant = np.flatnonzero(var <= 1e-24 * np.maximum(1.0, mean**2))
        if constant.size:
            shown = ", ".join(map(str, constant[:5])) + (", ..." if constant.size > 5 else "")
            raise ValueError(f"X has {constant.size} constant column(s) (zero variance): {shown}; drop them")
        scale = 1.0 / np.sqrt(var * n)  # B = X_c diag(scale)
        matrix = chol = None
        if (N <= _DENSE_MAX) if dense is None else dense:
            if sparse.issparse(A):
                G = (A.T @ A).toarray() - n * np.outer(mean, mean)
            else:
                G = A.T @ A
            matrix = G * np.outer(scale, scale)
            matrix = 0.5 * (matrix + matrix.T)
            np.fill_diagonal(matrix, 1.0)
            matrix.setflags(write=False)
        if not sparse.issparse(A):
            A = A * scale  # B itself (centred): dense designs are small enough to copy
            mean, scale = np.zeros(N), np.ones(N)
            A.setflags(write=False)
        return cls("empirical", N, matrix, chol, A, mean, scale, draws, seed, n)

    def with_sampling(self, draws: int | None = None, seed: int | None = None) -> Covariance:
        """The same Σ with another number of draws and/or seed (arrays shared).

        Parameters
        ----------
        draws : int, optional
            Draws of the effective problems (≥ 2); default: unchanged.
        seed : int, optional
            Seed of the draws; default: unchanged.
        """
        return Covariance(
            self.kind,
            self.N,
            self._matrix,
            self._chol,
            self._design,
            self._mean,
            self._scale,
            self.draws if draws is None else draws,
            self.seed if seed is None else seed,
            self.n_samples,
        )

    # ---- what the effective problems use ------------------------------------------------
    @property
    def has_matrix(self) -> bool:
        """Whether Σ is held as a dense matrix (N ≤ 4096)."""
        return self._matrix is not None

    @property
    def matrix(self) -> np.ndarray:
        """Σ as a read-only dense (N, N) array (ValueError for a large empirical Σ, held as its design)."""
        if self._matrix is None:
            raise ValueError(f"Sigma of dimension {self.N} is held as its design only (N > {_DENSE_MAX})")
        return self._matrix

    def design_arrays(self) -> tuple:
        """(data, indices, indptr, scale, mean) of B = (X − 1μᵀ) diag(scale) with X in CSC form, the
        arguments of :func:`replica.effective.design_lasso` (empirical Σ only)."""
        if self._design is None:
            raise ValueError("a dense Sigma has no design")
        X = self._design if sparse.issparse(self._design) else sparse.csc_matrix(self._design)
        X = sparse.csc_matrix(X, dtype=float)
        X.sort_indices()
        return X.data, X.indices, X.indptr, np.asarray(self._scale, float), np.asarray(self._mean, float)

    def design_matvec(self, x: np.ndarray) -> np.ndarray:
        """B x for the factor B (Σ = BᵀB) of an empirical Σ.

        Parameters
        ----------
        x : ndarray of shape (N,) or (N, m)
            The vector(s).
        """
        xs = x * (self._scale if x.ndim == 1 else self._scale[:, None])
        out = np.asarray(self._design @ xs)
        return out - (self._mean @ xs)

    def design_rmatvec(self, z: np.ndarray) -> np.ndarray:
        """Bᵀ z for the factor B of an empirical Σ.

        Parameters
        ----------
        z : ndarray of shape (n,) or (n, m)
            The vector(s), n = ``n_samples``.
        """
        out = np.asarray(self._design.T @ z)
        if self._mean.any():
            out = out - np.multiply.outer(self._mean, z.sum(axis=0))
        return out * (self._scale if out.ndim == 1 else self._scale[:, None])

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """Σ x.

        Parameters
        ----------
        x : ndarray of shape (N,) or (N, m)
            The vector(s).
        """
        if self._matrix is not None:
            return self._matrix @ x
        return self.design_rmatvec(self.design_matvec(x))

    def quadratic(self, x: np.ndarray) -> np.ndarray:
        """xᵀΣx / N, per column of x.

        Parameters
        ----------
        x : ndarray of shape (N,) or (N, m)
            The vector(s).
        """
        return np.sum(x * self.matvec(x), axis=0) / self.N

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` Gaussian vectors of covariance Σ, as the rows of a (size, N) array.

        Dense Σ: L z with Σ = L Lᵀ (Cholesky); empirical Σ: Bᵀz with z ~ N(0, I_n).

        Parameters
        ----------
        rng : numpy.random.Generator
            The source of randomness.
        size : int
            How many vectors.
        """
        if self.kind == "dense":
            z = rng.standard_normal((self.N, size))
            return np.ascontiguousarray((self._chol @ z).T)
        z = rng.standard_normal((self.n_samples, size))
        return np.ascontiguousarray(self.design_rmatvec(z).T)

    def __repr__(self):
        extra = f", n_samples={self.n_samples}" if self.n_samples is not None else ""
        return f"Covariance(kind={self.kind!r}, N={self.N}{extra}, draws={self.draws}, seed={self.seed})"

    def fingerprint(self) -> dict:
        """A JSON-ready identification: kind, N, draws, seed and a digest of Σ's data."""
        h = hashlib.sha256()
        for a in (self._matrix, self._mean, self._scale):
            if a is not None:
                h.update(np.ascontiguousarray(a).tobytes())
        if self._matrix is None and self._design is not None:
            d = self._design
            for a in (d.data, d.indices, d.indptr) if sparse.issparse(d) else (np.ascontiguousarray(d),):
                h.update(np.ascontiguousarray(a).tobytes())
        return {"kind": self.kind, "N": self.N, "draws": self.draws, "seed": self.seed, "sha256": h.hexdigest()[:16]}


# ---- families of correlation matrices (tests, experiments, benchmarks) ---------------------


def _unit_diagonal(S: np.ndarray) -> np.ndarray:
    d = 1.0 / np.sqrt(np.diag(S))
    S = S * np.outer(d, d)
    S = 0.5 * (S + S.T)
    np.fill_diagonal(S, 1.0)
    return S


def ar1(N: int, rho: float) -> np.ndarray:
    """The AR(1) correlation matrix Σ_ij = ρ^|i−j| (|ρ| < 1).

    Parameters
    ----------
    N : int
        Dimension.
    rho : float
        Correlation of neighbours.

    Returns
    -------
    ndarray of shape (N, N)

    Examples
    --------
    >>> ar1(3, 0.5).tolist()
    [[1.0, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 1.0]]
    """
    if not -1 < rho < 1:
        raise ValueError(f"rho must lie in (-1, 1), got {rho}")
    i = np.arange(int(N))
    return float(rho) ** np.abs(i[:, None] - i[None, :]).astype(float)


def block(N: int, size: int, rho: float) -> np.ndarray:
    """Block-diagonal equicorrelated Σ: consecutive blocks of ``size`` features with correlation ρ
    inside a block (0 ≤ ρ < 1), independent blocks (the last block may be shorter).

    Parameters
    ----------
    N : int
        Dimension.
    size : int
        Block size.
    rho : float
        Correlation inside a block.

    Returns
    -------
    ndarray of shape (N, N)

    Examples
    --------
    >>> block(3, 2, 0.5).tolist()
    [[1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    if not 0 <= rho < 1:
        raise ValueError(f"rho must lie in [0, 1), got {rho}")
    g = np.arange(int(N)) // int(size)
    S = np.where(g[:, None] == g[None, :], float(rho), 0.0)
    np.fill_diagonal(S, 1.0)
    return S


def power_law(N: int, exponent: float, seed: int = 0) -> np.ndarray:
    """Σ with eigenvalues ∝ i^(−exponent), i = 1..N, in a Haar-random orthonormal basis, rescaled to
    unit diagonal (D^(−1/2) S D^(−1/2), which keeps it positive definite).

    Parameters
    ----------
    N : int
        Dimension.
    exponent : float
        Decay of the spectrum (≥ 0).
    seed : int, default 0
        Seed of the basis.

    Returns
    -------
    ndarray of shape (N, N)
        Positive definite, unit diagonal; its spectrum is the power law's only before the rescaling.
    """
    rng = np.random.default_rng(seed)
    Q, R = np.linalg.qr(rng.standard_normal((N, N)))
    Q = Q * np.sign(np.diag(R))  # Haar measure
    spectrum = np.arange(1, N + 1, dtype=float) ** (-float(exponent))
    return _unit_diagonal((Q * spectrum) @ Q.T)


def sparse_precision(N: int, degree: int = 4, strength: float = 0.2, seed: int = 0) -> np.ndarray:
    """Σ = Ω⁻¹ rescaled to unit diagonal, for a sparse precision Ω: a random graph in which each
    feature is linked to ``degree`` others (on average) with weight −``strength`` (random sign
    flips), and a diagonal that makes Ω strictly diagonally dominant (so positive definite).

    Parameters
    ----------
    N : int
        Dimension.
    degree : int, default 4
        Mean number of neighbours.
    strength : float, default 0.2
        Magnitude of the off-diagonal entries of Ω.
    seed : int, default 0
        Seed of the graph.

    Returns
    -------
    ndarray of shape (N, N)
    """
    rng = np.random.default_rng(seed)
    n_edges = int(N) * int(degree) // 2
    i, j = rng.integers(0, N, n_edges), rng.integers(0, N, n_edges)
    keep = i != j
    Omega = np.zeros((N, N))
    signs = rng.choice([-1.0, 1.0], size=keep.sum())
    Omega[i[keep], j[keep]] = -strength * signs
    Omega = np.triu(Omega, 1)
    Omega = Omega + Omega.T
    np.fill_diagonal(Omega, 1.0 + np.abs(Omega).sum(axis=1))
    return _unit_diagonal(np.linalg.inv(Omega))
