"""Every number the README's Results section and docs/results_theory.md state for the theory figures.

Reads the CSVs that ``experiments.phase_diagram``, ``noise``, ``landscape`` and ``strategies``
wrote and prints a report: excess errors of the restricted strategies over the full one
(ε_s/ε_full − 1), where value-only or support-only wins and where the crossover lies, the
(κ, Δλ) landscape's optima, and simulation-vs-theory z-scores. Nothing is recomputed: the
numbers are those of the figures. Run ``python -m experiments.theory_summary [--figures DIR]
[--json PATH]`` after the experiments; a missing CSV is reported and skipped.
"""

from __future__ import annotations

# ruff: noqa: E402 -- the command line is checked before the slow imports (numba kernels, ~3 s)
from experiments import cli

if __name__ == "__main__":
    cli.preflight("theory_summary")

import math
from collections import Counter
from pathlib import Path

import numpy as np

from experiments import io
from experiments.landscape import delta_of
from experiments.phase_diagram import winning_strategy
from experiments.strategies import panel_of
from replica.strategy_optima import excess

ONE_PERCENT = 0.01
# (CSV stem, x key, y key, x from which "plenty of target data" is reported)
GRIDS = (
    ("phase_diagram_sources", "alpha_target", "alpha_source", 1.5),
    ("phase_diagram_similarity", "alpha_target", "shared_fraction", 1.0),
    ("noise_alpha_target_0.3", "sigma_target", "noise_ratio", None),
    ("noise_alpha_target_2", "sigma_target", "noise_ratio", None),
)
FIXED = ("value", "support", "trans_lasso", "pretraining_lasso")


def _at(row, *keys) -> dict:
    return {k: row[k] for k in keys}


def _stats(values, rows, x: str, y: str) -> dict:
    """Median and maximum of ``values`` (NaN = not converged) and where the maximum is."""
    v = np.asarray(values, float)
    i = int(np.nanargmax(v))
    return {"median": float(np.nanmedian(v)), "max": float(v[i]), "at": _at(rows[i], x, y)}


def _range(xs) -> list | None:
    return [min(xs), max(xs), len(xs)] if xs else None


def _row_summary(line: list[dict], best: list[float], x: str, x_large) -> dict:
    """One grid row (fixed y), sorted by x: its maximum one-knob excess and the winners' order."""
    winners = [r["winner"] for r in line]
    i = int(np.nanargmax(best))
    out = {
        "max": best[i],
        "argmax_x": line[i][x],
        **{w: _range([r[x] for r in line if r["winner"] == w]) for w in ("value", "support", "tie")},
        # by how much support-only beats value-only where it wins, relative to ε_full
        "support_margin": _range(
            [(r["value_eps2"] - r["support_eps2"]) / r["full_eps2"] for r in line if r["winner"] == "support"]
        ),
    }
    if x_large is not None:
        out["max_large_x"] = max((b for r, b in zip(line, best) if r[x] >= x_large), default=math.nan)
    # ties (e.g. nothing shared: both are the target-only Lasso) do not count as a change of side
    sides = [w for w in winners if w in ("value", "support")]
    changes = sum(a != b for a, b in zip(sides, sides[1:]))
    if changes == 0:
        out["pattern"] = f"{sides[0]} only" if sides else "ties only"
    elif changes == 1:
        low, high = sides[0], sides[-1]
        out["pattern"] = f"{low} below, {high} above"
        last_low = max(r[x] for r in line if r["winner"] == low)
        out["crossover"] = [last_low, min(r[x] for r in line if r["winner"] == high and r[x] > last_low)]
    else:
        out["pattern"] = f"{changes} changes, starting with {sides[0]}"
    return out


