"""Finite-size simulations against the replica prediction: mean, seed standard error and z per quantity."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["compare", "Comparison", "QuantityComparison", "QUANTITIES"]

# compared when the records have them (R21 only with simulate(..., measure_r21=True))
QUANTITIES = ("eps1", "eps2", "support1", "support2", "R21")


@dataclass(frozen=True)
class QuantityComparison:
    """One quantity: the seeds' mean, its standard error, the theory value and
    z = (mean − theory)/√(se² + theory_se²), ``theory_se`` the prediction's own sampling standard error
    (nonzero for correlated designs, THEORY.md §7; 0 for the exact i.i.d. theory)."""

    name: str
    mean: float
    se: float
    theory: float
    z: float
    n_seeds: int
    theory_se: float = 0.0


@dataclass(frozen=True)
class Comparison(Mapping):
    """:func:`compare`'s result: a read-only mapping from quantity name to :class:`QuantityComparison`.

    Attributes
    ----------
    rows : tuple of QuantityComparison
        One row per compared quantity, in the order of :func:`compare`.

    Examples
    --------
    >>> from replica import Hyperparameters, Setting, predict
    >>> from solvers import simulate
    >>> s = Setting.two_task(0.5, 1.5, 0.3, 0.3, 0.1, 0.05, 0.05)
    >>> h = Hyperparameters(0.5, 0.1, 0.5, 1.0)
    >>> c = compare(simulate(s, h, n_features=200, seeds=range(4)), predict(s, h))
    >>> sorted(c)[:2], c.max_abs_z == max(abs(c[k].z) for k in c)
    (['eps1', 'eps2'], True)
    """

    rows: tuple[QuantityComparison, ...]

    def __getitem__(self, name: str) -> QuantityComparison:
        for row in self.rows:
            if row.name == name:
                return row
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return (row.name for row in self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def max_abs_z(self) -> float:
        """The largest |z| over the quantities."""
        return max(abs(row.z) for row in self.rows)

    def __str__(self) -> str:
        n = self.rows[0].n_seeds
        sampled = any(r.theory_se > 0 for r in self.rows)
        head = f"{'quantity':10s} {'simulation mean ± SE':>24s} {'theory':>10s}"
        lines = [head + (f" {'± SE':>9s}" if sampled else "") + f" {'z':>7s}"]
        for r in self.rows:
            th = f"{r.theory:10.6g}" + (f" ± {r.theory_se:<6.2g}" if sampled else "")
            lines.append(f"{r.name:10s} {r.mean:12.6g} ± {r.se:<9.3g} {th} {r.z:+7.2f}")
        if sampled:
            lines.append(f"SE over {n} seeds and the theory's sampling SE; z = (mean − theory) / √(SE² + theory SE²)")
        else:
            lines.append(f"SE over {n} seeds; z = (mean − theory) / SE, a Student t with {n - 1} degrees of freedom")
        return "\n".join(lines)


def compare(
    records: Sequence[Mapping[str, Any]], prediction: Any, quantities: Sequence[str] | None = None
) -> Comparison:
    """Compare per-seed simulation records with a replica prediction, quantity by quantity.

    For each quantity q (ε^(1st), ε^(2nd), the supports of x1 and x2, R21: THEORY.md §2–3) the
    records give the mean over seeds and its standard error se = s / √n (s the seeds' sample
    standard deviation, n the number of seeds), and z = (mean − theory) / se. A prediction for a
    correlated design (THEORY.md §7) carries its own sampling standard error (``prediction.se``);
    it is combined: z = (mean − theory) / √(se² + theory_se²). The seeds are
    independent draws, so without finite-size bias z is a Student t with n − 1 degrees of
    freedom (|z| ≤ 2.4 in 95% of 8-seed runs, 2.04 with 32 seeds). The per-seed error is
    right-skewed and its spread is estimated from the same few seeds: with 8 seeds |z| ≈ 3 is
    no rare event, so confirm a discrepancy with ≥ 30 seeds (and larger N, against finite-size
    bias) before blaming the theory.

    Parameters
    ----------
    records : sequence of dict
        One record per seed, as :func:`solvers.simulate` returns them (at least 2).
    prediction : replica.Prediction or mapping
        The theory at the same setting and hyperparameters (:func:`replica.predict`).
    quantities : sequence of str, optional
        Keys to compare; default: those of :data:`QUANTITIES` present in every record.

    Returns
    -------
    Comparison
        A mapping from quantity name to :class:`QuantityComparison` (``mean``, ``se``,
        ``theory``, ``z``, ``n_seeds``, ``theory_se``); ``str()`` gives a table.

    Raises
    ------
    ValueError
        Fewer than 2 records, a quantity missing or not finite in a record, or no quantity to compare.

    Examples
    --------
    >>> records = [{"eps2": 0.20}, {"eps2": 0.22}, {"eps2": 0.21}, {"eps2": 0.23}]
    >>> c = compare(records, {"eps2": 0.2})
    >>> round(c["eps2"].mean, 3), round(c["eps2"].se, 5), round(c["eps2"].z, 2)
    (0.215, 0.00645, 2.32)
    """
    records = list(records)
    if len(records) < 2:
        raise ValueError(f"compare needs records of at least 2 seeds for a standard error, got {len(records)}")
    if quantities is None:
        quantities = [q for q in QUANTITIES if all(q in r for r in records)]
    if not quantities:
        raise ValueError(f"no quantity to compare: the records have none of {QUANTITIES}")
    rows = []
    for name in quantities:
        if not all(name in r for r in records):
            raise ValueError(f"{name} is missing from some records")
        values = np.array([r[name] for r in records], dtype=float)
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name} is not finite in every record: {values.tolist()}")
        theory = float(prediction[name] if isinstance(prediction, Mapping) else getattr(prediction, name))
        theory_se = float((getattr(prediction, "se", None) or {}).get(name, 0.0))
        mean = float(values.mean())
        se = float(values.std(ddof=1) / math.sqrt(values.size))
        diff = mean - theory
        total = math.hypot(se, theory_se)
        # identical seeds (se = 0) and an exact theory: any difference is infinitely significant
        z = diff / total if total > 0 else (0.0 if diff == 0 else math.copysign(math.inf, diff))
        rows.append(QuantityComparison(name, mean, se, theory, z, values.size, theory_se))
    return Comparison(tuple(rows))
