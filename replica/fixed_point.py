"""Root finding for the saddle-point equations y = T(y).

Newton's method, with the Jacobians the compiled maps provide, solves the usual problem in a
few evaluations; the other methods take over when it fails. Powell's hybrid method (MINPACK,
via scipy) handles the near-critical regime where damped iteration stalls, such as the
Donoho–Tanner line; Anderson-accelerated damped iteration is the fallback. Failures raise
:class:`ConvergenceError` with diagnostics. :func:`extrapolate` predicts the starting point of
a warm start along a sweep.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numba import njit
from scipy.optimize import root

from .errors import ConvergenceError
from .lapack import GESV, lu_solve

TOL = 1e-10


def _safe(T, y):
    """T(y), or NaNs where the map is undefined (e.g. χ → ∞ at an intermediate iterate).

    The compiled maps signal that with inf/NaN; the numpy ones may raise.
    """
    try:
        return np.asarray(T(y), float)
    except (ZeroDivisionError, OverflowError, FloatingPointError):
        return np.full(np.shape(y), np.nan)


def _residual(T, y):
    ty = _safe(T, y)
    r = ty - y
    return (float(np.max(np.abs(r))) if np.all(np.isfinite(r)) else np.inf), ty


def anderson(
    T: Callable, y0: np.ndarray, tol: float = TOL, maxiter: int = 200, memory: int = 5, beta: float = 0.5
) -> tuple[np.ndarray, float, int]:
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


def _fd_jacobian(T: Callable, y: np.ndarray, F: np.ndarray, h: float = 1e-7) -> np.ndarray:
    """Forward-difference Jacobian of F(y) = T(y) − y, given F at y."""
    J = np.empty((y.size, y.size))
    for i in range(y.size):
        e = np.zeros(y.size)
        e[i] = h
        J[:, i] = (_safe(T, y + e) - (y + e) - F) / h
    return J


def broyden(T: Callable, y0, J0: np.ndarray, tol: float = TOL, maxiter: int = 16, refresh_after: int = 5):
    """Broyden's method on F(y) = T(y) − y from y0 with a known Jacobian estimate J0 (a warm start).

    If it has not converged after ``refresh_after`` steps, the Jacobian is recomputed once by
    finite differences (a far warm start's estimate converges only linearly).
    Returns (y, residual, evaluations, J) — residual inf when it does not converge quickly.
    """
    y = np.asarray(y0, float)
    J = np.array(J0, float)
    F = _safe(T, y) - y
    calls = 1
    for step in range(maxiter):
        res = float(np.max(np.abs(F)))
        if not np.isfinite(res):
            break
        if res <= tol:
            return y, res, calls, J
        if step == refresh_after:
            J = _fd_jacobian(T, y, F)
            calls += y.size
        if not np.all(np.isfinite(J)):
            break
        try:
            dy = -np.linalg.solve(J, F)
        except np.linalg.LinAlgError:
            break
        for _ in range(4):  # backtrack: a far warm start can make the full quasi-Newton step overshoot
            y_new = y + dy
            F_new = _safe(T, y_new) - y_new
            calls += 1
            if np.all(np.isfinite(F_new)) and np.max(np.abs(F_new)) < 2 * res:
                break
            dy = dy / 4
        else:
            break
        # a vanishing step can blow the rank-one update up: stop quietly, the caller falls back
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            J = J + np.outer(F_new - F - J @ dy, dy) / (dy @ dy)
        y, F = y_new, F_new
    return y, np.inf, calls, J


def newton_update(y, t, J):
    """(max|F| (inf if not finite), dF/dy = J − I, Newton step −(dF/dy)⁻¹ F or NaNs when F or J is
    not finite or dF/dy singular) for F = T(y) − y. One compiled call: the maps are cheap enough that
    Python overhead would show (benchmarks/bench_predict.md)."""
    return _newton_update(y, t, J, GESV)


@njit(cache=True, error_model="numpy")
def _newton_update(y, t, J, gesv):
    # loops, not np.max/np.eye/np.all: the same values, and a second less of compiling on first use
    n = y.size
    F = t - y
    res, finite = 0.0, True
    for i in range(n):
        if not math.isfinite(F[i]):
            res = np.inf
        elif abs(F[i]) > res:
            res = abs(F[i])
    A = J.copy()
    for i in range(n):
        A[i, i] -= 1.0
        for j in range(n):
            finite = finite and math.isfinite(A[i, j])
    dy = np.empty(n)
    dy[:] = np.nan
    if res < np.inf and finite:
        x, _, logdet = lu_solve(A, F, gesv)
        if math.exp(logdet) > 1e-300:  # |det(A)|, as np.linalg.det computes it
            dy = -x
    return res, A, dy


def newton(TJ: Callable, y0, tol: float = TOL, maxiter: int = 30):
    """Newton's method on F(y) = T(y) − y, with (T(y), dT/dy, extra) = TJ(y, jacobian), halving steps
    that do not reduce max|F|.

    Near the root (max|F| ≤ √tol before a step, so that the quadratically convergent step should end
    below tol) the next evaluation skips the Jacobian: it is only the final check.
    Returns (y, residual, evaluations, dF/dy at the last point where it was computed, extra at y);
    residual inf when it fails (singular or non-finite Jacobian, no decrease in 8 halvings, or
    ``maxiter`` steps).
    """
    y = np.asarray(y0, float)
    t, J, extra = TJ(y, True)
    res, A, dy = newton_update(y, t, J)
    calls = 1
    close = math.sqrt(tol)
    for _ in range(maxiter):
        if res <= tol:
            return y, res, calls, A, extra
        if not (res < np.inf and np.isfinite(dy[0])):
            break
        with_jacobian = res > close
        for _ in range(8):
            y_new = y + dy
            t, J_new, extra_new = TJ(y_new, with_jacobian)
            calls += 1
            if not with_jacobian:
                J_new = J
            res_new, A_new, dy_new = newton_update(y_new, t, J_new)
            if res_new <= tol:
                return y_new, res_new, calls, A_new, extra_new
            if res_new < res:
                break
            dy = dy / 2
        else:
            break
        if not with_jacobian:  # the step did not end below tol after all: evaluate the Jacobian
            t, J_new, extra_new = TJ(y_new, True)
            calls += 1
            res_new, A_new, dy_new = newton_update(y_new, t, J_new)
        y, A, dy, res, extra = y_new, A_new, dy_new, res_new, extra_new
    return y, np.inf, calls, None, extra


def hybrid(T: Callable, y0, tol: float = TOL):
    """Powell's hybrid method on F(y) = T(y) − y, from y0.

    Returns (y, residual, evaluations, J) with J MINPACK's final Jacobian estimate of F (None if
    y0 already solved the equations, or if the estimate is not finite).
    """
    calls = 0

    def F(y):
        nonlocal calls
        calls += 1
        r = _safe(T, y) - y
        return np.where(np.isfinite(r), r, 1e6)

    y0 = np.asarray(y0, float)
    res, _ = _residual(T, y0)
    if res <= tol:
        return y0, res, 1, None
    sol = root(F, y0, method="hybr", options={"xtol": 1e-14, "maxfev": 60 * (y0.size + 1)})
    res, _ = _residual(T, sol.x)
    n = y0.size
    R = np.zeros((n, n))
    R[np.triu_indices(n)] = sol.r
    # MINPACK's final factors can be non-finite (seen on estimated IMDb settings): no usable Jacobian then
    with np.errstate(invalid="ignore", over="ignore"):
        J = sol.fjac.T @ R
    return sol.x, res, calls + 2, J if np.all(np.isfinite(J)) else None


def continuation(T_of: Callable, path, y0, tol: float = TOL, max_splits: int = 12):
    """Follow the fixed point of T_of(p) along the parameters ``path`` (ending at the target).

    Each step starts from the previous solution; a failed step is split geometrically.
    Returns (y, residual, evaluations) at path[-1].
    """
    y, calls, prev = np.asarray(y0, float), 0, None
    pending = list(path)
    splits = 0
    while pending:
        p = pending[0]
        y_new, res, c, _ = hybrid(T_of(p), y, tol)
        calls += c
        if res <= tol:
            y, prev = y_new, p
            pending.pop(0)
            continue
        if prev is None or splits >= max_splits:
            return y_new, res, calls
        splits += 1
        pending.insert(0, math.sqrt(prev * p) if prev > 0 and p > 0 else 0.5 * (prev + p))
    return y, res, calls


def solve(
    T_of: Callable,
    target: float,
    starts,
    stage: str,
    tol: float = TOL,
    context: Callable | None = None,
    path: Callable | None = None,
    jacobian: np.ndarray | None = None,
):
    """Solve y = T_of(target)(y); return (y, max|T(y) − y|, evaluations of T, Jacobian estimate of T(y) − y).

    Order of attempts: Broyden from the first start if its Jacobian is known (a warm start); the
    hybrid method from each start; continuation along ``path()`` = (parameters, y at the first one)
    from an easy problem; Anderson from the best point. ``context()``: extra diagnostics for the error.
    """
    T = T_of(target)
    calls, best = 0, (np.inf, None)
    n = np.size(starts[0])
    if jacobian is not None and np.shape(jacobian) == (n, n):
        y, res, c, J = broyden(T, starts[0], jacobian, tol)
        calls += c
        if res <= tol:
            return y, res, calls, J
    for y0 in starts:
        y, res, c, J = hybrid(T, y0, tol)
        calls += c
        if res <= tol:
            return y, res, calls, J if J is not None else jacobian
        if res < best[0]:
            best = (res, y)
    if path is not None:
        y, res, c = continuation(T_of, *path(), tol)
        calls += c
        if res <= tol:
            return y, res, calls, None
        if res < best[0]:
            best = (res, y)
    start = best[1] if best[1] is not None else np.asarray(starts[0], float)
    y, res, it = anderson(T, start, tol)
    calls += it
    J = None
    if np.isfinite(res) and res > tol:
        y2, res2, c, J2 = hybrid(T, y, tol)
        calls += c
        if res2 < res:
            y, res, J = y2, res2, J2
    if res <= tol:
        return y, res, calls, J
    raise ConvergenceError(
        f"{stage} saddle-point equations did not converge",
        {
            "stage": stage,
            "residual": res,
            "iterations": calls,
            "last_iterate": np.asarray(y).tolist(),
            **(context() if context else {}),
        },
    )


@njit(cache=True, error_model="numpy")
def extrapolate(thetas, y1s, y2s, theta):
    """Warm-start predictor: (y1, y2) at θ from the polynomial through the rows of (y1s, y2s), taken at
    parameters ``thetas`` (most recent first). Uses the longest run of rows that lie one after another
    behind θ on the line through θ and the most recent row (a sweep); Lagrange extrapolation to θ."""
    step = theta - thetas[0]
    n2 = step @ step
    if n2 == 0.0:
        return y1s[0].copy(), y2s[0].copy()
    n_step = math.sqrt(n2)
    k, rows = 0, thetas.shape[0]
    t = np.empty(rows)
    while k < rows:
        d = thetas[k] - theta
        tk = (d @ step) / n_step
        if tk >= 0.0 or tk * tk < 0.999998 * (d @ d) or (k > 0 and tk > t[k - 1] - 1e-12 * n_step):
            break
        t[k] = tk
        k += 1
    y1, y2 = np.zeros(y1s.shape[1]), np.zeros(y2s.shape[1])
    for i in range(k):
        w = 1.0  # Π_{j≠i} t_j / (t_j − t_i)
        for j in range(k):
            if j != i:
                w *= t[j] / (t[j] - t[i])
        y1 += w * y1s[i]
        y2 += w * y2s[i]
    return y1, y2
