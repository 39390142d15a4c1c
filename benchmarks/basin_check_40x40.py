"""Benchmark: the cross-chain basin check (replica.strategy_optima.basin_check) on a committed phase diagram.

Reads the flattened optima of ``figures/phase_diagram_sources.csv`` (the 40×40 (α_target, α_source)
grid computed in warm-started chains of two grid rows), applies the basin check, and prints how many
points each strategy improved at, the largest relative improvement, the excess of the better of
value/support over full and its stripes before and after, and the wall time. Nothing is written.

    python -m benchmarks.basin_check_40x40 [--csv PATH] [--rows 0:10] [--margin 1e-6]
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np

from experiments import io
from experiments.phase_diagram import STRATEGIES
from replica.strategy_optima import basin_check, setting_of


def read_grid(path, y_key: str) -> list[list[dict]]:
    """The CSV's rows as a grid: one grid row per value of ``y_key``, in file order."""
    grid: dict[float, list[dict]] = {}
    for row in io.read_csv(path):
        grid.setdefault(row[y_key], []).append(row)
    return list(grid.values())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", default="figures/phase_diagram_sources.csv")
    parser.add_argument("--y-key", default="alpha_source", help="the grid's second axis (default alpha_source)")
    parser.add_argument("--rows", default=":", metavar="A:B", help="slice of grid rows to check (default all)")
    parser.add_argument("--margin", type=float, default=1e-6, help="relative margin of basin_check")
    args = parser.parse_args(argv)
    grid = read_grid(args.csv, args.y_key)
    grid = grid[slice(*(int(v) if v else None for v in args.rows.split(":")))]
    settings = [[setting_of(row) for row in line] for line in grid]
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    t0 = time.perf_counter()
    checked = basin_check(settings, grid, STRATEGIES, margin=args.margin)
    seconds = time.perf_counter() - t0
    before = [row for line in grid for row in line]
    after = [row for line in checked for row in line]
    print(f"{len(after)} points ({len(grid)} rows of {args.y_key}): basin check {seconds:.1f} s")
    for name in STRATEGIES:
        gain = np.array([1 - a[f"{name}_eps2"] / b[f"{name}_eps2"] for a, b in zip(after, before)])
        i = int(np.argmax(gain))
        print(
            f"{name:>18}: improved at {np.count_nonzero(gain > 0):4d} points ({np.count_nonzero(gain > 1e-4)} by "
            f"> 1e-4), largest relative improvement {gain[i]:.2e} at alpha_target = {after[i]['alpha_target']:.3g}, "
            f"{args.y_key} = {after[i][args.y_key]:.3g}"
        )
    print(f"points with any improvement: {sum(bool(row['basin_fixed']) for row in after)}")
    for label, rows in (("before", grid), ("after", checked)):
        best = np.array([[min(r["value_eps2"], r["support_eps2"]) / r["full_eps2"] - 1 for r in line] for line in rows])
        # a stripe is a grid row off its two neighbours: the second difference across rows
        stripes = np.abs(best[1:-1] - (best[:-2] + best[2:]) / 2)
        print(
            f"{label}: excess of the better of value/support over full: max {best.max():.4f}, "
            f"median {np.median(best):.5f}; largest second difference across {args.y_key} rows {stripes.max():.4f}"
        )
    worst = min(r[f"{s}_eps2"] - r["full_eps2"] for r in after for s in STRATEGIES if s != "pretrained")
    print(f"min over points and restricted strategies of eps_s - eps_full: {worst:.3g} (must be >= 0)")


if __name__ == "__main__":
    main()
