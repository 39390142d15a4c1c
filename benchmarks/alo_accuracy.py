"""Accuracy of the approximate leave-one-out error (THEORY.md section ALO) against exact LOO and the replica theory.

Part ``loo``: for each SETTING, N and seed, one TransLasso fit, then ``loo_error`` with
method "alo_fixed" (fixed active sets, eq. ALO.4; record key "fixed"), "alo_jump" (plus the Δλ
jump, eq. ALO.6; key "jump"), the default "alo" (eq. ALO.6 or the one-step correction eq. ALO.8;
key "alo") and "exact" (M1 warm-started refits). One JSON record per (setting, N, seed) is appended to
benchmarks/alo_accuracy.jsonl; rows already there are skipped, so the script resumes.
Part ``replica``: at N = 2000, 8 seeds, ALO against ``replica.predict``'s ε^(2nd) (test MSE
including the target noise σ_1², THEORY.md §2), records in benchmarks/alo_replica.jsonl.
Part ``small``: the tolerance of the small-N hypothesis property in tests/solvers/test_alo.py,
--draws random draws of its inputs, records in benchmarks/alo_small_n.jsonl.
Part ``gcv``: adds a GCV-like variant (mean stage-2 leverage) to the records that lack it.
Part ``subset``: ALO against exact LOO paired on a random subset of target rows (exact refits
only for those), records in benchmarks/alo_subset.jsonl. Part ``backfill``: adds the default
``method="alo"`` (key "alo") to older records. Part ``intercepts``: the tolerance of the
intercept/standardization test in tests/solvers/test_alo.py.
``--report`` prints the markdown tables of benchmarks/alo_accuracy.md from both files.

Examples: PYTHONPATH=. nice -n 10 python benchmarks/alo_accuracy.py loo --n 200 400 --seeds 8
          PYTHONPATH=. nice -n 10 python benchmarks/alo_accuracy.py replica
          PYTHONPATH=. python benchmarks/alo_accuracy.py --report
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from replica import Hyperparameters, Setting, predict
from solvers import TransLasso, draw_problem, fit_two_stage, loo_error

HERE = Path(__file__).resolve().parent
LOO_FILE = HERE / "alo_accuracy.jsonl"
REPLICA_FILE = HERE / "alo_replica.jsonl"
SMALL_FILE = HERE / "alo_small_n.jsonl"
SUBSET_FILE = HERE / "alo_subset.jsonl"
TOL = 1e-10
ALO_METHODS = ("fixed", "jump")  # record keys
EXTRA_METHODS = ("alo",)  # the default since the one-step correction (eq. ALO.8), added to older records by backfill
_METHOD = {"fixed": "alo_fixed", "jump": "alo_jump", "alo": "alo", "exact": "exact"}


def two_task_setting(pretrain_on_target=True):
    """The two-task setting of every dense case of this benchmark."""
    # α_target = 0.5, α_source = 2, σ = 0.5, 10% shared, 2% target-only, 2% source-only features
    return Setting.two_task(0.5, 2.0, 0.5, 0.5, 0.10, 0.02, 0.02, pretrain_on_target=pretrain_on_target)


# name: (pretrain_on_target, lam1, lam2, kappa, delta_lam)
SETTINGS = {
    "value": (True, 0.5, 0.3, 1.0, 0.0),
    "support": (True, 0.5, 0.2, 0.0, 1.0),
    "full": (True, 0.5, 0.2, 0.7, 0.5),
    "delta_inf": (True, 0.5, 0.2, 1.0, np.inf),
    "no_target": (False, 0.5, 0.3, 1.0, 0.5),
    "saturated": (True, 0.1, 0.03, 1.0, 0.0),
    # low-leverage versions of value and support (larger λ2: smaller |S2|)
    "value_low": (True, 0.5, 0.8, 1.0, 0.0),
    "support_low": (True, 0.5, 0.6, 0.0, 1.0),
    # the target-only Lasso (κ = 0, Δλ = 0): the single-Lasso ALO, for reference
    "lasso": (True, 0.5, 0.2, 0.0, 0.0),
}


def _fit(name, N, seed):
    on_target, lam1, lam2, kappa, delta_lam = SETTINGS[name]
    prob = draw_problem(two_task_setting(on_target), N, np.random.default_rng(seed))
    target, source = prob.data
    est = TransLasso(
        lam1, lam2, kappa, delta_lam, pretrain_on_target=on_target, fit_intercept=False, standardize=False, tol=TOL
    )
    t0 = time.perf_counter()
    est.fit(*target, sources=[source])
    return est, target, [source], time.perf_counter() - t0, prob


def _gcv(res):
    """GCV-like variant of the fixed-set ALO: stage 2's leverages h2_i replaced by their mean
    |S2|/M1 (the replica/AMP form residual / (1 − df/n)); stage 1's per-row term kept."""
    h2 = res.leverage_finetune
    return float(np.mean((res.residuals * (1 - h2) / (1 - h2.mean())) ** 2))


