"""Solvers of the effective problems of THEORY.md §7: N-dimensional weighted Lassos in Σ.

Every effective problem of the correlated theory is

    x = argmin_x  ½ xᵀΣx − bᵀx + Σ_i w_i |x_i|,      w_i ∈ [0, ∞]

(w_i = ∞ fixes x_i = 0), one per sampled draw. :func:`gram_lasso_batch` solves a batch of them
by cyclic coordinate descent on the Gram matrix Σ (unit diagonal): it keeps the gradient
g = Σx − b, so a coordinate that stays at zero costs O(1) and one that moves O(N). Warm starts
along the fixed-point iterations make most solves a few sweeps of the active set.

For an empirical Σ = BᵀB too large to hold (N > 4096), :func:`design_lasso` solves the same problem in
its least-squares form ½||Bx − c||² + Σ_i w_i|x_i| (b = Bᵀc) on the sparse design B itself.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .lapack import lu_solve

__all__ = ["gram_lasso_batch", "design_lasso"]

_MAX_ROUNDS = 10_000


@njit(cache=True)
def _sweep(S, b, w, x, g, active_only):
    """One cyclic pass; returns max |Δx_i| √Σ_ii."""
    N = x.size
    biggest = 0.0
    for i in range(N):
        wi = w[i]
        if not math.isfinite(wi):
            continue
        xi = x[i]
        if active_only and xi == 0.0:
            continue
        sii = S[i, i]
        z = sii * xi - g[i]
        if z > wi:
            new = (z - wi) / sii
        elif z < -wi:
            new = (z + wi) / sii
        else:
            new = 0.0
        d = new - xi
        if d != 0.0:
            x[i] = new
            row = S[i]
            for j in range(N):
                g[j] += row[j] * d
            step = abs(d) * math.sqrt(sii)
            if step > biggest:
                biggest = step
    return biggest


@njit(cache=True)
def _gradient(S, b, x, g):
    N = x.size
    for i in range(N):
        g[i] = -b[i]
    for j in range(N):
        xj = x[j]
        if xj != 0.0:
            row = S[j]
            for i in range(N):
                g[i] += row[i] * xj


@njit(cache=True)
def _objective(b, w, x, g):
    """½xᵀΣx − bᵀx + Σ w_i|x_i| from g = Σx − b."""
    out = 0.0
    for i in range(x.size):
        if x[i] != 0.0:
            out += 0.5 * x[i] * (g[i] - b[i]) + w[i] * abs(x[i])
    return out


@njit(cache=True)
def _copy(src, dst):
    """dst[:] = src, as a loop: numba compiles a slice assignment's shape error (~2 s per process)."""
    for i in range(src.size):
        dst[i] = src[i]


@njit(cache=True)
def _polish(S, b, w, x, g, gesv):
    """Newton step on the active set A: with the signs s of x fixed, the minimizer solves
    Σ_AA x_A = b_A − w_A s_A. Take it, with the coordinates whose sign it flips set to zero, if that
    lowers the objective; else move towards it up to the first coordinate that reaches zero (the
    objective decreases along that segment when Σ_AA is positive definite). Recomputes g. Returns False,
    x unchanged, if neither lowers the objective (Σ_AA numerically singular)."""
    act = np.nonzero(x)[0]
    m = act.size
    if m == 0:
        return False
    A = np.empty((m, m))
    rhs = np.empty(m)
    for a in range(m):
        i = act[a]
        rhs[a] = b[i] - w[i] * np.sign(x[i])
        for c in range(m):
            A[a, c] = S[i, act[c]]
    if not np.all(np.isfinite(rhs)):
        return False
    target, sign, _ = lu_solve(A, rhs, gesv)
    if sign == 0.0 or not np.all(np.isfinite(target)):
        return False
    before = _objective(b, w, x, g)
    old = x.copy()
    for a in range(m):
        i = act[a]
        x[i] = target[a] if target[a] * old[i] > 0.0 else 0.0
    _gradient(S, b, x, g)
    if _objective(b, w, x, g) < before:
        return True
    t, stop = 1.0, -1
    for a in range(m):
        xa = old[act[a]]
        if target[a] * xa <= 0.0:  # changes sign on the way: stop where it reaches zero
            reach = xa / (xa - target[a])
            if reach < t:
                t, stop = reach, a
    _copy(old, x)
    for a in range(m):
        i = act[a]
        x[i] += t * (target[a] - x[i])
    if stop >= 0:
        x[act[stop]] = 0.0
    _gradient(S, b, x, g)
    if _objective(b, w, x, g) < before:
        return True
    _copy(old, x)  # Σ_AA nearly singular: the step is not to be trusted
    _gradient(S, b, x, g)
    return False


@njit(cache=True)
def _settled(x, x0, g, g0, big, tol):
    """A pass moved no coordinate by more than ``tol``, or moved x only along (near-)null directions of
    Σ: (Δx)ᵀΣΔx = Δx·Δg ≤ N tol². The second case is a singular Σ (an empirical one with collinear
    columns), where coordinate descent creeps along a flat valley without changing the fit Bx, on
    which every statistic but the support count depends."""
    if big <= tol:
        return True
    move = 0.0
    for i in range(x.size):
        move += (x[i] - x0[i]) * (g[i] - g0[i])
    return move <= x.size * tol * tol


