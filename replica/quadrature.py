"""Composite Gauss–Legendre rules for E[f(z)], z ~ N(0, 1), with breakpoints (THEORY.md §4).

The stage-2 integrands are smooth in z except at known points: where x1 leaves zero
(h1 = ±λ1) and where the conditional mean of h2 crosses ±λ2. Near a crossing the
integrand turns on over a width w = (conditional std of h2)/|slope|; when w is small the
rule is graded geometrically towards the crossing so that every scale is resolved.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

Z_MAX = 10.0       # N(0,1) mass beyond ±10 is 1.5e-23
PANEL = 1.0        # widest panel, in units of the standard deviation
GRADING = 4.0      # ratio of successive panel widths towards a crossing
N_NODES = 12       # Gauss–Legendre nodes per panel
_INV_SQRT_2PI = 0.3989422804014327


@lru_cache(maxsize=8)
def _leggauss(n: int):
    return np.polynomial.legendre.leggauss(n)


def graded_points(kinks: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Points kink ± w·GRADING^j (j ≥ 0) as long as w·GRADING^j < PANEL."""
    kinks = np.asarray(kinks, float)
    widths = np.asarray(widths, float)
    keep = np.isfinite(kinks) & (np.abs(kinks) < Z_MAX) & (widths < PANEL)
    if not np.any(keep):
        return np.empty(0)
    k, w = kinks[keep], np.maximum(widths[keep], 1e-14)
    n_levels = int(np.ceil(np.log(PANEL / w.min()) / np.log(GRADING)))
    steps = w[:, None] * GRADING ** np.arange(n_levels)[None, :]
    steps = np.where(steps < PANEL, steps, np.nan)
    pts = np.concatenate([k, (k[:, None] + steps).ravel(), (k[:, None] - steps).ravel()])
    return pts[np.isfinite(pts)]


def normal_rule(breaks: np.ndarray, n_nodes: int = N_NODES) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z and weights ω with Σ ω f(z) ≈ E[f(z)], z ~ N(0,1), for f smooth between ``breaks``."""
    b = np.asarray(breaks, float)
    b = b[np.isfinite(b) & (np.abs(b) < Z_MAX)]
    edges = np.unique(np.concatenate([[-Z_MAX, Z_MAX], b]))
    lengths = np.diff(edges)
    n_sub = np.maximum(1, np.ceil(lengths / PANEL - 1e-12)).astype(int)
    left = np.repeat(edges[:-1], n_sub)
    h = np.repeat(lengths / n_sub, n_sub)
    left = left + h * (np.arange(n_sub.sum()) - np.repeat(np.cumsum(n_sub) - n_sub, n_sub))
    x, w = _leggauss(n_nodes)
    z = (left[:, None] + 0.5 * h[:, None] * (x[None, :] + 1)).ravel()
    wts = (0.5 * h[:, None] * w[None, :]).ravel() * _INV_SQRT_2PI * np.exp(-0.5 * z * z)
    return z, wts
