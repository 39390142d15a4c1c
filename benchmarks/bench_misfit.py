"""When does ``TransLassoCV`` say that the theory does not fit? (issue 19, acceptance 5)

For each case and seed: the theory's predicted CV error of the chosen transfer point, the measured one,
their factor, the gap in standard errors of the measured one (``theory_check_``) and whether the
``UserWarning`` fired (:func:`solvers.translasso_cv.misfit`: factor > ``MISFIT_FACTOR``, or factor >
``MISFIT_SIGNIFICANT_FACTOR`` with the gap beyond ``MISFIT_SE`` standard errors):

* i.i.d. data that follow the model: ``Setting.similarity(0.5, 2, 0.3, 0.3, 0.1, 0.9)``, N = 1000, and
  ``Setting.similarity(0.25, 1, 0.3, 0.3, 0.2, 0.5)``, N = 600 (150 target rows: a noisier CV);
* the issue's new-user case (:mod:`benchmarks.bench_sources`, "new user": a related source with its own
  intercept and two added coefficients, and an unrelated source), with ``sources="auto"`` and ``"all"``;
* the issue's second new-user case: the related source alone, its noise sd 5 (the target's is 1);
* a target whose coefficients are ten times its source's (a scale the model estimates from the target's power).

Run ``python benchmarks/bench_misfit.py [--seeds 0 1 2 3 4 5 6 7]``; writes ``benchmarks/bench_misfit.md``.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import io  # noqa: E402
from replica import Setting  # noqa: E402
from solvers import TransLassoCV, draw_problem  # noqa: E402
from solvers.simulation.sources import SourceSpec, draw_sources  # noqa: E402
from solvers.translasso_cv import MISFIT_FACTOR, MISFIT_SE, MISFIT_SIGNIFICANT_FACTOR  # noqa: E402

HERE = Path(__file__).resolve().parent


def iid(seed, alphas=(0.5, 2.0), rho=0.1, shared=0.9, N=1000):
    setting = Setting.similarity(*alphas, 0.3, 0.3, rho, shared)
    (A, y), S = draw_problem(setting, N, np.random.default_rng(seed)).data
    return A, y, [S], {}


def iid_small(seed):
    return iid(seed, (0.25, 1.0), 0.2, 0.5, 600)


def new_user(mode):
    def make(seed):
        p = draw_sources(
            [SourceSpec("related", 2000, -0.5, added=2), SourceSpec("unrelated", 2000)], rng=np.random.default_rng(seed)
        )
        return *p.target, p.sources, {"sources": mode}

    return make


def noisy_related(seed):
    rng = np.random.default_rng(seed)
    p = draw_sources([SourceSpec("related", 2000, -0.5, added=2)], rng=rng)
    X, y = p.sources[0]
    return *p.target, [(X, y + np.sqrt(24.0) * rng.standard_normal(y.size))], {}  # noise sd 1 → 5


def scaled_target(seed, b=10.0, N=400):
    rng = np.random.default_rng(seed)
    r = np.where(rng.random(N) < 0.1, rng.standard_normal(N), 0.0)
    A, As = rng.standard_normal((N // 2, N)) / np.sqrt(N), rng.standard_normal((2 * N, N)) / np.sqrt(N)
    return A, A @ (b * r) + 0.3 * rng.standard_normal(N // 2), [(As, As @ r + 0.3 * rng.standard_normal(2 * N))], {}


CASES = {
    "i.i.d., follows the model (N = 1000)": iid,
    "i.i.d., follows the model (N = 600, α_t = 0.25)": iid_small,
    "new user, sources='auto'": new_user("auto"),
    "new user, sources='all'": new_user("all"),
    "related source, noise sd 5": noisy_related,
    "target = 10 × source": scaled_target,
}

NOTES = "Run on commit"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(8)))
    args = parser.parse_args(argv)
    lines = [
        "# When the theory does not fit: `theory_check_` and the warning",
        "",
        f"`python benchmarks/bench_misfit.py`; seeds {', '.join(map(str, args.seeds))}; warning above a factor "
        f"{MISFIT_FACTOR}, or above {MISFIT_SIGNIFICANT_FACTOR} with the gap beyond {MISFIT_SE:g} SE of the measured "
        "CV error. Each cell: predicted / measured CV error (factor, gap in SE), ⚠ where the warning fired.",
        "",
        "| case | " + " | ".join(f"seed {s}" for s in args.seeds) + " | warned |",
        "|---|" + "---|" * (len(args.seeds) + 1),
    ]
    for name, make in CASES.items():
        cells, fired = [], 0
        for seed in args.seeds:
            X, y, sources, kw = make(seed)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model = TransLassoCV(random_state=seed, **kw).fit(X, y, sources=sources)
            warned = any("off by a factor" in str(w.message) for w in caught)
            fired += warned
            c = model.theory_check_
            cells.append(
                "–"
                if c is None
                else f"{c['predicted_cv_mse']:.3g} / {c['cv_mse']:.3g} ({c['factor']:.2f}, {c['z']:+.1f}){' ⚠' if warned else ''}"
            )
            print(name, seed, cells[-1], flush=True)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {fired}/{len(args.seeds)} |")
    text = "\n".join(lines) + "\n"
    io.write_keeping_notes(HERE / "bench_misfit.md", text, NOTES)  # the hand-written reading below the table
    print(text)


if __name__ == "__main__":
    main()
