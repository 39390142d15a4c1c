"""The certified weighted Lasso on a plain design: exact solvers, a linear term, and the duality gap.

Both stages of THEORY.md §2 (and stage 1 with the field H of §3) are instances of

    P(x) = ½ ||y − A x||² − hᵀx + Σ_j w_j |x_j|,      w_j ∈ [0, ∞]

(w_j = ∞ fixes x_j = 0, w_j = 0 leaves x_j unpenalized). :func:`solve_weighted_lasso`
minimizes it with one of two exact inner solvers, chosen per regime
(benchmarks/bench_backends.md):

* ``"sklearn"`` — scikit-learn's coordinate descent (gap-safe screening) on rescaled columns,
  optionally on a working set grown from the KKT violators; unpenalized features are projected
  out and the linear term is absorbed into y. The choice for dense designs, a linear term or
  unpenalized features.
* ``"skglm"`` — skglm's working-set coordinate descent with Anderson acceleration and a
  ``WeightedL1`` penalty, on the columns of finite weight. The choice for large sparse designs.

Whatever the inner solver and its own stopping rule, the result is certified by
:func:`duality_gap`: the inner tolerance is tightened (warm-started) until the requested
relative gap is met, skglm falls back to the scikit-learn path if it stalls, and a fit that
still misses the gap raises :class:`SolverError`.

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

__all__ = [
    "BACKENDS",
    "LassoSolution",
    "SolverError",
    "duality_gap",
    "solve_weighted_lasso",
    "choose_backend",
    "SKGLM_MIN_NNZ",
    "DEFAULT_TOL",
    "GAP_FLOOR",
]

DEFAULT_TOL = 1e-8
# P ≈ 0 for interpolating fits (λ = 0, no noise): judge those on the scale of ½||y||².
GAP_FLOOR = 1e-10
_MAX_OUTER = 50
BACKENDS = ("auto", "sklearn", "skglm")
# "auto" hands a sparse design to skglm from this many stored entries on: below it the
# scikit-learn path was as fast or faster, and small fits should not pay the one-time numba
# compilation of skglm's kernels (~5 s of CPU per process).
SKGLM_MIN_NNZ = 500_000
# skglm stops on its largest KKT violation ε/M (its loss is scaled by 1/M); the relative gap is
# about ε/w, so the first attempt asks for tol · min(w) / M and each retry for 100× less.
_SKGLM_TIGHTEN = 1e-2
_SKGLM_TOL_FLOOR = 1e-18


class SolverError(RuntimeError):
    """The weighted Lasso could not be solved to the requested duality gap.

    The message names the gap reached and the backends tried, so a failure is never silent.

    Examples
    --------
    >>> try:
    ...     raise SolverError("relative gap 1e-3 > 1e-8 after 50 outer iterations")
    ... except SolverError as err:
    ...     print(err)
    relative gap 1e-3 > 1e-8 after 50 outer iterations
    """


@dataclass(frozen=True)
class LassoSolution:
    """A certified fit of the weighted Lasso of the module docstring.

    Attributes
    ----------
    coef : ndarray of shape (N,)
        The minimizer x.
    primal : float
        P(x).
    dual : float
        D(θ) at the feasible dual point of :func:`duality_gap`.
    gap : float
        P − D ≥ 0.
    rel_gap : float
        The relative gap that was certified (≤ the requested ``tol``).
    n_outer : int
        Inner solves used (re-solves with tighter inner tolerances count).
    backend : str
        ``"sklearn"`` or ``"skglm"``: the solver that produced ``coef``.

    Examples
    --------
    >>> import numpy as np
    >>> sol = solve_weighted_lasso(np.eye(3), np.array([3.0, 0.5, -2.0]), np.ones(3))
    >>> sol.coef.round(6).tolist(), bool(sol.rel_gap <= DEFAULT_TOL)
    ([2.0, 0.0, -1.0], True)
    """

    coef: np.ndarray
    primal: float
    dual: float
    gap: float
    rel_gap: float
    n_outer: int
    backend: str = "sklearn"


def _matvec(A, x):
    return np.asarray(A @ x).ravel()


def _rmatvec(A, r):
    return np.asarray(A.T @ r).ravel()


def _columns(A, idx) -> np.ndarray:
    if isinstance(A, sparse_linalg.LinearOperator):  # e.g. a block-centred design (solvers.lasso.centred)
        unit = np.zeros(A.shape[1])
        cols = []
        for j in idx:
            unit[j] = 1.0
            cols.append(A.matvec(unit))
            unit[j] = 0.0
        return np.column_stack(cols) if cols else np.zeros((A.shape[0], 0))
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

    Parameters
    ----------
    A, y, weights
        The problem, as in :func:`solve_weighted_lasso`; a feature of infinite weight must have ``coef`` 0.
    coef : ndarray of shape (N,)
        The point x to certify.
    linear : ndarray of shape (N,), optional
        The linear term h, as in :func:`solve_weighted_lasso`.

    Returns
    -------
    primal, dual, gap, rel_gap : float
        P(x), D(θ), P − D and the relative gap; (inf, −inf, inf, inf)-like values when x or the
        dual is infeasible.

    Examples
    --------
    >>> import numpy as np
    >>> P, D, gap, rel = duality_gap(np.eye(2), np.array([3.0, 0.5]), np.ones(2), np.array([2.0, 0.0]))
    >>> round(P, 12), round(D, 12), gap
    (2.625, 2.625, 0.0)
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
    scale = max(abs(primal), GAP_FLOOR * 0.5 * (y @ y), np.finfo(float).tiny)
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


def choose_backend(backend, A, has_zero, has_linear) -> str:
    """The inner solver for ``backend`` (one of BACKENDS) on design A.

    skglm's penalty has no linear term, and its unpenalized features would not get the
    minimum-norm solution; both stay with the scikit-learn path.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if backend == "auto":
        large_sparse = sparse.issparse(A) and A.nnz >= SKGLM_MIN_NNZ
        return "skglm" if large_sparse and not has_zero and not has_linear else "sklearn"
    if backend == "skglm" and (has_zero or has_linear):
        raise ValueError("backend='skglm' takes neither a linear term nor zero weights; use 'auto' or 'sklearn'")
    return backend


