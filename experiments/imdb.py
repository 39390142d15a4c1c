"""IMDb study: transfer from other pseudo-genres to horror reviews, every strategy tuned by CV.

Data (:func:`solvers.datasets.imdb_transfer`): movies are clustered by their reviews into six
pseudo-genres; the horror cluster (found by the term "horror") is the target, the five other
clusters (drama, comedy/panned films, classic Hollywood, TV/cartoons, war/documentaries) are
the sources 0–4 (:func:`study_sources`). Source 5 is a harmful one made of real text: the largest
cluster's held-out reviews with their ratings shuffled (:func:`solvers.datasets.shuffled_source`,
seed ``SHUFFLE_SEED``), rows that no other dataset holds. Design: 2,000 (or 20,000) most frequent
words, log1p counts, column mean square 1/2000. Training reviews come from the official train split,
the fixed held-out target test set (5,903 horror reviews of unseen movies) from the test split.

Response: the star rating. Every dataset gets its own intercept (``TransLassoCV``'s
``fit_intercept``; sparse designs stay sparse) and the columns are mapped to the theory's scale
by the estimator itself.

Protocol per (n_t, subsample): n_t reviews drawn at random from the horror training reviews;
everything runs through :class:`solvers.TransLassoCV` with 5-fold CV on those n_t reviews only:

* ``auto``: ``TransLassoCV()`` given the six sources (it chooses the sources, the theory picks the
  strategy, CV tunes κ along its ladder and λ2, and the target alone guards it);
* ``auto_five``: the same given the five clusters only;
* ``auto_alo``: ``TransLassoCV(cv="alo")`` (six sources), the same family scored by approximate
  leave-one-out from fits on all n_t reviews instead of 5 folds (a third of the fits; 2,000 words only:
  at 20,000 words every point's fit is beyond ALO, near saturation);
* ``theory_no_cv``: ``TransLassoCV(tuning="theory")`` (six sources);
* every CV-tuned strategy: one ``TransLassoCV(strategy="full", tuning="cv")`` grid (5 λ1 × 15
  (κ, u) cells × 10 λ2) on the five clusters pooled, each strategy's best point of its own cells
  (``TransLassoCV.select``) refitted on the n_t reviews; its cost is what cross-validating it alone on
  that grid takes.

The sources each auto row's model transfers from (``sources_used_``) are the runs' ``sources_used``
column (source indices; "none": the target alone) and, per cell, the summary's; ``shuffled_kept``
counts the cells whose model kept the shuffled source.

The two parts are cached separately (tags ``GRID_TAG``, ``AUTO_TAG``): a change of
``TransLassoCV()`` reruns only the auto/theory rows. ``--words 20000``: the 20,000-word
vocabulary, n_t ∈ {200, 1000}, 3 subsamples, only CV-tuned value, support and target-only (one
grid over those families' cells; the full 4-D grid is too slow there), ``auto``, ``auto_five`` and
``theory_no_cv``, output ``imdb20k_*``.

Stage 1 pretrains on the sources and the target rows (``pretrain_on_target=True``, the default).
Each model is scored by test MSE on the held-out horror test set.

Run ``python -m experiments.imdb [--quick] [--words {2000,20000}] [--data DIR] [--out OUT] [--workers N]``.
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
from experiments.stats import mean_se
from experiments.sweep import run_sweep
from solvers import TransLasso, TransLassoCV
from solvers.datasets import imdb_transfer, load_imdb, locate_imdb, shuffled_source
from solvers.estimate import similarity

DATA_DEFAULT = SHARED_DATA
# two caches, so that changing ``TransLassoCV()`` reruns only the cheap auto/theory rows
GRID_TAG = "imdb-grid-v7"
AUTO_TAG = "imdb-auto-v20"
SHUFFLE_SEED = 0
SOURCE_SETS = ("five", "six")
# the runs CSV's columns (the auto rows alone fill the last six)
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
    "sources_used",
    "shuffled_used",
)
STRATEGIES = ("full", "value", "support", "trans_lasso", "pretraining_lasso", "target_only")
STRATEGIES_20K = ("value", "support", "target_only")
# method -> the sources it is given (:func:`study_sources`) and its TransLassoCV options
AUTO_RUNS = {
    "auto": ("six", {}),
    "auto_five": ("five", {}),
    "auto_alo": ("six", {"cv": "alo"}),
    "theory_no_cv": ("six", {"tuning": "theory"}),
}
AUTO_METHODS = tuple(AUTO_RUNS)
FULL = {
    "n_targets": (100, 200, 500, 1000, 2000),
    "subsamples": 5,
    "folds": 5,
    "n_words": 2000,
    "strategies": STRATEGIES,
    "auto_methods": AUTO_METHODS,
}
# 20,000 words: the full 4-D grid takes > 25 min per point, so only these families' cells are searched
FULL_20K = FULL | {
    "n_targets": (200, 1000),
    "subsamples": 3,
    "n_words": 20000,
    "strategies": STRATEGIES_20K,
    "auto_methods": ("auto", "auto_five", "theory_no_cv"),
}
QUICK = FULL | {"n_targets": (200,), "subsamples": 1, "folds": 3}
QUICK_20K = FULL_20K | {"n_targets": (200,), "subsamples": 1, "folds": 3}
METHODS = STRATEGIES + AUTO_METHODS


@functools.lru_cache(maxsize=2)
def load_study(data_dir: str, n_words: int = 2000):
    """The transfer data (memoized per process); ``data_dir`` is the data root (see ``locate_imdb``)."""
    return imdb_transfer(load_imdb(data_dir), n_words=n_words)


def study_sources(data, which: str = "six") -> tuple:
    """The study's source domains: the five pseudo-genre clusters (``"five"``: ``data.sources``) or those
    and, last, the largest one's held-out reviews with their ratings shuffled (``"six"``:
    :func:`solvers.datasets.shuffled_source` with ``SHUFFLE_SEED``)."""
    if which not in SOURCE_SETS:
        raise ValueError(f"unknown source set {which!r}; expected one of {list(SOURCE_SETS)}")
    return data.sources if which == "five" else (*data.sources, shuffled_source(data, SHUFFLE_SEED))


def subsample(data, n_target: int, index: int, seed: int):
    """Target training rows (design, rating) of subsample ``index``."""
    n_all = data.target.n_samples
    if not 0 < n_target <= n_all:
        raise ValueError(f"n_target must lie in [1, {n_all}], got {n_target}")
    rows = np.random.default_rng([seed, n_target, index]).choice(n_all, n_target, replace=False)
    return data.target.A[rows], data.target.y[rows]


def _cell(point: dict):
    data = load_study(point["data"], point["n_words"])
    X, y = subsample(data, point["n_target"], point["subsample"], point["seed"])
    common = dict(cv=point["folds"], random_state=point["seed"] + point["subsample"])
    X_test, y_test = data.target_test.A, data.target_test.y
    return data, X, y, common, lambda model: float(np.mean((model.predict(X_test) - y_test) ** 2))


def _pairs(domains) -> list:
    return [(d.A, d.y) for d in domains]


def format_sources(members) -> str:
    """A set of source indices as the runs CSV writes it ("none": the target alone)."""
    return " ".join(map(str, members)) or "none"


def run_grid(point: dict) -> dict:
    """The CV-tuned ``point["strategies"]`` at one (n_target, subsample): one grid, each strategy's best point."""
    start = time.perf_counter()
    data, X, y, common, test_mse = _cell(point)
    sources = _pairs(study_sources(data, "five"))
    strategies = tuple(point["strategies"])
    families = "full" if strategies == STRATEGIES else strategies
    grid = TransLassoCV(strategy=families, tuning="cv", **common).fit(X, y, sources=sources)
    grid_seconds = time.perf_counter() - start
    rows = []
    # strategies that select the same point share its refit; the grid's own best point is refitted already
    models = {grid.hyperparameters_: grid.best_estimator_}
    for strategy in strategies:
        hyper, cv_err, fits = grid.select(strategy)
        if hyper not in models:
            models[hyper] = TransLasso(**hyper.as_dict(), fit_intercept=True, standardize=True).fit(
                X, y, sources=sources
            )
        model = models[hyper]
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
    return {
        "rows": rows,
        "cv_wall_seconds": grid_seconds,
        "test_variance": float(np.var(load_study(point["data"], point["n_words"]).target_test.y)),
        "point_seconds": time.perf_counter() - start,
    }


