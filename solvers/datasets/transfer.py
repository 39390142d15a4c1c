"""Containers for a real-data transfer problem (one target, several sources), and a harmful source
built from one of them (:func:`shuffled_source`).

The ordering follows ``replica.Setting``: dataset 0 is the target, the
others are sources.  Designs may be dense arrays or scipy.sparse matrices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Domain", "TransferData", "shuffled_source"]


@dataclass(frozen=True, eq=False)
class Domain:
    """One dataset: design ``A`` (M × N), response ``y`` (M,), and a name.

    ``rows`` maps each row back to the loader's record (review or image index).
    """

    name: str
    A: object
    y: np.ndarray
    rows: np.ndarray

    def __post_init__(self):
        if self.A.shape[0] != self.y.shape[0] or self.y.shape[0] != self.rows.shape[0]:
            raise ValueError(
                f"domain {self.name!r}: A has {self.A.shape[0]} rows, y has {self.y.shape[0]}, rows has {self.rows.shape[0]}"
            )

    @property
    def n_samples(self) -> int:
        return int(self.A.shape[0])


@dataclass(frozen=True, eq=False)
class TransferData:
    """A target (training part and fixed held-out test part) and its sources.

    ``source_tests`` are held-out parts of the sources, aligned with
    ``sources`` (may be empty).  ``info`` records how the data were built.
    """

    target: Domain
    target_test: Domain
    sources: tuple[Domain, ...]
    feature_names: tuple[str, ...]
    source_tests: tuple[Domain, ...] = ()
    info: dict = field(default_factory=dict)

    @property
    def datasets(self) -> tuple[Domain, ...]:
        """Training datasets in the theory's order: target first, then sources."""
        return (self.target, *self.sources)

    @property
    def n_features(self) -> int:
        return int(self.target.A.shape[1])


def shuffled_source(data: TransferData, seed: int = 0) -> Domain:
    """A harmful source made of real rows: the largest held-out source part, its responses permuted.

    The largest source (the most held-out rows, the first of equals) lends its held-out part, rows
    that no training dataset holds; its responses are put in a random order
    (``numpy.random.default_rng(seed).permutation``). The design keeps that source's distribution and the
    response keeps its values, but the two are unrelated: a source a transfer method should drop.

    Parameters
    ----------
    data : TransferData
        With held-out source parts (``source_tests``).
    seed : int
        Seeds the permutation.

    Returns
    -------
    Domain
        Design and ``rows`` of that held-out part, its responses permuted, named ``"<name>:shuffled"``.
    """
    if not data.source_tests:
        raise ValueError("the transfer data has no held-out source rows to shuffle")
    part = max(data.source_tests, key=lambda d: d.n_samples)
    if part.n_samples < 2:
        raise ValueError(f"the largest held-out source part, {part.name!r}, has {part.n_samples} row; need 2")
    y = part.y[np.random.default_rng(seed).permutation(part.n_samples)]
    return Domain(f"{part.name}:shuffled", part.A, y, part.rows)
