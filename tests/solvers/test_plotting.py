"""plot_cv draws a fitted TransLassoCV: it returns its axes, and the marked point is the chosen one."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from solvers import TransLassoCV, plot_cv  # noqa: E402
from solvers.simulation.sources import SourceSpec, draw_sources  # noqa: E402


@pytest.fixture(scope="module")
def model():
    specs = [SourceSpec("identical", 300, 0.5), SourceSpec("unrelated", 300, -0.5)]
    p = draw_sources(specs, n_features=100, n_target=60, n_nonzero=5, rng=np.random.default_rng(0))
    return TransLassoCV(strategy="value", random_state=0).fit(*p.target, sources=p.sources)


def test_plot_cv_marks_the_chosen_point_and_the_target_alone(model):
    ax = plot_cv(model)
    assert ax.get_xscale() == "log" and ax.get_title().startswith("chosen: value")
    star = next(line for line in ax.lines if line.get_label() == "chosen")
    res = model.cv_results_
    assert star.get_xdata()[0] == res["param_lam2"][model.best_index_]
    assert star.get_ydata()[0] == res["mean_test_mse"][model.best_index_]
    labels = [line.get_label() for line in ax.lines]
    alone = min(m for m, s in zip(res["mean_test_mse"], res["sources"]) if s == ())
    assert "target alone (best)" in labels and any(np.allclose(line.get_ydata(), alone) for line in ax.lines)
    assert any(label.startswith("κ = ") for label in labels) and "theory (same κ)" in labels
    panels = ax.figure.axes
    assert len(panels) == 2 and panels[1].get_xlabel().startswith("source")


def test_plot_cv_on_given_axes_without_the_sources_panel(model):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    assert plot_cv(model, ax=ax) is ax and len(fig.axes) == 1


def test_plot_cv_refuses_a_model_without_cv():
    p = draw_sources(
        [SourceSpec("identical", 300)], n_features=60, n_target=40, n_nonzero=4, rng=np.random.default_rng(1)
    )
    model = TransLassoCV(strategy="value", tuning="theory").fit(*p.target, sources=p.sources)
    with pytest.raises(ValueError, match="tuning='theory'"):
        plot_cv(model)
