"""Several sources of unequal relevance: per-source estimates and the theory's choice of a source set
(THEORY.md §8).

Each source k is summarized alone against the target (:mod:`solvers.estimate`: its noise σ_k, density
ρ_k, similarity s_k c_k, support overlap s_k and the target's correlation with its fit's prediction), and
the replica theory's gain from it alone ranks it. The nested sets S_1 ⊂ S_2 ⊂ … of the ranking are each
pooled and estimated as one source (pooling sources is, at the replica level, one source whose truth is
their row-weighted mean and whose noise carries their dispersion around it, which is what the pooled
estimate measures), and the theory's gain of each set chooses one. The related sources, pooled, are the
set the CV weighs that choice, and the first-ranked sources alone, against (:class:`solvers.TransLassoCV`)"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from replica import ConvergenceError
from replica.strategy_optima import optimize_strategies

from .estimate import (
    NOISE_RATIO,
    SourceSummary,
    relation,
    setting_from,
    summarize_sources,
    support_overlap,
    target_noise,
    target_noise_variance,
)
from .problem import TransferProblem

__all__ = [
    "SourceSet",
    "SourceChoice",
    "choose_sources",
    "estimate_set",
    "RANKING_STRATEGIES",
    "PATIENCE",
    "SCREEN",
    "MIN_GAIN",
    "RELATED",
    "SUPPORT_RELATED",
    "ALONE",
]

# the theory's optimal error is compared over these strategies: each candidate set's best one-knob transfer
# against the target alone (full adds little and costs the most to optimize, THEORY.md §8)
RANKING_STRATEGIES = ("target_only", "value", "support")
# nested sets stop growing once this many in a row have not improved the predicted gain
PATIENCE = 2
# the sources the CV keeps pooled unless the theory's cut of them is better: a predicted gain above MIN_GAIN, and
# a similarity of at least RELATED/√n (n target rows), three standard errors of an unrelated source's, or
# a support overlap of at least SUPPORT_RELATED (at 150 target rows the overlap's moment estimate read 0–0.52
# for unrelated sources and 0.53–1 for support-only ones, 30 draws each, strong and weak signal: the tails
# touch, THEORY.md §8)
RELATED = 3.0
SUPPORT_RELATED = 0.5
# a source is ranked by the theory only if its similarity or support overlap exceeds SCREEN/√n: an
# unrelated source reads about N(0, 1/n) at n target rows, and costs no optimization (THEORY.md §8)
SCREEN = 2.0
# the CV also weighs each of this many first-ranked sources alone whose predicted gain beats the related sources
# pooled: a source b times the target's and a related one ranked within 0.007 of each other (THEORY.md §8)
ALONE = 2
# a predicted gain at or below this relative drop of the optimal error counts as none: it is within the
# theory optimizers' tolerance (a shuffled IMDb source, similarity 0, read a "gain" of 3e-8) and far
# below what a CV on the target could ever confirm
MIN_GAIN = 1e-3


@dataclass(frozen=True)
class SourceSet:
    """One candidate set of sources, pooled, and what the theory says of it.

    Attributes
    ----------
    members : tuple of int
        Source indices.
    problem : solvers.problem.TransferProblem
        Target and these sources, scaled together.
    scaling : solvers.problem.Scaling
        That scaling.
    summary : solvers.estimate.SourceSummary or None
        The pooled sources' estimates (None: not estimated).
    similarity : float
        s c of the pooled sources.
    overlap : float
        Their support overlap s (:func:`solvers.estimate.support_overlap`).
    corr_target : float
        The target's correlation with the pooled fit's prediction.
    scale : float
        P_t/P_s, the target's signal power over the pooled sources' (b² of THEORY.md §8, "Scale"; the
        model takes it only beyond :data:`solvers.estimate.SCALE_RATIO`).
    gain : float
        The theory's predicted relative drop of the optimal test MSE against the target alone,
        1 − ε(best of value, support)/ε(target alone) (NaN if not computed).
    optima : dict or None
        The theory's optima behind ``gain`` (strategy → result), on the set's estimated setting.
    """

    members: tuple
    problem: TransferProblem = field(repr=False)
    scaling: object = field(repr=False)
    summary: SourceSummary | None = field(repr=False)
    similarity: float = math.nan
    overlap: float = math.nan
    corr_target: float = math.nan
    scale: float = math.nan
    gain: float = math.nan
    optima: dict | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SourceChoice:
    """The sources ranked, the nested sets tried, and the one chosen (None: the target alone).

    Attributes
    ----------
    scores : dict of ndarray
        One row per source: ``similarity``, ``support_overlap``, ``noise`` (σ_k, response units),
        ``density``, ``scale`` (P_t/P_k, the target's signal power over the source's), ``corr_target``,
        ``gain_alone`` (the predicted relative gain of the source alone),
        ``gain`` (what adding it to the nested set before it adds to the predicted gain; NaN if not
        tried) and ``rank`` (its place in the nested sets; −1: not tried).
    sets : list of SourceSet
        The nested sets tried, in order.
    chosen : SourceSet or None
    related : SourceSet or None
        The related sources pooled (a predicted gain above :data:`MIN_GAIN`; similarity ≥ :data:`RELATED`/√n or support overlap ≥
        :data:`SUPPORT_RELATED`; noise within a factor 2 of the target's): the set the CV keeps unless the
        theory's choice or one of the first-ranked sources alone beats it.
    sigma2_target : float or None
        The target's noise variance estimated from its own rows.
    fits : int
        Lasso fits spent.
    alone : list of SourceSet
        Each source of a predicted gain above :data:`MIN_GAIN` alone, in the ranking's order (the first
        :data:`ALONE` are candidates of the CV where they beat ``related``).
    """

    scores: dict
    sets: list
    chosen: SourceSet | None
    related: SourceSet | None
    sigma2_target: float | None
    fits: int
    alone: list = field(default_factory=list)


def choose_sources(X, y, sources, *, fit_intercept: bool, standardize: bool, pretrain_on_target: bool) -> SourceChoice:
    """Estimate each source against the target, rank them by the theory, try their nested sets, choose one.

    THEORY.md §8. Each source alone: its summary, similarity and support overlap give a two-task setting
    (the target's noise from its own rows), on which the theory's gain 1 − ε(best of value, support)/
    ε(target alone) ranks it. Sources with a gain above :data:`MIN_GAIN` are pooled in that order, each nested set
    estimated as one source (the replica equivalence of pooling), until :data:`PATIENCE` sets in a row
    add nothing; the set of largest predicted gain is chosen (None if no set gains).

    Parameters
    ----------
    X, y, sources
        Checked data (:func:`solvers.problem.check_transfer_data`), at least one source.
    fit_intercept, standardize : bool
        As in :class:`solvers.TransLassoCV`.
    pretrain_on_target : bool
        Whether stage 1 pools the target rows.

    Returns
    -------
    SourceChoice
    """
    K = len(sources)
    sigma2_t = target_noise(TransferProblem.scaled(X, y, [], fit_intercept, standardize)[0])
    fits = 12
    names = ("similarity", "support_overlap", "noise", "density", "scale", "corr_target", "gain_alone", "gain")
    scores = {name: np.full(K, np.nan) for name in names}
    scores["rank"] = np.full(K, -1)
    singles = {}
    for k in range(K):
        try:
            one, n = estimate_set(X, y, sources, (k,), fit_intercept, standardize, sigma2_t)
        except ValueError:  # no signal, or no noise estimate: nothing this source can teach
            continue
        fits += n
        if max(one.similarity, one.overlap) > SCREEN / math.sqrt(X.shape[0]):
            # a cold start: a source's gain must not depend on which sources were given before it
            one, _ = _with_gain(one, pretrain_on_target, sigma2_t, None)
        singles[k] = one
        scores["similarity"][k], scores["support_overlap"][k] = one.similarity, one.overlap
        scores["noise"][k], scores["density"][k] = math.sqrt(one.summary.sigma2), one.summary.rho
        scores["scale"][k] = one.scale
        scores["corr_target"][k], scores["gain_alone"][k] = one.corr_target, one.gain
    gaining = (k for k, one in singles.items() if one.gain > MIN_GAIN)  # NaN: screened
    order = sorted(gaining, key=lambda k: -singles[k].gain)
    previous = singles[order[0]].optima if order else None  # the nested sets warm-start along their chain
    sets, best, stale = [], 0.0, 0
    for j, k in enumerate(order):
        if stale >= PATIENCE:
            break
        candidate = singles[k]
        if j:
            try:
                members = tuple(order[: j + 1])
                warm = sets[-1].summary if sets else None
                candidate, n = estimate_set(X, y, sources, members, fit_intercept, standardize, sigma2_t, warm)
            except ValueError:
                continue
            fits += n
            candidate, previous = _with_gain(candidate, pretrain_on_target, sigma2_t, previous)
        scores["rank"][k], scores["gain"][k] = j, candidate.gain - best
        sets.append(candidate)
        stale = 0 if candidate.gain > best else stale + 1
        best = max(best, candidate.gain)
    chosen = max(sets, key=lambda c: c.gain, default=None)
    # the related sources: a gain above MIN_GAIN, a similarity of RELATED/√n or more or a support overlap of
    # SUPPORT_RELATED or more, and a noise level comparable to the target's
    bar = RELATED / math.sqrt(X.shape[0])
    kept = tuple(k for k in order if _related(singles[k], bar, sigma2_t))
    related = next((c for c in sets if c.members == kept), None)
    if kept and sets and related is None:
        try:
            warm = sets[-1].summary
            related, n = estimate_set(X, y, sources, kept, fit_intercept, standardize, sigma2_t, warm)
            fits += n
            related, previous = _with_gain(related, pretrain_on_target, sigma2_t, previous)
        except ValueError:
            related = None
    return SourceChoice(scores, sets, chosen, related, sigma2_t, fits, [singles[k] for k in order])


def _related(one: SourceSet, bar: float, sigma2_t) -> bool:
    """A source the CV keeps pooled by default: related to the target (similarity ≥ ``bar`` or support
    overlap ≥ :data:`SUPPORT_RELATED`) and no noisier than it by more than
    :data:`solvers.estimate.NOISE_RATIO` (a noisier one dilutes the others: the theory's cut, not the
    default, decides on it)."""
    related = one.similarity >= bar or one.overlap >= SUPPORT_RELATED
    return related and (sigma2_t is None or one.summary.sigma2 <= NOISE_RATIO * sigma2_t)


def estimate_set(X, y, sources, members, fit_intercept: bool, standardize: bool, sigma2_t, warm=None):
    """The source set ``members`` scaled with the target, summarized, and related to the target.

    Parameters
    ----------
    X, y, sources
        Checked data.
    members : tuple of int
        The set.
    fit_intercept, standardize : bool
        As in :class:`solvers.TransLassoCV`.
    sigma2_t : float or None
        The target's noise variance (None: the sources').
    warm : solvers.estimate.SourceSummary, optional
        A nested set's summary, to warm-start the path from.

    Returns
    -------
    SourceSet
        Without ``gain``.
    int
        Lasso fits spent.
    """
    problem, scaling = TransferProblem.scaled(X, y, [sources[k] for k in members], fit_intercept, standardize)
    src = summarize_sources(problem, warm=warm)
    s2 = target_noise_variance(sigma2_t, src.sigma2)
    rel = relation(problem, src, s2)
    overlap = support_overlap(problem, src, s2)
    scale = rel.power_target / src.power if src.power > 0 else math.nan
    found = SourceSet(tuple(members), problem, scaling, src, rel.similarity, overlap, rel.corr_target, scale)
    return found, len(src.lam1)


def _with_gain(candidate: SourceSet, pretrain_on_target: bool, sigma2_t, previous):
    """The candidate with the theory's predicted gain on its estimated setting (warm-started from the
    previous candidate's optima)."""
    setting, _ = setting_from(candidate.problem, candidate.summary, pretrain_on_target, sigma2_t, candidate.overlap)
    try:
        optima = optimize_strategies(setting, RANKING_STRATEGIES, previous)
    except (ConvergenceError, np.linalg.LinAlgError):
        return replace(candidate, gain=-math.inf), previous
    alone = optima["target_only"].eps2
    best = min(optima["value"].eps2, optima["support"].eps2)
    gain = 1.0 - best / alone if alone > 0 else 0.0
    return replace(candidate, gain=gain, optima=optima), optima