def _skglm_design(A, cols):
    """Columns ``cols`` (None: all) of A in the layout skglm's kernels read: CSC with sorted
    indices, or Fortran-ordered float64."""
    if sparse.issparse(A):
        X = sparse.csc_matrix(A if cols is None else A[:, cols], dtype=np.float64)
        if not X.has_sorted_indices:
            X = X.sorted_indices()
        return X
    return np.asfortranarray(A if cols is None else A[:, cols], dtype=np.float64)


def _solve_skglm(A, y, w, x, tol) -> LassoSolution:
    """skglm's working-set coordinate descent (AndersonCD, WeightedL1) on the finite-weight
    columns (all weights > 0), warm-started from x, tightened until :func:`duality_gap` ≤ tol.

    Returns the best certified attempt; the caller falls back when it misses tol (skglm stops
    on its own KKT criterion and gives up after a fixed number of working-set iterations).
    """
    from skglm.datafits import Quadratic
    from skglm.penalties import WeightedL1
    from skglm.solvers import AndersonCD

    cols = np.flatnonzero(np.isfinite(w))
    M, N = y.size, w.size
    if cols.size == 0:
        return LassoSolution(np.zeros(N), *duality_gap(A, y, w, np.zeros(N)), 0, "skglm")
    X = _skglm_design(A, None if cols.size == N else cols)
    y = np.ascontiguousarray(y)
    wf = w[cols]
    coef = x[cols].copy()

    def certified(c, attempt):
        # infinite weights impose no dual constraint: the gap on X equals the gap on A
        x_full = np.zeros(N)
        x_full[cols] = c
        return LassoSolution(x_full, *duality_gap(X, y, wf, c), attempt, "skglm")

    best = certified(coef, 0)  # a warm start from a CV path may already be certified
    sk_tol, previous = tol * wf.min() / M, np.inf
    for attempt in range(1, _MAX_OUTER + 1):
        if best.rel_gap <= tol or sk_tol < _SKGLM_TOL_FLOOR:
            break
        solver = AndersonCD(tol=sk_tol, fit_intercept=False)
        # skglm updates both warm-start arrays in place
        coef = solver.solve(X, y, Quadratic(), WeightedL1(1.0 / M, wf), coef.copy(), _matvec(X, coef))[0]
        if not np.all(np.isfinite(coef)):
            break
        sol = certified(coef, attempt)
        if sol.rel_gap < best.rel_gap:
            best = sol
        if sol.rel_gap > 0.5 * previous:  # tightening skglm's own criterion no longer helps
            break
        sk_tol, previous = sk_tol * _SKGLM_TIGHTEN, sol.rel_gap
    return best


