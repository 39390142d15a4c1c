"""Write docs/tutorial.ipynb (without outputs) from the cells below: ``python docs/make_tutorial.py``.

The notebook is generated, not edited by hand, so that its source is reviewable Python and
ruff-formatted; ``docs/run_notebook.py`` checks that the committed notebook matches this file
and executes it.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

NOTEBOOK = Path(__file__).with_name("tutorial.ipynb")

CELLS = [
    (
        "markdown",
        """# Two-stage ℓ1 transfer learning: a tutorial

This notebook walks through the toolkit on one two-task setting:

1. **predict** the large-N errors of the generalized Trans-Lasso from replica theory (`replica.predict`);
2. **optimize** the hyperparameters of a transfer strategy (`replica.optimize`);
3. **simulate** the estimator at finite size (`solvers.simulate`);
4. **compare** simulation with theory, with a stated statistical tolerance;
5. **tune on your own data**, with one source or several of unequal relevance, and look at the choice
   (`solvers.TransLassoCV`, `solvers.plot_cv`).

Notation follows [THEORY.md](THEORY.md): λ1, λ2, κ, Δλ are `lam1, lam2, kappa, delta_lam`.
Sizes are kept small so that the notebook runs in well under a minute.""",
    ),
    (
        "markdown",
        """## 1. Predict

A `Setting` is the data model (THEORY.md §1): sample ratios α = M/N of the target and the
source, noise levels σ, and the prior of the true vectors. In the two-task prior a fraction
ρ_s of the features is shared by both tasks (same values), ρ_t is target-only and ρ_u
source-only. Here the noise levels and densities are those of the paper's figures
(`PAPER_PRIOR`), the target has few samples (α_t = 0.3) and the source many (α_s = 2).""",
    ),
    (
        "code",
        """from replica import PAPER_PRIOR, Hyperparameters, Setting, optimize, predict
from solvers import TransLasso, draw_problem, simulate

print(dict(PAPER_PRIOR))
setting = Setting.two_task(alpha_target=0.3, alpha_source=2.0, **PAPER_PRIOR)
hyper = Hyperparameters(lam1=1.0, lam2=0.05, kappa=1.0, delta_lam=0.1)
p = predict(setting, hyper)
print(f"pretrained x1: eps1 = {p.eps1:.4f}, support {p.support1:.3f}")
print(f"fine-tuned:    eps2 = {p.eps2:.4f}, support {p.support2:.3f}")""",
    ),
    (
        "markdown",
        """## 2. Optimize

`optimize` minimizes ε^(2nd) over a strategy's hyperparameters: `full` (λ1, λ2, κ, Δλ
free), `value` (Δλ = 0: transfer the values only), `support` (κ = 0: transfer the support
only), the fixed couplings `trans_lasso` and `pretraining_lasso`, and the `target_only`
Lasso. With little target data, transferring the values matters most.""",
    ),
    (
        "code",
        """optima = {name: optimize(setting, name) for name in ("full", "value", "support", "target_only")}
for name, opt in optima.items():
    h = opt.hyperparameters
    print(
        f"{name:12s} eps2 = {opt.eps2:.4f}   lam1 = {h.lam1:.3g}, lam2 = {h.lam2:.3g}, "
        f"kappa = {h.kappa:.3g}, delta_lam = {h.delta_lam:.3g}"
    )
best = optima["full"]""",
    ),
    (
        "markdown",
        """## 3. Simulate

`simulate` draws data from the same setting at N features (one numpy Generator per seed),
fits both stages exactly (every fit certifies its duality gap) and returns one record per
seed. We simulate the optimal `full` hyperparameters at N = 400 with 8 seeds.""",
    ),
    (
        "code",
        """N, SEEDS = 400, range(8)
records = simulate(setting, best.hyperparameters, n_features=N, seeds=SEEDS)
print(sorted(records[0]))
print("largest relative duality gap:", max(max(r["gap1"], r["gap2"]) for r in records))""",
    ),
    (
        "markdown",
        """## 4. Compare simulation with theory

The simulation mean differs from the N → ∞ prediction by seed noise (standard error SE =
std / √seeds) plus an O(1/N) finite-size bias. The z-score (mean − theory) / SE should be
of order 1; the test suite (`tests/solvers/test_theory.py`) uses |z| ≤ 4 plus a measured
finite-size allowance.""",
    ),
    (
        "code",
        """from solvers import compare

comparison = compare(records, best.prediction)
print(comparison)
print("largest |z|:", round(comparison.max_abs_z, 2))""",
    ),
    (
        "markdown",
        """## 5. Fit the estimator on data

