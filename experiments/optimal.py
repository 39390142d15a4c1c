"""Optimal hyperparameters of several strategies at one setting, warm-started along a sweep."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from replica import ConvergenceError, OptimizationResult, Setting, optimize
from replica.strategies import family

__all__ = ["ORDER", "RESTRICTED", "optimize_strategies", "flatten", "setting_of", "optimize_chain",
           "serpentine_chains", "excess"]

# contained strategies first, so each can seed its containers (full ≤ value, support, ...);
# pretrained first of all: its λ1 is an extra start for every strategy (see replica.optimize)
ORDER = ("pretrained", "target_only", "trans_lasso", "value", "support", "pretraining_lasso", "full")
RESTRICTED = ("value", "support", "trans_lasso", "pretraining_lasso")


def optimize_strategies(setting: Setting, strategies: Sequence[str],
                        previous: Mapping[str, OptimizationResult] | None = None) -> dict[str, OptimizationResult]:
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
    if "full" in results:
        _polish(setting, results, cold=not previous)
    return results


def _polish(setting: Setting, results: dict[str, OptimizationResult], cold: bool) -> None:
    """Restart value and support from full's optimum, then keep full ≤ both.

    Always at a cold point (no neighbour: its multi-start may miss a basin that full found),
    else only when full's optimum lies in the family (κ = 0 or Δλ = 0) below its own optimum
    (e.g. a support chain stuck on the x1 = 0 plateau).
    """
    full = results["full"]
    for name, inside in (("support", full.hyperparameters.kappa == 0),
                         ("value", full.hyperparameters.delta_lam == 0)):
        if name in results and (cold or (inside and full.eps2 < results[name].eps2)):
            res = optimize(setting, name, start=full, seeds=list(results.values()))
            if res.eps2 < results[name].eps2:
                results[name] = res
    best = min((results[n] for n in ("value", "support") if n in results), key=lambda r: r.eps2, default=full)
    if best.eps2 < full.eps2:
        x = tuple(map(float, family("full").clip(family("full").project(best.hyperparameters))))
        results["full"] = replace(best, strategy="full", x=x, source=f"seed:{best.strategy}")


def flatten(results: Mapping[str, OptimizationResult]) -> dict:
    """One flat record: ``<strategy>_<field>`` for ε, hyperparameters and search statistics."""
    row = {}
    for name, res in results.items():
        for key, value in res.as_dict().items():
            if key != "strategy":
                row[f"{name}_{key}"] = value
    return row


def setting_of(point: Mapping) -> Setting:
    """The Setting a sweep point describes: ``prior`` is "two_task" or "similarity" (THEORY.md §1)."""
    p = point
    if p["prior"] == "two_task":
        return Setting.two_task(p["alpha_target"], p["alpha_source"], p["sigma_target"], p["sigma_source"],
                                p["rho_shared"], p["rho_target"], p["rho_source"])
    if p["prior"] == "similarity":
        return Setting.similarity(p["alpha_target"], p["alpha_source"], p["sigma_target"], p["sigma_source"],
                                  p["rho"], p["shared_fraction"], p["correlation"])
    raise ValueError(f"unknown prior {p['prior']!r}; expected 'two_task' or 'similarity'")


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
        for i, row in enumerate(rows[start:start + rows_per_chain]):
            chain += list(row) if i % 2 == 0 else list(row)[::-1]
        chains.append(chain)
    return chains


def excess(row: Mapping, strategy: str) -> float:
    """Relative excess error ε_strategy/ε_full − 1 of a flattened row (NaN if not converged)."""
    if not row.get("converged"):
        return math.nan
    return row[f"{strategy}_eps2"] / row["full_eps2"] - 1.0