def solve_weighted_lasso(
    A,
    y,
    weights,
    linear=None,
    coef_init=None,
    tol: float = DEFAULT_TOL,
    working_set: bool = False,
    *,
    backend: str = "auto",
) -> LassoSolution:
    """Minimize P(x) = ½||y − Ax||² − hᵀx + Σ w_j|x_j| to relative duality gap ≤ tol (checked).

    This is each stage of THEORY.md §2 (stage 1 with the field H of §3 when ``linear`` is set).

    Parameters
    ----------
    A : ndarray or scipy.sparse matrix of shape (M, N)
        Design.
    y : ndarray of shape (M,)
        Response.
    weights : ndarray of shape (N,)
        Per-feature penalties w_j in [0, ∞]; ∞ drops the feature (x_j = 0), 0 leaves it
        unpenalized (minimum-norm solution when A restricted to those features is rank deficient).
    linear : ndarray of shape (N,), optional
        The linear term h (None: 0).
    coef_init : ndarray of shape (N,), optional
        Warm start.
    tol : float, default DEFAULT_TOL
        Relative duality gap to certify (see :func:`duality_gap`).
    working_set : bool, default False
        Scikit-learn path only. ``False`` (fastest in benchmarks/bench_backends.md) hands
        all features to coordinate descent, whose gap-safe screening discards the inactive ones;
        ``True`` grows a working set from the KKT violators.
    backend : {"auto", "sklearn", "skglm"}, default "auto"
        ``"auto"`` is skglm for sparse designs with at least 500,000 stored entries, no linear
        term and no unpenalized feature, scikit-learn otherwise.

    Returns
    -------
    LassoSolution
        coef, primal, dual, gap, rel_gap ≤ tol, n_outer (inner solves) and the backend that
        produced the certified fit.

    Raises
    ------
    SolverError
        if no solver reaches the gap. ValueError on inconsistent shapes, weights outside
        [0, ∞], an unknown backend, or ``backend="skglm"`` with a linear term or zero weights.

    Examples
    --------
    >>> import numpy as np
    >>> A = np.random.default_rng(0).standard_normal((40, 60))
    >>> y = A[:, :3] @ np.ones(3)
    >>> sol = solve_weighted_lasso(A, y, np.full(60, 5.0))
    >>> bool(sol.rel_gap <= DEFAULT_TOL), sol.backend
    (True, 'sklearn')
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
    has_linear = h is not None and bool(np.any(h))
    backend = choose_backend(backend, A, bool(zero.size), has_linear)
    skglm_note = ""
    if backend == "skglm":
        first = _solve_skglm(A, y, w, x, tol)
        if first.rel_gap <= tol:
            return first
        # skglm stalled above tol: the scikit-learn path continues from its best iterate
        x = first.coef
        skglm_note = f"; skglm reached {first.rel_gap:.3g} after {first.n_outer} attempts"

    c = _rmatvec(A, y - _matvec(A, x)) + (0 if h is None else h)
    ratio = np.where(pos, np.abs(c) / np.where(pos, w, 1.0), -np.inf)
    if has_linear and pos.sum() + zero.size > y.size:
        # the linear term is absorbed into y, which needs a working set of full column rank
        working_set = True
    max_work = y.size - zero.size if has_linear else N
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
        f"after {best.n_outer} working-set iterations of the scikit-learn path{skglm_note}"
    )
