"""Theory-guided tuning: estimate a two-task ``replica.Setting`` from data, let the theory pick the
strategy ("auto") and its optimum (THEORY.md, "Estimating the setting from data").

Data are first mapped to the theory's convention by :class:`solvers.cv.Scaling` (design entries of
mean square 1/N). Estimators, from the sources-only stage-1 path on a λ1 grid (no extra fits) and
the target's training data:

* noise σ̂²: fixed point of σ² = RSS(λ̂)/(M − K − df(λ̂)) with λ̂ minimizing SURE(λ) = RSS + 2σ²df
  (Lasso df = number of nonzeros; K intercepts); it is RSS/(M − df) at the SURE-optimal fit and
  needs no M > N;
* reference fit x_ref: the sources' fit at λ̂; density ρ̂ = |supp x_ref|/N;
* signal power P = mean(y_c²) − σ̂² (= ||r||²/N for rows of squared norm 1); x_ref's own error
  e = SURE(λ̂)/M − σ̂² (≈ ||r_s − x_ref||²/N);
* target: b = mean((y_t − A_t x_ref)²) (centred) = σ_t² + ||r_t − x_ref||²/N, so
  D = b − σ̂² − e estimates ||r_t − r_s||²/N, assuming equal noise levels and an error of
  x_ref unrelated to r_t − r_s;
* model: ``Setting.similarity`` with both densities ρ̂ and unit nonzero variance after dividing the
  response by √v, v = P/ρ̂; its ||r_t − r_s||²/N = 2ρ v (1 − s c). The data fix only the product
  s c; the split s = c = √(s c) is a modelling choice.

Penalties scale with √v and κ does not: the theory's optimum (λ1, λ2, κ, Δλ) in response units is
(√v λ1, √v λ2, κ, √v Δλ), and its predicted errors ε are v ε in the data's units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from replica import Hyperparameters, Setting
from replica.strategy_optima import optimize_strategies

from .cv import TransferProblem, pretrain_path

__all__ = ["SourceSummary", "summarize_sources", "setting_from", "theory_optima", "auto_strategy", "AUTO_CHOICES"]

# the "auto" rule's candidates, in order of preference (fewest knobs first)
AUTO_CHOICES = ("target_only", "value", "support", "full")


@dataclass(frozen=True)
class SourceSummary:
    """Source-side estimates (module docstring) in theory-convention design units."""

    sigma2: float
    rho: float
    power: float
    ref_error: float
    lam1_ref: float
    x_ref: np.ndarray
    path: np.ndarray
    n_rows: int
    n_features: int


def summarize_sources(problem: TransferProblem, lam1) -> SourceSummary:
    """Noise, density, power and reference fit of the pooled sources from their λ1 path (decreasing)."""
    if not problem.sources:
        raise ValueError("estimating the setting needs at least one source")
    design, y_c = problem.pretrain_design(None, pretrain_on_target=False)
    X = pretrain_path(problem, lam1, None, False)
    M, N = design.shape
    K = len(problem.sources) if problem.fit_intercept else 0
    rss = np.array([np.sum((y_c - design.matvec(X[:, j])) ** 2) for j in range(X.shape[1])])
    df = np.count_nonzero(X, axis=0)
    dof = M - K - df
    if np.all(dof <= 0):
        raise ValueError(f"cannot estimate the noise: {M} source rows, at least {df.min()} nonzeros on the lam1 path")
    sigma2 = float(np.mean(y_c**2))
    for _ in range(50):
        sure = np.where(dof > 0, rss + 2 * sigma2 * df, np.inf)
        i = int(np.argmin(sure))
        new = float(rss[i] / dof[i])
        if abs(new - sigma2) <= 1e-10 * sigma2:
            break
        sigma2 = new
    if df[i] == 0:
        raise ValueError("the reference source fit is empty: the sources carry no detectable signal")
    power = float(np.mean(y_c**2)) - sigma2
    if power <= 0:
        raise ValueError("estimated source signal power is not positive: the sources look like pure noise")
    return SourceSummary(
        sigma2=sigma2,
        rho=float(df[i] / N),
        power=power,
        ref_error=float(max(sure[i] / M - sigma2, 0.0)),
        lam1_ref=float(lam1[i]),
        x_ref=X[:, i],
        path=X,
        n_rows=M,
        n_features=N,
    )


def setting_from(problem: TransferProblem, src: SourceSummary, pretrain_on_target: bool) -> tuple[Setting, float]:
    """``Setting.similarity`` in theory units for the target data of ``problem``, and the response scale v."""
    design, y_c, _ = problem.target_design()
    n, N = design.shape
    b = float(np.mean((y_c - design.matvec(src.x_ref)) ** 2))
    distance = max(b - src.sigma2 - src.ref_error, 0.0)
    v = src.power / src.rho
    sc = float(np.clip(1.0 - distance / (2.0 * src.power), 0.0, 1.0))
    s = math.sqrt(sc)
    rho = min(src.rho, 1.0 / (2.0 - s))
    sigma = math.sqrt(src.sigma2 / v)
    return Setting.similarity(n / N, src.n_rows / N, sigma, sigma, rho, s, s, pretrain_on_target), v


def theory_optima(setting: Setting, strategies) -> dict:
    """``replica`` optimum (an OptimizationResult) of each strategy at ``setting``, nested strategies first."""
    return optimize_strategies(setting, tuple(strategies))


def auto_strategy(eps2: dict, tolerance: float) -> str:
    """The paper's rule: the first of target_only, the better of value and support, and full whose
    predicted optimal error is within ``tolerance`` (relative) of full's."""
    bound = eps2["full"] * (1.0 + tolerance)
    one_knob = min(("value", "support"), key=lambda s: eps2[s])
    return next(s for s in ("target_only", one_knob, "full") if eps2[s] <= bound)


def to_data_units(h: Hyperparameters, v: float) -> Hyperparameters:
    """Theory-unit hyperparameters for a response scaled by √v: penalties times √v, κ unchanged."""
    root = math.sqrt(v)
    return Hyperparameters(h.lam1 * root, h.lam2 * root, h.kappa, h.delta_lam * root)
