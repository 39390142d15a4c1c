"""Root finding for the saddle-point equations y = T(y).

Powell's hybrid method (MINPACK, via scipy) handles the near-critical regime where
damped iteration stalls, such as the Donoho–Tanner line; Anderson-accelerated damped
iteration is the fallback. Failures raise :class:`ConvergenceError` with diagnostics.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.optimize import root

from .errors import ConvergenceError

TOL = 1e-10


def _residual(T, y):
    with np.errstate(all="ignore"):
        ty = T(y)
    r = ty - y
    return (float(np.max(np.abs(r))) if np.all(np.isfinite(r)) else np.inf), ty


def anderson(T: Callable, y0: np.ndarray, tol: float = TOL, maxiter: int = 400, memory: int = 5,
             beta: float = 0.5) -> tuple[np.ndarray, float, int]:
    """Anderson-accelerated damped iteration (type II). Returns (y, residual, iterations)."""
    y = np.array(y0, float)
    Y, G = [], []  # histories of iterates and residuals
    best = (np.inf, y)
    for it in range(1, maxiter + 1):
        res, ty = _residual(T, y)
        if not np.isfinite(res):
            # step back towards the best point: the map is undefined here
            y = 0.5 * (y + best[1])
            Y.clear(), G.clear()
            continue
        if res < best[0]:
            best = (res, y.copy())
        if res <= tol:
            return y, res, it
        g = ty - y
        Y.append(y.copy()), G.append(g)
        if len(Y) > memory + 1:
            Y.pop(0), G.pop(0)
        if len(Y) > 1:
            dY = np.diff(np.array(Y), axis=0).T
            dG = np.diff(np.array(G), axis=0).T
            gamma, *_ = np.linalg.lstsq(dG, g, rcond=None)
            y = y + beta * g - (dY + beta * dG) @ gamma
        else:
            y = y + beta * g
    return best[1], best[0], maxiter


def solve(T: Callable, starts, stage: str, tol: float = TOL, context: dict | None = None
          ) -> tuple[np.ndarray, float, int]:
    """Solve y = T(y) from the first start that works; return (y, max|T(y) − y|, evaluations of T).

    Each start gets Powell's hybrid method; if none reaches ``tol``, Anderson iteration runs
    from the best point found, then a final hybrid polish.
    """
    calls = 0

    def F(y):
        nonlocal calls
        calls += 1
        with np.errstate(all="ignore"):
            r = T(y) - y
        return np.where(np.isfinite(r), r, 1e6)

    def hybr(y):
        nonlocal calls
        sol = root(F, y, method="hybr", options={"xtol": 1e-14, "maxfev": 100 * (y.size + 1)})
        res, _ = _residual(T, sol.x)
        calls += 1
        return sol.x, res, sol.message

    best = (np.inf, None, "")
    for y0 in starts:
        y, res, msg = hybr(np.asarray(y0, float))
        if res <= tol:
            return y, res, calls
        if res < best[0]:
            best = (res, y, msg)
    start = best[1] if best[1] is not None else np.asarray(starts[0], float)
    y, res, it = anderson(T, start, tol)
    calls += it
    if np.isfinite(res):
        y2, res2, _ = hybr(y)
        if res2 < res:
            y, res = y2, res2
    if res <= tol:
        return y, res, calls
    raise ConvergenceError(
        f"{stage} saddle-point equations did not converge",
        {"stage": stage, "residual": res, "iterations": calls, "last_iterate": np.asarray(y).tolist(),
         "hybr_message": best[2], **(context or {})})
