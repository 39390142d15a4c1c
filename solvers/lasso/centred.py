"""Stacked datasets with one free intercept each, kept sparse, and a gap-certified weighted Lasso on them.

The two-stage estimator of THEORY.md §2 with intercepts: stage 1 minimizes
½ Σ_k ||y_k − b_k 1 − A_k x||² + Σ_j w_j |x_j| over x and the per-dataset intercepts b_k.
Minimizing over b_k first centres y_k and the columns of A_k within dataset k, so the
problem is a weighted Lasso on the block-centred design A_c = A − D μ (D: dataset
indicators, μ: (K, N) per-dataset column means). A_c of a sparse A is dense, so it is never
formed: the coordinate descent of :func:`_cd` keeps the residual of the *uncentred* design,
r_raw = y_c − A x, and K numbers per dataset, from which the centred residual is
r = r_raw + D (μ x) and the gradient a_cjᵀ r = a_jᵀ r_raw − Σ_k μ_kj Σ_{i∈k} r_raw,i; one
update costs O(nnz(a_j) + K), as scikit-learn's implicit centring does for one dataset.

Every solve ends with a duality-gap check (the dual point is the scaled centred residual, which
satisfies the intercepts' equality constraints); a solve that does not reach the requested
relative gap raises :class:`solvers.lasso.SolverError`. Dense input is converted to CSC
(the kernel is one code path for both).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg

from .weighted import GAP_FLOOR, SolverError, duality_gap

__all__ = ["Design", "lasso", "lasso_path", "certify"]

_MAX_ROUNDS = 200


class Design:
    """Datasets stacked row-wise (CSC), with per-dataset column means if ``fit_intercept``.

    Parameters
    ----------
    blocks : list of (M_k, N) arrays or sparse matrices, all with the same N.
    fit_intercept : bool
        If True each block gets its own free intercept (columns centred within the block, implicitly).
    """

    def __init__(self, blocks, fit_intercept: bool):
        mats = [sparse.csc_matrix(b, dtype=np.float64) if not sparse.issparse(b) else b for b in blocks]
        A = sparse.vstack(mats, format="csc") if len(mats) > 1 else sparse.csc_matrix(mats[0], dtype=np.float64)
        A.sum_duplicates()
        A.sort_indices()
        self.A = A
        self.counts = np.array([m.shape[0] for m in mats], dtype=np.float64)
        self.groups = np.repeat(np.arange(len(mats)), [m.shape[0] for m in mats]).astype(np.int64)
        self.fit_intercept = bool(fit_intercept)
        if fit_intercept:
            self.mu = np.vstack([np.asarray(m.mean(axis=0)).ravel() for m in mats])
        else:
            self.mu = np.zeros((len(mats), A.shape[1]))
        sq = np.asarray(A.multiply(A).sum(axis=0)).ravel()
        self.colsq = np.maximum(sq - self.counts @ self.mu**2, 0.0)
        # a column constant within every block is the zero column of A_c (roundoff may leave ~1e-16)
        self.colsq[self.colsq <= 1e-12 * np.maximum(sq, 1e-300)] = 0.0

    @property
    def shape(self):
        return self.A.shape

    def center(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(y minus its per-block mean, the per-block means); y unchanged without intercepts."""
        y = np.asarray(y, dtype=np.float64)
        if not self.fit_intercept:
            return y, np.zeros(self.counts.size)
        means = np.bincount(self.groups, weights=y, minlength=self.counts.size) / self.counts
        return y - means[self.groups], means

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """A_c x (the block-centred design times x)."""
        return np.asarray(self.A @ x).ravel() - (self.mu @ x)[self.groups]

    def rmatvec(self, r: np.ndarray) -> np.ndarray:
        """A_cᵀ r."""
        sums = np.bincount(self.groups, weights=r, minlength=self.counts.size)
        return np.asarray(self.A.T @ r).ravel() - sums @ self.mu

    def operator(self) -> sparse_linalg.LinearOperator:
        """A_c as a LinearOperator (for :func:`solvers.lasso.duality_gap`)."""
        return sparse_linalg.LinearOperator(self.shape, matvec=self.matvec, rmatvec=self.rmatvec, dtype=np.float64)

    def lam_max(self, y_c: np.ndarray) -> float:
        """||A_cᵀ y_c||_∞: the smallest penalty with the all-zero solution."""
        return float(np.max(np.abs(self.rmatvec(y_c))))