def backfill_gcv():
    """Add the GCV-like variant to records that lack it (one fit each, no exact LOO)."""
    recs = [json.loads(line) for line in LOO_FILE.read_text().splitlines()]
    for r in recs:
        if "gcv" not in r:
            est, (A, y), sources, _, _ = _fit(r["setting"], r["N"], r["seed"])
            r["gcv"] = _gcv(loo_error(est, A, y, sources=sources, method="alo_fixed"))
    LOO_FILE.write_text("".join(json.dumps(r) + "\n" for r in recs))


def backfill(method):
    """Add ``method`` (a key of _METHOD, no exact refits) to the records of both files that lack it."""
    for path, subset in ((LOO_FILE, False), (SUBSET_FILE, True), (REPLICA_FILE, False)):
        if not path.exists():
            continue
        recs = [json.loads(line) for line in path.read_text().splitlines()]
        key = f"e_{method}" if subset else method
        for r in recs:
            for stale in ("step", "e_step", "mse_step"):  # an earlier variant of the one-step correction
                r.pop(stale, None)
            if key in r:
                continue
            est, (A, y), sources, _, _ = _fit(r["setting"], r["N"], r["seed"])
            res = loo_error(est, A, y, sources=sources, method=_METHOD[method])
            if subset:
                r[key], r[f"mse_{method}"] = res.residuals[r["rows"]].tolist(), res.mse
            else:
                r[key] = res.mse
        path.write_text("".join(json.dumps(r) + "\n" for r in recs))


def _done(path):
    if not path.exists():
        return set()
    return {(r["setting"], r["N"], r["seed"]) for r in map(json.loads, path.read_text().splitlines())}


def _pending(path, names, ns, seeds):
    """(setting, N, seed) triples not yet recorded in ``path``, N outermost."""
    done = _done(path)
    return [(name, N, seed) for N in ns for name in names for seed in seeds if (name, N, seed) not in done]


def _exact_rows(est, A, y, sources, rows):
    """Exact LOO residuals of the target rows ``rows`` only (warm-started refits without each)."""
    hyper = Hyperparameters(est.lam1, est.lam2, est.kappa, est.delta_lam)
    out = []
    for i in rows:
        keep = np.arange(A.shape[0]) != i
        fit = fit_two_stage(
            (A[keep], y[keep]),
            sources,
            hyper,
            est.pretrain_on_target,
            coef_init=(est.coef_pretrain_, est.coef_finetune_),
            tol=TOL,
        )
        out.append(float(y[i] - A[i] @ (est.kappa * fit.coef_pretrain + fit.coef_finetune)))
    return np.array(out)


def run_subset(names, ns, seeds, n_rows, first_seed=0):
    """ALO against exact LOO paired on ``n_rows`` random target rows (exact refits only for those):
    per row d_i = e_ALO,i² − e_exact,i², whose mean is unbiased for the difference of the row-means."""
    for name, N, seed in _pending(SUBSET_FILE, names, ns, range(first_seed, first_seed + seeds)):
        est, (A, y), sources, t_fit, _ = _fit(name, N, seed)
        rows = np.sort(np.random.default_rng([seed, N]).choice(A.shape[0], min(n_rows, A.shape[0]), replace=False))
        rec = {"setting": name, "N": N, "seed": seed, "t_fit": t_fit, "rows": rows.tolist()}
        for method in (*ALO_METHODS, *EXTRA_METHODS):
            res = loo_error(est, A, y, sources=sources, method=_METHOD[method])
            rec[f"e_{method}"] = res.residuals[rows].tolist()
            rec[f"mse_{method}"] = res.mse
            if method == "fixed":
                rec["h2_max"] = float(res.leverage_finetune.max())
                rec["h2_mean"] = float(res.leverage_finetune.mean())
        t0 = time.perf_counter()
        rec["e_exact"] = _exact_rows(est, A, y, sources, rows).tolist()
        rec["t_exact_rows"] = time.perf_counter() - t0
        with SUBSET_FILE.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps({k: v for k, v in rec.items() if not k.startswith(("e_", "rows"))}), flush=True)


