"""Finite-size check of figures/strategies_simulation.csv: ε(N) at several N, ε∞ by ε(N) = ε∞ + c/N.

Each POINT is ``panel:strategy:alpha_target`` with panel ``sim09`` (similarity s = 0.9,
α_source = 2), ``sim05`` (s = 0.5), ``tt1`` or ``tt4`` (two-task, α_source = 1 or 4); the setting
and the strategy's optimal hyperparameters are read from figures/strategies.csv (the row whose
α_target is nearest). At every N, ``solvers.simulate`` runs seeds 0 … S_N − 1 in one process, with
S_N = round(--seed-budget / N) clipped to [--min-seeds, --max-seeds] (seed variance ~ 1/N, so the SE
is about equal across N). ε∞ ± SE comes from ``solvers.extrapolate`` (weighted least squares,
SE from the seed SEs) and is compared with ``replica.predict`` at the same hyperparameters.
``--moments`` also compares the empirical prior moments of the drawn truths with the Setting's.
``--panel PANEL`` instead re-runs every simulated point of that panel in
figures/strategies_simulation.csv at N = --panel-n with seeds 0 … --panel-seeds − 1 and prints
the z-scores against the theory with all seeds and with the CSV's seeds 0–7 alone.

Examples: PYTHONPATH=. python benchmarks/finite_size_similarity.py sim09:value:0.39 sim09:full:0.197
          PYTHONPATH=. python benchmarks/finite_size_similarity.py --panel sim09 --panel-seeds 64
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from experiments import io
from replica import Hyperparameters, predict
from replica.strategy_optima import setting_of
from solvers import simulate
from solvers.simulation import draw_truth, extrapolate

ROOT = Path(__file__).resolve().parents[1]
PANELS = {
    "sim09": ("similarity", {"shared_fraction": 0.9}),
    "sim05": ("similarity", {"shared_fraction": 0.5}),
    "tt1": ("two_task", {"alpha_source": 1.0}),
    "tt4": ("two_task", {"alpha_source": 4.0}),
}
SETTING_KEYS = (
    "prior",
    "alpha_target",
    "alpha_source",
    "sigma_target",
    "sigma_source",
    "rho_shared",
    "rho_target",
    "rho_source",
    "rho",
    "shared_fraction",
    "correlation",
)


def panel_rows(csv_name: str, panel: str) -> list[dict]:
    """The rows of figures/<csv_name> that belong to ``panel``."""
    prior, spec = PANELS[panel]
    return [
        r
        for r in io.read_csv(ROOT / "figures" / csv_name)
        if r["prior"] == prior and all(r[k] == v for k, v in spec.items())
    ]


def theory_row(panel: str, alpha_target: float) -> dict:
    return min(panel_rows("strategies.csv", panel), key=lambda r: abs(r["alpha_target"] - alpha_target))


def point_of(text: str):
    panel, strategy, alpha = text.split(":")
    row = theory_row(panel, float(alpha))
    p = {k: row[k] for k in SETTING_KEYS if row.get(k, "") != ""}
    hp = Hyperparameters(*(float(row[f"{strategy}_{k}"]) for k in ("lam1", "lam2", "kappa", "delta_lam")))
    csv_theory = {"eps1": float(row[f"{strategy}_eps1"]), "eps2": float(row[f"{strategy}_eps2"])}
    return p, hp, csv_theory


def n_seeds(N: int, args) -> int:
    return int(min(args.max_seeds, max(args.min_seeds, round(args.seed_budget / N))))


def moments(setting, N: int, seeds) -> dict:
    """Empirical moments of the truths simulate() draws (same generator, truth is drawn first)."""
    r = np.concatenate([draw_truth(setting, N, np.random.default_rng(s)) for s in seeds], axis=1)
    t, s_ = r[0], r[1]
    nz_t, nz_s = t != 0, s_ != 0
    emp = {
        "density_target": nz_t.mean(),
        "density_source": nz_s.mean(),
        "shared_fraction": (nz_t & nz_s).sum() / nz_t.sum(),
        "E[t^2]": np.mean(t * t),
        "E[s^2]": np.mean(s_ * s_),
        "E[ts]": np.mean(t * s_),
        "E[t]": t.mean(),
        "E[s]": s_.mean(),
        "E[t^4]": np.mean(t**4),
        "corr on shared": np.corrcoef(t[nz_t & nz_s], s_[nz_t & nz_s])[0, 1],
        "E[t^2 | t only]": np.mean(t[nz_t & ~nz_s] ** 2),
        "E[s^2 | s only]": np.mean(s_[nz_s & ~nz_t] ** 2),
    }
    w, mu, cov = setting.weights, setting.means, setting.covs
    second = np.einsum("c,cij->ij", w, cov + np.einsum("ci,cj->cij", mu, mu))
    nz = np.diagonal(cov, axis1=1, axis2=2) + mu**2 > 0  # per component: r^(k) ≠ 0 a.s.
    both = nz[:, 0] & nz[:, 1]
    th = {
        "density_target": w[nz[:, 0]].sum(),
        "density_source": w[nz[:, 1]].sum(),
        "shared_fraction": w[both].sum() / w[nz[:, 0]].sum(),
        "E[t^2]": second[0, 0],
        "E[s^2]": second[1, 1],
        "E[ts]": second[0, 1],
        "E[t]": w @ mu[:, 0],
        "E[s]": w @ mu[:, 1],
        "E[t^4]": float(w @ (3 * cov[:, 0, 0] ** 2)),
        "corr on shared": float(
            np.mean([cov[c, 0, 1] / math.sqrt(cov[c, 0, 0] * cov[c, 1, 1]) for c in np.flatnonzero(both)])
        ),
        "E[t^2 | t only]": float(np.mean([cov[c, 0, 0] for c in np.flatnonzero(nz[:, 0] & ~nz[:, 1])])),
        "E[s^2 | s only]": float(np.mean([cov[c, 1, 1] for c in np.flatnonzero(nz[:, 1] & ~nz[:, 0])])),
    }
    return {k: (float(emp[k]), float(th[k])) for k in emp} | {"n_coordinates": int(r.shape[1])}


def panel_rerun(panel: str, N: int, n_seeds_: int) -> list[dict]:
    """All simulated points of ``panel``: z of the mean over seeds 0 … n−1 and over seeds 0–7."""
    out, t0 = [], time.time()
    for r in panel_rows("strategies_simulation.csv", panel):
        p, hp, theory = point_of(f"{panel}:{r['strategy']}:{r['alpha_target']}")
        assert abs(p["alpha_target"] - r["alpha_target"]) < 1e-12
        eps = np.array([x["eps2"] for x in simulate(setting_of(p), hp, n_features=N, seeds=range(n_seeds_), workers=1)])
        z = {}
        for name, v in (("all", eps), ("0-7", eps[:8])):
            se = v.std(ddof=1) / math.sqrt(v.size)
            z[name] = (float(v.mean()), float(se), float((v.mean() - theory["eps2"]) / se))
        out.append({"strategy": r["strategy"], "alpha_target": p["alpha_target"], "theory": theory["eps2"], **z})
        print(
            f"   {r['strategy']:8s} α_t = {p['alpha_target']:.4f}  theory {theory['eps2']:.6f}  "
            f"{n_seeds_} seeds {z['all'][0]:.6f} ± {z['all'][1]:.6f} (z {z['all'][2]:+.2f})  "
            f"seeds 0-7 {z['0-7'][0]:.6f} ± {z['0-7'][1]:.6f} (z {z['0-7'][2]:+.2f})",
            flush=True,
        )
    za = np.array([o["all"][2] for o in out])
    z8 = np.array([o["0-7"][2] for o in out])
    print(
        f"   within 2 SE: {np.sum(abs(za) < 2)}/{za.size} with {n_seeds_} seeds (max |z| {abs(za).max():.2f}, "
        f"mean z {za.mean():+.2f}); {np.sum(abs(z8) < 2)}/{z8.size} with seeds 0-7 (max |z| {abs(z8).max():.2f}, "
        f"mean z {z8.mean():+.2f})  [{time.time() - t0:.0f} s]"
    )
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("points", nargs="*", help="panel:strategy:alpha_target, e.g. sim09:value:0.39")
    ap.add_argument("--panel", choices=sorted(PANELS), help="re-run a whole panel of strategies_simulation.csv")
    ap.add_argument("--panel-n", type=int, default=1000, help="N for --panel (default 1000)")
    ap.add_argument("--panel-seeds", type=int, default=64, help="seeds for --panel (default 64)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000, 2000, 4000])
    ap.add_argument("--seed-budget", type=float, default=64000, help="seeds × N per size (default 64000)")
    ap.add_argument("--min-seeds", type=int, default=16)
    ap.add_argument("--max-seeds", type=int, default=256)
    ap.add_argument("--moments", action="store_true", help="also compare empirical with prior moments")
    ap.add_argument("--json", type=Path, help="write all numbers here")
    args = ap.parse_args(argv)
    if not args.points and not args.panel:
        ap.error("give points or --panel")
    out = []
    if args.panel:
        print(f"== panel {args.panel}, N = {args.panel_n}")
        out.append(
            {"panel": args.panel, "N": args.panel_n, "rows": panel_rerun(args.panel, args.panel_n, args.panel_seeds)}
        )
    for text in args.points:
        p, hp, csv_theory = point_of(text)
        setting = setting_of(p)
        t0 = time.time()
        pred = predict(setting, hp)
        theory = {
            "eps1": pred.eps1,
            "eps2": pred.eps2,
            "residual": pred.residual,
            "iterations": pred.iterations,
            "seconds": time.time() - t0,
            "csv": csv_theory,
        }
        print(
            f"\n== {text}: {p}\n   {hp}\n   theory eps1 = {pred.eps1:.6f}, eps2 = {pred.eps2:.6f} "
            f"(CSV {csv_theory['eps1']:.6f}, {csv_theory['eps2']:.6f}), residual {pred.residual:.1e}, "
            f"{pred.iterations} map evaluations"
        )
        per_n = []
        for N in args.sizes:
            S = n_seeds(N, args)
            t0 = time.time()
            recs = simulate(setting, hp, n_features=N, seeds=range(S), workers=1)
            row = {"N": N, "seeds": S, "seconds": time.time() - t0}
            for key in ("eps1", "eps2"):
                v = np.array([r[key] for r in recs])
                row[key], row[f"{key}_se"] = float(v.mean()), float(v.std(ddof=1) / math.sqrt(S))
                row[f"{key}_z"] = (row[key] - theory[key]) / row[f"{key}_se"]
            per_n.append(row)
            print(
                f"   N={N:5d} seeds={S:3d}  eps1 = {row['eps1']:.6f} ± {row['eps1_se']:.6f} (z {row['eps1_z']:+.2f})"
                f"  eps2 = {row['eps2']:.6f} ± {row['eps2_se']:.6f} (z {row['eps2_z']:+.2f})  [{row['seconds']:.0f} s]",
                flush=True,
            )
        fits = {}
        for key in ("eps1", "eps2"):
            ex = extrapolate([r["N"] for r in per_n], [r[key] for r in per_n], [r[f"{key}_se"] for r in per_n])
            z = (ex.value - theory[key]) / ex.stderr
            fits[key] = {
                "inf": ex.value,
                "se": ex.stderr,
                "c": ex.slope,
                "c_se": ex.slope_stderr,
                "chi2": ex.chi2,
                "dof": len(per_n) - 2,
                "z": z,
            }
            print(
                f"   {key}: eps_inf = {ex.value:.6f} ± {ex.stderr:.6f}, c = {ex.slope:+.4f} ± {ex.slope_stderr:.4f}, "
                f"chi2 = {ex.chi2:.1f} ({len(per_n) - 2} dof); theory {theory[key]:.6f}, z = {z:+.2f}, "
                f"rel. diff {(ex.value / theory[key] - 1):+.2%}"
            )
        item = {
            "point": text,
            "setting": p,
            "hyperparameters": hp.as_dict(),
            "theory": theory,
            "sizes": per_n,
            "fits": fits,
        }
        if args.moments:
            item["moments"] = moments(setting, 4000, range(64))
            print("   moments (empirical, prior) over", item["moments"]["n_coordinates"], "coordinates:")
            for k, v in item["moments"].items():
                if k != "n_coordinates":
                    print(f"     {k:18s} {v[0]:.5f}  {v[1]:.5f}")
        out.append(item)
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=float))


if __name__ == "__main__":
    main()
