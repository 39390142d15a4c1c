"""Benchmark: ptlasso's ``PretrainedLassoCV`` against ``solvers.TransLassoCV()`` on the IMDb study.

Issue 13, acceptance item 4, and issue 19, item 5. The cells are those of ``experiments.imdb`` (2,000
words, horror target; subsample ``s`` of ``n_t`` target reviews drawn by
:func:`experiments.imdb.subsample`); the score is the MSE on the fixed held-out horror test set (5,903
reviews). The sources (``--sources``, :func:`experiments.imdb.study_sources`): ``five``, the five source
pseudo-genres, or ``six``, those and the shuffled one (the largest cluster's held-out reviews, ratings
permuted). ptlasso gets one group per source, our side the same sources as separate datasets. Both sides
see the same training rows: a paired comparison per cell.

* ptlasso pins numpy < 2, so it runs in its own venv (``--venv``, see ``bench_ptlasso.md``)
  through :mod:`benchmarks.ptlasso_runner` in a subprocess; each cell is exported to .npz first.
  Its records are kept in ``--ptlasso-records`` (default ``benchmarks/bench_ptlasso_runs.json``)
  and reused for a cell already run with the same sources, mode, folds and seed (records without a
  ``sources`` key are of the five clusters). ``--ptlasso-only`` runs and stores the missing ptlasso
  cells without fitting our side.
* our side runs in-process: ``TransLassoCV()`` at its defaults (only the folds are seeded,
  ``random_state`` = the first of ``--fold-seeds``, default 0; the others refit it on other folds, and
  the summary also averages its test MSE over them), and with ``--reference`` the CV-tuned
  ``TransLassoCV(strategy="full", tuning="cv")`` on the first seed's folds.

Run: ``python benchmarks/bench_ptlasso.py --venv ../venvs/ptlasso --n-targets 100 500
--subsamples 0 1 2 [--sources six]``. Updates ``benchmarks/bench_ptlasso.json`` (one record per cell and source
set, replaced when re-run; the .md is written by hand from it) and prints the paired summary per n_t.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy import sparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from experiments.imdb import DATA_DEFAULT, SOURCE_SETS, load_study, study_sources, subsample  # noqa: E402
from solvers import TransLassoCV  # noqa: E402

RUNNER = Path(__file__).resolve().parent / "ptlasso_runner.py"
OURS = {"TransLassoCV()": {}, 'TransLassoCV(strategy="full", tuning="cv")': {"strategy": "full", "tuning": "cv"}}


def sources_of(record: dict) -> str:
    """The source set of a stored record (those written before ``--sources`` had the five clusters)."""
    return record.get("sources", "five")


def export_cell(data, n_target: int, index: int, seed: int, path: Path, sources: str = "five") -> Path:
    """Write one cell for the ptlasso runner: target rows (group 0) stacked over the sources (1, 2, ...)
    of :func:`experiments.imdb.study_sources` ``(data, sources)``.

    Responses are in the loader's units; ptlasso fits an intercept per group, as ``TransLassoCV``
    does, so both sides predict the held-out ratings in the same units.
    """
    A, y = subsample(data, n_target, index, seed)
    domains = study_sources(data, sources)
    blocks = [A] + [d.A for d in domains]
    X = sparse.vstack(blocks, format="csr")
    y_all = np.concatenate([y] + [d.y for d in domains])
    groups = np.concatenate([np.full(b.shape[0], k) for k, b in enumerate(blocks)])
    Xt = sparse.csr_matrix(data.target_test.A)
    arrays = {"y": y_all, "groups": groups, "y_test": data.target_test.y}
    for name, M in (("X", X), ("X_test", Xt)):
        arrays |= {f"{name}_data": M.data, f"{name}_indices": M.indices, f"{name}_indptr": M.indptr}
        arrays[f"{name}_shape"] = np.array(M.shape)
    np.savez(path, **arrays)
    return path


def run_ptlasso(venv: Path, cell: Path, out: Path, *, nice: int = 10, **options) -> dict:
    """Fit ptlasso on an exported cell in its venv, one thread; returns the runner's JSON record."""
    cmd = ["nice", "-n", str(nice), str(venv / "bin" / "python"), str(RUNNER), str(cell), str(out)]
    for key, value in options.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    record = json.loads(out.read_text())
    record["wall_seconds"] = time.perf_counter() - t0
    return record


def ptlasso_record(
    records: list[dict], n_target: int, index: int, mode: str, folds: int, seed: int, sources: str = "five"
) -> dict | None:
    """The stored ptlasso run of this cell and setting, if any."""
    key = {"n_target": n_target, "subsample": index, "mode": mode, "folds": folds, "seed": seed}
    return next((r for r in records if sources_of(r) == sources and all(r.get(k) == v for k, v in key.items())), None)


def ours(data, n_target: int, index: int, seed: int, names, fold_seeds=(0,), sources: str = "five") -> dict:
    """Test MSE, fit seconds and the choice (strategy, hyperparameters, ``sources_used_``) of every ``OURS``
    estimator named in ``names`` on one cell, its folds seeded by ``fold_seeds[0]``; ``TransLassoCV()``'s
    test MSE at every seed of ``fold_seeds``."""
    X, y = subsample(data, n_target, index, seed)
    sources = [(d.A, d.y) for d in study_sources(data, sources)]
    X_test, y_test = data.target_test.A, data.target_test.y
    out = {}
    for name in names:
        scores = []
        for r in fold_seeds if name == "TransLassoCV()" else fold_seeds[:1]:
            t0 = time.perf_counter()
            model = TransLassoCV(random_state=r, **OURS[name]).fit(X, y, sources=sources)
            seconds = time.perf_counter() - t0
            scores.append(float(np.mean((y_test - model.predict(X_test)) ** 2)))
            if len(scores) == 1:
                out[name] = {
                    "test_mse": scores[0],
                    "seconds": seconds,
                    "strategy": model.strategy_,
                    "sources_used": list(model.sources_used_),
                    "n_fits": model.n_fits_,
                    **model.hyperparameters_.as_dict(),
                }
        out[name]["fold_seeds"] = {str(r): e for r, e in zip(fold_seeds, scores)}
    return out


