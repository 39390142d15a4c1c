"""experiments.imdb's pieces that need no data: the restricted 20k grid, --words, the auto-vs-best table."""

import math

import numpy as np
import pytest

from experiments import cli, imdb
from experiments.real_data_tables import auto_vs_best
from replica import Setting
from solvers import TransLassoCV, draw_problem
from solvers.grid import Cell, cell_strategies, default_cells


def test_families_grid_holds_only_the_cells_of_its_strategies():
    (A, y), S = draw_problem(Setting.similarity(1.0, 3.0, 0.3, 0.3, 0.1, 0.9), 60, np.random.default_rng(0)).data
    m = TransLassoCV(strategy=imdb.STRATEGIES_20K, tuning="cv", cv=3, n_lam1=2, n_lam2=3, random_state=0).fit(
        A, y, sources=[S]
    )
    cells = m._cv.grid.cells
    wanted = [c for c in default_cells() if cell_strategies(c) & set(imdb.STRATEGIES_20K)]
    assert list(cells) == wanted and len(cells) < len(default_cells())
    for strategy in imdb.STRATEGIES_20K:
        hyper, _, fits = m.select(strategy)
        assert fits > 0 and strategy in cell_strategies(Cell.of(hyper))


def test_words_option(tmp_path):
    parser = cli.experiment_parser("imdb")
    assert parser.parse_args([]).words == 2000
    assert parser.parse_args(["--words", "20000"]).words == 20000
    with pytest.raises(SystemExit):
        parser.parse_args(["--words", "5000"])


def test_auto_vs_best_pairs_subsamples_and_picks_the_lowest_mean():
    mse = {
        "value": [5.0, 5.2, 5.4],
        "support": [6.0, 6.1, 6.2],
        "auto": [5.1, 5.1, 5.6],
        "auto_alo": [5.3, 5.5, 5.6],
        "theory_no_cv": [4, 4, 4],
    }
    fits = {"value": 1000, "support": 800, "auto": 80, "auto_alo": 20, "theory_no_cv": 11}
    runs = [
        {"n_target": "200", "subsample": str(s), "method": m, "test_mse": str(v[s]), "cv_fits": str(fits[m])}
        for m, v in mse.items()
        for s in range(3)
    ]
    lines = auto_vs_best(runs).splitlines()[2:]
    assert [line.split(" | ")[1] for line in lines] == ["auto", "auto_alo", "theory_no_cv"]
    for line, method in zip(lines, ("auto", "auto_alo", "theory_no_cv")):
        diff = np.array(mse[method]) - np.array(mse["value"])
        se = diff.std(ddof=1) / math.sqrt(3)
        assert "| value 5.200 ±" in line  # theory_no_cv is compared, never the best CV-tuned strategy
        assert f"{diff.mean():+.3f} ± {se:.3f}" in line and f"{fits[method]} / 1000 = {fits[method] / 1000:.3f}" in line
        assert ("| yes |" in line) == (diff.mean() <= se)
