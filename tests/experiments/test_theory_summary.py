"""experiments.theory_summary on small hand-made CSVs whose numbers are known."""

from __future__ import annotations

import json

import pytest

from experiments import io, theory_summary
from experiments.phase_diagram import winning_strategy
from experiments.strategies import PANELS

PANEL = "two-task, α_source = 1"


def _grid_rows():
    """2 rows (α_source) × 3 α_target; full = 1, so each ε is 1 + its excess."""
    rows = []
    for a_s, eps in (
        (1.0, [(1.05, 1.20), (1.01, 1.005), (1.30, 1.00)]),  # value, support per α_target
        (5.0, [(1.10, 1.50), (1.02, 1.02), (1.30, 1.001)]),
    ):  # the middle point is a tie
        for a_t, (value, support) in zip((0.1, 0.5, 2.0), eps):
            row = {
                "alpha_target": a_t,
                "alpha_source": a_s,
                "converged": True,
                "full_eps2": 1.0,
                "value_eps2": value,
                "support_eps2": support,
                "trans_lasso_eps2": 1.4,
                "pretraining_lasso_eps2": 1.0 + a_t / 10,
                "basin_fixed": "full" if a_t == 2.0 else "",
                "full_kappa": 1.0 + a_t,
                "full_delta_lam": 0.1,
            }
            rows.append(row | {"winner": winning_strategy(row)})
    return rows


@pytest.fixture
def figures(tmp_path):
    io.write_csv(tmp_path / "phase_diagram_sources.csv", _grid_rows())
    eps = {(0.0, 0.0): 2.0, (1.0, 0.0): 1.1, (0.0, 1.0): 1.5, (1.0, 1.0): 1.0}  # (κ, t) → ε; optimum at (1, 1)
    landscape = [
        {
            "alpha_target": 0.2,
            "alpha_source": 5.0,
            "kappa": k,
            "t": t,
            "converged": True,
            "eps2": e,
            "lam1": 0.5,
            "lam2": 0.1,
        }
        for (k, t), e in eps.items()
    ]
    io.write_csv(tmp_path / "landscape.csv", landscape)
    point = {**PANELS[PANEL], "alpha_target": 0.1}
    io.write_csv(
        tmp_path / "strategies.csv",
        [
            {
                "panel": PANEL,
                **point,
                "converged": True,
                "value_eps2": 1.0,
                "full_eps2": 0.9,
                "full_kappa": 1.2,
                "full_delta_lam": 0.1,
                "full_lam1": 0.3,
                "full_lam2": 0.05,
            }
        ],
    )
    io.write_csv(
        tmp_path / "strategies_simulation.csv",
        [
            {**point, "strategy": "value", "sim_eps2": 1.1, "sim_eps2_se": 0.04},  # z = +2.5
            {**point, "strategy": "full", "sim_eps2": 0.89, "sim_eps2_se": 0.01},
        ],
    )  # z = −1
    return tmp_path


def test_summary_of_constructed_csvs(figures, capsys):
    out = theory_summary.main(["--figures", str(figures), "--json", str(figures / "summary.json")])
    assert "phase_diagram_sources" in capsys.readouterr().out
    s = out["phase_diagram_sources"]
    k = s["one_knob"]
    assert k["max"] == pytest.approx(0.10) and k["at"] == {"alpha_target": 0.1, "alpha_source": 5.0}
    assert k["better_there"] == "value" and k["other_excess"] == pytest.approx(0.50)
    assert k["within_1pct"] == pytest.approx(3 / 6) and k["largest_x_above_1pct"] == 0.5
    assert k["max_alpha_target_ge_1.5"] == pytest.approx(0.001)
    assert s["above_1pct"]["full_kappa"] == [1.1, 1.5, 3]  # min, max, count of the points above 1%
    assert s["winners"] == {"value": 2, "support": 3, "tie": 1} and s["basin_fixed"] == 2
    assert s["row_patterns"] == {"value below, support above": 2}
    assert s["crossover_at_y_ends"] == [[0.1, 0.5], [0.1, 2.0]]  # the tie at 0.5 is not a side
    assert s["fixed"]["pretraining_lasso"]["max"] == pytest.approx(0.2)
    land = out["landscape"][0.2]
    assert land["optimum"]["kappa"] == 1.0 and land["optimum"]["t"] == 1.0
    assert land["support_only"]["excess"] == pytest.approx(0.5) and land["value_only"]["excess"] == pytest.approx(0.1)
    assert land["phase_diagram_nearest"]["alpha_target"] == 0.1 and land["on_x1_zero_plateau"] == 0
    st = out["strategies"]
    assert st["comparisons"] == 2 and st["within_2se"] == 1
    assert st["max_abs_z"] == pytest.approx(2.5) and st["mean_z"] == pytest.approx(0.75)
    assert "noise_alpha_target_2.csv" in out["missing"]
    assert json.loads((figures / "summary.json").read_text())["landscape"]["0.2"]["optimum"]["eps2"] == 1.0
