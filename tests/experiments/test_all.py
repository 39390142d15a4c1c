"""experiments.all --quick writes every file of figures/, with the committed CSVs' columns (slow: minutes)."""

from __future__ import annotations

import csv

import pytest

from tests.conftest import SHARED_DATA
from tests.experiments.test_experiments_smoke import FIGURES, check_reported_outputs, committed_columns

REAL_DATA_FILES = ("imdb_", "imdb20k_", "mnist_")


@pytest.mark.slow
def test_quick_run_writes_every_committed_figure_with_the_same_columns(tmp_path, capsys):
    from experiments import all as run_all

    real = SHARED_DATA.is_dir()
    argv = ["--quick", "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--no-progress"]
    seconds = run_all.main(argv + (["--data", str(SHARED_DATA)] if real else ["--theory-only"]))
    check_reported_outputs(capsys.readouterr().out, tmp_path / "out")  # once, at the end, not per experiment
    assert set(seconds) == set(run_all.THEORY + (run_all.REAL_DATA if real else ()))
    expected = sorted(p.name for p in FIGURES.iterdir() if real or not p.name.startswith(REAL_DATA_FILES))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == expected
    for name in expected:
        if name.endswith(".csv"):
            with open(tmp_path / "out" / name, newline="") as fh:
                assert next(csv.reader(fh)) == committed_columns(name), name
