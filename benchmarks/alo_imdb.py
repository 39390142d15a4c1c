"""TransLassoCV(cv="alo") against TransLassoCV() (5-fold CV) on the IMDb study (experiments/imdb.py).

Per (n_t, subsample): the subsample of experiments/imdb.py (seed 0, 2,000 words), then
``TransLassoCV(cv="alo")`` and ``TransLassoCV(cv=5, random_state=subsample)`` (the study's
``auto`` method: the theory picks the strategy, a 1-D family of ``n_scales`` λ2 points is tuned),
both with the default per-dataset intercepts and standardization. Each is scored by test MSE on
the held-out horror test set (as experiments/imdb.py). Records: benchmarks/alo_imdb.jsonl (one
line per (n_t, subsample, method); rows already there are skipped, so the script resumes);
``--report`` prints the tables of benchmarks/alo_imdb.md.

Example: PYTHONPATH=. OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 10 python benchmarks/alo_imdb.py \\
             --n 200 1000 --subsamples 3 --report
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.base import clone

from experiments.cli import SHARED_DATA
from experiments.imdb import load_study, subsample
from solvers import TransLasso, TransLassoCV, loo_error

HERE = Path(__file__).resolve().parent
OUT = HERE / "alo_imdb.jsonl"
EXACT = HERE / "alo_imdb_exact.jsonl"
METHODS = {
    "alo": lambda s, strategy: TransLassoCV(strategy, cv="alo"),
    "cv5": lambda s, strategy: TransLassoCV(strategy, cv=5, random_state=s),
}


def _records():
    if not OUT.exists():
        return []
    recs = [json.loads(line) for line in OUT.read_text().splitlines()]
    return list({(r["n_t"], r["subsample"], r["method"], r.get("requested", "auto")): r for r in recs}.values())


def run(ns, subsamples, data_dir, strategy="auto"):
    done = {(r["n_t"], r["subsample"], r["method"]) for r in _records() if r.get("requested", "auto") == strategy}
    data = load_study(str(data_dir), 2000)
    sources = [(d.A, d.y) for d in data.sources]
    X_test, y_test = data.target_test.A, data.target_test.y
    for n_t in ns:
        for s in range(subsamples):
            X, y = subsample(data, n_t, s, 0)
            for method, make in METHODS.items():
                if (n_t, s, method) in done:
                    continue
                t0 = time.perf_counter()
                model = make(s, strategy).fit(X, y, sources=sources)
                seconds = time.perf_counter() - t0
                res = model.cv_results_
                rec = {
                    "n_t": n_t,
                    "subsample": s,
                    "method": method,
                    "requested": strategy,
                    "test_mse": float(np.mean((model.predict(X_test) - y_test) ** 2)),
                    "score": float(np.min(res["mean_test_mse"])),
                    "n_fits": int(model.n_fits_),
                    "seconds": seconds,
                    "strategy": model.strategy_,
                    **model.hyperparameters_.as_dict(),
                }
                with OUT.open("a") as f:
                    f.write(json.dumps(rec) + "\n")
                print(json.dumps(rec), flush=True)


def run_exact(n_t, sub, n_rows, data_dir, scales=(0, 6, 12)):
    """ALO against exact LOO on ``n_rows`` random target rows (paired), at the points ``scales``
    (indices into the theory+cv λ2 family, largest λ2 first) of subsample ``sub``."""
    data = load_study(str(data_dir), 2000)
    sources = [(d.A, d.y) for d in data.sources]
    X, y = subsample(data, n_t, sub, 0)
    family = TransLassoCV(cv="alo").fit(X, y, sources=sources).cv_results_
    rows = np.sort(np.random.default_rng([n_t, sub]).choice(n_t, n_rows, replace=False))
    # exact residuals already computed are reused (the ALO residuals are recomputed)
    old = [json.loads(line) for line in EXACT.read_text().splitlines()] if EXACT.exists() else []
    known = {(r["n_t"], r["subsample"], r["scale_index"], tuple(r["rows"])): r["e_exact"] for r in old}
    keep = [r for r in old if (r["n_t"], r["subsample"]) != (n_t, sub)]
    EXACT.write_text("".join(json.dumps(r) + "\n" for r in keep))
    for k in scales:
        hyper = family["params"][k]
        est = TransLasso(**hyper, fit_intercept=True, standardize=True)
        t0 = time.perf_counter()
        est.fit(X, y, sources=sources)
        t_fit = time.perf_counter() - t0
        alo = {m: loo_error(est, X, y, sources=sources, method=m) for m in ("alo_fixed", "alo")}
        exact = known.get((n_t, sub, k, tuple(rows.tolist())))
        if exact is None:
            exact = []
            for i in rows:
                keep = np.arange(n_t) != i
                model = clone(est).fit(X[keep], y[keep], sources=sources)
                exact.append(float(y[i] - model.predict(X[i : i + 1])[0]))
        rec = {
            "part": "exact",
            "n_t": n_t,
            "subsample": sub,
            "scale_index": k,
            **hyper,
            "rows": rows.tolist(),
            "e_exact": exact,
            "t_fit": t_fit,
            "cv_results_mse": float(family["mean_test_mse"][k]),
            "h2_max": float(alo["alo"].leverage_finetune.max()),
            "h2_mean": float(alo["alo"].leverage_finetune.mean()),
            "h1_max": float(alo["alo"].leverage_pretrain.max()),
        }
        for m, res in alo.items():
            rec[f"e_{m}"] = res.residuals[rows].tolist()
            rec[f"mse_{m}"] = res.mse
        with EXACT.open("a") as f:
            f.write(json.dumps(rec) + "\n")
        print(json.dumps({k: v for k, v in rec.items() if not k.startswith(("e_", "rows"))}), flush=True)


def report_exact():
    if not EXACT.exists():
        return
    recs = [json.loads(line) for line in EXACT.read_text().splitlines()]
    print(
        "\n| n_t | subsample | λ2 | rows | max h2 | mean h2 | exact LOO (rows) | gap, fixed (ALO.4) | gap, ALO (default) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in recs:
        ex2 = np.square(r["e_exact"])
        cells = []
        for m in ("alo_fixed", "alo"):
            d = np.square(r[f"e_{m}"]) - ex2
            cells.append(
                f"{100 * d.mean() / ex2.mean():+.1f} ± {100 * d.std(ddof=1) / np.sqrt(d.size) / ex2.mean():.1f}%"
            )
        print(
            f"| {r['n_t']} | {r['subsample']} | {r['lam2']:.3g} | {len(r['rows'])} | {r['h2_max']:.2f} | {r['h2_mean']:.2f} | "
            f"{ex2.mean():.3f} | " + " | ".join(cells) + " |"
        )


def report():
    for strategy in sorted({r.get("requested", "auto") for r in _records()}):
        print(f"\n#### TransLassoCV(strategy={strategy!r})\n")
        _report(strategy)


def _report(strategy):
    recs = [r for r in _records() if r.get("requested", "auto") == strategy]
    print("| n_t | subsample | strategy (ALO / 5-fold) | test MSE, ALO | test MSE, 5-fold | ALO − 5-fold |")
    print("|---|---|---|---|---|---|")
    by = {(r["n_t"], r["subsample"], r["method"]): r for r in recs}
    pairs = sorted({(n, s) for n, s, m in by if (n, s, "alo") in by and (n, s, "cv5") in by})
    for n, s in pairs:
        a, c = by[n, s, "alo"], by[n, s, "cv5"]
        print(
            f"| {n} | {s} | {a['strategy']} / {c['strategy']} | {a['test_mse']:.4f} | {c['test_mse']:.4f} | "
            f"{a['test_mse'] - c['test_mse']:+.4f} |"
        )
    print(
        "\n| n_t | subsamples | test MSE, ALO | test MSE, 5-fold | paired difference | fits, ALO | fits, 5-fold |"
        " time, ALO / 5-fold | selected λ2, ALO / 5-fold (geometric mean ratio) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for n in sorted({n for n, _ in pairs}):
        rows = [(by[n, s, "alo"], by[n, s, "cv5"]) for m, s in pairs if m == n]

        def ms(v):
            v = np.asarray(v, float)
            se = v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else float("nan")
            return f"{v.mean():.4f} ± {se:.4f}"

        d = [a["test_mse"] - c["test_mse"] for a, c in rows]
        ratio = np.exp(np.mean([np.log(a["lam2"] / c["lam2"]) for a, c in rows]))
        t = np.mean([a["seconds"] / c["seconds"] for a, c in rows])
        print(
            f"| {n} | {len(rows)} | {ms([a['test_mse'] for a, _ in rows])} | {ms([c['test_mse'] for _, c in rows])} | "
            f"{ms(d)} | {np.mean([a['n_fits'] for a, _ in rows]):.0f} | {np.mean([c['n_fits'] for _, c in rows]):.0f} | "
            f"{t:.2f} | {ratio:.2f} |"
        )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[200, 1000])
    p.add_argument("--subsamples", type=int, default=3)
    p.add_argument("--data", type=Path, default=SHARED_DATA)
    p.add_argument("--report", action="store_true")
    p.add_argument("--no-run", action="store_true")
    p.add_argument("--strategy", default="auto", help="TransLassoCV's strategy for both estimators")
    p.add_argument("--exact-rows", type=int, default=0, help="paired ALO vs exact LOO on this many rows (n_t = --n[0])")
    a = p.parse_args()
    if a.exact_rows:
        run_exact(a.n[0], 0, a.exact_rows, a.data)
    elif not a.no_run:
        run(a.n, a.subsamples, a.data, a.strategy)
    if a.report:
        report()
        report_exact()


if __name__ == "__main__":
    main()
