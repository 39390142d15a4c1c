"""Several sources of unequal relevance: synthetic problems with one target and sources of named kinds.

The target's truth r_t has ``n_nonzero`` coefficients N(0, ``signal``²) on random features; designs have
i.i.d. N(0, 1) entries (the user's units: standardized features), responses y = b + X r + N(0, σ²)
with a per-dataset intercept b. Each source's truth is derived from r_t by its kind:

========== ==============================================================================
identical  r_t
related    a fifth of r_t's nonzero values redrawn (plus ``added`` new nonzeros off its support)
support    r_t's support, every value redrawn
scaled     2 r_t
unrelated  a fresh truth: its own support and values
noisy      r_t, with ten times the target's noise
========== ==============================================================================

:data:`SOURCE_KINDS` is the registry (the one place these words are defined); tests and
``benchmarks/bench_sources.py`` draw from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SOURCE_KINDS", "SourceSpec", "MixedSources", "draw_sources"]

SOURCE_KINDS = ("identical", "related", "support", "scaled", "unrelated", "noisy")


@dataclass(frozen=True)
class SourceSpec:
    """One source: its kind, rows, intercept, and (``related``) how many nonzeros it adds.

    Attributes
    ----------
    kind : str
        One of :data:`SOURCE_KINDS`.
    rows : int
        Its number of rows.
    intercept : float
        Its intercept b_k.
    added : int
        ``related`` only: nonzeros added off the target's support.

    Examples
    --------
    >>> SourceSpec("related", 2000, -0.5, added=2).kind
    'related'
    """

    kind: str
    rows: int = 2000
    intercept: float = 0.0
    added: int = 0

    def __post_init__(self):
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"unknown source kind {self.kind!r}; expected one of {SOURCE_KINDS}")
        if int(self.rows) < 1:
            raise ValueError(f"a source needs at least one row, got {self.rows}")


@dataclass(frozen=True)
class MixedSources:
    """A drawn problem: target training data, the sources, a held-out target test set and the truths.

    Attributes
    ----------
    target : (X, y)
        Target training rows.
    sources : list of (X, y)
        One pair per :class:`SourceSpec`, in order.
    test : (X, y)
        Held-out target rows.
    truths : ndarray of shape (1 + K, N)
        r_t, then each source's truth.
    kinds : tuple of str
        The sources' kinds.

    Examples
    --------
    >>> import numpy as np
    >>> p = draw_sources([SourceSpec("scaled", 50)], n_features=30, n_target=20, n_nonzero=3, rng=np.random.default_rng(0))
    >>> bool(np.allclose(p.truths[1], 2 * p.truths[0])), p.sources[0][0].shape
    (True, (50, 30))
    """

    target: tuple
    sources: list
    test: tuple
    truths: np.ndarray
    kinds: tuple


def draw_sources(
    specs,
    *,
    n_features: int = 400,
    n_target: int = 150,
    n_test: int = 2000,
    n_nonzero: int = 20,
    signal: float = 2.0,
    noise: float = 1.0,
    target_intercept: float = 1.0,
    rng: np.random.Generator,
) -> MixedSources:
    """Draw a target, its test set and one source per spec (module docstring).

    Parameters
    ----------
    specs : sequence of SourceSpec
        The sources.
    n_features, n_target, n_test : int
        N and the target's training and test rows.
    n_nonzero : int
        Nonzeros of r_t (and of an unrelated truth).
    signal : float
        Standard deviation of the nonzero values.
    noise : float
        The target's (and every non-noisy source's) noise standard deviation.
    target_intercept : float
        b_t.
    rng : numpy.random.Generator
        Draws the truths first, then the target, the test set and the sources in order.

    Returns
    -------
    MixedSources

    Examples
    --------
    >>> import numpy as np
    >>> specs = [SourceSpec("related", 200, -0.5, added=2), SourceSpec("unrelated", 200)]
    >>> p = draw_sources(specs, n_features=100, n_target=50, n_nonzero=10, rng=np.random.default_rng(1))
    >>> [int(np.count_nonzero(r)) for r in p.truths], p.kinds
    ([10, 12, 10], ('related', 'unrelated'))
    """
    N = int(n_features)
    if not 0 < n_nonzero <= N:
        raise ValueError(f"n_nonzero must lie in [1, n_features], got {n_nonzero}")
    specs = list(specs)
    support = rng.choice(N, n_nonzero, replace=False)
    r_t = np.zeros(N)
    r_t[support] = signal * rng.standard_normal(n_nonzero)
    truths = [r_t]
    for spec in specs:
        truths.append(_truth(spec, r_t, support, signal, rng))

    def dataset(rows, truth, b, sd):
        X = rng.standard_normal((int(rows), N))
        return X, b + X @ truth + sd * rng.standard_normal(int(rows))

    target = dataset(n_target, r_t, target_intercept, noise)
    test = dataset(n_test, r_t, target_intercept, noise)
    sources = [
        dataset(spec.rows, truth, spec.intercept, noise * (10.0 if spec.kind == "noisy" else 1.0))
        for spec, truth in zip(specs, truths[1:])
    ]
    return MixedSources(target, sources, test, np.array(truths), tuple(s.kind for s in specs))


def _truth(spec: SourceSpec, r_t: np.ndarray, support: np.ndarray, signal: float, rng) -> np.ndarray:
    N, s = r_t.size, support.size
    r = r_t.copy()
    if spec.kind in ("identical", "noisy"):
        return r
    if spec.kind == "scaled":
        return 2.0 * r
    if spec.kind == "support":
        r[support] = signal * rng.standard_normal(s)
        return r
    if spec.kind == "unrelated":
        r = np.zeros(N)
        own = rng.choice(N, s, replace=False)
        r[own] = signal * rng.standard_normal(s)
        return r
    # related: a fifth of the values redrawn, and ``added`` new nonzeros off the support
    redrawn = rng.choice(support, max(1, round(s / 5)), replace=False)
    r[redrawn] = signal * rng.standard_normal(redrawn.size)
    if spec.added:
        off = np.setdiff1d(np.arange(N), support)
        new = rng.choice(off, spec.added, replace=False)
        r[new] = signal * rng.standard_normal(spec.added)
    return r
