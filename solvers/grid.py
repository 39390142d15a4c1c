"""The vocabulary of a tuning grid: stage-2 cells (κ, u) and the penalties λ1, λ2 they are searched over.

A cell fixes κ and the penalty ratio off and on supp x1, u = log((λ2 + Δλ)/λ2) (the registry's
coordinate, :mod:`replica.strategies`), so that along λ2 the stage-2 weights scale with λ2 and one
warm-started path covers the λ2 grid. Every strategy of the registry is a set of cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from replica import Hyperparameters
from replica.strategies import NESTED_ORDER, delta_from_u, strategies_containing, u_from_delta

__all__ = ["Cell", "Grid", "default_cells", "cell_strategies", "narrowest_strategy", "TARGET_ONLY"]


@dataclass(frozen=True)
class Cell:
    """A stage-2 transfer mode: offset κ and u = log((λ2 + Δλ)/λ2) (u = U_MAX: Δλ = ∞).

    Attributes
    ----------
    kappa : float
        κ.
    u : float
        The log penalty ratio off and on supp x1.

    Examples
    --------
    >>> import math
    >>> cell = Cell(1.0, math.log(3.0))
    >>> round(cell.delta_lam(0.5), 12), cell.is_target_only
    (1.0, False)
    """

    kappa: float
    u: float

    def delta_lam(self, lam2: float) -> float:
        """Δλ = λ2 (e^u − 1) at ``lam2``.

        Parameters
        ----------
        lam2 : float
            λ2.

        Returns
        -------
        float
        """
        return delta_from_u(self.u, lam2)

    @property
    def is_target_only(self) -> bool:
        """No transfer (κ = 0, Δλ = 0): stage 1 plays no part."""
        return self.kappa == 0 and self.u == 0

    def off_support_factor(self) -> float:
        """(λ2 + Δλ)/λ2: the penalty factor off supp x1 (∞ when Δλ = ∞).

        Returns
        -------
        float
        """
        return 1.0 + delta_from_u(self.u, 1.0)

    @classmethod
    def of(cls, hyper: Hyperparameters) -> Cell:
        """The cell of a hyperparameter point.

        Parameters
        ----------
        hyper : replica.Hyperparameters
            (λ1, λ2, κ, Δλ).

        Returns
        -------
        Cell
        """
        return cls(hyper.kappa, u_from_delta(hyper.delta_lam, hyper.lam2))


TARGET_ONLY = Cell(0.0, 0.0)


def cell_strategies(cell: Cell) -> frozenset[str]:
    """The strategies whose family contains ``cell`` (THEORY.md §2, special cases).

    Parameters
    ----------
    cell : Cell

    Returns
    -------
    frozenset of str

    Examples
    --------
    >>> sorted(cell_strategies(Cell(1.0, 0.0)))
    ['full', 'trans_lasso', 'value']
    """
    return strategies_containing(cell.kappa, cell.u)


def narrowest_strategy(cell: Cell) -> str:
    """The most specific strategy containing ``cell`` (first in the registry's nested order).

    Parameters
    ----------
    cell : Cell

    Returns
    -------
    str

    Examples
    --------
    >>> narrowest_strategy(TARGET_ONLY), narrowest_strategy(Cell(0.5, 0.0))
    ('target_only', 'value')
    """
    names = cell_strategies(cell)
    return next(n for n in NESTED_ORDER if n in names)


def default_cells() -> tuple[Cell, ...]:
    """Cells of the 4-D search: value κ grid, support u grid (Δλ/λ2 = 2, 9, ∞), Pretraining-Lasso
    mixings a ∈ {1/2, 1/4, 1/10}, and mixed points.

    Returns
    -------
    tuple of Cell

    Examples
    --------
    >>> cells = default_cells()
    >>> len(cells), cells[0] == TARGET_ONLY
    (15, True)
    """
    inf = u_from_delta(math.inf, 1.0)
    cells = [TARGET_ONLY]
    cells += [Cell(k, 0.0) for k in (0.25, 0.5, 0.75, 1.0)]
    cells += [Cell(0.0, u) for u in (math.log(3.0), math.log(10.0), inf)]
    cells += [Cell(-math.expm1(-u), u) for u in (math.log(2.0), math.log(4.0), math.log(10.0))]
    cells += [Cell(k, u) for k in (0.5, 1.0) for u in (math.log(10.0), inf)]
    return tuple(cells)


@dataclass(frozen=True)
class Grid:
    """Absolute penalties λ1 and λ2 (each strictly decreasing) and the cells (κ, u) searched.

    Attributes
    ----------
    lam1, lam2 : tuple of float
        Decreasing penalties (warm-started paths).
    cells : tuple of Cell
        Stage-2 modes.

    Examples
    --------
    >>> g = Grid((1.0,), (0.5, 0.1), (TARGET_ONLY,))
    >>> g.uses_stage1
    False
    """

    lam1: tuple
    lam2: tuple
    cells: tuple = field(default_factory=default_cells)

    def __post_init__(self):
        for name in ("lam1", "lam2"):
            values = np.asarray(getattr(self, name), float)
            if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)) or np.any(values <= 0):
                raise ValueError(f"grid {name} must be a non-empty sequence of finite positive penalties")
            if np.any(np.diff(values) >= 0):
                raise ValueError(f"grid {name} must be strictly decreasing (a warm-started path)")
        if not self.cells:
            raise ValueError("grid has no cells")

    @property
    def uses_stage1(self) -> bool:
        """Some cell transfers (needs x1)."""
        return not all(c.is_target_only for c in self.cells)

    def point(self, i: int, k: int, j: int) -> Hyperparameters:
        """The hyperparameters of grid point (λ1_i, cell k, λ2_j).

        Parameters
        ----------
        i, k, j : int
            Indices into ``lam1``, ``cells`` and ``lam2``.

        Returns
        -------
        replica.Hyperparameters
        """
        cell, lam2 = self.cells[k], self.lam2[j]
        return Hyperparameters(self.lam1[i], lam2, cell.kappa, cell.delta_lam(lam2))
