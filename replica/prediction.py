"""``predict``: solve both stages' equations of state (THEORY.md §3) and return errors and order parameters."""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

import numpy as np

from . import stage1 as st1
from . import stage2 as st2
from .correlated import predict_correlated
from .errors import ConvergenceError
from .fixed_point import TOL, extrapolate, newton, solve
from .quadrature import N_NODES
from .setting import Hyperparameters, Setting

_IMPLAUSIBLE = 1e6
_HISTORY = 6  # points a warm-start predictor extrapolates from (a quintic)


@dataclass(frozen=True, kw_only=True)
class Prediction:
    """Replica prediction for one (setting, hyperparameters), returned by :func:`predict`.

    Notation of THEORY.md §3; every value is the N → ∞ limit. Built by :func:`predict` (by
    keyword); frozen.

    Attributes
    ----------
    eps1 : float
        ε^(1st) = σ1² + ρ11 − 2 m11 + Q1, the generalization error of x1 (THEORY.md §3 "Errors").
    eps2 : float
        ε^(2nd) = σ1² + ρ11 − 2κ m11 − 2 m2 + κ² Q1 + 2κ Q12 + Q2, that of κ x1 + x2.
    support1, support2, support_final : float
        Fractions of nonzeros of x1, x2 and κ x1 + x2.
    tpr1, fpr1, tpr2, fpr2 : float
        P(x ≠ 0 | r^(1) ≠ 0) and P(x ≠ 0 | r^(1) = 0) for x1 and x2; 0 when the condition is empty.
    chi1, Q1, chi1_hat, Q1_hat : float
        Stage-1 order parameters χ1, Q1 = E[x1²] and conjugates χ̂1, Q̂1 (THEORY.md §3 "Stage 1").
    m1, m1_hat : tuple of float
        m1k = E[x1 r^(k)] and m̂1k, k = 1..K (``m11`` is ``m1[0]``).
    chi2, Q2, m2, Q12, R21 : float
        Stage-2 order parameters χ2, Q2 = E[x2²], m2 = E[x2 r^(1)], Q12 = E[x1 x2] and the
        cross-response R21 (THEORY.md §3 "Stage 2").
    Q2_hat, m2_hat, m21_hat, chi2_hat, chi12_hat : float
        Stage-2 conjugates Q̂2, m̂2, m̂21, χ̂2, χ̂12.
    residual : float
        max |T(y) − y| over both stages' fixed-point maps, y in solver coordinates.
    iterations : int
        Evaluations of the fixed-point maps.
    setting : Setting
        The setting solved (not compared, not in :meth:`as_dict`).
    hyperparameters : Hyperparameters
        The hyperparameters solved.
    solver_state : SolverState or None
        What a ``warm_start`` from this prediction reuses.
    se : Mapping or None
        For a setting with a design covariance (THEORY.md §7), whose effective problems are averaged
        over sampled draws: the sampling standard error of each quantity of
        :data:`replica.correlated.SE_QUANTITIES` (read-only mapping; not in :meth:`as_dict`). None for
        i.i.d. designs, which are computed without sampling.

    Examples
    --------
    >>> from replica import Hyperparameters, Setting, predict
    >>> p = predict(Setting.two_task(0.5, 1.5, 0.3, 0.3, 0.1, 0.05, 0.05), Hyperparameters(0.5, 0.1, 0.5, 1.0))
    >>> round(p.eps1, 4), round(p.eps2, 4), p.residual <= 1e-10
    (0.1645, 0.1679, True)
    >>> len(p.as_dict()), p.m11 == p.m1[0]
    (27, True)
    """

    eps1: float
    eps2: float
    support1: float
    support2: float
    support_final: float
    tpr1: float
    fpr1: float
    tpr2: float
    fpr2: float
    chi1: float
    Q1: float
    m1: tuple
    Q1_hat: float
    m1_hat: tuple
    chi1_hat: float
    chi2: float
    Q2: float
    m2: float
    Q12: float
    R21: float
    Q2_hat: float
    m2_hat: float
    m21_hat: float
    chi2_hat: float
    chi12_hat: float
    residual: float
    iterations: int
    setting: Setting = field(repr=False, compare=False)
    hyperparameters: Hyperparameters = field(repr=False, compare=False)
    solver_state: SolverState | None = field(default=None, repr=False, compare=False)
    se: Mapping | None = field(default=None, repr=False, compare=False)

    @property
    def m11(self) -> float:
        """m11 = E[x1 r^(1)]."""
        return self.m1[0]

    def as_dict(self) -> dict:
        """The values as a flat dict (``m1``, ``m1_hat`` as lists), without setting, hyperparameters and
        solver state."""
        skip = ("setting", "hyperparameters", "solver_state", "se")
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        d["m1"], d["m1_hat"] = list(self.m1), list(self.m1_hat)
        return d


