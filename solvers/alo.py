"""Leave-one-out error of the two-stage estimator: exact refits and the one-fit approximation (THEORY.md section ALO).

With both active sets and signs held fixed, deleting target row i changes stage 1 by a rank-one
update (when the target is pooled into pretraining), which moves the stage-2 offset κ A1 x1, and
stage 2 by a second rank-one update. The LOO residual follows in closed form (THEORY.md eq. ALO.4):

    e_i = [r2_i + κ r1_i d_i / (1 − h1_i)] / (1 − h2_i),

r1 / r2 the stage-1 / final residuals of target row i, h1 / h2 the leverages of row i in the
stage-1 / stage-2 active-set hat matrices, and d_i = [(I − H2) K1]_ii with K1 the target block of
the stage-1 hat matrix. With Δλ > 0 and the target pooled, features whose x1 crosses zero make
x2 jump (the jump part of R21, THEORY.md §3), which this misses at every N; ``method="alo"`` adds
a mean-field estimate of that term (eq. ALO.6). :func:`alo_points` evaluates it for several stage-2 hyperparameter points
sharing one stage 1 (the stage-1 factorization is done once); :func:`loo_error` is the user entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, sparse

from replica import Hyperparameters

from .backend import duality_gap
from .estimator import _stack, check_transfer_data, fit_two_stage, stage2_weights

__all__ = ["LooResult", "Stage1", "loo_error", "alo_points", "stage1_factor"]

METHODS = ("alo", "alo_fixed", "exact")
# h ≥ 1 − 1e-10 counts as leverage one (round-off of a projection's diagonal is ~1e-15)
_LEVERAGE_ONE = 1 - 1e-10
_LEVERAGE_FLOOR = 1e-10


@dataclass(frozen=True)
class LooResult:
    """Leave-one-out error of a two-stage fit on its M1 target rows.

    ``residuals`` e_i = y_i − a_i·x̂^(−i) (x̂^(−i) fitted without target row i; ALO gives ∞ for a
    row of leverage 1, which the fit interpolates), ``mse`` their mean square, ``leverage_pretrain``
    h1 (zeros when the target is not pooled into pretraining) and ``leverage_finetune`` h2 of
    THEORY.md section ALO (NaN for ``method="exact"``), ``method`` ("alo", "alo_fixed" or "exact").

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


def _active(A, idx, intercept: bool, dense: bool = True):
    """Columns idx of A, plus a ones column when ``intercept``; sparse stays sparse unless ``dense``."""
    if sparse.issparse(A):
        B = sparse.csc_matrix(A)[:, idx]
        B = sparse.hstack([B, np.ones((B.shape[0], 1))], format="csr") if intercept else B
        return B.toarray() if dense else B
    B = np.asarray(A)[:, idx]
    return np.hstack([B, np.ones((B.shape[0], 1))]) if intercept else B


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
    when the target is not pooled), ``intercept`` whether an unpenalized ones column was added;
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
    active whatever their value) and a ones column when ``intercept``. x1 is re-solved on S1
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
        Add an always-active, unpenalized ones column.

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
    S1 = np.arange(N) if lam1 == 0 else np.flatnonzero(x1)
    blocks = [_active(A, S1, intercept, dense=False) for A, _ in pre]
    BP = sparse.vstack(blocks, format="csr") if any(sparse.issparse(B) for B in blocks) else np.vstack(blocks)
    yP = np.concatenate([np.asarray(b, dtype=float) for _, b in pre])
    gram = _Gram(BP)
    penalty = np.concatenate([lam1 * np.sign(x1[S1]), np.zeros(int(intercept))])
    beta = gram.solve(np.asarray(BP.T @ yP).ravel() - penalty)
    x1 = np.zeros(N)
    x1[S1] = beta[: S1.size]
    B1 = _active(X, S1, intercept)
    offset = B1 @ beta
    residual = np.asarray(y, dtype=float) - offset
    if not pretrain_on_target:
        zeros = np.zeros(residual.size)
        return Stage1(x1, offset, residual, zeros, None, None, intercept, lam1)
    F = gram.solve(B1.T).T
    # Q̂1 = α_P / (1 + χ1) = (M_P − |S1|) / N for i.i.d. designs (THEORY.md §3 with χ1 = |S1| / (N Q̂1))
    q1 = (BP.shape[0] - BP.shape[1]) / N
    rP = yP - np.asarray(BP @ beta).ravel()
    corr = sum(np.asarray(A.T @ rP[k0 : k0 + A.shape[0]]).ravel() for (A, _), k0 in zip(pre, _starts(pre)))
    row_norm2 = np.asarray(X.multiply(X).sum(axis=1)).ravel() if sparse.issparse(X) else np.einsum("ij,ij->i", X, X)
    field = q1 * x1 + corr if q1 > 0 else None
    return Stage1(x1, offset, residual, np.einsum("ij,ij->i", F, B1), F, B1, intercept, lam1, field, row_norm2)


