"""Replica-symmetric theory of two-stage l1 transfer learning (THEORY.md §3-4)."""

from .covariance import Covariance
from .errors import ConvergenceError
from .optimize import OptimizationResult, optimize
from .prediction import Prediction, predict
from .setting import PAPER_PRIOR, Hyperparameters, Setting
from .strategies import (
    CONTAINS,
    NESTED_ORDER,
    STRATEGIES,
    STRATEGY_NAMES,
    contained,
    delta_from_u,
    family,
    strategies_containing,
    u_from_delta,
)

__version__ = "0.3.0"

__all__ = [
    "Setting",
    "Hyperparameters",
    "Covariance",
    "PAPER_PRIOR",
    "Prediction",
    "predict",
    "ConvergenceError",
    "optimize",
    "OptimizationResult",
    "STRATEGIES",
    "STRATEGY_NAMES",
    "CONTAINS",
    "contained",
    "family",
    "strategies_containing",
    "NESTED_ORDER",
    "delta_from_u",
    "u_from_delta",
]
