"""Benchmark: 5-fold CV of ALL strategies on IMDb at n_t = 1000 (requirement: ≤ 3 minutes on 2 cores).

Grid of ``experiments.imdb`` (5 λ1 × 15 (κ, u) cells × 8 λ2). Two stage-1 modes:

* ``sources-only`` (the study's choice): stage 1 is fitted once per λ1 on the 19,573 source
  reviews; shown separately (one-time) and included in the total;
* ``with target``: stage 1 on sources + target fold, per fold and λ1, warm-started from the
  sources-only solutions.

For each mode: wall time, fits (a λ2 point of a path counts as one), per-strategy cost as if
cross-validated alone, and the test MSE of each CV-selected strategy refitted on the n_t reviews.
Writes ``benchmarks/bench_imdb_cv.md``. Run: ``python benchmarks/bench_imdb_cv.py [--data DIR]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from experiments.imdb import DATA_DEFAULT, FULL, load_study, subsample  # noqa: E402
from experiments.transfer_cv import STRATEGIES, Grid, Pretrainer, cross_validate, mse, refit  # noqa: E402

N_TARGET = 1000
BUDGET = 180.0


def run(data, pre: Pretrainer, pretrain_on_target: bool) -> tuple[list[str], float]:
    A, y, shift = subsample(data, N_TARGET, 0, 0)
    grid = Grid.relative(pre.lam_max, float(abs(A.T @ y).max()), FULL["lam1_ratios"], FULL["lam2_ratios"])
    t0 = time.perf_counter()
    once_fits0, once0 = pre.fits, pre.seconds
    pre.sources_only(grid.lam1)
    once = pre.seconds - once0
    once_fits = pre.fits - once_fits0
    cv = cross_validate((A, y), pre, grid, folds=FULL["folds"], seed=0, pretrain_on_target=pretrain_on_target)
    total = time.perf_counter() - t0
    mode = "with target" if pretrain_on_target else "sources-only"
    stage1_fits = once_fits + cv.stage1_fits
    stage2_fits = int(cv.cell_fits.sum())
    lines = [
        f"### stage 1 {mode}",
        "",
        f"- one-time sources-only stage 1: {once:.1f} s, {once_fits} fits",
        f"- fold-dependent stage 1: {cv.stage1_seconds:.1f} s, {cv.stage1_fits} fits",
        f"- CV of all strategies (wall): {cv.wall_seconds:.1f} s; total incl. one-time stage 1: "
        f"**{total:.1f} s**, {stage1_fits + stage2_fits} fits ({stage1_fits} stage-1, {stage2_fits} stage-2)",
        "- per-strategy costs below exclude the one-time stage 1, which every strategy but target_only needs",
        "",
        "| strategy | fits | seconds (alone) | CV MSE | test MSE |",
        "|---|---|---|---|---|",
    ]
    A_test, y_test = data.target_test.A, data.target_test.y - shift
    for s in STRATEGIES:
        hyper, err = cv.best(s)
        fits, seconds = cv.cost(s)
        test = float(mse(A_test, y_test, refit((A, y), pre, s, hyper, pretrain_on_target)))
        lines.append(f"| {s} | {fits} | {seconds:.1f} | {err:.3f} | {test:.3f} |")
    return lines + [""], total


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA_DEFAULT)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "bench_imdb_cv.md")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    data, pre = load_study(str(args.data.resolve()))
    load = time.perf_counter() - t0
    with open("/proc/loadavg") as fh:
        load_avg = fh.read().split()[0]
    lines = [
        "# IMDb CV benchmark (n_t = 1000, 5 folds, all 7 strategies)",
        "",
        f"Loading and featurizing (not part of CV): {load:.1f} s. Load average at start: {load_avg} "
        "(2 cores shared with other jobs; single process).",
        "",
    ]
    verdicts = []
    for pot in (False, True):
        part, total = run(data, Pretrainer([(d.A, d.y) for d in data.sources]), pot)
        lines += part
        verdicts.append(
            f"{'with target' if pot else 'sources-only'}: {total:.1f} s "
            f"({'within' if total <= BUDGET else 'OVER'} the {BUDGET:.0f} s budget)"
        )
        print("\n".join(part), flush=True)
    lines += ["## Verdict", ""] + [f"- {v}" for v in verdicts]
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(verdicts))


if __name__ == "__main__":
    main()
