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
    """Points kink ± w·GRADING^j (j ≥ 0) while w·GRADING^j < PANEL; rows are components, NaN pads.

    ``kinks`` and ``widths`` are (C, n) arrays; NaN kinks are ignored.
    """
    keep = np.isfinite(kinks) & (np.abs(kinks) < Z_MAX) & (widths < PANEL)
    if not np.any(keep):
        return np.empty((kinks.shape[0], 0))
    w = np.where(keep, np.maximum(widths, 1e-14), np.nan)
    n_levels = int(np.ceil(np.log(PANEL / np.nanmin(w)) / np.log(GRADING)))
    steps = w[..., None] * GRADING ** np.arange(n_levels)                   # (C, n, L)
    steps = np.where(steps < PANEL, steps, np.nan)
    k = kinks[..., None]
    return np.concatenate([k + steps, k - steps], axis=2).reshape(kinks.shape[0], -1)


def normal_rule(breaks: np.ndarray, n_nodes: int = N_NODES):
    """Cached :func:`build_rule`: along a fixed-point solve the breakpoints often repeat exactly."""
    breaks = np.ascontiguousarray(breaks, dtype=float)
    return _cached_rule(breaks.tobytes(), breaks.shape[0], n_nodes)


@lru_cache(maxsize=64)
def _cached_rule(key: bytes, rows: int, n_nodes: int):
    out = build_rule(np.frombuffer(key).reshape(rows, -1), n_nodes)
    for a in out:
        a.setflags(write=False)
    return out


def build_rule(breaks: np.ndarray, n_nodes: int = N_NODES):
    """Composite rule for E[f(z)], z ~ N(0,1), per row of ``breaks`` (C, B), NaN-padded.

    f is assumed smooth between the breakpoints of its row. Returns (row index, z, weight)
    per node, with Σ_{row c} weight f(z) ≈ E[f_c(z)].
    """
    C = breaks.shape[0]
    b = np.where(np.abs(breaks) < Z_MAX, breaks, np.nan)
    edges = np.sort(np.concatenate([np.full((C, 1), -Z_MAX), b, np.full((C, 1), Z_MAX)], axis=1), axis=1)
    lengths = np.nan_to_num(np.diff(edges, axis=1), nan=0.0)             # NaNs sort last: zero length
    n_sub = np.ceil(lengths / PANEL - 1e-12).astype(int).ravel()
    n_sub[lengths.ravel() <= 0] = 0
    left = np.repeat(edges[:, :-1].ravel(), n_sub)
    h = np.repeat((lengths.ravel() / np.maximum(n_sub, 1)), n_sub)
    row = np.repeat(np.repeat(np.arange(C), lengths.shape[1]), n_sub)
    left = left + h * (np.arange(n_sub.sum()) - np.repeat(np.cumsum(n_sub) - n_sub, n_sub))
    x, w = _leggauss(n_nodes)
    z = (left[:, None] + 0.5 * h[:, None] * (x + 1)).ravel()
    wts = (0.5 * h[:, None] * w).ravel() * _INV_SQRT_2PI * np.exp(-0.5 * z * z)
    return np.repeat(row, n_nodes), z, wts
