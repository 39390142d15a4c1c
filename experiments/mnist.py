"""Semi-artificial MNIST study: real image designs, responses from the theory's prior.

Designs (:func:`solvers.datasets.mnist_designs`, MNIST test set): the target is digit 3
(n_t images drawn from its 808 training images; its 202 held-out images are the test set),
the source is digits 5 and 8 pooled (1,866 images). Pixels constant over these digits are
dropped (N = 588) and columns standardized to variance 1/N, the theory's convention.
A Gaussian control replaces every design by i.i.d. N(0, 1/N) entries of the same size.

Responses: (r^(1), r^(2)) drawn from a ``replica.Setting.similarity`` prior
(:func:`solvers.draw_truth`), y^(k) = A^(k) r^(k) + N(0, σ²), with α_k = M_k/N the actual
ratios. Two priors: ``values`` (60% of the target's nonzeros shared, with identical values)
and ``support`` (all nonzeros shared, values correlated 0.5).

For value, support and full: the finite-size test error at the theory-optimal
hyperparameters (``replica.optimize`` on the Setting) and at the 5-fold-CV-optimal ones
(grid of :mod:`solvers.grid`, target training data only, target in
pretraining), each against replica's prediction at the same hyperparameters. Test error =
σ² + mean over the held-out images of (a·(r^(1) − x̂))², the expectation over fresh noise.

The correlated theory (THEORY.md §7) of the MNIST designs: the Setting with Σ = the correlation
matrix of all the images of the three digits (the pooled design whose columns were
standardized), ``Setting.with_covariance(Covariance.empirical(...))``. Per cell it is optimized
warm from the i.i.d. optima (one local run, ``xtol`` 1e-2: a cold search spends most of its time
at small λ, where the effective Lassos are dense) and predicts the i.i.d. optima too; each seed is
also fitted at the correlated optima. For the Gaussian control Σ = I, whose theory is the i.i.d.
one: its correlated columns repeat the i.i.d. ones. The CV grid costs most of a seed, so only the
first ``cv_seeds`` seeds are cross-validated; the others measure the theory-optimal fits alone.

Run ``python -m experiments.mnist [--quick] [--data DIR] [--out OUT] [--workers N]``.
"""

from __future__ import annotations

# ruff: noqa: E402 -- the command line is checked before the slow imports (numba kernels, ~3 s)
from experiments import cli

if __name__ == "__main__":
    cli.preflight("mnist")

import dataclasses
import functools
import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.model_selection import KFold

from experiments import io
from experiments.cli import SHARED_DATA, data_check, experiment_parser, parse_args, sweep_options
from experiments.stats import mean_se  # NaN: not measured, e.g. CV on a theory-only seed
from experiments.sweep import run_sweep
from replica import ConvergenceError, Covariance, Hyperparameters, Setting, optimize, predict
from solvers import TransLasso, draw_truth
from solvers.cv import cross_validate
from solvers.datasets import load_mnist, locate_mnist, mnist_designs
from solvers.grid import Grid
from solvers.problem import TransferProblem

DATA_DEFAULT = SHARED_DATA
TAG = "mnist-v5"
OPTIMA_TAG = "mnist-correlated-optima-v1"
TARGET_DIGIT, SOURCE_DIGITS = 3, (5, 8)
SIGMA, RHO = 0.3, 0.1
PRIORS = {
    "values": {"shared_fraction": 0.6, "correlation": 1.0},
    "support": {"shared_fraction": 1.0, "correlation": 0.5},
}
COMPARED = ("value", "support", "full")
HYPER_KEYS = tuple(field.name for field in dataclasses.fields(Hyperparameters))
# per cell and strategy: the predictions, and the measured errors (mean ± SE over seeds in the summary)
PREDICTED = ("eps_theory_pred", "eps_theory_pred_corr", "eps_theory_pred_corr_se", "eps_corr_pred", "eps_corr_pred_se")
MEASURED = ("eps_theory_test", "eps_theory_coef", "eps_corr_test", "eps_cv_test", "eps_cv_pred")
# the correlated theory's search: one local run from the i.i.d. optimum (see the module docstring)
CORRELATED_SEARCH = {"multistart": 1, "xtol": 1e-2}
FULL = {
    "priors": tuple(PRIORS),
    "n_targets": (150, 300),
    "designs": ("mnist", "gaussian"),
    "seeds": 30,
    "cv_seeds": 6,
    "draws": None,  # Covariance.empirical's default (56 at N = 588)
    "folds": 5,
    "lam1_ratios": tuple(np.geomspace(0.5, 0.01, 6)),
    "lam2_ratios": tuple(np.geomspace(1, 0.01, 10)),
}
QUICK = {
    "priors": ("values",),
    "n_targets": (300,),
    "designs": ("mnist", "gaussian"),
    "seeds": 2,
    "cv_seeds": 2,
    "draws": 16,
    "folds": 3,
    "lam1_ratios": tuple(np.geomspace(0.5, 0.02, 3)),
    "lam2_ratios": tuple(np.geomspace(1, 0.02, 6)),
}


