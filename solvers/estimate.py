"""Estimate a two-task ``replica.Setting`` from data (THEORY.md §6, "Estimating the setting from data").

Data are first mapped to the theory's convention by :class:`solvers.problem.Scaling` (design entries of
mean square 1/N). Estimators, from the sources-only stage-1 path on a λ1 grid (no extra fits) and
the target's training data:

* noise σ̂²: fixed point of σ² = RSS(λ̂)/(M − K − df(λ̂)) with λ̂ minimizing SURE(λ) = RSS + 2σ²df
  (Lasso df = number of nonzeros; K intercepts); it is RSS/(M − df) at the SURE-optimal fit and
  needs no M > N;
* signal power P = mean(y_c²) − σ̂² (= ||r||²/N for rows of squared norm 1 and ρ v for a
  Bernoulli–Gaussian prior of density ρ and nonzero variance v);
* density ρ̂: the Lasso's support overstates it (false positives at the prediction-optimal λ),
  so ρ̂ is the density at which the single-Lasso theory (``replica.single_lasso``, THEORY.md §3
  with one dataset) predicts the observed fraction of nonzeros |supp x_ref|/N at λ̂, with
  v = P/ρ̂ and σ̂ (in theory units: λ̂/√v, σ̂/√v); if no density in (0, 1] matches, |supp x_ref|/N;
* reference fit x_ref: the sources' fit at λ̂, and its overlap with the sources' truth
  q_s = r_sᵀx_ref/N = y_sᵀA_s x_ref/M − σ̂² df/M (the second term removes the fit's own noise,
  Stein's lemma with the Lasso's df);
* target: its power P_t = mean(y_t²) − σ̂² and overlap q_t = r_tᵀx_ref/N = y_tᵀA_t x_ref/n (x_ref
  never saw the target's noise). Writing x_ref = a r_s + e with e unrelated to r_t, the
  similarity r_tᵀr_s/√(||r_t||²||r_s||²) is the ratio of the target's to the sources' correlation
  of signal and prediction u = A x_ref, (q_t/√(P_t S_t)) / (q_s/√(P_s S_s)) with S = uᵀu/rows the
  prediction's mean square in each design, clipped to [0, 1]. S_t/S_s is 1 for designs alike; it
  keeps the estimate right where the target's rows vary more (or less) along x_ref than the sources'
  (THEORY.md §6); assumes equal noise levels in target and sources;
* model: ``Setting.similarity`` with both densities ρ̂ and unit nonzero variance after dividing the
  response by √v, v = P/ρ̂; its similarity is s c. The data fix only the product s c; the model takes
  c = 1 (``Setting.similarity``'s default: a fraction s of the target's support is shared with equal
  values, the form of the paper's two-task prior, which is then the model exactly when ρ_t = ρ_u).

The theory's κ is then calibrated on the data (:func:`kappa_calibration`): multiplied by the
target's observed calibration slope on a sources' fit over the slope the theory predicts for it.

Penalties scale with √v and κ does not: the theory's optimum (λ1, λ2, κ, Δλ) in response units is
(√v λ1, √v λ2, κ, √v Δλ), and its predicted errors ε are v ε in the data's units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from replica import Hyperparameters, Setting
from replica.single_lasso import single_lasso

from .lasso import lasso_path
from .problem import TransferProblem, check_transfer_data

__all__ = [
    "estimate_setting",
    "SourceSummary",
    "summarize_sources",
    "setting_from",
    "similarity",
    "kappa_calibration",
    "to_data_units",
]

SOURCE_PATH = (0.5, 0.002)  # λ1/λ1_max range of the sources-only path that the setting is estimated from


def estimate_setting(X, y, sources, *, fit_intercept=True, standardize=True, pretrain_on_target=True, n_lam1=12):
    """Estimate the two-task ``replica.Setting`` of target (X, y) and ``sources``, and the response scale v.

    The data are first mapped to the theory's convention (THEORY.md §1: design entries of mean
    square 1/N, :class:`solvers.problem.Scaling`; with ``standardize`` every column of the pooled data
    is scaled to that, else one common factor fixes the mean squared row norm to 1), and each
    dataset is centred (``fit_intercept``). The estimators, from a sources-only Lasso path of
    ``n_lam1`` penalties and the target data, are those of this module (THEORY.md,
    "Estimating the setting from data"): noise from RSS/(M − df) at the SURE-optimal source fit,
    density from that fit's support, similarity from the target's and the sources' correlations with
    its prediction. Assumes equal noise levels in target and sources, one density for both, and a
    similarity prior (``Setting.similarity``) whose shared values are equal (c = 1). Several sources
    are pooled into one.

    Parameters
    ----------
    X, y, sources
        Target design (n, N), target response and source datasets in the user's units, as in :meth:`solvers.TransLasso.fit`
        (at least one source).
    fit_intercept : bool, default True
        Centre each dataset (its own intercept).
    standardize : bool, default True
        Scale every column of the pooled data to mean square 1/N (else one common factor).
    pretrain_on_target : bool, default True
        Whether the target rows join stage 1 in the estimated setting.
    n_lam1 : int, default 12
        Penalties of the sources-only Lasso path the estimators read.

    Returns
    -------
    setting : replica.Setting
        ``Setting.similarity(n/N, M/N, σ, σ, ρ, s, 1)`` in theory units (response divided by √v).
    v : float
        Response scale: the data's response is √v times the theory's.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> r = np.where(rng.random(200) < 0.1, rng.standard_normal(200), 0.0)
    >>> X, Xs = rng.standard_normal((100, 200)), rng.standard_normal((400, 200))
    >>> y, ys = X @ r + 0.3 * rng.standard_normal(100), Xs @ r + 0.3 * rng.standard_normal(400)
    >>> setting, v = estimate_setting(X, y, sources=[(Xs, ys)], fit_intercept=False)
    >>> setting.alphas.tolist(), round(float(setting.sigmas[0] * np.sqrt(v)), 1)  # σ in the data's units
    ([0.5, 2.0], 0.3)
    """
    X, y, checked = check_transfer_data(None, X, y, sources)
    if not checked:
        raise ValueError("estimate_setting needs at least one source (X, y) pair")
    problem, _ = TransferProblem.scaled(X, y, checked, fit_intercept, standardize)
    src = summarize_sources(problem, n_lam1)
    return setting_from(problem, src, pretrain_on_target)


@dataclass(frozen=True)
class SourceSummary:
    """Source-side estimates (module docstring) in theory-convention design units, with the sources'
    λ1 path: its fits, their Stein-corrected overlap r_sᵀx/N and prediction mean square ||A_s x||²/M,
    and which fit is the reference (the SURE-optimal one)."""

    sigma2: float
    rho: float
    power: float
    path: np.ndarray
    lam1: np.ndarray  # the penalties of ``path``'s columns
    overlap: np.ndarray
    spread: np.ndarray
    ref: int
    n_rows: int

    @property
    def x_ref(self) -> np.ndarray:
        return self.path[:, self.ref]


def summarize_sources(problem: TransferProblem, n_lam1: int = 12) -> SourceSummary:
    """Noise, density, power and reference fit of the pooled sources from their λ1 path of ``n_lam1``
    penalties, decreasing over ``SOURCE_PATH`` × λ1_max."""
    if not problem.sources:
        raise ValueError("estimating the setting needs at least one source")
    design, y_c = problem.pretrain_design(None, pretrain_on_target=False)
    M, N = design.shape
    lam1 = design.lam_max(y_c) * np.geomspace(*SOURCE_PATH, n_lam1)
    K = len(problem.sources) if problem.fit_intercept else 0
    # the path stops once SURE has risen twice past its minimum, or the fit nears interpolation:
    # smaller penalties only cost (coordinate descent crawls there) and cannot be selected
    X, rss, df, cross, spread = [], [], [], [], []
    x = None
    for lam in lam1:
        x = lasso_path(design, y_c, np.ones(N), [lam], x)[:, 0]
        X.append(x)
        u = design.matvec(x)
        cross.append(float(y_c @ u) / M)
        spread.append(float(u @ u) / M)
        rss.append(float(np.sum((y_c - u) ** 2)))
        df.append(int(np.count_nonzero(x)))
        sigma2, i = _sure_fixed_point(np.array(rss), np.array(df), M - K)
        if df[-1] > (M - K) / 3 or (i is not None and len(rss) - 1 - i >= 2):
            break
    # (σ², i) of the loop's last pass, which saw the whole path
    X, rss, df = np.column_stack(X), np.array(rss), np.array(df)
    if i is None:
        raise ValueError(f"cannot estimate the noise: {M} source rows, at least {df.min()} nonzeros on the lam1 path")
    if df[i] == 0:
        raise ValueError("the reference source fit is empty: the sources carry no detectable signal")
    power = float(np.mean(y_c**2)) - sigma2
    if power <= 0:
        raise ValueError("estimated source signal power is not positive: the sources look like pure noise")
    return SourceSummary(
        sigma2=sigma2,
        rho=_density(M / N, sigma2, power, float(lam1[i]), float(df[i] / N)),
        power=power,
        path=X,
        lam1=lam1[: X.shape[1]],
        overlap=np.array(cross) - sigma2 * df / M,  # Stein: the fit's own noise removed
        spread=np.array(spread),
        ref=i,
        n_rows=M,
    )


def _density(alpha: float, sigma2: float, power: float, lam: float, support: float) -> float:
    """ρ at which the single-Lasso theory's support fraction at λ equals ``support`` (module docstring)."""

    def excess(log_rho):
        rho = math.exp(log_rho)
        root = math.sqrt(power / rho)
        return single_lasso(alpha, math.sqrt(sigma2) / root, rho, lam / root)["support"] - support

    lo, hi = math.log(1e-4), 0.0
    try:
        f_lo, f_hi = excess(lo), excess(hi)
        if f_lo * f_hi > 0:
            return support
        return float(math.exp(brentq(excess, lo, hi, xtol=1e-6)))
    except (ValueError, ZeroDivisionError, OverflowError):
        return support


