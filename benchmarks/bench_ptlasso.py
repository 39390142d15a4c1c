"""Benchmark: ptlasso's ``PretrainedLassoCV`` against our CV-tuned transfer on the IMDb study.

Issue 13, acceptance item 4. The cells are those of ``experiments.imdb`` (2,000 words, horror
target, five source pseudo-genres as groups; subsample ``s`` of ``n_t`` target reviews drawn
by :func:`experiments.imdb.subsample`); the score is the MSE on the fixed held-out horror test
set (5,903 reviews).

* ptlasso pins numpy < 2, so it runs in its own venv (``--venv``, see ``bench_ptlasso.md``)
  through :mod:`benchmarks.ptlasso_runner` in a subprocess; each cell is exported to .npz first.
* our side runs in-process through :func:`ours`, which takes an *estimator factory*
  ``make(pretrainer, grid_ratios) -> fit(A, y) -> coef`` so that ``solvers.TransLassoCV`` can be
  plugged in once it exists on main (:func:`translassocv_factory` does so when importable).
  Until then the default is the study's CV engine (:mod:`experiments.transfer_cv`): the
  ``full`` strategy selected by 5-fold target CV, and the best of the 7 CV-tuned strategies
  by test MSE (the "best CV-tuned strategy" of the issue's table, an oracle choice).

Run: ``python benchmarks/bench_ptlasso.py --venv /work/venvs/ptlasso [--n-targets 100 500]
[--subsamples 0] [--mode target] [--folds 5]``. Writes ``benchmarks/bench_ptlasso.json``
(raw records; the .md is written by hand from it).
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
sys.path.insert(0, str(ROOT / "benchmarks"))

from experiments.transfer_cv import STRATEGIES, Grid, cross_validate, mse, refit  # noqa: E402

from experiments.imdb import DATA_DEFAULT, FULL, load_study, subsample  # noqa: E402

RUNNER = Path(__file__).resolve().parent / "ptlasso_runner.py"


def export_cell(data, n_target: int, index: int, seed: int, path: Path) -> Path:
    """Write one cell for the ptlasso runner: target rows (group 0) stacked over the sources (1..5).

    Responses are in the loader's units (each dataset centred by its own training mean); ptlasso
    fits an intercept per group, so those constants do not change its fit. ``y_test`` is in the
    same units as the target training response, so the test MSE is comparable to ours.
    """
    A, y_centred, shift = subsample(data, n_target, index, seed)
    blocks = [A] + [d.A for d in data.sources]
    X = sparse.vstack(blocks, format="csr")
    y = np.concatenate([y_centred + shift] + [d.y for d in data.sources])
    groups = np.concatenate([np.full(b.shape[0], k) for k, b in enumerate(blocks)])
    Xt = sparse.csr_matrix(data.target_test.A)
    arrays = {"y": y, "groups": groups, "y_test": data.target_test.y}
    for name, M in (("X", X), ("X_test", Xt)):
        arrays |= {f"{name}_data": M.data, f"{name}_indices": M.indices, f"{name}_indptr": M.indptr}
        arrays[f"{name}_shape"] = np.array(M.shape)
    np.savez(path, **arrays)
    return path


def run_ptlasso(venv: Path, cell: Path, out: Path, *, nice: int = 10, **options) -> dict:
    """Fit ptlasso on an exported cell in its venv; returns the runner's JSON record."""
    cmd = ["nice", "-n", str(nice), str(venv / "bin" / "python"), str(RUNNER), str(cell), str(out)]
    for key, value in options.items():
        cmd += [f"--{key.replace('_', '-')}", str(value)]
    env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
    record = json.loads(out.read_text())
    record["wall_seconds"] = time.perf_counter() - t0
    return record