@functools.lru_cache(maxsize=2)
def load_designs(data_dir: str):
    images, labels = load_mnist(data_dir)
    return mnist_designs(images, labels, TARGET_DIGIT, [SOURCE_DIGITS])


def make_setting(prior: str, n_target: int, n_source: int, n_features: int) -> Setting:
    if prior not in PRIORS:
        raise ValueError(f"unknown prior {prior!r}; expected one of {sorted(PRIORS)}")
    return Setting.similarity(
        n_target / n_features, n_source / n_features, SIGMA, SIGMA, RHO, pretrain_on_target=True, **PRIORS[prior]
    )


@functools.lru_cache(maxsize=8)
def theory_optima(prior: str, n_target: int, n_source: int, n_features: int) -> dict:
    """replica.optimize for each compared strategy (memoized: seeds share the Setting)."""
    setting = make_setting(prior, n_target, n_source, n_features)
    value = optimize(setting, "value")
    support = optimize(setting, "support")
    full = optimize(setting, "full", seeds=[value, support])
    return {"value": value, "support": support, "full": full}


def all_images(data_dir: str) -> np.ndarray:
    """Every image of the three digits (target training, held-out target, sources), in that order: the
    pooled design whose columns :func:`solvers.datasets.mnist_designs` centred and standardized."""
    d = load_designs(data_dir)
    return np.vstack([d.target, d.target_test, *d.sources])


@functools.lru_cache(maxsize=2)
def image_covariance(data_dir: str, draws: int | None) -> Covariance:
    """Σ of the MNIST designs (THEORY.md §7): the correlation matrix of :func:`all_images`."""
    return Covariance.empirical(all_images(data_dir), draws=draws)


def correlated_optima(cell: dict) -> dict:
    """One cell's correlated theory: each strategy's optimum on the Setting with the images' covariance,
    warm from the i.i.d. optimum, with its sampling SE, and the prediction at the i.i.d. optimum."""
    d = load_designs(cell["data"])
    n_s, N = d.sources[0].shape[0], d.n_features
    setting = make_setting(cell["prior"], cell["n_target"], n_s, N).with_covariance(
        image_covariance(cell["data"], cell["draws"])
    )
    iid = theory_optima(cell["prior"], cell["n_target"], n_s, N)
    value = optimize(setting, "value", start=iid["value"], seeds=(), **CORRELATED_SEARCH)
    support = optimize(setting, "support", start=iid["support"], seeds=(), **CORRELATED_SEARCH)
    full = optimize(setting, "full", start=iid["full"], seeds=[value, support], **CORRELATED_SEARCH)
    out = {}
    for strategy, res in zip(COMPARED, (value, support, full)):
        at_iid = predict(setting, iid[strategy].hyperparameters, warm_start=res.prediction)
        out[strategy] = {
            "eps_corr_pred": res.eps2,
            "eps_corr_pred_se": res.prediction.se["eps2"],
            "hyperparameters": res.hyperparameters.as_dict(),
            "eps_theory_pred_corr": at_iid.eps2,
            "eps_theory_pred_corr_se": at_iid.se["eps2"],
        }
    return out


def _predicted(setting: Setting, hyper: Hyperparameters) -> float:
    try:
        return float(predict(setting, hyper).eps2)
    except ConvergenceError:
        return float("nan")


