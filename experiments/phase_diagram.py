"""Phase diagrams: which transferred information matters, and what ignoring it costs.

Over (α_target, α_source) for the two-task prior, and over (α_target, shared fraction s)
for the similarity prior, every strategy is optimized (replica.optimize, min ε^(2nd); in
warm-started chains of grid rows, then re-optimized where a grid neighbour's optimum is
better: replica.strategy_optima.basin_check) and we map the winner of value-only (Δλ = 0) against
support-only (κ = 0), and the relative excess error ε_s/ε_full − 1 of value, support,
Trans-Lasso and Pretraining Lasso over the full strategy. Outputs
``phase_diagram_sources.{csv,png,pdf}`` and ``phase_diagram_similarity.*``.
"""

from __future__ import annotations

# ruff: noqa: E402 -- the command line is checked before the slow imports (numba kernels, ~3 s)
from experiments import cli

if __name__ == "__main__":
    cli.preflight("phase_diagram")

import functools

import matplotlib.pyplot as plt
import numpy as np

from experiments import io, sweep
from experiments.plotting import heatmap, winner_map
from replica.strategies import NESTED_ORDER
from replica.strategy_optima import RESTRICTED, basin_check, excess, optimize_chain, serpentine_chains, setting_of

STRATEGIES = NESTED_ORDER
TAG = "phase_diagram/v7"
BASIN_TAG = "basin/v1"  # appended to an experiment's TAG for its cross-chain basin check
BASE = {"sigma_target": 0.1, "sigma_source": 0.1}
TWO_TASK = {"prior": "two_task", "rho_shared": 0.1, "rho_target": 0.02, "rho_source": 0.02}
SIMILARITY = {"prior": "similarity", "alpha_source": 2.0, "rho": 0.1, "correlation": 1.0}
LABELS = {
    "alpha_target": "α_target (target samples / N)",
    "alpha_source": "α_source (source samples / N)",
    "shared_fraction": "s (fraction of target support shared)",
    "sigma_target": "σ_t (target noise)",
    "noise_ratio": "σ_s / σ_t (source-to-target noise ratio)",
}
LINEAR = {"shared_fraction"}
TIE = 1e-4  # relative difference below which value and support are called a tie


