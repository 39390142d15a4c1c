"""Optimal hyperparameters of several strategies at one setting, warm-started along a sweep."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from replica import OptimizationResult, Setting, optimize
from replica.optimize import CONTAINS

__all__ = ["ORDER", "optimize_strategies", "flatten"]

# contained strategies first, so each can seed its containers (full ≤ value, support, ...)
ORDER = ("target_only", "trans_lasso", "value", "support", "pretraining_lasso", "full", "pretrained")


def optimize_strategies(setting: Setting, strategies: Sequence[str],
                        previous: Mapping[str, OptimizationResult] | None = None) -> dict[str, OptimizationResult]:
    """Optimize each strategy at ``setting``; ``previous`` (results at a neighbouring setting) warm-starts them.

    Each strategy is seeded with the results of the requested strategies it contains, so a
    container's optimum is never above theirs.
    """
    unknown = set(strategies) - set(ORDER)
    if unknown:
        raise ValueError(f"unknown strategies {sorted(unknown)}; expected some of {list(ORDER)}")
    previous = previous or {}
    results: dict[str, OptimizationResult] = {}
    for name in (s for s in ORDER if s in strategies):
        seeds = [results[sub] for sub in CONTAINS[name] if sub in results]
        results[name] = optimize(setting, name, start=previous.get(name), seeds=seeds)
    return results


def flatten(results: Mapping[str, OptimizationResult]) -> dict:
    """One flat record: ``<strategy>_<field>`` for ε, hyperparameters and search statistics."""
    row = {}
    for name, res in results.items():
        for key, value in res.as_dict().items():
            if key != "strategy":
                row[f"{name}_{key}"] = value
    return row