@njit(cache=True)
def _gap(data, indices, indptr, groups, mu, counts, y, w, x, raw, per_y):
    N, K = x.size, counts.size
    R = np.zeros(K)
    for i in range(raw.size):
        R[groups[i]] += raw[i]
    s = np.zeros(K)
    for k in range(K):
        for j in range(N):
            if x[j] != 0.0:
                s[k] += mu[k, j] * x[j]
    rr = 0.0
    yr = 0.0
    yy = 0.0
    for i in range(raw.size):
        ri = raw[i] + s[groups[i]]
        rr += ri * ri
        yr += y[i] * ri
        yy += y[i] * y[i]
    pen = 0.0
    ratio = 0.0
    for j in range(N):
        if not np.isfinite(w[j]):
            continue
        pen += w[j] * abs(x[j])
        c = 0.0
        for p in range(indptr[j], indptr[j + 1]):
            c += data[p] * raw[indices[p]]
        for k in range(K):
            c -= mu[k, j] * R[k]
        if w[j] > 0:
            ratio = max(ratio, abs(c) / w[j])
        elif abs(c) > 1e-12 * np.sqrt(rr + 1e-300):
            ratio = np.inf
    primal = 0.5 * rr + pen
    a = yr / rr if rr > 0 else 0.0
    if ratio > 0:
        a = min(max(a, -1.0 / ratio), 1.0 / ratio)
    dual = a * yr - 0.5 * a * a * rr
    gap = max(primal - dual, 0.0)
    denom = 0.5 * yy if per_y else max(abs(primal), GAP_FLOOR * 0.5 * yy)
    return gap / max(denom, 1e-300), primal


@njit(cache=True)
def _sweep(data, indices, indptr, groups, mu, counts, colsq, w, x, raw, R, only_active):
    N, K = x.size, counts.size
    biggest = 0.0
    for j in range(N):
        if colsq[j] == 0.0 or not np.isfinite(w[j]):
            continue
        if only_active and x[j] == 0.0:
            continue
        c = 0.0
        for p in range(indptr[j], indptr[j + 1]):
            c += data[p] * raw[indices[p]]
        for k in range(K):
            c -= mu[k, j] * R[k]
        z = c + colsq[j] * x[j]
        new = 0.0
        if z > w[j]:
            new = (z - w[j]) / colsq[j]
        elif z < -w[j]:
            new = (z + w[j]) / colsq[j]
        d = new - x[j]
        if d != 0.0:
            x[j] = new
            for p in range(indptr[j], indptr[j + 1]):
                raw[indices[p]] -= d * data[p]
            for k in range(K):
                R[k] -= d * counts[k] * mu[k, j]
            biggest = max(biggest, d * d * colsq[j])
    return biggest


@njit(cache=True)
def _residual(data, indices, indptr, groups, counts, y, x):
    raw = y.copy()
    for j in range(x.size):
        if x[j] != 0.0:
            for p in range(indptr[j], indptr[j + 1]):
                raw[indices[p]] -= data[p] * x[j]
    R = np.zeros(counts.size)
    for i in range(raw.size):
        R[groups[i]] += raw[i]
    return raw, R


@njit(cache=True)
def _primal(raw, groups, mu, w, x):
    s = mu @ x
    rr = 0.0
    for i in range(raw.size):
        ri = raw[i] + s[groups[i]]
        rr += ri * ri
    pen = 0.0
    for j in range(x.size):
        if x[j] != 0.0:
            pen += w[j] * abs(x[j])
    return 0.5 * rr + pen


_ANDERSON = 5  # iterates per Anderson extrapolation (as skglm)
_GAP_EVERY = 100  # active-set sweeps between duality-gap checks inside a round (a check costs about one full sweep)


def _cd(data, indices, indptr, groups, mu, counts, colsq, y, w, x, tol, max_rounds, per_y):
    """Coordinate descent to relative duality gap ``tol``: a full sweep, then sweeps of the nonzeros
    until they settle, accelerated by Anderson extrapolation of every ``_ANDERSON`` iterates (kept
    only if it lowers the objective; CD alone crawls when the active set nearly fills the rows)."""
    raw, R = _residual(data, indices, indptr, groups, counts, y, x)
    args = (data, indices, indptr, groups, mu, counts, colsq, w)
    yy = 0.5 * float(y @ y)
    primal = yy + 1e-300
    factor = 0.1
    rel = np.inf
    for rounds in range(max_rounds):
        big = _sweep(*args, x, raw, R, False)
        inner = factor * tol * (yy if per_y else primal) / (1.0 + np.count_nonzero(x))
        history = []
        for sweeps in range(1, 100_001):
            if big <= inner:
                break
            big = _sweep(*args, x, raw, R, True)
            if sweeps % _GAP_EVERY == 0:
                # the inner threshold shrinks tenfold per round; near interpolation, where CD crawls,
                # it can ask for far more than the gap needs
                rel, primal = _gap(data, indices, indptr, groups, mu, counts, y, w, x, raw, per_y)
                if rel <= tol:
                    return rel, rounds + 1
            history.append(x.copy())
            if len(history) == _ANDERSON + 1:
                X = np.array(history)
                U = np.diff(X, axis=0)
                C = U @ U.T
                try:
                    z = np.linalg.solve(C + 1e-10 * np.trace(C) * np.eye(_ANDERSON), np.ones(_ANDERSON))
                except np.linalg.LinAlgError:
                    z = None
                history = []
                if z is not None and np.all(np.isfinite(z)) and z.sum() != 0:
                    x_acc = (z / z.sum()) @ X[1:]
                    raw_acc, R_acc = _residual(data, indices, indptr, groups, counts, y, x_acc)
                    if _primal(raw_acc, groups, mu, w, x_acc) < _primal(raw, groups, mu, w, x):
                        x[:] = x_acc
                        raw, R = raw_acc, R_acc
        rel, primal = _gap(data, indices, indptr, groups, mu, counts, y, w, x, raw, per_y)
        if rel <= tol:
            return rel, rounds + 1
        factor *= 0.1
    return rel, max_rounds


