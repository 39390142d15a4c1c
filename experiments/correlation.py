"""Error against design correlation: AR(1) designs Σ_ij = ρ^|i−j|, the i.i.d. prediction, the correlated one, simulations.

The issue's two-task prior (α_t = 0.5, α_s = 2, σ = 0.3, ρ_s = 0.1, ρ_t = ρ_u = 0.02) at the i.i.d.
theory's optimal full, value and support hyperparameters (``replica.optimize``, computed once). At each
AR(1) strength ρ: today's i.i.d. prediction (which ignores Σ), the correlated-design prediction with its
sampling SE (``Setting.with_covariance``, THEORY.md §7) and ``solvers.simulate`` on designs with rows
N(0, Σ/N) (mean ± seed SE). Errors are Σ-norm errors, the test error on a fresh target row. Outputs
``correlation.{csv,png,pdf}``: ε^(2nd) and the support of x2 against ρ, one column per strategy.
"""

from __future__ import annotations

# ruff: noqa: E402 -- the command line is checked before the slow imports (numba kernels, ~3 s)
from experiments import cli

if __name__ == "__main__":
    cli.preflight("correlation")

import functools

import numpy as np
from matplotlib.figure import Figure

from experiments import io
from experiments.sweep import run_sweep
from replica import Hyperparameters, Setting, optimize, predict
from replica.covariance import ar1
from solvers import simulate
from solvers.simulation.compare import compare

TAG = "correlation/v1"
SETTING = Setting.two_task(0.5, 2.0, 0.3, 0.3, 0.1, 0.02, 0.02)
STRATEGIES = ("full", "value", "support")
KEYS = ("eps1", "eps2", "support1", "support2")
CONFIGS = {
    "full": {"rhos": (0.0, 0.3, 0.5, 0.7, 0.8, 0.9), "N": 500, "seeds": 24},
    "quick": {"rhos": (0.0, 0.5, 0.8), "N": 400, "seeds": 6},
    "smoke": {"rhos": (0.0, 0.8), "N": 200, "seeds": 2},
}


@functools.lru_cache(maxsize=1)
def iid_optima() -> dict:
    """The i.i.d. theory's optimal hyperparameters of each strategy (what a user of today's theory would pick)."""
    value, support = optimize(SETTING, "value"), optimize(SETTING, "support")
    return {"value": value, "support": support, "full": optimize(SETTING, "full", seeds=[value, support])}


def run_point(point: dict) -> dict:
    """One (ρ, strategy): both predictions and the simulations."""
    hp = Hyperparameters(**point["hyperparameters"])
    setting = SETTING.with_covariance(ar1(point["N"], point["rho"]))
    theory, iid = predict(setting, hp), predict(SETTING, hp)
    records = simulate(setting, hp, point["N"], range(point["seeds"]), workers=1)
    corr, plain = compare(records, theory, KEYS), compare(records, iid, KEYS)
    row = {}
    for k in KEYS:
        row |= {
            f"{k}_sim": corr[k].mean,
            f"{k}_sim_se": corr[k].se,
            f"{k}_corr": corr[k].theory,
            f"{k}_corr_se": corr[k].theory_se,
            f"{k}_z_corr": corr[k].z,
            f"{k}_iid": plain[k].theory,
            f"{k}_z_iid": plain[k].z,
        }
    return row


def plot(rows: list[dict], path):
    fig = Figure(figsize=(4.0 * len(STRATEGIES), 6.4), constrained_layout=True)
    axes = fig.subplots(2, len(STRATEGIES), sharex=True)
    for j, strategy in enumerate(STRATEGIES):
        sub = sorted((r for r in rows if r["strategy"] == strategy), key=lambda r: r["rho"])
        rho = np.array([r["rho"] for r in sub])
        for ax, key, label in ((axes[0, j], "eps2", "ε^(2nd)"), (axes[1, j], "support2", "support of x2")):
            corr = np.array([r[f"{key}_corr"] for r in sub])
            band = np.array([r[f"{key}_corr_se"] for r in sub])
            ax.plot(rho, [r[f"{key}_iid"] for r in sub], "k--", label="i.i.d. prediction")
            ax.plot(rho, corr, "C0-", label="correlated prediction (± SE)")
            ax.fill_between(rho, corr - band, corr + band, color="C0", alpha=0.3)
            ax.errorbar(
                rho,
                [r[f"{key}_sim"] for r in sub],
                yerr=[r[f"{key}_sim_se"] for r in sub],
                fmt="o",
                color="C3",
                ms=4,
                capsize=2,
                label=f"simulation (N = {sub[0]['N']}, {sub[0]['seeds']} seeds)",
            )
            ax.set_ylabel(label)
            ax.set_title(f"{strategy}" if key == "eps2" else "")
        axes[1, j].set_xlabel("AR(1) correlation ρ")
    axes[0, 0].legend(fontsize=7)
    return io.save_figure(fig, path)


@io.reports_outputs
def main(argv=None):
    args = cli.parse_args(cli.experiment_parser("correlation", __doc__), argv)
    config = CONFIGS["smoke" if args.smoke else "quick" if args.quick else "full"]
    optima = iid_optima()
    points = [
        {
            "rho": float(rho),
            "strategy": s,
            "N": config["N"],
            "seeds": config["seeds"],
            "hyperparameters": optima[s].hyperparameters.as_dict(),
        }
        for s in STRATEGIES
        for rho in config["rhos"]
    ]
    results = run_sweep(run_point, points, tag=TAG, desc="correlation", **cli.sweep_options(args))
    rows = [
        {**{k: v for k, v in p.items() if k != "hyperparameters"}, **p["hyperparameters"], **r}
        for p, r in zip(points, results)
    ]
    io.write_csv(args.out / "correlation.csv", rows)
    plot(rows, args.out / "correlation")
    print("\n".join(map(_report_line, rows)))


def _report_line(r: dict) -> str:
    """ε2 of one (ρ, strategy): simulated, and the correlated and i.i.d. predictions with their z-scores."""
    sim = f"sim {r['eps2_sim']:.4f}±{r['eps2_sim_se']:.4f}"
    corr = f"corr {r['eps2_corr']:.4f}±{r['eps2_corr_se']:.4f} (z {r['eps2_z_corr']:+.2f})"
    return f"ρ={r['rho']:.1f} {r['strategy']:8s} ε2: {sim} {corr} iid {r['eps2_iid']:.4f} (z {r['eps2_z_iid']:+.1f})"


if __name__ == "__main__":
    main()
