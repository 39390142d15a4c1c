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

With ``covariance="empirical"`` the setting also carries the design's own correlation
(:func:`with_design_covariance`, THEORY.md §7): Σ = the empirical correlation matrix of the pooled
scaled design, and ``replica`` predicts and optimizes on correlated designs. The estimators above are
unchanged. The noise (SURE) holds for any design; the power, the similarity and κ's calibration are
moments or ratios of the target's to the sources' statistics on the same fit, in which a Σ shared by
the datasets cancels (so the calibration factor is the same number with either assumption); only the
density's inversion through the single-Lasso theory keeps the i.i.d. design.

Penalties scale with √v and κ does not: the theory's optimum (λ1, λ2, κ, Δλ) in response units is
(√v λ1, √v λ2, κ, √v Δλ), and its predicted errors ε are v ε in the data's units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.optimize import brentq

from replica import Covariance, Hyperparameters, Setting
from replica.single_lasso import single_lasso

from .lasso import lasso_path
from .problem import TransferProblem, check_transfer_data

__all__ = [
    "estimate_setting",
    "COVARIANCES",
    "check_covariance",
    "with_design_covariance",
    "SourceSummary",
    "summarize",
    "summarize_sources",
    "target_noise",
    "Relation",
    "relation",
    "support_overlap",
    "target_noise_variance",
    "SUPPORT_MARGIN",
    "NOISE_RATIO",
    "SCALE_RATIO",
    "target_scale",
    "setting_from",
    "similarity",
    "transfer_slope",
    "kappa_calibration",
    "to_data_units",
]

SOURCE_PATH = (0.5, 0.002)  # λ1/λ1_max range of the sources-only path that the setting is estimated from
# the target's own noise variance replaces the sources' when the two differ by more than this factor: at
# 150 target rows its SURE estimate errs by 10–30% (THEORY.md §8)
NOISE_RATIO = 2.0
# the support overlap must exceed the similarity by this much before the model shares support beyond the
# values (s > s c): the moment estimate's seed spread at 150 target rows (THEORY.md §8)
SUPPORT_MARGIN = 0.2
# the target's nonzero variance departs from the sources' (1 in theory units) when its estimated signal power
# differs from theirs by more than this factor either way: a source identical to the target read 0.76–1.30
# at 150 target rows (8 draws), and a target b times its sources' truth pools rows of another scale into
# stage 1 (THEORY.md §8, "Scale")
SCALE_RATIO = 2.0
# what the estimated setting assumes of the design: i.i.d. entries (None) or its own correlation
COVARIANCES = (None, "empirical")


def estimate_setting(
    X, y, sources, *, fit_intercept=True, standardize=True, pretrain_on_target=True, n_lam1=12, covariance=None
):
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
    covariance : None or "empirical", default None
        None: the theory's i.i.d. design. "empirical": the setting carries the pooled scaled design's
        empirical correlation matrix (:func:`with_design_covariance`, THEORY.md §7).

    Returns
    -------
    setting : replica.Setting
        ``Setting.similarity(n/N, M/N, σ, σ, ρ, s, 1)`` in theory units (response divided by √v), with the
        design's covariance if asked.
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
    check_covariance(covariance)
    X, y, checked = check_transfer_data(None, X, y, sources)
    if not checked:
        raise ValueError("estimate_setting needs at least one source (X, y) pair")
    problem, _ = TransferProblem.scaled(X, y, checked, fit_intercept, standardize)
    src = summarize_sources(problem, n_lam1)
    setting, v = setting_from(problem, src, pretrain_on_target)
    return (setting if covariance is None else with_design_covariance(setting, problem)), v


def check_covariance(covariance) -> None:
    """ValueError unless ``covariance`` is one of :data:`COVARIANCES`.

    Parameters
    ----------
    covariance : object
        The value to check.
    """
    if not (covariance is None or (isinstance(covariance, str) and covariance in COVARIANCES)):
        raise ValueError(f"unknown covariance {covariance!r}; expected one of {list(COVARIANCES)}")


