"""Stage 2 (fine-tuning Lasso): conjugates, closure and compiled fixed-point map (THEORY.md §3 "Stage 2").

Per mixture component, h1 ~ N(a, s²); given h1, u = m̂2 r^(1) + ξ2 is Gaussian with mean
linear in h1, and h2 = u + m̂21 x1(h1). The inner expectation over h2 is closed form
(:func:`replica.gaussian.threshold_moments`); the outer one over h1 is the composite
Gauss–Legendre rule of :mod:`replica.quadrature`, split at h1 = ±λ1 and at the crossings of ±λ2
(THEORY.md §4), summed in :func:`stage2_sums`. :func:`stage2_T` is the whole map in solver
coordinates with its Jacobian; the compiled functions take their parameters as one
:class:`Problem2` bundle.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numba import njit

from .gaussian import INV_SQRT_2PI, threshold_moments
from .quadrature import N_NODES, NARROW, Rule, breaks, rule
from .setting import Hyperparameters, Setting
from .stage1 import TINY, Stage1, mse

_jit = njit(cache=True, error_model="numpy")  # x/0 gives inf/NaN: the root finders treat it as "undefined"


@dataclass(frozen=True)
class Conjugates2:
    """Q̂2, m̂2, m̂21, χ̂2, χ̂12 of THEORY.md §3 Stage 2."""

    Q2_hat: float
    m2_hat: float
    m21_hat: float
    chi2_hat: float
    chi12_hat: float


@dataclass(frozen=True)
class Closure2:
    """Stage-2 order parameters and support statistics from one pass of the closure."""

    chi2: float
    Q2: float
    m2: float
    Q12: float
    R21: float
    E_xi1_x2: float
    support2: float
    tpr2: float
    fpr2: float
    support_final: float


class Constants2(NamedTuple):
    """What the stage-2 conjugates take from the setting, κ and stage 1: α1, σ1, ρ11, m11, Q1, χ1,
    κ, ``cross`` (target in P), χ̂1, and E1 = E[(x1 − r^(1))²] (cancellation-free, :func:`replica.stage1.mse`)."""

    alpha1: float
    sigma1: float
    rho11: float
    m11: float
    Q1: float
    chi1: float
    kappa: float
    cross: bool
    chi1_hat: float
    E1: float


class Fields(NamedTuple):
    """Per live mixture component: weight ``w``, mean ``a`` and std ``s`` of h1, mean ``mu1`` and
    variance ``S11`` of r^(1), γ = Cov(r^(1), h1) ``g1``, and ``nonnull`` = 1[r^(1) ≠ 0]."""

    w: np.ndarray
    a: np.ndarray
    s: np.ndarray
    mu1: np.ndarray
    S11: np.ndarray
    g1: np.ndarray
    nonnull: np.ndarray


# Everything the compiled stage-2 map takes besides the solver coordinates, one flat bundle (its
# fields are those of Constants2, the penalties and Q̂1, Fields and the Rule, in that order).
Problem2 = NamedTuple(
    "Problem2",
    [
        *Constants2.__annotations__.items(),
        *((name, float) for name in ("lam1", "lam2", "delta_lam", "Q1_hat")),
        *Fields.__annotations__.items(),
        *(("gl_" + name, kind) for name, kind in Rule.__annotations__.items()),
    ],
)
Problem2.__doc__ = """Everything the compiled stage-2 map takes besides the solver coordinates, one flat bundle:
the fields of :class:`Constants2`, the penalties ``lam1``, ``lam2``, ``delta_lam`` and ``Q1_hat``,
the :class:`Fields` of the components and the quadrature :class:`~replica.quadrature.Rule`
(prefixed ``gl_``: nodes ``gl_x``, weights ``gl_w``, ``gl_narrow``, ``gl_panel``, ``gl_z_max``,
``gl_grading``).

