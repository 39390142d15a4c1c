"""Theory-guided tuning (THEORY.md §6): the theory's choice before any CV, and the family CV searches.

* :func:`theory_step`: estimate the setting (:mod:`solvers.estimate`), let ``replica`` optimize the
  strategies on it, apply the "auto" rule, and calibrate κ on the data; with ``covariance="empirical"``
  the chosen strategy is then refined on the design's own correlation (:func:`correlated_refinement`);
* :class:`Family`: the grid CV scores and its selection rule. :func:`ladder_family` is "theory+cv"'s
  small family around the theory's point (κ ladder × λ2 bracket, screened below λ2*, choice nearest
  the theory's point); :func:`grid_family` is "cv"'s full grid (no theory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from replica import ConvergenceError, Hyperparameters, Prediction, Setting, optimize, predict
from replica.strategies import family, fixed_lam1
from replica.strategy_optima import ORDER, optimize_strategies

from .alo import alo_validate
from .cv import CVResult, cross_validate
from .estimate import (
    SourceSummary,
    check_covariance,
    kappa_calibration,
    setting_from,
    summarize,
    summarize_sources,
    to_data_units,
    transfer_slope,
    with_design_covariance,
)
from .grid import TARGET_ONLY, Cell, Grid, cell_strategies, default_cells
from .problem import TransferProblem

__all__ = [
    "AUTO_CHOICES",
    "KAPPA_LADDER",
    "LAM2_BRACKET",
    "TheoryStep",
    "theory_step",
    "target_alone_step",
    "predicted_cv_error",
    "theory_optima",
    "auto_strategy",
    "correlated_refinement",
    "REFINE_DRAW_SIZE",
    "REFINE_SEARCH",
    "Family",
    "ladder_family",
    "grid_family",
]

# the "auto" rule's candidates, in order of preference (fewest knobs first)
AUTO_CHOICES = ("target_only", "value", "support", "full")
# "theory+cv" searches κ at these multiples of the theory's κ: the theory's κ* is close to proportional
# to the similarity s·c at fixed λ1, so this is the theory's optimum at similarity 1, 3/4 and 9/16 of
# the estimate, whose errors it hedges (THEORY.md §6)
KAPPA_LADDER = (1.0, 0.75, 0.5625)
# ... and each rung's λ2 path over [1/LAM2_BRACKET, LAM2_BRACKET] × the theory's λ2 (THEORY.md §6, "Selection")
LAM2_BRACKET = 4.0
# covariance="empirical" (:func:`correlated_refinement`): the refinement's search samples about this many
# coordinates, draws × N (a quarter of the predictions' default), in one local run from the i.i.d. optimum
REFINE_DRAW_SIZE = 2**13
REFINE_SEARCH = {"seeds": (), "multistart": 1, "xtol": 1e-2}


def theory_optima(setting: Setting, strategies, known: dict | None = None) -> dict:
    """``replica`` optimum (an OptimizationResult) of each strategy at ``setting``, nested strategies first.

    Parameters
    ----------
    setting : replica.Setting
    strategies : iterable of str
    known : dict, optional
        Optima already found at this very setting (strategy → result): kept, and seeding the others.

    Returns
    -------
    dict
        strategy → :class:`replica.OptimizationResult`.

    Examples
    --------
    >>> from replica import Setting
    >>> res = theory_optima(Setting.similarity(0.5, 2.0, 0.3, 0.3, 0.1, 0.9), ("target_only",))
    >>> round(res["target_only"].eps2, 3)
    0.141
    """
    if not known:
        return optimize_strategies(setting, tuple(strategies))
    results = {name: res for name, res in known.items() if name in strategies}
    for name in (n for n in ORDER if n in strategies and n not in results):
        results[name] = optimize(setting, name, seeds=list(results.values()))
    return results


def auto_strategy(eps2: dict, tolerance: float) -> str:
    """The paper's rule: the first of target_only, the better of value and support, and full whose
    predicted optimal error is within ``tolerance`` (relative) of full's.

    Parameters
    ----------
    eps2 : dict
        strategy → predicted optimal ε^(2nd), for :data:`AUTO_CHOICES`.
    tolerance : float
        Relative tolerance.

    Returns
    -------
    str

    Examples
    --------
    >>> auto_strategy({"target_only": 1.0, "value": 0.7, "support": 0.8, "full": 0.69}, 0.02)
    'value'
    """
    bound = eps2["full"] * (1.0 + tolerance)
    one_knob = min(("value", "support"), key=lambda s: eps2[s])
    return next(s for s in ("target_only", one_knob, "full") if eps2[s] <= bound)


def correlated_refinement(setting: Setting, strategy: str, start) -> Prediction:
    """The i.i.d. optimum of ``strategy`` refined on a setting with a design covariance (THEORY.md §7).

    A correlated ``predict`` costs many Lasso fits (the effective problems are N-dimensional), so the
    refinement is local and cheap: the strategy's hyperparameters other than λ1 are re-optimized at the
    i.i.d. optimum's λ1 (stage 1 is solved once and reused along the search), in one local run from the
    i.i.d. optimum, on about :data:`REFINE_DRAW_SIZE` sampled coordinates; the result is then predicted on
    the covariance's own draws, with its standard errors (its cost and effect on IMDb:
    benchmarks/imdb_correlated.md).

    Parameters
    ----------
    setting : replica.Setting
        With ``covariance`` set.
    strategy : str
        A strategy name.
    start : replica.OptimizationResult
        Its i.i.d. optimum (the same setting without the covariance).

    Returns
    -------
    replica.Prediction
        At the refined hyperparameters, on the covariance's draws (``se`` set).
    """
    cov = setting.covariance
    coarse = setting.with_covariance(cov.with_sampling(draws=max(4, -(-REFINE_DRAW_SIZE // cov.N))))
    fam = fixed_lam1(family(strategy), start.hyperparameters.lam1)
    refined = optimize(coarse, fam, start=start, **REFINE_SEARCH)
    return predict(setting, refined.hyperparameters)


@dataclass(frozen=True)
class TheoryStep:
    """What the theory says about a problem before any CV (THEORY.md §6).

    Attributes
    ----------
    setting : replica.Setting
        The estimated two-task setting (theory units).
    response_scale : float
        v: the data's response is √v times the theory's.
    predicted : dict
        strategy → the theory's optimal test MSE in the data's units (with a design covariance, the chosen
        strategy's is the correlated theory's at its refined point; the others' are the i.i.d. theory's).
    strategy : str
        The strategy chosen ("auto" rule) or given.
    hyperparameters : replica.Hyperparameters
        Its optimum in the problem's units, κ calibrated.
    kappa_calibration : float
        The factor applied to the theory's κ (:func:`solvers.estimate.kappa_calibration`).
    x1_init : ndarray of shape (N, 1)
        The sources' path fit nearest the theory's λ1: a warm start for stage 1.
    fits : int
        Lasso fits spent (the sources' path).

    Examples
    --------
    >>> import numpy as np
    >>> from replica import Setting
    >>> from solvers import draw_problem
    >>> from solvers.problem import TransferProblem
    >>> (A, y), src = draw_problem(Setting.similarity(0.5, 2.0, 0.3, 0.3, 0.1, 0.9), 200, np.random.default_rng(1)).data
    >>> step = theory_step(TransferProblem(A, y, [src], True), "value", 0.02, pretrain_on_target=True)
    >>> step.strategy, step.hyperparameters.kappa > 0, step.fits > 0
    ('value', True, True)
    """

    setting: Setting
    response_scale: float
    predicted: dict
    strategy: str
    hyperparameters: Hyperparameters
    kappa_calibration: float
    x1_init: np.ndarray
    fits: int


def theory_step(
    problem: TransferProblem,
    strategy: str,
    auto_tolerance: float,
    *,
    pretrain_on_target: bool,
    summary: SourceSummary | None = None,
    sigma2_target: float | None = None,
    overlap: float | None = None,
    known: dict | None = None,
    covariance: str | None = None,
) -> TheoryStep:
    """Estimate the setting, optimize the strategies on it, choose one, calibrate κ (THEORY.md §6).

    With ``covariance="empirical"`` the strategies are optimized and chosen as above, on the i.i.d.
    design, and the chosen one is then refined on the setting with the design's own correlation
    (:func:`solvers.estimate.with_design_covariance`, :func:`correlated_refinement`); ``setting`` is that
    correlated setting.

    Parameters
    ----------
    problem : solvers.problem.TransferProblem
        Scaled data with at least one source.
    strategy : str
        "auto" (the rule of :func:`auto_strategy` over :data:`AUTO_CHOICES`) or a strategy name.
    auto_tolerance : float
        The rule's relative tolerance.
    pretrain_on_target : bool
        Whether the target rows join stage 1.
    summary : solvers.estimate.SourceSummary, optional
        :func:`solvers.estimate.summarize_sources` of ``problem``, if already made.
    sigma2_target : float, optional
        The target's noise variance (default: the sources', the equal-noise assumption).
    overlap : float, optional
        The sources' support overlap (:func:`solvers.estimate.support_overlap`; default: s = s c, c = 1).
    known : dict, optional
        Optima already found on this estimated setting (:func:`theory_optima`).
    covariance : None or "empirical", default None
        The design the theory assumes: i.i.d., or the pooled design's empirical correlation.

    Returns
    -------
    TheoryStep

    Raises
    ------
    replica.ConvergenceError
        If the theory cannot be optimized on the estimated setting.
    """
    check_covariance(covariance)
    src = summarize_sources(problem) if summary is None else summary
    setting, v = setting_from(problem, src, pretrain_on_target, sigma2_target, overlap)
    names = AUTO_CHOICES if strategy == "auto" else (strategy,)
    try:
        optima = theory_optima(setting, names, known)
    except (ConvergenceError, np.linalg.LinAlgError) as exc:
        raise ConvergenceError(
            f"the theory could not be optimized on the estimated setting ({exc}); use tuning='cv'",
            {"setting": repr(setting)},
        ) from exc
    eps2 = {name: res.eps2 for name, res in optima.items()}
    if strategy == "auto":
        strategy = auto_strategy(eps2, auto_tolerance)
    best = optima[strategy].hyperparameters
    if covariance == "empirical":
        setting = with_design_covariance(setting, problem)
        try:
            refined = correlated_refinement(setting, strategy, optima[strategy])
        except ConvergenceError as exc:
            raise ConvergenceError(
                f"the correlated theory could not be optimized on the estimated setting ({exc}); use covariance=None",
                {"setting": repr(setting)},
            ) from exc
        best, eps2[strategy] = refined.hyperparameters, refined.eps2
    h = to_data_units(best, v)
    near = int(np.argmin(np.abs(np.log(src.lam1 / h.lam1))))
    calibration = kappa_calibration(problem, src, near, transfer_slope(setting))
    return TheoryStep(
        setting=setting,
        response_scale=v,
        predicted={name: v * e for name, e in eps2.items() if name != "pretrained"},
        strategy=strategy,
        hyperparameters=Hyperparameters(h.lam1, h.lam2, h.kappa * calibration, h.delta_lam),
        kappa_calibration=calibration,
        x1_init=src.path[:, [near]],
        fits=len(src.lam1) if summary is None else 0,
    )


def target_alone_step(problem: TransferProblem) -> TheoryStep:
    """The theory's target-alone Lasso, estimated from the target's own rows (no source relates to it).

    The target's summary (:func:`solvers.estimate.summarize` of its own design: SURE noise, density and
    power) gives ``Setting.single``, whose target-only optimum is the λ2 (λ1 = λ2: stage 1 is unused).

    Parameters
    ----------
    problem : solvers.problem.TransferProblem
        The target (sources ignored).

    Returns
    -------
    TheoryStep
        Strategy "target_only", κ calibration 0.

    Raises
    ------
    ValueError
        If the target's rows determine no noise level or carry no signal.
    """
    design, y_c, _ = problem.target_design()
    src = summarize(design, y_c, 1 if problem.fit_intercept else 0)
    v = src.power / src.rho
    n, N = design.shape
    setting = Setting.single(n / N, math.sqrt(src.sigma2 / v), src.rho)
    best = optimize(setting, "target_only")
    lam2 = best.hyperparameters.lam2 * math.sqrt(v)
    return TheoryStep(
        setting=setting,
        response_scale=v,
        predicted={"target_only": v * best.eps2},
        strategy="target_only",
        hyperparameters=Hyperparameters(lam2, lam2, 0.0, 0.0),
        kappa_calibration=0.0,
        x1_init=src.path[:, [src.ref]],
        fits=len(src.lam1),
    )


def predicted_cv_error(step: TheoryStep, hyper: Hyperparameters, folds: int, per_sample: bool = False) -> float:
    """The theory's test MSE (data units) at ``hyper`` for a model trained on one CV fold's rows.

    ``hyper`` is in the problem's units with κ calibrated (as the CV fits it); the theory's own κ is
    κ / ``kappa_calibration``. K-fold CV trains on (K − 1)/K of the target rows (ALO, ``per_sample``:
    on all but one).

    Parameters
    ----------
    step : TheoryStep
        The estimated setting and response scale.
    hyper : replica.Hyperparameters
        The point.
    folds : int
        K (ignored with ``per_sample``).
    per_sample : bool, default False
        Leave-one-out scoring.

    Returns
    -------
    float
        ∞ if the theory does not converge there.
    """
    setting, v = step.setting, step.response_scale
    alphas = np.array(setting.alphas)
    if not per_sample and folds > 1:
        alphas[0] *= (folds - 1) / folds
    root = math.sqrt(v)
    kappa = hyper.kappa / step.kappa_calibration if step.kappa_calibration > 0 else hyper.kappa
    theory = Hyperparameters(hyper.lam1 / root, hyper.lam2 / root, kappa, hyper.delta_lam / root)
    try:
        return v * predict(setting.with_alphas(alphas), theory).eps2
    except ConvergenceError:
        return math.inf


@dataclass(frozen=True)
class Family:
    """The grid a CV scores, and how a point is chosen from its :class:`solvers.cv.CVResult`.

    Attributes
    ----------
    grid : solvers.grid.Grid
        The points.
    tuned : str
        The strategy whose cells are selected from.
    centre_lam2 : float or None
        The theory's λ2: the choice is the point nearest the theory's within one paired SE of the CV
        minimum (:meth:`solvers.cv.CVResult.select_nearest`; the grid's first cell is the theory's κ).
        None: the CV minimum (or its one-SE λ2).
    screen_tol : float or None
        Relative gap of the λ2 points from ``screen_from`` on, which first only rank the grid.
    screen_from : int
        First screened λ2 index.

    Examples
    --------
    >>> from solvers.grid import TARGET_ONLY, Grid
    >>> fam = Family(Grid((1.0,), (0.5, 0.1), (TARGET_ONLY,)), "target_only")
    >>> fam.centre_lam2 is None
    True
    """

    grid: Grid
    tuned: str
    centre_lam2: float | None = None
    screen_tol: float | None = None
    screen_from: int = 0

    def select(self, result: CVResult, selection: str):
        """The chosen point: (hyperparameters, (i, k, j), the paths whose errors decided it or None).

        Parameters
        ----------
        result : solvers.cv.CVResult
            Scores of ``grid``.
        selection : {"min", "1se"}
            The one-SE variant or not.

        Returns
        -------
        hyperparameters, index, decisive
        """
        if self.centre_lam2 is None:
            return (*result.select(self.tuned, selection), None)
        return result.select_nearest(self.tuned, selection, self.centre_lam2)

    def score(self, problem, splits, *, selection, pretrain_on_target, n_jobs, x1_init, tol) -> CVResult:
        """Score the grid by K-fold CV on ``splits``, or by ALO when ``splits == "alo"``.

        Parameters
        ----------
        problem : solvers.problem.TransferProblem
        splits : list of (train, val) or "alo"
        selection : {"min", "1se"}
        pretrain_on_target : bool
        n_jobs : int or None
        x1_init : ndarray of shape (N, len(grid.lam1)) or None
            Stage-1 warm starts.
        tol : float
            Relative gap of the fits whose errors decide the choice.

        Returns
        -------
        solvers.cv.CVResult
        """
        common = dict(pretrain_on_target=pretrain_on_target, n_jobs=n_jobs, x1_init=x1_init, tol=tol)
        if splits == "alo":
            return alo_validate(problem, self.grid, None, **common)
        decisive = None
        if self.centre_lam2 is not None:
            decisive = lambda r: self.select(r, selection)[2]  # the choice's own paths
        return cross_validate(
            problem,
            self.grid,
            splits,
            screen_tol=self.screen_tol,
            screen_from=self.screen_from,
            decisive=decisive,
            **common,
        )


def centre_lam2(h: Hyperparameters, n_features: int) -> float:
    """The theory+cv family's λ2 centre: the theory's λ2, or 1/√N where the theory takes λ2 = 0."""
    return h.lam2 if h.lam2 > 0 else n_features**-0.5


def ladder_family(step: TheoryStep, n_features: int, n_scales: int, screen_tol: float | None) -> Family:
    """ "theory+cv"'s family (THEORY.md §6): κ ∈ κ* × :data:`KAPPA_LADDER`, each rung a λ2 path of
    ``n_scales`` factors over [1/LAM2_BRACKET, LAM2_BRACKET] × λ2* at the theory's λ1 and Δλ/λ2.

    With κ* = 0 the ladder is a single cell, and one path of 4 ``n_scales`` + 1 factors over
    [1/16, 4] (keeping t = 1) takes its place. The λ2 points below λ2* are near interpolation at text
    scale, where the CV tolerance costs most: they are screened to ``screen_tol`` and refitted only
    where their errors decide the choice.

    Parameters
    ----------
    step : TheoryStep
        The theory's point.
    n_features : int
        N (the centre where the theory takes λ2 = 0).
    n_scales : int
        λ2 factors per rung.
    screen_tol : float or None
        Gap of the screened points (K-fold CV; None: no screening).

    Returns
    -------
    Family

    Examples
    --------
    >>> from replica import Hyperparameters
    >>> step = TheoryStep(None, 1.0, {}, "value", Hyperparameters(1.0, 0.5, 1.0, 0.0), 1.0, None, 0)
    >>> fam = ladder_family(step, 3, 3, 1e-4)
    >>> [c.kappa for c in fam.grid.cells], fam.grid.lam2, fam.screen_from
    ([1.0, 0.75, 0.5625], (2.0, 0.5, 0.125), 2)
    """
    h = step.hyperparameters
    centre = Cell.of(h)
    cells = tuple(dict.fromkeys(Cell(centre.kappa * f, centre.u) for f in KAPPA_LADDER))
    if len(cells) > 1:
        scales = np.geomspace(LAM2_BRACKET, 1 / LAM2_BRACKET, n_scales) if n_scales > 1 else np.ones(1)
    else:
        scales = np.geomspace(4.0, 1 / 16, 4 * n_scales + 1)
    lam2 = centre_lam2(h, n_features)
    grid = Grid((h.lam1,), tuple(float(lam2 * t) for t in scales), cells)
    tuned = "full" if step.strategy == "auto" else step.strategy
    screen_from = int(np.sum(np.asarray(grid.lam2) >= lam2 * (1 - 1e-12)))
    return Family(grid, tuned, lam2, screen_tol, screen_from)


def grid_family(
    problem: TransferProblem, strategy: str, *, n_lam1, n_lam2, lam_min_ratio, pretrain_on_target, screen_tol
) -> Family:
    """ "cv"'s family: ``strategy``'s cells of :func:`solvers.grid.default_cells` (all of them for "auto")
    × ``n_lam1`` λ1 × ``n_lam2`` λ2 values, geometric from their λ_max down to ``lam_min_ratio``.

    Parameters
    ----------
    problem : solvers.problem.TransferProblem
    strategy : str or tuple of str
        A strategy name, "auto" (every cell; the CV chooses), or several names (the union of their
        cells; the CV chooses).
    n_lam1, n_lam2 : int
        Grid sizes.
    lam_min_ratio : float
        Smallest penalty relative to λ_max.
    pretrain_on_target : bool
        Whether stage 1 pools the target (its λ_max).
    screen_tol : float or None
        Gap of the ranking fits (then every strategy's CV-minimal path is refitted to the CV gap).

    Returns
    -------
    Family

    Examples
    --------
    >>> import numpy as np
    >>> from solvers.problem import TransferProblem
    >>> rng = np.random.default_rng(0)
    >>> problem = TransferProblem(rng.standard_normal((20, 5)), rng.standard_normal(20), [], True)
    >>> fam = grid_family(problem, "target_only", n_lam1=5, n_lam2=4, lam_min_ratio=0.01,
    ...                   pretrain_on_target=True, screen_tol=1e-4)
    >>> len(fam.grid.lam2), fam.grid.cells == (TARGET_ONLY,)
    (4, True)
    """
    design2, y2, _ = problem.target_design()
    lam2_max = max(design2.lam_max(y2), 1e-12)
    lam2 = tuple(float(lam2_max * r) for r in np.geomspace(1.0, lam_min_ratio, n_lam2))
    if strategy == "target_only":
        return Family(Grid((lam2[0],), lam2, (TARGET_ONLY,)), strategy, screen_tol=screen_tol)
    design1, y1 = problem.pretrain_design(None, pretrain_on_target)
    lam1_max = max(design1.lam_max(y1), 1e-12)
    lam1 = tuple(float(lam1_max * r) for r in np.geomspace(0.3, max(lam_min_ratio, 0.3 / 1e3), n_lam1))
    names = {"full"} if strategy == "auto" else {strategy} if isinstance(strategy, str) else set(strategy)
    cells = tuple(c for c in default_cells() if cell_strategies(c) & names)
    # every cell is one of full's: a union of strategies is selected from as full
    tuned = strategy if isinstance(strategy, str) and strategy != "auto" else "full"
    return Family(Grid(lam1 if n_lam1 > 1 else lam1[:1], lam2, cells), tuned, screen_tol=screen_tol)
