"""Benchmark weighted-Lasso backends at the exactness the solvers require (relative gap ≤ 1e-8).

Two regimes, every time paired with the relative gap (solvers.backend.duality_gap) it reached:

* dense Gaussian designs: one draw of the two-task setting (α_t = 0.5, α_s = 2, ρ_s = 0.1,
  ρ_t = ρ_u = 0.05, σ = 0.3), N ∈ {500, 2000, 8000}; stage 1 = Lasso on target+source
  (M = 2.5 N, λ1 = 0.5), stage 2 = weighted Lasso on the target (M = 0.5 N, λ2 = 0.1,
  Δλ = 0.5 off supp x1, κ = 1);
* sparse designs: IMDb (``imdb_transfer(..., n_words, target="comedy")``, n_t = 1000 target
  reviews, stage 1 pooled over the ~20,600 source reviews and the target, λ1 = 4.88, stage 2
  λ2 = 2.44, Δλ = 2, κ = 1) at 2,000 and 20,000 words, and a synthetic text-like design of the
  same shape and density (Zipf column frequencies, log-count values, the same column scaling).

Backends: "today" is solvers/backend.py at commit c54ffe6 (loaded with ``git show``), "auto" the
current default, "sklearn"/"skglm" the current code forced onto one inner solver; raw skglm and
scikit-learn estimators are run at tolerances 1e-4, 1e-6, … until the gap meets 1e-8 and the
time of that first sufficient fit is reported (a user would choose that tolerance in advance).
On IMDb the script also times one ``TransLasso.fit`` against skglm's two stages (``Lasso``, then
``WeightedLasso`` on the target residual) and prints the ratio, and it measures skglm's numba
compilation (first call vs warm) in fresh processes. One process, one BLAS thread; "today" and
"auto" are the best of ``--repeats`` interleaved runs, the other backends single runs.

    python benchmarks/bench_backends.py [--sizes 500 2000 8000] [--words 2000 20000]
        [--data DIR] [--cache /tmp/bench_backends] [--out benchmarks/bench_backends.md]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from experiments.cli import SHARED_DATA  # noqa: E402
from replica import Hyperparameters, Setting  # noqa: E402
from solvers import TransLasso, draw_problem, duality_gap, solve_weighted_lasso  # noqa: E402
from solvers.problem import finetune_inputs  # noqa: E402

GAP = 1e-8
TOLS = (1e-4, 1e-6, 1e-8, 1e-10, 1e-12, 1e-14)
BASELINE_REV = "c54ffe6"
IMDB_HYPER = Hyperparameters(lam1=4.88, lam2=2.44, kappa=1.0, delta_lam=2.0)
N_TARGET = 1000


def today_backend(rev=BASELINE_REV):
    """solvers/backend.py as of ``rev`` (the backend before this benchmark's choice), or None."""
    try:
        src = subprocess.run(
            ["git", "show", f"{rev}:solvers/backend.py"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "today_backend.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("today_backend", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# --- backends: fit(A, y, w, tol) -> coef; "certified" ones are called once at tol = GAP -------------


def _own(backend):
    def fit(A, y, w, tol):
        return solve_weighted_lasso(A, y, w, tol=tol, backend=backend).coef

    return fit


def _today(module):
    def fit(A, y, w, tol):
        return module.solve_weighted_lasso(A, y, w, tol=tol).coef

    return fit


def _sklearn(A, y, w, tol):
    fit = Lasso(alpha=1.0 / A.shape[0], fit_intercept=False, tol=tol, max_iter=1_000_000).fit(A / w, y)
    return fit.coef_ / w


def _skglm(A, y, w, tol):
    import skglm

    keep = np.isfinite(w)
    coef = np.zeros(w.size)
    fit = skglm.WeightedLasso(alpha=1.0 / A.shape[0], weights=w[keep], fit_intercept=False, tol=tol)
    coef[keep] = fit.fit(A[:, keep] if not keep.all() else A, y).coef_
    return coef


def backends(today, dense):
    out = {}
    if today is not None:
        out[f"today ({BASELINE_REV})"] = (_today(today), True)
    out["auto (chosen)"] = (_own("auto"), True)
    out["solvers.backend sklearn"] = (_own("sklearn"), True)
    out["solvers.backend skglm"] = (_own("skglm"), True)
    out["skglm WeightedLasso"] = (_skglm, False)
    if dense:
        out["sklearn Lasso (rescaled columns)"] = (_sklearn, False)
    return out


def time_backend(fit, certified, A, y, w):
    """(seconds, tol used, relative gap) of the first tolerance whose fit meets GAP."""
    for tol in (GAP,) if certified else TOLS:
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            coef = fit(A, y, w, tol)
        seconds = time.perf_counter() - t0
        rel = duality_gap(A, y, w, coef)[3]
        if rel <= GAP:
            return seconds, tol, rel
    return np.nan, np.nan, rel


def best_of(fits, problems, repeats, compared=("today", "auto")):
    """{(problem, backend): (best seconds, tol, gap)}: backends named in ``compared`` are run
    ``repeats`` times interleaved, the others (for information) once."""
    out = {}
    for k in range(repeats):
        for pname, (A, y, w) in problems.items():
            for name, (fit, certified) in fits.items():
                if k and not name.startswith(compared):
                    continue
                t, tol, rel = time_backend(fit, certified, A, y, w)
                old = out.get((pname, name))
                if old is None or not t >= old[0]:
                    out[pname, name] = (t, tol, rel)
                print(f"{pname} | {name}: {t:.3f} s (tol {tol:g}, gap {rel:.1e})", flush=True)
    return out


# --- problems -----------------------------------------------------------------------------------


def two_stage(A_t, y_t, A_pre, y_pre, hyper):
    """Stage-1 and stage-2 problems (A, y, w), stage 2 on the certified stage-1 solution."""
    N = A_t.shape[1]
    w1 = np.full(N, hyper.lam1)
    x1 = solve_weighted_lasso(A_pre, y_pre, w1, tol=1e-10).coef
    y_res, w2 = finetune_inputs(y_t, np.asarray(A_t @ x1).ravel(), x1, hyper.kappa, hyper.lam2, hyper.delta_lam)
    return {"stage 1": (A_pre, y_pre, w1), "stage 2": (A_t, y_res, w2)}


def dense_problems(n):
    setting = Setting.two_task(0.5, 2.0, 0.3, 0.3, 0.1, 0.05, 0.05)
    hyper = Hyperparameters(lam1=0.5, lam2=0.1, kappa=1.0, delta_lam=0.5)
    (A1, y1), (A2, y2) = draw_problem(setting, n, np.random.default_rng(n)).data
    return two_stage(A1, y1, np.vstack([A1, A2]), np.concatenate([y1, y2]), hyper)


def imdb_arrays(data_dir, n_words, cache):
    """Target subsample (A_t, y_t) and stacked sources (A_s, y_s), cached as .npz under ``cache``."""
    files = [Path(cache) / f"imdb{n_words}_{k}.npz" for k in ("At", "As", "y")]
    if not all(f.is_file() for f in files):
        from experiments.imdb import subsample
        from solvers.datasets import imdb_transfer, load_imdb

        Path(cache).mkdir(parents=True, exist_ok=True)
        data = imdb_transfer(load_imdb(Path(data_dir) / "aclImdb_labeled.tar.gz"), n_words=n_words, target="comedy")
        A_t, y_t, _ = subsample(data, N_TARGET, 0, 0)
        sparse.save_npz(files[0], sparse.csr_matrix(A_t))
        sparse.save_npz(files[1], sparse.vstack([d.A for d in data.sources], format="csr"))
        np.savez(files[2], yt=y_t, ys=np.concatenate([d.y for d in data.sources]))
    ys = np.load(files[2])
    return sparse.load_npz(files[0]).tocsc(), ys["yt"], sparse.load_npz(files[1]).tocsc(), ys["ys"]


def synthetic_sparse(M, N, density, seed=0):
    """Text-like design: Zipf column frequencies, log1p of geometric counts, columns scaled as
    solvers.datasets.imdb_features.scale_columns does (mean square 1/N); a sparse signal and noise
    scaled so that λ1 = 4.88 is about as far below λ_max as on IMDb."""
    rng = np.random.default_rng(seed)
    freq = 1.0 / np.arange(10, N + 10) ** 0.9
    freq *= density * N / freq.sum()
    freq = np.minimum(freq, 0.9)
    counts = rng.binomial(M, freq)
    rows = np.concatenate([rng.choice(M, c, replace=False) for c in counts])
    cols = np.repeat(np.arange(N), counts)
    vals = np.log1p(rng.geometric(0.6, rows.size).astype(float))
    A = sparse.csc_matrix((vals, (rows, cols)), shape=(M, N))
    ms = np.asarray(A.multiply(A).mean(axis=0)).ravel()
    A = (A @ sparse.diags(np.divide(1.0, np.sqrt(ms * N), out=np.zeros(N), where=ms > 0))).tocsc()
    r = rng.standard_normal(N) * 30.0 * (rng.random(N) < 0.02)
    y = np.asarray(A @ r).ravel() + 5.0 * rng.standard_normal(M)
    return A, y - y.mean()


def sparse_problems(kind, data_dir, cache):
    if kind.startswith("imdb"):
        A_t, y_t, A_s, y_s = imdb_arrays(data_dir, int(kind[4:]), cache)
    else:
        A, y = synthetic_sparse(21_591, 20_000, 0.0067)
        A_t, y_t, A_s, y_s = A[:N_TARGET], y[:N_TARGET], A[N_TARGET:], y[N_TARGET:]
    A_pre = sparse.vstack([A_t, A_s], format="csc")
    y_pre = np.concatenate([y_t, y_s])
    return (A_t, y_t, A_s, y_s), two_stage(A_t, y_t, A_pre, y_pre, IMDB_HYPER)


def threshold_sweep(repeats, scales=(8, 4, 2)):
    """Stage 1 on the synthetic design shrunk by ``scales`` (same density and aspect ratio): where
    the skglm path starts to beat the scikit-learn path (the ``auto`` threshold on stored entries)."""
    lines = [
        "## Where skglm starts to pay: synthetic stage 1 at 1/8, 1/4, 1/2 of the full size",
        "",
        "| M × N | stored entries | sklearn path (s) | skglm path (s) | skglm / sklearn |",
        "|---|---|---|---|---|",
    ]
    for scale in scales:
        A, y = synthetic_sparse(21_591 // scale, 20_000 // scale, 0.0067, seed=scale)
        w = np.full(A.shape[1], IMDB_HYPER.lam1)
        fits = {b: (_own(b), True) for b in ("sklearn", "skglm")}
        res = best_of(fits, {f"1/{scale}": (A, y, w)}, repeats, compared=("sklearn", "skglm"))
        t_sk, t_gl = res[f"1/{scale}", "sklearn"][0], res[f"1/{scale}", "skglm"][0]
        lines.append(f"| {A.shape[0]} × {A.shape[1]} | {A.nnz} | {t_sk:.3f} | {t_gl:.3f} | {t_gl / t_sk:.2f} |")
    return lines


# --- TransLasso.fit against skglm's two stages -------------------------------------------------


def skglm_two_stages(A_t, y_t, A_pre, y_pre, hyper):
    """skglm Lasso (stage 1) then WeightedLasso on the target residual (stage 2), each at the first
    tolerance of TOLS whose relative gap meets GAP: (seconds, gap 1, gap 2)."""
    import skglm

    N = A_t.shape[1]
    w1 = np.full(N, hyper.lam1)
    for tol in TOLS:
        t0 = time.perf_counter()
        x1 = skglm.Lasso(alpha=hyper.lam1 / A_pre.shape[0], fit_intercept=False, tol=tol).fit(A_pre, y_pre).coef_
        t1 = time.perf_counter() - t0
        g1 = duality_gap(A_pre, y_pre, w1, x1)[3]
        if g1 <= GAP:
            break
    y_res, w2 = finetune_inputs(y_t, np.asarray(A_t @ x1).ravel(), x1, hyper.kappa, hyper.lam2, hyper.delta_lam)
    t2, _, g2 = time_backend(_skglm, False, A_t, y_res, w2)
    return t1 + t2, g1, g2


def fit_vs_skglm(arrays, hyper, repeats):
    A_t, y_t, A_s, y_s = arrays
    A_pre = sparse.vstack([A_t, A_s], format="csc")
    y_pre = np.concatenate([y_t, y_s])
    best_fit, best_sk = (np.inf, None), (np.inf, None, None)
    for _ in range(repeats):
        t0 = time.perf_counter()
        est = TransLasso(
            hyper.lam1, hyper.lam2, hyper.kappa, hyper.delta_lam, fit_intercept=False, standardize=False
        ).fit(A_t, y_t, sources=[(A_s, y_s)])
        t = time.perf_counter() - t0
        best_fit = min(best_fit, (t, max(est.rel_gaps_)), key=lambda p: p[0])
        sk = skglm_two_stages(A_t, y_t, A_pre, y_pre, hyper)
        best_sk = min(best_sk, sk, key=lambda p: p[0])
        print(f"TransLasso.fit {t:.3f} s; skglm two stages {sk[0]:.3f} s", flush=True)
    return best_fit, best_sk


# --- numba compilation ------------------------------------------------------------------------

COMPILE_PROBE = """
import time, numpy as np
from scipy import sparse
from solvers import solve_weighted_lasso
rng = np.random.default_rng(0)
A = {design}
y = rng.standard_normal(200)
w = np.full(300, 0.5 * np.abs(A.T @ y).max())
out = []
for _ in range(2):
    t0, c0 = time.perf_counter(), time.process_time()
    solve_weighted_lasso(A, y, w, backend="{backend}")
    out += [time.perf_counter() - t0, time.process_time() - c0]
print(*out)
"""


def compile_times():
    """{(design, backend): (first call s, warm call s)} in fresh processes (no numba cache)."""
    designs = {
        "sparse": "sparse.random(200, 300, density=0.05, format='csc', random_state=0)",
        "dense": "rng.standard_normal((200, 300))",
    }
    out = {}
    for dname, design in designs.items():
        for backend in ("sklearn", "skglm"):
            code = COMPILE_PROBE.format(design=design, backend=backend)
            res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
            out[dname, backend] = tuple(map(float, res.stdout.split()))
            print(f"compile {dname} {backend}: {out[dname, backend]}", flush=True)
    return out


# --- report ---------------------------------------------------------------------------------------


def table(results, problems, fits, label):
    lines = [
        f"| {label} | stage | backend | time (s) | tol used | rel. gap | time / fastest |",
        "|---|---|---|---|---|---|---|",
    ]
    ratios = []
    for pname in problems:
        sub = {name: results[pname, name] for name in fits}
        fastest = np.nanmin([r[0] for r in sub.values()])
        for name, (t, tol, rel) in sub.items():
            prob, stage = pname.rsplit(" ", 2)[0], " ".join(pname.rsplit(" ", 2)[1:])
            lines.append(f"| {prob} | {stage} | {name} | {t:.3f} | {tol:g} | {rel:.1e} | {t / fastest:.2f} |")
        today = [n for n in sub if n.startswith("today")]
        if today:
            ratios.append((pname, sub["auto (chosen)"][0] / sub[today[0]][0]))
    return lines, ratios


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[500, 2000, 8000])
    parser.add_argument("--words", type=int, nargs="*", default=[2000, 20000])
    parser.add_argument("--synthetic", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--data", default=str(SHARED_DATA))
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "bench_backends"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "bench_backends.md"))
    args = parser.parse_args(argv)
    today = today_backend()
    out = ["# Weighted-Lasso backends at relative duality gap ≤ 1e-8", ""]
    with open("/proc/loadavg") as fh:
        load = fh.read().split()[0]
    out += [
        f"Generated by `python benchmarks/bench_backends.py` (one process, one BLAS thread; today and auto: "
        f"best of {args.repeats} interleaved runs, other backends: one run; 2-core machine shared with other jobs, load average {load} at start).",
        "",
    ]
    if args.compile:
        ct = compile_times()
        out += [
            "## numba compilation (fresh process, 200 × 300 design)",
            "",
            "| design | backend | first call: wall (s) | first call: CPU (s) | warm call: wall (s) |",
            "|---|---|---|---|---|",
        ]
        out += [f"| {d} | {b} | {t0:.3f} | {c0:.3f} | {t1:.4f} |" for (d, b), (t0, c0, t1, _) in ct.items()]
        out.append("")
    all_ratios = []
    with threadpool_limits(1):
        warm = dense_problems(200)["stage 2"]  # JIT warm-up (skglm, dense and sparse) outside the timings
        for fit, certified in backends(today, dense=True).values():
            time_backend(fit, certified, *warm)
            time_backend(fit, certified, sparse.csc_matrix(warm[0]), *warm[1:])
        if args.sizes:
            fits = backends(today, dense=True)
            probs = {}
            for n in args.sizes:
                probs.update({f"N={n} {k}": v for k, v in dense_problems(n).items()})
            res = best_of(fits, probs, args.repeats)
            lines, ratios = table(res, probs, fits, "dense design")
            all_ratios += ratios
            out += ["## Dense Gaussian designs", ""] + lines + [""]
        if args.synthetic:
            out += threshold_sweep(args.repeats) + [""]
        kinds = (["synthetic"] if args.synthetic else []) + [f"imdb{n}" for n in args.words]
        fit_rows = []
        for kind in kinds:
            arrays, stages = sparse_problems(kind, args.data, args.cache)
            A_pre_shape = (arrays[0].shape[0] + arrays[2].shape[0], arrays[0].shape[1])
            nnz = arrays[0].nnz + arrays[2].nnz
            name = f"{kind} ({A_pre_shape[0]}×{A_pre_shape[1]}, density {nnz / np.prod(A_pre_shape):.4f})"
            fits = backends(today, dense=False)
            probs = {f"{name} {k}": v for k, v in stages.items()}
            res = best_of(fits, probs, args.repeats)
            lines, ratios = table(res, probs, fits, "sparse design")
            all_ratios += ratios
            out += [f"## Sparse: {name}", ""] + lines + [""]
            if kind.startswith("imdb"):
                (tf, gf), (ts, g1, g2) = fit_vs_skglm(arrays, IMDB_HYPER, args.repeats)
                fit_rows.append(f"| {kind} | {tf:.3f} | {gf:.1e} | {ts:.3f} | {g1:.1e}, {g2:.1e} | **{tf / ts:.2f}** |")
                print(f"{kind}: TransLasso.fit / skglm two stages = {tf / ts:.2f}", flush=True)
    if fit_rows:
        out += [
            "## One `TransLasso.fit` (λ1 = 4.88, λ2 = 2.44, κ = 1, Δλ = 2) vs skglm's two stages",
            "",
            "| problem | fit (s) | max rel. gap | skglm Lasso + WeightedLasso (s) | rel. gaps | ratio |",
            "|---|---|---|---|---|---|",
            *fit_rows,
            "",
        ]
    if all_ratios:
        out += ["## auto (chosen) / today's backend", "", "| problem | ratio |", "|---|---|"]
        out += [f"| {p} | {r:.2f} |" for p, r in all_ratios]
        out.append("")
        for p, r in all_ratios:
            print(f"auto / today {p}: {r:.2f}")
    Path(args.out).write_text("\n".join(out))


if __name__ == "__main__":
    main()