:func:`stage2_T` also takes the plain tuple of its fields (:attr:`Static.packed`) and rebuilds
the bundle in compiled code: numba types a plain tuple argument in C, a NamedTuple in Python
(slower, and the map itself is cheap: benchmarks/bench_predict.md).
"""


def conjugates(
    setting: Setting, hp: Hyperparameters, s1: Stage1, chi2: float, R21: float, Q2: float, m2: float, Q12: float
) -> Conjugates2:
    """Q̂2 = α1/(1+χ2), m̂2 = α1 E[∂g2/∂v], m̂21 = α1 E[∂g2/∂ω1], χ̂2 = α1 E[g2²], χ̂12 = α1 E[g1 g2]."""
    return Conjugates2(*conjugates_of(_constants2(setting, hp, s1), chi2, R21, Q2, m2, Q12))


def _constants2(setting: Setting, hp: Hyperparameters, s1: Stage1) -> Constants2:
    return Constants2(
        float(setting.alphas[0]),
        float(setting.sigmas[0]),
        float(setting.second_moments[0, 0]),
        float(s1.m1[0]),
        float(s1.Q1),
        float(s1.chi1),
        hp.kappa,
        bool(setting.pretrain_on_target),
        float(s1.chi1_hat),
        float(mse(setting, s1)[0]),
    )


_FIELDS: weakref.WeakKeyDictionary[Stage1, Fields] = weakref.WeakKeyDictionary()


def _component_fields(setting: Setting, s1: Stage1) -> Fields:
    """The :class:`Fields` of the live components, cached per stage-1 state (warm sweeps keep it)."""
    hit = _FIELDS.get(s1)
    if hit is None:
        live = setting.weights > 0
        hit = _FIELDS[s1] = Fields(
            *(
                np.ascontiguousarray(v, dtype=float)
                for v in (
                    setting.weights[live],
                    s1.h1_mean[live],
                    s1.h1_std[live],
                    setting.means[live, 0],
                    setting.covs[live, 0, 0],
                    s1.cov_r_h1[live, 0],
                    ~setting.target_null[live],
                )
            )
        )
    return hit


class Static:
    """What the stage-2 closure needs that is fixed once stage 1 and the hyperparameters are: the
    :class:`Problem2` bundle of the compiled map (live components only), as a plain tuple
    (``packed``, for the hot calls) and as the NamedTuple (``problem``)."""

    def __init__(self, setting: Setting, hp: Hyperparameters, s1: Stage1, n_nodes: int = N_NODES):
        self.setting, self.hp, self.s1, self.n_nodes = setting, hp, s1, n_nodes
        # in Problem2's field order; built positionally: predict() builds one per solve
        self.packed = (
            *_constants2(setting, hp, s1),
            hp.lam1,
            hp.lam2,
            hp.delta_lam,
            float(s1.Q1_hat),
            *_component_fields(setting, s1),
            *rule(n_nodes, NARROW),
        )

    @property
    def problem(self) -> Problem2:
        """The bundle, as a :class:`Problem2`."""
        return Problem2._make(self.packed)


def closure(
    setting: Setting,
    hp: Hyperparameters,
    s1: Stage1,
    conj: Conjugates2,
    n_nodes: int = N_NODES,
    static: Static | None = None,
    sums: np.ndarray | None = None,
) -> Closure2:
    """One pass of the stage-2 closure (THEORY.md §3):

    χ2 = E[1{|h2| > λ2,i}]/Q̂2, Q2 = E[x2²], m2 = E[x2 r^(1)], Q12 = E[x1 x2],
    R21 = E[ξ1 x2]/χ̂1 − (χ̂12/χ̂1) χ2, with x2 = soft(h2; λ2 + Δλ·1[x1 = 0])/Q̂2.
    ``static``: a :class:`Static` of the same (setting, hp, s1), reused across a fixed-point solve;
    ``sums``: :func:`stage2_sums` at ``conj`` when already computed.
    """
    st = static if static is not None else Static(setting, hp, s1, n_nodes)
    Q2_hat, chi1_hat, chi12_hat = conj.Q2_hat, s1.chi1_hat, conj.chi12_hat
    if sums is None:
        theta = (conj.m2_hat, conj.m21_hat, conj.chi2_hat, chi12_hat)
        sums, _ = stage2_sums(st.problem, conditional_fields(st.problem, theta), theta, False)
    support2, xi1_x2, S2, r1_x2, x1_x2, tp2, support_final = sums[:7].tolist()  # Python floats: faster below
    chi2 = support2 / Q2_hat
    E_xi1_x2 = xi1_x2 / Q2_hat
    R21 = (E_xi1_x2 - chi12_hat * chi2) / chi1_hat if setting.pretrain_on_target else 0.0
    dens = setting.target_density
    if hp.kappa == 0:
        support_final = support2
    return Closure2(
        chi2=chi2,
        Q2=S2 / Q2_hat**2,
        m2=r1_x2 / Q2_hat,
        Q12=x1_x2 / Q2_hat,
        R21=R21,
        E_xi1_x2=E_xi1_x2,
        support2=support2,
        tpr2=tp2 / dens if dens > 0 else 0.0,
        fpr2=(support2 - tp2) / (1 - dens) if dens < 1 else 0.0,
        support_final=support_final,
    )


# ---- the compiled map: predict() evaluates it (on ~10³ quadrature nodes) with its Jacobian ----


@_jit
def g2_coefficients(kappa, R21, chi1, chi2, cross):
    """(a_v, a_1, a_2): g2 = a_v v + a_1 ω1 + a_2 ω2 + a_v e, from the two forms of g2 in THEORY.md §3.

    Target in P: g2 = [(1−κ) y − ω2 + (κ − R21) g1]/(1+χ2), g1 = (y − ω1)/(1+χ1).
    Target not in P: g2 = (y − κ ω1 − ω2)/(1+χ2) (the same with (κ − R21)/(1+χ1) → κ).
    """
    b = (kappa - R21) / (1.0 + chi1) if cross else kappa
    return (1.0 - kappa + b) / (1.0 + chi2), -b / (1.0 + chi2), -1.0 / (1.0 + chi2)


@_jit
def conjugates_of(k, chi2, R21, Q2, m2, Q12):
    """(Q̂2, m̂2, m̂21, χ̂2, χ̂12) of :func:`conjugates`, with k a :class:`Constants2` or :class:`Problem2`."""
    a0, a1, a2 = g2_coefficients(k.kappa, R21, k.chi1, chi2, k.cross)
    # a @ C @ a with C = [[ρ11, m11, m2], [m11, Q1, Q12], [m2, Q12, Q2]]
    Ca0 = k.rho11 * a0 + k.m11 * a1 + m2 * a2
    Ca1 = k.m11 * a0 + k.Q1 * a1 + Q12 * a2
    Ca2 = m2 * a0 + Q12 * a1 + Q2 * a2
    chi2_hat = k.alpha1 * (a0 * Ca0 + a1 * Ca1 + a2 * Ca2 + a0 * a0 * k.sigma1 * k.sigma1)
    chi12_hat = 0.0
    if k.cross:
        chi12_hat = k.alpha1 * ((Ca0 - Ca1) + a0 * k.sigma1 * k.sigma1) / (1.0 + k.chi1)
    return k.alpha1 / (1.0 + chi2), k.alpha1 * a0, k.alpha1 * a1, chi2_hat, chi12_hat


@_jit
def stage2_inputs(y, k):
    """(Q̂2, m̂2, m̂21, χ̂2, χ̂12) at solver coordinates y of the problem ``k`` (a :class:`Problem2` or
    the plain tuple of its fields; see :func:`stage2_T`)."""
    k = Problem2(*k)
    chi2 = math.exp(min(max(y[0], -700.0), 700.0))
    chi2_hat = math.exp(min(max(y[1], -700.0), 700.0))
    R21 = y[2] * (1.0 + chi2) if k.cross else 0.0
    chi12_hat = y[3] * math.sqrt(k.chi1_hat * chi2_hat) if k.cross else 0.0
    Q2_hat, m2_hat, m21_hat, _, _ = conjugates_of(k, chi2, R21, 0.0, 0.0, 0.0)
    return Q2_hat, m2_hat, m21_hat, chi2_hat, chi12_hat


@_jit
def stage2_outputs(y, sums, Q2_hat, m21_hat, chi12_hat, k):
    """The new solver coordinates from the closure's sums at the conjugates of y (see :func:`stage2_T`).

    χ̂2' and χ̂12' come from the cancellation-free form of THEORY.md §3 "Stage 2": with
    b = (κ − R21)/(1+χ1) (κ if the target is not in P) at y and b' at the new R21', and
    D = ξ2 − clip(h2; λ2,i) (so that Q̂2 x2 = m̂2 r^(1) + m̂21 x1 + D),

        χ̂2'  = α1 [δ² E1 − 2δ E[(r − x1) D]/Q̂2 + E[D²]/Q̂2² + (1−κ+b')² σ1²] / (1+χ2')²
        χ̂12' = α1 [δ E1 − E[(r − x1) D]/Q̂2 + (1−κ+b') σ1²] / ((1+χ1)(1+χ2')),   δ = b' − b,

    equal to α1 E[g2²] and α1 E[g1 g2] of the order parameters, whose quadratic forms cancel to
    ~1e-8 of their terms in noiseless, small-λ problems; every term here is small itself.
    """
    chi2_new = sums[0] / Q2_hat
    R21_new = (sums[1] / Q2_hat - chi12_hat * chi2_new) / k.chi1_hat if k.cross else 0.0
    W, X = sums[7] / (Q2_hat * Q2_hat), sums[8] / Q2_hat
    a0 = 1.0 - k.kappa
    if k.cross:
        b_new = (k.kappa - R21_new) / (1.0 + k.chi1)
        delta = b_new + m21_hat / Q2_hat  # b = −m̂21/Q̂2
        a0 += b_new
    else:
        delta = 0.0
        a0 += k.kappa
    sig2 = k.sigma1 * k.sigma1
    scale = k.alpha1 / (1.0 + chi2_new)
    chi2_hat_new = scale * (delta * (delta * k.E1 - 2.0 * X) + W + a0 * a0 * sig2) / (1.0 + chi2_new)
    chi12_hat_new = scale * (delta * k.E1 - X + a0 * sig2) / (1.0 + k.chi1) if k.cross else 0.0
    out = np.empty(y.size)
    out[0], out[1] = math.log(max(chi2_new, TINY)), math.log(max(chi2_hat_new, TINY))
    if k.cross:
        out[2] = R21_new / (1.0 + chi2_new)
        out[3] = chi12_hat_new / math.sqrt(k.chi1_hat * max(chi2_hat_new, TINY))
    return out


@_jit
def stage2_T(y, p, jacobian):
    """The stage-2 map in solver coordinates y = (log χ2, log χ̂2[, R21/(1+χ2), χ̂12/√(χ̂1 χ̂2)])
    of the problem ``p`` (a :class:`Problem2` or the plain tuple of its fields): conjugates of y,
    closure, new conjugates.

    Returns (T(y), J, sums) with J = dT/dy if ``jacobian`` (else zeros) and the closure's sums at y.
    J is exact in the closure's sums (:func:`stage2_sums`' derivatives) and central differences of the
    cheap scalar maps around them, accurate to ~1e-9: plenty for Newton steps.
    """
    p = Problem2(*p)
    k = p
    Q2_hat, m2_hat, m21_hat, chi2_hat, chi12_hat = stage2_inputs(y, k)
    theta = (m2_hat, m21_hat, chi2_hat, chi12_hat)
    sums, d_sums = stage2_sums(p, conditional_fields(p, theta), theta, jacobian)
    out = stage2_outputs(y, sums, Q2_hat, m21_hat, chi12_hat, k)
    n = y.size
    J = np.zeros((n, n))
    if jacobian:
        d_sums = _with_d_clip_sums(d_sums, sums, theta, k)
        theta0 = np.array([m2_hat, m21_hat, chi2_hat, chi12_hat])
        h = 1e-6
        for i in range(n):
            col = np.zeros(n)
            for sign in (1.0, -1.0):
                yi = y.copy()
                yi[i] += sign * h
                Qh, m2h, m21h, c2h, c12h = stage2_inputs(yi, k)
                lin = sums + d_sums @ (np.array([m2h, m21h, c2h, c12h]) - theta0)
                col += sign * stage2_outputs(yi, lin, Qh, m21h, c12h, k)
            for r in range(n):  # not J[:, i] = ...: numba compiles a slice assignment's shape error (~2 s)
                J[r, i] = col[r] / (2 * h)
    return out, J, sums


@_jit
def _with_d_clip_sums(d_sums, sums, theta, k):
    """∂ sums/∂θ for every sum, rows 7–8 (E[D²], E[(r − x1) D]) from rows 2–4: with
    D = soft(h2) − m̂2 r − m̂21 x1, ∂E[D²]/∂θ = ∂Σ S2 − 2 m̂2 ∂Σ S1 r − 2 m̂21 ∂Σ S1 x1 − 2 E[(r, x1)·D] ∂(m̂2, m̂21),
    and ∂E[(r − x1) D]/∂θ = ∂Σ S1 r − ∂Σ S1 x1 − E[(r − x1)(r, x1)] ∂(m̂2, m̂21). Rows 5, 6, 9 stay zero."""
    m2_hat, m21_hat = theta[0], theta[1]
    out = np.zeros((sums.size, 4))
    X, Xx = sums[8], sums[9]
    for j in range(4):
        for i in range(5):
            out[i, j] = d_sums[i, j]
        out[7, j] = d_sums[2, j] - 2.0 * (m2_hat * d_sums[3, j] + m21_hat * d_sums[4, j])
        out[8, j] = d_sums[3, j] - d_sums[4, j]
    out[7, 0] -= 2.0 * (X + Xx)  # E[r D] = E[(r − x1) D] + E[x1 D]
    out[7, 1] -= 2.0 * Xx
    out[8, 0] -= k.rho11 - k.m11  # E[(r − x1) r]
    out[8, 1] -= k.m11 - k.Q1  # E[(r − x1) x1]
    return out


@_jit
def conditional_fields(p, theta):
    """Per component, given h1 = a + s z and θ = (m̂2, m̂21, χ̂2, χ̂12): std τ of u = m̂2 r^(1) + ξ2,
    its slope in z, and Cov(r^(1), u | h1), Cov(ξ1, u | h1)."""
    f, chi1_hat = p, p.chi1_hat
    m2_hat, _, chi2_hat, chi12_hat = theta
    C = f.a.size
    tau, slope_u, cov_r1_u, cov_xi1_u = np.empty(C), np.empty(C), np.empty(C), np.empty(C)
    for c in range(C):
        s2 = f.s[c] * f.s[c]
        cov_uh = m2_hat * f.g1[c] + chi12_hat  # Cov(u, h1)
        tau[c] = math.sqrt(max(m2_hat * m2_hat * f.S11[c] + chi2_hat - cov_uh * cov_uh / s2, 0.0))
        cov_r1_u[c] = m2_hat * f.S11[c] - f.g1[c] * cov_uh / s2
        cov_xi1_u[c] = chi12_hat - chi1_hat * cov_uh / s2
        slope_u[c] = cov_uh / f.s[c]
    return tau, slope_u, cov_r1_u, cov_xi1_u


@_jit
def stage2_sums(p, cond, theta, deriv):
    """Node sums of the stage-2 closure of problem ``p``, one Gauss–Legendre rule per mixture component.

    ``cond``: :func:`conditional_fields` at θ = (m̂2, m̂21, χ̂2, χ̂12).
    Returns (sums, d_sums): sums = [Σ P, Σ S1 E[ξ1|h1] + P Cov(ξ1,u|h1), Σ S2, Σ S1 E[r|h1] + P Cov(r,u|h1),
    Σ S1 x1, Σ P 1[r ≠ 0], Σ (1[x1 ≠ 0] or P), Σ E[D²|h1], Σ E[(r − x1) D|h1], Σ x1 E[D|h1]] with
    weights of N(0,1) × the mixture weight, D = ξ2 − clip(h2; λ2,i) (see :func:`stage2_outputs`);
    if ``deriv``, d_sums[i, j] = ∂ sums[i]/∂θ_j for i < 5, else zeros. The breakpoints move with θ
    too, but the integrands are continuous there, so only the integrands count.
    """
    a, s, mu1, g1, nonnull, wc = p.a, p.s, p.mu1, p.g1, p.nonnull, p.w
    tau, slope_u, cov_r1_u, cov_xi1_u = cond
    m2_hat, m21_hat, chi2_hat, chi12_hat = theta
    lam1, lam2, delta_lam, Q1_hat, chi1_hat = p.lam1, p.lam2, p.delta_lam, p.Q1_hat, p.chi1_hat
    gl_x, gl_w, panel, z_max = p.gl_x, p.gl_w, p.gl_panel, p.gl_z_max
    out = np.zeros(10)
    d_out = np.zeros((5, 4))
    outer_slope = s / Q1_hat
    n_gl = gl_x.size
    acc = np.zeros(9)
    # derivative accumulators: Σ Pμ{1, z, x1}, Σ Pτ, Σ P{z, x1, z², z x1, x1²}, Σ S1τ{1, z, x1}
    dacc = np.zeros(12)
    for c in range(a.size):
        z_lam0, z_lam1 = (-lam1 - a[c]) / s[c], (lam1 - a[c]) / s[c]
        c0m = m2_hat * mu1[c]
        c1_out = slope_u[c] + m21_hat * outer_slope[c]
        c0 = (c0m + m21_hat * (a[c] + lam1) / Q1_hat, c0m, c0m + m21_hat * (a[c] - lam1) / Q1_hat)
        c1 = (c1_out, slope_u[c], c1_out)
        targets = (lam2, lam2 + delta_lam, lam2)
        b = breaks(z_lam0, z_lam1, c0, c1, tau[c], targets, p.gl_narrow, panel, z_max, p.gl_grading)
        # a zero-mean component has an even integrand (P, S2 even; S1 and the fields odd in z) and a
        # symmetric rule: integrate z ≥ 0 twice
        sym = a[c] == 0.0 and mu1[c] == 0.0
        z_lo = 0.0 if sym else -z_max
        b = b[(b > z_lo) & (b < z_max)]
        edges = np.empty(b.size + 2)
        edges[0], edges[-1] = z_lo, z_max
        # insertion sort of the few breakpoints into edges[1:-1]: np.sort costs 1.4 s of compiling
        for i in range(b.size):
            j = i
            while j >= 1 and edges[j] > b[i]:
                edges[j + 1] = edges[j]
                j -= 1
            edges[j + 1] = b[i]
        # given h1: E[ξ2] = e_slope z, Var ξ2, Cov(ξ2, u) = Cov(ξ2, h2), Cov(r, ξ2), E[r] = μ1 + r_slope z
        s2 = s[c] * s[c]
        e_slope, r_slope = chi12_hat / s[c], g1[c] / s[c]
        var_xi2 = chi2_hat - chi12_hat * chi12_hat / s2
        cov_xi2_u = chi2_hat - chi12_hat * (m2_hat * g1[c] + chi12_hat) / s2
        cov_r_xi2 = -g1[c] * chi12_hat / s2
        # Σ w P, Σ w S1, Σ w S1 z, Σ w S2, Σ w S1 x1, Σ w (1 or P); per-panel partial sums keep the
        # rounding of ~10³ terms at that of ~10² (the errors later lose digits to cancellation)
        acc[:] = 0.0
        dacc[:] = 0.0
        for e in range(edges.size - 1):
            length = edges[e + 1] - edges[e]
            if length <= 0.0:
                continue
            n_sub = int(math.ceil(length / panel - 1e-12))
            h = length / n_sub
            for j in range(n_sub):
                left = edges[e] + h * j
                pP = pS1 = pS1z = pS2 = pS1x1 = pfin = pW = pX = pXx = 0.0
                d0 = d1 = d2 = d3 = d4 = d5 = d6 = d7 = d8 = d9 = d10 = d11 = 0.0
                for k in range(n_gl):
                    z = left + 0.5 * h * (gl_x[k] + 1.0)
                    wz = 0.5 * h * gl_w[k] * INV_SQRT_2PI * math.exp(-0.5 * z * z)
                    h1 = a[c] + s[c] * z
                    out_ = abs(h1) > lam1
                    x1 = math.copysign(abs(h1) - lam1, h1) / Q1_hat if out_ else 0.0
                    lam_eff = lam2 if out_ else lam2 + delta_lam
                    mu = c0m + slope_u[c] * z + m21_hat * x1
                    P, S1, S2, P_mu, P_tau, S1_tau, P_in, C1, C2 = threshold_moments(mu, tau[c], lam_eff)
                    if deriv:
                        wPmu, wP, wS1tau = wz * P_mu, wz * P, wz * S1_tau
                        d0 += wPmu
                        d1 += wPmu * z
                        d2 += wPmu * x1
                        d3 += wz * P_tau
                        d4 += wP * z
                        d5 += wP * x1
                        d6 += wP * z * z
                        d7 += wP * z * x1
                        d8 += wP * x1 * x1
                        d9 += wS1tau
                        d10 += wS1tau * z
                        d11 += wS1tau * x1
                    pP += wz * P
                    pS1 += wz * S1
                    pS1z += wz * S1 * z
                    pS2 += wz * S2
                    pS1x1 += wz * S1 * x1
                    pfin += wz if out_ else wz * P
                    # D = ξ2 − clip(h2): E[D|h1] and, by Stein, E[D²|h1], E[r D|h1] from the clip moments
                    xi2 = e_slope * z
                    eD = xi2 - C1
                    pW += wz * (var_xi2 + xi2 * (xi2 - 2.0 * C1) + C2 - 2.0 * cov_xi2_u * P_in)
                    pX += wz * ((mu1[c] + r_slope * z - x1) * eD + cov_r_xi2 - cov_r1_u[c] * P_in)
                    pXx += wz * x1 * eD
                acc += np.array((pP, pS1, pS1z, pS2, pS1x1, pfin, pW, pX, pXx))
                if deriv:
                    dacc += np.array((d0, d1, d2, d3, d4, d5, d6, d7, d8, d9, d10, d11))
        w = 2.0 * wc[c] if sym else wc[c]
        sP, sS1, sS1z, sS2, sS1x = acc[0], acc[1], acc[2], acc[3], acc[4]
        out[0] += w * sP
        out[1] += w * ((chi1_hat / s[c]) * sS1z + sP * cov_xi1_u[c])  # E[ξ1 | h1] = χ̂1 z / s
        out[2] += w * sS2
        out[3] += w * (mu1[c] * sS1 + (g1[c] / s[c]) * sS1z + sP * cov_r1_u[c])  # E[r | h1] = μ + γ z / s
        out[4] += w * sS1x
        out[5] += w * sP * nonnull[c]
        out[6] += w * acc[5]
        out[7] += w * acc[6]
        out[8] += w * acc[7]
        out[9] += w * acc[8]
        if deriv:
            if sym:  # odd integrands integrate to zero over the whole line
                dacc[0] = dacc[4] = dacc[5] = dacc[9] = 0.0
            _sum_derivatives(d_out, dacc, w, (sP, sS1, sS1z, sS1x), p, cond, theta, c)
    return out, d_out


@njit(cache=True, inline="always")
def _sum_derivatives(d_out, dacc, w, part, p, cond, theta, c):
    """Add component c's ∂ sums/∂θ to d_out (``part`` = its Σ P, Σ S1, Σ S1 z, Σ S1 x1). Given h1,
    μ = m̂2 μ1 + (m̂2 γ + χ̂12) z/s + m̂21 x1 is the mean of h2 and τ² = m̂2² Σ11 + χ̂2 − (m̂2 γ + χ̂12)²/s²
    its variance (γ = Cov(r^(1), h1)); dP = Pμ dμ + Pτ dτ, dS1 = P dμ + S1τ dτ, dS2 = 2 S1 dμ + 2τP dτ."""
    sP, sS1, sS1z, sS1x = part
    M0, Mz, Mx, T0, Pz, Px, Pzz, Pzx, Pxx, U0, Uz, Ux = (
        dacc[0],
        dacc[1],
        dacc[2],
        dacc[3],
        dacc[4],
        dacc[5],
        dacc[6],
        dacc[7],
        dacc[8],
        dacc[9],
        dacc[10],
        dacc[11],
    )
    s, mu1, g1, S11 = p.s[c], p.mu1[c], p.g1[c], p.S11[c]
    tau, cov_r1_u, cov_xi1_u = cond[0][c], cond[2][c], cond[3][c]
    m2_hat, chi12_hat, chi1_hat = theta[0], theta[3], p.chi1_hat
    s2 = s * s
    cov_uh = m2_hat * g1 + chi12_hat
    inv_tau = 1.0 / tau if tau > 0.0 else 0.0
    for j in range(4):
        # dμ = b1 + bz z + bx x1, dτ = t, and the derivatives of the two conditional covariances
        if j == 0:  # m̂2
            b1, bz, bx, t = mu1, g1 / s, 0.0, cov_r1_u * inv_tau
            d_xi, d_r = -chi1_hat * g1 / s2, S11 - g1 * g1 / s2
        elif j == 1:  # m̂21
            b1, bz, bx, t, d_xi, d_r = 0.0, 0.0, 1.0, 0.0, 0.0, 0.0
        elif j == 2:  # χ̂2
            b1, bz, bx, t, d_xi, d_r = 0.0, 0.0, 0.0, 0.5 * inv_tau, 0.0, 0.0
        else:  # χ̂12
            b1, bz, bx, t = 0.0, 1.0 / s, 0.0, -cov_uh / s2 * inv_tau
            d_xi, d_r = 1.0 - chi1_hat / s2, -g1 / s2
        dP = M0 * b1 + Mz * bz + Mx * bx + T0 * t
        dS1 = sP * b1 + Pz * bz + Px * bx + U0 * t
        dS1z = Pz * b1 + Pzz * bz + Pzx * bx + Uz * t
        dS1x = Px * b1 + Pzx * bz + Pxx * bx + Ux * t
        dS2 = 2.0 * (sS1 * b1 + sS1z * bz + sS1x * bx) + 2.0 * tau * sP * t
        d_out[0, j] += w * dP
        d_out[1, j] += w * ((chi1_hat / s) * dS1z + d_xi * sP + cov_xi1_u * dP)
        d_out[2, j] += w * dS2
        d_out[3, j] += w * (mu1 * dS1 + (g1 / s) * dS1z + d_r * sP + cov_r1_u * dP)
        d_out[4, j] += w * dS1x