@dataclass(frozen=True)
class SolverState:
    """What a warm start reuses: solver coordinates y1, y2 at parameters θ, Jacobian estimates of
    both residuals, the stage-1 state, and ``trail``: (θ, y1, y2) of this point and of the points it
    was warm-started from, stacked most recent first (up to ``_HISTORY`` rows), which give a
    polynomial predictor along sweeps."""

    theta: np.ndarray
    y1: np.ndarray
    y2: np.ndarray
    J1: np.ndarray | None
    J2: np.ndarray | None
    stage1: st1.Stage1
    trail: tuple


def _trail(theta, y1, y2, previous: SolverState | None) -> tuple:
    """The trail of a new point: its own row on top of the previous trail, if of the same kind of problem."""
    rows = (theta[None], y1[None], y2[None])
    if previous is None:
        return rows
    thetas, y1s, y2s = previous.trail
    if thetas.shape[1] != theta.size or y1s.shape[1] != y1.size or y2s.shape[1] != y2.size:
        return rows
    n = _HISTORY - 1
    return (
        np.concatenate((rows[0], thetas[:n])),
        np.concatenate((rows[1], y1s[:n])),
        np.concatenate((rows[2], y2s[:n])),
    )


class _Constants:
    """Per-setting quantities predict() needs every call (cached: sweeps call it thousands of times)."""

    def __init__(self, setting: Setting):
        a = np.where(setting.pretrain, setting.alphas, 0.0)
        variances = np.diag(setting.second_moments) + setting.sigmas**2
        self.degenerate = bool(a @ variances == 0)
        self.target_only = bool(setting.pretrain[0] and not np.any(a[1:]))
        self.sig1, self.rho11 = float(setting.sigmas[0]), float(setting.second_moments[0, 0])
        self.scale = float(np.max(np.where(setting.pretrain, variances, 0.0)))
        self.live = ~setting.target_null
        self.log_alphas = np.log(setting.alphas + 1e-12)
        self.inv_pretrain_alpha = 1.0 / float(a.sum()) if a.sum() > 0 else math.inf


_CONSTANTS: weakref.WeakKeyDictionary[Setting, _Constants] = weakref.WeakKeyDictionary()


def _constants(setting: Setting) -> _Constants:
    hit = _CONSTANTS.get(setting)
    if hit is None:
        hit = _CONSTANTS[setting] = _Constants(setting)
    return hit


def _stage1_summary(setting: Setting, s1: st1.Stage1) -> dict:
    """ε^(1st) and the support statistics of x1."""
    w, live, dens = setting.weights, _constants(setting).live, setting.target_density
    support1 = float(w @ s1.P1)
    tp1 = float(w[live] @ s1.P1[live])
    return {
        "eps1": float(setting.sigmas[0] ** 2 + st1.mse(setting, s1)[0]),
        "support1": support1,
        "tpr1": tp1 / dens if dens > 0 else 0.0,
        "fpr1": (support1 - tp1) / (1 - dens) if dens < 1 else 0.0,
    }