def grid_summary(rows: list[dict], x: str, y: str, x_large: float | None = None) -> dict:
    """Cost of keeping one kind of information and the value/support winner over a 2-D grid."""
    ok = [r for r in rows if r.get("converged")]
    ex = {s: [excess(r, s) for r in ok] for s in FIXED}
    best = np.fmin(ex["value"], ex["support"])
    i = int(np.nanargmax(best))
    loser = "support" if ex["value"][i] <= ex["support"][i] else "value"
    out = {
        "points": len(rows),
        "converged": len(ok),
        "basin_fixed": sum(bool(r.get("basin_fixed")) for r in ok),
        # the written winner column must be phase_diagram's rule applied to the written ε's
        "winner_mismatches": sum(r["winner"] != winning_strategy(r) for r in ok),
        "winners": {w: sum(r["winner"] == w for r in ok) for w in ("value", "support", "tie")},
        "one_knob": {
            "median": float(np.nanmedian(best)),
            "within_1pct": float(np.mean(best <= ONE_PERCENT)),
            "max": float(best[i]),
            "at": _at(ok[i], x, y),
            "better_there": "value" if loser == "support" else "support",
            "other_excess": ex[loser][i],
            "largest_x_above_1pct": max((r[x] for r, b in zip(ok, best) if b > ONE_PERCENT), default=None),
        },
        # where one knob costs > 1%: the region, and whether the full optimum turns both knobs there
        "above_1pct": {
            k: _range([r[k] for r, b in zip(ok, best) if b > ONE_PERCENT])
            for k in (x, y, "full_kappa", "full_delta_lam")
        },
        "fixed": {s: _stats(ex[s], ok, x, y) for s in FIXED},
        "rows": {},
    }
    if x_large is not None:
        out["one_knob"][f"max_{x}_ge_{x_large:g}"] = float(max(b for r, b in zip(ok, best) if r[x] >= x_large))
    for y_value in sorted({r[y] for r in ok}):
        idx = sorted((j for j, r in enumerate(ok) if r[y] == y_value), key=lambda j: ok[j][x])
        out["rows"][y_value] = _row_summary([ok[j] for j in idx], [float(best[j]) for j in idx], x, x_large)
    out["row_patterns"] = dict(Counter(r["pattern"] for r in out["rows"].values()))
    first, last = out["rows"][min(out["rows"])], out["rows"][max(out["rows"])]
    out["crossover_at_y_ends"] = [first.get("crossover"), last.get("crossover")]
    return out


def landscape_summary(rows: list[dict]) -> dict:
    """Per α_target: the grid optimum over (κ, t) and the best point of each one-knob line, relative to it."""
    out = {}
    for a in sorted({r["alpha_target"] for r in rows}):
        ok = [r for r in rows if r["alpha_target"] == a and r.get("converged")]
        opt = min(ok, key=lambda r: r["eps2"])

        def best(pred, free, ok=ok, opt=opt):
            r = min((r for r in ok if pred(r)), key=lambda r: r["eps2"])
            return {"excess": r["eps2"] / opt["eps2"] - 1, free: r[free]}

        alone = best(lambda r: r["kappa"] == 0 and r["t"] == 0, "t")
        out[a] = {
            "optimum": _at(opt, "kappa", "t", "eps2", "lam1", "lam2"),
            "support_only": best(lambda r: r["kappa"] == 0, "t"),  # κ = 0
            "value_only": best(lambda r: r["t"] == 0, "kappa"),  # Δλ = 0
            "delta_inf": best(lambda r: r["t"] == 1, "kappa"),  # Δλ = ∞
            "target_alone": alone,
            # points with κ > 0 at the target-only Lasso's ε: the inner (λ1, λ2) search sits on the
            # x1 = 0 plateau (λ1 → ∞), where κ does nothing; a warm start from κ = 0 can carry it there
            "on_x1_zero_plateau": sum(
                r["kappa"] > 0 and abs(r["eps2"] / opt["eps2"] - 1 - alone["excess"]) < 1e-7 for r in ok
            ),
            "within_1pct": float(np.mean([r["eps2"] <= (1 + ONE_PERCENT) * opt["eps2"] for r in ok])),
        }
    return out


def nearest_point(rows: list[dict], **where) -> dict:
    """The converged row nearest to ``where`` in log coordinates (cross-checks between figures)."""
    return min(
        (r for r in rows if r.get("converged")), key=lambda r: sum(math.log(r[k] / v) ** 2 for k, v in where.items())
    )


def _z_stats(z) -> dict:
    z = np.asarray(z)
    return {"n": len(z), "within_2se": int(np.sum(np.abs(z) <= 2)), "mean_z": float(np.mean(z))}


