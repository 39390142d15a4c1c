"""Benchmark: wall time of the (α_target, α_source) phase diagram exactly as the experiment computes it.

Runs ``experiments.phase_diagram``'s α_source diagram — an n×n grid, α_target ∈ [0.1, 3] and
α_source ∈ [0.1, 5] log-spaced, every strategy optimized at every point (full, value and support
among them) in warm-started chains, then the cross-chain basin check — with ``--workers``
processes and an empty cache, and reports the wall time, the time per grid point and, as a
same-process baseline, one cold ``predict`` (so the number can be compared across machines).

    python -m benchmarks.bench_phase_diagram [--grid 40] [--workers 2] [--out benchmarks/bench_phase_diagram.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from experiments import phase_diagram
from replica import Hyperparameters, Setting, predict


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", type=int, default=40, help="points per axis (default 40)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here")
    args = parser.parse_args(argv)
    baseline = Setting.two_task(0.5, 1.0, 0.1, 0.1, 0.1, 0.02, 0.02), Hyperparameters(0.1, 0.05, 0.5, 1.0)
    predict(*baseline)
    t0 = time.perf_counter()
    for _ in range(20):
        predict(*baseline)
    t_predict = (time.perf_counter() - t0) / 20
    with tempfile.TemporaryDirectory() as tmp:
        cli = phase_diagram.cli.experiment_parser("phase_diagram")
        exp = phase_diagram.cli.parse_args(
            cli,
            [
                "--grid",
                str(args.grid),
                "--workers",
                str(args.workers),
                "--out",
                tmp,
                "--cache",
                f"{tmp}/cache",
                "--no-progress",
            ],
        )
        t0 = time.perf_counter()
        table = phase_diagram.diagram(
            exp, "phase_diagram_sources", "alpha_source", np.geomspace(0.1, 5.0, args.grid), phase_diagram.TWO_TASK
        )
        wall = time.perf_counter() - t0
    converged = sum(bool(row.get("converged")) for row in table)
    full_le = all(
        row["full_eps2"] <= row[f"{s}_eps2"]
        for row in table
        if row.get("converged")
        for s in phase_diagram.STRATEGIES
        if s not in ("full", "pretrained")
    )
    out = {
        "grid": f"{args.grid}x{args.grid}",
        "workers": args.workers,
        "strategies": list(phase_diagram.STRATEGIES),
        "wall_s": wall,
        "wall_min": wall / 60,
        "per_point_s": wall / len(table) * args.workers,
        "converged_points": converged,
        "points": len(table),
        "full_le_every_restricted": full_le,
        "cold_predict_s": t_predict,
        "wall_over_cold_predict": wall / t_predict,
    }
    for key, value in out.items():
        print(f"{key:>26}: {value:.4g}" if isinstance(value, float) else f"{key:>26}: {value}")
    if args.out:
        args.out.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
