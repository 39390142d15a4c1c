"""The simulation study: finite-size runs of the two-stage estimator against the replica theory.

* :mod:`~solvers.simulation.synthetic`: truths, designs and responses drawn from a ``replica.Setting``;
* :mod:`~solvers.simulation.simulate`: one certified two-stage fit per seed, in parallel, bit-identical
  records whatever the number of processes;
* :mod:`~solvers.simulation.compare`: simulations against the theory (mean, seed SE, z);
* :mod:`~solvers.simulation.extrapolate`: finite-size extrapolation ε(N) = ε∞ + c/N.
"""

from .compare import Comparison, compare
from .extrapolate import Extrapolation, extrapolate, extrapolate_records
from .simulate import R21_DELTA, run_one, simulate, support_rates
from .synthetic import Problem, design_covariances, draw_problem, draw_truth, mnist_pixel_covariance

__all__ = [
    "Comparison",
    "compare",
    "Extrapolation",
    "extrapolate",
    "extrapolate_records",
    "R21_DELTA",
    "run_one",
    "simulate",
    "support_rates",
    "Problem",
    "draw_problem",
    "draw_truth",
    "design_covariances",
    "mnist_pixel_covariance",
]
