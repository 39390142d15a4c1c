"""The exact two-stage fit of THEORY.md §2, each stage certified by its duality gap.

* :func:`fit_two_stage`: the theory's own estimator on plain designs (no intercepts, no scaling),
  with the stage-1 field of §3 that R21 is measured with; solved by :func:`solvers.lasso.solve_weighted_lasso`.
* :func:`fit_problem`: a :class:`solvers.problem.TransferProblem` (theory units, per-dataset
  intercepts as block centring), solved by :func:`solvers.lasso.lasso` and certified by
  :func:`solvers.lasso.certify`. The estimators fit through it.

Stage 2's response and weights come from :func:`solvers.problem.finetune_inputs` in both. A stage
that misses its gap raises :class:`solvers.lasso.SolverError` naming the stage and what to try.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from replica import Hyperparameters

from .lasso import DEFAULT_TOL, SolverError, certify, lasso, solve_weighted_lasso
from .problem import TransferProblem, finetune_inputs

__all__ = ["TwoStageFit", "fit_two_stage", "fit_problem", "stack"]


@dataclass(frozen=True)
class TwoStageFit:
    """x1, x2 and the relative duality gaps their stages reached.

    Attributes
    ----------
    coef_pretrain, coef_finetune : ndarray of shape (N,)
        x1 and x2 (in the units of the design that was fitted).
    rel_gap_pretrain, rel_gap_finetune : float
        Certified relative duality gaps.

    Examples
    --------
    >>> import numpy as np
    >>> TwoStageFit(np.zeros(2), np.ones(2), 0.0, 1e-9).rel_gap_finetune
    1e-09
    """

    coef_pretrain: np.ndarray
    coef_finetune: np.ndarray
    rel_gap_pretrain: float
    rel_gap_finetune: float


def stack(blocks):
    """Row-stack designs: CSC if any is sparse, else a dense array.

    Parameters
    ----------
    blocks : list of (M_k, N) arrays or sparse matrices

    Returns
    -------
    The stacked design.

    Examples
    --------
    >>> import numpy as np
    >>> stack([np.ones((1, 2)), np.zeros((2, 2))]).shape
    (3, 2)
    """
    if any(sparse.issparse(A) for A in blocks):
        return sparse.vstack(blocks, format="csc")
    return np.vstack(blocks)


@contextmanager
def _stage(number: int, hyper: Hyperparameters, tol: float):
    """Re-raise a stage's SolverError with the stage, its penalty and what to try."""
    try:
        yield
    except SolverError as exc:
        if number == 1:
            where = f"stage 1 (pretraining, lam1={hyper.lam1:g})"
            hint = "lam1 = 0 asks for an exact least-squares fit: use lam1 > 0" if hyper.lam1 == 0 else "raise lam1"
        else:
            where = f"stage 2 (fine-tuning, lam2={hyper.lam2:g}, delta_lam={hyper.delta_lam:g})"
            hint = "lam2 = 0 leaves the support unpenalized: use lam2 > 0" if hyper.lam2 == 0 else "raise lam2"
        raise SolverError(f"{where}: {exc}. Try: {hint}, or a looser tol (now {tol:g})") from None


def _no_pretraining(hyper: Hyperparameters, N: int):
    """x1 = 0 where there is nothing to pretrain on: allowed for the target alone (κ = 0, Δλ = 0),
    which does not read x1."""
    if hyper.kappa != 0 or hyper.delta_lam != 0:
        raise ValueError("no pretraining data: pretrain_on_target=False and no sources")
    return np.zeros(N), 0.0


