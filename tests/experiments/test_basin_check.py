"""replica.strategy_optima.basin_check: a point stuck in a worse basin is re-optimized from its neighbours;
experiments.phase_diagram caches the checked grid as a whole."""

from __future__ import annotations

import pytest

from experiments import cli, phase_diagram, sweep
from replica import Hyperparameters, predict
from replica.strategy_optima import basin_check, optimize_chain, serpentine_chains, setting_of
from tests.builders import PAPER_POINT

# small target data: full (κ ≈ 1.1) is ~30% below support (κ = 0), two basins far apart
STRATEGIES = ("support", "full")


@pytest.fixture(scope="module")
def grid():
    """Settings and optima of a 2×2 (α_source × α_target) grid, optimized in one serpentine chain."""
    points = [[{**PAPER_POINT, "alpha_target": a, "alpha_source": s} for a in (0.2, 0.22)] for s in (2.0, 2.2)]
    chain = serpentine_chains(points, rows_per_chain=2)[0]
    by_point = {id(p): {**p, **r} for p, r in zip(chain, optimize_chain(chain, STRATEGIES))}
    rows = [[by_point[id(p)] for p in line] for line in points]
    assert all(r["full_eps2"] < 0.9 * r["support_eps2"] for line in rows for r in line)
    return [[setting_of(p) for p in line] for line in points], rows


def _hyperparameters(row, name) -> Hyperparameters:
    return Hyperparameters(*(row[f"{name}_{k}"] for k in ("lam1", "lam2", "kappa", "delta_lam")))


@pytest.mark.parametrize("corrupted", [("full",), ("support", "full")])
def test_point_in_worse_basin_is_restored(grid, corrupted):
    """full replaced by support's optimum (κ = 0); or both by a no-transfer point (κ = 0, Δλ = 0)."""
    settings, rows = grid
    good = rows[1][0]
    hp = _hyperparameters(good, "support")
    if "support" in corrupted:
        hp = Hyperparameters(hp.lam1, hp.lam2, 0.0, 0.0)
    pred = predict(settings[1][0], hp)
    bad = dict(good)
    for name in corrupted:
        bad.update({f"{name}_{k}": v for k, v in hp.as_dict().items()})
        bad.update({f"{name}_eps2": pred.eps2, f"{name}_eps1": pred.eps1})
        assert bad[f"{name}_eps2"] > 1.01 * good[f"{name}_eps2"]
    corrupt = [list(line) for line in rows]
    corrupt[1][0] = bad

    checked = basin_check(settings, corrupt, STRATEGIES)

    fixed = checked[1][0]
    for name in corrupted:
        assert fixed[f"{name}_eps2"] == pytest.approx(good[f"{name}_eps2"], rel=1e-5), name
    assert fixed["basin_fixed"] == " ".join(corrupted)
    for before, after in zip(sum(corrupt, []), sum(checked, [])):
        assert after["full_eps2"] <= after["support_eps2"]
        assert all(after[f"{n}_eps2"] <= before[f"{n}_eps2"] for n in STRATEGIES)


def test_checked_grid_is_cached_and_redone_when_its_input_changes(tmp_path, monkeypatch):
    args = cli.parse_args(cli.build_parser("phase_diagram"), ["--cache", str(tmp_path), "--no-progress"])
    rows = [[{"alpha_target": float(a), "alpha_source": float(s)} for a in range(3)] for s in range(3)]
    offset = {"value": 0.0}
    checks = []

    def chain(points, strategies):
        return [{"converged": True, "eps": p["alpha_target"] + offset["value"]} for p in points]

    def check(settings, grid, strategies):
        checks.append(grid)
        return [[{**row, "basin_fixed": ""} for row in line] for line in grid]

    monkeypatch.setattr(phase_diagram, "optimize_chain", chain)
    monkeypatch.setattr(phase_diagram, "setting_of", lambda point: None)
    monkeypatch.setattr(phase_diagram, "basin_check", check)
    first = phase_diagram.optimized_grid(args, rows, "test/v1", "test")
    assert len(checks) == 1 and [r["eps"] for r in first] == [0.0, 1.0, 2.0] * 3
    assert phase_diagram.optimized_grid(args, rows, "test/v1", "test") == first and len(checks) == 1
    # a recomputed chain point (e.g. a resumed chain warm-starting elsewhere) invalidates the check
    (tmp_path / f"{sweep.point_key(rows[0][0], 'test/v1')}.json").unlink()
    offset["value"] = 0.5
    third = phase_diagram.optimized_grid(args, rows, "test/v1", "test")
    assert len(checks) == 2 and third[0]["eps"] == 0.5 and third[1:] == first[1:]