def run_auto(point: dict) -> dict:
    """The ``point["auto_methods"]`` of :data:`AUTO_RUNS` at one (n_target, subsample)."""
    start = time.perf_counter()
    data, X, y, common, test_mse = _cell(point)
    shuffled = len(data.sources)  # its index among the six
    rows = []
    for method in point["auto_methods"]:
        which, options = AUTO_RUNS[method]
        model = TransLassoCV(**(common | options)).fit(X, y, sources=_pairs(study_sources(data, which)))
        setting = model.setting_  # None when no source set was estimated
        rows.append(
            {
                "method": method,
                "test_mse": test_mse(model),
                "cv_fits": model.n_fits_,
                "cv_seconds": model.fit_time_,
                "strategy": model.strategy_,
                "predicted_mse": math.nan if model.predicted_error_ is None else model.predicted_error_,
                "rho_hat": math.nan if setting is None else float(setting.target_density),
                "similarity_hat": math.nan if setting is None else similarity(setting),
                "sources_used": format_sources(model.sources_used_),
                **({"shuffled_used": shuffled in model.sources_used_} if which == "six" else {}),
                **model.hyperparameters_.as_dict(),
            }
        )
    names = [d.name for d in study_sources(data)]
    return {"rows": rows, "sources": names, "point_seconds": time.perf_counter() - start}


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
                entry[f"{key}_mean"], entry[f"{key}_se"] = mean_se([r[key] for r in rows])
            if method in AUTO_METHODS:
                entry["auto_strategies"] = " ".join(r["strategy"] for r in rows)
                entry["sources_used"] = "; ".join(r["sources_used"] for r in rows)
                if "shuffled_used" in rows[0]:
                    entry["shuffled_kept"] = sum(bool(r["shuffled_used"]) for r in rows)
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
        style = "--" if method in AUTO_METHODS else "-"
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


