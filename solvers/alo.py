"""Leave-one-out error of the two-stage estimator: exact refits and the one-fit approximation (THEORY.md section ALO).

With both active sets and signs held fixed, deleting target row i changes stage 1 by a rank-one
update (when the target is pooled into pretraining), which moves the stage-2 offset κ A1 x1, and
stage 2 by a second rank-one update. The LOO residual follows in closed form (THEORY.md eq. ALO.4):

    e_i = [r2_i + κ r1_i d_i / (1 − h1_i)] / (1 − h2_i),

r1 / r2 the stage-1 / final residuals of target row i, h1 / h2 the leverages of row i in the
stage-1 / stage-2 active-set hat matrices, and d_i = [(I − H2) K1]_ii with K1 the target block of
the stage-1 hat matrix. With Δλ > 0 and the target pooled, features whose x1 crosses zero make
x2 jump (the jump part of R21, THEORY.md §3), which this misses at every N; ``method="alo"`` adds
a mean-field estimate of that term there (eq. ALO.6), and elsewhere one vectorized step for the
stage-2 active-set changes (eq. ALO.8). Per-dataset intercepts are always-active columns (eq.
ALO.7). :func:`alo_points` evaluates it for several stage-2 hyperparameter points sharing one
stage 1 (factored once); :func:`loo_error` is the user entry; :func:`alo_validate` scores a
:class:`solvers.grid.Grid` for ``TransLassoCV(cv="alo")``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, sparse
from sklearn.base import clone

from replica import Hyperparameters
from replica.gaussian import soft

from .cv import CV_TOL, CVResult, finetune_path, fold_se, pretrain_path
from .grid import Grid
from .lasso import Design, duality_gap
from .problem import Scaling, TransferProblem, check_transfer_data, finetune_inputs
from .twostage import fit_two_stage, stack

__all__ = ["LooResult", "Stage1", "AloResult", "loo_error", "alo_points", "stage1_factor", "alo_validate"]

_ONE_FIT = ("alo", "alo_jump", "alo_fixed")
METHODS = (*_ONE_FIT, "exact")
# h ≥ 1 − 1e-10 counts as leverage one (round-off of a projection's diagonal is ~1e-15)
_LEVERAGE_ONE = 1 - 1e-10
_LEVERAGE_FLOOR = 1e-10
# alo_validate does not score a point whose mean leverage (|S| + intercepts) / rows exceeds this,
# and the default method drops its one-step correction (eq. ALO.8) there:
# ALO was within ~6% of exact LOO up to mean leverage 0.58 and off by −46% to +300% from 0.89 on
# (benchmarks/alo_accuracy.md); 0.75 lies between, untested there
MAX_MEAN_LEVERAGE = 0.75


@dataclass(frozen=True)
class LooResult:
    """Leave-one-out error of a two-stage fit on its M1 target rows.

    ``residuals`` e_i = y_i − a_i·x̂^(−i) (x̂^(−i) fitted without target row i; ALO gives ∞ for a
    row of leverage 1, which the fit interpolates), ``mse`` their mean square, ``leverage_pretrain``
    h1 (zeros when the target is not pooled into pretraining) and ``leverage_finetune`` h2 of
    THEORY.md section ALO (NaN for ``method="exact"``), ``method`` (one of :func:`loo_error`'s).

    Attributes
    ----------
    mse : float
        Mean of e_i² over the target rows.
    residuals : ndarray of shape (M1,)
        Leave-one-out residuals e_i.
    leverage_pretrain : ndarray of shape (M1,)
        Stage-1 leverages h1 of the target rows.
    leverage_finetune : ndarray of shape (M1,)
        Stage-2 leverages h2.
    method : str
        How the residuals were computed.

    Examples
    --------
    >>> import numpy as np
    >>> res = LooResult(0.5, np.array([1.0, 0.0]), np.zeros(2), np.zeros(2), "alo")
    >>> res.mse, res.method
    (0.5, 'alo')
    """

    mse: float
    residuals: np.ndarray
    leverage_pretrain: np.ndarray
    leverage_finetune: np.ndarray
    method: str


def _active(A, idx, extra=None, dense: bool = True):
    """Columns idx of A, then the columns of ``extra`` (dense (M, K): always-active unpenalized
    intercept columns); sparse stays sparse unless ``dense``."""
    if sparse.issparse(A):
        B = sparse.csc_matrix(A)[:, idx]
        B = sparse.hstack([B, extra], format="csr") if extra is not None else B
        return B.toarray() if dense else B
    B = np.asarray(A)[:, idx]
    return np.hstack([B, extra]) if extra is not None else B


def _indicators(rows, k: int, K: int):
    """(rows, K) block whose column k is ones: dataset k's intercept column in a K-dataset stack."""
    out = np.zeros((rows, K))
    out[:, k] = 1.0
    return out


class _Gram:
    """Solves with G = BᵀB: Cholesky, or the pseudo-inverse when G is singular (unpenalized blocks
    of deficient rank get the minimum-norm solution, as in :func:`solvers.fit_two_stage`)."""

    def __init__(self, B):
        # a sparse pooled design keeps its Gram product sparse: O(nnz·|S|) instead of O(M |S|²)
        G = (B.T @ B).toarray() if sparse.issparse(B) else B.T @ B
        self.chol = None
        if G.shape[0]:
            try:
                self.chol = linalg.cho_factor(G, check_finite=False)
                # a numerically singular G can pass Cholesky: judge by the factor's diagonal
                d = np.abs(np.diag(self.chol[0]))
                if d.min() <= 1e-7 * d.max():
                    self.chol = None
            except linalg.LinAlgError:
                pass
        self.pinv = linalg.pinvh(G) if self.chol is None and G.shape[0] else None

    def solve(self, R: np.ndarray) -> np.ndarray:
        if self.chol is not None:
            return linalg.cho_solve(self.chol, R, check_finite=False)
        return self.pinv @ R if self.pinv is not None else np.zeros_like(R)


@dataclass(frozen=True)
class Stage1:
    """Stage-1 quantities shared by every stage-2 hyperparameter point (see :func:`stage1_factor`).

    ``coef`` x1 (polished on its active set), ``offset`` A1 x1 (+ stage-1 intercept) on the target,
    ``residual`` r1, ``leverage`` h1, ``F`` = A1,S1 G1⁻¹ and ``B`` = A1,S1 (target rows; both None
    when the target is not pooled), ``intercept`` whether per-dataset intercept columns were added;
    ``field`` the effective field h1 = Q̂1 x1 + A_Pᵀ r_P and ``row_norm2`` ||a_i||² of the target
    rows, used by the jump correction (THEORY.md eq. ALO.6).
    """

    coef: np.ndarray
    offset: np.ndarray
    residual: np.ndarray
    leverage: np.ndarray
    F: np.ndarray | None
    B: np.ndarray | None
    intercept: bool
    lam1: float = 0.0
    field: np.ndarray | None = None
    row_norm2: np.ndarray | None = None


def stage1_factor(X, y, sources, coef_pretrain, lam1, pretrain_on_target=True, intercept=False) -> Stage1:
    """Factor the stage-1 active-set Gram matrix once (THEORY.md eq. ALO.1).

    The active set is S1 = supp x1, plus every feature when λ1 = 0 (unpenalized features are
    active whatever their value) and one indicator column per dataset when ``intercept``. x1 is re-solved on S1
    from the KKT equations x1_S = G1⁻¹(A_Sᵀ y − λ1 sign x1_S), which removes the solver's
    tolerance from the residuals without changing the fit beyond that tolerance.

    Parameters
    ----------
    X, y, sources
        The data of the fit, as in :meth:`solvers.TransLasso.fit`.
    coef_pretrain : ndarray of shape (N,)
        The fitted x1.
    lam1 : float
        The stage-1 penalty λ1 of that fit.
    pretrain_on_target : bool, default True
        Whether the target rows were pooled into pretraining.
    intercept : bool, default False
        Per-dataset intercepts (THEORY.md eq. ALO.7): one always-active, unpenalized indicator
        column per pretraining dataset.

    Returns
    -------
    Stage1
        The re-solved x1, the target offset and residual, and the factored Gram matrix.

    Examples
    --------
    >>> import numpy as np
    >>> from replica import Hyperparameters
    >>> from solvers import fit_two_stage
    >>> rng = np.random.default_rng(0)
    >>> A, As = rng.standard_normal((80, 100)) / 10, rng.standard_normal((200, 100)) / 10
    >>> r = np.where(rng.random(100) < 0.1, 1.0, 0.0); y, ys = A @ r, As @ r
    >>> fit = fit_two_stage((A, y), [(As, ys)], Hyperparameters(0.2, 0.2, 1.0, 0.0))
    >>> s1 = stage1_factor(A, y, [(As, ys)], fit.coef_pretrain, 0.2)
    >>> bool(np.allclose(s1.coef, fit.coef_pretrain, atol=1e-6))
    True
    """
    x1 = np.asarray(coef_pretrain, dtype=float)
    N = x1.size
    pre = ([(X, y)] if pretrain_on_target else []) + [tuple(s) for s in sources]
    K = len(pre) if intercept else 0
    S1 = np.arange(N) if lam1 == 0 else np.flatnonzero(x1)
    blocks = [_active(A, S1, _indicators(A.shape[0], k, K) if K else None, dense=False) for k, (A, _) in enumerate(pre)]
    BP = sparse.vstack(blocks, format="csr") if any(sparse.issparse(B) for B in blocks) else np.vstack(blocks)
    yP = np.concatenate([np.asarray(b, dtype=float) for _, b in pre])
    gram = _Gram(BP)
    penalty = np.concatenate([lam1 * np.sign(x1[S1]), np.zeros(K)])
    beta = gram.solve(np.asarray(BP.T @ yP).ravel() - penalty)
    x1 = np.zeros(N)
    x1[S1] = beta[: S1.size]
    # the target is dataset 0 of the stack when pooled; its stage-1 intercept is a constant
    # offset, which the stage-2 intercept absorbs
    B1 = _active(X, S1, _indicators(X.shape[0], 0, K) if K and pretrain_on_target else None)
    offset = B1 @ beta[: B1.shape[1]]
    residual = np.asarray(y, dtype=float) - offset
    if not pretrain_on_target:
        zeros = np.zeros(residual.size)
        return Stage1(x1, offset, residual, zeros, None, None, intercept, lam1)
    F = gram.solve(B1.T).T
    # Q̂1 = α_P / (1 + χ1) = (M_P − |S1|) / N for i.i.d. designs (THEORY.md §3 with χ1 = |S1| / (N Q̂1));
    # the K intercepts are K more degrees of freedom
    q1 = (BP.shape[0] - BP.shape[1]) / N
    rP = yP - np.asarray(BP @ beta).ravel()
    corr = sum(np.asarray(A.T @ rP[k0 : k0 + A.shape[0]]).ravel() for (A, _), k0 in zip(pre, _starts(pre)))
    row_norm2 = np.asarray(X.multiply(X).sum(axis=1)).ravel() if sparse.issparse(X) else np.einsum("ij,ij->i", X, X)
    if intercept:  # rows of the centred design: ||a_i − μ||²
        mu = np.asarray(X.mean(axis=0)).ravel()
        row_norm2 = row_norm2 - 2 * np.asarray(X @ mu).ravel() + mu @ mu
    field = q1 * x1 + corr if q1 > 0 else None
    return Stage1(x1, offset, residual, np.einsum("ij,ij->i", F, B1), F, B1, intercept, lam1, field, row_norm2)


def _starts(pre):
    return np.concatenate([[0], np.cumsum([A.shape[0] for A, _ in pre])[:-1]]).astype(int)


def jump_response(X, stage1: Stage1, lam2, delta_lam, coef_finetune, residual_finetune, n_active) -> float:
    """Mean-field jump part of R21 (THEORY.md eq. ALO.6): (1/N) Σ_j K_b(|h1_j| − λ1) sign(h1_j) Δx2_j.

    Δx2_j = [soft(h2_j; λ2) − soft(h2_j; λ2 + Δλ)] / Q̂2 is the jump of x2_j when x1_j leaves
    zero, h1, h2 the effective fields of the two stages, K_b a Gaussian kernel (density of h1 at
    the threshold ±λ1) with Silverman's bandwidth. Zero when Δλ = 0, when the target is not
    pooled, or when an active set saturates its rows (Q̂ ≤ 0: no mean-field regime).
    ``n_active`` = |S2| (unpenalized and intercept columns included).
    """
    h1 = stage1.field
    N = h1.size if h1 is not None else 0
    q2 = (X.shape[0] - n_active) / max(N, 1)
    if h1 is None or delta_lam == 0 or q2 <= 0:
        return 0.0
    h2 = q2 * coef_finetune + np.asarray(X.T @ residual_finetune).ravel()
    jump = (soft(h2, lam2) - soft(h2, lam2 + delta_lam)) / q2  # soft(h, ∞) = 0
    b = 1.06 * np.std(h1) * N ** (-0.2)
    if b == 0:
        return 0.0
    u = (np.abs(h1) - stage1.lam1) / b
    kernel = np.exp(-0.5 * u**2) / (np.sqrt(2 * np.pi) * b)
    return float(np.mean(kernel * np.sign(h1) * jump))


def alo_points(X, y, stage1: Stage1, points, intercept=None, method="alo") -> list[LooResult]:
    """ALO of THEORY.md eqs. ALO.4, ALO.6 and ALO.8 for stage-2 points sharing ``stage1``.

    This is the vectorized core a cross-validation estimator calls for a grid of (λ2, κ, Δλ)
    with one λ1: ``stage1`` (from :func:`stage1_factor`) is factored once, then each point costs
    one |S2|×|S2| factorization. No loop over samples.

    Parameters
    ----------
    X, y
        Target design and response, as in :meth:`solvers.TransLasso.fit`.
    stage1 : Stage1
        :func:`stage1_factor` of the same target and pretraining data.
    points : iterable of (lam2, kappa, delta_lam, coef_finetune)
        Stage-2 hyperparameters and the x2 fitted on top of that stage 1.
    intercept : bool, optional
        Stage-2 ones column (always active, unpenalized); defaults to ``stage1.intercept``.
    method : {"alo", "alo_jump", "alo_fixed"}, default "alo"
        As in :func:`loo_error`: "alo_fixed" the fixed-active-set formula eq. ALO.4; "alo_jump"
        plus the Δλ-jump correction eq. ALO.6; "alo" eq. ALO.6 where the jump is in play (Δλ > 0,
        target pooled), else the one-step active-set correction eq. ALO.8.

    Returns
    -------
    list of :class:`LooResult`, one per point.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import TransLasso, fit_two_stage
    >>> from replica import Hyperparameters
    >>> rng = np.random.default_rng(0)
    >>> r = np.where(rng.random(100) < 0.1, 1.0, 0.0)
    >>> A = rng.standard_normal((80, 100)) / 10; y = A @ r + 0.1 * rng.standard_normal(80)
    >>> As = rng.standard_normal((200, 100)) / 10; ys = As @ r
    >>> fits = [fit_two_stage((A, y), [(As, ys)], Hyperparameters(0.2, lam2, 1.0, 0.0)) for lam2 in (0.05, 0.2, 1.0)]
    >>> s1 = stage1_factor(A, y, [(As, ys)], fits[0].coef_pretrain, lam1=0.2)
    >>> res = alo_points(A, y, s1, [(lam2, 1.0, 0.0, f.coef_finetune) for lam2, f in zip((0.05, 0.2, 1.0), fits)])
    >>> print([round(r.mse, 4) for r in res])
    [0.0107, 0.0088, 0.0088]
    """
    if method not in _ONE_FIT:
        raise ValueError(f"method must be one of {_ONE_FIT}, got {method!r}")
    intercept = stage1.intercept if intercept is None else bool(intercept)
    y = np.asarray(y, dtype=float)
    x1 = stage1.coef
    out = []
    for lam2, kappa, delta_lam, coef_finetune in points:
        z, w = finetune_inputs(y, stage1.offset, x1, kappa, lam2, delta_lam)
        x2 = np.where(np.isfinite(w), np.asarray(coef_finetune, dtype=float), 0.0)
        S2 = np.flatnonzero((x2 != 0) | (w == 0))
        B2 = _active(X, S2, np.ones((X.shape[0], 1)) if intercept else None)
        gram = _Gram(B2)
        penalty = np.concatenate([w[S2] * np.sign(x2[S2]), np.zeros(int(intercept))])
        beta = gram.solve(B2.T @ z - penalty)
        r2 = z - B2 @ beta
        F2 = gram.solve(B2.T).T
        h2 = np.einsum("ij,ij->i", F2, B2)
        e = r2.copy()
        if kappa != 0 and stage1.F is not None:
            # d_i = [(I − H2) K1]_ii, K1 = B1 G1⁻¹ B1ᵀ; (H2 K1)_ii = F2_i · (B1 (B2ᵀ F1)ᵀ)_i
            d = stage1.leverage - np.einsum("ij,ij->i", F2, stage1.B @ (B2.T @ stage1.F).T)
            e += kappa * stage1.residual * d / np.maximum(1.0 - stage1.leverage, _LEVERAGE_FLOOR)
        e /= np.maximum(1.0 - h2, _LEVERAGE_FLOOR)
        jump = method != "alo_fixed" and stage1.field is not None and delta_lam > 0
        if jump:
            x2full = np.zeros_like(x1)
            x2full[S2] = beta[: S2.size]
            e += jump_response(X, stage1, lam2, delta_lam, x2full, r2, B2.shape[1]) * stage1.row_norm2 * stage1.residual
        elif method == "alo" and h2.mean() <= MAX_MEAN_LEVERAGE:
            # not on top of (ALO.6), which already carries the x2 response, entering and leaving
            # included, of the features whose weight moves (counted twice otherwise); not near
            # saturation, where its 1/(1 − h') terms explode (benchmarks/alo_accuracy.md)
            e += _set_changes(X, S2, w, B2, F2, beta, r2, e, h2)
        # a row with leverage 1 is interpolated: deleting it changes the active set, ALO has no answer
        e[(h2 >= _LEVERAGE_ONE) | (stage1.leverage >= _LEVERAGE_ONE)] = np.inf
        out.append(LooResult(float(np.mean(e**2)), e, stage1.leverage, h2, method))
    return out


def _set_changes(X, S2, w, B2, F2, beta, r2, e, h2):
    """One-step correction of the LOO residuals e for stage-2 active-set changes (THEORY.md eq. ALO.8):
    active features whose LOO value crosses zero leave, then inactive ones whose LOO correlation
    exceeds their weight enter, each by one exact column update, vectorized over rows."""
    M = X.shape[0]
    floor = _LEVERAGE_FLOOR
    delta = np.zeros(M)
    pen = np.flatnonzero(w[S2] > 0)
    if pen.size:
        Fp = F2[:, pen]
        ginv = np.einsum("ij,ij->j", F2, F2)[pen]
        share = Fp**2 / ginv  # h2_i − h'_ij: row i's leverage carried by feature j
        change = (Fp / ginv) / np.maximum(1 - (h2[:, None] - share), floor)  # P'_ij / (1 − h'_ij)
        v = beta[pen][None, :] - Fp * e[:, None]
        flip = v * np.sign(beta[pen])[None, :] < 0
        # a row carried by one feature (share > 1/2: a feature that lives on that row) has a huge
        # fixed-set e_i that makes every feature look flipped: drop that feature first, then judge
        # the others from the corrected residual
        top = np.argmax(np.where(flip, share, 0.0), axis=1)
        rows = np.flatnonzero(np.take_along_axis(np.where(flip, share, 0.0), top[:, None], axis=1)[:, 0] > 0.5)
        delta[rows] = v[rows, top[rows]] * change[rows, top[rows]]
        v = beta[pen][None, :] - Fp * (e + delta)[:, None]
        flip = v * np.sign(beta[pen])[None, :] < 0
        flip[rows, top[rows]] = False
        delta += np.sum(np.where(flip, v * change, 0.0), axis=1)
    inside = np.zeros(w.size, dtype=bool)
    inside[S2] = True
    Sc = np.flatnonzero(np.isfinite(w) & (w > 0) & ~inside)
    if Sc.size:
        Ac = _active(X, Sc)
        P = Ac - B2 @ (F2.T @ Ac)
        g = Ac.T @ r2
        q = np.einsum("ij,ij->j", P, P)
        omh = np.maximum(1 - h2, floor)
        # entering is judged from the LOO point after the leaving step (a row of large fixed-set e_i
        # whose own features leave would otherwise pull in spurious ones)
        gi = g[None, :] - P * (e + delta)[:, None]
        qi = q[None, :] - P**2 / omh[:, None]
        # a column that lives on row i alone (qi = 0 up to round-off) is zero without row i: it cannot enter
        alive = qi > 1e-6 * q[None, :]
        t = np.where(alive, soft(gi, w[Sc][None, :]) / np.where(alive, qi, 1.0), 0.0)
        delta -= np.sum(t * P, axis=1) / omh
    return delta


def _exact(estimator, X, y, sources) -> LooResult:
    """Refit without each target row (exact to the solver tol): warm-started two-stage fits for the
    theory's model, cold refits of a clone otherwise (they re-estimate the scaling and intercepts)."""
    M = X.shape[0]
    e = np.empty(M)
    keep = np.ones(M, dtype=bool)
    rows = X.tocsr() if sparse.issparse(X) else X
    hyper = Hyperparameters(estimator.lam1, estimator.lam2, estimator.kappa, estimator.delta_lam)
    init = (estimator.coef_pretrain_, estimator.coef_finetune_)
    plain = not (estimator.fit_intercept or estimator.standardize)
    for i in range(M):
        keep[i] = False
        Xi = rows[keep]
        Xi = Xi.tocsc() if sparse.issparse(Xi) else Xi
        if plain:
            fit = fit_two_stage(
                (Xi, y[keep]),
                sources,
                hyper,
                bool(estimator.pretrain_on_target),
                coef_init=init,
                tol=estimator.tol,
            )
            pred = rows[i] @ (hyper.kappa * fit.coef_pretrain + fit.coef_finetune)
        else:
            pred = clone(estimator).fit(Xi, y[keep], sources=sources).predict(rows[i : i + 1])
        e[i] = y[i] - float(np.asarray(pred).ravel()[0])
        keep[i] = True
    nan = np.full(M, np.nan)
    return LooResult(float(np.mean(e**2)), e, nan, nan, "exact")


# A fit on other data has a relative duality gap of order one on these; a fit on these data has
# at most the solver's tol (≤ 1e-2 is enforced by TransLasso, 1e-8 by default).
_FOREIGN_GAP = 1e-1


def _theory_units(estimator, X, sources):
    """(X, sources, x1, x2) in the units the estimator was fitted in: its :class:`solvers.problem.Scaling`
    applied when it fits intercepts or standardizes (held fixed under deletion, THEORY.md eq. ALO.7)."""
    x1, x2 = np.asarray(estimator.coef_pretrain_, float), np.asarray(estimator.coef_finetune_, float)
    if not (estimator.fit_intercept or estimator.standardize):
        return X, sources, x1, x2
    scaling = Scaling.fit([X] + [A for A, _ in sources], bool(estimator.fit_intercept), bool(estimator.standardize))
    scaled = [(scaling.apply(A), b) for A, b in sources]
    return scaling.apply(X), scaled, x1 * scaling.divisors, x2 * scaling.divisors


def _check_fitted_on(estimator, X, y, sources, x1, x2):
    """ValueError unless both stages (x1, x2 in theory units) are optimal to the estimator's tol on (X, y, sources)."""
    pre = ([(X, y)] if estimator.pretrain_on_target else []) + list(sources)
    yP = np.concatenate([b for _, b in pre])
    w1 = np.full(x1.size, estimator.lam1)
    stage2 = (x1, estimator.kappa, estimator.lam2, estimator.delta_lam)
    if estimator.fit_intercept:  # gaps of the block-centred problems the fit solved (solvers.lasso.centred)
        d1, d2 = Design([A for A, _ in pre], True), Design([X], True)
        gap1 = duality_gap(d1.operator(), d1.center(yP)[0], w1, x1)[3]
        z, w = finetune_inputs(y, d2.matvec(x1), *stage2)
        gap2 = duality_gap(d2.operator(), d2.center(z)[0], w, x2)[3]
    else:
        gap1 = duality_gap(stack([A for A, _ in pre]), yP, w1, x1)[3]
        z, w = finetune_inputs(y, np.asarray(X @ x1).ravel(), *stage2)
        gap2 = duality_gap(X, z, w, x2)[3]
    if max(gap1, gap2) > max(_FOREIGN_GAP, 10 * estimator.tol):
        raise ValueError(
            f"the estimator was not fitted on these data (relative duality gaps {gap1:.2g}, {gap2:.2g}); "
            "pass the data it was fitted on, or an unfitted estimator"
        )


def loo_error(estimator, X, y, *, sources=(), method: str = "alo") -> LooResult:
    """Leave-one-out error over the target rows of a :class:`solvers.TransLasso` (THEORY.md section ALO).

    Parameters
    ----------
    estimator : TransLasso
        Fitted on exactly (X, y, sources), or unfitted (then fitted here). With
        ``fit_intercept`` every dataset's intercept is an always-active, unpenalized column
        (THEORY.md eq. ALO.7); with ``standardize`` (or ``fit_intercept``, which implies a common
        scale factor) the estimator's column scaling is held fixed under deletion, an
        approximation (``method="exact"`` re-estimates it in every refit).
    X : ndarray or scipy.sparse matrix of shape (M1, N)
        Target design.
    y : ndarray of shape (M1,)
        Target response.
    sources : sequence of (X_k, y_k) pairs
        Pretraining sources, as given to ``fit``; they are never left out.
    method : {"alo", "alo_jump", "alo_fixed", "exact"}, default "alo"
        One-fit approximations, vectorized over samples: ``"alo_fixed"`` both active sets fixed
        (eq. ALO.4; exact whenever no active set moves, biased low for Δλ > 0 at every N);
        ``"alo_jump"`` plus the mean-field Δλ-jump correction (eq. ALO.6, zero when Δλ = 0 or the
        target is not pooled); ``"alo"`` eq. ALO.6 where the jump is in play, else eq. ALO.4 plus
        one step for the stage-2 active-set changes (eq. ALO.8). ``"exact"``: M1
        refits, for validation (warm-started for the theory's model, cold with intercepts or
        scaling).

    Returns
    -------
    LooResult with ``mse`` = mean of e_i², ``residuals`` e_i = y_i − a_i·x̂^(−i), the leverages of
    both stages, and ``method``.

    Examples
    --------
    >>> import numpy as np
    >>> from solvers import TransLasso, loo_error
    >>> rng = np.random.default_rng(0)
    >>> r = np.where(rng.random(100) < 0.1, rng.standard_normal(100), 0.0)
    >>> A = rng.standard_normal((80, 100)) / 10; y = A @ r + 0.1 * rng.standard_normal(80)
    >>> As = rng.standard_normal((200, 100)) / 10; ys = As @ r + 0.1 * rng.standard_normal(200)
    >>> est = TransLasso(lam1=0.2, lam2=0.2, kappa=1.0, fit_intercept=False, standardize=False)
    >>> alo = loo_error(est, A, y, sources=[(As, ys)])  # fits est first
    >>> exact = loo_error(est, A, y, sources=[(As, ys)], method="exact")
    >>> print(f"ALO {alo.mse:.4f}, exact {exact.mse:.4f}, max leverage {alo.leverage_finetune.max():.2f}")
    ALO 0.0125, exact 0.0125, max leverage 0.13
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    sources = [tuple(s) for s in sources]
    fitted_here = not hasattr(estimator, "coef_pretrain_")
    if fitted_here:
        estimator.fit(X, y, sources=sources)
    X, y, sources = check_transfer_data(None, X, y, sources)
    if X.shape[1] != estimator.coef_pretrain_.size:
        raise ValueError(f"X has {X.shape[1]} features, the estimator was fitted with {estimator.coef_pretrain_.size}")
    Xs, sources_s, x1, x2 = _theory_units(estimator, X, sources)
    if not fitted_here:  # a fit made here is certified by fit itself
        _check_fitted_on(estimator, Xs, y, sources_s, x1, x2)
    if method == "exact":
        return _exact(estimator, X, y, sources)
    pretrain_on_target, intercept = bool(estimator.pretrain_on_target), bool(estimator.fit_intercept)
    s1 = stage1_factor(Xs, y, sources_s, x1, estimator.lam1, pretrain_on_target, intercept)
    point = (estimator.lam2, estimator.kappa, estimator.delta_lam, x2)
    return alo_points(Xs, y, s1, [point], method=method)[0]


@dataclass
class AloResult(CVResult):
    """ALO scores of a grid in :class:`solvers.cv.CVResult` form, with one "fold" per target row:
    ``err[i, λ1, cell, λ2]`` = e_i² of THEORY.md eq. ALO.6, so ``mean`` is the ALO MSE and ``se``
    the per-sample standard error sd(e_i²)/√M1 (what ``select(..., "1se")`` uses)."""

    per_sample = True

    @property
    def se(self) -> np.ndarray:
        with np.errstate(invalid="ignore"):  # ∞ scores (leverage 1) have no finite spread
            return fold_se(self.err)


def alo_validate(
    problem: TransferProblem,
    grid: Grid,
    splits=None,
    *,
    pretrain_on_target: bool = True,
    n_jobs=None,
    x1_init=None,
    tol: float = CV_TOL,
    screen_tol=None,
) -> AloResult:
    """Score every point of ``grid`` by ALO (THEORY.md eqs. ALO.6–ALO.8) from fits on all target rows.

    The stand-in for :func:`solvers.cv.cross_validate` (same signature; ``splits`` and ``n_jobs``
    are ignored: there are no folds). Stage 1 is one warm-started λ1 path on all the data, each
    cell one warm-started λ2 path per λ1 (the target-only cell one path), with the problem's
    per-dataset intercepts; :func:`stage1_factor` is done once per λ1 and :func:`alo_points`
    scores a whole λ2 path at once. ``fits`` counts those Lasso fits (the ALO algebra is not a fit).
    A point whose fit interpolates a row (leverage 1), or whose mean leverage in either stage
    ((|S| + intercepts) / rows) exceeds ``MAX_MEAN_LEVERAGE`` = 0.75, scores ∞: near-saturated
    fits are beyond ALO (THEORY.md section ALO, "When it must fail"); if no point is left, ValueError.

    Parameters
    ----------
    problem : solvers.problem.TransferProblem
        Target and sources in theory units (after :class:`solvers.problem.Scaling`).
    grid : solvers.grid.Grid
        λ1, λ2 grids and the cells (κ, u).
    splits : ignored
    pretrain_on_target : bool, default True
        Whether the target rows join stage 1.
    n_jobs : ignored
    x1_init : ndarray of shape (N, len(grid.lam1)), optional
        Warm starts of stage 1.
    tol : float, default CV_TOL
        Relative duality gap of every fit (per ½||y||², as the CV fits).
    screen_tol : ignored
        Every ALO fit is made to ``tol``: its scores are read off the fits themselves.

    Returns
    -------
    AloResult

    Examples
    --------
    >>> import numpy as np
    >>> from solvers.grid import Cell, Grid
    >>> from solvers.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> r = np.where(rng.random(100) < 0.1, 1.0, 0.0)
    >>> A, As = rng.standard_normal((80, 100)) / 10, rng.standard_normal((200, 100)) / 10
    >>> problem = TransferProblem(A, A @ r + 0.1 * rng.standard_normal(80), [(As, As @ r)], True)
    >>> res = alo_validate(problem, Grid((0.2,), (0.4, 0.2, 0.1), (Cell(1.0, 0.0),)))
    >>> res.err.shape, res.fits  # (target rows, λ1, cells, λ2); 1 stage-1 + 3 stage-2 fits
    ((80, 1, 1, 3), 4)
    """
    A, y, N = problem.A, problem.y, problem.n_features
    intercept = bool(problem.fit_intercept)
    n1, n2 = len(grid.lam1), len(grid.lam2)
    err = np.zeros((A.shape[0], n1, len(grid.cells), n2))
    design, y_c, _ = problem.target_design()
    fits = 0
    cells = [(k, c) for k, c in enumerate(grid.cells) if not c.is_target_only]

    def score(k, i, stage1, x1, cell):
        nonlocal fits
        z = finetune_path(design, y_c, x1, cell, grid.lam2, tol)
        fits += n2
        points = [(lam2, cell.kappa, cell.delta_lam(lam2), z[:, j]) for j, lam2 in enumerate(grid.lam2)]
        res = alo_points(A, y, stage1, points, intercept=intercept)
        e2 = np.stack([r.residuals for r in res], axis=1) ** 2
        # near-saturated fits: ALO is off by −50% to +300% there (benchmarks/alo_accuracy.md)
        crowded = [max(r.leverage_finetune.mean(), r.leverage_pretrain.mean()) > MAX_MEAN_LEVERAGE for r in res]
        e2[:, crowded] = np.inf
        err[:, i, k, :] = e2[:, None, :]

    for k, cell in enumerate(grid.cells):
        if cell.is_target_only:
            zeros = np.zeros(A.shape[0])
            null = Stage1(np.zeros(N), zeros, zeros, zeros, None, None, intercept)
            score(k, slice(None), null, np.zeros(N), cell)
    if grid.uses_stage1:
        x1s = pretrain_path(problem, grid.lam1, None, pretrain_on_target, x1_init, tol)
        fits += n1
        for i, lam1 in enumerate(grid.lam1):
            s1 = stage1_factor(A, y, problem.sources, x1s[:, i], lam1, pretrain_on_target, intercept)
            for k, cell in cells:
                score(k, slice(i, i + 1), s1, s1.coef, cell)
    if not np.isfinite(err.mean(axis=0)).any():
        raise ValueError(
            f"ALO cannot score any point of this grid: every fit interpolates a row or has mean leverage above "
            f"{MAX_MEAN_LEVERAGE} ({A.shape[0]} target rows, {N} features); use K-fold cross-validation"
        )
    return AloResult(grid, err, fits)