def paired_summary(cells: list[dict], name: str = "TransLassoCV()", sources: str = "five") -> dict:
    """Per n_t: mean of (ours - ptlasso own alpha) test MSE over the subsamples run with ``sources``, its SE,
    and total times."""
    summary = {}
    cells = [c for c in cells if sources_of(c) == sources]
    for n_t in sorted({c["n_target"] for c in cells}):
        rows = [c for c in cells if c["n_target"] == n_t and name in c["ours"]]
        if not rows:
            continue
        peer = np.array([c["ptlasso"]["test_mse_own_alpha"] for c in rows])
        diff = np.array([c["ours"][name]["test_mse"] for c in rows]) - peer
        seeds = [c["ours"][name].get("fold_seeds") or {"": c["ours"][name]["test_mse"]} for c in rows]
        averaged = np.array([np.mean(list(f.values())) for f in seeds]) - peer

        def se(x):
            return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")

        summary[n_t] = {
            "cells": len(rows),
            "mean_diff": float(diff.mean()),
            "se": se(diff),
            "fold_seeds": min(len(f) for f in seeds),
            "mean_diff_over_fold_seeds": float(averaged.mean()),
            "se_over_fold_seeds": se(averaged),
            "ours_seconds": float(sum(c["ours"][name]["seconds"] for c in rows)),
            "ptlasso_seconds": float(sum(c["ptlasso"]["fit_seconds"] for c in rows)),
        }
    return summary


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--venv", type=Path, help="venv with ptlasso installed (needed for cells not yet run)")
    ap.add_argument("--data", type=Path, default=DATA_DEFAULT)
    ap.add_argument("--n-targets", type=int, nargs="+", default=[100, 500])
    ap.add_argument("--subsamples", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--seed", type=int, default=0, help="subsample seed")
    ap.add_argument(
        "--sources", choices=SOURCE_SETS, default="five", help="the five clusters, or those and the shuffled one"
    )
    ap.add_argument("--ptlasso-only", action="store_true", help="run the missing ptlasso cells only, not our side")
    ap.add_argument("--mode", choices=("full", "target"), default="target")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--ptlasso-seed", type=int, default=0)
    ap.add_argument(
        "--fold-seeds",
        type=int,
        nargs="+",
        default=[0],
        help="random_state of TransLassoCV()'s folds (the first is reported)",
    )
    ap.add_argument("--reference", action="store_true", help='also fit TransLassoCV(strategy="full", tuning="cv")')
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_ptlasso"))
    ap.add_argument("--ptlasso-records", type=Path, default=ROOT / "benchmarks" / "bench_ptlasso_runs.json")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "bench_ptlasso.json")
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = load_study(str(args.data.resolve()))
    stored = json.loads(args.ptlasso_records.read_text()) if args.ptlasso_records.exists() else []
    names = list(OURS) if args.reference else ["TransLassoCV()"]
    cells = json.loads(args.out.read_text()) if args.out.exists() else []
    for n_t in args.n_targets:
        for s in args.subsamples:
            peer = ptlasso_record(stored, n_t, s, args.mode, args.folds, args.ptlasso_seed, args.sources)
            if peer is None:
                if args.venv is None:
                    raise SystemExit(f"no stored ptlasso run for n_t={n_t}, subsample {s}: pass --venv")
                stem = f"{args.sources}_{n_t}_{s}"
                cell = export_cell(data, n_t, s, args.seed, args.workdir / f"cell_{stem}.npz", args.sources)
                out = args.workdir / f"ptlasso_{stem}_{args.mode}_f{args.folds}.json"
                opts = {"mode": args.mode, "folds": args.folds, "seed": args.ptlasso_seed}
                peer = {"n_target": n_t, "subsample": s, "sources": args.sources} | run_ptlasso(
                    args.venv, cell, out, **opts
                )
                stored.append(peer)
                args.ptlasso_records.write_text(json.dumps(stored, indent=1))
                print(n_t, s, args.sources, "ptlasso own alpha", round(peer["test_mse_own_alpha"], 4), flush=True)
            if args.ptlasso_only:
                continue
            key = (n_t, s, args.sources)
            cells = [c for c in cells if (c["n_target"], c["subsample"], sources_of(c)) != key]
            cells.append(
                {
                    "n_target": n_t,
                    "subsample": s,
                    "sources": args.sources,
                    "ours": ours(data, n_t, s, args.seed, names, tuple(args.fold_seeds), args.sources),
                    "ptlasso": peer,
                }
            )
            args.out.write_text(json.dumps(cells, indent=1))
            mine = {k: round(v["test_mse"], 4) for k, v in cells[-1]["ours"].items()}
            print(n_t, s, mine, "ptlasso own alpha", round(peer["test_mse_own_alpha"], 4), flush=True)
    for name in [] if args.ptlasso_only else names:
        print(name, json.dumps(paired_summary(cells, name, args.sources), indent=1))


if __name__ == "__main__":
    main()
