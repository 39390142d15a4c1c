"""Several sources of unequal relevance (issue 19, acceptance 1): ``TransLassoCV()`` given all sources against
the best choice of sources in hindsight.

Cases are declared below: a target and 2–5 sources of the kinds of :mod:`solvers.simulation.sources`
(identical, related, support-only, scaled ×2, unrelated, noisy ×10), each with its own intercept, at a
strong (nonzero sd 2) or weak (sd 0.5) signal, noise sd 1, 150 target rows, 400 features, 20 nonzeros.
"new user" is the case of the issue. For every case and seed:

* ours: ``TransLassoCV(random_state=seed)`` given all sources (``sources="auto"``);
* every non-empty subset of the sources: ``TransLassoCV(sources="all", random_state=seed)`` on it;
* scikit-learn's ``LassoCV()`` on the target alone.

The oracle is the best of the subsets and of target-only LassoCV, per seed, in hindsight. The test error
is exact: the designs have i.i.d. N(0, 1) entries, so a fresh target row's expected squared error is
σ² + ||r − coef||² + (b − intercept)².

Run ``python benchmarks/bench_sources.py [--seeds 0 1 2] [--cases ...] [--workers 2]``. Records are kept in
``benchmarks/bench_sources.json`` (one per case and seed, reused unless ``--force``); the summary table is
written to ``benchmarks/bench_sources.md`` between its ``<!-- table -->`` markers.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LassoCV
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments.io import write_json  # noqa: E402
from solvers import TransLassoCV  # noqa: E402
from solvers.simulation.sources import SourceSpec, draw_sources  # noqa: E402

HERE = Path(__file__).resolve().parent
RECORDS = HERE / "bench_sources.json"
REPORT = HERE / "bench_sources.md"
STRONG, WEAK = 2.0, 0.5


def _s(kind, intercept, **kw):
    return SourceSpec(kind, 2000, intercept, **kw)


CASES = {
    "new user": (STRONG, [_s("related", -0.5, added=2), _s("unrelated", 0.0)]),
    "identical + unrelated": (STRONG, [_s("identical", 0.3), _s("unrelated", -1.0)]),
    "related + noisy + unrelated": (STRONG, [_s("related", 0.5), _s("noisy", -0.2), _s("unrelated", 1.0)]),
    "scaled + identical (weak)": (WEAK, [_s("scaled", -0.7), _s("identical", 0.4)]),
    "support + unrelated (weak)": (WEAK, [_s("support", 0.2), _s("unrelated", -0.3)]),
    "related, support, noisy, unrelated (weak)": (
        WEAK,
        [_s("related", 0.1), _s("support", -0.6), _s("noisy", 0.8), _s("unrelated", 0.0)],
    ),
    "five, one of each but identical": (
        STRONG,
        [_s("related", -0.4), _s("support", 0.9), _s("scaled", 0.0), _s("noisy", -1.2), _s("unrelated", 0.6)],
    ),
    "noisy + noisy + related (weak)": (WEAK, [_s("noisy", 0.2), _s("noisy", -0.5), _s("related", 1.1)]),
    "new user (weak)": (WEAK, [_s("related", -0.5, added=2), _s("unrelated", 0.0)]),
    "identical, scaled, related, unrelated, unrelated (weak)": (
        WEAK,
        [_s("identical", 0.0), _s("scaled", 0.5), _s("related", -0.5), _s("unrelated", 1.0), _s("unrelated", -1.0)],
    ),
}


def test_error(model, truth, intercept, noise=1.0):
    """Expected squared error on a fresh target row with N(0, 1) features."""
    return noise**2 + float(np.sum((truth - model.coef_) ** 2)) + (intercept - model.intercept_) ** 2


def run(name: str, seed: int) -> dict:
    signal, specs = CASES[name]
    p = draw_sources(specs, signal=signal, rng=np.random.default_rng(seed))
    (X, y), truth = p.target, p.truths[0]
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        ours = TransLassoCV(random_state=seed).fit(X, y, sources=p.sources)
        seconds = time.perf_counter() - t0
        subsets = {}
        for r in range(1, len(specs) + 1):
            for subset in itertools.combinations(range(len(specs)), r):
                m = TransLassoCV(sources="all", random_state=seed).fit(X, y, sources=[p.sources[k] for k in subset])
                subsets[",".join(map(str, subset))] = test_error(m, truth, 1.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            lasso = test_error(LassoCV().fit(X, y), truth, 1.0)
    best_subset = min(subsets, key=subsets.get)
    return {
        "case": name,
        "seed": seed,
        "kinds": list(p.kinds),
        "ours": test_error(ours, truth, 1.0),
        "sources_used": list(ours.sources_used_),
        "strategy": ours.strategy_,
        "seconds": seconds,
        "theory_factor": None if ours.theory_check_ is None else ours.theory_check_["factor"],
        "subsets": subsets,
        "best_subset": best_subset,
        "lassocv": lasso,
        "oracle": min(min(subsets.values()), lasso),
    }


def summary(records: list[dict]) -> str:
    lines = [
        "| case | kinds | ours (mean) | oracle (mean) | ours / oracle | worst seed: ours / LassoCV | sources used per seed | best subset per seed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    ok_mean = ok_guard = 0
    cases = [c for c in CASES if any(r["case"] == c for r in records)]
    for case in cases:
        rs = sorted((r for r in records if r["case"] == case), key=lambda r: r["seed"])
        ours, oracle = np.mean([r["ours"] for r in rs]), np.mean([r["oracle"] for r in rs])
        worst = max(r["ours"] / r["lassocv"] for r in rs)
        ok_mean += ours <= 1.05 * oracle
        ok_guard += worst <= 1.05
        used = "; ".join("{" + ",".join(map(str, r["sources_used"])) + "}" for r in rs)
        best = "; ".join(
            (
                "LassoCV"
                if r["oracle"] == r["lassocv"] and r["lassocv"] < r["subsets"][r["best_subset"]]
                else "{" + r["best_subset"] + "}"
            )
            for r in rs
        )
        lines.append(
            f"| {case} | {', '.join(rs[0]['kinds'])} | {ours:.3f} | {oracle:.3f} | **{ours / oracle:.3f}** | "
            f"{worst:.3f} | {used} | {best} |"
        )
    lines.append("")
    lines.append(
        f"Mean ≤ 1.05 × oracle in **{ok_mean} of {len(cases)}** cases; no seed above 1.05 × LassoCV in "
        f"**{ok_guard} of {len(cases)}** cases ({len(records)} case-seeds)."
    )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES), metavar="CASE")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--force", action="store_true", help="rerun cells already in the records")
    args = parser.parse_args(argv)
    records = json.loads(RECORDS.read_text()) if RECORDS.exists() else []
    done = {(r["case"], r["seed"]) for r in records}
    todo = [(c, s) for c in args.cases for s in args.seeds if args.force or (c, s) not in done]
    with ProcessPoolExecutor(args.workers) as pool:
        for record in pool.map(run, *zip(*todo)) if todo else ():
            records = [r for r in records if (r["case"], r["seed"]) != (record["case"], record["seed"])] + [record]
            write_json(RECORDS, records)
            print(
                f"{record['case']}, seed {record['seed']}: ours {record['ours']:.3f}, oracle {record['oracle']:.3f}, "
                f"used {record['sources_used']}, {record['seconds']:.1f} s",
                flush=True,
            )
    table = summary(records)
    print(table)
    if REPORT.exists():
        text = REPORT.read_text()
        start, end = text.index("<!-- table -->") + len("<!-- table -->"), text.index("<!-- /table -->")
        REPORT.write_text(text[:start] + "\n" + table + "\n" + text[end:])


if __name__ == "__main__":
    main()