def study_points(config: dict, data: Path, seed: int) -> list[dict]:
    """The (n_target, subsample) points of ``config``; the CV-tuned sweep adds its strategies."""
    return [
        {
            "data": str(data.resolve()),
            "n_target": n,
            "subsample": s,
            "seed": seed,
            "folds": config["folds"],
            "n_words": config["n_words"],
        }
        for n in config["n_targets"]
        for s in range(config["subsamples"])
    ]


def run_grid_sweep(config: dict, points: list[dict], options: dict) -> list[dict]:
    """The cached CV-tuned part (independent of ``TransLassoCV()``'s defaults: run it first, or alone)."""
    grid_points = [p | {"strategies": list(config["strategies"])} for p in points]
    return run_sweep(run_grid, grid_points, tag=GRID_TAG, desc="imdb grid", **options)


@io.reports_outputs
def main(argv=None):
    args = parse_args(experiment_parser("imdb", __doc__.split("\n\n")[0]), argv, checks=[data_check(locate_imdb)])
    if args.words == 20000:
        config = QUICK_20K if args.quick else FULL_20K
    else:
        config = QUICK if args.quick else FULL
    prefix = "imdb20k" if config["n_words"] == 20000 else "imdb"
    points = study_points(config, args.data, args.seed)
    options = sweep_options(args)
    grids = run_grid_sweep(config, points, options)
    auto_points = [p | {"auto_methods": list(config["auto_methods"])} for p in points]
    autos = run_sweep(run_auto, auto_points, tag=AUTO_TAG, desc="imdb auto", **options)
    records = [
        {"n_target": p["n_target"], "subsample": p["subsample"], **row, "point_seconds": res["point_seconds"]}
        for p, grid, auto in zip(points, grids, autos)
        for res in (grid, auto)
        for row in res["rows"]
    ]
    summary = summarize(records)
    io.write_csv(args.out / f"{prefix}_runs.csv", records, fieldnames=RUN_COLUMNS)
    io.write_csv(args.out / f"{prefix}_summary.csv", summary)
    io.write_json(
        args.out / f"{prefix}_meta.json",
        {
            "cv_wall_seconds": {
                f"{p['n_target']}/{p['subsample']}": r["cv_wall_seconds"] for p, r in zip(points, grids)
            },
            "test_variance": grids[0]["test_variance"],
            "sources": autos[0]["sources"],
            "config": {k: list(v) if isinstance(v, tuple) else v for k, v in config.items()},
        },
    )
    words = f"{config['n_words']:,} words"
    plot(
        summary,
        args.out / f"{prefix}_test_mse",
        f"IMDb ({words}): horror target; sources 5 pseudo-genres + 1 shuffled (grid, auto_five: the 5)",
    )
    for r in summary:
        print(
            f"n_t={r['n_target']:5d} {r['method']:18s} test MSE {r['test_mse_mean']:.3f} ± {r['test_mse_se']:.3f}"
            f"  CV {r['cv_fits_mean']:.0f} fits {r['cv_seconds_mean']:.1f} s"
        )


if __name__ == "__main__":
    main()