def draw_seed(data: str, prior: str, n_target: int, design: str, seed: int):
    """One seed's data: the target rows (MNIST images, or Gaussian rows of their shape), truth and noise.

    Returns (A_t, A_test, A_s, setting, r, y_t, y_s): target training, held-out and source designs, the
    cell's Setting, the truths (target, source) and the two responses.
    """
    d = load_designs(data)
    rng = np.random.default_rng([seed, n_target, len(prior), len(design)])
    N = d.n_features
    rows = rng.choice(d.target.shape[0], n_target, replace=False)
    A_t, A_test, A_s = d.target[rows], d.target_test, d.sources[0]
    if design == "gaussian":
        A_t, A_test, A_s = (rng.standard_normal(A.shape) / math.sqrt(N) for A in (A_t, A_test, A_s))
    elif design != "mnist":
        raise ValueError(f"design must be 'mnist' or 'gaussian', got {design!r}")
    setting = make_setting(prior, len(rows), A_s.shape[0], N)
    r = draw_truth(setting, N, rng)
    y_t = A_t @ r[0] + SIGMA * rng.standard_normal(A_t.shape[0])
    y_s = A_s @ r[1] + SIGMA * rng.standard_normal(A_s.shape[0])
    return A_t, A_test, A_s, setting, r, y_t, y_s


def run_point(point: dict) -> dict:
    """One seed (:func:`draw_seed`): fit at the theory-optimal hyperparameters of both theories and, for
    the first ``cv_seeds`` seeds, at the CV-optimal ones."""
    keys = ("data", "prior", "n_target", "design", "seed")
    A_t, A_test, A_s, setting, r, y_t, y_s = draw_seed(*(point[k] for k in keys))
    N = A_t.shape[1]

    def test_error(coef):
        return float(SIGMA**2 + np.mean((A_test @ (r[0] - coef)) ** 2))

    def refit(hyper):
        return (
            TransLasso(**hyper.as_dict(), pretrain_on_target=True, fit_intercept=False, standardize=False)
            .fit(A_t, y_t, sources=[(A_s, y_s)])
            .coef_
        )

    optima = theory_optima(point["prior"], point["n_target"], A_s.shape[0], N)
    cv = None
    if point["cv"]:
        lam1_max = float(np.max(np.abs(A_s.T @ y_s + A_t.T @ y_t)))
        lam2_max = float(np.max(np.abs(A_t.T @ y_t)))
        grid = Grid(
            tuple(sorted((lam1_max * float(r) for r in point["lam1_ratios"]), reverse=True)),
            tuple(sorted((lam2_max * float(r) for r in point["lam2_ratios"]), reverse=True)),
        )
        # the designs already follow the theory's convention: no intercepts, no rescaling (theory units)
        problem = TransferProblem(A_t, y_t, [(A_s, y_s)], fit_intercept=False)
        splits = list(KFold(point["folds"], shuffle=True, random_state=point["seed"]).split(A_t))
        cv = cross_validate(problem, grid, splits, pretrain_on_target=True)

    out = []
    for strategy in COMPARED:
        theory_hyper = optima[strategy].hyperparameters
        coef_theory = refit(theory_hyper)
        row = {
            "strategy": strategy,
            "eps_theory_pred": optima[strategy].eps2,
            "eps_theory_test": test_error(coef_theory),
            "eps_theory_coef": float(SIGMA**2 + np.mean((r[0] - coef_theory) ** 2)),
        }
        corr = point["correlated"]
        if corr is None:  # Gaussian design, Σ = I: the correlated theory is the i.i.d. one
            c = {"eps_corr_pred": row["eps_theory_pred"], "eps_corr_pred_se": 0.0}
            c |= {"eps_theory_pred_corr": row["eps_theory_pred"], "eps_theory_pred_corr_se": 0.0}
            corr_hyper, eps_corr_test = theory_hyper, row["eps_theory_test"]
        else:
            c = {k: v for k, v in corr[strategy].items() if k != "hyperparameters"}
            corr_hyper = Hyperparameters(**corr[strategy]["hyperparameters"])
            eps_corr_test = test_error(refit(corr_hyper))
        row |= {**c, "eps_corr_test": eps_corr_test}
        if cv is not None:
            cv_hyper, _ = cv.select(strategy)
            row |= {"eps_cv_pred": _predicted(setting, cv_hyper), "eps_cv_test": test_error(refit(cv_hyper))}
            row |= {f"cv_{k}": v for k, v in cv_hyper.as_dict().items()}
        else:
            row |= dict.fromkeys(["eps_cv_pred", "eps_cv_test", *(f"cv_{k}" for k in HYPER_KEYS)], math.nan)
        row |= {f"theory_{k}": v for k, v in theory_hyper.as_dict().items()}
        row |= {f"corr_{k}": v for k, v in corr_hyper.as_dict().items()}
        out.append(row)
    return {"rows": out, "n_features": N, "alpha_target": point["n_target"] / N, "alpha_source": A_s.shape[0] / N}


