"""Optimal ε^(2nd) of every strategy against α_target, with simulations at the optimal hyperparameters.

Panels: two-task prior at two source sizes α_source, and the similarity prior at two shared
fractions s. For each α_target every strategy is optimized (replica.optimize; ``pretrained``
reports ε^(1st)); finite-size simulations (solvers.simulate, N features, several seeds,
error bars std/√n) are run at the optimal hyperparameters of value, support and full.
Outputs ``strategies.{csv,png,pdf}``, ``strategies_simulation.csv`` and
``strategies_hyperparameters.{png,pdf}`` (optimal κ*, Δλ*, λ1*, λ2* against α_target).
"""

from __future__ import annotations

# ruff: noqa: E402 -- the command line is checked before the slow imports (numba kernels, ~3 s)
from experiments import cli

if __name__ == "__main__":
    cli.preflight("strategies")

import functools
import math

import matplotlib.pyplot as plt
import numpy as np

from experiments import io, sweep
from experiments.plotting import STYLE
from replica import Hyperparameters
from replica.strategy_optima import ORDER, optimize_chain, setting_of

TAG = "strategies/v6"
SIM_TAG = "strategies_sim/v1"
SIMULATED = ("value", "support", "full")
BASE = {"sigma_target": 0.1, "sigma_source": 0.1}
PANELS = {
    "two-task, α_source = 1": {
        "prior": "two_task",
        "alpha_source": 1.0,
        "rho_shared": 0.1,
        "rho_target": 0.02,
        "rho_source": 0.02,
    },
    "two-task, α_source = 4": {
        "prior": "two_task",
        "alpha_source": 4.0,
        "rho_shared": 0.1,
        "rho_target": 0.02,
        "rho_source": 0.02,
    },
    "similarity s = 0.5, α_source = 2": {
        "prior": "similarity",
        "alpha_source": 2.0,
        "rho": 0.1,
        "shared_fraction": 0.5,
        "correlation": 1.0,
    },
    "similarity s = 0.9, α_source = 2": {
        "prior": "similarity",
        "alpha_source": 2.0,
        "rho": 0.1,
        "shared_fraction": 0.9,
        "correlation": 1.0,
    },
}


def sizes(args) -> dict:
    if args.smoke:
        return {"n_alpha": 2, "sim_every": 2, "N": 100, "seeds": 2, "panels": list(PANELS)[:1]}
    if args.quick:
        return {"n_alpha": 4, "sim_every": 3, "N": 300, "seeds": 3, "panels": list(PANELS)[:2]}
    return {"n_alpha": 16, "sim_every": 3, "N": 1000, "seeds": 8, "panels": list(PANELS)}


def simulate_point(point) -> dict:
    """Mean and standard error of ε^(1st), ε^(2nd) over seeds at the point's hyperparameters."""
    from solvers import simulate

    hp = Hyperparameters(point["lam1"], point["lam2"], point["kappa"], point["delta_lam"])
    records = simulate(setting_of(point), hp, n_features=point["N"], seeds=range(point["seeds"]), workers=1)
    out = {}
    for key in ("eps1", "eps2"):
        values = np.array([r[key] for r in records], float)
        out[f"sim_{key}"] = float(values.mean())
        out[f"sim_{key}_se"] = float(values.std(ddof=1) / math.sqrt(values.size))
    return out


@io.reports_outputs
def main(argv=None):
    args = cli.parse_args(cli.experiment_parser("strategies", __doc__), argv)
    args.quick |= args.smoke
    n = sizes(args)
    n["n_alpha"] = args.grid or n["n_alpha"]
    alphas = np.geomspace(0.1, 3.0, n["n_alpha"])
    chains = [[{**BASE, **PANELS[p], "alpha_target": float(a)} for a in alphas] for p in n["panels"]]
    fn = functools.partial(optimize_chain, strategies=ORDER)
    results = sweep.run_chains(fn, chains, tag=TAG, desc="strategies", **cli.sweep_options(args))
    table = [
        {"panel": p, **point, **res}
        for p, chain, chain_res in zip(n["panels"], chains, results)
        for point, res in zip(chain, chain_res)
    ]
    io.write_csv(args.out / "strategies.csv", table)

    sim_points = [
        {
            **{k: row[k] for k in (*BASE, *PANELS[row["panel"]], "alpha_target")},
            **{k: row[f"{s}_{k}"] for k in ("lam1", "lam2", "kappa", "delta_lam")},
            "strategy": s,
            "N": n["N"],
            "seeds": n["seeds"],
        }
        for i, row in enumerate(table)
        if row["converged"] and i % n["sim_every"] == 0
        for s in SIMULATED
    ]
    sims = run_simulations(args, sim_points)
    io.write_csv(args.out / "strategies_simulation.csv", sims)
    plot_errors(args.out / "strategies", table, sims, n["panels"])
    plot_hyperparameters(args.out / "strategies_hyperparameters", table, n["panels"])