def strategies_summary(table: list[dict], sims: list[dict]) -> dict:
    """Simulation-vs-theory z-scores at the optimal hyperparameters, and the full strategy's optima per panel."""
    theory = {(r["panel"], r["alpha_target"]): r for r in table if r.get("converged")}
    z, unmatched = [], 0
    for p in sims:
        key = (panel_of(p), p["alpha_target"])
        if key not in theory:  # a simulation CSV older than the theory CSV
            unmatched += 1
            continue
        z.append(
            {
                "panel": key[0],
                "alpha_target": key[1],
                "strategy": p["strategy"],
                "z": (p["sim_eps2"] - theory[key][f"{p['strategy']}_eps2"]) / p["sim_eps2_se"],
            }
        )
    zs = np.array([c["z"] for c in z] or [math.nan])
    worst = z[int(np.argmax(np.abs(zs)))] if z else None
    panels = {}
    for panel in dict.fromkeys(r["panel"] for r in table):
        line = sorted((r for r in table if r["panel"] == panel and r.get("converged")), key=lambda r: r["alpha_target"])
        with_values = [r for r in line if r["full_kappa"] > 0]
        # κ* = 0 from some α_target on: support alone suffices there
        switch = next(
            (r["alpha_target"] for j, r in enumerate(line) if all(q["full_kappa"] == 0 for q in line[j:])), None
        )
        panels[panel] = {
            "kappa_range": _range([r["full_kappa"] for r in with_values]),
            "delta_lam_with_values": _range([r["full_delta_lam"] for r in with_values]),
            "kappa_zero_from": switch,
            "lam1_ends": [line[0]["full_lam1"], line[-1]["full_lam1"]],
            "lam2_range": _range([r["full_lam2"] for r in line]),
            "alpha_range": [line[0]["alpha_target"], line[-1]["alpha_target"]],
            "points": len(line),
        }
    return {
        "comparisons": len(z),
        "unmatched": unmatched,
        "within_2se": int(np.sum(np.abs(zs) <= 2)),
        "median_abs_z": float(np.median(np.abs(zs))),
        "max_abs_z": float(np.max(np.abs(zs))),
        "worst": worst,
        "mean_z": float(np.mean(zs)),
        **{
            f"by_{key}": {g: _z_stats([c["z"] for c in z if c[key] == g]) for g in dict.fromkeys(c[key] for c in z)}
            for key in ("strategy", "panel")
        },
        "full_optima": panels,
    }


def summarize(figures: Path) -> dict:
    """Every section whose CSVs exist under ``figures``; a missing one is named under "missing"."""
    out, missing = {}, []
    for stem, x, y, x_large in GRIDS:
        path = figures / f"{stem}.csv"
        if path.exists():
            out[stem] = grid_summary(io.read_csv(path), x, y, x_large)
        else:
            missing.append(path.name)
    if (figures / "landscape.csv").exists():
        rows = io.read_csv(figures / "landscape.csv")
        out["landscape"] = landscape_summary(rows)
        if (figures / "phase_diagram_sources.csv").exists():
            # the same setting in the α_source diagram, where each one-knob strategy has its own optimizer
            sources = io.read_csv(figures / "phase_diagram_sources.csv")
            for a, panel in out["landscape"].items():
                r = nearest_point(sources, alpha_target=a, alpha_source=rows[0]["alpha_source"])
                panel["phase_diagram_nearest"] = {
                    **_at(r, "alpha_target", "alpha_source"),
                    **{s: excess(r, s) for s in ("value", "support")},
                }
    else:
        missing.append("landscape.csv")
    if (figures / "strategies.csv").exists() and (figures / "strategies_simulation.csv").exists():
        out["strategies"] = strategies_summary(
            io.read_csv(figures / "strategies.csv"), io.read_csv(figures / "strategies_simulation.csv")
        )
    else:
        missing.append("strategies.csv / strategies_simulation.csv")
    out["missing"] = missing
    return out


# ---- report -----------------------------------------------------------------------------------


def _pct(v) -> str:
    return f"{100 * v:.3g}%" if v is not None and not math.isnan(v) else "—"


def _g(v) -> str:
    return "—" if v is None else (f"{v[0]:.3g}–{v[1]:.3g} ({v[2]} pts)" if isinstance(v, list) else f"{v:.3g}")


def _at_text(at: dict) -> str:
    return ", ".join(f"{k} = {v:.3g}" for k, v in at.items())


def grid_report(name: str, s: dict) -> list[str]:
    k = s["one_knob"]
    lines = [
        f"== {name}: {s['converged']}/{s['points']} points converged, {s['basin_fixed']} re-optimized by the "
        f"basin check, winner column mismatches: {s['winner_mismatches']}",
        f"better of value/support over full: median {_pct(k['median'])}, within 1% on {_pct(k['within_1pct'])}"
        f" of the grid; max {_pct(k['max'])} at {_at_text(k['at'])} ({k['better_there']} better there, the other "
        f"{_pct(k['other_excess'])}); largest x with > 1%: {_g(k['largest_x_above_1pct'])}",
    ]
    lines += [f"  {key}: {_pct(v)}" for key, v in k.items() if key.startswith("max_")]
    lines.append("  where > 1%: " + ", ".join(f"{key} {_g(v)}" for key, v in s["above_1pct"].items()))
    lines.append(
        "winners: "
        + ", ".join(f"{w} {n}" for w, n in s["winners"].items())
        + f"; rows ({len(s['rows'])}) by order of winners along x: "
        + ", ".join(f"{p}: {n}" for p, n in s["row_patterns"].items())
    )
    ends = ["—" if c is None else f"{c[0]:.3g}–{c[1]:.3g}" for c in s["crossover_at_y_ends"]]
    lines.append(f"crossover x at the smallest y: {ends[0]}, at the largest y: {ends[1]}")
    for st, v in s["fixed"].items():
        lines.append(f"  {st:18s} excess median {_pct(v['median'])}, max {_pct(v['max'])} at {_at_text(v['at'])}")
    lines.append(
        "  row y: row max (at x) [max at large x] | pattern | crossover | value / support / tie x-ranges"
        " | (ε_value − ε_support)/ε_full where support wins"
    )
    for y, r in s["rows"].items():
        cross = "–".join(f"{c:.3g}" for c in r["crossover"]) if "crossover" in r else "—"
        large = f" [{_pct(r['max_large_x'])}]" if "max_large_x" in r else ""
        lines.append(
            f"  {y:.3g}: {_pct(r['max'])} (at {r['argmax_x']:.3g}){large} | {r['pattern']} | {cross} | "
            f"{_g(r['value'])} / {_g(r['support'])} / {_g(r['tie'])} | {_g(r['support_margin'])}"
        )
    return lines