def summarize(records: list[dict]) -> list[dict]:
    """Mean ± SE over seeds per (prior, n_target, design, strategy), deviations from both theories, and
    value against support: each theory's pick and the finite winner (paired over seeds)."""
    out = []
    keys = sorted({(r["prior"], r["n_target"], r["design"]) for r in records})
    for prior, n_t, design in keys:
        group = [r for r in records if (r["prior"], r["n_target"], r["design"]) == (prior, n_t, design)]
        first = {s: next(r for r in group if r["strategy"] == s) for s in COMPARED}
        picks = {
            "theory_pick": min(COMPARED[:2], key=lambda s: first[s]["eps_theory_pred"]),
            "corr_pick": min(COMPARED[:2], key=lambda s: first[s]["eps_corr_pred"]),
        }
        paired = {}
        for name, key in (("theory_opt", "eps_theory_test"), ("corr_opt", "eps_corr_test"), ("cv_opt", "eps_cv_test")):
            by_seed = {(r["seed"], r["strategy"]): r[key] for r in group}
            diff = [by_seed[s, "value"] - by_seed[s, "support"] for s, st in by_seed if st == "value"]
            paired[f"value_minus_support_{name}"], paired[f"value_minus_support_{name}_se"] = mean_se(diff)
            gap = paired[f"value_minus_support_{name}"]
            paired[f"finite_winner_at_{name}"] = "—" if math.isnan(gap) else "value" if gap < 0 else "support"
        for strategy in COMPARED:
            rows = [r for r in group if r["strategy"] == strategy]
            entry = {"prior": prior, "n_target": n_t, "design": design, "strategy": strategy, "seeds": len(rows)}
            entry |= {k: first[strategy][k] for k in PREDICTED}
            for key in MEASURED:
                entry[f"{key}_mean"], entry[f"{key}_se"] = mean_se([row[key] for row in rows])
            entry["cv_seeds"] = int(np.sum(np.isfinite([row["eps_cv_test"] for row in rows])))
            entry["rel_dev_theory"] = entry["eps_theory_test_mean"] / entry["eps_theory_pred"] - 1
            entry["rel_dev_theory_corr"] = entry["eps_theory_test_mean"] / entry["eps_theory_pred_corr"] - 1
            entry["rel_dev_corr"] = entry["eps_corr_test_mean"] / entry["eps_corr_pred"] - 1
            out.append(entry | picks | paired)
    return out


def plot(summary: list[dict], path: Path):
    panels = sorted({(e["prior"], e["n_target"]) for e in summary})
    fig = Figure(figsize=(4.2 * len(panels), 4.0), constrained_layout=True)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    series = [
        ("mnist", "eps_theory_test", "MNIST, i.i.d.-theory-opt"),
        ("mnist", "eps_corr_test", "MNIST, correlated-theory-opt"),
        ("mnist", "eps_cv_test", "MNIST, CV-opt"),
        ("gaussian", "eps_theory_test", "Gaussian, theory-opt"),
        ("gaussian", "eps_cv_test", "Gaussian, CV-opt"),
    ]
    for ax, (prior, n_t) in zip(axes, panels):
        x = np.arange(len(COMPARED))

        def cell(design, strategy, prior=prior, n_t=n_t):
            match = (prior, n_t, design, strategy)
            return next((e for e in summary if (e["prior"], e["n_target"], e["design"], e["strategy"]) == match), None)

        for j, (design, key, label) in enumerate(series):
            rows = [cell(design, s) for s in COMPARED]
            if None in rows:
                continue
            ax.errorbar(
                x + 0.1 * (j - 2),
                [e[f"{key}_mean"] for e in rows],
                yerr=[e[f"{key}_se"] for e in rows],
                fmt="o",
                ms=4,
                capsize=2,
                color=f"C{j}",
                label=label,
            )
        anchor = [cell("mnist", s) or cell("gaussian", s) for s in COMPARED]
        ax.plot(x - 0.1, [e["eps_theory_pred"] for e in anchor], "k_", ms=22, mew=2, label="i.i.d. prediction")
        mnist = [cell("mnist", s) for s in COMPARED]
        if None not in mnist:
            ax.errorbar(
                x,
                [e["eps_corr_pred"] for e in mnist],
                yerr=[e["eps_corr_pred_se"] for e in mnist],
                fmt="_",
                ms=22,
                mew=2,
                color="C1",
                label="correlated prediction (MNIST Σ)",
            )
        ax.set(xticks=x, xticklabels=COMPARED, ylabel="target test error", title=f"prior '{prior}', n_t = {n_t}")
    axes[0].legend(fontsize=7)
    return io.save_figure(fig, path)


