"""Acceptance check: TransLassoCV() at default settings on synthetic two-task data (N = 1000).

Target and one source from ``Setting.two_task`` priors where the theory's winner is clear (checked
here from the theory, :func:`clear_margin`). For each
prior: the "auto" rule on the TRUE setting (replica optima of target_only, value, support, full), then
over 4 seeds the test error of ``TransLassoCV()`` (expected over fresh Gaussian rows: σ² + ||r − x̂||²/N
+ intercept²) against the replica-predicted optimum of full and against scikit-learn's ``LassoCV`` on
the target alone. Writes ``benchmarks/bench_auto_synthetic.md``.

Run ``python benchmarks/bench_auto_synthetic.py [--seeds 4] [--n-features 1000]``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LassoCV

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from experiments import io  # noqa: E402
from replica import Setting  # noqa: E402
from solvers import TransLassoCV, draw_problem  # noqa: E402
from solvers.estimate import similarity  # noqa: E402
from solvers.tuning import AUTO_CHOICES, auto_strategy, theory_optima  # noqa: E402

PRIORS = {
    "values shared": Setting.two_task(0.5, 2.0, 0.3, 0.3, 0.08, 0.01, 0.01),
    "support favoured": Setting.two_task(0.5, 2.0, 0.2, 0.2, 0.06, 0.08, 0.08),
}
CLEAR = 0.03  # the winner's relative margin the acceptance asks for
TOLERANCE = 0.02  # TransLassoCV's default auto_tolerance


def clear_margin(eps: dict, tolerance: float = TOLERANCE) -> float:
    """By how much (relative) the "auto" rule's winner on optimal errors ``eps`` is clear.

    The smallest of: for each candidate the rule passes over before its winner (target_only, then the
    better one-knob strategy when full wins), its ε over the rule's bound (1 + tolerance) ε_full;
    and when a one-knob strategy wins, the other one's ε over the winner's.
    """
    rule = auto_strategy(eps, tolerance)
    one_knob = min(("value", "support"), key=lambda s: eps[s])
    order = ("target_only", one_knob, "full")
    margins = [eps[s] / ((1 + tolerance) * eps["full"]) - 1 for s in order[: order.index(rule)]]
    if rule in ("value", "support"):
        margins.append(eps["support" if rule == "value" else "value"] / eps[rule] - 1)
    return min(margins, default=float("inf"))


def test_error(coef, intercept, truth, sigma):
    return sigma**2 + float(np.mean((truth - coef) ** 2)) + intercept**2


NOTES = "Notes (written by hand"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--n-features", type=int, default=1000)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    lines = [
        "# TransLassoCV() on synthetic two-task data",
        "",
        f"N = {args.n_features}, {args.seeds} seeds, `python benchmarks/bench_auto_synthetic.py`. Test error ="
        " σ² + ||r − x̂||²/N + intercept² (expectation over fresh rows). Theory optimum: replica on the true setting.",
        f"A prior qualifies if the auto rule's winner on the true setting is clear by more than {CLEAR:.0%}: every"
        f" strategy the rule passes over has ε above the rule's bound (1 + {TOLERANCE}) ε_full by more than"
        f" {CLEAR:.0%}, and a one-knob winner beats the other one-knob strategy by more than {CLEAR:.0%}"
        " (`clear_margin`, checked by the script).",
        "",
        "| prior | auto on truth | margin | strategy_ per seed | matches | estimated s·c per seed | TransLassoCV (mean ± SE) | replica full optimum | ratio | LassoCV target-only | fit s (mean) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, setting in PRIORS.items():
        optima = theory_optima(setting, AUTO_CHOICES)
        eps = {k: r.eps2 for k, r in optima.items()}
        rule = auto_strategy(eps, TOLERANCE)
        margin = clear_margin(eps)
        if margin <= CLEAR:
            raise SystemExit(f"prior {name!r}: the rule's winner {rule} is clear by only {margin:.1%}")
        ours, lasso, picks, seconds, sims = [], [], [], [], []
        for seed in range(args.seeds):
            p = draw_problem(setting, args.n_features, np.random.default_rng(seed))
            (A, y), (As, ys) = p.data
            t0 = time.perf_counter()
            model = TransLassoCV(random_state=seed).fit(A, y, sources=[(As, ys)])
            seconds.append(time.perf_counter() - t0)
            picks.append(model.strategy_)
            sims.append(similarity(model.setting_))
            ours.append(test_error(model.coef_, model.intercept_, p.truth[0], setting.sigmas[0]))
            lcv = LassoCV(cv=5, random_state=seed).fit(A, y)
            lasso.append(test_error(lcv.coef_, lcv.intercept_, p.truth[0], setting.sigmas[0]))
            print(name, seed, picks[-1], ours[-1], lasso[-1], seconds[-1], flush=True)
        o, la = np.array(ours), np.array(lasso)
        se = o.std(ddof=1) / np.sqrt(len(o)) if len(o) > 1 else float("nan")
        lines.append(
            f"| {name} | {rule} (ε: " + ", ".join(f"{k} {v:.4f}" for k, v in eps.items()) + f") | {margin:.1%} |"
            f" {' '.join(picks)} | {sum(p == rule for p in picks)}/{len(picks)} | {' '.join(f'{x:.3f}' for x in sims)} |"
            f" {o.mean():.4f} ± {se:.4f} | {eps['full']:.4f} | {o.mean() / eps['full']:.3f} | {la.mean():.4f} |"
            f" {np.mean(seconds):.1f} |"
        )
    io.write_keeping_notes(Path(__file__).with_suffix(".md"), "\n".join(lines) + "\n", NOTES)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
