"""IMDb study: transfer from other pseudo-genres to horror reviews, every strategy tuned by CV.

Data (:func:`solvers.datasets.imdb_transfer`): movies are clustered by their reviews into six
pseudo-genres; the horror cluster (found by the term "horror") is the target, the five other
clusters (drama, comedy/panned films, classic Hollywood, TV/cartoons, war/documentaries) are
the sources. Design: 2,000 most frequent words, log1p counts, column mean square 1/2000.
Training reviews come from the official train split, the fixed held-out target test set
(5,903 horror reviews of unseen movies) from the test split.

Response: the star rating. Every dataset gets its own intercept (``TransLassoCV``'s
``fit_intercept``; sparse designs stay sparse) and the columns are mapped to the theory's scale
by the estimator itself.

Protocol per (n_t, subsample): n_t reviews drawn at random from the horror training reviews;
everything runs through :class:`solvers.TransLassoCV` with 5-fold CV on those n_t reviews only:

* ``auto``: ``TransLassoCV()`` (the theory picks the strategy, a 1-D CV tunes it);
* ``theory_no_cv``: ``TransLassoCV(tuning="theory")``;
* every CV-tuned strategy: one ``TransLassoCV(strategy="full", tuning="cv")`` grid (5 λ1 × 15
  (κ, u) cells × 10 λ2), each strategy's best point of its own cells (``TransLassoCV.select``)
  refitted on the n_t reviews; its cost is what cross-validating it alone on that grid takes.

Stage 1 pretrains on the sources and the target rows (``pretrain_on_target=True``, the default).
Each model is scored by test MSE on the held-out horror test set.

Run ``python -m experiments.imdb [--quick] [--data DIR] [--out OUT] [--workers N]``.
"""

from __future__ import annotations

# ruff: noqa: E402 -- the command line is checked before the slow imports (numba kernels, ~3 s)
from experiments import cli

if __name__ == "__main__":
    cli.preflight("imdb")

import functools
import math
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from experiments import io
from experiments.cli import SHARED_DATA, data_check, experiment_parser, parse_args, sweep_options
from experiments.sweep import run_sweep
from solvers import TransLasso, TransLassoCV
from solvers.datasets import imdb_transfer, load_imdb, locate_imdb

DATA_DEFAULT = SHARED_DATA
TAG = "imdb-v6"
# the committed figures/imdb_runs.csv's columns, in its order (rows of auto/theory_no_cv fill the last four)
RUN_COLUMNS = (
    "n_target",
    "subsample",
    "method",
    "test_mse",
    "cv_mse",
    "cv_fits",
    "cv_seconds",
    "lam1",
    "lam2",
    "kappa",
    "delta_lam",
    "point_seconds",
    "strategy",
    "predicted_mse",
    "rho_hat",
    "similarity_hat",
)
FULL = {"n_targets": (100, 200, 500, 1000, 2000), "subsamples": 5, "folds": 5, "n_words": 2000}
QUICK = {"n_targets": (200,), "subsamples": 1, "folds": 3, "n_words": 2000}
STRATEGIES = ("full", "value", "support", "trans_lasso", "pretraining_lasso", "target_only")
METHODS = STRATEGIES + ("auto", "theory_no_cv")


@functools.lru_cache(maxsize=2)
def load_study(data_dir: str, n_words: int = 2000):
    """The transfer data (memoized per process); ``data_dir`` is the data root (see ``locate_imdb``)."""
    return imdb_transfer(load_imdb(data_dir), n_words=n_words)


def subsample(data, n_target: int, index: int, seed: int):
    """Target training rows (design, rating) of subsample ``index``."""
    n_all = data.target.n_samples
    if not 0 < n_target <= n_all:
        raise ValueError(f"n_target must lie in [1, {n_all}], got {n_target}")
    rows = np.random.default_rng([seed, n_target, index]).choice(n_all, n_target, replace=False)
    return data.target.A[rows], data.target.y[rows]


