"""Shared plotting helpers of the experiments: heat maps on (possibly logarithmic) grids."""

from __future__ import annotations

import numpy as np
from matplotlib import colors

__all__ = ["STYLE", "heatmap", "winner_map"]

# one colour and marker per strategy, the same in every figure
STYLE = {
    "full": ("black", "o"),
    "value": ("tab:blue", "s"),
    "support": ("tab:orange", "^"),
    "trans_lasso": ("tab:green", "v"),
    "pretraining_lasso": ("tab:purple", "D"),
    "target_only": ("tab:gray", "x"),
    "pretrained": ("tab:brown", "+"),
}


def _edges(centers: np.ndarray, log: bool) -> np.ndarray:
    c = np.log(centers) if log else np.asarray(centers, float)
    mid = (c[1:] + c[:-1]) / 2
    e = (
        np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]])
        if c.size > 1
        else np.array([c[0] - 0.5, c[0] + 0.5])
    )
    return np.exp(e) if log else e


def heatmap(ax, x, y, Z, *, logx=True, logy=True, log_color=False, vmin=None, vmax=None, cmap="viridis", label=None):
    """``Z[i, j]`` at (x[j], y[i]) as a pcolormesh with a colour bar; returns the mesh."""
    Z = np.ma.masked_invalid(np.asarray(Z, float))
    norm = None
    if log_color:
        positive = Z[Z > 0]
        lo = vmin if vmin is not None else (positive.min() if positive.size else 1e-6)
        hi = vmax if vmax is not None else (positive.max() if positive.size else 1.0)
        norm = colors.LogNorm(vmin=lo, vmax=max(hi, lo * 10))
        Z = np.ma.masked_less_equal(Z, 0) if vmin is None else np.ma.maximum(Z, lo)
        vmin = vmax = None
    mesh = ax.pcolormesh(
        _edges(np.asarray(x), logx),
        _edges(np.asarray(y), logy),
        Z,
        shading="flat",
        cmap=cmap,
        norm=norm,
        vmin=vmin,
        vmax=vmax,
    )
    if logx:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.figure.colorbar(mesh, ax=ax, label=label)
    return mesh


def winner_map(ax, x, y, diff, *, logx=True, logy=True, label="(ε_value − ε_support)/ε_full"):
    """Signed relative difference value − support: blue where value wins, orange where support wins."""
    d = np.ma.masked_invalid(np.asarray(diff, float))
    lim = float(np.nanmax(np.abs(d))) if d.count() else 1.0
    mesh = heatmap(ax, x, y, d, logx=logx, logy=logy, cmap="PuOr_r", label=label, vmin=-lim, vmax=lim)
    if d.count() and np.nanmin(d) < 0 < np.nanmax(d):
        ax.contour(np.asarray(x), np.asarray(y), d.filled(np.nan), levels=[0.0], colors="k", linewidths=1.2)
    return mesh
