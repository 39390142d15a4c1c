"""Replica-symmetric theory of two-stage l1 transfer learning (THEORY.md §3-4)."""
from .errors import ConvergenceError
from .optimize import OptimizationResult, optimize
from .prediction import Prediction, predict
from .setting import Hyperparameters, Setting

__all__ = ["Setting", "Hyperparameters", "Prediction", "predict", "ConvergenceError", "optimize", "OptimizationResult"]
