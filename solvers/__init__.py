"""Exact finite-size solvers, tuning and simulations for two-stage ℓ1 transfer learning (THEORY.md §1–2, §6).

Modules, by what they hold:

* :mod:`solvers.problem`: the two-stage problem's data, units and stage-2 inputs;
* :mod:`solvers.lasso`: the certified weighted Lasso (plain designs; per-dataset intercepts);
* :mod:`solvers.twostage`: the exact two-stage fit;
* :mod:`solvers.estimator`: :class:`TransLasso`; :mod:`solvers.translasso_cv`: :class:`TransLassoCV`;
* :mod:`solvers.grid`: tuning-grid vocabulary; :mod:`solvers.cv`: the CV engine and selection rules;
* :mod:`solvers.estimate`: the setting estimated from data; :mod:`solvers.tuning`: the theory's choice
  and the family CV searches;
* :mod:`solvers.alo`: approximate leave-one-out; :mod:`solvers.plotting`: the CV plot;
* :mod:`solvers.simulation`: the simulation study; :mod:`solvers.datasets`: real-data loaders.
"""

__version__ = "0.3.0"

from .alo import LooResult, alo_points, loo_error, stage1_factor
from .estimate import estimate_setting
from .estimator import TransLasso
from .lasso import LassoSolution, SolverError, duality_gap, solve_weighted_lasso
from .plotting import plot_cv
from .simulation import (
    Comparison,
    Extrapolation,
    Problem,
    compare,
    draw_problem,
    draw_truth,
    extrapolate,
    extrapolate_records,
    run_one,
    simulate,
)
from .translasso_cv import TransLassoCV
from .twostage import fit_two_stage

__all__ = [
    "loo_error",
    "alo_points",
    "stage1_factor",
    "LooResult",
    "TransLasso",
    "TransLassoCV",
    "estimate_setting",
    "plot_cv",
    "fit_two_stage",
    "simulate",
    "run_one",
    "draw_problem",
    "draw_truth",
    "Problem",
    "extrapolate",
    "extrapolate_records",
    "Extrapolation",
    "solve_weighted_lasso",
    "duality_gap",
    "LassoSolution",
    "SolverError",
    "compare",
    "Comparison",
]
