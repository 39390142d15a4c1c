"""Equations of state for correlated designs (THEORY.md §7) and ``predict`` for a Setting with a covariance.

The sample-side (channel) equations are those of THEORY.md §3 with Σ-overlaps; the penalty side is an
N-dimensional weighted Lasso in Σ per stage (:mod:`replica.effective`). Its expectations come from an
*oracle*:

* :class:`SampledOracle` averages the effective problems over ``covariance.draws`` fixed-seed draws
  of the prior and of the Gaussian fields (the prediction then carries a standard error);
* :class:`SeparableOracle` is the exact, closed-form/quadrature expectation for Σ = I (the i.i.d.
  code of :mod:`replica.stage1` and :mod:`replica.stage2`), which checks this module's fixed-point
  machinery against :func:`replica.predict` to 1e-6.

The fixed point is found by Newton's method with a forward-difference Jacobian; with a sampled oracle it
stops once the residual is below 5% of the sampling standard error of the map. Standard errors of the
prediction are the linearized (delta-method) jackknife over draws, which propagates each draw's
influence through both stages' fixed points (THEORY.md §7 "Sampling error").
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np
from scipy.special import ndtr

from . import stage1 as st1
from . import stage2 as st2
from .covariance import Covariance
from .effective import design_lasso, gram_lasso_batch
from .errors import ConvergenceError
from .lapack import GESV
from .quadrature import N_NODES

__all__ = ["SampledOracle", "SeparableOracle", "predict_correlated", "SE_QUANTITIES"]

_SOLVE_TOL = 1e-11  # coordinate-descent step tolerance of the effective Lassos
_STOP_FRACTION = 0.05  # sampled oracles: stop when |T(y) − y| ≤ this × the map's sampling SE
_MAX_NEWTON = 40
_DRAW_STREAM = 0x434F5252  # "CORR": the effective problems' random stream
_BANDWIDTH = 0.01  # smoothing of the support counts, in units of the effective noise (THEORY.md §7)

# per-draw statistics; stage 1 has K-dependent blocks: nnz (smoothed, for χ), E1[K], Q1, m1[K], tp, count
# (the exact support size, for the reported supports and rates)
_S2 = {name: i for i, name in enumerate(("nnz", "v", "W", "X", "Ee2", "Q2", "m2", "Q12", "tp", "nnzf", "count"))}

SE_QUANTITIES = (
    "eps1",
    "eps2",
    "support1",
    "support2",
    "support_final",
    "tpr1",
    "fpr1",
    "tpr2",
    "fpr2",
    "chi1",
    "chi2",
    "R21",
    "Q1",
    "Q2",
    "m2",
    "Q12",
)
"""The quantities of :class:`replica.Prediction` whose sampling standard error ``Prediction.se`` reports."""


# ---- the equations of state in terms of the effective problems' averages ----------------------


@dataclass(frozen=True, kw_only=True)
class _Consts:
    """Setting and hyperparameters as the maps need them."""

    a: np.ndarray  # α_k 1[k ∈ P]
    A: float
    sig2: np.ndarray  # σ_k²
    alpha1: float
    kappa: float
    cross: bool  # target in P
    lam1: float
    lam2: float
    delta_lam: float
    K: int
    density: float
    nnz_floor: float = 0.0  # support fraction that stands for "none sampled" in χ (half a coordinate)

    @classmethod
    def of(cls, setting, hp):
        a = np.where(setting.pretrain, setting.alphas, 0.0)
        return cls(
            a=a,
            A=float(a.sum()),
            sig2=setting.sigmas**2,
            alpha1=float(setting.alphas[0]),
            kappa=float(hp.kappa),
            cross=bool(setting.pretrain_on_target),
            lam1=float(hp.lam1),
            lam2=float(hp.lam2),
            delta_lam=float(hp.delta_lam),
            K=setting.K,
            density=float(setting.target_density),
        )


def _stage1_map(c: _Consts, y1: np.ndarray, m1: np.ndarray) -> np.ndarray:
    """(log χ1', log χ̂1') from y1 = (log χ1, log χ̂1) and stage-1 averages ``m1`` (rows: draws or one):
    χ1' = E|supp x1|/(N Q̂1), χ̂1' = Σ_k a_k (E1k + σ_k²)/(1 + χ1')² (THEORY.md §7)."""
    m1 = np.atleast_2d(m1)
    Q1_hat = c.A / (1.0 + math.exp(y1[0]))
    chi1 = np.maximum(m1[:, 0], c.nnz_floor) / Q1_hat
    E1 = m1[:, 1 : 1 + c.K]
    chi1_hat = (E1 + c.sig2) @ c.a / (1.0 + chi1) ** 2
    return np.stack([np.log(np.maximum(chi1, st1.TINY)), np.log(np.maximum(chi1_hat, st1.TINY))], axis=1)


def _decode2(c: _Consts, y1: np.ndarray, y2: np.ndarray) -> tuple:
    """(χ2, χ̂2, R21, χ̂12) and conjugates (Q̂2, m̂2, m̂21) at stage-2 coordinates y2 (those of
    :func:`replica.prediction._stage2_map`): the channel side of THEORY.md §3, unchanged."""
    chi1, chi1_hat = math.exp(y1[0]), math.exp(y1[1])
    chi2, chi2_hat = math.exp(min(y2[0], 700.0)), math.exp(min(y2[1], 700.0))
    R21 = y2[2] * (1.0 + chi2) if c.cross else 0.0
    chi12_hat = y2[3] * math.sqrt(chi1_hat * chi2_hat) if c.cross else 0.0
    b = (c.kappa - R21) / (1.0 + chi1) if c.cross else c.kappa
    Q2_hat = c.alpha1 / (1.0 + chi2)
    return chi2, chi2_hat, R21, chi12_hat, Q2_hat, Q2_hat * (1.0 - c.kappa + b), -Q2_hat * b


def _conjugates2(c: _Consts, y1, y2) -> tuple:
    """(Q̂2, m̂2, m̂21, χ̂2, χ̂12) at coordinates (y1, y2), as the oracles take them."""
    _, chi2_hat, _, chi12_hat, Q2_hat, m2_hat, m21_hat = _decode2(c, y1, y2)
    return Q2_hat, m2_hat, m21_hat, chi2_hat, chi12_hat


def _stage2_map(c: _Consts, y1, y2, m1, m2) -> np.ndarray:
    """New stage-2 coordinates from stage-2 averages ``m2`` (rows: draws or one), THEORY.md §7:
    χ2' = E|supp x2|/(N Q̂2), R21' = (E[u1ᵀx2]/N − χ̂12 χ2')/χ̂1, and χ̂2', χ̂12' from the Σ-norms of
    the difference vectors (no cancellation)."""
    m1, m2 = np.atleast_2d(m1), np.atleast_2d(m2)
    chi1, chi1_hat = math.exp(y1[0]), math.exp(y1[1])
    _, _, _, chi12_hat, Q2_hat, _, m21_hat = _decode2(c, y1, y2)
    E1 = m1[:, 1]
    chi2 = np.maximum(m2[:, _S2["nnz"]], c.nnz_floor) / Q2_hat
    W, X = m2[:, _S2["W"]], m2[:, _S2["X"]]
    b = -m21_hat / Q2_hat
    if c.cross:
        R21 = (m2[:, _S2["v"]] - chi12_hat * chi2) / chi1_hat
        b_new = (c.kappa - R21) / (1.0 + chi1)
    else:
        R21 = np.zeros_like(chi2)
        b_new = np.full_like(chi2, c.kappa)
    delta = b_new - b
    a0 = 1.0 - c.kappa + b_new
    s2 = c.sig2[0]
    chi2_hat = c.alpha1 * (W + delta * (2.0 * X + delta * E1) + a0 * a0 * s2) / (1.0 + chi2) ** 2
    cols = [np.log(np.maximum(chi2, st1.TINY)), np.log(np.maximum(chi2_hat, st1.TINY))]
    if c.cross:
        chi12_new = c.alpha1 * (X + delta * E1 + a0 * s2) / ((1.0 + chi1) * (1.0 + chi2))
        cols += [R21 / (1.0 + chi2), chi12_new / np.sqrt(chi1_hat * np.maximum(chi2_hat, st1.TINY))]
    return np.stack(cols, axis=1)


def _outputs(c: _Consts, y1, y2, m1, m2) -> np.ndarray:
    """The quantities of :data:`SE_QUANTITIES` from the averages (rows: draws or one)."""
    m1, m2 = np.atleast_2d(m1), np.atleast_2d(m2)
    K = c.K
    chi1_hat = math.exp(y1[1])
    Q1_hat = c.A / (1.0 + math.exp(y1[0]))
    _, _, _, chi12_hat, Q2_hat, _, _ = _decode2(c, y1, y2)
    nnz1, tp1 = m1[:, 3 + 2 * K], m1[:, 2 + 2 * K]
    nnz2, tp2 = m2[:, _S2["count"]], m2[:, _S2["tp"]]
    chi2 = m2[:, _S2["nnz"]] / Q2_hat
    R21 = (m2[:, _S2["v"]] - chi12_hat * chi2) / chi1_hat if c.cross else np.zeros_like(chi2)
    dens = c.density

    def rates(nnz, tp):
        tpr = tp / dens if dens > 0 else np.zeros_like(tp)
        fpr = (nnz - tp) / (1 - dens) if dens < 1 else np.zeros_like(tp)
        return tpr, fpr

    tpr1, fpr1 = rates(nnz1, tp1)
    tpr2, fpr2 = rates(nnz2, tp2)
    final = nnz2 if c.kappa == 0 else m2[:, _S2["nnzf"]]
    cols = {
        "eps1": c.sig2[0] + m1[:, 1],
        "eps2": c.sig2[0] + m2[:, _S2["Ee2"]],
        "support1": nnz1,
        "support2": nnz2,
        "support_final": final,
        "tpr1": tpr1,
        "fpr1": fpr1,
        "tpr2": tpr2,
        "fpr2": fpr2,
        "chi1": m1[:, 0] / Q1_hat,
        "chi2": chi2,
        "R21": R21,
        "Q1": m1[:, 1 + K],
        "Q2": m2[:, _S2["Q2"]],
        "m2": m2[:, _S2["m2"]],
        "Q12": m2[:, _S2["Q12"]],
    }
    return np.stack([cols[k] for k in SE_QUANTITIES], axis=1)


# ---- oracles ----------------------------------------------------------------------------------


@dataclass
class _Eval1:
    stats: np.ndarray  # (S, n1) per draw
    x: np.ndarray | None = None  # (S, N) x1 per draw
    image: np.ndarray | None = None  # x1's image (SampledOracle)
    state: object = None  # the separable oracle's replica.stage1.Stage1


@dataclass
class _Eval2:
    stats: np.ndarray  # (S, n2)
    x: np.ndarray | None = None


def _stratified_prior(setting, N: int, rng: np.random.Generator) -> np.ndarray:
    """One draw (K, N) of the true vectors, coordinates from the prior with the components assigned by
    systematic sampling (counts within one of w_c N, randomly placed): it removes the dominant,
    O(N^(-1/2)) fluctuation of the component fractions, which the N → ∞ limit does not have."""
    cum = np.cumsum(setting.weights)
    cum[-1] = 1.0
    comp = np.searchsorted(cum, (np.arange(N) + rng.random()) / N, side="right")
    comp = rng.permutation(np.minimum(comp, setting.n_components - 1))
    z = rng.standard_normal((N, setting.K))
    out = np.empty((N, setting.K))
    for c in range(setting.n_components):
        idx = comp == c
        vals, vecs = np.linalg.eigh(setting.covs[c])
        root = vecs * np.sqrt(np.clip(vals, 0.0, None))
        out[idx] = setting.means[c] + z[idx] @ root.T
        exact = np.diag(setting.covs[c]) == 0
        out[np.ix_(idx, exact)] = setting.means[c][exact]
    return out.T


def _smooth_count(X, G, W, width):
    """|supp x| per row, smoothed: Σ_i Φ((|x_i − g_i| − w_i)/width) with g = Σx − b at the minimizer.

    |x_i − g_i| − w_i is |x_i| on the support and −(w_i − |g_i|) ≤ 0 off it (unit diagonal), so this is
    the support size with its step spread over ``width``. The sampled map is then continuous in the
    coordinates (a count is piecewise constant on the scale of one coordinate among S N), and, Φ being
    symmetric, the expectation moves only at second order in the width.
    """
    t = np.abs(X - G) - W
    return np.sum(ndtr(np.where(np.isfinite(W), t, -np.inf) / width), axis=1)


class SampledOracle:
    """Expectations of the effective problems of THEORY.md §7 as averages over fixed-seed draws.

    Each draw is the prior's true vectors (K, N), stratified over the mixture components
    (:func:`_stratified_prior`), and two Gaussian vectors for the fields u1, u2. Built once per setting
    (cached). Two engines solve the effective Lassos: the Gram form on a dense Σ
    (:func:`replica.effective.gram_lasso_batch`), or, for an empirical Σ = BᵀB too large to hold, the
    least-squares form on the sparse design B (:func:`replica.effective.design_lasso`). Either way a
    vector x is represented by its *image*: (x, Σx) for the Gram form, Bx for the design form, so that
    every Σ-overlap is one inner product of images (:meth:`inner`).
    """

    sampled = True

    def __init__(self, setting):
        cov: Covariance = setting.covariance
        self.cov, self.N, self.S, self.K = cov, cov.N, cov.draws, setting.K
        self.gram = cov.has_matrix
        # forward-difference step of the Jacobian (coordinates): large enough that a step changes many
        # supports among the S N sampled coordinates, so that their discreteness does not dominate it
        self.fd_step = float(np.clip(0.01 * math.sqrt(2.0**15 / (self.S * self.N)), 0.01, 0.1))
        rng = np.random.default_rng([cov.seed, _DRAW_STREAM])
        self.r = np.stack([_stratified_prior(setting, self.N, rng) for _ in range(self.S)])  # (S, K, N)
        if self.gram:
            self.Sigma = np.ascontiguousarray(cov.matrix)
            self.noise1, self.noise2 = cov.sample(rng, self.S), cov.sample(rng, self.S)  # u ~ N(0, Σ)
        else:
            self.arrays = cov.design_arrays()
            n = cov.n_samples
            # ζ, drawn as Covariance.sample draws them (u = Bᵀζ): both engines see the same draws
            self.noise1 = np.ascontiguousarray(rng.standard_normal((n, self.S)).T)
            self.noise2 = np.ascontiguousarray(rng.standard_normal((n, self.S)).T)
        self.Ir = [self._image(self.r[:, k]) for k in range(self.K)]
        a = np.where(setting.pretrain, setting.alphas, 0.0)
        self.Ir_bar = sum((a[k] / a.sum()) * self.Ir[k] for k in range(self.K))
        self.live = self.r[:, 0] != 0

    # ---- the engine ----------------------------------------------------------------------------
    def _image(self, V):
        """(x, Σx) rows for the Gram form, Bx rows for the design form; V of shape (S, N)."""
        if self.gram:
            return np.stack([V, V @ self.Sigma])
        return self.cov.design_matvec(V.T).T[None]

    def inner(self, p, q):
        """Per draw, the Σ-overlap pᵀΣq/N of two images."""
        return np.einsum("sn,sn->s", p[0], q[-1]) / self.N

    def _noise_dot(self, noise, image):
        """Per draw, uᵀx/N for the field u = Bᵀζ (design form) or u (Gram form) and x's image."""
        return np.einsum("sn,sn->s", noise, image[0] if self.gram else image[-1]) / self.N

    def _solve(self, L, W, X, stage):
        """Solve the effective Lassos with linear terms L (b = L for the Gram form, c = L for the design
        form), weights W, warm starts X (overwritten). Returns (image of X, gradient Σx − b)."""
        if self.gram:
            G = np.empty_like(X)
            sweeps = gram_lasso_batch(self.Sigma, L, W, X, G, _SOLVE_TOL, GESV)
            image = np.stack([X, G + L])
        else:
            sweeps, rows, grads = np.empty(self.S, dtype=np.int64), [], []
            for s in range(self.S):
                sweeps[s], resid, g = design_lasso(*self.arrays, L[s], W[s], X[s], _SOLVE_TOL)
                rows.append(L[s] - resid)
                grads.append(g)
            image, G = np.stack(rows)[None], np.stack(grads)
        if np.any(sweeps < 0) or not np.all(np.isfinite(X)):
            raise ConvergenceError(
                f"{stage} effective Lasso did not converge",
                {"stage": stage, "draws_failed": int(np.sum(sweeps < 0))},
            )
        return image, G

    # ---- the two stages ------------------------------------------------------------------------
    def stage1(self, c: _Consts, chi1, chi1_hat, warm: _Eval1 | None) -> _Eval1:
        """Solve x1 = argmin ½xᵀΣx − (Σ r̄ + √χ̂1 u1/Q̂1)ᵀx + (λ1/Q̂1)||x||_1 for every draw (7.1), and its statistics."""
        Q1_hat = c.A / (1.0 + chi1)
        L = self.Ir_bar[-1] + (math.sqrt(chi1_hat) / Q1_hat) * self.noise1
        W = np.full((self.S, self.N), c.lam1 / Q1_hat)
        X = np.zeros((self.S, self.N)) if warm is None else warm.x.copy()
        I1, G = self._solve(L, W, X, "stage 1")
        N, K = self.N, self.K
        stats = np.empty((self.S, 4 + 2 * K))
        stats[:, 0] = _smooth_count(X, G, W, _BANDWIDTH * math.sqrt(chi1_hat) / Q1_hat) / N
        stats[:, 3 + 2 * K] = np.count_nonzero(X, axis=1) / N
        for k in range(K):
            d = I1 - self.Ir[k]
            stats[:, 1 + k] = self.inner(d, d)
            stats[:, 2 + K + k] = self.inner(self.Ir[k], I1)
        stats[:, 1 + K] = self.inner(I1, I1)
        stats[:, 2 + 2 * K] = np.count_nonzero((X != 0) & self.live, axis=1) / N
        return _Eval1(stats, X, I1)

    def stage2(self, c: _Consts, e1: _Eval1, chi1_hat, conj, warm: _Eval2 | None) -> _Eval2:
        """Solve x2 = argmin ½xᵀΣx − (m̂2Σr + m̂21Σx1 + u2)ᵀx/Q̂2 + Σ_i w_i|x_i|/Q̂2, w_i = λ2 + Δλ·1[x1_i = 0],
        with (u1, u2) jointly Gaussian, for every draw (7.2), and its statistics."""
        Q2_hat, m2_hat, m21_hat, chi2_hat, chi12_hat = conj
        g12 = chi12_hat / math.sqrt(chi1_hat)
        g2 = math.sqrt(max(chi2_hat - chi12_hat * chi12_hat / chi1_hat, 0.0))
        Ir0, I1 = self.Ir[0], e1.image
        L = (m2_hat * Ir0[-1] + m21_hat * I1[-1] + g12 * self.noise1 + g2 * self.noise2) / Q2_hat
        off = np.inf if math.isinf(c.delta_lam) else c.lam2 + c.delta_lam
        W = np.where(e1.x == 0, off, c.lam2) / Q2_hat
        X = np.zeros_like(W) if warm is None else np.where(np.isfinite(W), warm.x, 0.0)
        I2, G = self._solve(L, W, X, "stage 2")
        b = -m21_hat / Q2_hat
        Ie2 = Ir0 - c.kappa * I1 - I2
        Id1 = Ir0 - I1
        Id2 = Ie2 + (b - c.kappa) * Id1
        N = self.N
        stats = np.empty((self.S, len(_S2)))
        stats[:, _S2["nnz"]] = _smooth_count(X, G, W, _BANDWIDTH * math.sqrt(chi2_hat) / Q2_hat) / N
        stats[:, _S2["count"]] = np.count_nonzero(X, axis=1) / N
        stats[:, _S2["v"]] = math.sqrt(chi1_hat) * self._noise_dot(self.noise1, I2)
        stats[:, _S2["W"]] = self.inner(Id2, Id2)
        stats[:, _S2["X"]] = self.inner(Id1, Id2)
        stats[:, _S2["Ee2"]] = self.inner(Ie2, Ie2)
        stats[:, _S2["Q2"]] = self.inner(I2, I2)
        stats[:, _S2["m2"]] = self.inner(Ir0, I2)
        stats[:, _S2["Q12"]] = self.inner(I1, I2)
        stats[:, _S2["tp"]] = np.count_nonzero((X != 0) & self.live, axis=1) / N
        stats[:, _S2["nnzf"]] = np.count_nonzero(c.kappa * e1.x + X, axis=1) / N
        return _Eval2(stats, X)


class SeparableOracle:
    """The exact expectations for Σ = I: the closed forms and quadrature of THEORY.md §3–4
    (:mod:`replica.stage1`, :mod:`replica.stage2`), as one draw with no sampling error."""

    fd_step = 1e-6
    sampled = False

    def __init__(self, setting, n_nodes: int = N_NODES):
        from .setting import Setting

        self.setting = Setting(
            setting.alphas, setting.sigmas, setting.pretrain, setting.weights, setting.means, setting.covs
        )
        self.n_nodes = n_nodes

    def stage1(self, c: _Consts, chi1, chi1_hat, warm) -> _Eval1:
        s = self.setting
        problem = st1.Pretraining(s, c.lam1)
        state = problem.state(chi1, chi1_hat)
        mse = problem.mse(state)
        w, live = s.weights, ~s.target_null
        K = c.K
        stats = np.empty((1, 4 + 2 * K))
        stats[0, 0] = stats[0, 3 + 2 * K] = float(w @ state.P1)
        stats[0, 1 : 1 + K] = mse
        stats[0, 1 + K] = state.Q1
        stats[0, 2 + K : 2 + 2 * K] = state.m1
        stats[0, 2 + 2 * K] = float(w[live] @ state.P1[live])
        return _Eval1(stats, state=state)

    def stage2(self, c: _Consts, e1: _Eval1, chi1_hat, conj, warm) -> _Eval2:
        from .setting import Hyperparameters

        Q2_hat, m2_hat, m21_hat, chi2_hat, chi12_hat = conj
        hp = Hyperparameters(c.lam1, c.lam2, c.kappa, c.delta_lam)
        problem = st2.Static(self.setting, hp, e1.state, self.n_nodes).problem
        theta = (m2_hat, m21_hat, chi2_hat, chi12_hat)
        sums, _ = st2.stage2_sums(problem, st2.conditional_fields(problem, theta), theta, False)
        b = -m21_hat / Q2_hat
        E1 = e1.stats[0, 1]
        W, X = sums[7] / Q2_hat**2, -sums[8] / Q2_hat
        stats = np.empty((1, len(_S2)))
        stats[0, _S2["nnz"]] = stats[0, _S2["count"]] = sums[0]
        stats[0, _S2["v"]] = sums[1] / Q2_hat
        stats[0, _S2["W"]] = W
        stats[0, _S2["X"]] = X
        # e2 = d2 − (b − κ) d1
        stats[0, _S2["Ee2"]] = W - 2 * (b - c.kappa) * X + (b - c.kappa) ** 2 * E1
        stats[0, _S2["Q2"]] = sums[2] / Q2_hat**2
        stats[0, _S2["m2"]] = sums[3] / Q2_hat
        stats[0, _S2["Q12"]] = sums[4] / Q2_hat
        stats[0, _S2["tp"]] = sums[5]
        stats[0, _S2["nnzf"]] = sums[6]
        return _Eval2(stats)


_ORACLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _oracle(setting) -> SampledOracle:
    hit = _ORACLES.get(setting)
    if hit is None:
        hit = _ORACLES[setting] = SampledOracle(setting)
    return hit


# ---- fixed point ------------------------------------------------------------------------------


def _jackknife(values: np.ndarray) -> np.ndarray:
    """Jackknife standard error of the rows' leave-one-out values (S, m); zeros for one row."""
    S = values.shape[0]
    if S < 2:
        return np.zeros(values.shape[1])
    return np.sqrt((S - 1) / S * np.sum((values - values.mean(axis=0)) ** 2, axis=0))


def _leave_one_out(stats: np.ndarray) -> np.ndarray:
    """Means of the per-draw statistics with each draw left out in turn (S, n); the mean itself for S = 1."""
    S = stats.shape[0]
    if S < 2:
        return stats
    return (stats.sum(axis=0) - stats) / (S - 1)


def _newton(F, y0, step, tol, stop_fraction, stage, context):
    """Newton's method with a forward-difference Jacobian on y = T(y).

    ``F(y)`` returns (T(y), se_T, aux), se_T the sampling SE of T(y) (zeros when exact). Stops when
    every |T(y) − y| ≤ max(tol, stop_fraction · se_T). The Jacobian is recomputed whenever a step
    fails to halve the residual. A sampled map is piecewise constant on the scale of one support
    change among the S N sampled coordinates; when few are sampled that scale can exceed the stopping
    threshold, and when the iteration stalls the best point is accepted if every |T(y) − y| ≤ se_T
    (its fixed-point error then enters the reported SE, :func:`_standard_errors`).
    Returns (y, T(y), aux, residual, evaluations, J = dT/dy, the points of J's differences (:func:`_fd`)).
    """
    y = np.asarray(y0, float)
    t, se, aux = F(y)
    evals, J, points = 1, None, None
    n = y.size

    def size(r, se):
        """Progress measure: max |r_i| in units of the map's sampling SE (of tol where exact)."""
        return float(np.max(np.abs(r) / np.maximum(se, tol))) if np.all(np.isfinite(r)) else math.inf

    history = []
    best = None  # (size, y, t, aux, residual)
    for _ in range(_MAX_NEWTON):
        r = t - y
        current = size(r, se)
        if not math.isfinite(current):
            break
        res = float(np.max(np.abs(r)))
        history.append(current)
        if np.all(np.abs(r) <= np.maximum(tol, stop_fraction * se)):
            if J is None:
                J, points = _fd(F, y, t, aux, step, n)
                evals += n
            return y, t, aux, res, evals, J, points
        if best is None or current < best[0]:
            best = (current, y, t, aux, res)
        if J is None or (len(history) > 1 and current > 0.5 * history[-2]):
            J, points = _fd(F, y, t, aux, step, n)
            evals += n
        try:
            dy = -np.linalg.solve(J - np.eye(n), r)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(dy)):
            break
        dy = np.clip(dy, -2.0, 2.0)  # log-coordinates: at most a factor e² per step
        for _ in range(6):
            t_new, se_new, aux_new = F(y + dy)
            evals += 1
            if size(t_new - (y + dy), se_new) < current:
                break
            dy = dy / 2
        else:
            break
        y, t, se, aux = y + dy, t_new, se_new, aux_new
    # a sampled map stalls within its discreteness: accept the best point within one SE
    if best is not None and best[0] <= 1.0 and np.any(se > 0) and J is not None:
        _, y, t, aux, res = best
        return y, t, aux, res, evals, J, points
    raise ConvergenceError(
        f"{stage} equations of state (correlated design) did not converge",
        {
            "stage": stage,
            "residual": float(np.max(np.abs(t - y))) if np.all(np.isfinite(t)) else math.inf,
            "residual_in_se": history[-1] if history else math.inf,
            "iterations": evals,
            "last_iterate": y.tolist(),
            **context(),
        },
    )


