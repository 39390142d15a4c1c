"""Composite Gauss–Legendre rules for E[f(z)], z ~ N(0, 1), with breakpoints (THEORY.md §4).

The stage-2 integrands are smooth in z except at known points: where x1 leaves zero
(h1 = ±λ1) and where the conditional mean of h2 crosses ±λ2. Each interval between
breakpoints of [−Z_MAX, Z_MAX] is cut into panels no wider than PANEL, each with N_NODES
Gauss–Legendre nodes. Near a crossing the integrand turns on over a width
w = (conditional std of h2)/|slope|; when w is small the rule is graded geometrically
(panels w·GRADING^j) towards the crossing so that every scale is resolved. The rule is built
and summed in :func:`replica.kernels.stage2_sums`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

Z_MAX = 10.0  # N(0,1) mass beyond ±10 is 1.5e-23
PANEL = 1.0  # widest panel, in units of the standard deviation
GRADING = 4.0  # ratio of successive panel widths towards a crossing
N_NODES = 12  # Gauss–Legendre nodes per panel


@lru_cache(maxsize=8)
def leggauss(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [−1, 1] (read-only)."""
    x, w = np.polynomial.legendre.leggauss(n)
    x.setflags(write=False), w.setflags(write=False)
    return x, w
