"""``TransLassoCV``: choose what to transfer and tune it on the user's own data; ``estimate_setting``.

The theory (``replica``) is fitted to the data (:mod:`solvers.tuning`), predicts every strategy's
optimal error, and picks the strategy ("auto"); cross-validation (:mod:`solvers.cv`) then tunes it
along a small family around the theory's optimum, or on a full grid (``tuning="cv"``).
"""

from __future__ import annotations

import math
import numbers
import time

import numpy as np
from sklearn.model_selection import KFold
from sklearn.utils.validation import check_is_fitted

from replica import STRATEGY_NAMES, ConvergenceError, Hyperparameters

from .alo import alo_validate
from .backend import DEFAULT_TOL
from .cv import (
    CV_TOL,
    SCREEN_TOL,
    Cell,
    CVResult,
    Grid,
    TransferProblem,
    cell_strategies,
    cross_validate,
    default_cells,
    fold_se,
    narrowest_strategy,
)
from .estimator import TransferRegressor, TransLasso, check_transfer_data
from .tuning import (
    AUTO_CHOICES,
    auto_strategy,
    kappa_calibration,
    setting_from,
    similarity,
    summarize_sources,
    theory_optima,
    to_data_units,
)

__all__ = ["TransLassoCV", "estimate_setting", "KAPPA_LADDER", "LAM2_BRACKET"]

STRATEGIES = tuple(s for s in STRATEGY_NAMES if s != "pretrained")
TUNINGS = ("theory+cv", "cv", "theory")
SELECTIONS = ("min", "1se")
# "theory+cv" searches κ at these multiples of the theory's κ: the theory's κ* is close to proportional
# to the similarity s·c at fixed λ1, so this is the theory's optimum at similarity 1, 3/4 and 9/16 of
# the estimate, whose errors it hedges (THEORY.md, "Estimating the setting from data")
KAPPA_LADDER = (1.0, 0.75, 0.5625)
# ... and each rung's λ2 path over [1/LAM2_BRACKET, LAM2_BRACKET] × the theory's λ2 (THEORY.md §6, "Selection")
LAM2_BRACKET = 4.0


