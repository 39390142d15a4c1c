"""experiments.imdb's pieces that need no data: the restricted 20k grid, --words, the auto-vs-best, six-vs-five
and sources-used tables, the study's source sets and their records (here and in benchmarks/bench_ptlasso.py)."""

import math

import numpy as np
import pytest
import scipy.sparse as sp

from benchmarks import bench_ptlasso
from experiments import cli, imdb
from experiments.real_data_tables import auto_vs_best, six_vs_five, sources_used
from replica import Setting
from solvers import TransLassoCV, draw_problem
from solvers.datasets import Domain, TransferData, shuffled_source
from solvers.grid import Cell, cell_strategies, default_cells


def small_study(seed=0) -> TransferData:
    """A target (12 training, 6 test rows) and five sources, each with a held-out part (the first the largest)."""
    rng = np.random.default_rng(seed)

    def domain(name, rows):
        A = sp.random(rows, 4, density=0.6, format="csr", random_state=rng)
        return Domain(name, A, rng.normal(size=rows), np.arange(rows))

    sources = tuple(domain(f"s{k}", 8) for k in range(5))
    tests = tuple(domain(f"s{k}:test", 7 if k == 0 else 3) for k in range(5))
    return TransferData(domain("t", 12), domain("t:test", 6), sources, tuple("abcd"), tests)


def test_study_sources_are_the_clusters_then_the_shuffled_one():
    data = small_study()
    assert imdb.study_sources(data, "five") == data.sources
    six = imdb.study_sources(data)
    assert six[:5] == data.sources and len(six) == 6
    expected = shuffled_source(data, imdb.SHUFFLE_SEED)
    assert six[5].name == expected.name == "s0:test:shuffled"
    np.testing.assert_array_equal(six[5].y, expected.y)
    with pytest.raises(ValueError, match="unknown source set 'seven'"):
        imdb.study_sources(data, "seven")


def test_summary_lists_the_sources_used_per_cell_and_counts_the_shuffled_one_kept():
    used = {"auto": ["0 1", "0 1 5", "none"], "auto_five": ["0 1", "0", "0 2"]}
    records = [
        {
            "n_target": 100,
            "subsample": s,
            "method": m,
            "test_mse": 5.0 + s,
            "cv_fits": 60,
            "cv_seconds": 6.0,
            "strategy": "value",
            "sources_used": sets[s],
            **({"shuffled_used": "5" in sets[s].split()} if m == "auto" else {}),
        }
        for m, sets in used.items()
        for s in range(3)
    ]
    summary = {r["method"]: r for r in imdb.summarize(records)}
    assert summary["auto"]["sources_used"] == "0 1; 0 1 5; none" and summary["auto"]["shuffled_kept"] == 1
    assert summary["auto_five"]["sources_used"] == "0 1; 0; 0 2" and "shuffled_kept" not in summary["auto_five"]
    assert imdb.format_sources(()) == "none" and imdb.format_sources((0, 3, 5)) == "0 3 5"


def test_bench_ptlasso_keeps_the_records_of_each_source_set_apart(tmp_path):
    old = {"n_target": 100, "subsample": 0, "mode": "target", "folds": 5, "seed": 0}  # before --sources
    six = old | {"sources": "six", "test_mse_own_alpha": 1.0}
    assert bench_ptlasso.ptlasso_record([old, six], 100, 0, "target", 5, 0) is old
    assert bench_ptlasso.ptlasso_record([old, six], 100, 0, "target", 5, 0, "six") is six
    assert bench_ptlasso.ptlasso_record([old], 100, 0, "target", 5, 0, "six") is None

    data = small_study()
    z = np.load(bench_ptlasso.export_cell(data, 5, 1, 0, tmp_path / "cell.npz", "six"))
    X = sp.csr_matrix((z["X_data"], z["X_indices"], z["X_indptr"]), shape=tuple(z["X_shape"]))
    groups = z["groups"]
    assert np.bincount(groups).tolist() == [5, 8, 8, 8, 8, 8, 7]
    shuffled = imdb.study_sources(data)[5]
    np.testing.assert_array_equal(z["y"][groups == 6], shuffled.y)
    assert (X[groups == 6] != shuffled.A).nnz == 0
    target_A, target_y = imdb.subsample(data, 5, 1, 0)
    np.testing.assert_array_equal(z["y"][groups == 0], target_y)
    assert (X[groups == 0] != target_A).nnz == 0


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


def test_six_vs_five_pairs_subsamples_and_says_no_worse_within_one_se():
    mse = {(100, "auto"): [5.0, 5.3, 5.1], (100, "auto_five"): [5.1, 5.2, 5.1], (500, "auto"): [5.5, 5.6, 5.7]}
    mse[500, "auto_five"] = [5.0, 5.1, 5.2]  # worse by 0.5 on every subsample: SE 0
    runs = [
        {"n_target": str(n), "subsample": str(s), "method": m, "test_mse": str(v[s])}
        for (n, m), v in mse.items()
        for s in range(3)
    ]
    runs.append({"n_target": "100", "subsample": "0", "method": "value", "test_mse": "1.0"})  # ignored
    lines = six_vs_five(runs).splitlines()[2:]
    assert [line.split(" | ")[0] for line in lines] == ["| 100", "| 500"]
    diff = np.array(mse[100, "auto"]) - np.array(mse[100, "auto_five"])
    assert f"{diff.mean():+.3f} ± {diff.std(ddof=1) / math.sqrt(3):.3f} | yes |" in lines[0]
    assert "+0.500 ± 0.000 | no |" in lines[1]


def test_sources_used_lists_each_subsample_and_counts_the_shuffled_source_kept():
    used = {"auto": ["0 1 2 3 4", "0 1 2 3 4 5"], "auto_five": ["0 1 2 3 4", "none"]}
    runs = [
        {"n_target": "100", "subsample": str(s), "method": m, "sources_used": v[s], "shuffled_used": str("5" in v[s])}
        for m, v in used.items()
        for s in (1, 0)  # out of order: the table sorts by subsample
    ]
    for r in runs:
        if r["method"] == "auto_five":
            r["shuffled_used"] = ""  # the five-source run has no shuffled source
    header, _, row = sources_used(runs).splitlines()
    assert header == "| n_t | auto (six) | auto_five (five) |"
    assert row == "| 100 | 0 1 2 3 4; 0 1 2 3 4 5 (shuffled kept 1/2) | 0 1 2 3 4; none |"
