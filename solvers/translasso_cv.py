"""``TransLassoCV``: choose what to transfer and tune it on the user's own data.

The theory (``replica``) is fitted to the data (:mod:`solvers.estimate`), predicts every strategy's
optimal error, and picks the strategy ("auto"); cross-validation (:mod:`solvers.cv`) then tunes it
along a small family around the theory's optimum, or on a full grid (``tuning="cv"``)
(:mod:`solvers.tuning`).
"""

from __future__ import annotations

import numbers
import time

import numpy as np
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted

from replica import STRATEGY_NAMES, Hyperparameters

from .cv import CV_TOL, SCREEN_TOL
from .estimator import TransferRegressor, TransLasso, check_tol, fit_transfer
from .grid import narrowest_strategy
from .lasso import DEFAULT_TOL
from .problem import TransferProblem
from .tuning import grid_family, ladder_family, theory_step

__all__ = ["TransLassoCV"]

STRATEGIES = tuple(s for s in STRATEGY_NAMES if s != "pretrained")
TUNINGS = ("theory+cv", "cv", "theory")
SELECTIONS = ("min", "1se")


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
        ``tuning="cv"`` every path, then the path of every strategy's CV-minimal point is refitted to
        ``cv_tol`` in every fold, up to one λ2 past it; with "theory+cv" the points below the theory's λ2
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
    strategy_ : str; hyperparameters_ : replica.Hyperparameters (of the design ``best_estimator_`` fits:
    the scaled one, or the user's own with ``fit_intercept=False, standardize=False``; response in the
    user's units); coef_, coef_pretrain_, coef_finetune_, intercept_ : in the user's units;
    best_estimator_ : the ``TransLasso`` refitted on all the data; cv_results_ : dict in
    ``GridSearchCV`` layout with a ``strategy`` column and a ``certified`` one (fitted to ``cv_tol``, see
    ``screen_tol``; None with ``tuning="theory"``); setting_ : the
    estimated ``replica.Setting`` (None with ``tuning="cv"`` or without sources); response_scale_ : v;
    predicted_errors_ : strategy → the theory's optimal test MSE in data units (or None);
    predicted_error_ : that of ``strategy_``; kappa_calibration_ : the factor applied to the theory's κ
    (:func:`solvers.estimate.kappa_calibration`; None with ``tuning="cv"``); n_fits_ : Lasso fits (a path
    point counts as one); fit_time_ : s.

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
        tuning="theory+cv",
        cv=5,
        selection="min",
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
        self.tuning = tuning
        self.cv = cv
        self.selection = selection
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
        if self.tuning not in TUNINGS:
            raise ValueError(f"unknown tuning {self.tuning!r}; expected one of {list(TUNINGS)}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"unknown selection {self.selection!r}; expected one of {list(SELECTIONS)}")
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
        """Choose the strategy, tune it and refit on all of (X, y).

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
        splits = None if self.tuning == "theory" else self._splits(X)
        problem, scaling = TransferProblem.scaled(X, y, checked, bool(self.fit_intercept), bool(self.standardize))
        step = self._theory_step(problem)
        family = None if self.tuning == "theory" else self._family(problem, step)
        result = None if family is None else self._score(family, problem, splits, step)
        hyper, self.strategy_ = self._choose(family, result, step)
        self._scaling = scaling
        self.hyperparameters_ = hyper = self._user_units(hyper)
        fit = fit_transfer(X, y, checked, hyper, **self._fit_params(), problem=problem, scaling=scaling)
        self.predicted_error_ = None if step is None else step.predicted.get(self.strategy_)
        self.best_estimator_ = fit.store(TransLasso(**hyper.as_dict(), **self._fit_params()))
        self.best_estimator_.n_features_in_ = self.n_features_in_
        fit.store(self)
        self.n_fits_ = (0 if step is None else step.fits) + (0 if result is None else result.fits) + 2
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

    def _theory_step(self, problem: TransferProblem):
        """The theory's choice (:func:`solvers.tuning.theory_step`), or None with tuning="cv" or no sources."""
        self.setting_ = self.response_scale_ = self.predicted_errors_ = self.kappa_calibration_ = None
        if self.tuning == "cv" or not problem.sources:
            if self.tuning == "theory":
                raise ValueError("tuning='theory' needs at least one source to estimate the setting from")
            return None
        step = theory_step(
            problem, self.strategy, self.auto_tolerance, pretrain_on_target=bool(self.pretrain_on_target)
        )
        self.setting_, self.response_scale_ = step.setting, step.response_scale
        self.predicted_errors_, self.kappa_calibration_ = step.predicted, step.kappa_calibration
        return step

    def _family(self, problem: TransferProblem, step):
        """The grid CV scores: the ladder around the theory's point, or the full grid."""
        if self.tuning == "theory+cv" and step is not None:
            return ladder_family(step, problem.n_features, self.n_scales, self.screen_tol)
        strategy = "target_only" if self.strategy == "auto" and self.tuning != "cv" else self.strategy
        return grid_family(
            problem,
            strategy,
            n_lam1=self.n_lam1,
            n_lam2=self.n_lam2,
            lam_min_ratio=self.lam_min_ratio,
            pretrain_on_target=bool(self.pretrain_on_target),
            screen_tol=self.screen_tol if self.tuning == "cv" else None,
        )

    def _score(self, family, problem, splits, step):
        """The CV of ``family`` (or ALO), stage 1 warm-started from the theory step's source fit."""
        self.cv_results_, self._cv = None, None
        result = family.score(
            problem,
            splits,
            selection=self.selection,
            pretrain_on_target=bool(self.pretrain_on_target),
            n_jobs=self.n_jobs,
            x1_init=None if step is None or self.tuning != "theory+cv" else step.x1_init,
            tol=self.cv_tol,
        )
        self.cv_results_, self._cv = self._results(result, family.tuned), result
        return result

    def _choose(self, family, result, step) -> tuple[Hyperparameters, str]:
        """The selection rule on the CV result (or the theory's point): hyperparameters and strategy."""
        if result is None:
            self.cv_results_, self._cv, self.best_index_ = None, None, None
            return step.hyperparameters, step.strategy
        hyper, (i, k, j), _ = family.select(result, self.selection)
        g = family.grid
        self.best_index_ = (result.cells_of(family.tuned).index(k) * len(g.lam1) + i) * len(g.lam2) + j
        strategy = self.strategy if step is None else step.strategy
        if strategy == "auto":
            strategy = narrowest_strategy(family.grid.cells[k])
        return hyper, strategy

    def _user_units(self, hyper: Hyperparameters) -> Hyperparameters:
        """``hyper`` of the scaled design for the refit's design: TransLasso without intercepts or
        standardization fits the user's design itself, where a common column divisor c turns the
        penalties into c times the tuned ones (κ is unchanged)."""
        if self.fit_intercept or self.standardize:
            return hyper
        c = float(self._scaling.divisors[0])
        return Hyperparameters(c * hyper.lam1, c * hyper.lam2, hyper.kappa, c * hyper.delta_lam)

    @staticmethod
    def _results(result, tuned: str) -> dict:
        """CV results of ``tuned``'s cells in GridSearchCV layout, plus a ``strategy`` column."""
        g = result.grid
        cells = result.cells_of(tuned)
        keys = [(i, k, j) for k in cells for i in range(len(g.lam1)) for j in range(len(g.lam2))]
        alo = result.per_sample  # cv="alo": no splits, std = per-sample SE
        folds = 0 if alo else result.err.shape[0]
        splits = np.array([[result.err[f, i, k, j] for (i, k, j) in keys] for f in range(folds)])
        mean = result.mean[tuple(np.array(keys).T)]
        out = {
            "params": [
                {
                    "lam1": g.lam1[i],
                    "lam2": g.lam2[j],
                    "kappa": g.cells[k].kappa,
                    "delta_lam": g.cells[k].delta_lam(g.lam2[j]),
                }
                for (i, k, j) in keys
            ],
        }
        for name in ("lam1", "lam2", "kappa", "delta_lam"):
            out[f"param_{name}"] = np.array([p[name] for p in out["params"]])
        out["strategy"] = np.array([narrowest_strategy(g.cells[k]) for (_, k, _) in keys])
        certified = result.certified  # None: every point was fitted to the CV tolerance (ALO's too)
        out["certified"] = np.array([True if certified is None else bool(certified[key]) for key in keys])
        for f in range(folds):
            out[f"split{f}_test_mse"] = splits[f]
        out["mean_test_mse"] = mean
        out["std_test_mse"] = result.se[tuple(np.array(keys).T)] if alo else splits.std(axis=0)
        out["rank_test_mse"] = (np.argsort(np.argsort(mean, kind="stable"), kind="stable") + 1).astype(np.int32)
        return out

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