def _fd(F, y, t, aux, step, n):
    """Forward-difference Jacobian of T at y, and (y, aux at y, aux at each y + step e_i): the effective
    problems' solutions there also give the outputs' derivatives (:func:`_standard_errors`)."""
    J = np.empty((n, n))
    auxes = []
    for i in range(n):
        e = np.zeros(n)
        e[i] = step
        t_i, _, aux_i = F(y + e)
        J[:, i] = (t_i - t) / step
        auxes.append(aux_i)
    return J, (y.copy(), aux, auxes)


@dataclass(frozen=True)
class CorrelatedState:
    """What a warm start of a correlated ``predict`` reuses: coordinates, Jacobians and the effective
    problems' solutions per draw (stage 1 kept whole when λ1 and the setting are unchanged)."""

    y1: np.ndarray
    y2: np.ndarray
    J1: np.ndarray
    J2: np.ndarray
    eval1: _Eval1
    eval2: _Eval2
    lam1: float
    setting: object


def _start(setting, hp, warm):
    """Starting coordinates: the warm start's, else the i.i.d. prediction's (same setting without Σ)."""
    if warm is not None:
        return warm.y1, warm.y2
    from .prediction import predict

    iid = setting.with_covariance(None)
    y1 = np.log(
        [1.0, max(float(np.where(setting.pretrain, setting.alphas, 0) @ np.diag(setting.second_moments)), 1e-3)]
    )
    y2 = np.array([0.0, y1[1], 0.0, 0.5])[: 4 if setting.pretrain_on_target else 2]
    try:
        p = predict(iid, hp)
    except ConvergenceError:
        return y1, y2
    y1 = np.log([p.chi1, p.chi1_hat])
    y2 = [math.log(max(p.chi2, 1e-12)), math.log(max(p.chi2_hat, 1e-300))]
    if setting.pretrain_on_target:
        y2 += [p.R21 / (1 + p.chi2), p.chi12_hat / math.sqrt(p.chi1_hat * max(p.chi2_hat, 1e-300))]
    return y1, np.array(y2)


