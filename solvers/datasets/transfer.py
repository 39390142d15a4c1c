"""Containers for a real-data transfer problem: one target, several sources.

The ordering follows ``replica.Setting``: dataset 0 is the target, the
others are sources.  Designs may be dense arrays or scipy.sparse matrices.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Domain", "TransferData"]


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