def fit_two_stage(
    target,
    sources,
    hyper: Hyperparameters,
    pretrain_on_target: bool = True,
    field=None,
    coef_init=None,
    tol: float = DEFAULT_TOL,
) -> TwoStageFit:
    """Stage 1 and stage 2 of THEORY.md §2 on plain designs, each to relative duality gap ≤ tol.

    λ = 0 is solved as well: unpenalized coordinates get the minimum-ℓ2-norm solution when
    the design restricted to them is rank deficient (e.g. λ2 = 0, Δλ = ∞ with more stage-1
    nonzeros than target samples). That is one well-defined choice among the minimizers, not
    the λ → 0+ limit (which is the minimum-ℓ1 one); with full column rank it is the unique one.

    Parameters
    ----------
    target : (A, y) pair
        Target design (M1, N), dense or scipy.sparse, and response (M1,).
    sources : sequence of (A_k, y_k) pairs
        Source datasets (possibly empty).
    hyper : replica.Hyperparameters
        (λ1, λ2, κ, Δλ).
    pretrain_on_target : bool, default True
        Pool the target rows into stage 1.
    field : ndarray of shape (N,), optional
        Adds −Hᵀx to the stage-1 objective (THEORY.md §3, used for R21).
    coef_init : (x1, x2) pair, optional
        Warm starts of the two stages.
    tol : float, default DEFAULT_TOL
        Relative duality gap each stage must reach (checked).

    Returns
    -------
    TwoStageFit
        x1, x2 and the relative gaps reached by the two stages.

    Examples
    --------
    >>> import numpy as np
    >>> from replica import Hyperparameters
    >>> rng = np.random.default_rng(0)
    >>> A, As = rng.standard_normal((50, 80)) / 9, rng.standard_normal((150, 80)) / 9
    >>> r = np.where(rng.random(80) < 0.1, 1.0, 0.0)
    >>> fit = fit_two_stage((A, A @ r), [(As, As @ r)], Hyperparameters(0.1, 0.1, 1.0, 0.5))
    >>> bool(max(fit.rel_gap_pretrain, fit.rel_gap_finetune) <= DEFAULT_TOL)
    True
    """
    A1, y1 = target
    pretrain = ([(A1, y1)] if pretrain_on_target else []) + list(sources)
    N = A1.shape[1]
    x1_init, x2_init = (None, None) if coef_init is None else coef_init
    if pretrain:
        A_pre = stack([A for A, _ in pretrain])
        y_pre = np.concatenate([y for _, y in pretrain])
        with _stage(1, hyper, tol):
            s1 = solve_weighted_lasso(A_pre, y_pre, np.full(N, hyper.lam1), linear=field, coef_init=x1_init, tol=tol)
        x1, gap1 = s1.coef, s1.rel_gap
    else:
        x1, gap1 = _no_pretraining(hyper, N)
    y_res, w2 = finetune_inputs(y1, np.asarray(A1 @ x1).ravel(), x1, hyper.kappa, hyper.lam2, hyper.delta_lam)
    with _stage(2, hyper, tol):
        s2 = solve_weighted_lasso(A1, y_res, w2, coef_init=x2_init, tol=tol)
    return TwoStageFit(x1, s2.coef, gap1, s2.rel_gap)


def fit_problem(
    problem: TransferProblem, hyper: Hyperparameters, *, pretrain_on_target: bool, tol: float
) -> TwoStageFit:
    """Both stages on a :class:`solvers.problem.TransferProblem` (theory units, per-dataset intercepts).

    Parameters
    ----------
    problem : solvers.problem.TransferProblem
        Target and sources, already scaled.
    hyper : replica.Hyperparameters
        (λ1, λ2, κ, Δλ) in the problem's units.
    pretrain_on_target : bool
        Pool the target rows into stage 1.
    tol : float
        Relative duality gap of each stage, certified by :func:`solvers.lasso.certify`.

    Returns
    -------
    TwoStageFit
        In the problem's units.

    Examples
    --------
    >>> import numpy as np
    >>> from replica import Hyperparameters
    >>> from solvers.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> A, As = rng.standard_normal((50, 80)) / 9, rng.standard_normal((150, 80)) / 9
    >>> r = np.where(rng.random(80) < 0.1, 1.0, 0.0)
    >>> problem = TransferProblem(A, A @ r + 1.0, [(As, As @ r - 2.0)], True)
    >>> fit = fit_problem(problem, Hyperparameters(0.1, 0.1, 1.0, 0.5), pretrain_on_target=True, tol=1e-8)
    >>> bool(max(fit.rel_gap_pretrain, fit.rel_gap_finetune) <= 1e-8)
    True
    """
    N = problem.n_features
    if pretrain_on_target or problem.sources:
        design1, y1 = problem.pretrain_design(None, pretrain_on_target)
        w1 = np.full(N, hyper.lam1)
        with _stage(1, hyper, tol):
            x1, _ = lasso(design1, y1, w1, tol=tol)
            gap1 = certify(design1, y1, w1, x1, tol)
    else:
        x1, gap1 = _no_pretraining(hyper, N)
    design2, y2, _ = problem.target_design()
    y_res, w2 = finetune_inputs(y2, design2.matvec(x1), x1, hyper.kappa, hyper.lam2, hyper.delta_lam)
    with _stage(2, hyper, tol):
        x2, _ = lasso(design2, y_res, w2, tol=tol)
        gap2 = certify(design2, y_res, w2, x2, tol)
    return TwoStageFit(x1, x2, gap1, gap2)
