"""Markdown tables of the real-data studies from their summary CSVs (for docs/results_real.md).

Run ``python -m experiments.real_data_tables [DIR]`` (default ``figures/``) after
``experiments.imdb`` and ``experiments.mnist``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from experiments.imdb import AUTO_METHODS, AUTO_RUNS, METHODS
from experiments.stats import mean_se


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _pm(row, key, digits=3) -> str:
    mean = float(row[f"{key}_mean"] if f"{key}_mean" in row else row[key])
    se = row.get(f"{key}_se", "")
    se = float(se) if se not in ("", "nan") else float("nan")
    return f"{mean:.{digits}f} ± {se:.{digits}f}" if se == se else f"{mean:.{digits}f}"


def imdb_tables(summary: list[dict]) -> str:
    sizes = sorted({int(r["n_target"]) for r in summary})
    cell = {(int(r["n_target"]), r["method"]): r for r in summary}
    out = [
        "Test MSE (star rating², mean ± SE over subsamples):",
        "",
        "| method | " + " | ".join(f"n_t = {n}" for n in sizes) + " |",
        "|---" * (len(sizes) + 1) + "|",
    ]
    for m in METHODS:
        out.append(
            f"| {m} | " + " | ".join(_pm(cell[n, m], "test_mse") if (n, m) in cell else "" for n in sizes) + " |"
        )
    out += [
        "",
        "CV cost per strategy (fits / seconds as if cross-validated alone, mean over subsamples):",
        "",
        "| method | " + " | ".join(f"n_t = {n}" for n in sizes) + " |",
        "|---" * (len(sizes) + 1) + "|",
    ]
    for m in METHODS:
        out.append(
            f"| {m} | "
            + " | ".join(
                f"{float(cell[n, m]['cv_fits_mean']):.0f} / {float(cell[n, m]['cv_seconds_mean']):.1f}"
                if (n, m) in cell
                else ""
                for n in sizes
            )
            + " |"
        )
    return "\n".join(out)


def _se(x) -> float:
    return mean_se(x)[1]


def six_vs_five(runs: list[dict], method: str = "auto", reference: str = "auto_five") -> str:
    """Issue 19's acceptance 3: per n_t, ``method`` (given the six sources) − ``reference`` (the five
    clusters), paired over subsamples; "no worse" when the mean difference is at most one SE."""
    out = [
        f"| n_t | {method} (six sources) | {reference} (five) | {method} − {reference} (paired) | no worse (≤ 1 SE) |",
        "|---|---|---|---|---|",
    ]
    for n in sorted({int(r["n_target"]) for r in runs}):
        mse = {}
        for r in runs:
            if int(r["n_target"]) == n and r["method"] in (method, reference):
                mse.setdefault(r["method"], {})[int(r["subsample"])] = float(r["test_mse"])
        if len(mse) < 2:
            continue
        subs = sorted(set(mse[method]) & set(mse[reference]))
        six, five = (np.array([mse[m][s] for s in subs]) for m in (method, reference))
        diff = six - five
        out.append(
            f"| {n} | {six.mean():.3f} ± {_se(six):.3f} | {five.mean():.3f} ± {_se(five):.3f} | "
            f"{diff.mean():+.3f} ± {_se(diff):.3f} | {'yes' if diff.mean() <= _se(diff) else 'no'} |"
        )
    return "\n".join(out)


def sources_used(runs: list[dict]) -> str:
    """The sources each auto method's model transfers from (``sources_used_``), per n_t and subsample, and
    for the methods given the six sources the number of subsamples whose model kept the shuffled one."""
    methods = [m for m in AUTO_METHODS if any(r["method"] == m for r in runs)]
    out = [
        "| n_t | " + " | ".join(f"{m} ({AUTO_RUNS[m][0]})" for m in methods) + " |",
        "|---" * (len(methods) + 1) + "|",
    ]
    for n in sorted({int(r["n_target"]) for r in runs}):
        cells = []
        for m in methods:
            rows = sorted(
                (r for r in runs if int(r["n_target"]) == n and r["method"] == m), key=lambda r: int(r["subsample"])
            )
            text = "; ".join(r["sources_used"] for r in rows)
            if AUTO_RUNS[m][0] == "six":
                kept = sum(r["shuffled_used"] in (True, "True") for r in rows)
                text += f" (shuffled kept {kept}/{len(rows)})"
            cells.append(text)
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def auto_vs_best(runs: list[dict]) -> str:
    """Issue 13's acceptance 3: per n_t, each "auto" method (5-fold, ALO and theory alone) against the
    CV-tuned strategy of lowest mean test MSE, paired over subsamples, and the ratio of their fits."""
    out = [
        "| n_t | method | test MSE | best CV-tuned | method − best (paired) | within one SE | fits method / best |",
        "|---|---|---|---|---|---|---|",
    ]

    for n in sorted({int(r["n_target"]) for r in runs}):
        rows = [r for r in runs if int(r["n_target"]) == n]
        mse, fits = {}, {}
        for r in rows:
            mse.setdefault(r["method"], {})[int(r["subsample"])] = float(r["test_mse"])
            fits.setdefault(r["method"], []).append(float(r["cv_fits"]))
        tuned = [m for m in mse if m not in AUTO_METHODS]
        best = min(tuned, key=lambda m: np.mean(list(mse[m].values())))
        for method in (m for m in AUTO_METHODS if m in mse):
            subs = sorted(mse[method])
            auto, ref = np.array([mse[method][s] for s in subs]), np.array([mse[best][s] for s in subs])
            diff, ratio = auto - ref, np.mean(fits[method]) / np.mean(fits[best])
            out.append(
                f"| {n} | {method} | {auto.mean():.3f} ± {_se(auto):.3f} | {best} {ref.mean():.3f} ± {_se(ref):.3f} | "
                f"{diff.mean():+.3f} ± {_se(diff):.3f} | {'yes' if diff.mean() <= _se(diff) else 'no'} | "
                f"{np.mean(fits[method]):.0f} / {np.mean(fits[best]):.0f} = {ratio:.3f} |"
            )
    return "\n".join(out)


def mnist_table(summary: list[dict]) -> str:
    out = [
        "| prior | n_t | design | strategy | replica ε (theory-opt) | finite, theory-opt | rel. dev. | "
        "finite, CV-opt | replica ε at CV-opt | theory pick | finite winner (theory-opt / CV-opt) | "
        "paired value − support, theory-opt | same, CV-opt |",
        "|---" * 13 + "|",
    ]
    for r in summary:
        out.append(
            f"| {r['prior']} | {r['n_target']} | {r['design']} | {r['strategy']} | "
            f"{float(r['eps_theory_pred']):.4f} | {_pm(r, 'eps_theory_test', 4)} | "
            f"{100 * float(r['rel_dev_theory']):+.1f}% | {_pm(r, 'eps_cv_test', 4)} | "
            f"{_pm(r, 'eps_cv_pred', 4)} | {r['theory_pick']} | "
            f"{r['finite_winner_at_theory_opt']} / {r['finite_winner_at_cv_opt']} | "
            f"{_pm(r, 'value_minus_support_theory_opt', 4)} | {_pm(r, 'value_minus_support_cv_opt', 4)} |"
        )
    return "\n".join(out)


def mnist_correlated_table(summary: list[dict]) -> str:
    """MNIST designs: the predicted-vs-measured gap of the i.i.d. and the correlated theory, and the strategy
    each theory picks against the measured winner (value against support)."""
    out = [
        "| prior | n_t | strategy | measured, i.i.d.-opt | i.i.d. prediction | gap | correlated prediction there | gap | "
        "correlated optimum (prediction) | measured there | gap | picks i.i.d. / corr. | measured winner "
        "(i.i.d.-opt / corr.-opt / CV-opt) |",
        "|---" * 13 + "|",
    ]
    for r in (r for r in summary if r["design"] == "mnist"):
        out.append(
            f"| {r['prior']} | {r['n_target']} | {r['strategy']} | {_pm(r, 'eps_theory_test', 4)} | "
            f"{float(r['eps_theory_pred']):.4f} | {100 * float(r['rel_dev_theory']):+.1f}% | "
            f"{_pm(r, 'eps_theory_pred_corr', 4)} | {100 * float(r['rel_dev_theory_corr']):+.1f}% | "
            f"{_pm(r, 'eps_corr_pred', 4)} | {_pm(r, 'eps_corr_test', 4)} | {100 * float(r['rel_dev_corr']):+.1f}% | "
            f"{r['theory_pick']} / {r['corr_pick']} | {r['finite_winner_at_theory_opt']} / "
            f"{r['finite_winner_at_corr_opt']} / {r['finite_winner_at_cv_opt']} |"
        )
    return "\n".join(out)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path("figures")
    for prefix in ("imdb", "imdb20k"):
        if (root / f"{prefix}_summary.csv").is_file():
            print(imdb_tables(_read(root / f"{prefix}_summary.csv")), "\n")
            runs = _read(root / f"{prefix}_runs.csv")
            print(auto_vs_best(runs), "\n")
            print(six_vs_five(runs), "\n")
            print(sources_used(runs), "\n")
    if (root / "mnist_summary.csv").is_file():
        summary = _read(root / "mnist_summary.csv")
        print(mnist_table(summary))
        if summary and "eps_corr_pred" in summary[0]:  # written by experiments.mnist with the correlated theory
            print("\n" + mnist_correlated_table(summary))


if __name__ == "__main__":
    main()