def with_design_covariance(setting: Setting, problem: TransferProblem, draws: int | None = None) -> Setting:
    """``setting`` on the design's own correlation (THEORY.md §7).

    Σ is the empirical correlation matrix (:meth:`replica.Covariance.empirical`) of the pooled scaled
    design: the sources' and the target's rows stacked, the columns centred over all of them (the
    per-dataset intercepts' centring is not applied: Σ is the pooled rows' correlation). Columns constant
    over those rows have no correlation to carry: they are left out, and the sample ratios α_k = M_k/N
    are counted over the others.

    Parameters
    ----------
    setting : replica.Setting
        The estimated setting (:func:`setting_from`).
    problem : solvers.problem.TransferProblem
        Its data, in theory units.
    draws : int, optional
        Draws of the correlated theory's effective problems (default: ``Covariance.empirical``'s).

    Returns
    -------
    replica.Setting
        With ``covariance`` set.

    Raises
    ------
    ValueError
        If every column is constant.
    """
    A = sparse.vstack([sparse.csr_matrix(B, dtype=float) for B, _ in problem.sources] + [sparse.csr_matrix(problem.A)])
    A = A.tocsc()
    mean = np.asarray(A.mean(axis=0)).ravel()
    var = np.asarray(A.multiply(A).mean(axis=0)).ravel() - mean**2
    keep = np.flatnonzero(var > 1e-12 * np.maximum(mean**2, np.finfo(float).tiny))
    if keep.size == 0:
        raise ValueError("every column of the pooled design is constant: no correlation to estimate")
    N = A.shape[1]
    if keep.size < N:
        A = A[:, keep]
        setting = setting.with_alphas(np.asarray(setting.alphas) * (N / keep.size))
    return setting.with_covariance(Covariance.empirical(A, draws=draws))


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


def summarize_sources(problem: TransferProblem, n_lam1: int = 12, warm: SourceSummary | None = None) -> SourceSummary:
    """Noise, density, power and reference fit of the pooled sources (:func:`summarize`).

    Parameters
    ----------
    problem : solvers.problem.TransferProblem
        At least one source.
    n_lam1 : int, default 12
        Penalties of the path.
    warm : SourceSummary, optional
        Warm starts (:func:`summarize`).

    Returns
    -------
    SourceSummary
    """
    if not problem.sources:
        raise ValueError("estimating the setting needs at least one source")
    design, y_c = problem.pretrain_design(None, pretrain_on_target=False)
    return summarize(design, y_c, len(problem.sources) if problem.fit_intercept else 0, n_lam1, warm)


def target_noise(problem: TransferProblem, n_lam1: int = 12) -> float | None:
    """σ_t²: the target's noise variance from its own Lasso path (:func:`summarize`), or None where the
    target's rows determine none (no SURE fixed point before the path nears interpolation, no signal).

    Parameters
    ----------
    problem : solvers.problem.TransferProblem
    n_lam1 : int, default 12

    Returns
    -------
    float or None
    """
    design, y_c, _ = problem.target_design()
    try:
        return summarize(design, y_c, 1 if problem.fit_intercept else 0, n_lam1).sigma2
    except ValueError:
        return None


def summarize(design, y_c, n_intercepts: int, n_lam1: int = 12, warm: SourceSummary | None = None) -> SourceSummary:
    """Noise, density, power and reference fit of one stack of datasets from its λ1 path of ``n_lam1``
    penalties, decreasing over ``SOURCE_PATH`` × λ1_max (module docstring).

    Parameters
    ----------
    design : solvers.lasso.Design
        The stacked datasets.
    y_c : ndarray
        Their response, centred per dataset.
    n_intercepts : int
        Intercepts fitted (degrees of freedom of the noise estimate).
    n_lam1 : int, default 12
        Penalties of the path.
    warm : SourceSummary, optional
        A summary of similar data (e.g. a nested set of sources): each penalty starts from its fit at
        the nearest penalty (speed only; every fit is certified as without it).

    Returns
    -------
    SourceSummary

    Raises
    ------
    ValueError
        If the noise has no SURE fixed point on the path, or the data carry no detectable signal.
    """
    M, N = design.shape
    lam1 = design.lam_max(y_c) * np.geomspace(*SOURCE_PATH, n_lam1)
    K = n_intercepts
    # the path stops once SURE has risen twice past its minimum, or the fit nears interpolation:
    # smaller penalties only cost (coordinate descent crawls there) and cannot be selected
    X, rss, df, cross, spread = [], [], [], [], []
    x = None
    for lam in lam1:
        if warm is not None:
            x = warm.path[:, int(np.argmin(np.abs(np.log(warm.lam1 / lam))))]
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


@dataclass(frozen=True)
class Relation:
    """How a (pooled) source set relates to the target (module docstring, "target").

    Attributes
    ----------
    similarity : float
        s c = r_tᵀr_s/(||r_t|| ||r_s||), clipped to [0, 1].
    corr_target : float
        The target's correlation of its signal with the sources' reference prediction A_t x_ref:
        how well the pretrained fit predicts the target (noise, size and similarity together).
    sigma2_target : float
        The target noise variance used.
    power_target : float
        The target's signal power P_t = mean(y_t²) − σ_t² (≤ 0: no detectable signal).

    Examples
    --------
    >>> Relation(0.9, 0.6, 1.0, 2.0).similarity
    0.9
    """

    similarity: float
    corr_target: float
    sigma2_target: float
    power_target: float


