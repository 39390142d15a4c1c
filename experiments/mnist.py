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

Run ``python -m experiments.mnist [--quick] [--data DIR] [--out OUT] [--workers N]``.
"""

from __future__ import annotations

# ruff: noqa: E402 -- the command line is checked before the slow imports (numba kernels, ~3 s)
from experiments import cli

if __name__ == "__main__":
    cli.preflight("mnist")

import functools
import math
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.model_selection import KFold

from experiments import io
from experiments.cli import SHARED_DATA, data_check, experiment_parser, parse_args, sweep_options
from experiments.sweep import run_sweep
from replica import ConvergenceError, Hyperparameters, Setting, optimize, predict
from solvers import TransLasso, draw_truth
from solvers.cv import cross_validate
from solvers.datasets import load_mnist, locate_mnist, mnist_designs
from solvers.grid import Grid
from solvers.problem import TransferProblem

DATA_DEFAULT = SHARED_DATA
TAG = "mnist-v4"
TARGET_DIGIT, SOURCE_DIGITS = 3, (5, 8)
SIGMA, RHO = 0.3, 0.1
PRIORS = {
    "values": {"shared_fraction": 0.6, "correlation": 1.0},
    "support": {"shared_fraction": 1.0, "correlation": 0.5},
}
COMPARED = ("value", "support", "full")
FULL = {
    "priors": tuple(PRIORS),
    "n_targets": (150, 300),
    "designs": ("mnist", "gaussian"),
    "seeds": 6,
    "folds": 5,
    "lam1_ratios": tuple(np.geomspace(0.5, 0.01, 6)),
    "lam2_ratios": tuple(np.geomspace(1, 0.01, 10)),
}
QUICK = {
    "priors": ("values",),
    "n_targets": (300,),
    "designs": ("mnist", "gaussian"),
    "seeds": 2,
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


def _predicted(setting: Setting, hyper: Hyperparameters) -> float:
    try:
        return float(predict(setting, hyper).eps2)
    except ConvergenceError:
        return float("nan")


def run_point(point: dict) -> dict:
    """One seed: draw truth and noise on the chosen designs, fit at theory- and CV-optimal hyperparameters."""
    d = load_designs(point["data"])
    rng = np.random.default_rng([point["seed"], point["n_target"], len(point["prior"]), len(point["design"])])
    N = d.n_features
    rows = rng.choice(d.target.shape[0], point["n_target"], replace=False)
    A_t, A_test, A_s = d.target[rows], d.target_test, d.sources[0]
    if point["design"] == "gaussian":
        A_t, A_test, A_s = (rng.standard_normal(A.shape) / math.sqrt(N) for A in (A_t, A_test, A_s))
    elif point["design"] != "mnist":
        raise ValueError(f"design must be 'mnist' or 'gaussian', got {point['design']!r}")
    setting = make_setting(point["prior"], len(rows), A_s.shape[0], N)
    r = draw_truth(setting, N, rng)
    y_t = A_t @ r[0] + SIGMA * rng.standard_normal(A_t.shape[0])
    y_s = A_s @ r[1] + SIGMA * rng.standard_normal(A_s.shape[0])

    def test_error(coef):
        return float(SIGMA**2 + np.mean((A_test @ (r[0] - coef)) ** 2))

    optima = theory_optima(point["prior"], len(rows), A_s.shape[0], N)
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

    def refit(hyper):
        return (
            TransLasso(**hyper.as_dict(), pretrain_on_target=True, fit_intercept=False, standardize=False)
            .fit(A_t, y_t, sources=[(A_s, y_s)])
            .coef_
        )

    out = []
    for strategy in COMPARED:
        theory_hyper = optima[strategy].hyperparameters
        cv_hyper, _ = cv.select(strategy)
        coef_theory = refit(theory_hyper)
        coef_cv = refit(cv_hyper)
        out.append(
            {
                "strategy": strategy,
                "eps_theory_pred": optima[strategy].eps2,
                "eps_theory_test": test_error(coef_theory),
                "eps_theory_coef": float(SIGMA**2 + np.mean((r[0] - coef_theory) ** 2)),
                "eps_cv_pred": _predicted(setting, cv_hyper),
                "eps_cv_test": test_error(coef_cv),
                **{f"theory_{k}": v for k, v in theory_hyper.as_dict().items()},
                **{f"cv_{k}": v for k, v in cv_hyper.as_dict().items()},
            }
        )
    return {"rows": out, "n_features": N, "alpha_target": len(rows) / N, "alpha_source": A_s.shape[0] / N}


def summarize(records: list[dict]) -> list[dict]:
    """Mean ± SE over seeds per (prior, n_target, design, strategy), deviations from the theory, winners."""
    out = []
    keys = sorted({(r["prior"], r["n_target"], r["design"]) for r in records})
    for prior, n_t, design in keys:
        group = [r for r in records if (r["prior"], r["n_target"], r["design"]) == (prior, n_t, design)]
        theory_best = min(COMPARED[:2], key=lambda s: next(r["eps_theory_pred"] for r in group if r["strategy"] == s))
        for strategy in COMPARED:
            rows = [r for r in group if r["strategy"] == strategy]
            entry = {
                "prior": prior,
                "n_target": n_t,
                "design": design,
                "strategy": strategy,
                "seeds": len(rows),
                "eps_theory_pred": rows[0]["eps_theory_pred"],
                "theory_pick": theory_best,
            }
            for key in ("eps_theory_test", "eps_theory_coef", "eps_cv_test", "eps_cv_pred"):
                x = np.array([row[key] for row in rows], float)
                entry[f"{key}_mean"] = float(np.nanmean(x))
                entry[f"{key}_se"] = (
                    float(np.nanstd(x, ddof=1) / math.sqrt(np.sum(np.isfinite(x)))) if len(x) > 1 else float("nan")
                )
            entry["rel_dev_theory"] = entry["eps_theory_test_mean"] / entry["eps_theory_pred"] - 1
            out.append(entry)
        finite = {s: next(e for e in out[-3:] if e["strategy"] == s)["eps_theory_test_mean"] for s in COMPARED[:2]}
        cvwin = {s: next(e for e in out[-3:] if e["strategy"] == s)["eps_cv_test_mean"] for s in COMPARED[:2]}
        # paired over seeds (same truth, noise and designs): value − support
        diffs = {}
        for key in ("eps_theory_test", "eps_cv_test"):
            by_seed = {(r["seed"], r["strategy"]): r[key] for r in group}
            d = np.array([by_seed[s, "value"] - by_seed[s, "support"] for s, st in by_seed if st == "value"])
            diffs[key] = (float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else float("nan"))
        for e in out[-3:]:
            e["finite_winner_at_theory_opt"] = min(finite, key=finite.get)
            e["finite_winner_at_cv_opt"] = min(cvwin, key=cvwin.get)
            e["value_minus_support_theory_opt"], e["value_minus_support_theory_opt_se"] = diffs["eps_theory_test"]
            e["value_minus_support_cv_opt"], e["value_minus_support_cv_opt_se"] = diffs["eps_cv_test"]
    return out


def plot(summary: list[dict], path: Path):
    panels = sorted({(e["prior"], e["n_target"]) for e in summary})
    fig = Figure(figsize=(4.2 * len(panels), 4.0), constrained_layout=True)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (prior, n_t) in zip(axes, panels):
        x = np.arange(len(COMPARED))
        for j, (design, key, label) in enumerate(
            [
                ("mnist", "eps_theory_test", "MNIST, theory-opt"),
                ("mnist", "eps_cv_test", "MNIST, CV-opt"),
                ("gaussian", "eps_theory_test", "Gaussian, theory-opt"),
                ("gaussian", "eps_cv_test", "Gaussian, CV-opt"),
            ]
        ):
            rows = [
                next(
                    (
                        e
                        for e in summary
                        if (e["prior"], e["n_target"], e["design"], e["strategy"]) == (prior, n_t, design, s)
                    ),
                    None,
                )
                for s in COMPARED
            ]
            if None in rows:
                continue
            ax.errorbar(
                x + 0.12 * (j - 1.5),
                [e[f"{key}_mean"] for e in rows],
                yerr=[e[f"{key}_se"] for e in rows],
                fmt="o",
                ms=4,
                capsize=2,
                color=f"C{j}",
                label=label,
            )
        pred = [
            next(e for e in summary if (e["prior"], e["n_target"], e["strategy"]) == (prior, n_t, s))["eps_theory_pred"]
            for s in COMPARED
        ]
        ax.plot(x, pred, "k_", ms=22, mew=2, label="replica prediction (theory-opt)")
        ax.set(xticks=x, xticklabels=COMPARED, ylabel="target test error", title=f"prior '{prior}', n_t = {n_t}")
    axes[0].legend(fontsize=7)
    return io.save_figure(fig, path)


@io.reports_outputs
def main(argv=None):
    args = parse_args(experiment_parser("mnist", __doc__.split("\n\n")[0]), argv, checks=[data_check(locate_mnist)])
    config = QUICK if args.quick else FULL
    points = [
        {
            "data": str(args.data.resolve()),
            "prior": p,
            "n_target": n,
            "design": dsg,
            "seed": args.seed + s,
            "folds": config["folds"],
            "lam1_ratios": [float(x) for x in config["lam1_ratios"]],
            "lam2_ratios": [float(x) for x in config["lam2_ratios"]],
        }
        for p in config["priors"]
        for n in config["n_targets"]
        for dsg in config["designs"]
        for s in range(config["seeds"])
    ]
    results = run_sweep(run_point, points, tag=TAG, desc="mnist", **sweep_options(args))
    records = [
        {"prior": p["prior"], "n_target": p["n_target"], "design": p["design"], "seed": p["seed"], **row}
        for p, res in zip(points, results)
        for row in res["rows"]
    ]
    summary = summarize(records)
    io.write_csv(args.out / "mnist_runs.csv", records)
    io.write_csv(args.out / "mnist_summary.csv", summary)
    plot(summary, args.out / "mnist_theory_vs_finite")
    for e in summary:
        print(
            f"{e['prior']:8s} n_t={e['n_target']:4d} {e['design']:8s} {e['strategy']:8s} "
            f"pred {e['eps_theory_pred']:.4f} theory-opt {e['eps_theory_test_mean']:.4f}±{e['eps_theory_test_se']:.4f} "
            f"CV-opt {e['eps_cv_test_mean']:.4f}±{e['eps_cv_test_se']:.4f} (pred {e['eps_cv_pred_mean']:.4f}) "
            f"pick {e['theory_pick']} finite {e['finite_winner_at_theory_opt']}/{e['finite_winner_at_cv_opt']}"
        )


if __name__ == "__main__":
    main()
