"""Landscape of the transfer knobs: min over (λ1, λ2) of ε^(2nd) as a heat map over (κ, Δλ).

Δλ is shown as t = Δλ/(1 + Δλ) ∈ [0, 1] so that t = 1 is Δλ = ∞. At every (κ, t) the inner
problem over (λ1, λ2) is solved by replica.optimize with a fixed-transfer family, warm-started
along rows of constant t. One panel for a small and one for a large α_target; the grid
minimum is marked. Outputs ``landscape.{csv,png,pdf}``.

Reproducible to the last bit: a rerun on the same machine writes the same ``landscape.csv``,
byte for byte, whatever was in the cache. Three things make it so:

* ties on the x1 = 0 plateau are broken by a fixed rule. Where stage 1 does not help, ε^(2nd)
  falls towards its λ1 → ∞ limit (x1 = 0) and flattens out to rounding long before; the local
  method stops anywhere on that plateau (λ1 ≈ 12 or ≈ 35 at α_target = 2, κ ≤ 1, t = 0,
  depending on its start). Every optimum is therefore compared with the same (λ2, κ, Δλ) at the
  family's largest λ1 (:data:`LAM1_OFF`, solved cold, so the value does not depend on the
  path): if that is no worse, to :data:`PLATEAU` relative, the row reports it. At κ = 0, Δλ = 0,
  where λ1 does not enter ε^(2nd) at all, that is always the case;
* a chain (a row of constant t) whose cache is incomplete is computed again from its first
  point (:func:`experiments.sweep.run_chains`, ``whole_chains``): every point sees the warm
  starts of an uninterrupted run, also after an interruption;
* the cache tag names the grid size, so a ``--quick`` run (6×6) and a full one (25×25), which
  share the corner points but reach them along different chains, never read each other's.

Other machines (another CPU, numba or BLAS) may differ in the last digits.
"""

from __future__ import annotations

# ruff: noqa: E402 -- the command line is checked before the slow imports (numba kernels, ~3 s)
from experiments import cli

if __name__ == "__main__":
    cli.preflight("landscape")

import dataclasses
import math

import matplotlib.pyplot as plt
import numpy as np

from experiments import io, sweep
from experiments.plotting import heatmap
from replica import ConvergenceError, optimize, predict
from replica.strategies import LOG_LAM_BOUNDS, fixed_transfer
from replica.strategy_optima import setting_of

TAG = "landscape/v6"  # the cache tag is f"{TAG}/{n}x{n}": see the module docstring
SETTING = {
    "prior": "two_task",
    "alpha_source": 2.0,
    "sigma_target": 0.1,
    "sigma_source": 0.1,
    "rho_shared": 0.1,
    "rho_target": 0.02,
    "rho_source": 0.02,
}
ALPHA_TARGETS = (0.2, 2.0)
KAPPA_MAX = 1.6
LAM1_OFF = math.exp(LOG_LAM_BOUNDS[1])  # the largest λ1 of the inner family: x1 = 0 for these settings
PLATEAU = 1e-12  # relative: ε^(2nd) flatter than this in λ1 is a tie (replica.optimize's rule for λ2)


def delta_of(t: float) -> float:
    return math.inf if t >= 1.0 else t / (1.0 - t)


def x1_off_tie(setting, res):
    """The optimum ``res`` of the inner (λ1, λ2) problem, moved to λ1 = :data:`LAM1_OFF` when that ties.

    Returns the :class:`~replica.Prediction` at (LAM1_OFF, λ2, κ, Δλ) of ``res`` if its ε^(2nd) is at
    most ``res``'s times 1 + :data:`PLATEAU`, else None. The prediction is solved cold, so it is a
    function of the point alone, not of the search that found ``res``.
    """
    hp = dataclasses.replace(res.hyperparameters, lam1=LAM1_OFF)
    try:
        off = predict(setting, hp)
    except ConvergenceError:
        return None
    return off if off.eps2 <= res.eps2 * (1 + PLATEAU) else None


