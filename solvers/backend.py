"""Exact weighted Lasso with a linear term, and its duality gap.

Both stages of THEORY.md §2 (and stage 1 with the field H of §3) are instances of

    P(x) = ½ ||y − A x||² − hᵀx + Σ_j w_j |x_j|,      w_j ∈ [0, ∞]

(w_j = ∞ fixes x_j = 0, w_j = 0 leaves x_j unpenalized). :func:`solve_weighted_lasso`
minimizes it with scikit-learn's coordinate descent (gap-safe screening) on rescaled
columns, optionally on a working set grown from the KKT violators, tightening the inner
tolerance until the gap is met. The result is certified by :func:`duality_gap`; a fit that
does not reach the requested relative gap raises :class:`SolverError`.

Dual (for any dual point θ):  D(θ) = yᵀθ − ½||θ||²  subject to  |a_jᵀθ + h_j| ≤ w_j,
with equality a_jᵀθ + h_j = 0 where w_j = 0.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg, sparse
from scipy.sparse import linalg as sparse_linalg
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import enet_path

__all__ = ["LassoSolution", "SolverError", "duality_gap", "solve_weighted_lasso", "DEFAULT_TOL"]

DEFAULT_TOL = 1e-8
# P ≈ 0 for interpolating fits (λ = 0, no noise): judge those on the scale of ½||y||².
_GAP_FLOOR = 1e-10
_MAX_OUTER = 50


class SolverError(RuntimeError):
    """The weighted Lasso could not be solved to the requested duality gap."""


@dataclass(frozen=True)
class LassoSolution:
    coef: np.ndarray
    primal: float
    dual: float
    gap: float
    rel_gap: float
    n_outer: int


def _matvec(A, x):
    return np.asarray(A @ x).ravel()


def _rmatvec(A, r):
    return np.asarray(A.T @ r).ravel()


def _columns(A, idx) -> np.ndarray:
    cols = A[:, idx]
    return cols.toarray() if sparse.issparse(cols) else np.asarray(cols)


def _orth(B: np.ndarray) -> np.ndarray:
    """Orthonormal basis of range(B), rank-revealing (B may be singular)."""
    if B.shape[1] == 0:
        return B
    U, s, _ = linalg.svd(B, full_matrices=False, check_finite=False)
    rank = int(np.sum(s > s[0] * max(B.shape) * np.finfo(float).eps)) if s.size and s[0] > 0 else 0
    return U[:, :rank]


def duality_gap(A, y, weights, coef, linear=None) -> tuple[float, float, float, float]:
    """Primal P(x), dual D(θ), gap P − D and relative gap for the problem in the module docstring.

    θ is the residual r = y − A x made feasible: its component in range(A_Z) (Z = zero-weight
    features) is replaced by the one fixed by a_jᵀθ = −h_j, and the rest is scaled by the s that
    maximizes D over the feasible interval. The relative gap is (P − D) / max(|P|, 1e-10 · ½||y||²).
    """
    y = np.asarray(y, dtype=float)
    w = np.asarray(weights, dtype=float)
    x = np.asarray(coef, dtype=float)
    h = np.zeros_like(w) if linear is None else np.asarray(linear, dtype=float)
    finite = np.isfinite(w)
    if np.any(x[~finite] != 0):
        return np.inf, -np.inf, np.inf, np.inf
    r = y - _matvec(A, x)
    primal = 0.5 * r @ r - h @ x + np.sum(w[finite] * np.abs(x[finite]))

    zero = finite & (w == 0)
    theta_fixed = np.zeros_like(y)
    theta_free = r
    if np.any(zero):
        AZ = _columns(A, np.flatnonzero(zero))
        Qz = _orth(AZ)
        theta_free = r - Qz @ (Qz.T @ r)
        if np.any(h[zero] != 0):
            theta_fixed = -linalg.lstsq(AZ.T, h[zero], check_finite=False)[0]
    pos = finite & (w > 0)
    c_free = _rmatvec(A, theta_free)[pos]
    c_fixed = (_rmatvec(A, theta_fixed)[pos] if np.any(theta_fixed) else 0.0) + h[pos]
    # Feasible s: −w − c_fixed ≤ s c_free ≤ w − c_fixed for every positive-weight feature.
    lo, hi = -np.inf, np.inf
    wp = w[pos]
    with np.errstate(divide="ignore", invalid="ignore"):
        up = (wp - c_fixed) / c_free
        dn = (-wp - c_fixed) / c_free
    neg = c_free < 0
    posc = c_free > 0
    if np.any(posc):
        hi = min(hi, up[posc].min())
        lo = max(lo, dn[posc].max())
    if np.any(neg):
        hi = min(hi, dn[neg].min())
        lo = max(lo, up[neg].max())
    flat = c_free == 0
    if np.any(np.abs(c_fixed[flat]) > wp[flat]):
        lo, hi = np.inf, -np.inf
    nf = theta_free @ theta_free
    s_star = (y @ theta_free) / nf if nf > 0 else 0.0
    if lo > hi:
        return float(primal), -np.inf, np.inf, np.inf
    s = min(max(s_star, lo), hi)
    theta = theta_fixed + s * theta_free
    dual = y @ theta - 0.5 * theta @ theta
    gap = max(primal - dual, 0.0)
    scale = max(abs(primal), _GAP_FLOOR * 0.5 * (y @ y), np.finfo(float).tiny)
    return float(primal), float(dual), float(gap), float(gap / scale)


def _absorb(B, h):
    """Minimum-norm z with Bᵀz = h, to 1e-13 relative: then ½||y + z − Bx||² = ½||y − Bx||² − hᵀx + const.

    LSQR needs a few dozen products with B for the well-conditioned Gaussian designs here;
    a dense least-squares solve is the fallback.
    """
    z = sparse_linalg.lsqr(B.T, h, atol=0.0, btol=1e-14, conlim=1e12, iter_lim=20 * min(B.shape))[0]
    scale = np.linalg.norm(h)
    if np.linalg.norm(B.T @ z - h) > 1e-13 * scale:
        Bd = B.toarray() if sparse.issparse(B) else B
        z = linalg.lstsq(Bd.T, h, lapack_driver="gelsy", check_finite=False)[0]
        if np.linalg.norm(Bd.T @ z - h) > 1e-13 * scale:
            raise SolverError(
                f"linear term on {B.shape[1]} features cannot be absorbed into {B.shape[0]} "
                "samples (working set not of full column rank)"
            )
    return z


def _solve_subproblem(A, y, w, h, work, zero, x_init, cd_tol):
    """Weighted Lasso restricted to the features `work` (w > 0) and `zero` (w = 0).

    The linear term is absorbed exactly into y (y' = y + B (BᵀB)⁻¹ h_B, so Bᵀy' = Bᵀy + h_B);
    the unpenalized block is eliminated by projecting onto the orthogonal complement of its
    range, and the positive weights by column rescaling (sklearn's alpha = 1 / n_samples).
    Sparse designs stay sparse unless there is an unpenalized block (λ = 0 on some features).
    Returns coefficients on `work` and on `zero` (the latter minimum-norm given the former).
    """
    y_eff = y
    idx = np.concatenate([work, zero])
    everything = idx.size == A.shape[1] and np.array_equal(idx, np.arange(idx.size))
    if h is not None and np.any(h[idx]):
        y_eff = y + _absorb(A if everything else A[:, idx], h[idx])
    BW = A if everything else A[:, work]
    yW = y_eff
    if zero.size:
        BZ = _columns(A, zero)
        Qz = _orth(BZ)
        BW = _columns(A, work)
        BW = BW - Qz @ (Qz.T @ BW)
        yW = y_eff - Qz @ (Qz.T @ y_eff)
    xW = np.zeros(work.size)
    if work.size:
        if sparse.issparse(BW):
            Xs = sparse.csc_matrix(BW @ sparse.diags(1.0 / w[work]))
            Xs.sort_indices()
        else:
            Xs = np.asfortranarray(BW / w[work])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            _, coefs, _ = enet_path(
                Xs,
                yW,
                l1_ratio=1.0,
                alphas=[1.0 / Xs.shape[0]],
                precompute=False,
                coef_init=np.asfortranarray(x_init[work] * w[work]),
                tol=cd_tol,
                max_iter=100_000,
                check_input=False,
            )
        xW = coefs[:, 0] / w[work]
    xZ = np.zeros(zero.size)
    if zero.size:
        xZ = linalg.lstsq(BZ, y_eff - _matvec(A[:, work], xW), check_finite=False)[0]
    return xW, xZ


def solve_weighted_lasso(
    A, y, weights, linear=None, coef_init=None, tol: float = DEFAULT_TOL, working_set: bool = False
) -> LassoSolution:
    """Minimize P(x) = ½||y − Ax||² − hᵀx + Σ w_j|x_j| to relative duality gap ≤ tol (checked).

    A : (M, N) dense array or scipy.sparse matrix; y : (M,); weights : (N,) in [0, ∞];
    linear : (N,) h or None; coef_init : warm start. ``working_set=False`` (the default, fastest in
    benchmarks/bench_backends.md) hands all features to coordinate descent, whose gap-safe
    screening discards the inactive ones; ``True`` grows a working set from the KKT violators. Unpenalized features (w = 0) get the
    minimum-norm solution when A restricted to them is rank deficient.
    """
    y = np.asarray(y, dtype=float)
    w = np.asarray(weights, dtype=float)
    N = w.size
    h = None if linear is None else np.asarray(linear, dtype=float)
    if A.shape != (y.size, N):
        raise ValueError(f"design of shape {A.shape} does not match y ({y.size},) and weights ({N},)")
    if np.any(np.isnan(w)) or np.any(w < 0):
        raise ValueError("weights must lie in [0, inf]")
    finite = np.isfinite(w)
    zero = np.flatnonzero(finite & (w == 0))
    pos = finite & (w > 0)
    x = np.zeros(N) if coef_init is None else np.where(finite, np.asarray(coef_init, dtype=float), 0.0)

    c = _rmatvec(A, y - _matvec(A, x)) + (0 if h is None else h)
    ratio = np.where(pos, np.abs(c) / np.where(pos, w, 1.0), -np.inf)
    if h is not None and np.any(h) and pos.sum() + zero.size > y.size:
        # the linear term is absorbed into y, which needs a working set of full column rank
        working_set = True
    max_work = y.size - zero.size if h is not None and np.any(h) else N
    n0 = min(int(pos.sum()), max(100, 2 * int(np.count_nonzero(x[pos])))) if working_set else int(pos.sum())
    n0 = min(n0, max_work)
    top = np.argsort(-ratio)[:n0]
    work = np.union1d(np.flatnonzero(pos & (x != 0)), top).astype(int)
    cd_tol = 1e-10
    best = None
    for outer in range(1, _MAX_OUTER + 1):
        xW, xZ = _solve_subproblem(A, y, w, h, work, zero, x, cd_tol)
        x = np.zeros(N)
        x[work], x[zero] = xW, xZ
        primal, dual, gap, rel = duality_gap(A, y, w, x, h)
        if best is None or rel < best.rel_gap:
            best = LassoSolution(x, primal, dual, gap, rel, outer)
        if rel <= tol:
            return best
        c = _rmatvec(A, y - _matvec(A, x)) + (0 if h is None else h)
        viol = pos & (np.abs(c) > w) & (x == 0)
        viol[work] = False
        if not np.any(viol):
            cd_tol *= 1e-2  # the working set is right; the inner solve was not accurate enough
            if cd_tol < 1e-16:
                break
            continue
        cand = np.flatnonzero(viol)
        cand = cand[np.argsort(-(np.abs(c[cand]) / w[cand]))]
        n_add = min(max(100, work.size), max_work - work.size)
        if n_add <= 0:
            break
        work = np.union1d(work, cand[:n_add]).astype(int)
    raise SolverError(
        f"weighted Lasso reached relative duality gap {best.rel_gap:.3g} > tol {tol:.3g} "
        f"after {best.n_outer} working-set iterations"
    )