def run_loo(names, ns, seeds, first_seed=0):
    for name, N, seed in _pending(LOO_FILE, names, ns, range(first_seed, first_seed + seeds)):
        est, (A, y), sources, t_fit, _ = _fit(name, N, seed)
        rec = {"setting": name, "N": N, "seed": seed, "t_fit": t_fit}
        for method in (*ALO_METHODS, *EXTRA_METHODS, "exact"):
            t0 = time.perf_counter()
            res = loo_error(est, A, y, sources=sources, method=_METHOD[method])
            rec[method] = res.mse
            rec[f"t_{method}"] = time.perf_counter() - t0
            if method == "fixed":
                rec["gcv"] = _gcv(res)
                rec["h1_max"] = float(res.leverage_pretrain.max())
                rec["h2_max"] = float(res.leverage_finetune.max())
                rec["h2_mean"] = float(res.leverage_finetune.mean())
        rec["support1"] = int(np.count_nonzero(est.coef_pretrain_))
        rec["support2"] = int(np.count_nonzero(est.coef_finetune_))
        with LOO_FILE.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps(rec), flush=True)


def run_replica(names, N, seeds):
    done = _done(REPLICA_FILE)
    for name in names:
        on_target, lam1, lam2, kappa, delta_lam = SETTINGS[name]
        eps2 = predict(two_task_setting(on_target), Hyperparameters(lam1, lam2, kappa, delta_lam)).eps2
        for seed in range(seeds):
            if (name, N, seed) in done:
                continue
            est, (A, y), sources, _, prob = _fit(name, N, seed)
            rec = {"setting": name, "N": N, "seed": seed, "eps2_theory": eps2}
            rec["eps2_sim"] = float(0.25 + np.sum((prob.truth[0] - est.coef_) ** 2) / N)
            for method in ALO_METHODS:
                rec[method] = loo_error(est, A, y, sources=sources, method=_METHOD[method]).mse
            with REPLICA_FILE.open("a") as f:
                f.write(json.dumps(rec) + "\n")
            print(json.dumps(rec), flush=True)


def run_small(draws):
    """The tolerance of the small-N property test: |ALO/exact − 1| over random draws of its inputs."""
    from tests.solvers.test_alo import small_n_gap

    rng = np.random.default_rng(20261130)
    done = len(_records(SMALL_FILE))
    for k in range(draws):
        kw = dict(
            seed=int(rng.integers(10_000)),
            N=int(rng.integers(20, 51)),
            alpha_target=float(rng.uniform(0.8, 2.0)),
            on_target=bool(rng.random() < 0.5),
            kappa=float(rng.choice([0.0, 0.5, 1.0])),
            delta_lam=float(rng.choice([0.0, 0.5, np.inf])),
            lam_scale=float(rng.uniform(0.7, 2.0)),
        )
        if k < done:
            continue
        gap, lev = small_n_gap(**kw)
        with SMALL_FILE.open("a") as f:
            f.write(json.dumps({**kw, "gap": gap, "max_leverage": float(lev)}) + "\n")


def run_intercepts(seeds):
    """The tolerance of test_intercepts_and_scaling_close_to_exact: ALO/exact − 1 of TransLasso with
    intercepts and standardization (exact LOO re-estimates both) over seeds × its points."""
    from tests.solvers.test_alo import INTERCEPT_POINTS, intercept_problem

    gaps = []
    for seed in range(seeds):
        for kappa, delta_lam in INTERCEPT_POINTS:
            est, (A, y), sources = intercept_problem(seed, kappa, delta_lam)
            alo = loo_error(est, A, y, sources=sources)
            gaps.append(alo.mse / loo_error(est, A, y, sources=sources, method="exact").mse - 1)
    gaps = np.array(gaps)
    print(f"intercepts: {gaps.size} draws, ALO/exact − 1 mean {gaps.mean():+.3f}, max |.| {np.abs(gaps).max():.3f}")


def _records(path):
    """Records of a results file; a (setting, N, seed) run twice keeps its last record."""
    if not path.exists():
        return []
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    if "setting" not in recs[0]:
        return recs
    return list({(r["setting"], r["N"], r["seed"]): r for r in recs}.values())


