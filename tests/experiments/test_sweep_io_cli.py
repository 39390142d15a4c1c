"""Atomic writers (experiments.io) and the shared command line (experiments.cli)."""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from experiments import cli, io
from experiments.stats import mean_se
from experiments.sweep import progress_group, run_sweep
from tests.experiments.test_experiments_smoke import check_reported_outputs

REPO = Path(__file__).resolve().parents[2]


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.json"
    io.write_json(target, {"old": True})
    with pytest.raises(RuntimeError):
        with io.atomic_open(target) as fh:
            fh.write('{"new": ')
            raise RuntimeError("crash mid-write")
    assert json.loads(target.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_write_json_and_csv(tmp_path):
    io.write_json(tmp_path / "sub" / "a.json", {"x": np.float64(1.5), "v": np.arange(3)})
    assert json.loads((tmp_path / "sub" / "a.json").read_text()) == {"x": 1.5, "v": [0, 1, 2]}

    io.write_csv(tmp_path / "t.csv", [{"a": 1, "b": 2.5}, {"a": 2, "c": "z"}])
    with open(tmp_path / "t.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows == [{"a": "1", "b": "2.5", "c": ""}, {"a": "2", "b": "", "c": "z"}]


def test_a_rerun_keeps_the_hand_written_notes(tmp_path):
    path = tmp_path / "bench.md"
    io.write_keeping_notes(path, "| table v1 |\n", "Notes")
    assert path.read_text() == "| table v1 |\n"
    path.write_text(path.read_text() + "\nNotes: read by hand.\nMore.\n")
    io.write_keeping_notes(path, "| table v2 |\n", "Notes")
    assert path.read_text() == "| table v2 |\n\nNotes: read by hand.\nMore.\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # written atomically


def test_mean_se_leaves_out_what_was_not_measured():
    mean, se = mean_se([1.0, 2.0, 4.0, float("nan")])
    assert mean == pytest.approx(7 / 3) and se == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1) / np.sqrt(3))
    assert mean_se([5.0])[0] == 5.0 and np.isnan(mean_se([5.0])[1])
    assert all(np.isnan(mean_se([float("nan")])))


def test_save_figure_png_and_pdf(tmp_path):
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    written = io.save_figure(fig, tmp_path / "fig3.png")
    assert written == [tmp_path / "fig3.png", tmp_path / "fig3.pdf"]
    assert (tmp_path / "fig3.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "fig3.pdf").read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig3.pdf", "fig3.png"]
    # no creation date in the PDF: a rerun gives the same bytes
    assert b"/CreationDate" not in (tmp_path / "fig3.pdf").read_bytes()


