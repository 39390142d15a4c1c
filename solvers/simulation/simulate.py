"""Finite-size simulations of the two-stage estimator, one record per seed (THEORY.md §1–3)."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from threadpoolctl import threadpool_limits

from replica import Hyperparameters, Setting

from ..lasso import DEFAULT_TOL
from ..twostage import fit_two_stage
from .synthetic import draw_problem

__all__ = ["simulate", "run_one", "support_rates", "R21_DELTA"]

# Field strength for the central difference of R21. H is Rademacher, so the field shifts every
# stage-1 effective field h1 by ±δ. δ must sit far above the solver's precision (gaps ~1e-10 give
# coefficient errors ~1e-6 and R21 errors ~1e-6/δ) and be large enough that many coordinates of x1
# cross zero: those crossings carry the Δλ jump of x2 that R21 contains (THEORY.md §3), and with
# too few of them the estimate is dominated by their Poisson noise. The central difference leaves
# an O(δ²) bias, not visible at this δ (the scan over δ is in benchmarks/r21_delta.md).
R21_DELTA = 0.05
_FIELD_STREAM = 0x52_32_31  # "R21": separates the field's random stream from the data's


def support_rates(coef: np.ndarray, truth: np.ndarray) -> tuple[float, float, float]:
    """Support statistics of an estimate against the true support.

    Parameters
    ----------
    coef : ndarray of shape (N,)
        The estimate.
    truth : ndarray of shape (N,)
        The true vector; its nonzeros are the true support.

    Returns
    -------
    support : float
        Fraction of nonzeros of ``coef``.
    tpr : float
        Fraction of supp ``truth`` where ``coef`` is nonzero (NaN if ``truth`` is all zero).
    fpr : float
        Fraction of the zeros of ``truth`` where ``coef`` is nonzero (NaN if ``truth`` has no zeros).

    Examples
    --------
    >>> import numpy as np
    >>> from solvers.simulation.simulate import support_rates
    >>> support_rates(np.array([1.0, 0.0, 2.0, 0.0]), np.array([1.0, 1.0, 0.0, 0.0]))
    (0.5, 0.5, 0.5)
    """
    est = coef != 0
    true = truth != 0
    n_true, n_null = true.sum(), (~true).sum()
    tpr = (est & true).sum() / n_true if n_true else np.nan
    fpr = (est & ~true).sum() / n_null if n_null else np.nan
    return float(est.mean()), float(tpr), float(fpr)


def run_one(
    setting: Setting,
    hyper: Hyperparameters,
    n_features: int,
    seed: int,
    measure_r21: bool = False,
    r21_delta: float = R21_DELTA,
    tol: float = DEFAULT_TOL,
) -> dict:
    """Simulate one seed: draw the data (THEORY.md §1), fit both stages (§2), measure the errors.

    eps1 = σ_1² + ||r1 − x1||²/N and eps2 = σ_1² + ||r1 − κx1 − x2||²/N are the finite-size
    counterparts of the theory's ε^(1st), ε^(2nd) (§2). With ``measure_r21``,
    R21 = (1/N) Σ_i ∂x2_i/∂H_i (§3) by a central difference along a Rademacher direction H:
    H·(x2(δH) − x2(−δH)) / (2δ ||H||²), whose expectation over H is the trace / N since
    E[H_i H_j] = δ_ij and ||H||² = N. With a design covariance Σ (THEORY.md §7) the norms are
    Σ-norms, ||d||²_Σ/N = dᵀΣd/N (the test error on a fresh target row), and R21 is
    (1/N) tr(Σ ∂x2/∂H), estimated by Hᵀ Σ (x2(δH) − x2(−δH)) / (2δ ||H||²).

    Parameters
    ----------
    setting : replica.Setting
        The data model; dataset 0 is the target, datasets k > 0 in ``setting.pretrain`` are sources.
    hyper : replica.Hyperparameters
        λ1, λ2, κ and Δλ of the two-stage estimator.
    n_features : int
        N.
    seed : int
        Seeds the numpy Generator of the data (and, separately, of H).
    measure_r21 : bool, default=False
        Also measure R21 (two more fits).
    r21_delta : float, default=R21_DELTA
        δ of the central difference.
    tol : float, default=DEFAULT_TOL
        Relative duality gap every fit must certify (else :class:`solvers.SolverError`).

    Returns
    -------
    dict
        ``seed``, ``n_features``, ``eps1``, ``eps2``, the certified relative gaps ``gap1``,
        ``gap2``, and for x1 and x2 the fraction of nonzeros (``support1``, ``support2``) and
        the rates against supp r^(1) (``tpr1``, ``fpr1``, ``tpr2``, ``fpr2``); ``R21`` if measured.

    Examples
    --------
    >>> from replica import Hyperparameters, Setting
    >>> from solvers import run_one
    >>> setting = Setting.two_task(0.5, 1.5, 0.3, 0.3, 0.1, 0.05, 0.05)
    >>> rec = run_one(setting, Hyperparameters(0.5, 0.1, 0.5, 1.0), n_features=200, seed=0)
    >>> rec["seed"], rec["n_features"], rec["eps2"] > 0.3**2, rec["gap2"] <= 1e-8  # eps2 ≥ σ²
    (0, 200, True, True)
    """
    rng = np.random.default_rng(seed)
    prob = draw_problem(setting, n_features, rng)
    target = prob.target
    sources = [d for k, d in enumerate(prob.data) if k > 0 and d is not None and setting.pretrain[k]]
    kw = dict(pretrain_on_target=setting.pretrain_on_target, tol=tol)
    fit = fit_two_stage(target, sources, hyper, **kw)
    x1, x2 = fit.coef_pretrain, fit.coef_finetune
    r1 = prob.truth[0]
    s2 = setting.sigmas[0] ** 2
    N = int(n_features)
    cov = setting.covariance
    # ||d||²_Σ / N = E(aᵀd)² for a fresh row a ~ N(0, Σ/N) (Σ = I: the i.i.d. design)
    sq = (lambda d: np.sum(d**2) / N) if cov is None else (lambda d: float(cov.quadratic(d)))
    rec = {
        "seed": int(seed),
        "n_features": N,
        "eps1": float(s2 + sq(r1 - x1)),
        "eps2": float(s2 + sq(r1 - hyper.kappa * x1 - x2)),
        "gap1": fit.rel_gap_pretrain,
        "gap2": fit.rel_gap_finetune,
    }
    rec["support1"], rec["tpr1"], rec["fpr1"] = support_rates(x1, r1)
    rec["support2"], rec["tpr2"], rec["fpr2"] = support_rates(x2, r1)
    if measure_r21:
        H = np.random.default_rng([seed, _FIELD_STREAM]).choice([-1.0, 1.0], size=N)
        plus = fit_two_stage(target, sources, hyper, field=r21_delta * H, coef_init=(x1, x2), **kw)
        minus = fit_two_stage(target, sources, hyper, field=-r21_delta * H, coef_init=(x1, x2), **kw)
        diff = plus.coef_finetune - minus.coef_finetune
        if cov is not None:  # the trace (1/N) tr(Σ ∂x2/∂H) of THEORY.md §7
            diff = cov.matvec(diff)
        rec["R21"] = float(H @ diff / (2 * r21_delta * (H @ H)))
    return rec


def _worker(args):
    setting_spec, hyper_dict, n_features, seed, measure_r21, r21_delta, tol = args
    # One BLAS thread everywhere: the processes already use the cores, and a fixed thread count
    # makes the floating-point summation order (hence the record, bit for bit) independent of
    # the number of processes.
    with threadpool_limits(1):
        return run_one(
            setting_spec if isinstance(setting_spec, Setting) else Setting.from_dict(setting_spec),
            Hyperparameters(**hyper_dict),
            n_features,
            seed,
            measure_r21,
            r21_delta,
            tol,
        )


def simulate(
    setting: Setting,
    hyperparameters: Hyperparameters,
    n_features: int,
    seeds,
    measure_r21: bool = False,
    workers: int | None = None,
    r21_delta: float = R21_DELTA,
    tol: float = DEFAULT_TOL,
) -> list[dict]:
    """Simulate the two-stage estimator for every seed (THEORY.md §1–3), in parallel processes.

    Each seed seeds its own numpy Generator, so the data of a record depend only on (setting,
    n_features, seed), on any machine; with one BLAS thread per fit the record is also bit-for-bit
    independent of the number of processes (across machines, BLAS kernels may differ in the last bits).

    Parameters
    ----------
    setting : replica.Setting
        The data model.
    hyperparameters : replica.Hyperparameters
        λ1, λ2, κ and Δλ.
    n_features : int
        N.
    seeds : iterable of int
        One record per seed, non-empty.
    measure_r21 : bool, default=False
        Also measure R21 by a central difference (see :func:`run_one`).
    workers : int, optional
        Number of processes; default min(number of seeds, number of CPUs); 1 runs in this process.
    r21_delta : float, default=R21_DELTA
        δ of the central difference of R21.
    tol : float, default=DEFAULT_TOL
        Relative duality gap every fit must certify.

    Returns
    -------
    list of dict
        The :func:`run_one` records, in the order of ``seeds``.

    Raises
    ------
    ValueError
        If ``seeds`` is empty, ``workers`` < 1, or ``n_features`` differs from the dimension of the
        setting's design covariance (:meth:`replica.Setting.with_covariance`; its designs have rows
        N(0, Σ/N)).

    See Also
    --------
    extrapolate_records : extrapolate the records of several N to N → ∞.

    Examples
    --------
    >>> from replica import Hyperparameters, Setting, predict
    >>> from solvers import simulate
    >>> setting = Setting.two_task(0.5, 1.5, 0.3, 0.3, 0.1, 0.05, 0.05)
    >>> hyper = Hyperparameters(lam1=0.5, lam2=0.1, kappa=0.5, delta_lam=1.0)
    >>> records = simulate(setting, hyper, n_features=200, seeds=[0, 1, 2], workers=1)
    >>> [r["seed"] for r in records]
    [0, 1, 2]
    >>> mean = sum(r["eps2"] for r in records) / 3
    >>> bool(abs(mean - predict(setting, hyper).eps2) < 0.2 * mean)  # finite N, three seeds
    True
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must not be empty")
    if workers is None:
        workers = min(len(seeds), os.cpu_count() or 1)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if setting.covariance is not None and setting.covariance.N != int(n_features):
        raise ValueError(
            f"n_features = {n_features} does not match the dimension {setting.covariance.N} of the setting's "
            "design covariance"
        )
    # a setting with a design covariance travels whole (its record holds Σ's fingerprint, not Σ)
    spec = setting.as_dict() if setting.covariance is None else setting
    jobs = [(spec, hyperparameters.as_dict(), n_features, s, measure_r21, r21_delta, tol) for s in seeds]
    if workers == 1 or len(seeds) == 1:
        return [_worker(job) for job in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_worker, jobs))