`TransLasso` is a scikit-learn estimator: `fit(X_target, y_target, sources=[(X_source, y_source)])`
with dense or sparse designs. Here the data are one draw from the setting, and the
hyperparameters are the theory's optimum.""",
    ),
    (
        "code",
        """import numpy as np

prob = draw_problem(setting, 400, np.random.default_rng(0))
(X_target, y_target), source = prob.target, prob.data[1]
est = TransLasso(**best.hyperparameters.as_dict(), fit_intercept=False, standardize=False)  # the theory's own units
est.fit(X_target, y_target, sources=[source])
r1 = prob.truth[0]
print("eps2 of this fit:", setting.sigmas[0] ** 2 + np.mean((r1 - est.coef_) ** 2))
print("theory:          ", best.eps2)""",
    ),
    (
        "markdown",
        """## 6. Tune on your own data

With real data the setting is unknown. `TransLassoCV` estimates it from the data
(`solvers.estimate_setting`), lets the theory say what to transfer (`strategy="auto"`: no
transfer, values, support, or both, whichever is within 2% of the best predicted error), and
cross-validates that one family around the theory's optimum. It takes data in your own units
(any column scale; per-dataset intercepts by default) and refits on all the data.""",
    ),
    (
        "code",
        """from solvers import TransLassoCV

model = TransLassoCV(random_state=0).fit(X_target, y_target, sources=[source])
print("strategy chosen:", model.strategy_)
print("hyperparameters:", model.hyperparameters_)
print("theory's optimal test MSE per strategy:", {k: round(v, 4) for k, v in model.predicted_errors_.items() if v})
# fresh target rows from the same truth r1: the test error, noise included
rng = np.random.default_rng(1)
X_test = rng.standard_normal((2000, r1.size)) / np.sqrt(r1.size)
y_test = X_test @ r1 + setting.sigmas[0] * rng.standard_normal(2000)
print("test MSE:", round(float(np.mean((model.predict(X_test) - y_test) ** 2)), 4))
print("predicted:", round(model.predicted_error_, 4))""",
    ),
    (
        "markdown",
        """Before trusting a choice, look at it: `plot_cv` draws the CV error against λ2 for each κ rung (with
its standard-error band), the theory's curve at the same κ, the best the target alone reaches (the
guard, cross-validated on the same folds) and the chosen point.""",
    ),
    (
        "code",
        """import matplotlib

matplotlib.use("Agg")  # inline in Jupyter; Agg keeps the executed notebook headless
from solvers import plot_cv

ax = plot_cv(model)
print(ax.get_title())""",
    ),
    (
        "markdown",
        """## 7. Several sources of unequal relevance

Real sources are rarely all relevant. Here the target has two sources: one related (a fifth of its
coefficients redrawn, its own intercept) and one unrelated. `TransLassoCV` estimates each source against
the target (`source_scores_`), lets the theory rank them and choose a set, confirms by CV, and keeps the
target alone if transfer does not beat it (THEORY.md §8). Pooling both, as `sources="all"` does, lets the
unrelated source dilute the related one.""",
    ),
    (
        "code",
        """from solvers.simulation.sources import SourceSpec, draw_sources

mixed = draw_sources(
    [SourceSpec("related", 1000, intercept=-0.5), SourceSpec("unrelated", 1000)],
    n_features=200, n_target=80, n_nonzero=10, rng=np.random.default_rng(2),
)
truth = mixed.truths[0]


def test_mse(m):  # fresh rows with N(0, 1) features: noise 1, the coefficients' and intercept's errors
    return 1.0 + float(np.sum((truth - m.coef_) ** 2)) + (1.0 - m.intercept_) ** 2


auto = TransLassoCV(random_state=0).fit(*mixed.target, sources=mixed.sources)
pooled = TransLassoCV(sources="all", random_state=0).fit(*mixed.target, sources=mixed.sources)
print("sources used:", auto.sources_used_, "| strategy:", auto.strategy_)
print({k: np.round(v, 2).tolist() for k, v in auto.source_scores_.items()})
print("test MSE, chosen sources:", round(test_mse(auto), 3), "| all pooled:", round(test_mse(pooled), 3))
ax = plot_cv(auto)  # with a second panel: each source's similarity, support overlap and predicted gain""",
    ),
]


def build() -> nbformat.NotebookNode:
    """The tutorial as a notebook object, without outputs."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    make = {"markdown": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    # fixed cell ids keep the generated file identical from run to run
    nb.cells = [make[kind](source, id=f"cell-{i:02d}") for i, (kind, source) in enumerate(CELLS)]
    return nb


def render() -> str:
    """The notebook's file contents."""
    return nbformat.writes(build()) + "\n"


if __name__ == "__main__":
    NOTEBOOK.write_text(render())
    print(f"wrote {NOTEBOOK}")