def _report_paired(recs):
    """Per seed |gap(default)| − |gap(jump)| (negative: the default is closer to exact LOO), mean ± SE."""
    print("\n### Default (one-step correction where Δλ = 0 or the target is not pooled) against the previous default\n")
    print(
        "Per seed: |ALO/exact − 1| − |ALO_jump/exact − 1| (negative: the default is closer), and the signed difference."
    )
    print("Settings where the two coincide (Δλ > 0, target pooled) are left out.\n")
    print(
        "| setting | N | seeds | abs gap, jump | abs gap, default (largest) | paired abs difference | paired difference |"
    )
    print("|---|---|---|---|---|---|---|")
    for name in SETTINGS:
        for n in sorted({r["N"] for r in recs}):
            rows = [r for r in recs if r["setting"] == name and r["N"] == n and "alo" in r]
            if len(rows) < 2 or all(r["alo"] == r["jump"] for r in rows):
                continue
            j = np.array([r["jump"] / r["exact"] - 1 for r in rows]) * 100
            st = np.array([r["alo"] / r["exact"] - 1 for r in rows]) * 100

            def ms(v):
                return f"{v.mean():+.2f} ± {v.std(ddof=1) / np.sqrt(v.size):.2f}%"

            print(
                f"| {name} | {n} | {len(rows)} | {np.abs(j).mean():.2f}% | {np.abs(st).mean():.2f}% ({np.abs(st).max():.2f}%) | "
                f"{ms(np.abs(st) - np.abs(j))} | {ms(st - j)} |"
            )