def predict_correlated(setting, hp, warm_start=None, tol: float = 1e-10, oracle=None):
    """:func:`replica.predict` for a setting with a design covariance (THEORY.md §7).

    Parameters
    ----------
    setting : Setting
        With ``setting.covariance`` set.
    hp : Hyperparameters
        (λ1, λ2, κ, Δλ).
    warm_start : Prediction, optional
        A previous correlated prediction: its coordinates and effective solutions start this one.
    tol : float, default 1e-10
        Required residual of the fixed point where it is computed exactly; with a sampled oracle the
        residual must be below max(tol, 5% of the map's sampling SE).
    oracle : SampledOracle or SeparableOracle, optional
        The expectations; default the setting's :class:`SampledOracle`.

    Returns
    -------
    Prediction
        With ``se``: the sampling standard errors of :data:`SE_QUANTITIES` (zeros for an exact oracle).
    """
    from .prediction import Prediction

    orc = _oracle(setting) if oracle is None else oracle
    # a sampled support can be empty where the true one is merely small: χ stays at half a coordinate
    c = replace(_Consts.of(setting, hp), nnz_floor=0.5 / (orc.S * orc.N) if orc.sampled else 0.0)
    state = warm_start.solver_state if warm_start is not None else None
    if not isinstance(state, CorrelatedState) or state.setting is not setting:
        state = None

    def context():
        return {"setting": repr(setting), "covariance": repr(setting.covariance), "hyperparameters": hp.as_dict()}

    y1_0, y2_0 = _start(setting, hp, state)
    stop = _STOP_FRACTION if orc.sampled else 0.0

    # ---- stage 1
    warm1 = [state.eval1 if state is not None else None]

    def F1(y):
        e = orc.stage1(c, math.exp(y[0]), math.exp(y[1]), warm1[0])
        warm1[0] = e
        t = _stage1_map(c, y, e.stats.mean(axis=0))[0]
        se = _jackknife(_stage1_map(c, y, _leave_one_out(e.stats))) if orc.sampled else 0.0
        return t, se, e

    if state is not None and state.lam1 == hp.lam1:
        y1, e1, J1, res1, it1 = state.y1, state.eval1, state.J1, 0.0, 0
        t1 = _stage1_map(c, y1, e1.stats.mean(axis=0))[0]
        res1 = float(np.max(np.abs(t1 - y1)))
    else:
        y1, t1, e1, res1, it1, J1, _ = _newton(F1, y1_0, orc.fd_step, tol, stop, "stage 1", context)
    chi1_hat = math.exp(y1[1])

    # ---- stage 2
    warm2 = [state.eval2 if state is not None else None]

    def F2(y):
        e = orc.stage2(c, e1, chi1_hat, _conjugates2(c, y1, y), warm2[0])
        warm2[0] = e
        m1 = e1.stats.mean(axis=0)
        t = _stage2_map(c, y1, y, m1, e.stats.mean(axis=0))[0]
        se = (
            _jackknife(_stage2_map(c, y1, y, _leave_one_out(e1.stats), _leave_one_out(e.stats))) if orc.sampled else 0.0
        )
        return t, se, e

    repeats = _repeats_stage1(setting, hp)
    if repeats:  # x2 = x1 exactly; solving would put the root on the edge χ̂12 = √(χ̂1 χ̂2)
        y2, e2, res2, it2 = _repeat_coordinates(y1), _Eval2(_repeat_stats(c, y1, e1.stats), e1.x), 0.0, 0
        J2 = np.zeros((y2.size, y2.size))
    else:
        y2, t2, e2, res2, it2, J2, points2 = _newton(F2, y2_0, orc.fd_step, tol, stop, "stage 2", context)

    m1, m2 = e1.stats.mean(axis=0), e2.stats.mean(axis=0)
    out = dict(zip(SE_QUANTITIES, _outputs(c, y1, y2, m1, m2)[0]))
    se = dict.fromkeys(SE_QUANTITIES, 0.0)
    extra = 0
    if orc.sampled and repeats:
        se, extra = _repeated_standard_errors(orc, c, y1, e1, J1)
    elif orc.sampled:
        se, extra = _standard_errors(orc, c, y1, y2, e1, e2, J1, J2, points2)
    chi2, chi2_hat, R21, chi12_hat, Q2_hat, m2_hat, m21_hat = _decode2(c, y1, y2)
    K = c.K
    Q1_hat = c.A / (1.0 + math.exp(y1[0]))
    pred = Prediction(
        eps1=float(out["eps1"]),
        eps2=float(out["eps2"]),
        support1=float(out["support1"]),
        support2=float(out["support2"]),
        support_final=float(out["support_final"]),
        tpr1=float(out["tpr1"]),
        fpr1=float(out["fpr1"]),
        tpr2=float(out["tpr2"]),
        fpr2=float(out["fpr2"]),
        chi1=float(out["chi1"]),
        Q1=float(out["Q1"]),
        m1=tuple(map(float, m1[2 + K : 2 + 2 * K])),
        Q1_hat=float(Q1_hat),
        m1_hat=tuple(map(float, c.a / (1.0 + math.exp(y1[0])))),
        chi1_hat=float(chi1_hat),
        chi2=float(out["chi2"]),
        Q2=float(out["Q2"]),
        m2=float(out["m2"]),
        Q12=float(out["Q12"]),
        R21=float(out["R21"]),
        Q2_hat=float(Q2_hat),
        m2_hat=float(m2_hat),
        m21_hat=float(m21_hat),
        chi2_hat=float(chi2_hat),
        chi12_hat=float(chi12_hat),
        residual=float(max(res1, res2)),
        iterations=int(it1 + it2 + extra),
        setting=setting,
        hyperparameters=hp,
        solver_state=CorrelatedState(y1, y2, J1, J2, e1, e2, hp.lam1, setting),
        se=MappingProxyType({k: float(v) for k, v in se.items()}),
    )
    core = [out[k] for k in SE_QUANTITIES] + [chi1_hat, chi2_hat, chi12_hat]
    if not all(math.isfinite(v) for v in core):
        raise ConvergenceError(
            "non-finite order parameters at the fixed point (correlated design)",
            {"stage": "final", "residual": pred.residual, "iterations": pred.iterations, **context()},
        )
    return pred


