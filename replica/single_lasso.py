"""Closed-form fixed point of a single Lasso under a Bernoulli–Gaussian prior.

For one dataset (ratio α, noise σ) and r = z ~ N(0,1) with probability ρ, else 0, the
stage-1 equations of THEORY.md §3 reduce (with Q̂ = m̂ = α/(1+χ)) to the scalar
soft-thresholding channel x = soft(r + τ ξ; θ), ξ ~ N(0,1), with

    τ² = (σ² + mse(τ, θ)) / α,        θ (α − P(τ, θ)) = λ,

where θ = λ(1+χ)/α, 1 + χ = α/(α − P), P = P(|r + τξ| > θ) and mse = E[(x − r)²], both in
closed form (error functions). Then ε = σ² + mse = α τ². Solved by nested bracketing, so
it is independent of the replica solver it checks.
"""

from __future__ import annotations

import math

from scipy.optimize import brentq
from scipy.special import ndtr

INV_SQRT_2PI = 0.3989422804014327


def _tail(theta: float, v: float) -> tuple[float, float]:
    """For y ~ N(0, v): P(|y| > θ) and E[soft(y; θ)²]."""
    sd = math.sqrt(v)
    t = theta / sd
    Q = ndtr(-t)
    return 2 * Q, 2 * ((theta * theta + v) * Q - theta * sd * INV_SQRT_2PI * math.exp(-0.5 * t * t))


def channel(tau: float, theta: float, rho: float) -> tuple[float, float]:
    """(P, mse) of x = soft(r + τξ; θ) under the Bernoulli–Gaussian prior.

    Nonzero r: with y = r + τξ ~ N(0, 1+τ²), E[(soft(y) − r)²] = E soft(y)² − 2 P(|y|>θ) + 1
    (Stein: E[r soft(y)] = Cov(r, y) P(|y| > θ)). Zero r: E soft(τξ)².
    """
    P1, S1 = _tail(theta, 1 + tau * tau)
    P0, S0 = _tail(theta, tau * tau)
    return rho * P1 + (1 - rho) * P0, rho * (S1 - 2 * P1 + 1) + (1 - rho) * S0


def _theta(tau: float, alpha: float, rho: float, lam: float) -> float:
    """The root θ of θ (α − P(τ, θ)) = λ on the branch P < α, where the left side increases."""
    g = lambda th: th * (alpha - channel(tau, th, rho)[0]) - lam  # noqa: E731
    lo = 0.0
    if channel(tau, 0.0, rho)[0] >= alpha:  # start where P(θ) = α
        hi = 1.0
        while channel(tau, hi, rho)[0] >= alpha:
            hi *= 2
        lo = brentq(lambda th: channel(tau, th, rho)[0] - alpha, 0.0, hi, xtol=1e-300, rtol=1e-15)
    hi = max(2 * lo, 1.0)
    while g(hi) < 0:
        hi *= 2
    return brentq(g, lo, hi, xtol=1e-300, rtol=1e-15)


def single_lasso(alpha: float, sigma: float, rho: float, lam: float) -> dict:
    """Return {eps, chi, tau, theta, support} of the single-Lasso fixed point (λ > 0)."""
    if not lam > 0:
        raise ValueError(f"lam must be > 0, got {lam}")

    def F(tau):
        th = _theta(tau, alpha, rho, lam)
        return alpha * tau * tau - sigma * sigma - channel(tau, th, rho)[1]

    hi = math.sqrt((sigma * sigma + 1.0) / alpha) + 1.0
    while F(hi) <= 0:
        hi *= 2
    lo = hi
    while F(lo) > 0:
        lo /= 2
        if lo < 1e-150:
            raise ValueError("no bracket for the single-Lasso fixed point")
    tau = brentq(F, lo, hi, xtol=1e-300, rtol=1e-15)
    theta = _theta(tau, alpha, rho, lam)
    P, mse = channel(tau, theta, rho)
    return {"eps": sigma * sigma + mse, "chi": P / (alpha - P), "tau": tau, "theta": theta, "support": P}
