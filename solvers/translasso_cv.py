"""``TransLassoCV``: choose what to transfer and tune it on the user's own data.

The theory (``replica``) is fitted to the data (:mod:`solvers.estimate`), predicts every strategy's
optimal error, and picks the strategy ("auto"); cross-validation (:mod:`solvers.cv`) then tunes it
along a small family around the theory's optimum, or on a full grid (``tuning="cv"``)
(:mod:`solvers.tuning`).
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted

from replica import STRATEGY_NAMES, Hyperparameters

from .cv import CV_TOL, SCREEN_TOL, fold_se
from .estimate import check_covariance, target_noise
from .estimator import TransferRegressor, TransLasso, check_tol, fit_transfer
from .grid import narrowest_strategy
from .lasso import DEFAULT_TOL
from .problem import TransferProblem
from .sources import ALONE, SourceSet, choose_sources, estimate_set
from .tuning import grid_family, ladder_family, predicted_cv_error, target_alone_step, theory_step

__all__ = ["TransLassoCV", "MISFIT_FACTOR", "MISFIT_SE", "MISFIT_SIGNIFICANT_FACTOR", "misfit"]

STRATEGIES = tuple(s for s in STRATEGY_NAMES if s != "pretrained")
TUNINGS = ("theory+cv", "cv", "theory")
SELECTIONS = ("min", "1se")
SOURCE_MODES = ("auto", "all")
# the theory's predicted CV error and the measured one may differ by this factor before a warning says
# that the model does not describe the data (README, "When the theory does not fit")
MISFIT_FACTOR = 1.5
# ... or by this smaller factor when the gap is also this many standard errors of the measured CV error:
# a 40% gap measured to within 6% is a misfit, not noise; the SE is over 5 folds, so the bound is wide
# (benchmarks/bench_misfit.md)
MISFIT_SIGNIFICANT_FACTOR = 1.25
MISFIT_SE = 5.0


def misfit(predicted: float, measured: float, se: float) -> dict:
    """The theory check of a chosen point: its predicted and measured CV error, the measured one's SE, their
    factor max(p/m, m/p), the gap in SEs z = (p − m)/SE (NaN without an SE) and ``misfit``, the rule that
    calls it a misfit (factor > :data:`MISFIT_FACTOR`, or > :data:`MISFIT_SIGNIFICANT_FACTOR` with
    |z| > :data:`MISFIT_SE`), or "" for none.

    Examples
    --------
    >>> misfit(1.47, 1.04, 0.064)["misfit"]
    '> 1.25 and 6.7 SE'
    >>> misfit(1.47, 1.04, 0.2)["misfit"], misfit(3.0, 1.0, 1.0)["misfit"]
    ('', '> 1.5')
    """
    ok = predicted > 0 and measured > 0
    factor = max(predicted / measured, measured / predicted) if ok else math.inf
    z = (predicted - measured) / se if se > 0 else math.nan
    why = ""
    if factor > MISFIT_FACTOR:
        why = f"> {MISFIT_FACTOR}"
    elif factor > MISFIT_SIGNIFICANT_FACTOR and abs(z) > MISFIT_SE:
        why = f"> {MISFIT_SIGNIFICANT_FACTOR} and {abs(z):.1f} SE"
    return {"predicted_cv_mse": predicted, "cv_mse": measured, "factor": factor, "se": se, "z": z, "misfit": why}


class TransLassoCV(TransferRegressor):
    """Two-stage ℓ1 transfer (THEORY.md §2) with the strategy chosen by the theory and tuned by CV.

    ``fit(X, y, sources=[(X_k, y_k), ...])``. Data in the user's units: the design is mapped to the
    theory's convention (every column of the pooled training data to mean square 1/N, or one common
    factor with ``standardize=False``; :class:`solvers.problem.Scaling`), each dataset gets its own
    intercept (``fit_intercept``), and the fitted coefficients are reported in the user's units.

    Parameters
    ----------
    strategy : "auto", a strategy of :data:`replica.STRATEGIES` (except "pretrained"), or a tuple of them
        "auto": estimate the setting (:func:`estimate_setting`), let ``replica`` optimize target_only,
        value, support and full on it, and take the first of target_only, the better of value and
        support, and full whose predicted optimum is within ``auto_tolerance`` of full's. With
        ``tuning="cv"`` it is the CV's choice over every cell of the grid; without sources it is target_only.
        A tuple (with ``tuning="cv"`` only): the CV's choice over the cells of those strategies.
    sources : "auto" or "all"
        "auto" (THEORY.md §8): each source is estimated against the target (``source_scores_``), the
        theory ranks them and chooses a nested set (:func:`solvers.sources.choose_sources`), and the CV
        keeps the related sources pooled unless the theory's cut of them, or one of the two first-ranked
        sources alone where the theory predicts it beats them, does better by one paired standard error
        on the same folds. "all": every source pooled into one.
        Either way the target alone is cross-validated on the same folds (its own Lasso path), and the
        final model transfers only if its CV error is at most the target alone's best. With
        ``tuning="cv"`` (no theory) the sources are pooled.
    tuning : "theory+cv", "cv" or "theory"
        "theory+cv": CV over κ ∈ κ* × :data:`KAPPA_LADDER` (the theory's optimum at similarity 1, 3/4
        and 9/16 of the estimate, whose errors it hedges: THEORY.md §6) × ``n_scales`` factors
        t ∈ [1/4, 4] (:data:`LAM2_BRACKET`) of (λ2, Δλ), at the theory's λ1 and Δλ/λ2: one warm-started
        λ2 path per κ and fold, sharing the fold's stage-1 fit (with κ* = 0, one path of ``4 n_scales + 1`` factors in [1/16, 4]).
        κ* is the theory's κ times its calibration on the data (``kappa_calibration_``). The choice is the
        point nearest the theory's (in |log κ/κ*| + |log λ2/λ2*|, so κ rungs before λ2 scales) whose CV
        error is within one paired SE of the CV minimum. "cv": CV over the strategy's cells of
        :func:`solvers.grid.default_cells` × ``n_lam1`` λ1 × ``n_lam2`` λ2 values (relative to their λ_max,
        down to ``lam_min_ratio``). "theory": the theory's optimum (κ calibrated), no CV.
    cv : int, scikit-learn splitter or "alo"
        Folds of the target rows (an int: shuffled ``KFold`` seeded by ``random_state``). "alo": no
        folds; every grid point is fitted once on all target rows (warm-started along λ2) and scored
        by its approximate leave-one-out error (:func:`solvers.alo.alo_validate`, THEORY.md section
        ALO; intercepts exact, the column scaling held fixed). ``cv_results_`` then has no
        ``split*`` columns, ``mean_test_mse`` is the ALO MSE and ``std_test_mse`` its per-sample
        standard error sd(e_i²)/√n, which ``selection="1se"`` uses.
    selection : "min" or "1se"
        The CV minimum (with "theory+cv": the theory-nearest point within one paired SE of it), or the
        largest λ2 within one standard error of the minimum (at its λ1 and cell), as glmnet.
    covariance : None or "empirical"
        The design the theory assumes. None: i.i.d. entries (THEORY.md §1). "empirical": the pooled
        scaled design's own correlation matrix (THEORY.md §7, :func:`solvers.estimate.with_design_covariance`):
        the strategies are optimized and chosen on the i.i.d. design, and the chosen one is refined on
        the correlated theory (:func:`solvers.tuning.correlated_refinement`, costlier: each correlated
        prediction is worth several Lasso fits); ``setting_`` then carries the covariance.
    pretrain_on_target, fit_intercept, standardize : bool
        Target rows in stage 1; per-dataset intercepts; column standardization (see above).
    auto_tolerance : float
        Relative tolerance of the "auto" rule.
    n_lam1, n_lam2, n_scales : int
        Grid sizes.
    lam_min_ratio : float
        Smallest penalty of a "cv" grid relative to its λ_max.
    tol, cv_tol : float
        Relative duality gaps of the refit and of the CV fits whose errors decide (all checked).
    screen_tol : float
        Relative duality gap of the CV's stage-2 λ2 points that only rank the grid (checked): with
        ``tuning="cv"`` and for the target alone (the guard) every path, then the path of every
        strategy's CV-minimal point is refitted to ``cv_tol`` in every fold, up to one λ2 past it; with "theory+cv" the points below the theory's λ2
        (near interpolation at text scale), then the paths of the CV minimum and of the chosen point are
        refitted up to them wherever those are screened (:func:`solvers.cv.cross_validate`).
        ``cv_results_["certified"]`` marks the points fitted to ``cv_tol``; ``screen_tol <= cv_tol`` fits
        every path to ``cv_tol``.
    n_jobs : int or None
        Folds in parallel (joblib; ``joblib.parallel_backend("dask")`` sends them to a Dask cluster).
    random_state : int or None
        Seeds the folds when ``cv`` is an int.

    Attributes
    ----------
    strategy_ : str; sources_used_ : tuple of the indices of the sources the model transfers from (() for
    the target alone); hyperparameters_ : replica.Hyperparameters, in the units of
    ``TransLasso(**hyperparameters_.as_dict())`` refitted on ``(X, y, [sources[k] for k in sources_used_])``
    with this estimator's ``pretrain_on_target``, ``fit_intercept`` and ``standardize`` (its defaults), which
    reproduces the model; coef_, coef_pretrain_, coef_finetune_, intercept_ : in the user's units;
    best_estimator_ : that ``TransLasso``; cv_results_ : dict in ``GridSearchCV`` layout, one row per CV
    point of every source set tuned and of the target alone, with columns ``strategy``, ``sources`` and
    ``certified`` (fitted to ``cv_tol``, see ``screen_tol``), penalties in each row's refit units (None with
    ``tuning="theory"``); best_index_ : the chosen row; source_scores_ : dict of per-source arrays
    (``similarity``, ``support_overlap``, ``noise``, ``density``, ``scale``, ``corr_target``, ``gain_alone``, ``gain``,
    ``rank``; :class:`solvers.sources.SourceChoice`), None unless ``sources="auto"``; setting_ : the
    estimated ``replica.Setting`` of the final source set (None with ``tuning="cv"`` or without one);
    response_scale_ : v; predicted_errors_ : strategy → the theory's optimal test MSE in data units (or
    None); predicted_error_ : that of ``strategy_``; kappa_calibration_ : the factor applied to the theory's
    κ (:func:`solvers.estimate.kappa_calibration`; None with ``tuning="cv"``); theory_check_ : the theory's
    predicted CV error of the chosen transfer point, the measured one, its SE, their factor, the gap in SEs
    ``z`` and ``misfit``, the rule broken or "" (:func:`misfit`; a UserWarning when one is), or None;
    n_fits_ : Lasso fits (a path point counts as one); fit_time_ : s.

    Examples
    --------
    >>> import numpy as np
    >>> from replica import Setting
    >>> from solvers import draw_problem
    >>> p = draw_problem(Setting.similarity(0.5, 2.0, 0.3, 0.3, 0.1, 0.9, 1.0), 200, np.random.default_rng(1))
    >>> model = TransLassoCV(random_state=0).fit(*p.data[0], sources=[p.data[1]])
    >>> model.strategy_ in ("target_only", "value", "support", "full")
    True
    """

    def __init__(
        self,
        strategy="auto",
        sources="auto",
        tuning="theory+cv",
        cv=5,
        selection="min",
        covariance=None,
        pretrain_on_target=True,
        fit_intercept=True,
        standardize=True,
        auto_tolerance=0.02,
        n_lam1=5,
        n_lam2=10,
        n_scales=3,
        lam_min_ratio=0.01,
        tol=DEFAULT_TOL,
        cv_tol=CV_TOL,
        screen_tol=SCREEN_TOL,
        n_jobs=None,
        random_state=None,
    ):
        self.strategy = strategy
        self.sources = sources
        self.tuning = tuning
        self.cv = cv
        self.selection = selection
        self.covariance = covariance
        super().__init__(pretrain_on_target, fit_intercept, standardize, tol)
        self.auto_tolerance = auto_tolerance
        self.n_lam1 = n_lam1
        self.n_lam2 = n_lam2
        self.n_scales = n_scales
        self.lam_min_ratio = lam_min_ratio
        self.cv_tol = cv_tol
        self.screen_tol = screen_tol
        self.n_jobs = n_jobs
        self.random_state = random_state

    # ---- validation -------------------------------------------------------------------------
    def _check_params(self):
        names = (self.strategy,) if isinstance(self.strategy, str) else tuple(self.strategy)
        if not names or (self.strategy != "auto" and any(n not in STRATEGIES for n in names)):
            raise ValueError(f"unknown strategy {self.strategy!r}; expected 'auto' or one of {list(STRATEGIES)}")
        if not isinstance(self.strategy, str) and self.tuning != "cv":
            raise ValueError(f"several strategies {self.strategy!r} need tuning='cv' (the CV chooses among them)")
        if self.sources not in SOURCE_MODES:
            raise ValueError(f"unknown sources {self.sources!r}; expected one of {list(SOURCE_MODES)}")
        if self.tuning not in TUNINGS:
            raise ValueError(f"unknown tuning {self.tuning!r}; expected one of {list(TUNINGS)}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"unknown selection {self.selection!r}; expected one of {list(SELECTIONS)}")
        check_covariance(self.covariance)
        for name in ("n_lam1", "n_lam2", "n_scales"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"grid size {name} must be a positive integer, got {value!r}")
        for name in ("lam_min_ratio", "tol", "cv_tol", "screen_tol"):
            check_tol(name, getattr(self, name))
        value = self.auto_tolerance
        if isinstance(value, bool) or not (isinstance(value, numbers.Real) and value >= 0):
            raise ValueError(f"auto_tolerance must be a number >= 0, got {value!r}")

    def _splits(self, X):
        cv = self.cv
        if isinstance(cv, str):
            if cv != "alo":
                raise ValueError(f"unknown cv {cv!r}; expected an int >= 2, a scikit-learn splitter or 'alo'")
            if X.shape[0] < 3:
                raise ValueError(f"cv='alo' needs at least 3 target rows, got n_samples={X.shape[0]}")
            return "alo"  # scored by approximate leave-one-out from fits on all rows (solvers.alo)
        if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
            if cv < 2:
                raise ValueError(f"cv must be >= 2 folds, got {cv}")
            if X.shape[0] < cv:
                raise ValueError(f"fewer target rows (n_samples={X.shape[0]}) than folds ({cv})")
            cv = KFold(n_splits=cv, shuffle=True, random_state=self.random_state)
        if not hasattr(cv, "split"):
            raise ValueError(f"cv must be an int or a scikit-learn splitter, got {cv!r}")
        return list(cv.split(X))

    # ---- fit --------------------------------------------------------------------------------
    def fit(self, X, y, sources=()):
        """Choose the sources and the strategy, tune it, guard against the target alone, refit on all of (X, y).

        Parameters
        ----------
        X, y, sources
            Target design (n, N), target response and source datasets, as in :meth:`solvers.TransLasso.fit`.

        Returns
        -------
        self : TransLassoCV
            The fitted estimator.
        """
        t0 = time.perf_counter()
        self._check_params()
        X, y, checked = self._check_data(X, y, sources)
        if not self.pretrain_on_target and not checked:
            raise ValueError("no pretraining data: pretrain_on_target=False and no sources")
        splits = None if self.tuning == "theory" else self._splits(X)
        candidates = self._candidate_sets(X, y, checked)
        tuned = [self._tune(arm, splits) for arm in candidates]
        guard = None if self.tuning == "theory" else self._tune(self._target_alone(X, y), splits)
        chosen, hyper = self._choose(tuned, guard, (X, y))
        self._scaling = chosen.arm.scaling
        self.sources_used_ = chosen.arm.members
        self.hyperparameters_ = hyper = self._user_units(hyper)
        used = [checked[k] for k in chosen.arm.members]
        fit = fit_transfer(X, y, used, hyper, **self._fit_params(), problem=chosen.arm.problem, scaling=self._scaling)
        self.best_estimator_ = fit.store(TransLasso(**hyper.as_dict(), **self._fit_params()))
        self.best_estimator_.n_features_in_ = self.n_features_in_
        fit.store(self)
        self._report_theory(chosen if chosen.step is not None else next(iter(tuned), chosen))
        self.n_fits_ += 2
        self.fit_time_ = time.perf_counter() - t0
        return self

    def _fit_params(self) -> dict:
        """The parameters the refitted ``TransLasso`` shares with this estimator."""
        return {
            "pretrain_on_target": bool(self.pretrain_on_target),
            "fit_intercept": bool(self.fit_intercept),
            "standardize": bool(self.standardize),
            "tol": self.tol,
        }

    def _candidate_sets(self, X, y, sources) -> list:
        """The source sets to tune (THEORY.md §8): all of them pooled (``sources="all"``, or ``tuning="cv"``,
        which has no theory to choose with), else the related sources pooled, the theory's own cut of them
        (:func:`solvers.sources.choose_sources`) and each of the :data:`solvers.sources.ALONE` first-ranked
        sources alone that the theory predicts to gain more than the related sources pooled, in that order:
        the CV departs from keeping them all only on evidence beyond one paired SE (:meth:`_preferred`); with
        ``tuning="theory"``, the theory's cut."""
        self.source_scores_, self.n_fits_, self._estimates = None, 0, {}
        fit_intercept, standardize = bool(self.fit_intercept), bool(self.standardize)
        if not sources:
            return []
        if self.tuning == "cv":
            problem, scaling = TransferProblem.scaled(X, y, sources, fit_intercept, standardize)
            return [SourceSet(tuple(range(len(sources))), problem, scaling, None)]
        if self.sources == "all":
            sigma2_t = target_noise(self._target_alone(X, y).problem)
            try:
                everything = tuple(range(len(sources)))
                pooled, fits = estimate_set(X, y, sources, everything, fit_intercept, standardize, sigma2_t)
            except ValueError as exc:  # e.g. the pooled sources carry no detectable signal
                warnings.warn(f"the sources cannot be estimated ({exc}): the target alone", UserWarning, stacklevel=3)
                return []
            self.n_fits_, self._estimates = fits + 12, {"sigma2_target": sigma2_t}
            return [pooled]
        kw = dict(
            fit_intercept=fit_intercept, standardize=standardize, pretrain_on_target=bool(self.pretrain_on_target)
        )
        choice = choose_sources(X, y, sources, **kw)
        self.source_scores_, self.n_fits_ = choice.scores, choice.fits
        if choice.chosen is None:
            return []
        self._estimates = {"sigma2_target": choice.sigma2_target}
        if self.tuning == "theory":
            return [choice.chosen]
        default = choice.related or choice.chosen
        # the first-ranked sources alone, where the theory predicts they beat the default set: nested sets
        # grow by predicted gain, which pooling sources of unequal quality can mislead
        alone = [one for one in choice.alone[:ALONE] if one.gain > default.gain]
        sets = []
        for candidate in [default, choice.chosen, *alone]:
            if all(candidate.members != s.members for s in sets):
                sets.append(candidate)
        return sets

    def _target_alone(self, X, y) -> SourceSet:
        """The target alone, in its own units."""
        problem, scaling = TransferProblem.scaled(X, y, [], bool(self.fit_intercept), bool(self.standardize))
        return SourceSet((), problem, scaling, None)

    def _target_alone_theory(self, X, y) -> _Tuned:
        """tuning="theory" with no source related to the target: the theory's Lasso on the target alone."""
        arm = self._target_alone(X, y)
        step = target_alone_step(arm.problem)
        self.n_fits_ += step.fits
        return _Tuned(arm, step, None, None)

    def _tune(self, arm: SourceSet, splits) -> _Tuned:
        """One source set: the theory's choice on it, the family around it, and its CV on ``splits``."""
        step = None
        if arm.members and self.tuning != "cv":
            step = theory_step(
                arm.problem,
                self.strategy,
                self.auto_tolerance,
                pretrain_on_target=bool(self.pretrain_on_target),
                summary=arm.summary,
                overlap=None if arm.summary is None else arm.overlap,
                known=arm.optima,
                covariance=self.covariance,
                **self._estimates,
            )
            self.n_fits_ += step.fits
        if self.tuning == "theory":
            return _Tuned(arm, step, None, None)
        family = self._family(arm.problem, step, "target_only" if not arm.members else self.strategy)
        result = family.score(
            arm.problem,
            splits,
            selection=self.selection,
            pretrain_on_target=bool(self.pretrain_on_target),
            n_jobs=self.n_jobs,
            x1_init=None if step is None or self.tuning != "theory+cv" else step.x1_init,
            tol=self.cv_tol,
        )
        self.n_fits_ += result.fits
        return _Tuned(arm, step, family, result)

    def _family(self, problem: TransferProblem, step, strategy):
        """The grid CV scores: the ladder around the theory's point, or the full grid."""
        if self.tuning == "theory+cv" and step is not None:
            return ladder_family(step, problem.n_features, self.n_scales, self.screen_tol)
        return grid_family(
            problem,
            "target_only" if strategy == "auto" and self.tuning != "cv" else strategy,
            n_lam1=1 if strategy == "target_only" else self.n_lam1,
            n_lam2=self.n_lam2,
            lam_min_ratio=self.lam_min_ratio,
            pretrain_on_target=bool(self.pretrain_on_target),
            # the target alone's path reaches near interpolation at text scale: screened like "cv"'s grid
            screen_tol=self.screen_tol if self.tuning == "cv" or strategy == "target_only" else None,
        )

    def _choose(self, tuned: list, guard, target) -> tuple:
        """The selection rule in each source set's CV, then across sets and the target alone (THEORY.md §8):
        the set kept (:meth:`_preferred`), at its chosen point if that point's CV error is at most the
        target alone's best, else at its CV minimum if that is; else the target alone."""
        if guard is None:  # tuning="theory": the theory's point on its chosen set, or on the target alone
            first = tuned[0] if tuned else self._target_alone_theory(*target)
            self.cv_results_, self._cv, self.best_index_, self.strategy_ = None, None, None, first.step.strategy
            return first, first.step.hyperparameters
        tables = [(t.result.table(t.family.tuned), t.arm.members, self._unit(t.arm.scaling)) for t in tuned + [guard]]
        self.cv_results_ = _concat(tables)
        offsets = np.cumsum([0] + [len(table["params"]) for table, _, _ in tables])
        target_best = float(guard.result.mean.min())
        options = []
        if tuned:
            o = self._preferred(tuned)
            t = tuned[o]
            hyper, index, _ = t.family.select(t.result, self.selection)
            m = tuple(int(v) for v in np.unravel_index(int(np.argmin(t.result.mean)), t.result.mean.shape))
            options = [(float(t.result.mean[index]), o, t, hyper, index)]
            options.append((float(t.result.mean[m]), o, t, t.family.grid.point(*m), m))
        for mean, o, t, hyper, index in options:
            if mean <= target_best:
                self._cv = t.result
                self.best_index_ = int(offsets[o]) + t.result.row(t.family.tuned, index)
                self.strategy_ = self._strategy(t.family.grid.cells[index[1]], t.step)
                return t, hyper
        hyper, index, _ = guard.family.select(guard.result, self.selection)
        self._cv = tuned[0].result if tuned else None
        self.best_index_ = int(offsets[-2]) + guard.result.row("target_only", index)
        self.strategy_ = "target_only"
        return guard, hyper

    def _preferred(self, tuned: list) -> int:
        """The source set kept: the first (every related source pooled), unless a later one's chosen point
        beats the first's by more than one paired standard error over the folds (THEORY.md §8)."""
        errors = [t.result.err[(slice(None), *t.family.select(t.result, self.selection)[1])] for t in tuned]
        best = 0
        for o in range(1, len(tuned)):
            diff = errors[o] - errors[0]
            if diff.mean() < -fold_se(diff[:, None])[0] and errors[o].mean() < errors[best].mean():
                best = o
        return best

    def _strategy(self, cell, step) -> str:
        strategy = self.strategy if step is None else step.strategy
        return narrowest_strategy(cell) if not isinstance(strategy, str) or strategy == "auto" else strategy

    def _report_theory(self, tuned: _Tuned):
        """The theory's attributes of the set the final model (or, for the target alone, the theory's
        first set) comes from, ``theory_check_``, and a UserWarning when the theory's predicted CV error of
        that set's chosen point is off from the measured one by more than :data:`MISFIT_FACTOR`, or by more
        than :data:`MISFIT_SIGNIFICANT_FACTOR` and :data:`MISFIT_SE` standard errors of the measured one."""
        step = tuned.step
        self.setting_ = None if step is None else step.setting
        self.response_scale_ = None if step is None else step.response_scale
        self.predicted_errors_ = None if step is None else step.predicted
        self.kappa_calibration_ = None if step is None else step.kappa_calibration
        self.predicted_error_ = None if step is None else step.predicted.get(self.strategy_)
        self.theory_check_ = None
        if step is None or tuned.result is None:
            return
        hyper, index, _ = tuned.family.select(tuned.result, self.selection)
        folds = 1 if tuned.result.per_sample else tuned.result.err.shape[0]
        predicted = predicted_cv_error(step, hyper, folds, tuned.result.per_sample)
        measured = float(tuned.result.mean[index])
        se = float(tuned.result.se[index])
        self.theory_check_ = check = misfit(predicted, measured, se)
        if check["misfit"]:
            warnings.warn(
                f"the theory predicts a CV error of {predicted:.4g} at the chosen point, the CV measured "
                f"{measured:.4g} (SE {se:.2g}): off by a factor {check['factor']:.2f} {check['misfit']}. The "
                "two-task model (one noise level and density per dataset, similar designs) does not describe these "
                "data, so predicted_errors_ and the theory's choices are unreliable here; the CV still chose the "
                "final model. See README, 'When the theory does not fit'.",
                UserWarning,
                stacklevel=3,
            )

    def _unit(self, scaling) -> float:
        """The factor from a tuned design's penalties to the refit's: TransLasso without intercepts or
        standardization fits the user's design itself, where the common column divisor c of ``scaling``
        turns the penalties into c times the tuned ones (κ is unchanged); 1 otherwise."""
        return 1.0 if self.fit_intercept or self.standardize else float(scaling.divisors[0])

    def _user_units(self, hyper: Hyperparameters) -> Hyperparameters:
        """``hyper`` in the units of the refit (:meth:`_unit`)."""
        c = self._unit(self._scaling)
        return Hyperparameters(c * hyper.lam1, c * hyper.lam2, hyper.kappa, c * hyper.delta_lam)

    def select(self, strategy: str):
        """Best point of ``strategy``'s cells in this fit's CV grid (``selection`` applied).

        Parameters
        ----------
        strategy : str
            A name of :data:`replica.STRATEGY_NAMES` whose cells the grid holds.

        Returns
        -------
        hyperparameters : replica.Hyperparameters
            The selected point, in the units of ``hyperparameters_``.
        mean_mse : float
            Its mean CV MSE.
        fits : int
            What cross-validating ``strategy`` alone on this grid costs (its stage-1 path per
            fold, and its cells' λ2 paths).
        """
        check_is_fitted(self, "coef_")
        if self._cv is None:
            raise ValueError("no CV grid: this model was fitted with tuning='theory'")
        res, g = self._cv, self._cv.grid
        hyper, (i, k, j) = res.select(strategy, self.selection)
        folds = 1 if res.per_sample else res.err.shape[0]
        cells = res.cells_of(strategy)
        n1 = len(g.lam1)
        fits = folds * sum(len(g.lam2) * (1 if g.cells[c].is_target_only else n1) for c in cells)
        if strategy != "target_only":
            fits += n1 * (folds if self.pretrain_on_target else 1)
        return self._user_units(hyper), float(res.mean[i, k, j]), fits