def chain_rows(args, n_rows: int) -> int:
    """Grid rows per warm-started chain: one chain per worker when quick; else two rows, so
    progress is saved often (a chain is cached when it ends) at the price of a cold start
    (a multi-start cascade, ~10 warm points) per chain."""
    return -(-n_rows // args.workers) if args.quick else 2


def grid_sizes(args) -> tuple[int, int]:
    """(points per axis of the α_source diagram, of the similarity diagram)."""
    if args.grid:
        return args.grid, max(2, round(0.6 * args.grid))
    if args.smoke:
        return 2, 2
    return (5, 4) if args.quick else (40, 24)


def diagram(args, name: str, y_key: str, y_values, fixed: dict) -> list[dict]:
    """Sweep (α_target × y); write the CSV and figure; return the rows."""
    n_x = len(y_values) if args.smoke else grid_sizes(args)[0 if y_key == "alpha_source" else 1]
    x_values = np.geomspace(0.1, 3.0, n_x)
    rows = [[{**BASE, **fixed, "alpha_target": float(x), y_key: float(y)} for x in x_values] for y in y_values]
    table = optimized_grid(args, rows, TAG, name)
    write_outputs(args.out / name, table, x_values, np.asarray(y_values), "alpha_target", y_key)
    return table


def optimized_grid(args, rows: list[list[dict]], tag: str, desc: str) -> list[dict]:
    """Every strategy optimized over a grid (a list of grid rows of points) in serpentine chains,
    then checked across chains (:func:`replica.strategy_optima.basin_check`); the grid's rows, flattened."""
    # few long chains: a chain starts cold (a multi-start cascade, ~100× a warm point)
    chains = serpentine_chains(rows, rows_per_chain=chain_rows(args, len(rows)))
    fn = functools.partial(optimize_chain, strategies=STRATEGIES)
    results = sweep.run_chains(fn, chains, tag=tag, desc=desc, **cli.sweep_options(args))
    by_key = {sweep.point_key(p, tag): {**p, **r} for chain, res in zip(chains, results) for p, r in zip(chain, res)}
    grid = [[by_key[sweep.point_key(p, tag)] for p in line] for line in rows]
    # cached as a whole, keyed by its input: a rerun reads it back, new chain results redo it (~30 s at 40×40)
    key = {"input": sweep.point_key({"grid": grid}, tag)}
    check = lambda _: {"grid": basin_check([[setting_of(p) for p in line] for line in grid], grid, STRATEGIES)}
    checked = sweep.run_sweep(
        check, [key], args.cache, tag=f"{tag}+{BASIN_TAG}", desc=f"{desc}: basin check", progress=not args.no_progress
    )[0]["grid"]
    # the point's own keys first: the cache's JSON has sorted them
    return [{**p, **row} for points, line in zip(rows, checked) for p, row in zip(points, line)]


def write_outputs(stem, table, x, y, x_key, y_key, title=None):
    """Add excess errors and the value/support winner to the rows (in place); write CSV and figure."""
    for row in table:
        for s in RESTRICTED:
            row[f"excess_{s}"] = excess(row, s)
        row["winner"] = winning_strategy(row) if row.get("converged") else ""
    io.write_csv(stem.with_name(stem.name + ".csv"), table)
    plot(stem, table, x, y, x_key, y_key, title)


def winning_strategy(row) -> str:
    """ "value" or "support", whichever has the lower optimal ε; "tie" within TIE (e.g. nothing shared)."""
    diff = (row["value_eps2"] - row["support_eps2"]) / row["full_eps2"]
    return "tie" if abs(diff) < TIE else ("value" if diff < 0 else "support")


def plot(stem, table, x, y, x_key, y_key, title=None):
    shape = (len(y), len(x))
    grid = {
        key: np.array([row.get(key, np.nan) for row in table], float).reshape(shape)
        for key in ("value_eps2", "support_eps2", "full_eps2", *(f"excess_{s}" for s in RESTRICTED))
    }
    logx, logy = x_key not in LINEAR, y_key not in LINEAR
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5), constrained_layout=True)
    if title:
        fig.suptitle(title)
    ax = axes[0, 0]
    winner_map(ax, x, y, (grid["value_eps2"] - grid["support_eps2"]) / grid["full_eps2"], logx=logx, logy=logy)
    ax.set_title("winner: value (blue) vs support (orange)")
    best = np.fmin(grid["excess_value"], grid["excess_support"])
    panels = [
        ("excess_value", "value only (Δλ = 0)"),
        ("excess_support", "support only (κ = 0)"),
        (None, "better of value / support"),
        ("excess_trans_lasso", "Trans-Lasso (κ = 1, Δλ = 0)"),
        ("excess_pretraining_lasso", "Pretraining Lasso"),
    ]
    vmax = np.nanmax([np.nanmax(grid[f"excess_{s}"]) for s in RESTRICTED])
    for ax, (key, title) in zip(axes.flat[1:], panels):
        Z = best if key is None else grid[key]
        heatmap(
            ax,
            x,
            y,
            Z,
            logx=logx,
            logy=logy,
            log_color=True,
            vmin=1e-4,
            vmax=max(vmax, 1e-3),
            cmap="magma",
            label="ε / ε_full − 1",
        )
        ax.set_title(f"excess error: {title}")
    for ax in axes.flat:
        ax.set_xlabel(LABELS[x_key])
        ax.set_ylabel(LABELS[y_key])
    io.save_figure(fig, stem)
    plt.close(fig)


@io.reports_outputs
def main(argv=None):
    args = cli.parse_args(cli.experiment_parser("phase_diagram", __doc__), argv)
    args.quick |= args.smoke
    n_src, n_sim = grid_sizes(args)
    diagram(args, "phase_diagram_sources", "alpha_source", np.geomspace(0.1, 5.0, n_src), TWO_TASK)
    diagram(args, "phase_diagram_similarity", "shared_fraction", np.linspace(0.0, 1.0, n_sim), SIMILARITY)


if __name__ == "__main__":
    main()