def _repeats_stage1(setting, hp) -> bool:
    """Stage 2 is stage 1 again: target-only pretraining, κ = 0 and λ2 = λ1. Then x2 = x1 for any Δλ ≥ 0
    (x1 meets the weighted problem's optimality conditions: off its support the bound only loosens)."""
    a = np.where(setting.pretrain, setting.alphas, 0.0)
    return bool(setting.pretrain[0] and not np.any(a[1:]) and hp.kappa == 0 and hp.lam2 == hp.lam1)


def _repeat_coordinates(y1: np.ndarray) -> np.ndarray:
    """Stage-2 coordinates of x2 = x1: χ2 = χ1, χ̂2 = χ̂12 = χ̂1, R21 = 0 (then Q̂2 = Q̂1, m̂2 = Q̂2, m̂21 = 0)."""
    return np.array([y1[0], y1[1], 0.0, 1.0])


def _repeat_stats(c: _Consts, y1, m1) -> np.ndarray:
    """Stage-2 statistics of x2 = x1 from stage 1's (rows: draws or one): e2 = d2 = d1 = r − x1, and
    E[u1ᵀx2]/N = χ̂1 χ1 so that R21 = 0."""
    m1 = np.atleast_2d(m1)
    K = c.K
    Q1_hat = c.A / (1.0 + math.exp(y1[0]))
    out = np.empty((m1.shape[0], len(_S2)))
    for name, col in (("nnz", 0), ("count", 3 + 2 * K), ("nnzf", 3 + 2 * K), ("tp", 2 + 2 * K), ("m2", 2 + K)):
        out[:, _S2[name]] = m1[:, col]
    for name in ("W", "X", "Ee2"):
        out[:, _S2[name]] = m1[:, 1]
    out[:, _S2["Q2"]] = out[:, _S2["Q12"]] = m1[:, 1 + K]
    out[:, _S2["v"]] = math.exp(y1[1]) * m1[:, 0] / Q1_hat
    return out