def _sure_fixed_point(rss: np.ndarray, df: np.ndarray, rows: int):
    """(σ², index of λ̂): the fixed point of σ² = RSS(λ̂)/(rows − df(λ̂)), λ̂ = argmin RSS + 2σ²df."""
    dof = rows - df
    if np.all(dof <= 0):
        return float("nan"), None
    sigma2 = float(np.max(rss / np.maximum(dof, 1)))
    i = None
    for _ in range(50):
        sure = np.where(dof > 0, rss + 2 * sigma2 * df, np.inf)
        i = int(np.argmin(sure))
        new = float(rss[i] / dof[i])
        if abs(new - sigma2) <= 1e-10 * sigma2:
            break
        sigma2 = new
    return sigma2, i


def setting_from(problem: TransferProblem, src: SourceSummary, pretrain_on_target: bool) -> tuple[Setting, float]:
    """``Setting.similarity`` in theory units for the target data of ``problem``, and the response scale v."""
    design, y_c, _ = problem.target_design()
    n, N = design.shape
    power_t = float(np.mean(y_c**2)) - src.sigma2
    u = design.matvec(src.x_ref)
    q_t, spread_t = float(y_c @ u) / n, float(u @ u) / n
    v = src.power / src.rho
    overlap_s, spread_s = src.overlap[src.ref], src.spread[src.ref]
    if power_t <= 0 or spread_t <= 0 or overlap_s <= 0:
        sc = 0.0  # no detectable target signal, or a source fit unrelated to its own truth
    else:
        corr_t = q_t / math.sqrt(power_t * spread_t)
        corr_s = overlap_s / math.sqrt(src.power * spread_s)
        sc = float(np.clip(corr_t / corr_s, 0.0, 1.0))
    rho = min(src.rho, 1.0 / (2.0 - sc))
    sigma = math.sqrt(src.sigma2 / v)
    return Setting.similarity(n / N, src.n_rows / N, sigma, sigma, rho, sc, 1.0, pretrain_on_target), v


