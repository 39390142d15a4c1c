"""Shared test-data builders: the settings, hyperparameters and statistics several test files use.

Plain functions and constants (not only fixtures) because many of them feed
``pytest.mark.parametrize`` at import time; ``tests/conftest.py`` wraps the common ones as fixtures.
"""

from __future__ import annotations

import math

import numpy as np

from replica import PAPER_PRIOR, Hyperparameters, Setting

# The README's example: moderate target data, a larger source, shared plus task-specific support.
TWO_TASK = dict(
    alpha_target=0.5,
    alpha_source=1.5,
    sigma_target=0.3,
    sigma_source=0.3,
    rho_shared=0.1,
    rho_target=0.05,
    rho_source=0.05,
)
HYPER = Hyperparameters(lam1=0.5, lam2=0.1, kappa=0.5, delta_lam=1.0)
# TransLasso on the theory's own units: the user's design as it is, no intercepts (THEORY.md §2)
THEORY_UNITS = dict(fit_intercept=False, standardize=False)

# The prior of the paper's figures as an experiments grid point, without α.
PAPER_POINT = {"prior": "two_task", **PAPER_PRIOR}


def two_task(pretrain_on_target: bool = True, **overrides) -> Setting:
    """``Setting.two_task`` of :data:`TWO_TASK`, with any of its fields overridden."""
    unknown = set(overrides) - set(TWO_TASK)
    if unknown:
        raise TypeError(f"unknown two-task fields {sorted(unknown)}")
    return Setting.two_task(**{**TWO_TASK, **overrides}, pretrain_on_target=pretrain_on_target)


def paper_setting(alpha_target: float, alpha_source: float, pretrain_on_target: bool = True) -> Setting:
    """The paper's two-task prior (``replica.PAPER_PRIOR``) at the given sample ratios."""
    return Setting.two_task(alpha_target, alpha_source, **PAPER_PRIOR, pretrain_on_target=pretrain_on_target)


# (id, setting, hyperparameters) checked both against the mpmath reference and against simulations.
THEORY_CASES = [
    ("value and support", two_task(), HYPER),
    # large Δλ, small λ2: the regime where dropping R21 visibly moves ε^(2nd)
    (
        "support, R21 matters",
        two_task(alpha_target=0.6, alpha_source=1.0, sigma_target=0.2, sigma_source=0.2),
        Hyperparameters(0.3, 0.02, 0.0, 5.0),
    ),
]
# a larger source; with source-only pretraining in the mpmath and simulation tests
LARGE_SOURCE = dict(alpha_source=2.0)


def mean_se(records, key: str) -> tuple[float, float]:
    """Mean of ``key`` over simulation records and its seed standard error (std with ddof=1 / √n)."""
    v = np.array([r[key] for r in records], dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size))


# Correlated designs (THEORY.md §7): the two-task paper prior with σ = 0.3 and the i.i.d.
# theory's optimal full, value and support hyperparameters there (replica.optimize, rounded).
CORRELATED_SETTING = Setting.two_task(0.5, 2.0, 0.3, 0.3, 0.1, 0.02, 0.02)
CORRELATED_HYPER = {
    "full": Hyperparameters(0.83, 0.31, 1.2, 0.11),
    "value": Hyperparameters(0.78, 0.38, 1.17, 0.0),
    "support": Hyperparameters(1.6, 0.06, 0.0, 0.35),
}
