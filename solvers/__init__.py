"""Exact finite-size solvers and simulations for two-stage ℓ1 transfer learning (THEORY.md §1–2)."""

__version__ = "0.2.0"

from .alo import LooResult, alo_points, loo_error, stage1_factor
from .backend import LassoSolution, SolverError, duality_gap, solve_weighted_lasso
from .compare import Comparison, compare
from .estimator import TransLasso, fit_two_stage
from .extrapolate import Extrapolation, extrapolate, extrapolate_records
from .simulate import run_one, simulate
from .synthetic import Problem, draw_problem, draw_truth
from .translasso_cv import TransLassoCV, estimate_setting

__all__ = [
    "loo_error",
    "alo_points",
    "stage1_factor",
    "LooResult",
    "TransLasso",
    "TransLassoCV",
    "estimate_setting",
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