def similarity(setting: Setting) -> float:
    """s c of a ``Setting.similarity`` setting: the correlation of the target's and the source's truths."""
    return float(setting.covs[0, 0, 1] * setting.weights[0] / setting.target_density)


def kappa_calibration(problem: TransferProblem, src: SourceSummary, j: int, similarity: float) -> float:
    """The factor that calibrates the theory's κ on the data (THEORY.md §6, "Calibrating κ").

    κ multiplies the prediction u = A_t x of a pretrained fit on the target rows. Its best value
    without fine-tuning is the target's calibration slope y_tᵀu/uᵀu, which the theory predicts to be
    the similarity times the sources' own slope (r_sᵀx/N)/(||A_s x||²/M) (x = a r_s + e, e unrelated
    to r_t). Returns observed/predicted for the sources' fit x = x(λ_j) of the path, clipped at 0 (a
    target slope ≤ 0 leaves no value to transfer, as a similarity ≤ 0 does); 1 where either is
    undefined (an empty fit, no similarity). With the similarity of :func:`setting_from` it is, at
    the reference fit, √((P_t/S_t)/(P_s/S_s)) (S: the mean square of the prediction in each design):
    1 up to sampling noise when the target's signal is as strong as the sources' (the theory's
    assumption), b for a target truth b r_s."""
    x = src.path[:, j]
    slope_s = float(src.overlap[j] / src.spread[j]) if src.spread[j] > 0 else 0.0
    if not np.any(x) or similarity <= 0 or slope_s <= 0:
        return 1.0
    design, y_c, _ = problem.target_design()
    u = design.matvec(x)
    spread = float(u @ u)
    return max(float(y_c @ u) / spread / (similarity * slope_s), 0.0) if spread > 0 else 1.0


def to_data_units(h: Hyperparameters, v: float) -> Hyperparameters:
    """Theory-unit hyperparameters for a response scaled by √v: penalties times √v, κ unchanged."""
    root = math.sqrt(v)
    return Hyperparameters(h.lam1 * root, h.lam2 * root, h.kappa, h.delta_lam * root)