@dataclass(frozen=True)
class _Tuned:
    """One source set tuned: the set, the theory's step on it (or None), its family and CV result (or None)."""

    arm: SourceSet
    step: object
    family: object
    result: object


def _concat(tables) -> dict:
    """Row-wise concatenation of :meth:`solvers.cv.CVResult.table` dicts, each with the factor c that takes
    its penalties to the refit's units, and a ``sources`` column (the indices of the sources each row's
    model transfers from; () for the target alone)."""
    out = {}
    tables = [(_scaled_penalties(t, c), members) for t, members, c in tables]
    keys = [k for k in tables[0][0] if all(k in t for t, _ in tables)]
    for key in keys:
        parts = [t[key] for t, _ in tables]
        out[key] = sum(parts, []) if key == "params" else np.concatenate(parts)
    out["sources"] = [members for t, members in tables for _ in t["params"]]
    mean = out["mean_test_mse"]
    out["rank_test_mse"] = (np.argsort(np.argsort(mean, kind="stable"), kind="stable") + 1).astype(np.int32)
    return out


def _scaled_penalties(table: dict, c: float) -> dict:
    """``table`` with its penalties (λ1, λ2, Δλ) times c."""
    if c == 1.0:
        return table
    names = ("lam1", "lam2", "delta_lam")
    params = [{k: (c * v if k in names else v) for k, v in p.items()} for p in table["params"]]
    return {**table, "params": params, **{f"param_{k}": c * table[f"param_{k}"] for k in names}}
