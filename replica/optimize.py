"""``optimize``: minimize the predicted error over one hyperparameter strategy (THEORY.md §2–3).

What is minimized: ε^(2nd) of :func:`replica.predict` over the family of the strategy
(:mod:`replica.strategies`); for ``pretrained`` ε^(1st) over λ1.

How:

* coordinates are log λ1, log λ2, κ and u = log((λ2 + Δλ)/λ2), a box (see :mod:`replica.strategies`);
* the local method is Powell's BOBYQA (NLopt's C implementation: a bound-constrained
  quadratic-model trust region, derivative free, so the fixed-point tolerance of ``predict``
  does not pollute gradients); every ``predict`` is warm-started from the previous successful one;
* starts: the ``start`` result (a neighbour in a sweep), the ``seeds`` projected into the
  family, and, when cold (no ``start``), a small fixed space-filling design. Stage 1 depends
  on λ1 only, so a ``pretrained`` seed (the λ1 best for x1 alone) gives one more start: the
  best start with its λ1 replaced; this pulls warm chains out of the plateau λ1 → ∞
  (x1 = 0), where they otherwise stay. The local method runs from the best ``multistart``
  distinct starts; warm, also from any start within ``_MARGIN`` of the best (another basin,
  e.g. κ = 0 against κ ≈ 1, that a neighbour's optimum would not reveal). With value and
  support seeds, full also starts from their combination (κ of one, Δλ of the other);
* nesting of families: the sub-strategies a family contains (value ⊃ trans_lasso, target_only;
  full ⊃ value, support, pretraining_lasso; ...) are optimized first when no ``seeds`` are
  given, and a seed from a contained strategy is itself a candidate, so the optimum of a
  family is never worse than that of any family it contains (e.g. full ≤ value, support);
* plateaus: where x2 ≈ 0 is optimal, every larger λ2 is too; the returned λ2 is the least one
  with the same error (to 1e-12; halving, then bisection to 0.1%), so the result does not
  depend on the search path;
* a :class:`ConvergenceError` at a trial point counts as +∞ (the local method sees a large
  finite value) and is counted in ``failures``.

:func:`optimize` runs these as named phases: :func:`_seed_results` (contained strategies),
:func:`_starting_points`, :func:`_choose_starts`, :func:`_local_runs`, :func:`_polish` (re-solve,
plateau edge) and :func:`_no_worse_than_seeds`.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import nlopt
import numpy as np

from .errors import ConvergenceError
from .prediction import Prediction, predict
from .setting import Hyperparameters, Setting
from .strategies import CONTAINS, Family, contained, family

__all__ = ["OptimizationResult", "optimize"]

_TRIAL_TOL = 1e-8  # fixed-point residual at trial points (the optimum is re-solved to 1e-10)
_FAILED = 1e3  # what the local method sees at a failed point (errors are O(1))
_MAX_CHI = 1e8  # larger χ2 is a root at infinity of predict's log-coordinates
_COLD_RADIUS = 0.5  # initial trust radius in coordinates (log-penalties, κ, u)
_WARM_RADIUS = 0.03
_COLD_DESIGN = 6  # design points per coordinate when cold
_COLD_SEPARATION = 1.0  # cold local runs start ≥ this far apart (max-norm): other basins
_MARGIN = 0.1  # warm: also run from starts at most 10% above the best one
_MAX_WARM_RUNS = 2
_FLAT = 1e-12  # relative change of the error below which λ2 is on a plateau (x2 ≈ 0)
_MAX_HALVINGS = 60
_BISECTIONS = 10
# sub-box of the coordinates where cold designs are drawn: λ ∈ [1e-3, 3], κ ∈ [0, 1.5], Δλ ≤ 150 λ2
_DESIGN_BOX = {
    "log_lam1": (math.log(1e-3), math.log(3.0)),
    "log_lam2": (math.log(1e-3), math.log(3.0)),
    "kappa": (0.0, 1.5),
    "u": (0.0, 5.0),
}


@dataclass(frozen=True, kw_only=True)
class OptimizationResult:
    """Optimum of one strategy and how it was found (returned by :func:`optimize`).

    Attributes
    ----------
    strategy : str
        The strategy's name (:data:`replica.strategies.STRATEGIES`) or the Family's.
    error : float
        The minimized error: ε^(2nd) (THEORY.md §3 "Errors") for every strategy but
        ``pretrained``, whose estimator is x1 alone and whose error is ε^(1st).
    hyperparameters : Hyperparameters
        The optimum (λ1, λ2, κ, Δλ).
    prediction : Prediction
        :func:`replica.predict` at ``hyperparameters``, solved to its full tolerance.
    x : tuple of float
        The optimum in the family's coordinates (``Family.names``).
    starts : int
        Starting points evaluated.
    local_runs : int
        Local (BOBYQA) optimizations run.
    evaluations : int
        ``predict`` calls, including those of sub-strategies optimized here.
    failures : int
        Trial points whose equations did not converge.
    warm_rejections : int
        Warm-started ``predict`` calls that landed on a spurious root (χ2 → ∞) and were redone cold.
    method : str
        The local method ("BOBYQA").
    success : bool
        Whether a local run converged (or a contained strategy's optimum was returned).
    message : str
        The local runs' stopping reasons.
    source : str
        Where the optimum came from: "local", or "seed:<strategy>" when a contained strategy's
        optimum was not improved.
    seconds : float
        Wall-clock time.

    Examples
    --------
    >>> from replica import Setting, optimize
    >>> res = optimize(Setting.two_task(0.5, 1.5, 0.3, 0.3, 0.1, 0.05, 0.05), "target_only")
    >>> res.error == res.eps2 == res.prediction.eps2
    True
    >>> res.hyperparameters.kappa, res.hyperparameters.delta_lam
    (0.0, 0.0)
    """

    strategy: str
    error: float
    hyperparameters: Hyperparameters
    prediction: Prediction
    x: tuple
    starts: int
    local_runs: int
    evaluations: int
    failures: int
    warm_rejections: int
    method: str
    success: bool
    message: str
    source: str
    seconds: float

    @property
    def eps1(self) -> float:
        """ε^(1st) of the pretrained x1 at the optimum (THEORY.md §3 "Errors")."""
        return self.prediction.eps1

    @property
    def eps2(self) -> float:
        """ε^(2nd) of the final estimator κ x1 + x2 at the optimum (THEORY.md §3 "Errors"); equal to
        ``error`` except for ``pretrained``."""
        return self.prediction.eps2

    def as_dict(self) -> dict:
        """Flat record for CSV/JSON: the optimum, its hyperparameters and the search statistics.

        Its ``eps2`` column holds ``error`` (the strategy's minimized error, ε^(1st) for
        ``pretrained``): the tables of ``experiments/`` keep that column name for every strategy.
        ``eps1`` is the prediction's ε^(1st).
        """
        return {
            "strategy": self.strategy,
            "eps2": self.error,
            "eps1": self.prediction.eps1,
            **self.hyperparameters.as_dict(),
            "starts": self.starts,
            "local_runs": self.local_runs,
            "evaluations": self.evaluations,
            "failures": self.failures,
            "warm_rejections": self.warm_rejections,
            "success": self.success,
            "source": self.source,
            "seconds": self.seconds,
        }


class _Objective:
    """The strategy's error at coordinates x, with warm starts and bookkeeping of the best point."""

    def __init__(self, setting: Setting, fam: Family, warm: Prediction | None):
        self.setting, self.fam, self.last = setting, fam, warm
        self.evaluations = self.failures = self.warm_rejections = 0
        # x̂ = 0 has ε = σ1² + ρ11; an error 1e3 times larger is a spurious root, not an estimator
        self.max_error = 1e3 * (setting.sigmas[0] ** 2 + setting.second_moments[0, 0])
        self.best = (math.inf, None, None)  # (error, x, prediction)

    def __call__(self, x) -> float:
        x = self.fam.clip(x)
        self.evaluations += 1
        hp = self.fam.to_hyperparameters(x)
        try:
            pred = predict(self.setting, hp, warm_start=self.last, tol=_TRIAL_TOL)
            if not self._plausible(pred) and self.last is not None:
                # a far warm start can land on a spurious root with χ2 → ∞: retry cold
                self.warm_rejections += 1
                pred = predict(self.setting, hp, tol=_TRIAL_TOL)
            if not self._plausible(pred):
                raise ConvergenceError("implausible fixed point", {"chi2": pred.chi2, "eps2": pred.eps2})
        except ConvergenceError:
            self.failures += 1
            return math.inf
        self.last = pred
        value = getattr(pred, self.fam.objective)
        if value < self.best[0]:
            self.best = (value, x.copy(), pred)
        return value

    def _plausible(self, pred: Prediction) -> bool:
        return pred.chi2 < _MAX_CHI and max(pred.eps1, pred.eps2) < self.max_error

    def for_optimizer(self, x) -> float:
        return min(self(x), _FAILED)


_NLOPT_MESSAGES = {
    nlopt.SUCCESS: "success",
    nlopt.XTOL_REACHED: "final trust radius reached",
    nlopt.FTOL_REACHED: "ftol reached",
    nlopt.MAXEVAL_REACHED: "maximum evaluations reached",
    nlopt.ROUNDOFF_LIMITED: "roundoff limited",
}


def _bobyqa(fun, x0, bounds, radius: float, final_radius: float, max_evaluations: int) -> tuple[bool, str]:
    """Powell's BOBYQA (NLopt) on ``fun`` over the box from x0: trust radius ``radius`` down to
    ``final_radius``. Returns (converged, message); the caller's objective keeps the best point."""
    lo, hi = np.array(bounds, float).T
    opt = nlopt.opt(nlopt.LN_BOBYQA, len(x0))
    opt.set_lower_bounds(lo)
    opt.set_upper_bounds(hi)
    opt.set_min_objective(lambda x, grad: fun(x))
    opt.set_initial_step(radius)
    opt.set_xtol_rel(final_radius / radius)  # NLopt's BOBYQA: final radius = xtol_rel × initial one
    opt.set_maxeval(max_evaluations)
    try:
        opt.optimize(np.clip(np.asarray(x0, float), lo, hi))
    except nlopt.RoundoffLimited:
        return False, _NLOPT_MESSAGES[nlopt.ROUNDOFF_LIMITED]
    code = opt.last_optimize_result()
    return code in (nlopt.SUCCESS, nlopt.XTOL_REACHED, nlopt.FTOL_REACHED), _NLOPT_MESSAGES.get(code, f"nlopt {code}")


def _design(fam: Family, n: int) -> np.ndarray:
    """Deterministic space-filling points (unscrambled Halton) in the design sub-box."""
    from scipy.stats import qmc  # here: scipy.stats takes 0.5 s to import, a third of `import replica`

    lo, hi = np.array([_DESIGN_BOX[name] for name in fam.names]).T
    u = qmc.Halton(d=len(fam.names), scramble=False).random(n + 1)[1:]
    return fam.clip(lo + (hi - lo) * u)


def _distinct(points: list[tuple[float, np.ndarray]], k: int, min_dist: float) -> list[np.ndarray]:
    """The best ``k`` starting points at coordinate distance ≥ ``min_dist`` from each other."""
    chosen: list[np.ndarray] = []
    for _, x in sorted(points, key=lambda p: p[0]):
        if len(chosen) == k:
            break
        if all(np.max(np.abs(x - c)) >= min_dist for c in chosen):
            chosen.append(x)
    return chosen


def _combined_starts(fam: Family, seeds) -> list[np.ndarray]:
    """Both kinds of transfer at once: κ of the value optimum with (λ2, Δλ) of the support one,
    and the reverse λs; full's optimum often lies there, far from either seed alone."""
    by_name = {r.strategy: r for r in seeds}
    if not {"kappa", "u"} <= set(fam.names) or not {"value", "support"} <= set(by_name):
        return []
    value = fam.clip(fam.project(by_name["value"].hyperparameters))
    support = fam.clip(fam.project(by_name["support"].hyperparameters))
    k = fam.names.index("kappa")
    with_kappa, with_lams = support.copy(), value.copy()
    with_kappa[k] = value[k]
    with_lams[fam.names.index("u")] = support[fam.names.index("u")]
    return [with_kappa, with_lams]


def _least_flat_lam2(setting: Setting, fam: Family, value: float, x: np.ndarray, pred: Prediction):
    """Move λ2 down to the edge of a flat plateau: where x2 ≈ 0 is optimal every larger λ2 is
    optimal too (the error changes by ≤ _FLAT relative), and the local method stops anywhere on it.
    Halving finds a non-flat λ2, then bisection in log λ2 places the edge to 2^−_BISECTIONS, so the
    result does not depend on the search path (users scale and cross-validate around it). Costs
    one ``predict`` when the optimum is not flat."""
    if "log_lam2" not in fam.names:
        return value, x, pred
    i = fam.names.index("log_lam2")
    flat, base = (x, pred), value

    def is_flat(point):
        try:
            p = predict(setting, fam.to_hyperparameters(point), warm_start=flat[1])
        except ConvergenceError:
            return None
        return p if getattr(p, fam.objective) <= base * (1 + _FLAT) else None

    step = math.log(2.0)
    for _ in range(_MAX_HALVINGS):
        trial = fam.clip(np.where(np.arange(x.size) == i, flat[0] - step, flat[0]))
        if trial[i] == flat[0][i]:
            break
        p = is_flat(trial)
        if p is None:
            for _ in range(_BISECTIONS):  # the edge lies within one step below the last flat point
                step /= 2
                mid = fam.clip(np.where(np.arange(x.size) == i, flat[0] - step, flat[0]))
                p = is_flat(mid)
                if p is not None:
                    flat = (mid, p)
            break
        flat = (trial, p)
    x, pred = flat
    return getattr(pred, fam.objective), x, pred


def optimize(
    setting: Setting,
    strategy: str | Family = "full",
    start: OptimizationResult | None = None,
    seeds=None,
    *,
    multistart: int | None = None,
    xtol: float = 1e-3,
    max_evaluations: int = 400,
) -> OptimizationResult:
    """Minimize the predicted error over one strategy's hyperparameters (THEORY.md §2–3).

    The error is ε^(2nd) of :func:`replica.predict` (THEORY.md §3 "Errors"), or ε^(1st) for
    ``pretrained``, minimized over the strategy's family of (λ1, λ2, κ, Δλ) (see the module
    docstring for the search).

    Parameters
    ----------
    setting : Setting
        The data model.
    strategy : str or Family, default "full"
        A name of :data:`replica.strategies.STRATEGIES` or a :class:`~replica.strategies.Family`
        (e.g. :func:`~replica.strategies.fixed_transfer`).
    start : OptimizationResult, optional
        A previous result (any strategy; typically this strategy at a neighbouring setting), used
        as warm start both for the coordinates and for ``predict``.
    seeds : sequence of OptimizationResult, optional
        Results of other strategies at *this* setting, projected into the family as extra starting
        points; those of contained strategies also bound the result from above. If None, the
        contained strategies (:data:`~replica.strategies.CONTAINS`) are optimized first,
        warm-started from ``start`` when given; ``seeds=()`` skips them. A ``pretrained`` seed
        also supplies a λ1 to try.
    multistart : int, optional
        Local runs from the best distinct starts (default 3 cold; warm, up to 2 among the starts
        within 10% of the best).
    xtol : float, default 1e-3
        Final trust-region radius in coordinates.
    max_evaluations : int, default 400
        ``predict`` calls per local run.

    Returns
    -------
    OptimizationResult
        The optimum (``error``, ``hyperparameters``, ``prediction``) and search statistics.

    Raises
    ------
    ValueError
        On invalid input (unknown strategy, ``multistart`` < 1, ``xtol`` ≤ 0, wrong types).
    ConvergenceError
        If no trial point's equations converged.

    Examples
    --------
    >>> from replica import Setting, optimize
    >>> s = Setting.two_task(0.5, 1.5, 0.3, 0.3, 0.1, 0.05, 0.05)
    >>> lasso = optimize(s, "target_only")  # the Lasso on the target alone: λ2 only
    >>> round(lasso.error, 4), round(lasso.hyperparameters.lam2, 3)
    (0.1688, 0.258)
    """
    fam = _check_inputs(setting, strategy, start, multistart, xtol)
    t0 = time.perf_counter()
    seeds, counts = _seed_results(setting, fam, start, seeds, xtol, max_evaluations)
    objective = _Objective(setting, fam, start.prediction if start is not None else None)
    candidates, evaluated = _starting_points(objective, start, seeds)
    chosen = _choose_starts(evaluated, start is not None, multistart)
    success, messages = _local_runs(objective, chosen, start is not None, xtol, max_evaluations)
    value, x, pred = _polish(setting, fam, objective.best)
    value, x, pred, source = _no_worse_than_seeds(fam, seeds, value, x, pred)
    if pred is None:
        raise ConvergenceError(
            f"no trial point of strategy {fam.name!r} converged",
            {"setting": repr(setting), "evaluations": objective.evaluations},
        )
    return OptimizationResult(
        strategy=fam.name,
        error=float(value),
        hyperparameters=pred.hyperparameters,
        prediction=pred,
        x=tuple(map(float, x)),
        starts=len(candidates),
        local_runs=len(messages),
        evaluations=counts[0] + objective.evaluations,
        failures=counts[1] + objective.failures,
        warm_rejections=counts[2] + objective.warm_rejections,
        method="BOBYQA",
        success=success or source != "local",
        message="; ".join(messages) or "no start converged",
        source=source,
        seconds=time.perf_counter() - t0,
    )


def _check_inputs(setting, strategy, start, multistart, xtol) -> Family:
    """Validate :func:`optimize`'s arguments (ValueError naming the problem); return the family."""
    if not isinstance(setting, Setting):
        raise ValueError(f"setting must be a replica.Setting, got {type(setting).__name__}")
    fam = strategy if isinstance(strategy, Family) else family(strategy)
    if start is not None and not isinstance(start, OptimizationResult):
        raise ValueError(f"start must be an OptimizationResult or None, got {type(start).__name__}")
    if multistart is not None and multistart < 1:
        raise ValueError(f"multistart must be >= 1, got {multistart}")
    if not xtol > 0:
        raise ValueError(f"xtol must be > 0, got {xtol}")
    return fam


def _seed_results(setting, fam, start, seeds, xtol, max_evaluations):
    """Phase 1: the seeds, optimizing the contained strategies first when none are given.

    Returns (seeds, (evaluations, failures, warm rejections) spent on them here).
    """
    counts = (0, 0, 0)
    if seeds is None:
        seeds = [
            optimize(setting, sub, start=start, xtol=xtol, max_evaluations=max_evaluations)
            for sub in CONTAINS.get(fam.name, ())
        ]
        counts = (
            sum(s.evaluations for s in seeds),
            sum(s.failures for s in seeds),
            sum(s.warm_rejections for s in seeds),
        )
    seeds = list(seeds)
    for s in seeds:
        if not isinstance(s, OptimizationResult):
            raise ValueError(f"seeds must be OptimizationResults, got {type(s).__name__}")
    return seeds, counts


def _starting_points(objective: _Objective, start, seeds):
    """Phase 2: candidate starts and their errors: ``start`` and the seeds projected into the family,
    a space-filling design when cold, the best start with a ``pretrained`` seed's λ1, and the
    value/support combinations. Returns (candidates, [(error, x) of those that converged])."""
    fam = objective.fam
    candidates = [fam.clip(fam.project(r.hyperparameters)) for r in ([start] if start else []) + seeds]
    if start is None:
        candidates += list(_design(fam, _COLD_DESIGN * len(fam.names)))
    evaluated = [(objective(x), x) for x in candidates]
    evaluated = [(v, x) for v, x in evaluated if math.isfinite(v)]
    lam1_seeds = [r for r in seeds if r.strategy == "pretrained"]
    extra = []
    if lam1_seeds and evaluated and "log_lam1" in fam.names:
        x = min(evaluated, key=lambda e: e[0])[1].copy()
        x[fam.names.index("log_lam1")] = math.log(lam1_seeds[0].hyperparameters.lam1)
        extra.append(fam.clip(x))
    for x in extra + _combined_starts(fam, seeds):
        candidates.append(x)
        if math.isfinite(v := objective(x)):
            evaluated.append((v, x))
    return candidates, evaluated


def _choose_starts(evaluated, warm: bool, multistart: int | None) -> list[np.ndarray]:
    """Phase 3: where the local runs start. Cold: the best ``multistart`` (3) starts at least
    _COLD_SEPARATION apart; warm: up to ``multistart`` (2) distinct starts within _MARGIN of the best."""
    if not warm:
        return _distinct(evaluated, multistart or 3, _COLD_SEPARATION)
    best = min((v for v, _ in evaluated), default=math.inf)
    close = [(v, x) for v, x in evaluated if v <= best * (1 + _MARGIN)]
    return _distinct(close, multistart or _MAX_WARM_RUNS, _WARM_RADIUS)


def _local_runs(objective: _Objective, chosen, warm: bool, xtol: float, max_evaluations: int):
    """Phase 4: BOBYQA from each chosen start (the objective keeps the best point).
    Returns (whether any run converged, the runs' messages)."""
    fam = objective.fam
    radius = _WARM_RADIUS if warm else _COLD_RADIUS
    radius = min(radius, float(np.min(np.diff(np.array(fam.bounds), axis=1))) / 2)
    messages, success = [], False
    for x0 in chosen:
        ok, message = _bobyqa(objective.for_optimizer, x0, fam.bounds, radius, min(xtol, radius), max_evaluations)
        success |= ok
        messages.append(message)
    return success, messages


def _polish(setting: Setting, fam: Family, best):
    """Phase 5: re-solve the best trial point (solved to _TRIAL_TOL) to predict's full tolerance and
    move λ2 to the edge of a flat plateau (:func:`_least_flat_lam2`). ``best`` = (error, x, prediction)."""
    value, x, pred = best
    if pred is None:
        return value, x, pred
    pred = predict(setting, pred.hyperparameters, warm_start=pred)
    value = getattr(pred, fam.objective)
    return _least_flat_lam2(setting, fam, value, x, pred)


def _no_worse_than_seeds(fam: Family, seeds, value, x, pred):
    """Phase 6: a contained strategy's optimum is a point of this family: never return worse.
    Returns (error, x, prediction, source)."""
    source = "local"
    for s in seeds:
        if contained(fam.name, s.strategy) and s.error < value:
            value, x, pred = s.error, fam.clip(fam.project(s.hyperparameters)), s.prediction
            source = f"seed:{s.strategy}"
    return value, x, pred, source
