"""Theory-guided tuning: estimate a two-task ``replica.Setting`` from data, let the theory pick
the strategy and hyperparameters, then cross-validate one scale factor only.

Estimates (all from training data; N = number of features, rows of the design have
squared norm ≈ 1 as in THEORY.md):

* sources (once per study, from the sources-only stage-1 path on the λ1 grid, no extra
  fits): noise σ̂² = RSS/(M − |S|) at the smallest λ1 (nearly least squares, M ≫ N);
  reference fit x_ref at the λ1 minimizing SURE = RSS + 2σ̂²|S| (Lasso df = |S|);
  density ρ̂ = |S_ref|/N; signal power P = mean(y²) − σ̂² (= ||r||²/N); the reference
  fit's own error e = (RSS + 2σ̂²|S|)/M − σ̂² (≈ ||r_s − x_ref||²/N).
* target (per training set): the pretrained fit's residual b = mean((y − A x_ref)²)
  = σ_t² + ||r_t − x_ref||²/N, so D = b − σ̂² − e estimates ||r_t − r_s||²/N, assuming
  equal noise levels in target and sources and an estimation error of x_ref unrelated
  to r_t − r_s.
* model: ``Setting.similarity`` (both densities ρ̂, unit nonzero variance after dividing
  the response by √v, v = P/ρ̂), whose ||r_t − r_s||²/N = 2ρ v (1 − s c); the data fix
  only the product s c, and the split s = c = √(s c) is a modelling choice.

Scaling back: with y = √v ỹ, every penalty scales by √v and κ is unchanged.

``replica.optimize`` then compares the ``value`` and ``support`` strategies; the winner's
optimum (λ1, λ2, κ, Δλ) is the starting point, and CV runs over t ∈ ``SCALES`` with
(λ1, t λ2, κ, t Δλ): one stage-1 fit and one λ2 path per fold.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from replica import Hyperparameters, Setting, optimize

from .transfer_cv import Cell, Grid, Pretrainer, cross_validate, mse

__all__ = [
    "SourceSummary",
    "summarize_sources",
    "estimate_setting",
    "TheoryChoice",
    "theory_choice",
    "theory_cv",
    "SCALES",
]

SCALES = tuple(float(t) for t in np.geomspace(1 / 16, 4.0, 13))
CANDIDATES = ("value", "support")


@dataclass(frozen=True)
class SourceSummary:
    """Source-side estimates (module docstring), in data units."""

    sigma2: float
    rho: float
    power: float
    ref_error: float
    lam1_ref: float
    x_ref: np.ndarray
    n_rows: int
    n_features: int


def summarize_sources(pretrainer: Pretrainer, lam1_grid) -> SourceSummary:
    """Noise, density, power and reference fit of the pooled sources from the sources-only λ1 path."""
    lam1 = np.sort(np.asarray(lam1_grid, float))[::-1]
    X = pretrainer.sources_only(lam1)
    M, N = pretrainer.n_rows, pretrainer.n_features
    rss = pretrainer.rss(X)
    df = np.count_nonzero(X, axis=0)
    if M - df[-1] <= 0:
        raise ValueError(f"cannot estimate the noise: {M} source rows, {df[-1]} nonzeros at the smallest lam1")
    sigma2 = float(rss[-1] / (M - df[-1]))
    sure = rss + 2 * sigma2 * df
    i = int(np.argmin(sure))
    if df[i] == 0:
        raise ValueError("the reference source fit is empty: extend the lam1 grid to smaller penalties")
    power = pretrainer.yy / M - sigma2
    if power <= 0:
        raise ValueError("estimated source signal power is not positive: the sources look like pure noise")
    return SourceSummary(
        sigma2=sigma2,
        rho=float(df[i] / N),
        power=float(power),
        ref_error=float(max(sure[i] / M - sigma2, 0.0)),
        lam1_ref=float(lam1[i]),
        x_ref=X[:, i],
        n_rows=M,
        n_features=N,
    )


def estimate_setting(target, src: SourceSummary, pretrain_on_target: bool = False) -> tuple[Setting, float]:
    """``Setting.similarity`` in theory units for the target training data (A, y), and the scale v."""
    A, y = target
    n, N = A.shape
    b = float(mse(A, y, src.x_ref))
    distance = max(b - src.sigma2 - src.ref_error, 0.0)
    v = src.power / src.rho
    sc = float(np.clip(1.0 - distance / (2.0 * src.power), 0.0, 1.0))
    s = math.sqrt(sc)
    rho = min(src.rho, 1.0 / (2.0 - s))
    sigma = math.sqrt(src.sigma2 / v)
    setting = Setting.similarity(n / N, src.n_rows / N, sigma, sigma, rho, s, s, pretrain_on_target)
    return setting, v


@dataclass(frozen=True)
class TheoryChoice:
    """The theory's strategy, its optimum in data units, the predicted errors (theory units) and cost."""

    strategy: str
    hyper: Hyperparameters
    eps2: dict
    setting: Setting
    scale: float
    seconds: float


def theory_choice(setting: Setting, v: float) -> TheoryChoice:
    """Optimize ``value`` and ``support`` with ``replica.optimize``; keep the better one."""
    t0 = time.perf_counter()
    results = {name: optimize(setting, name) for name in CANDIDATES}
    best = min(results.values(), key=lambda r: r.eps2)
    h, root = best.hyperparameters, math.sqrt(v)
    hyper = Hyperparameters(h.lam1 * root, h.lam2 * root, h.kappa, h.delta_lam * root)
    return TheoryChoice(
        best.strategy, hyper, {k: r.eps2 for k, r in results.items()}, setting, v, time.perf_counter() - t0
    )


def _cell(h: Hyperparameters) -> Cell:
    if math.isinf(h.delta_lam):
        return Cell(h.kappa, math.inf)
    return Cell(h.kappa, math.log1p(h.delta_lam / h.lam2) if h.delta_lam > 0 else 0.0)


def theory_cv(
    target,
    pretrainer: Pretrainer,
    choice: TheoryChoice,
    *,
    folds: int = 5,
    seed: int = 0,
    pretrain_on_target: bool = False,
):
    """CV of t in (λ1, t λ2, κ, t Δλ) around the theory's optimum; returns (hyper, CV result)."""
    h = choice.hyper
    grid = Grid((h.lam1,), tuple(sorted((t * h.lam2 for t in SCALES), reverse=True)), (_cell(h),))
    cv = cross_validate(target, pretrainer, grid, folds=folds, seed=seed, pretrain_on_target=pretrain_on_target)
    best, _ = cv.best("full")
    return best, cv