def estimate_setting(X, y, sources, *, fit_intercept=True, standardize=True, pretrain_on_target=True, n_lam1=12):
    """Estimate the two-task ``replica.Setting`` of target (X, y) and ``sources``, and the response scale v.

    The data are first mapped to the theory's convention (THEORY.md §1: design entries of mean
    square 1/N, :class:`solvers.cv.Scaling`; with ``standardize`` every column of the pooled data
    is scaled to that, else one common factor fixes the mean squared row norm to 1), and each
    dataset is centred (``fit_intercept``). The estimators, from a sources-only Lasso path of
    ``n_lam1`` penalties and the target data, are those of :mod:`solvers.tuning` (THEORY.md,
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


def _centre_lam2(h: Hyperparameters, problem: TransferProblem) -> float:
    """The theory+cv family's λ2 centre: the theory's λ2, or 1/√N where the theory takes λ2 = 0."""
    return h.lam2 if h.lam2 > 0 else problem.A.shape[1] ** -0.5


def _ladder_select(result: CVResult, strategy: str, selection: str, lam2: float):
    """The theory+cv choice (THEORY.md §6: the theory is the prior, CV departs from it only on evidence
    beyond the fold noise). Points are taken in order of their distance from the theory's point
    (|log κ/κ*| + |log λ2/``lam2``|, the larger λ2 first on ties: the ladder's κ rungs before other λ2
    scales); the first whose CV error is within one paired standard error of the CV minimum (the SE
    over folds of the fold-wise difference of the two points' errors) is chosen. With
    ``selection="1se"``, that point's κ, then its λ2 by the one-SE rule. A difference in one fold alone
    is never beyond one SE (its mean equals its SE).

    Returns (hyperparameters, (i, k, j) of the chosen point, the paths whose errors decided the choice
    as (i, k, J) for :func:`solvers.cv.cross_validate`'s ``decisive``: the CV minimum's and the chosen
    rung's, each up to its decisive point)."""
    g, err = result.grid, result.err
    i0, k0, j0 = np.unravel_index(int(np.argmin(result.mean)), result.mean.shape)
    kappa0 = g.cells[0].kappa

    def distance(point):
        k, j = point
        rung = abs(math.log(g.cells[k].kappa / kappa0)) if kappa0 > 0 else 0.0
        return rung + abs(math.log(g.lam2[j] / lam2)), -g.lam2[j]

    best = err[:, i0, k0, j0]

    def within(diff):
        # a difference in one fold only (the others equal: e.g. x2 = 0 at both λ2) has mean = SE exactly;
        # the tolerance keeps rounding from deciding such a tie against the nearer point
        return diff.mean() <= fold_se(diff) * (1 + 1e-9)

    k, j = next(
        (k, j)
        for k, j in sorted(np.ndindex(len(g.cells), len(g.lam2)), key=distance)
        if within(err[:, i0, k, j] - best)
    )
    decisive = [(int(i0), int(k0), int(j0) + 1), (int(i0), int(k), int(j) + 1)]
    if selection == "1se":
        rung = CVResult(Grid(g.lam1, g.lam2, (g.cells[k],)), err[:, :, [k], :], result.fits)
        _, (_, _, j_low) = rung.select(strategy, "min")  # the rung's minimum bounds its one-SE choice
        hyper, (i0, _, j) = rung.select(strategy, selection)
        return hyper, (i0, k, j), decisive + [(int(i0), int(k), j_low + 1)]
    cell, lam = g.cells[k], g.lam2[j]
    return Hyperparameters(g.lam1[i0], lam, cell.kappa, cell.delta_lam(lam)), (int(i0), int(k), int(j)), decisive


class TransLassoCV(TransferRegressor):
    """Two-stage ℓ1 transfer (THEORY.md §2) with the strategy chosen by the theory and tuned by CV.

    ``fit(X, y, sources=[(X_k, y_k), ...])``. Data in the user's units: the design is mapped to the
    theory's convention (every column of the pooled training data to mean square 1/N, or one common
    factor with ``standardize=False``; :class:`solvers.cv.Scaling`), each dataset gets its own
    intercept (``fit_intercept``), and the fitted coefficients are reported in the user's units.

    Parameters
    ----------
    strategy : "auto" or a strategy of :data:`replica.STRATEGIES` (except "pretrained")
        "auto": estimate the setting (:func:`estimate_setting`), let ``replica`` optimize target_only,
        value, support and full on it, and take the first of target_only, the better of value and
        support, and full whose predicted optimum is within ``auto_tolerance`` of full's. With
        ``tuning="cv"`` it is the CV's choice over every cell of the grid; without sources it is target_only.
    tuning : "theory+cv", "cv" or "theory"
        "theory+cv": CV over κ ∈ κ* × :data:`KAPPA_LADDER` (the theory's optimum at similarity 1, 3/4
        and 9/16 of the estimate, whose errors it hedges: THEORY.md §6) × ``n_scales`` factors
        t ∈ [1/4, 4] (:data:`LAM2_BRACKET`) of (λ2, Δλ), at the theory's λ1 and Δλ/λ2: one warm-started
        λ2 path per κ and fold, sharing the fold's stage-1 fit (with κ* = 0, one path of ``4 n_scales + 1`` factors in [1/16, 4]).
        κ* is the theory's κ times its calibration on the data (``kappa_calibration_``). The choice is the
        point nearest the theory's (in |log κ/κ*| + |log λ2/λ2*|, so κ rungs before λ2 scales) whose CV
        error is within one paired SE of the CV minimum. "cv": CV over the strategy's cells of
        :func:`solvers.cv.default_cells` × ``n_lam1`` λ1 × ``n_lam2`` λ2 values (relative to their λ_max,
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
    (:func:`solvers.tuning.kappa_calibration`; None with ``tuning="cv"``); n_fits_ : Lasso fits (a path
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
        if self.strategy != "auto" and self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r}; expected 'auto' or one of {list(STRATEGIES)}")
        if self.tuning not in TUNINGS:
            raise ValueError(f"unknown tuning {self.tuning!r}; expected one of {list(TUNINGS)}")
        if self.selection not in SELECTIONS:
            raise ValueError(f"unknown selection {self.selection!r}; expected one of {list(SELECTIONS)}")
        for name in ("n_lam1", "n_lam2", "n_scales"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise ValueError(f"grid size {name} must be a positive integer, got {value!r}")
        for name in ("lam_min_ratio", "tol", "cv_tol", "screen_tol"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and 0 < value < 1):
                raise ValueError(f"{name} must lie in (0, 1), got {value!r}")
        if not (isinstance(self.auto_tolerance, numbers.Real) and self.auto_tolerance >= 0):
            raise ValueError(f"auto_tolerance must be >= 0, got {self.auto_tolerance!r}")

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
        splits = self._splits(X) if self.tuning != "theory" else None
        problem, self._scaling = TransferProblem.scaled(X, y, checked, bool(self.fit_intercept), bool(self.standardize))
        fits = 0
        strategy = self.strategy
        self.setting_, self.response_scale_, self.predicted_errors_, self.kappa_calibration_ = None, None, None, None
        theory_hyper, x1_init = None, None
        if self.tuning != "cv" and checked:
            src = summarize_sources(problem)
            fits += len(src.lam1)
            setting, v = setting_from(problem, src, bool(self.pretrain_on_target))
            names = AUTO_CHOICES if strategy == "auto" else (strategy,)
            try:
                optima = theory_optima(setting, names)
            except (ConvergenceError, np.linalg.LinAlgError) as exc:
                raise ConvergenceError(
                    f"the theory could not be optimized on the estimated setting ({exc}); use tuning='cv'",
                    {"setting": repr(setting)},
                ) from exc
            eps2 = {name: res.eps2 for name, res in optima.items()}
            if strategy == "auto":
                strategy = auto_strategy(eps2, self.auto_tolerance)
            self.setting_, self.response_scale_ = setting, v
            self.predicted_errors_ = {name: v * e for name, e in eps2.items() if name != "pretrained"}
            h = to_data_units(optima[strategy].hyperparameters, v)
            near = int(np.argmin(np.abs(np.log(src.lam1 / h.lam1))))
            x1_init = src.path[:, [near]]
            self.kappa_calibration_ = kappa_calibration(problem, src, near, similarity(setting))
            theory_hyper = Hyperparameters(h.lam1, h.lam2, h.kappa * self.kappa_calibration_, h.delta_lam)
        elif strategy == "auto" and not checked and self.tuning != "cv":
            strategy = "target_only"
        if self.tuning == "theory" and theory_hyper is None:
            raise ValueError("tuning='theory' needs at least one source to estimate the setting from")

        self.cv_results_, self._cv = None, None
        if self.tuning == "theory":
            hyper = theory_hyper
        else:
            grid = self._grid(problem, strategy, theory_hyper)
            tuned = "full" if strategy == "auto" else strategy
            ladder = self.tuning == "theory+cv" and theory_hyper is not None
            options = dict(screen_tol=self.screen_tol if self.tuning == "cv" else None)
            validate = alo_validate if splits == "alo" else cross_validate
            if ladder:
                centre = _centre_lam2(theory_hyper, problem)

                def select(r):
                    return _ladder_select(r, tuned, self.selection, centre)

                if splits != "alo":
                    # the λ2 points below the theory's are near interpolation at text scale, where the CV
                    # tolerance costs most: screened, and refitted only where their errors decide the choice
                    options = dict(
                        screen_tol=self.screen_tol,
                        screen_from=int(np.sum(np.asarray(grid.lam2) >= centre * (1 - 1e-12))),
                        decisive=lambda r: select(r)[2],
                    )
            result = validate(
                problem,
                grid,
                splits,
                pretrain_on_target=bool(self.pretrain_on_target),
                n_jobs=self.n_jobs,
                x1_init=x1_init if self.tuning == "theory+cv" else None,
                tol=self.cv_tol,
                **options,
            )
            fits += result.fits
            if ladder:
                hyper, (_, k, _), _ = select(result)
            else:
                hyper, (_, k, _) = result.select(tuned, self.selection)
            if strategy == "auto":
                strategy = narrowest_strategy(grid.cells[k])
            self.cv_results_ = self._results(result, tuned)
            self._cv = result
        self.strategy_ = strategy
        self.hyperparameters_ = hyper = self._refit_units(hyper)
        self.predicted_error_ = None if self.predicted_errors_ is None else self.predicted_errors_.get(strategy)
        self.best_estimator_ = TransLasso(
            **hyper.as_dict(),
            pretrain_on_target=self.pretrain_on_target,
            fit_intercept=self.fit_intercept,
            standardize=self.standardize,
            tol=self.tol,
        ).fit(X, y, sources=checked)
        fits += 2
        best = self.best_estimator_
        self.coef_, self.coef_pretrain_, self.coef_finetune_ = best.coef_, best.coef_pretrain_, best.coef_finetune_
        self.intercept_ = best.intercept_
        self.n_fits_ = fits
        self.fit_time_ = time.perf_counter() - t0
        return self

    def _refit_units(self, hyper: Hyperparameters) -> Hyperparameters:
        """``hyper`` of the scaled design for the refit's design: TransLasso without intercepts or
        standardization fits the user's design itself, where a common column divisor c turns the
        penalties into c times the tuned ones (κ is unchanged)."""
        if self.fit_intercept or self.standardize:
            return hyper
        c = float(self._scaling.divisors[0])
        return Hyperparameters(c * hyper.lam1, c * hyper.lam2, hyper.kappa, c * hyper.delta_lam)

    def _grid(self, problem: TransferProblem, strategy: str, theory_hyper) -> Grid:
        if self.tuning == "theory+cv" and theory_hyper is not None:
            h = theory_hyper
            centre = Cell.of(h)
            # the κ ladder (similarity below the estimate, THEORY.md "Estimating the setting from data"),
            # each rung a λ2 path over [1/4, 4] × the theory's λ2 (LAM2_BRACKET). With κ = 0 it is a single
            # cell, and one path of 4 n_scales + 1 points over [1/16, 4] (13 by default, keeping t = 1) takes
            # their place
            cells = tuple(dict.fromkeys(Cell(centre.kappa * f, centre.u) for f in KAPPA_LADDER))
            if len(cells) > 1:
                scales = (
                    np.geomspace(LAM2_BRACKET, 1 / LAM2_BRACKET, self.n_scales) if self.n_scales > 1 else np.ones(1)
                )
            else:
                scales = np.geomspace(4.0, 1 / 16, 4 * self.n_scales + 1)
            lam2 = _centre_lam2(h, problem)
            return Grid((h.lam1,), tuple(float(lam2 * t) for t in scales), cells)
        design2, y2, _ = problem.target_design()
        lam2_max = max(design2.lam_max(y2), 1e-12)
        lam2 = tuple(float(lam2_max * r) for r in np.geomspace(1.0, self.lam_min_ratio, self.n_lam2))
        if strategy == "target_only":
            return Grid((lam2[0],), lam2, (Cell(0.0, 0.0),))
        design1, y1 = problem.pretrain_design(None, bool(self.pretrain_on_target))
        lam1_max = max(design1.lam_max(y1), 1e-12)
        lam1 = tuple(float(lam1_max * r) for r in np.geomspace(0.3, max(self.lam_min_ratio, 0.3 / 1e3), self.n_lam1))
        family = "full" if strategy == "auto" else strategy
        cells = tuple(c for c in default_cells() if family in cell_strategies(c))
        return Grid(lam1 if self.n_lam1 > 1 else lam1[:1], lam2, cells)

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
        return self._refit_units(hyper), float(res.mean[i, k, j]), fits