def landscape_chain(points) -> list[dict]:
    """min over (λ1, λ2) of ε^(2nd) at each point's (κ, t), warm-starting from the previous point.

    The pretrained model's optimal λ1 seeds every point: a chain that starts where stage 1 does
    not matter (κ = 0, Δλ = 0) would otherwise carry an arbitrary λ1, possibly on the x1 = 0
    plateau (λ1 → ∞), into points where it does. A tie with that plateau is reported at its
    fixed representative λ1 = LAM1_OFF (:func:`x1_off_tie`); the warm starts are the optimizer's own.
    """
    previous, rows, pretrained = None, [], {}
    for p in points:
        fam = fixed_transfer(p["kappa"], delta_of(p["t"]))
        setting = setting_of(p)
        try:
            if p["alpha_target"] not in pretrained:
                pretrained[p["alpha_target"]] = optimize(setting, "pretrained")
            res = optimize(setting, fam, start=previous, seeds=(pretrained[p["alpha_target"]],))
        except ConvergenceError as exc:
            rows.append({"converged": False, "error": str(exc)})
            continue
        previous = res
        tie = x1_off_tie(setting, res)
        found = tie if tie is not None else res.prediction
        rows.append(
            {
                "converged": True,
                "eps2": found.eps2,
                "lam1": found.hyperparameters.lam1,
                "lam2": found.hyperparameters.lam2,
                "evaluations": res.evaluations,
                "failures": res.failures,
            }
        )
    return rows


@io.reports_outputs
def main(argv=None):
    args = cli.parse_args(cli.experiment_parser("landscape", __doc__), argv)
    n = args.grid or (3 if args.smoke else (6 if args.quick else 25))
    kappas = np.linspace(0.0, KAPPA_MAX, n)
    ts = np.linspace(0.0, 1.0, n)
    chains = [
        [
            {**SETTING, "alpha_target": a, "kappa": float(k), "t": float(t)}
            for k in (kappas if i % 2 == 0 else kappas[::-1])
        ]
        for a in ALPHA_TARGETS
        for i, t in enumerate(ts)
    ]
    results = sweep.run_chains(
        landscape_chain, chains, tag=f"{TAG}/{n}x{n}", desc="landscape", whole_chains=True, **cli.sweep_options(args)
    )
    table = sorted(
        ({**p, **r} for chain, res in zip(chains, results) for p, r in zip(chain, res)),
        key=lambda r: (r["alpha_target"], r["t"], r["kappa"]),
    )
    io.write_csv(args.out / "landscape.csv", table)

    fig, axes = plt.subplots(1, len(ALPHA_TARGETS), figsize=(6.2 * len(ALPHA_TARGETS), 4.8), constrained_layout=True)
    for ax, a in zip(np.atleast_1d(axes), ALPHA_TARGETS):
        rows = [r for r in table if r["alpha_target"] == a]
        Z = np.array([r.get("eps2", np.nan) if r["converged"] else np.nan for r in rows]).reshape(n, n)
        i, j = np.unravel_index(np.nanargmin(Z), Z.shape)
        # relative excess over the grid optimum: the landscape can be flat to 1e-4 (large α_target)
        heatmap(
            ax,
            kappas,
            ts,
            np.maximum(Z / Z[i, j] - 1, 1e-5),
            logx=False,
            logy=False,
            log_color=True,
            vmin=1e-5,
            cmap="viridis_r",
            label="ε^(2nd)/ε* − 1, ε^(2nd) minimized over (λ1, λ2)",
        )
        ax.plot(
            kappas[j],
            ts[i],
            marker="*",
            ms=16,
            color="red",
            mec="white",
            label=f"optimum: κ={kappas[j]:.2f}, t={ts[i]:.2f}, ε={Z[i, j]:.4g}",
        )
        ax.set(
            xlabel="κ (transferred values)",
            ylabel="t = Δλ/(1+Δλ) (transferred support; t = 1: Δλ = ∞)",
            title=f"α_target = {a}, α_source = {SETTING['alpha_source']}",
        )
        ax.legend(loc="upper right", fontsize=8)
    io.save_figure(fig, args.out / "landscape")
    plt.close(fig)


if __name__ == "__main__":
    main()
