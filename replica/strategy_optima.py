"""Optimal hyperparameters of several strategies at one setting (THEORY.md §3–4, via
:func:`replica.optimize`), warm-started along a sweep, and a check of a 2-D grid of such optima against
their neighbours' (:func:`basin_check`)."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from .errors import ConvergenceError
from .optimize import OptimizationResult, optimize
from .prediction import Prediction, predict
from .setting import Hyperparameters, Setting
from .strategies import CONTAINS, NESTED_ORDER, family

__all__ = [
    "ORDER",
    "RESTRICTED",
    "optimize_strategies",
    "flatten",
    "setting_of",
    "optimize_chain",
    "serpentine_chains",
    "excess",
    "basin_check",
]

log = logging.getLogger(__name__)

ORDER = NESTED_ORDER
RESTRICTED = ("value", "support", "trans_lasso", "pretraining_lasso")


def optimize_strategies(
    setting: Setting, strategies: Sequence[str], previous: Mapping[str, OptimizationResult] | None = None
) -> dict[str, OptimizationResult]:
    """Optimize each strategy at ``setting``; ``previous`` (results at a neighbouring setting) warm-starts them.

    Each strategy is seeded with every result already found at this setting: those of the
    strategies it contains bound it (a container's optimum is never above theirs), the others
    are extra starts (e.g. Trans-Lasso's optimum for Pretraining Lasso's a → 0 end), and
    ``pretrained`` supplies a λ1 (see replica.optimize).
    """
    unknown = set(strategies) - set(ORDER)
    if unknown:
        raise ValueError(f"unknown strategies {sorted(unknown)}; expected some of {list(ORDER)}")
    previous = previous or {}
    results: dict[str, OptimizationResult] = {}
    for name in (s for s in ORDER if s in strategies):
        seeds = list(results.values())
        results[name] = optimize(setting, name, start=previous.get(name), seeds=seeds)
    _polish(setting, results, cold=not previous)
    return results


def _polish(setting: Setting, results: dict[str, OptimizationResult], cold: bool) -> None:
    """Restart value and support from full's optimum, then keep every strategy ≤ those it contains.

    Always at a cold point (no neighbour: its multi-start may miss a basin that full found),
    else only when full's optimum lies in the family (κ = 0 or Δλ = 0) below its own optimum
    (e.g. a support chain stuck on the x1 = 0 plateau).
    """
    full = results.get("full")
    for name, knob in (("support", "kappa"), ("value", "delta_lam")) if full else ():
        inside = getattr(full.hyperparameters, knob) == 0
        if name in results and (cold or (inside and full.eps2 < results[name].eps2)):
            res = optimize(setting, name, start=full, seeds=list(results.values()))
            if res.eps2 < results[name].eps2:
                results[name] = res
    # contained strategies first, so a result lifted into value can be lifted on into full
    for name in (n for n in ORDER if n in results):
        subs = [results[s] for s in CONTAINS[name] if s in results]
        best = min(subs, key=lambda r: r.eps2, default=results[name])
        if best.eps2 < results[name].eps2:
            fam = family(name)
            x = tuple(map(float, fam.clip(fam.project(best.hyperparameters))))
            results[name] = replace(best, strategy=name, x=x, source=f"seed:{best.strategy}")


def flatten(results: Mapping[str, OptimizationResult]) -> dict:
    """One flat record: ``<strategy>_<field>`` for ε, hyperparameters and search statistics."""
    row = {}
    for name, res in results.items():
        for key, value in res.as_dict().items():
            if key != "strategy":
                row[f"{name}_{key}"] = value
    return row


# the fields of a sweep point each prior's constructor reads after (alpha_target, alpha_source, sigma_target, sigma_source)
_PRIOR_FIELDS = {
    "two_task": ("rho_shared", "rho_target", "rho_source"),
    "similarity": ("rho", "shared_fraction", "correlation"),
}


def setting_of(point: Mapping) -> Setting:
    """The Setting a sweep point describes: ``prior`` is "two_task" or "similarity" (THEORY.md §1)."""
    prior = point["prior"]
    if prior not in _PRIOR_FIELDS:
        raise ValueError(f"unknown prior {prior!r}; expected one of {list(_PRIOR_FIELDS)}")
    fields = ("alpha_target", "alpha_source", "sigma_target", "sigma_source") + _PRIOR_FIELDS[prior]
    return getattr(Setting, prior)(*(point[f] for f in fields))


def optimize_chain(points: Sequence[Mapping], strategies: Sequence[str]) -> list[dict]:
    """Optimal ε and hyperparameters of ``strategies`` at each point, warm-starting each from the last.

    A point where no trial converged gets ``converged = False`` (and the chain goes on).
    """
    previous, rows = None, []
    for point in points:
        try:
            results = optimize_strategies(setting_of(point), strategies, previous)
        except ConvergenceError as exc:
            rows.append({"converged": False, "error": str(exc)})
            continue
        previous = results
        rows.append({"converged": True, **flatten(results)})
    return rows


def serpentine_chains(rows: Sequence[Sequence[Mapping]], rows_per_chain: int) -> list[list[Mapping]]:
    """Blocks of ``rows_per_chain`` grid rows, each traversed boustrophedon so neighbours stay adjacent."""
    chains = []
    for start in range(0, len(rows), rows_per_chain):
        chain = []
        for i, row in enumerate(rows[start : start + rows_per_chain]):
            chain += list(row) if i % 2 == 0 else list(row)[::-1]
        chains.append(chain)
    return chains


def excess(row: Mapping, strategy: str) -> float:
    """Relative excess error ε_strategy/ε_full − 1 of a flattened row (NaN if not converged)."""
    if not row.get("converged"):
        return math.nan
    return row[f"{strategy}_eps2"] / row["full_eps2"] - 1.0


_NEIGHBOURS = ((-1, 0), (1, 0), (0, -1), (0, 1))
_STATS = ("starts", "local_runs", "evaluations", "failures", "warm_rejections", "success", "source", "seconds")


def basin_check(
    settings: Sequence[Sequence[Setting]],
    rows: Sequence[Sequence[Mapping]],
    strategies: Sequence[str],
    *,
    margin: float = 1e-6,
    max_passes: int = 10,
) -> list[list[dict]]:
    """Re-optimize each point of a 2-D grid where a neighbour's optimum is better than its own.

    ``settings`` and ``rows`` are grids (lists of grid rows) of Settings and of their flattened
    optima (:func:`optimize_chain`). Separate warm-started chains can end in different local
    basins, which shows as stripes along chain boundaries. So each neighbour's (4-neighbourhood)
    optimal hyperparameters of each strategy are evaluated here, one ``predict`` each; if one beats
    this point's optimum by more than ``margin`` (relative), the strategy is re-optimized from it,
    the better result is kept and containers are kept ≤ what they contain (:func:`_polish`).
    Passes revisit the neighbours of what changed, at most ``max_passes`` times. Returns new rows;
    ``basin_fixed`` names the strategies improved at that point (space-separated).
    """
    names = [n for n in ORDER if n in strategies]
    grid = [[{**row, "basin_fixed": ""} for row in line] for line in rows]
    points = [(i, j) for i, line in enumerate(grid) for j in range(len(line))]
    todo = {point: set(names) for point in points}
    for n_pass in range(max_passes):
        if not todo:
            break
        log.info("basin check: pass %d over %d points", n_pass + 1, len(todo))
        # alternate directions, and revisit a changed point's neighbours still ahead in this very
        # pass: a better basin then crosses the grid in a pass or two instead of a point per pass
        forward = n_pass % 2 == 0
        later: dict[tuple[int, int], set[str]] = {}
        for point in points if forward else points[::-1]:
            pending = todo.pop(point, set())
            if not pending:
                continue
            i, j = point
            around = [
                (i + di, j + dj)
                for di, dj in _NEIGHBOURS
                if 0 <= i + di < len(grid) and 0 <= j + dj < len(grid[i + di])
            ]
            improved = _improve(settings[i][j], grid[i][j], [grid[a][b] for a, b in around], names, pending, margin)
            for other in around if improved else ():
                ahead = (other > point) == forward
                (todo if ahead else later).setdefault(other, set()).update(improved)
        todo = later
    if todo:
        log.warning("basin check: stopped after %d passes with %d points left to revisit", max_passes, len(todo))
    return grid


def _improve(
    setting: Setting, row: dict, neighbours: Sequence[Mapping], names: Sequence[str], pending: set[str], margin: float
) -> set[str]:
    """Check the ``pending`` strategies of ``row`` (in place) against ``neighbours``; returns those improved."""
    if not row.get("converged"):
        return set()
    results: dict[str, OptimizationResult] = {}
    improved = set()
    for name in (n for n in names if n in pending):
        start = _best_neighbour(setting, row, neighbours, name, margin)
        if start is None:
            continue
        try:
            # this point's optima seed the restart (and bound it, for the strategies it contains)
            results = results or {n: _as_result(n, predict(setting, _hyperparameters(row, n)), row) for n in names}
            res = optimize(setting, name, start=start, seeds=[r for n, r in results.items() if n != name])
        except ConvergenceError as exc:
            log.warning("basin check: no restart of %s at %s (%s)", name, setting, exc)
            continue
        if res.error < results[name].error:
            results[name] = res
            _polish(setting, results, cold=False)
        for n, r in results.items():
            if r.error < row[f"{n}_eps2"]:
                row.update(flatten({n: r}))
                improved.add(n)
    fixed = improved | set(row["basin_fixed"].split())
    row["basin_fixed"] = " ".join(n for n in names if n in fixed)
    return improved


def _best_neighbour(
    setting: Setting, row: Mapping, neighbours: Sequence[Mapping], name: str, margin: float
) -> OptimizationResult | None:
    """The neighbours' optimum of ``name`` with the lowest error here, if it beats ``row``'s by ``margin``."""
    objective = family(name).objective
    best = None
    for neighbour in (nb for nb in neighbours if nb.get("converged")):
        try:
            # cold: a warm start from hyperparameters in another basin can land on a spurious root,
            # hiding just the improvement looked for
            pred = predict(setting, _hyperparameters(neighbour, name))
        except ConvergenceError:
            continue
        error = getattr(pred, objective)
        if error < row[f"{name}_eps2"] * (1 - margin) and (best is None or error < best.error):
            best = _as_result(name, pred)
    return best


def _hyperparameters(row: Mapping, name: str) -> Hyperparameters:
    return Hyperparameters(*(row[f"{name}_{key}"] for key in ("lam1", "lam2", "kappa", "delta_lam")))


def _as_result(name: str, prediction: Prediction, row: Mapping | None = None) -> OptimizationResult:
    """``prediction`` as a result of ``name``, to start or seed replica.optimize from: the
    re-solved optimum of a flattened ``row`` (its ε and statistics kept), else a neighbour's."""
    fam = family(name)
    if row is None:
        eps = getattr(prediction, fam.objective)
        stats = {**dict.fromkeys(_STATS, 0), "success": True, "source": "neighbour"}
    else:
        eps, stats = row[f"{name}_eps2"], {key: row[f"{name}_{key}"] for key in _STATS}
    x = tuple(map(float, fam.clip(fam.project(prediction.hyperparameters))))
    return OptimizationResult(
        strategy=name,
        error=float(eps),
        hyperparameters=prediction.hyperparameters,
        prediction=prediction,
        x=x,
        method="",
        message="",
        **stats,
    )