def run_point(point: dict) -> dict:
    """Every method at one (n_target, subsample), through TransLassoCV."""
    start = time.perf_counter()
    data = load_study(point["data"], point.get("n_words", 2000))
    X, y = subsample(data, point["n_target"], point["subsample"], point["seed"])
    sources = [(d.A, d.y) for d in data.sources]
    X_test, y_test = data.target_test.A, data.target_test.y
    common = dict(cv=point["folds"], random_state=point["seed"] + point["subsample"])

    def test_mse(model):
        return float(np.mean((model.predict(X_test) - y_test) ** 2))

    rows = []
    t0 = time.perf_counter()
    grid = TransLassoCV(strategy="full", tuning="cv", **common).fit(X, y, sources=sources)
    grid_seconds = time.perf_counter() - t0
    for strategy in STRATEGIES:
        hyper, cv_err, fits = grid.select(strategy)
        model = TransLasso(**hyper.as_dict(), fit_intercept=True, standardize=True).fit(X, y, sources=sources)
        rows.append(
            {
                "method": strategy,
                "test_mse": test_mse(model),
                "cv_mse": cv_err,
                "cv_fits": fits,
                "cv_seconds": grid_seconds * fits / grid.n_fits_,
                **hyper.as_dict(),
            }
        )
    for method, kw in (("auto", {}), ("theory_no_cv", {"tuning": "theory"})):
        model = TransLassoCV(**common, **kw).fit(X, y, sources=sources)
        setting = model.setting_
        rows.append(
            {
                "method": method,
                "test_mse": test_mse(model),
                "cv_fits": model.n_fits_,
                "cv_seconds": model.fit_time_,
                "strategy": model.strategy_,
                "predicted_mse": model.predicted_error_,
                "rho_hat": float(setting.target_density),
                "similarity_hat": float(setting.covs[0, 0, 1] * setting.weights[0] / setting.target_density),
                **model.hyperparameters_.as_dict(),
            }
        )
    return {
        "rows": rows,
        "cv_wall_seconds": grid_seconds,
        "test_variance": float(np.var(y_test)),
        "point_seconds": time.perf_counter() - start,
    }


def summarize(records: list[dict]) -> list[dict]:
    """Mean ± standard error over subsamples per (n_target, method)."""
    out = []
    for n_t in sorted({r["n_target"] for r in records}):
        for method in METHODS:
            rows = [r for r in records if r["n_target"] == n_t and r["method"] == method]
            if not rows:
                continue
            entry = {"n_target": n_t, "method": method, "subsamples": len(rows)}
            for key in ("test_mse", "cv_fits", "cv_seconds"):
                x = np.array([r[key] for r in rows], float)
                entry[f"{key}_mean"] = float(x.mean())
                entry[f"{key}_se"] = float(x.std(ddof=1) / math.sqrt(len(x))) if len(x) > 1 else float("nan")
            if method == "auto":
                entry["auto_strategies"] = " ".join(r["strategy"] for r in rows)
            out.append(entry)
    return out


def plot(summary: list[dict], path: Path, title: str):
    fig = Figure(figsize=(11, 4.2), constrained_layout=True)
    ax, bx = fig.subplots(1, 2)
    for i, method in enumerate(METHODS):
        rows = [r for r in summary if r["method"] == method]
        if not rows:
            continue
        n = [r["n_target"] for r in rows]
        style = "--" if method in ("auto", "theory_no_cv") else "-"
        ax.errorbar(
            n,
            [r["test_mse_mean"] for r in rows],
            yerr=[r["test_mse_se"] for r in rows],
            fmt=style,
            marker="o",
            ms=3,
            capsize=2,
            color=f"C{i}",
            label=method,
        )
        bx.plot(n, [r["cv_seconds_mean"] for r in rows], style, marker="o", ms=3, color=f"C{i}", label=method)
    ax.set(xscale="log", xlabel="target training size n_t", ylabel="test MSE (star rating²)", title=title)
    bx.set(
        xscale="log",
        yscale="log",
        xlabel="target training size n_t",
        ylabel="CV cost (s, as if run alone)",
        title="cost of hyperparameter selection",
    )
    ax.legend(fontsize=7)
    return io.save_figure(fig, path)


def main(argv=None):
    args = parse_args(experiment_parser("imdb", __doc__.split("\n\n")[0]), argv, checks=[data_check(locate_imdb)])
    config = QUICK if args.quick else FULL
    points = [
        {
            "data": str(args.data.resolve()),
            "n_target": n,
            "subsample": s,
            "seed": args.seed,
            "folds": config["folds"],
            "n_words": config["n_words"],
        }
        for n in config["n_targets"]
        for s in range(config["subsamples"])
    ]
    results = run_sweep(run_point, points, tag=TAG, desc="imdb", **sweep_options(args))
    records = [
        {"n_target": p["n_target"], "subsample": p["subsample"], **row, "point_seconds": res["point_seconds"]}
        for p, res in zip(points, results)
        for row in res["rows"]
    ]
    summary = summarize(records)
    io.write_csv(args.out / "imdb_runs.csv", records, fieldnames=RUN_COLUMNS)
    io.write_csv(args.out / "imdb_summary.csv", summary)
    io.write_json(
        args.out / "imdb_meta.json",
        {
            "cv_wall_seconds": {str(p["n_target"]): r["cv_wall_seconds"] for p, r in zip(points, results)},
            "test_variance": results[0]["test_variance"],
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()},
        },
    )
    paths = plot(summary, args.out / "imdb_test_mse", "IMDb: horror target, 5 source pseudo-genres")
    print("wrote", *map(str, paths), args.out / "imdb_summary.csv")
    for r in summary:
        print(
            f"n_t={r['n_target']:5d} {r['method']:18s} test MSE {r['test_mse_mean']:.3f} ± {r['test_mse_se']:.3f}"
            f"  CV {r['cv_fits_mean']:.0f} fits {r['cv_seconds_mean']:.1f} s"
        )


if __name__ == "__main__":
    main()
