"""Composite Gauss–Legendre rules for E[f(z)], z ~ N(0, 1), with breakpoints (THEORY.md §4).

The stage-2 integrands are smooth in z except at known points: where x1 leaves zero
(h1 = ±λ1) and where the conditional mean of h2 crosses ±λ2. Each interval between
breakpoints of [−Z_MAX, Z_MAX] is cut into panels no wider than PANEL, each with N_NODES
Gauss–Legendre nodes. Near a crossing the integrand turns on over a width
w = (conditional std of h2)/|slope|; when w is small (below NARROW panels) the rule is graded
geometrically (panels w·GRADING^j) towards the crossing so that every scale is resolved.
This module owns the rule (:class:`Rule`, :func:`rule`) and its breakpoints (:func:`breaks`);
:func:`replica.stage2.stage2_sums` sums the integrands over it.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from numba import njit

Z_MAX = 10.0  # N(0,1) mass beyond ±10 is 1.5e-23
PANEL = 1.0  # widest panel, in units of the standard deviation
GRADING = 4.0  # ratio of successive panel widths towards a crossing
N_NODES = 12  # Gauss–Legendre nodes per panel
NARROW = 0.5  # grade crossings narrower than this many panels (the choice: benchmarks/bench_predict.md)


class Rule(NamedTuple):
    """The composite rule's parameters (the last fields of :class:`replica.stage2.Problem2`):
    Gauss–Legendre nodes ``x`` and weights ``w`` on [−1, 1], and ``narrow``, ``panel``, ``z_max``,
    ``grading`` as above."""

    x: np.ndarray
    w: np.ndarray
    narrow: float
    panel: float
    z_max: float
    grading: float


@lru_cache(maxsize=8)
def leggauss(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [−1, 1] (read-only)."""
    x, w = np.polynomial.legendre.leggauss(n)
    x.setflags(write=False), w.setflags(write=False)
    return x, w


@lru_cache(maxsize=16)
def rule(n_nodes: int = N_NODES, narrow: float = NARROW) -> Rule:
    """The production rule with ``n_nodes`` nodes per panel (tests raise it to check convergence)."""
    x, w = leggauss(n_nodes)
    return Rule(x, w, float(narrow), PANEL, Z_MAX, GRADING)


@njit(cache=True, error_model="numpy")
def breaks(z_lam0, z_lam1, c0, c1, tau, targets, narrow, panel, z_max, grading):
    """Breakpoints of one component's rule: ±λ1 (at z_lam0, z_lam1) and, for crossings narrower than
    ``narrow`` panels, the crossing and points at ±width·``grading``^j around it (the :class:`Rule`'s
    ``narrow``, ``panel``, ``z_max``, ``grading``).

    On each of the three pieces (h1 < −λ1, |h1| ≤ λ1, h1 > λ1) the conditional mean of h2 is
    c0[piece] + c1[piece] z with std ``tau``; it crosses ±targets[piece]. A crossing just outside its
    piece still steepens the integrand inside it: those within 20 widths are kept.
    """
    out = np.empty(2 + 6 * 2 * 64)
    out[0], out[1] = z_lam0, z_lam1
    n = 2
    lo = (-np.inf, z_lam0, z_lam1)
    hi = (z_lam0, z_lam1, np.inf)
    for piece in range(3):
        slope = c1[piece]
        if slope == 0.0:
            continue
        w = tau / abs(slope)
        if not w < narrow * panel:
            continue
        for side in range(2):
            zk = (targets[piece] * (1.0 - 2.0 * side) - c0[piece]) / slope
            if not (math.isfinite(zk) and zk > lo[piece] - 20 * w and zk < hi[piece] + 20 * w):
                continue
            out[n] = zk
            n += 1
            if abs(zk) < z_max:
                step = max(w, 1e-14)
                while step < panel:
                    out[n], out[n + 1] = zk + step, zk - step
                    n += 2
                    step *= grading
    return out[:n]
