"""Replica-symmetric theory of two-stage l1 transfer learning (THEORY.md §3-4)."""
from .errors import ConvergenceError
from .setting import Hyperparameters, Setting

__all__ = ["Setting", "Hyperparameters", "ConvergenceError"]