def study(config: dict, data: str, seed: int, sweep: dict) -> list[dict]:
    """The study's records (a row per point and strategy) under ``config`` (:data:`FULL`, :data:`QUICK`): the
    correlated theory's optima per cell, then every (prior, n_t, design, seed) point; ``sweep`` holds
    :func:`experiments.sweep.run_sweep`'s options (cache, workers, progress)."""
    cells = [
        {"data": data, "prior": p, "n_target": n, "draws": config["draws"]}
        for p in config["priors"]
        for n in config["n_targets"]
    ]
    optima = run_sweep(correlated_optima, cells, tag=OPTIMA_TAG, desc="mnist, correlated theory", **sweep)
    by_cell = {(c["prior"], c["n_target"]): o for c, o in zip(cells, optima)}
    points = [
        {
            "data": data,
            "prior": p,
            "n_target": n,
            "design": dsg,
            "seed": seed + s,
            "cv": s < config["cv_seeds"],
            "correlated": by_cell[p, n] if dsg == "mnist" else None,
            "folds": config["folds"],
            "lam1_ratios": [float(x) for x in config["lam1_ratios"]],
            "lam2_ratios": [float(x) for x in config["lam2_ratios"]],
        }
        for p in config["priors"]
        for n in config["n_targets"]
        for dsg in config["designs"]
        for s in range(config["seeds"])
    ]
    results = run_sweep(run_point, points, tag=TAG, desc="mnist", **sweep)
    return [
        {"prior": p["prior"], "n_target": p["n_target"], "design": p["design"], "seed": p["seed"], **row}
        for p, res in zip(points, results)
        for row in res["rows"]
    ]


@io.reports_outputs
def main(argv=None):
    args = parse_args(experiment_parser("mnist", __doc__.split("\n\n")[0]), argv, checks=[data_check(locate_mnist)])
    config = QUICK if args.quick else FULL
    records = study(config, str(args.data.resolve()), args.seed, sweep_options(args))
    summary = summarize(records)
    io.write_csv(args.out / "mnist_runs.csv", records)
    io.write_csv(args.out / "mnist_summary.csv", summary)
    plot(summary, args.out / "mnist_theory_vs_finite")
    for e in summary:
        print(
            f"{e['prior']:8s} n_t={e['n_target']:4d} {e['design']:8s} {e['strategy']:8s} "
            f"i.i.d.: pred {e['eps_theory_pred']:.4f} meas {e['eps_theory_test_mean']:.4f}±{e['eps_theory_test_se']:.4f} "
            f"({e['rel_dev_theory']:+.1%}; corr. pred there {e['rel_dev_theory_corr']:+.1%}) | "
            f"correlated-opt: pred {e['eps_corr_pred']:.4f}±{e['eps_corr_pred_se']:.4f} "
            f"meas {e['eps_corr_test_mean']:.4f}±{e['eps_corr_test_se']:.4f} ({e['rel_dev_corr']:+.1%}) | "
            f"CV-opt {e['eps_cv_test_mean']:.4f}±{e['eps_cv_test_se']:.4f} | picks {e['theory_pick']}/{e['corr_pick']} "
            f"finite {e['finite_winner_at_theory_opt']}/{e['finite_winner_at_corr_opt']}/{e['finite_winner_at_cv_opt']}"
        )


if __name__ == "__main__":
    main()