@njit(cache=True)
def gram_lasso(S, b, w, x, g, tol, gesv):
    """Solve one problem of the module docstring in place: ``x`` (warm start, zero where w = ∞)
    ends at the minimizer to max coordinate step ≤ ``tol`` over a full sweep (see :func:`_settled`
    for singular Σ), ``g`` at Σx − b. Coordinate descent crawls on ill-conditioned Σ with many active
    features (images at small λ): when 10 sweeps of the active set do not settle, a Newton step on the
    active set follows (:func:`_polish`; ``gesv`` is :data:`replica.lapack.GESV`), exact once the
    support and signs are right. Returns the number of sweeps (negative if it did not converge)."""
    _gradient(S, b, x, g)
    sweeps = 0
    for _ in range(_MAX_ROUNDS):
        x0, g0 = x.copy(), g.copy()
        big = _sweep(S, b, w, x, g, False)
        sweeps += 1
        if _settled(x, x0, g, g0, big, tol):
            return sweeps
        settled = False
        for _ in range(10):
            _copy(x, x0)
            _copy(g, g0)
            big = _sweep(S, b, w, x, g, True)
            sweeps += 1
            if _settled(x, x0, g, g0, big, tol):
                settled = True
                break
        if not settled:
            _polish(S, b, w, x, g, gesv)
    return -sweeps


@njit(cache=True)
def gram_lasso_batch(S, B, W, X, G, tol, gesv):
    """:func:`gram_lasso` for every row of ``B`` (linear terms), ``W`` (weights), ``X`` (warm
    starts, overwritten) and ``G`` (gradients, overwritten). Returns the sweeps per row (negative
    where a row did not converge)."""
    out = np.empty(B.shape[0], dtype=np.int64)
    for s in range(B.shape[0]):
        out[s] = gram_lasso(S, B[s], W[s], X[s], G[s], tol, gesv)
    return out


# ---- design form: ½||Bx − c||² + Σ w_i|x_i|, B = (X − 1μᵀ) diag(s) with X sparse (CSC) ---------------


@njit(cache=True)
def _design_sweep(design, n, w, x, raw, total, active_only):
    """One cyclic pass of coordinate descent with unit column norms ||B_j|| = 1. ``raw`` = c − X(x∘s) and
    ``total[0]`` = Σ raw: the residual is raw + (μ·(x∘s)) 1 and B_jᵀ(residual) = s_j (X_jᵀraw − μ_j Σ raw)
    (the centring is implicit, so X stays sparse). ``design`` = (data, indices, indptr, scale, mean) of
    :func:`design_lasso`. Returns max |Δx_j|."""
    data, indices, indptr, scale, mean = design
    biggest = 0.0
    for j in range(x.size):
        wj = w[j]
        if not math.isfinite(wj):
            continue
        xj = x[j]
        if active_only and xj == 0.0:
            continue
        dot = 0.0
        for p in range(indptr[j], indptr[j + 1]):
            dot += data[p] * raw[indices[p]]
        z = scale[j] * (dot - mean[j] * total[0]) + xj
        if z > wj:
            new = z - wj
        elif z < -wj:
            new = z + wj
        else:
            new = 0.0
        d = new - xj
        if d != 0.0:
            x[j] = new
            f = d * scale[j]
            for p in range(indptr[j], indptr[j + 1]):
                raw[indices[p]] -= f * data[p]
            total[0] -= f * n * mean[j]
            if abs(d) > biggest:
                biggest = abs(d)
    return biggest


@njit(cache=True)
def design_lasso(data, indices, indptr, scale, mean, c, w, x, tol):
    """Solve min ½||Bx − c||² + Σ w_j|x_j| in place (``x`` a warm start, zero where w = ∞) to max
    coordinate step ≤ ``tol`` over a full sweep. Returns (sweeps (negative if not converged), the residual
    c − Bx, and g = Bᵀ(Bx − c), the gradient of the Gram form)."""
    n, N = c.size, x.size
    design = (data, indices, indptr, scale, mean)
    raw = c.copy()
    for j in range(N):
        if x[j] != 0.0:
            f = x[j] * scale[j]
            for p in range(indptr[j], indptr[j + 1]):
                raw[indices[p]] -= f * data[p]
    total = np.zeros(1)
    total[0] = raw.sum()
    sweeps = 0
    converged = False
    for _ in range(_MAX_ROUNDS):
        big = _design_sweep(design, n, w, x, raw, total, False)
        sweeps += 1
        if big <= tol:
            converged = True
            break
        while big > tol and sweeps < 100 * _MAX_ROUNDS:
            big = _design_sweep(design, n, w, x, raw, total, True)
            sweeps += 1
    m = 0.0
    for j in range(N):
        m += mean[j] * scale[j] * x[j]
    resid = raw + m
    total_resid = resid.sum()
    g = np.empty(N)
    for j in range(N):
        dot = 0.0
        for p in range(indptr[j], indptr[j + 1]):
            dot += data[p] * resid[indices[p]]
        g[j] = -scale[j] * (dot - mean[j] * total_resid)
    return (sweeps if converged else -sweeps), resid, g