def _starts(pre):
    return np.concatenate([[0], np.cumsum([A.shape[0] for A, _ in pre])[:-1]]).astype(int)


def _soft(h, lam):
    return np.sign(h) * np.maximum(np.abs(h) - lam, 0.0)


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
    jump = (_soft(h2, lam2) - (_soft(h2, lam2 + delta_lam) if np.isfinite(delta_lam) else 0.0)) / q2
    b = 1.06 * np.std(h1) * N ** (-0.2)
    if b == 0:
        return 0.0
    u = (np.abs(h1) - stage1.lam1) / b
    kernel = np.exp(-0.5 * u**2) / (np.sqrt(2 * np.pi) * b)
    return float(np.mean(kernel * np.sign(h1) * jump))


def alo_points(X, y, stage1: Stage1, points, intercept=None, jump=True) -> list[LooResult]:
    """ALO of THEORY.md eq. ALO.4 (ALO.6 with ``jump``) for stage-2 points sharing ``stage1``.

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
    jump : bool, default True
        Add the Δλ-jump correction of eq. ALO.6 (``method="alo"`` of :func:`loo_error`); False
        gives the plain fixed-active-set formula eq. ALO.4 (``method="alo_fixed"``).

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
    [0.0132, 0.0088, 0.0088]
    """
    intercept = stage1.intercept if intercept is None else bool(intercept)
    y = np.asarray(y, dtype=float)
    x1 = stage1.coef
    out = []
    for lam2, kappa, delta_lam, coef_finetune in points:
        w = stage2_weights(x1, lam2, delta_lam)
        x2 = np.where(np.isfinite(w), np.asarray(coef_finetune, dtype=float), 0.0)
        S2 = np.flatnonzero((x2 != 0) | (w == 0))
        B2 = _active(X, S2, intercept)
        gram = _Gram(B2)
        z = y - kappa * stage1.offset
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
        if jump and stage1.field is not None:
            x2full = np.zeros_like(x1)
            x2full[S2] = beta[: S2.size]
            e += jump_response(X, stage1, lam2, delta_lam, x2full, r2, B2.shape[1]) * stage1.row_norm2 * stage1.residual
        # a row with leverage 1 is interpolated: deleting it changes the active set, ALO has no answer
        e[(h2 >= _LEVERAGE_ONE) | (stage1.leverage >= _LEVERAGE_ONE)] = np.inf
        out.append(LooResult(float(np.mean(e**2)), e, stage1.leverage, h2, "alo" if jump else "alo_fixed"))
    return out


def _exact(estimator, X, y, sources) -> LooResult:
    """Refit without each target row, warm-started from the full fit (exact to the solver tol)."""
    M = X.shape[0]
    e = np.empty(M)
    keep = np.ones(M, dtype=bool)
    rows = X.tocsr() if sparse.issparse(X) else X
    hyper = Hyperparameters(estimator.lam1, estimator.lam2, estimator.kappa, estimator.delta_lam)
    init = (estimator.coef_pretrain_, estimator.coef_finetune_)
    for i in range(M):
        keep[i] = False
        Xi = rows[keep]
        Xi = Xi.tocsc() if sparse.issparse(Xi) else Xi
        fit = fit_two_stage(
            (Xi, y[keep]),
            sources,
            hyper,
            bool(estimator.pretrain_on_target),
            coef_init=init,
            tol=estimator.tol,
        )
        pred = rows[i] @ (hyper.kappa * fit.coef_pretrain + fit.coef_finetune)
        e[i] = y[i] - float(np.asarray(pred).ravel()[0])
        keep[i] = True
    nan = np.full(M, np.nan)
    return LooResult(float(np.mean(e**2)), e, nan, nan, "exact")


