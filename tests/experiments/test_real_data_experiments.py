"""Real-data studies: both --quick modes end to end (the CV engine is tested in tests/solvers/test_cv.py).

The quick runs need the files of ../shared/data (skipped if absent) and take about two
minutes together on 2 cores, so they are marked slow: the default run checks the CV engine
against the exact estimator here, on synthetic data, and the real-data loaders in
tests/solvers/test_data_imdb.py and test_data_mnist.py.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest

from experiments import imdb, mnist
from tests.experiments.test_experiments_smoke import check_reported_outputs


def _read(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_imdb_quick(tmp_path, capsys):
    if not (imdb.DATA_DEFAULT / "aclImdb_labeled.tar.gz").is_file():
        pytest.skip("aclImdb data not available")
    imdb.main(["--quick", "--out", str(tmp_path), "--cache", str(tmp_path / "cache"), "--no-progress"])
    check_reported_outputs(capsys.readouterr().out, tmp_path)
    rows = _read(tmp_path / "imdb_summary.csv")
    assert {r["method"] for r in rows} == set(imdb.METHODS)
    assert all(np.isfinite(float(r["test_mse_mean"])) and float(r["test_mse_mean"]) > 0 for r in rows)
    for ext in ("png", "pdf"):
        assert (tmp_path / f"imdb_test_mse.{ext}").stat().st_size > 0


@pytest.mark.slow
def test_mnist_quick(tmp_path, capsys):
    if not mnist.DATA_DEFAULT.is_dir():
        pytest.skip("MNIST data not available")
    mnist.main(["--quick", "--out", str(tmp_path), "--cache", str(tmp_path / "cache"), "--no-progress"])
    check_reported_outputs(capsys.readouterr().out, tmp_path)
    rows = _read(tmp_path / "mnist_summary.csv")
    assert {r["strategy"] for r in rows} == set(mnist.COMPARED)
    for r in rows:
        for key in ("eps_theory_pred", "eps_theory_test_mean", "eps_cv_test_mean"):
            assert np.isfinite(float(r[key])) and float(r[key]) > 0
    for ext in ("png", "pdf"):
        assert (tmp_path / f"mnist_theory_vs_finite.{ext}").stat().st_size > 0