def _theta(setting: Setting, hp: Hyperparameters) -> np.ndarray:
    """Sweep coordinates of a problem: log λ, κ, Δλ/(1+Δλ), log α, σ (sweeps are often geometric)."""
    dl = 1.0 if math.isinf(hp.delta_lam) else hp.delta_lam / (1 + hp.delta_lam)
    return np.concatenate(
        [
            [math.log(hp.lam1 + 1e-12), math.log(hp.lam2 + 1e-12), hp.kappa, dl],
            _constants(setting).log_alphas,
            setting.sigmas,
        ]
    )


def _predicted(state: SolverState, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y1, y2) extrapolated to θ by the polynomial through the latest points on the line the sweep
    follows (up to quintic: along smooth sweeps Newton then needs one step instead of two)."""
    thetas, y1s, y2s = state.trail
    if thetas.shape[1] != theta.size:
        return state.y1, state.y2
    return extrapolate(thetas, y1s, y2s, theta)


def _stage1_map(setting: Setting, lam1: float):
    """Stage-1 map in coordinates y = (log χ1, log χ̂1)."""
    packed = st1.Pretraining(setting, lam1).packed
    return lambda y: st1.stage1_T(y, packed)


def _stage2_map(setting, hp, s1, n_nodes):
    """Stage-2 map in O(1)-scaled coordinates y = (log χ2, log χ̂2, R21/(1+χ2), χ̂12/√(χ̂1 χ̂2)).

    The last two exist only when the target is in pretraining; |χ̂12| ≤ √(χ̂1 χ̂2) by Cauchy–Schwarz.
    Returns (T, packed, closure_at, coords): the map, its :class:`replica.stage2.Problem2` as a plain tuple,
    (conjugates, closure) at y (given the map's sums there, if known) and the coordinates of a state.
    """
    with_cross = setting.pretrain_on_target
    static = st2.Static(setting, hp, s1, n_nodes)
    packed = static.packed

    def T(y):
        return st2.stage2_T(y, packed, False)[0]

    def closure_at(y, sums=None):
        conj = st2.Conjugates2(*st2.stage2_inputs(np.asarray(y, float), packed))
        return conj, st2.closure(setting, hp, s1, conj, n_nodes, static, sums)

    def coords(chi2, chi2_hat, R21, chi12_hat):
        out = [math.log(max(chi2, st1.TINY)), math.log(max(chi2_hat, st1.TINY))]
        if with_cross:
            out += [R21 / (1 + chi2), chi12_hat / math.sqrt(s1.chi1_hat * max(chi2_hat, st1.TINY))]
        return np.array(out)

    return T, packed, closure_at, coords


def _lambda_path(target: float, start: float) -> list[float]:
    """Geometric continuation path from ``start`` (where the estimate is ~0) down to ``target``."""
    if target >= start:
        return [target]
    stop = max(target, start * 1e-8)
    n = max(2, int(math.ceil(math.log(start / stop) / math.log(3.0))) + 1)
    path = list(np.geomspace(start, stop, n))
    return path + [target] if target < stop else path


def _solve_stage1(setting, lam1, warm, tol, context):
    """warm: None or (state, predicted y1)."""
    rho = np.diag(setting.second_moments)
    a = np.where(setting.pretrain, setting.alphas, 0.0)
    chi_hat0 = max(float(np.sum(a * (rho + setting.sigmas**2))), 1e-12)  # χ̂1 at x1 = 0, χ1 = 0
    starts, J = [np.log([1.0, chi_hat0 / 4])], None
    if warm is not None:
        starts[:0] = [warm[1], warm[0].y1]
        J = warm[0].J1
    # x1 ≈ 0 once λ1 exceeds ~8 std of h1 = Σ α_k r^(k) + ξ1
    lam_max = 8 * math.sqrt(a @ setting.second_moments @ a + chi_hat0)

    def path():
        return _lambda_path(lam1, lam_max), np.log([1e-12, chi_hat0])

    problem = st1.Pretraining(setting, lam1)
    packed = problem.packed
    evaluations = 0

    def TJ(y, jacobian):
        nonlocal evaluations
        evaluations += 5 if jacobian else 1  # the Jacobian is central differences
        return st1.stage1_TJ(y, packed, jacobian)

    y, res, _, J_new, _ = newton(TJ, starts[0], tol)
    it = evaluations
    if res <= tol:
        J = J_new
    else:
        y, res, it2, J = solve(lambda lam: _stage1_map(setting, lam), lam1, starts, "stage 1", tol, context, path, J)
        it += it2
    # the map's own (χ1, χ̂1) equal the input up to the residual; use them consistently downstream
    return problem.state(*problem.map(*np.exp(y))), y, res, it, J


def _repeats_stage1(setting: Setting, hp: Hyperparameters) -> bool:
    """Stage 2 is stage 1 again: target-only pretraining, κ = 0 and λ2 = λ1. Then x2 = x1 for any
    Δλ ≥ 0 (x1 meets the weighted problem's optimality conditions: off its support the bound only
    loosens). Solving it would put the root on the edge χ̂12 = √(χ̂1 χ̂2) of the coordinates."""
    return _constants(setting).target_only and hp.kappa == 0 and hp.lam2 == hp.lam1


def _stage1_as_stage2(setting, hp, s1, coords):
    summary = _stage1_summary(setting, s1)
    support = summary["support1"]
    conj = st2.Conjugates2(setting.alphas[0] / (1 + s1.chi1), float(s1.m1_hat[0]), 0.0, s1.chi1_hat, s1.chi1_hat)
    cl = st2.Closure2(
        chi2=s1.chi1,
        Q2=s1.Q1,
        m2=float(s1.m1[0]),
        Q12=s1.Q1,
        R21=0.0,
        E_xi1_x2=s1.chi1 * s1.chi1_hat,
        support2=support,
        tpr2=summary["tpr1"],
        fpr2=summary["fpr1"],
        support_final=support,
    )
    return conj, cl, coords(cl.chi2, conj.chi2_hat, 0.0, conj.chi12_hat)


def _solve_stage2(setting, hp, s1, warm, tol, context, n_nodes):
    """warm: None or (state, predicted y2)."""
    T, packed, closure_at, coords = _stage2_map(setting, hp, s1, n_nodes)
    usable = warm is not None and warm[0].y2.size == (4 if setting.pretrain_on_target else 2)
    if _repeats_stage1(setting, hp):
        conj, cl, y = _stage1_as_stage2(setting, hp, s1, coords)
        return conj, cl, y, 0.0, 0, None

    def cold_start():
        """Stage 1's own state: exact when stage 2 repeats stage 1."""
        f = setting.alphas[0] * _constants(setting).inv_pretrain_alpha
        return coords(s1.chi1, s1.chi1_hat * f, 0.0, f * s1.chi1_hat if setting.pretrain_on_target else 0.0)

    y, res, it, J_new, sums = newton(
        lambda y, jac: st2.stage2_T(y, packed, jac), warm[1] if usable else cold_start(), tol
    )
    if res <= tol:
        return (*closure_at(y, sums), y, res, it, J_new)
    starts, J = ([warm[1], warm[0].y2, cold_start()], warm[0].J2) if usable else ([cold_start()], None)

    def T_of(lam2):
        return T if lam2 == hp.lam2 else _stage2_map(setting, replace(hp, lam2=lam2), s1, n_nodes)[0]

    def path():
        empty = st2.conjugates(setting, hp, s1, 0.0, 0.0, 0.0, 0.0, 0.0)  # x2 = 0
        lam_max = 8 * math.sqrt(
            empty.m2_hat**2 * setting.second_moments[0, 0]
            + empty.m21_hat**2 * s1.Q1
            + 2 * abs(empty.m2_hat * empty.m21_hat * s1.m1[0])
            + empty.chi2_hat
        )
        return _lambda_path(hp.lam2, lam_max), coords(1e-12, empty.chi2_hat, 0.0, empty.chi12_hat)

    y, res, it2, J = solve(T_of, hp.lam2, starts, "stage 2", tol, context, path, J)
    return (*closure_at(y), y, res, it + it2, J)


def predict(
    setting: Setting,
    hyperparameters: Hyperparameters,
    warm_start: Prediction | None = None,
    tol: float = TOL,
    n_nodes: int = N_NODES,
) -> Prediction:
    """Solve the stage-1 and stage-2 equations of state (THEORY.md §3) and return the errors.

    Stage 1's fixed point (χ1, χ̂1) is closed form per mixture component; stage 2's
    (χ2, χ̂2, R21, χ̂12) uses the quadrature of THEORY.md §4. Both are solved by Newton's method
    with fallbacks (:mod:`replica.fixed_point`); ε^(1st), ε^(2nd) follow from THEORY.md §3 "Errors".
    A setting with a design covariance (:meth:`Setting.with_covariance`) is solved by
    :func:`replica.correlated.predict_correlated` (THEORY.md §7): its effective problems are averaged
    over fixed-seed draws, and the prediction's ``se`` gives the sampling standard errors.

    Parameters
    ----------
    setting : Setting
        The data model (THEORY.md §1).
    hyperparameters : Hyperparameters
        (λ1, λ2, κ, Δλ) (THEORY.md §2).
    warm_start : Prediction, optional
        A previous prediction (e.g. the neighbour in a sweep) to start from: its stage 1 is reused
        when λ1 and the setting are unchanged, and the solver coordinates are extrapolated along
        the sweep.
    tol : float, default 1e-10
        Required max |T(y) − y| of both fixed-point maps.
    n_nodes : int, default 12
        Gauss–Legendre nodes per panel of the stage-2 quadrature.

    Returns
    -------
    Prediction
        Errors, support statistics, every order parameter and conjugate.

    Raises
    ------
    ValueError
        If ``setting`` or ``hyperparameters`` has the wrong type, or every pretraining response is
        identically zero.
    ConvergenceError
        If either stage does not converge to ``tol`` (with ``.diagnostics``); never returns NaN.

    Examples
    --------
    >>> from replica import Hyperparameters, Setting, predict
    >>> s = Setting.two_task(0.5, 1.5, 0.3, 0.3, 0.1, 0.05, 0.05)
    >>> p = predict(s, Hyperparameters(lam1=0.5, lam2=0.1, kappa=0.5, delta_lam=1.0))
    >>> round(p.eps2, 4), round(p.support2, 4)
    (0.1679, 0.203)
    >>> q = predict(s, Hyperparameters(0.5, 0.11, 0.5, 1.0), warm_start=p)  # a sweep step
    >>> q.iterations < p.iterations
    True
    """
    if not isinstance(setting, Setting):
        raise ValueError(f"setting must be a replica.Setting, got {type(setting).__name__}")
    if not isinstance(hyperparameters, Hyperparameters):
        raise ValueError(f"hyperparameters must be a replica.Hyperparameters, got {type(hyperparameters).__name__}")
    hp = hyperparameters
    const = _constants(setting)
    if const.degenerate:
        raise ValueError("degenerate setting: every pretraining response is identically zero (r^(k) = 0, σ_k = 0)")

    if setting.covariance is not None:
        return predict_correlated(setting, hp, warm_start, tol)

    def context():
        return {"setting": repr(setting), "hyperparameters": hp.as_dict()}

    theta = _theta(setting, hp)
    state = warm_start.solver_state if warm_start is not None else None
    if not isinstance(state, SolverState):  # e.g. a correlated-design prediction
        state = None
    y1_pred, y2_pred = _predicted(state, theta) if state is not None else (None, None)
    if (
        state is not None
        and warm_start.hyperparameters.lam1 == hp.lam1
        and warm_start.residual <= tol
        and (warm_start.setting is setting or warm_start.setting.as_dict() == setting.as_dict())
    ):
        # stage 1 depends on λ1 only: reuse it (its residual is bounded by the previous one)
        s1, y1, res1, it1, J1 = state.stage1, state.y1, warm_start.residual, 0, state.J1
        summary1 = {
            "eps1": warm_start.eps1,
            "support1": warm_start.support1,
            "tpr1": warm_start.tpr1,
            "fpr1": warm_start.fpr1,
        }
    else:
        s1, y1, res1, it1, J1 = _solve_stage1(
            setting, hp.lam1, None if state is None else (state, y1_pred), tol, context
        )
        summary1 = _stage1_summary(setting, s1)
    conj, cl, y2, res2, it2, J2 = _solve_stage2(
        setting, hp, s1, None if state is None else (state, y2_pred), tol, context, n_nodes
    )

    k, sig1, rho11 = hp.kappa, const.sig1, const.rho11
    m11 = float(s1.m1[0])
    eps2 = sig1**2 + rho11 - 2 * k * m11 - 2 * cl.m2 + k**2 * s1.Q1 + 2 * k * cl.Q12 + cl.Q2
    pred = Prediction(
        **summary1,
        eps2=float(eps2),
        support2=float(cl.support2),
        support_final=float(cl.support_final),
        tpr2=float(cl.tpr2),
        fpr2=float(cl.fpr2),
        chi1=float(s1.chi1),
        Q1=float(s1.Q1),
        m1=tuple(map(float, s1.m1)),
        Q1_hat=float(s1.Q1_hat),
        m1_hat=tuple(map(float, s1.m1_hat)),
        chi1_hat=float(s1.chi1_hat),
        chi2=float(cl.chi2),
        Q2=float(cl.Q2),
        m2=float(cl.m2),
        Q12=float(cl.Q12),
        R21=float(cl.R21),
        Q2_hat=float(conj.Q2_hat),
        m2_hat=float(conj.m2_hat),
        m21_hat=float(conj.m21_hat),
        chi2_hat=float(conj.chi2_hat),
        chi12_hat=float(conj.chi12_hat),
        residual=float(max(res1, res2)),
        iterations=int(it1 + it2),
        setting=setting,
        hyperparameters=hp,
        solver_state=SolverState(theta, y1, y2, J1, J2, s1, _trail(theta, y1, y2, state)),
    )
    core = (
        pred.eps1,
        pred.eps2,
        pred.support1,
        pred.support2,
        pred.chi1,
        pred.chi2,
        pred.Q1,
        pred.Q2,
        pred.m2,
        pred.Q12,
        pred.R21,
        pred.chi1_hat,
        pred.chi2_hat,
        pred.chi12_hat,
    )
    if not math.isfinite(sum(core)):  # NaN or ±inf anywhere
        raise ConvergenceError(
            "non-finite order parameters at the fixed point",
            {"stage": "final", "residual": pred.residual, "iterations": pred.iterations, **pred.as_dict(), **context()},
        )
    # Errors are O(σ1² + ρ11 + (1+κ²)·scale of the pretraining data); a root a million times worse is
    # one at infinity of the log-coordinates, not an estimator.
    if max(pred.eps1, pred.eps2) > _IMPLAUSIBLE * (sig1**2 + rho11 + (1 + k**2) * const.scale):
        raise ConvergenceError(
            "implausible fixed point (error far above that of the zero estimate)",
            {"stage": "final", "residual": pred.residual, "iterations": pred.iterations, **pred.as_dict(), **context()},
        )
    return pred