def report(summary: dict) -> str:
    lines = []
    for stem, *_ in GRIDS:
        if stem in summary:
            lines += grid_report(stem, summary[stem]) + [""]
    for a, p in summary.get("landscape", {}).items():
        o = p["optimum"]
        lines.append(
            f"== landscape α_target = {a:g}: optimum κ = {o['kappa']:.3g}, t = {o['t']:.3g} "
            f"(Δλ = {delta_of(o['t']):.3g}), ε = {o['eps2']:.5g}; within 1% of it on "
            f"{_pct(p['within_1pct'])} of the grid; {p['on_x1_zero_plateau']} points with κ > 0 on the "
            "x1 = 0 plateau (ε of the target alone)"
        )
        for name in ("support_only", "value_only", "delta_inf", "target_alone"):
            where = {k: v for k, v in p[name].items() if k != "excess"}
            lines.append(f"  best {name.replace('_', ' ')}: {_pct(p[name]['excess'])} ({_at_text(where)})")
        if "phase_diagram_nearest" in p:
            q = p["phase_diagram_nearest"]
            lines.append(
                f"  α_source diagram at {_at_text(_at(q, 'alpha_target', 'alpha_source'))}: value-only "
                f"{_pct(q['value'])}, support-only {_pct(q['support'])} above its full optimum"
            )
    if "strategies" in summary:
        s = summary["strategies"]
        w = s["worst"] or {"strategy": "—", "panel": "—", "alpha_target": math.nan}
        lines += [
            "",
            f"== strategies: {s['within_2se']}/{s['comparisons']} simulations within 2 SE of the theory, "
            f"median |z| {s['median_abs_z']:.2f}, max |z| {s['max_abs_z']:.2f} ({w['strategy']}, {w['panel']}, "
            f"α_target = {w['alpha_target']:.3g}), mean z {s['mean_z']:+.2f}"
            + (f"; {s['unmatched']} simulations match no theory point (stale CSV?)" if s["unmatched"] else ""),
        ]
        for group in ("by_strategy", "by_panel"):
            lines.append(
                f"  {group.replace('_', ' ')}: "
                + "; ".join(
                    f"{k}: {v['within_2se']}/{v['n']} within 2 SE, mean z {v['mean_z']:+.2f}"
                    for k, v in s[group].items()
                )
            )
        for panel, p in s["full_optima"].items():
            lines.append(
                f"  {panel}: κ* > 0: {_g(p['kappa_range'])} with Δλ* {_g(p['delta_lam_with_values'])}; "
                f"κ* = 0 from α_target = {_g(p['kappa_zero_from'])}; λ1* {p['lam1_ends'][0]:.3g} → "
                f"{p['lam1_ends'][1]:.3g}; λ2* {_g(p['lam2_range'])}"
            )
    if summary["missing"]:
        lines += ["", "missing: " + ", ".join(summary["missing"])]
    return "\n".join(lines)


@io.reports_outputs
def main(argv=None):
    args = cli.parse_args(cli.summary_parser(__doc__), argv)
    summary = summarize(args.figures)
    print(report(summary))
    if args.json:
        # JSON keys must be strings: grid rows and landscape panels are keyed by their y / α_target
        io.write_json(args.json, summary | {k: _str_keys(v) for k, v in summary.items() if k != "missing"})
    return summary


def _str_keys(obj):
    return {str(k): _str_keys(v) for k, v in obj.items()} if isinstance(obj, dict) else obj


if __name__ == "__main__":
    main()