def run_simulations(args, points) -> list[dict]:
    """Finite-size simulations (``solvers.simulate``) at each strategy's optimal hyperparameters."""
    results = sweep.run_sweep(simulate_point, points, tag=SIM_TAG, desc="simulations", **cli.sweep_options(args))
    return [p | r for p, r in zip(points, results)]


def _panel_rows(table, panel, key):
    rows = [r for r in table if r["panel"] == panel and r["converged"]]
    return np.array([r["alpha_target"] for r in rows]), np.array([r[key] for r in rows], float)


def plot_errors(stem, table, sims, panels):
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.2), squeeze=False, constrained_layout=True)
    for ax, panel in zip(axes[0], panels):
        for s in ORDER:
            color, marker = STYLE[s]
            x, y = _panel_rows(table, panel, f"{s}_eps2")
            ax.plot(
                x,
                y,
                color=color,
                lw=2.2 if s == "full" else 1.3,
                ls="--" if s == "pretrained" else "-",
                label=s + (" (ε^(1st))" if s == "pretrained" else ""),
            )
        for s in SIMULATED:
            pts = [p for p in sims if p["strategy"] == s and panel_of(p) == panel]
            if pts:
                color, marker = STYLE[s]
                ax.errorbar(
                    [p["alpha_target"] for p in pts],
                    [p["sim_eps2"] for p in pts],
                    yerr=[p["sim_eps2_se"] for p in pts],
                    fmt=marker,
                    color=color,
                    ms=5,
                    capsize=2,
                    mfc="none",
                )
        ax.set(xscale="log", yscale="log", xlabel="α_target", ylabel="optimal ε^(2nd)", title=panel)
    axes[0, 0].legend(fontsize=8, title="lines: theory; markers: simulation", title_fontsize=8)
    io.save_figure(fig, stem)
    plt.close(fig)


def panel_of(point) -> str:
    """The name of the PANELS entry whose settings ``point`` has."""
    for name, spec in PANELS.items():
        if all(point.get(k) == v for k, v in spec.items()):
            return name
    return ""


def plot_hyperparameters(stem, table, panels):
    keys = [("kappa", "κ*"), ("delta_lam", "Δλ*/(1+Δλ*)"), ("lam1", "λ1*"), ("lam2", "λ2*")]
    fig, axes = plt.subplots(
        len(keys),
        len(panels),
        figsize=(4.2 * len(panels), 2.6 * len(keys)),
        squeeze=False,
        sharex=True,
        constrained_layout=True,
    )
    for j, panel in enumerate(panels):
        for i, (key, label) in enumerate(keys):
            ax = axes[i, j]
            for s in SIMULATED + ("trans_lasso", "pretraining_lasso"):
                x, y = _panel_rows(table, panel, f"{s}_{key}")
                if key == "delta_lam":
                    y = np.where(np.isinf(y), 1.0, y / (1 + y))
                ax.plot(x, y, marker=STYLE[s][1], ms=3, color=STYLE[s][0], label=s)
            ax.set(xscale="log", ylabel=label)
            if key in ("lam1", "lam2"):
                ax.set_yscale("log")
            if i == 0:
                ax.set_title(panel)
            if i == len(keys) - 1:
                ax.set_xlabel("α_target")
    axes[0, 0].legend(fontsize=8)
    io.save_figure(fig, stem)
    plt.close(fig)


if __name__ == "__main__":
    main()
