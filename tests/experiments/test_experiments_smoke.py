"""Every experiment's --smoke mode end to end: outputs exist and full ≤ every restricted strategy."""

from __future__ import annotations

import csv
import importlib
import math
from pathlib import Path

import pytest

RESTRICTED = ("value", "support", "trans_lasso", "pretraining_lasso", "target_only")
EXPERIMENTS = {
    "phase_diagram": ("phase_diagram_sources", "phase_diagram_similarity"),
    "strategies": ("strategies", "strategies_hyperparameters"),
    "landscape": ("landscape",),
    "noise": ("noise_alpha_target_0.3",),
    "correlation": ("correlation",),
}


FIGURES = Path(__file__).resolve().parents[2] / "figures"
# the similarity panels' prior parameters: smoke and quick runs have only two-task panels
SIMILARITY_ONLY = ("rho", "shared_fraction", "correlation")


def committed_columns(name: str, quick: bool = True) -> list[str]:
    """The header of the committed ``figures/<name>``, as a smoke or quick run writes it."""
    with open(FIGURES / name, newline="") as fh:
        header = next(csv.reader(fh))
    return [c for c in header if not (quick and name.startswith("strategies") and c in SIMILARITY_ONLY)]


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def check_reported_outputs(stdout: str, out: Path) -> None:
    """The experiment's last lines are ``wrote PATH``, once for every file it wrote to ``out``."""
    lines = stdout.splitlines()
    written = [line.removeprefix("wrote ") for line in lines if line.startswith("wrote ")]
    assert sorted(written) == sorted(str(p) for p in out.iterdir() if p.is_file())
    assert lines[len(lines) - len(written) :] == [f"wrote {path}" for path in written]


def _check_full_is_best(rows):
    checked = 0
    for row in rows:
        if "full_eps2" not in row or row.get("converged") != "True":
            continue
        full = float(row["full_eps2"])
        for s in RESTRICTED:
            assert full <= float(row[f"{s}_eps2"]) + 1e-9, (s, row)
        checked += 1
    return checked


def _check_correlation_rows(rows):
    """Every (ρ, strategy): finite predictions and simulations with positive standard errors; at ρ = 0
    (Σ = I) the correlated prediction is the i.i.d. one within its sampling SE."""
    for row in rows:
        for key in ("eps1", "eps2", "support1", "support2"):
            assert float(row[f"{key}_sim_se"]) > 0 and float(row[f"{key}_corr_se"]) > 0, (key, row)
            assert math.isfinite(float(row[f"{key}_sim"])) and math.isfinite(float(row[f"{key}_iid"]))
            if float(row["rho"]) == 0:
                assert abs(float(row[f"{key}_corr"]) - float(row[f"{key}_iid"])) <= 3.5 * float(row[f"{key}_corr_se"])


# phase_diagram and noise optimize every strategy on several grids, about half the CPU time of the
# experiments tests (benchmarks/test_suite_time.md): slow. Their chain, basin-check and cache logic
# is tested in test_basin_check.py.
HEAVY = {"phase_diagram", "noise"}


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=pytest.mark.slow) if name in HEAVY else name for name in EXPERIMENTS]
)
def test_smoke_run_writes_outputs(name, tmp_path, capsys):
    module = importlib.import_module(f"experiments.{name}")
    module.main(["--smoke", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--no-progress"])
    check_reported_outputs(capsys.readouterr().out, tmp_path / "out")
    for stem in EXPERIMENTS[name]:
        for ext in ("png", "pdf"):
            assert (tmp_path / "out" / f"{stem}.{ext}").stat().st_size > 0
    csvs = sorted((tmp_path / "out").glob("*.csv"))
    assert csvs
    for path in csvs:  # same columns as the committed figures' CSVs
        with open(path, newline="") as fh:
            assert next(csv.reader(fh)) == committed_columns(path.name), path.name
    rows = [row for path in csvs for row in _rows(path)]
    assert rows
    if name == "correlation":
        _check_correlation_rows(rows)
    elif name != "landscape":
        assert _check_full_is_best(rows) > 0
    else:
        assert all(math.isfinite(float(r["eps2"])) for r in rows if r["converged"] == "True")


def test_resumed_run_reads_cache(tmp_path, monkeypatch):
    from experiments import landscape

    argv = [
        "--smoke",
        "--grid",
        "2",
        "--out",
        str(tmp_path / "out"),
        "--cache",
        str(tmp_path / "cache"),
        "--no-progress",
    ]
    landscape.main(argv)
    first = (tmp_path / "out" / "landscape.csv").read_text()
    monkeypatch.setattr(landscape, "optimize", lambda *a, **k: pytest.fail("recomputed a cached point"))
    landscape.main(argv)
    assert (tmp_path / "out" / "landscape.csv").read_text() == first


@pytest.mark.slow  # a local cluster costs ~5 s; the Dask backend itself is tested by default in test_sweep.py
def test_sweep_on_dask_local_cluster(tmp_path):
    pytest.importorskip("distributed")
    from experiments import landscape

    landscape.main(
        [
            "--smoke",
            "--grid",
            "2",
            "--out",
            str(tmp_path / "out"),
            "--cache",
            str(tmp_path / "cache"),
            "--scheduler",
            "local",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    rows = _rows(tmp_path / "out" / "landscape.csv")
    assert len(rows) == 8 and all(r["converged"] == "True" for r in rows)
    assert (tmp_path / "out" / "landscape.png").exists()


def test_landscape_chain_leaves_the_x1_zero_plateau():
    """A Δλ = 0 chain through κ = 0 (where λ1 does not matter) and κ = 0.5, 1 (where x1 = 0 is
    optimal at α_target = 2) must still find the value transfer at κ = 1.13: below the target-only
    error, not on the x1 = 0 plateau (it stayed there before chains were seeded with the
    pretrained λ1)."""
    from experiments import landscape

    points = [{**landscape.SETTING, "alpha_target": 2.0, "kappa": k, "t": 0.0} for k in (0.0, 0.5, 1.0, 1.13)]
    target_only, half, one, valued = landscape.landscape_chain(points)
    assert target_only["converged"] and valued["converged"]
    assert valued["eps2"] < 0.99 * target_only["eps2"]
    assert valued["lam1"] < 2.0
    # on the plateau (and at κ = 0, Δλ = 0, where λ1 does not matter) the tie is reported at λ1 = LAM1_OFF
    assert target_only["lam1"] == half["lam1"] == one["lam1"] == landscape.LAM1_OFF


def test_plateau_ties_do_not_depend_on_the_path():
    """The same plateau point reached along two chains (from κ = 0 and cold) reports the same λ1, and
    ε^(2nd) to the optimizer's tolerance; what breaks the tie is a cold prediction of the point alone."""
    from experiments import landscape

    point = {**landscape.SETTING, "alpha_target": 2.0, "kappa": 0.5, "t": 0.0}
    after = landscape.landscape_chain([{**point, "kappa": 0.0}, point])[1]
    alone = landscape.landscape_chain([point])[0]
    assert after["lam1"] == alone["lam1"] == landscape.LAM1_OFF
    assert after["eps2"] == pytest.approx(alone["eps2"], rel=1e-9)