def _repeated_standard_errors(orc, c, y1, e1, J1):
    """:func:`_standard_errors` when stage 2 repeats stage 1: every output is a function of stage 1's
    coordinates and averages alone, so only stage 1's fixed point carries the draws' influence."""

    def outputs(y, m1):
        return _outputs(c, y, _repeat_coordinates(y), m1, _repeat_stats(c, y, m1))

    m1, L1 = e1.stats.mean(axis=0), _leave_one_out(e1.stats)
    base = outputs(y1, m1)[0]
    h = orc.fd_step
    D1 = np.empty((base.size, y1.size))
    for j in range(y1.size):
        yp = y1.copy()
        yp[j] += h
        D1[:, j] = (outputs(yp, orc.stage1(c, *np.exp(yp), e1).stats.mean(axis=0))[0] - base) / h
    A = np.eye(y1.size) - J1
    dy = np.linalg.solve(A, (_stage1_map(c, y1, L1) - _stage1_map(c, y1, m1)).T).T
    se = _jackknife(outputs(y1, L1) - base + dy @ D1.T)
    se = np.hypot(se, D1 @ np.linalg.solve(A, _stage1_map(c, y1, m1)[0] - y1))
    return dict(zip(SE_QUANTITIES, se)), y1.size


def _standard_errors(orc, c, y1, y2, e1, e2, J1, J2, points2):
    """Linearized jackknife over draws (THEORY.md §7 "Fixed point and its sampling error").

    Leaving draw s out moves both stages' map values at the fixed point by δT_s (from the leave-one-out
    averages, no re-solve); the fixed point moves by δy_s = (I − J)⁻¹ δT_s with J = dT/dy of the joint
    map (block lower triangular: stage 2 depends on stage 1's coordinates, J21 by forward differences
    re-solving both stages), and each output by its direct change plus (dΨ/dy) δy_s. The outputs'
    derivatives along the stage-2 coordinates come from the solutions at the points of stage 2's last
    Jacobian (``points2``), so only stage 1's coordinates cost new solves.
    """
    n1, n2 = y1.size, y2.size
    m1, m2 = e1.stats.mean(axis=0), e2.stats.mean(axis=0)
    L1, L2 = _leave_one_out(e1.stats), _leave_one_out(e2.stats)
    base = _outputs(c, y1, y2, m1, m2)[0]
    dT1 = _stage1_map(c, y1, L1) - _stage1_map(c, y1, m1)
    dT2 = _stage2_map(c, y1, y2, L1, L2) - _stage2_map(c, y1, y2, m1, m2)
    dout = _outputs(c, y1, y2, L1, L2) - base
    h = orc.fd_step
    D1 = np.empty((base.size, n1))
    J21 = np.empty((n2, n1))
    t2 = _stage2_map(c, y1, y2, m1, m2)[0]
    for j in range(n1):
        yp = y1.copy()
        yp[j] += h
        ep1 = orc.stage1(c, math.exp(yp[0]), math.exp(yp[1]), e1)
        ep2 = orc.stage2(c, ep1, math.exp(yp[1]), _conjugates2(c, yp, y2), e2)
        mp1, mp2 = ep1.stats.mean(axis=0), ep2.stats.mean(axis=0)
        D1[:, j] = (_outputs(c, yp, y2, mp1, mp2)[0] - base) / h
        J21[:, j] = (_stage2_map(c, yp, y2, mp1, mp2)[0] - t2) / h
    y_J, aux_J, auxes = points2
    at_J = _outputs(c, y1, y_J, m1, aux_J.stats.mean(axis=0))[0]
    D2 = np.empty((base.size, n2))
    for j in range(n2):
        yp = y_J.copy()
        yp[j] += h
        D2[:, j] = (_outputs(c, y1, yp, m1, auxes[j].stats.mean(axis=0))[0] - at_J) / h
    evals = n1
    J = np.zeros((n1 + n2, n1 + n2))
    J[:n1, :n1], J[n1:, :n1], J[n1:, n1:] = J1, J21, J2
    A = np.eye(n1 + n2) - J
    dy = np.linalg.solve(A, np.hstack([dT1, dT2]).T).T  # (S, n1 + n2)
    D = np.hstack([D1, D2])
    se = _jackknife(dout + dy @ D.T)
    # the fixed point's own error: one Newton correction (I − J)⁻¹ (T(y) − y) away
    residual = np.concatenate([_stage1_map(c, y1, m1)[0] - y1, t2 - y2])
    se = np.hypot(se, D @ np.linalg.solve(A, residual))
    return dict(zip(SE_QUANTITIES, se)), evals