def test_help_lists_shared_options(capsys):
    parser = cli.build_parser("demo", "Demo experiment.")
    with pytest.raises(SystemExit) as exit_info:
        parser.parse_args(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "python -m experiments.demo" in text and "Demo experiment." in text
    for option in ("--quick", "--out", "--cache", "--workers", "--scheduler", "--no-progress"):
        assert option in text


def test_help_from_command_line():
    run = subprocess.run(
        [sys.executable, "-c", "from experiments import cli; cli.build_parser('demo').parse_args()", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0 and "--scheduler ADDRESS" in run.stdout


def test_defaults_and_sweep_options(tmp_path):
    parser = cli.build_parser("demo")
    full = cli.parse_args(parser, [])
    assert (full.out, full.cache, full.workers, full.scheduler) == (
        Path("figures"),
        Path("results/cache/demo"),
        1,
        None,
    )
    assert cli.parse_args(cli.experiment_parser("imdb"), ["--data", str(tmp_path)]).seed == 0
    assert cli.parse_args(parser, ["--quick"]).out == Path("results/quick")
    with pytest.raises(SystemExit):
        parser.parse_args(["--workers", "0"])

    args = cli.parse_args(parser, ["--cache", str(tmp_path), "--workers", "2", "--no-progress"])
    assert cli.sweep_options(args) == {"cache_dir": tmp_path, "workers": 2, "scheduler": None, "progress": False}
    assert run_sweep(lambda p: {"y": p["x"]}, [{"x": 1}], tag="demo/v1", **cli.sweep_options(args)) == [{"y": 1}]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_outputs_get_the_mode_of_a_plain_open(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        io.write_csv(tmp_path / "t.csv", [{"a": 1}])
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "t.csv").stat().st_mode) == mode


def test_progress_group_counts_every_sweep_in_one_bar(tmp_path, capsys):
    with progress_group("experiment") as bar:
        run_sweep(lambda p: {"y": p["x"]}, [{"x": 1}, {"x": 2}], tmp_path, tag="a/v1")
        run_sweep(lambda p: {"y": p["x"]}, [{"x": 1}, {"x": 2}, {"x": 3}], tmp_path, tag="b/v1", desc="other")
        assert (bar.n, bar.total) == (5, 5)
    assert "other" not in capsys.readouterr().err  # no bar of its own


def _readme_options() -> dict[str, set[str]]:
    """Experiment name -> options, from the table of experiments' command lines in docs/experiments.md."""
    table = {}
    for line in (REPO / "docs" / "experiments.md").read_text().splitlines():
        match = re.match(r"\| `python -m experiments\.(\w+)` \| (.*) \|$", line)
        if match:
            table[match.group(1)] = set(re.findall(r"--[\w-]+", match.group(2)))
    return table


def test_docs_list_each_experiments_options_as_help_gives_them():
    table = _readme_options()
    assert set(table) == {"demo", "all", "theory_summary", *cli.SWEEPS}
    for name, options in table.items():
        parser = cli.experiment_parser(name)
        given = {s for a in parser._actions for s in a.option_strings if s.startswith("--")} - {"--help"}
        assert options == given, name


def test_demo_writes_quickly_where_git_does_not_track(tmp_path, capsys):
    from experiments import demo

    demo.main(["--quick", "--out", str(tmp_path)])
    check_reported_outputs(capsys.readouterr().out, tmp_path)
    rows = io.read_csv(tmp_path / "demo_errors.csv")
    assert len(rows) == 4 * 10 and all(0 < r["eps2"] < 1 for r in rows)
    assert cli.DEMO_OUT.parts[0] == "results"
    if (REPO / ".git").exists():
        ignored = subprocess.run(["git", "check-ignore", "-q", str(cli.DEMO_OUT / "demo_errors.csv")], cwd=REPO)
        assert ignored.returncode == 0


def test_outputs_are_reported_once_by_the_outermost_experiment(tmp_path, capsys):
    """Each experiment prints what it wrote when it ends; inside another (experiments.all) the outer
    one lists everything once. Cache files are not outputs."""

    @io.reports_outputs
    def inner(name):
        io.write_csv(tmp_path / f"{name}.csv", [{"a": 1}])
        with io.atomic_open(tmp_path / "cache.json") as fh:
            fh.write("{}")

    @io.reports_outputs
    def outer():
        inner("one")
        inner("two")
        io.write_json(tmp_path / "summary.json", {})
        print("done")

    outer()
    assert capsys.readouterr().out.splitlines() == [
        "done",
        f"wrote {tmp_path / 'one.csv'}",
        f"wrote {tmp_path / 'two.csv'}",
        f"wrote {tmp_path / 'summary.json'}",
    ]
    inner("one")
    assert capsys.readouterr().out == f"wrote {tmp_path / 'one.csv'}\n"


def _probe_leaves_nothing(root: Path, before: set) -> bool:
    return {p for p in root.rglob("*")} == before


@pytest.mark.parametrize(
    "target, message",
    [
        ("FILE", "--out FILE: exists and is not a directory"),
        ("FILE/sub/deeper", "--out FILE/sub/deeper: cannot be created, "),
        ("x" * 300, ": cannot be accessed (File name too long)"),
        pytest.param(
            "/proc/x/y",
            "--out /proc/x/y: cannot be created (",
            marks=pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no procfs"),
        ),
        pytest.param(
            "/proc",
            "--out /proc: is not writable (",
            marks=pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="no procfs"),
        ),
    ],
)
def test_output_dir_that_cannot_be_made_is_rejected(tmp_path, monkeypatch, target, message):
    """Whether a folder can be created is tried, not read off permission bits (root passes those,
    /proc refuses even root); nothing is left behind either way."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("a file\n")
    before = set(tmp_path.rglob("*"))
    with pytest.raises(ValueError, match=re.escape(message)):
        cli.check_output_dir(Path(target), "--out")
    assert _probe_leaves_nothing(tmp_path, before)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write in a read-only folder")
def test_output_dir_under_a_read_only_folder_is_rejected(tmp_path):
    (tmp_path / "ro").mkdir(mode=0o555)
    with pytest.raises(ValueError, match="cannot be created"):
        cli.check_output_dir(tmp_path / "ro" / "out", "--out")
    assert not (tmp_path / "ro" / "out").exists()


def test_output_dir_that_can_be_made_is_accepted_and_not_made(tmp_path):
    before = set(tmp_path.rglob("*"))
    cli.check_output_dir(tmp_path / "a" / "b" / ".." / "c", "--out")
    cli.check_output_dir(tmp_path, "--out")
    assert _probe_leaves_nothing(tmp_path, before)


def test_all_passes_its_options_on():
    from experiments import all as run_all

    args = cli.parse_args(cli.all_parser(), ["--quick", "--theory-only", "--workers", "2", "--out", "o"])
    assert run_all.experiment_argv(args, "noise") == [
        "--out",
        "o",
        "--cache",
        str(Path("results/cache/noise")),
        "--workers",
        "2",
        "--quick",
    ]


def test_data_check_finds_standard_names_and_rejects_empty_files(tmp_path):
    from solvers.datasets import locate_imdb, locate_mnist

    args = argparse.Namespace(data=tmp_path)
    with pytest.raises(ValueError, match=r"^--data .*: no MNIST data"):
        cli.data_check(locate_mnist)(args)
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(b"")
    with pytest.raises(ValueError, match=r"aclImdb_v1\.tar\.gz is empty"):
        cli.data_check(locate_imdb)(args)
    (tmp_path / "aclImdb_v1.tar.gz").write_bytes(b"\x1f\x8b")
    cli.data_check(locate_imdb)(args)


def test_failed_sweep_leaves_no_empty_cache_folder(tmp_path):
    def fail(point):
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        run_sweep(fail, [{"x": 1}], tmp_path / "cache", tag="fail/v1", progress=False)
    assert not (tmp_path / "cache").exists()