# A fit on other data has a relative duality gap of order one on these; a fit on these data has
# at most the solver's tol (≤ 1e-2 is enforced by TransLasso, 1e-8 by default).
_FOREIGN_GAP = 1e-1


def _check_fitted_on(estimator, X, y, sources):
    """ValueError unless both stages of ``estimator`` are optimal (to its tol) on (X, y, sources)."""
    pre = ([(X, y)] if estimator.pretrain_on_target else []) + list(sources)
    AP = _stack([A for A, _ in pre])
    x1, x2 = estimator.coef_pretrain_, estimator.coef_finetune_
    gap1 = duality_gap(AP, np.concatenate([b for _, b in pre]), np.full(x1.size, estimator.lam1), x1)[3]
    w = stage2_weights(x1, estimator.lam2, estimator.delta_lam)
    gap2 = duality_gap(X, y - estimator.kappa * np.asarray(X @ x1).ravel(), w, x2)[3]
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
        Fitted on exactly (X, y, sources), or unfitted (then fitted here), with
        ``fit_intercept=False`` and ``standardize=False`` (the theory's model; ValueError
        otherwise). Intercepts can be modelled at the level of :func:`stage1_factor` and
        :func:`alo_points` as always-active ones columns.
    X : ndarray or scipy.sparse matrix of shape (M1, N)
        Target design.
    y : ndarray of shape (M1,)
        Target response.
    sources : sequence of (X_k, y_k) pairs
        Pretraining sources, as given to ``fit``; they are never left out.
    method : {"alo", "alo_fixed", "exact"}, default "alo"
        ``"alo"`` the one-fit approximation, vectorized over samples: both active
        sets fixed (eq. ALO.4) plus the mean-field Δλ-jump correction (eq. ALO.6), which is zero
        when Δλ = 0 or the target is not pooled into pretraining; ``"alo_fixed"`` eq. ALO.4 alone
        (exact whenever no active set moves, biased low for Δλ > 0 at every N); ``"exact"``: M1
        warm-started refits, for validation.

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
    >>> est = TransLasso(lam1=0.2, lam2=0.2, kappa=1.0)
    >>> alo = loo_error(est, A, y, sources=[(As, ys)])  # fits est first
    >>> exact = loo_error(est, A, y, sources=[(As, ys)], method="exact")
    >>> print(f"ALO {alo.mse:.4f}, exact {exact.mse:.4f}, max leverage {alo.leverage_finetune.max():.2f}")
    ALO 0.0127, exact 0.0125, max leverage 0.13
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if getattr(estimator, "fit_intercept", False) or getattr(estimator, "standardize", False):
        # TransLasso's per-dataset intercepts and pooled column scaling are not the single shared
        # ones column that stage1_factor(intercept=True) models: refuse rather than approximate it.
        raise ValueError(
            "loo_error supports TransLasso(fit_intercept=False, standardize=False) (the theory's model); "
            "centre and scale the data yourself, or use method='exact' through cross-validation"
        )
    sources = [tuple(s) for s in sources]
    fitted_here = not hasattr(estimator, "coef_pretrain_")
    if fitted_here:
        estimator.fit(X, y, sources=sources)
    X, y, sources = check_transfer_data(None, X, y, sources)
    if X.shape[1] != estimator.coef_pretrain_.size:
        raise ValueError(f"X has {X.shape[1]} features, the estimator was fitted with {estimator.coef_pretrain_.size}")
    if not fitted_here:  # a fit made here is certified by fit itself
        _check_fitted_on(estimator, X, y, sources)
    if method == "exact":
        return _exact(estimator, X, y, sources)
    pretrain_on_target = bool(estimator.pretrain_on_target)
    s1 = stage1_factor(X, y, sources, estimator.coef_pretrain_, estimator.lam1, pretrain_on_target)
    point = (estimator.lam2, estimator.kappa, estimator.delta_lam, estimator.coef_finetune_)
    return alo_points(X, y, s1, [point], jump=method == "alo")[0]