def lasso(design: Design, y_c: np.ndarray, weights: np.ndarray, coef_init=None, tol: float = 1e-8, per_y=False):
    """Minimize ½||y_c − A_c x||² + Σ_j w_j |x_j| (w_j ∈ (0, ∞]) to relative duality gap ≤ tol.

    The gap is relative to the primal value (as :func:`solvers.lasso.duality_gap`), or, with
    ``per_y``, to ½||y_c||² (as scikit-learn's tolerance): then ||A_c(x − x*)||² ≤ 2 tol ½||y_c||²,
    which bounds what a validation error can move, and is what cross-validation needs.

    ``y_c`` must be centred per block (:meth:`Design.center`) when the design has intercepts.
    Returns (x, relative gap); raises :class:`SolverError` if the gap is not reached.
    """
    A = design.A
    w = np.asarray(weights, dtype=np.float64)
    if np.all(w[np.isfinite(w)] == 0):
        return _least_squares(design, y_c, w, tol, per_y)
    x = np.zeros(A.shape[1]) if coef_init is None else np.array(coef_init, dtype=np.float64)
    x[~np.isfinite(w) | (design.colsq == 0)] = 0.0
    rel, _ = _cd(
        A.data, A.indices, A.indptr, design.groups, design.mu, design.counts, design.colsq,
        np.ascontiguousarray(y_c, dtype=np.float64), w, x, float(tol), _MAX_ROUNDS, bool(per_y),
    )  # fmt: skip
    if not rel <= tol:
        raise SolverError(f"weighted Lasso reached relative duality gap {rel:.3g} > tol {tol:.3g}")
    return x, float(rel)


def _least_squares(design: Design, y_c, w, tol: float, per_y: bool):
    """No penalty on any finite-weight feature: the minimum-norm least-squares solution (LSQR from
    zero converges to it), on the columns of finite weight, certified like every other solve."""
    cols = np.flatnonzero(np.isfinite(w))
    x = np.zeros(w.size)
    if cols.size:
        op = design.operator()
        sub = sparse_linalg.LinearOperator(
            (op.shape[0], cols.size),
            matvec=lambda z: op.matvec(_embed(z, cols, w.size)),
            rmatvec=lambda r: op.rmatvec(r)[cols],
            dtype=np.float64,
        )
        x[cols] = sparse_linalg.lsqr(sub, y_c, atol=1e-15, btol=1e-15, conlim=1e14, iter_lim=20 * max(op.shape))[0]
    P, _, gap, rel = duality_gap(design.operator(), y_c, w, x)
    if per_y:
        rel = gap / max(0.5 * float(y_c @ y_c), 1e-300)
    if not rel <= tol:
        raise SolverError(f"least squares (no penalty) reached relative duality gap {rel:.3g} > tol {tol:.3g}")
    return x, float(rel)


def _embed(z, cols, n):
    out = np.zeros(n)
    out[cols] = z
    return out


def certify(design: Design, y_c, weights, coef, tol: float) -> float:
    """Relative duality gap of ``coef`` by :func:`solvers.lasso.duality_gap` on the centred operator."""
    w = np.asarray(weights, dtype=np.float64)
    rel = duality_gap(design.operator(), y_c, w, coef)[3]
    if not rel <= tol:
        raise SolverError(f"weighted Lasso certificate: relative duality gap {rel:.3g} > tol {tol:.3g}")
    return float(rel)


def lasso_path(design: Design, y_c, unit_weights, lams, coef_init=None, tol=1e-6) -> np.ndarray:
    """Solutions (N, len(lams)) at weights lam·unit_weights along ``lams`` (decreasing), warm-started;
    each to duality gap ≤ tol·½||y_c||² (``per_y``, :func:`lasso`); ``tol``: one for all, or one per λ."""
    out = np.zeros((design.shape[1], len(lams)))
    tols = np.broadcast_to(np.asarray(tol, dtype=np.float64), (len(lams),))
    x = coef_init
    for j, lam in enumerate(lams):
        x, _ = lasso(design, y_c, lam * np.asarray(unit_weights, dtype=np.float64), x, float(tols[j]), per_y=True)
        out[:, j] = x
    return out
