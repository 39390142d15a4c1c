"""Quick demo: predicted ε^(1st) and ε^(2nd) against α_target for a few fixed (κ, Δλ).

Writes ``demo_errors.{png,pdf,csv}`` to ``--out`` (default ``results/demo/``, git-ignored).
Takes a few seconds: each curve is one warm-started sweep of ``replica.predict``. The first run
in a fresh checkout first compiles replica's numba kernels and says so (numba caches them).
"""

from __future__ import annotations

# ruff: noqa: E402 -- the command line is checked before the slow imports (numba kernels, ~3 s)
from experiments import cli

if __name__ == "__main__":
    cli.preflight("demo")

import math
import sys

import numpy as np
from matplotlib.figure import Figure

from experiments import io, numba_cache
from replica import Hyperparameters, Setting, predict

STRATEGIES = [
    ("target only (κ=0, Δλ=0)", 0.0, 0.0),
    ("Trans-Lasso (κ=1, Δλ=0)", 1.0, 0.0),
    ("support only (κ=0, Δλ=∞)", 0.0, math.inf),
    ("both (κ=0.5, Δλ=1)", 0.5, 1.0),
]
LAM1, LAM2 = 0.3, 0.1


def sweep(alphas, kappa, delta_lam, alpha_source=2.0):
    rows, prev = [], None
    for a in alphas:
        s = Setting.two_task(a, alpha_source, 0.3, 0.3, rho_shared=0.1, rho_target=0.02, rho_source=0.02)
        prev = predict(s, Hyperparameters(LAM1, LAM2, kappa, delta_lam), warm_start=prev)
        rows.append(
            {
                "alpha_target": a,
                "kappa": kappa,
                "delta_lam": delta_lam,
                "eps1": prev.eps1,
                "eps2": prev.eps2,
                "support1": prev.support1,
                "support2": prev.support2,
            }
        )
    return rows


@io.reports_outputs
def main(argv=None):
    args = cli.parse_args(cli.demo_parser(__doc__), argv)
    if numba_cache.uncached_kernels("replica", numba_cache.IID_MODULES):
        print("first run: compiling replica's numba kernels (once; numba caches them) ...", file=sys.stderr, flush=True)
    alphas = np.geomspace(0.1, 3.0, args.points or (10 if args.quick else 40))
    fig = Figure(figsize=(6.4, 4.2), constrained_layout=True)
    ax = fig.add_subplot()
    rows = []
    for i, (label, kappa, dlam) in enumerate(STRATEGIES):
        curve = sweep(alphas, kappa, dlam)
        rows += curve
        ax.plot(alphas, [r["eps2"] for r in curve], color=f"C{i}", label=f"ε(2nd), {label}")
    ax.plot(alphas, [r["eps1"] for r in curve], "k--", label="ε(1st), pretrained x1")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="α_target = M_target / N",
        ylabel="generalization error",
        title=f"Replica prediction, α_source = 2, λ1 = {LAM1}, λ2 = {LAM2}",
    )
    ax.legend(fontsize=8)
    io.save_figure(fig, args.out / "demo_errors")
    io.write_csv(args.out / "demo_errors.csv", rows)


if __name__ == "__main__":
    main()
