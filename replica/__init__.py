"""Replica-symmetric theory of two-stage l1 transfer learning (THEORY.md §3-4)."""

from .errors import ConvergenceError
from .optimize import OptimizationResult, optimize
from .prediction import Prediction, predict
from .setting import Hyperparameters, Setting
from .strategies import CONTAINS, STRATEGIES, STRATEGY_NAMES, contained, family, strategies_containing

__version__ = "0.2.0"

__all__ = [
    "Setting",
    "Hyperparameters",
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
]