def engine_factory(data, pretrainer):
    """Our best existing CV-tuned engine: 5-fold target CV of all 7 strategies on the study grid.

    Returns fit(A, y) -> {strategy: coef}; ``full`` is the CV choice over everything.
    """

    def fit(A, y):
        ratios = (FULL["lam1_ratios"], FULL["lam2_ratios"])
        grid = Grid.relative(pretrainer.lam_max, float(np.max(np.abs(A.T @ y))), *ratios)
        pretrainer.sources_only(grid.lam1)
        cv = cross_validate((A, y), pretrainer, grid, folds=FULL["folds"], seed=0)
        return {s: refit((A, y), pretrainer, s, cv.best(s)[0]) for s in STRATEGIES}

    return fit


def intercept_recipe_factory(data, pretrainer):
    """The engine with intercepts (``benchmarks/ablate_ptlasso.py``, recipe ``b_intercept``)."""
    from ablate_ptlasso import RECIPES, run_recipe

    def fit(A, y):
        return {"intercepts": lambda A_test, y_test: run_recipe(RECIPES["b_intercept"], data, A, y, A_test, y_test)}

    return fit


def translassocv_factory(data, pretrainer):
    """``solvers.TransLassoCV()`` at its defaults, when it exists (issue 13); None otherwise."""
    try:
        from solvers import TransLassoCV
    except ImportError:
        return None
    sources = [(d.A, d.y) for d in data.sources]

    def fit(A, y):
        return {"TransLassoCV": TransLassoCV().fit(A, y, sources=sources)}

    return fit


FACTORIES = {"engine": engine_factory, "intercepts": intercept_recipe_factory, "translassocv": translassocv_factory}


def ours(factory, data, pretrainer, n_target: int, index: int, seed: int) -> dict | None:
    """Test MSE of one cell for every model the factory's fit returns.

    ``factory(data, pretrainer)`` returns ``fit(A, y) -> {name: model}`` (or None when not
    available), where a model is a coefficient vector, an estimator with ``predict``, or a
    callable ``(A_test, y_test) -> {"test_mse": ...}``.
    """
    fit = factory(data, pretrainer)
    if fit is None:
        return None
    A, y, shift = subsample(data, n_target, index, seed)
    A_test, y_test = data.target_test.A, data.target_test.y - shift
    t0 = time.perf_counter()
    models = fit(A, y)
    out = {}
    for name, model in models.items():
        if callable(model) and not hasattr(model, "predict"):
            out[name] = model(A_test, y_test)["test_mse"]
        elif hasattr(model, "predict"):
            out[name] = float(np.mean((y_test - model.predict(A_test)) ** 2))
        else:
            out[name] = float(mse(A_test, y_test, model))
    return {"seconds": time.perf_counter() - t0, "test_mse": out}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--venv", type=Path, required=True, help="venv with ptlasso installed")
    ap.add_argument("--data", type=Path, default=DATA_DEFAULT)
    ap.add_argument("--n-targets", type=int, nargs="+", default=[100, 500, 2000])
    ap.add_argument("--subsamples", type=int, nargs="+", default=[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mode", choices=("full", "target"), default="target")
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--ptlasso-seed", type=int, default=0)
    ap.add_argument("--ours", nargs="+", default=list(FACTORIES), choices=list(FACTORIES))
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench_ptlasso"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "bench_ptlasso.json")
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    data, pre = load_study(str(args.data.resolve()))
    records = json.loads(args.out.read_text()) if args.out.exists() else []
    for n_t in args.n_targets:
        for s in args.subsamples:
            cell = export_cell(data, n_t, s, args.seed, args.workdir / f"cell_{n_t}_{s}.npz")
            mine = {k: ours(FACTORIES[k], data, pre, n_t, s, args.seed) for k in args.ours}
            peer = run_ptlasso(
                args.venv,
                cell,
                args.workdir / f"ptlasso_{n_t}_{s}_{args.mode}.json",
                mode=args.mode,
                folds=args.folds,
                seed=args.ptlasso_seed,
            )
            rec = {"n_target": n_t, "subsample": s, "ours": mine, "ptlasso": peer}
            records.append(rec)
            args.out.write_text(json.dumps(records, indent=1))
            print(n_t, s, json.dumps(mine), {k: v for k, v in peer.items() if not k.startswith("cv_")}, flush=True)


if __name__ == "__main__":
    main()
