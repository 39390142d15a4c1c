"""The certified weighted Lasso, the one problem both stages of THEORY.md §2 solve.

* :mod:`solvers.lasso.weighted`: a plain design, weights in [0, ∞] and an optional linear term
  (the theory's own fits and R21's field), solved by scikit-learn's or skglm's coordinate descent
  and certified by :func:`duality_gap`;
* :mod:`solvers.lasso.centred`: datasets stacked with one free intercept each (block-centred,
  sparse designs kept sparse), solved by a compiled coordinate descent with the same certificate;
  warm-started paths for cross-validation.

Every solve reaches its requested relative duality gap or raises :class:`SolverError`.
"""

from .centred import Design, certify, lasso, lasso_path
from .weighted import BACKENDS, DEFAULT_TOL, GAP_FLOOR, LassoSolution, SolverError, duality_gap, solve_weighted_lasso

__all__ = [
    "BACKENDS",
    "DEFAULT_TOL",
    "GAP_FLOOR",
    "Design",
    "LassoSolution",
    "SolverError",
    "certify",
    "duality_gap",
    "lasso",
    "lasso_path",
    "solve_weighted_lasso",
]