def report():
    recs = _records(LOO_FILE)
    ns = sorted({r["N"] for r in recs})
    print("### ALO − exact LOO, relative: mean ± SE over seeds (seeds) [fixed | jump | default | GCV-like]\n")
    print("| setting | " + " | ".join(f"N = {n}" for n in ns) + " |")
    print("|---|" + "---|" * len(ns))
    for name in SETTINGS:
        cells = []
        for n in ns:
            rows = [r for r in recs if r["setting"] == name and r["N"] == n]
            if not rows:
                cells.append("—")
                continue
            parts = []
            for m in (*ALO_METHODS, *EXTRA_METHODS, "gcv"):
                if any(m not in r for r in rows):
                    parts.append("—")
                    continue
                g = np.array([r[m] / r["exact"] - 1 for r in rows]) * 100
                se = g.std(ddof=1) / np.sqrt(g.size) if g.size > 1 else float("nan")
                parts.append(f"{g.mean():+.1f} ± {se:.1f}%")
            cells.append(" \\| ".join(parts) + f" ({len(rows)})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\n### Mean over seeds of |ALO − exact| / exact, the largest per seed, and leverages per N\n")
    print(
        "| setting | N | seeds | mean abs gap, fixed | mean abs gap, jump | mean (largest) abs gap, default | max h1 | max h2 | mean h2 |"
        " exact LOO MSE | t_exact / t_fit |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in SETTINGS:
        for n in ns:
            rows = [r for r in recs if r["setting"] == name and r["N"] == n]
            if not rows:
                continue

            def mean(key, rows=rows):
                return float(np.mean([r[key] for r in rows]))

            gaps = [np.mean([abs(r[m] / r["exact"] - 1) for r in rows]) * 100 for m in (*ALO_METHODS, "alo")]
            worst = max(abs(r["alo"] / r["exact"] - 1) for r in rows) * 100
            print(
                f"| {name} | {n} | {len(rows)} | {gaps[0]:.2f}% | {gaps[1]:.2f}% | {gaps[2]:.2f}% ({worst:.2f}%) | "
                f"{mean('h1_max'):.2f} | {mean('h2_max'):.2f} | {mean('h2_mean'):.2f} | {mean('exact'):.4f} | "
                f"{np.mean([r['t_exact'] / r['t_fit'] for r in rows]):.0f} |"
            )
    subset = _records(SUBSET_FILE)
    if subset:
        print("\n### Paired on a random subset of target rows (exact LOO refits only for those rows)\n")
        print("Rows of all seeds pooled: gap = Σ(e_ALO² − e_exact²) / Σ e_exact², ± the paired SE of that sum.\n")
        print("| setting | N | seeds × rows | gap, fixed | gap, jump (default) | gap, step | max h2 | mean h2 |")
        print("|---|---|---|---|---|---|---|---|")
        for name in SETTINGS:
            for n in sorted({r["N"] for r in subset}):
                rows = [r for r in subset if r["setting"] == name and r["N"] == n]
                if not rows:
                    continue
                ex2 = np.concatenate([np.square(r["e_exact"]) for r in rows])
                cells = []
                for m in (*ALO_METHODS, *EXTRA_METHODS):
                    if any(f"e_{m}" not in r for r in rows):
                        cells.append("—")
                        continue
                    d = np.concatenate([np.square(r[f"e_{m}"]) for r in rows]) - ex2
                    cells.append(
                        f"{100 * d.mean() / ex2.mean():+.1f} ± {100 * d.std(ddof=1) / np.sqrt(d.size) / ex2.mean():.1f}%"
                    )
                h2max = np.mean([r["h2_max"] for r in rows])
                h2mean = np.mean([r["h2_mean"] for r in rows])
                print(
                    f"| {name} | {n} | {len(rows)} × {len(rows[0]['rows'])} | "
                    + " | ".join(cells)
                    + f" | {h2max:.2f} | {h2mean:.2f} |"
                )
    _report_paired(recs)
    small = _records(SMALL_FILE)
    if small:
        print("\n### Small-N property (N in [20, 50]): |ALO/exact − 1| by max leverage\n")
        print("| max leverage | draws | median | 90th pct | 99th pct | max |")
        print("|---|---|---|---|---|---|")
        lev = np.array([r["max_leverage"] for r in small])
        gap = np.abs([r["gap"] for r in small])
        for lo, hi in ((0, 0.6), (0.6, 0.8), (0.8, 1.0)):
            g = gap[(lev > lo) & (lev <= hi)]
            if g.size:
                q = np.percentile(g, [50, 90, 99])
                print(f"| ({lo}, {hi}] | {g.size} | {q[0]:.3f} | {q[1]:.3f} | {q[2]:.3f} | {g.max():.3f} |")
    reps = _records(REPLICA_FILE)
    if reps:
        print("\n### ALO against the replica ε^(2nd) (σ_1² included), N = 2000, mean ± SE over seeds\n")
        print("z = (mean − replica ε2) / SE; the last column pairs the default ALO with each seed's own test error.\n")
        print(
            "| setting | seeds | replica ε2 | test error ε2 (z) | ALO fixed (z) | ALO jump (z) | ALO default (z) | ALO default − test error |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for name in SETTINGS:
            rows = [r for r in reps if r["setting"] == name]
            if len(rows) < 2:
                continue
            theory = rows[0]["eps2_theory"]
            cells = []
            for key in ("eps2_sim", *ALO_METHODS, *EXTRA_METHODS):
                v = np.array([r[key] for r in rows])
                se = v.std(ddof=1) / np.sqrt(v.size)
                cells.append(f"{v.mean():.4f} ± {se:.4f} ({(v.mean() - theory) / se:+.1f})")
            d = np.array([r["alo"] - r["eps2_sim"] for r in rows])
            cells.append(f"{d.mean():+.4f} ± {d.std(ddof=1) / np.sqrt(d.size):.4f}")
            print(f"| {name} | {len(rows)} | {theory:.4f} | " + " | ".join(cells) + " |")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("part", nargs="?", choices=("loo", "subset", "replica", "small", "gcv", "backfill", "intercepts"))
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--rows", type=int, default=100, help="subset part: target rows refitted exactly")
    p.add_argument("--n", type=int, nargs="+", default=[200, 400, 800])
    p.add_argument("--seeds", type=int, default=4, help="seeds per N (replica part: use 8)")
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--draws", type=int, default=200)
    p.add_argument("--report", action="store_true")
    a = p.parse_args()
    if a.part == "loo":
        run_loo(a.settings, a.n, a.seeds, a.first_seed)
    elif a.part == "subset":
        run_subset(a.settings, a.n, a.seeds, a.rows, a.first_seed)
    elif a.part == "replica":
        run_replica(a.settings, 2000, a.seeds)
    elif a.part == "gcv":
        backfill_gcv()
    elif a.part == "intercepts":
        run_intercepts(12)
    elif a.part == "backfill":
        for method in EXTRA_METHODS:
            backfill(method)
    elif a.part == "small":
        run_small(a.draws)
    if a.report:
        report()


if __name__ == "__main__":
    main()