def relation(problem: TransferProblem, src: SourceSummary, sigma2_target: float | None = None) -> Relation:
    """The target's relation to the sources summarized by ``src`` (THEORY.md §6, item 4).

    Parameters
    ----------
    problem : solvers.problem.TransferProblem
        Its target.
    src : SourceSummary
        The sources' summary, in the same units.
    sigma2_target : float, optional
        The target's noise variance (default: the sources', the equal-noise assumption).

    Returns
    -------
    Relation
    """
    design, y_c, _ = problem.target_design()
    n = design.shape[0]
    sigma2_t = src.sigma2 if sigma2_target is None else sigma2_target
    power_t = float(np.mean(y_c**2)) - sigma2_t
    u = design.matvec(src.x_ref)
    q_t, spread_t = float(y_c @ u) / n, float(u @ u) / n
    overlap_s, spread_s = src.overlap[src.ref], src.spread[src.ref]
    if power_t <= 0 or spread_t <= 0 or overlap_s <= 0:
        # no detectable target signal, or a source fit unrelated to its own truth
        return Relation(0.0, 0.0, sigma2_t, power_t)
    corr_t = q_t / math.sqrt(power_t * spread_t)
    corr_s = overlap_s / math.sqrt(src.power * spread_s)
    return Relation(float(np.clip(corr_t / corr_s, 0.0, 1.0)), float(corr_t), sigma2_t, power_t)


def support_overlap(problem: TransferProblem, src: SourceSummary, sigma2_target: float) -> float:
    """s: the share of the target's nonzeros that the sources' support holds (THEORY.md §8, "Support").

    A moment estimate for designs with uncorrelated columns: with g_j = a_jᵀy and c_j = ||a_j||², the
    power on a set S fixed independently of the data is Σ_{j∈S} (g_j² − c_j Y)/c_j² (Y = mean(y²): each g_j
    carries c_j² r_j² plus c_j Y of spread). S is the sources' reference support; its share of the
    target's power f_t, of the sources' own f_s (≤ 1) and its false-positive share q = (|S|/N − ρ f_s)/(1 − ρ)
    give s = (f_t − q)/(f_s − q), clipped to [0, 1].

    Parameters
    ----------
    problem : solvers.problem.TransferProblem
    src : SourceSummary
        The sources' summary (same units).
    sigma2_target : float
        The target's noise variance.

    Returns
    -------
    float
    """
    S = np.flatnonzero(src.x_ref)
    if S.size == 0:
        return 0.0
    design_t, y_t, _ = problem.target_design()
    design_s, y_s = problem.pretrain_design(None, pretrain_on_target=False)
    f_t = _power_share(design_t, y_t, S, sigma2_target)
    f_s = min(_power_share(design_s, y_s, S, src.sigma2), 1.0)
    q = max(S.size / design_t.shape[1] - src.rho * f_s, 0.0) / max(1.0 - src.rho, 1e-12)
    if not f_s > q:
        return 0.0
    return float(np.clip((f_t - q) / (f_s - q), 0.0, 1.0))


def _power_share(design, y_c, S, sigma2) -> float:
    """The share of the signal power ||r||²/N that lies on the columns S (moment estimate)."""
    g = design.rmatvec(y_c)[S]
    c = design.colsq[S]
    Y = float(np.mean(y_c**2))
    keep = c > 0
    on_S = float(np.sum((g[keep] ** 2 - c[keep] * Y) / c[keep] ** 2)) / design.shape[1]
    power = Y - sigma2
    return on_S / power if power > 0 else 0.0


def target_noise_variance(own: float | None, sources: float) -> float:
    """The target's noise variance for the model: the sources' (estimated from many more rows) unless the
    target's own estimate ``own`` differs from it by more than :data:`NOISE_RATIO` either way.

    Parameters
    ----------
    own : float or None
        :func:`target_noise` (None: not estimable).
    sources : float
        The sources' σ².

    Returns
    -------
    float

    Examples
    --------
    >>> target_noise_variance(1.2, 1.0), target_noise_variance(1.0, 100.0)
    (1.0, 1.0)
    """
    if own is None or sources / NOISE_RATIO <= own <= sources * NOISE_RATIO:
        return sources
    return own


def target_scale(power_target: float, power_sources: float) -> float:
    """b²: the target's nonzero variance relative to the sources' for the model, 1 (the paper's equal
    scales) unless the target's signal power differs from the sources' by more than :data:`SCALE_RATIO`
    either way; then P_t/P_s, the variance of a target truth b r_s at the sources' density (THEORY.md §8,
    "Scale").

    Parameters
    ----------
    power_target, power_sources : float
        P_t and P_s in the same units (P_t ≤ 0: no detectable target signal, scale 1).

    Returns
    -------
    float

    Examples
    --------
    >>> target_scale(1.5, 1.0), target_scale(0.25, 1.0), target_scale(-0.1, 1.0)
    (1.0, 0.25, 1.0)
    """
    if power_target <= 0 or power_sources <= 0:
        return 1.0
    ratio = power_target / power_sources
    return 1.0 if 1.0 / SCALE_RATIO <= ratio <= SCALE_RATIO else float(ratio)


def setting_from(
    problem: TransferProblem,
    src: SourceSummary,
    pretrain_on_target: bool,
    sigma2_target: float | None = None,
    overlap: float | None = None,
) -> tuple[Setting, float]:
    """The estimated two-task ``replica.Setting`` in theory units, and the response scale v (THEORY.md §6, §8).

    One density ρ (the sources') and, after dividing the response by √v (v = P_s/ρ), unit nonzero
    variance for the sources and b² (:func:`target_scale`) for the target: 1 unless the target's power
    differs from the sources' by more than :data:`SCALE_RATIO` (a target truth b r_s whose scale differs
    less is κ's calibration's to correct, :func:`kappa_calibration`). A fraction s of the target's
    nonzeros is shared, with value correlation c and s c = the similarity: s = the similarity and c = 1
    (``Setting.similarity``, §6), unless ``overlap`` (:func:`support_overlap`) exceeds it by more than
    :data:`SUPPORT_MARGIN` (support shared beyond the values); then s = overlap and c = similarity/s. The
    target's noise is the sources' unless its own estimate differs by more than :data:`NOISE_RATIO`
    (:func:`target_noise_variance`). Without ``sigma2_target`` and ``overlap``, and for a target power
    within :data:`SCALE_RATIO` of the sources', this is the model of §6 exactly.

    Parameters
    ----------
    problem : solvers.problem.TransferProblem
        Target and sources.
    src : SourceSummary
        :func:`summarize_sources` of ``problem``.
    pretrain_on_target : bool
        Whether the target rows join stage 1.
    sigma2_target : float, optional
        The target's own noise estimate (:func:`target_noise`).
    overlap : float, optional
        The support overlap s estimated from the data.

    Returns
    -------
    setting : replica.Setting
    v : float
        The response scale.
    """
    n, N = problem.target_design()[0].shape
    rel = relation(problem, src, target_noise_variance(sigma2_target, src.sigma2))
    shared, corr = rel.similarity, 1.0
    if overlap is not None and overlap > shared + SUPPORT_MARGIN:
        shared, corr = overlap, rel.similarity / overlap
    rho = min(src.rho, 1.0 / (2.0 - shared))
    v = src.power / src.rho
    b2 = target_scale(rel.power_target, src.power)
    bc = math.sqrt(b2) * corr
    sigmas = [math.sqrt(rel.sigma2_target / v), math.sqrt(src.sigma2 / v)]
    weights = [rho * shared, rho * (1 - shared), rho * (1 - shared), max(0.0, 1 - rho * (2 - shared))]
    covs = [[[b2, bc], [bc, 1]], [[b2, 0], [0, 0]], [[0, 0], [0, 1]], [[0, 0], [0, 0]]]
    return Setting([n / N, src.n_rows / N], sigmas, [pretrain_on_target, True], weights, np.zeros((4, 2)), covs), v


def similarity(setting: Setting) -> float:
    """The correlation of the target's and the source's truths, E[r_t r_s]/√(E[r_t²] E[r_s²]) (s c of
    ``Setting.similarity``).

    Parameters
    ----------
    setting : replica.Setting
        A two-task setting, the target first.

    Returns
    -------
    float
        In [−1, 1]; ``s c`` for ``Setting.similarity(..., s, c)``.

    Examples
    --------
    >>> from replica import Setting
    >>> round(similarity(Setting.similarity(0.5, 2.0, 0.3, 0.3, 0.1, 0.8, 0.5)), 12)
    0.4
    """
    m = setting.second_moments
    return float(m[0, 1] / math.sqrt(m[0, 0] * m[1, 1]))


def transfer_slope(setting: Setting) -> float:
    """E[r_t r_s]/E[r_s²]: the regression of the target's truth on the source's, the slope the theory
    predicts for the target on a source fit relative to the source's own (:func:`kappa_calibration`).

    Parameters
    ----------
    setting : replica.Setting
        A two-task setting, the source second.

    Returns
    -------
    float
        0 when the source's truth is zero.

    Examples
    --------
    >>> from replica import Setting
    >>> round(transfer_slope(Setting.similarity(0.5, 2.0, 0.3, 0.3, 0.1, 0.8, 0.5)), 12)
    0.4
    """
    m = setting.second_moments
    return float(m[0, 1] / m[1, 1]) if m[1, 1] > 0 else 0.0


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
