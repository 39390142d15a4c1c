"""Every experiment rejects every class of command-line mistake before doing any work.

Each case runs the real command (``python -m experiments.<name> ...``) in a subprocess, in an
empty working directory, and checks: exit code 2, exactly one line on stderr naming the
problem, no traceback, nothing created (no output or cache folder), and a quick answer (the
command line is checked before the slow imports). Each case is its own test, so pytest-xdist
spreads them over the cores.

Output folders are checked by creating them (``experiments.cli.check_output_dir``): ``/proc/x``
passes every permission test as root and still cannot be made, so every experiment is given it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
QUICK_ANSWER = 10.0  # seconds of wall time; ~0.3 s on a quiet machine, generous for a shared one

SWEEPS = ("landscape", "strategies", "phase_diagram", "noise", "imdb", "mnist", "correlation", "all")
GRIDS = ("landscape", "strategies", "phase_diagram", "noise")
REAL = ("imdb", "mnist", "all")
WITH_OUT = (*SWEEPS, "demo")
# without the dask extra the scheduler option is refused for that reason, before any connection
DASK = importlib.util.find_spec("distributed") is not None
NO_SCHEDULER = "cannot connect" if DASK else "needs Dask, pip install 'transfer-l1[dask]'"
PROCFS = Path("/proc/self").is_dir()


# (experiments, arguments, fragment of the message): the shared options, checked on every experiment that has
# them; FILE and EMPTY are replaced by a file and an empty folder
SHARED_MISTAKES = [
    (SWEEPS, "--workers abc", "argument --workers: expected an integer >= 1, got 'abc'"),
    (SWEEPS, "--out FILE", "--out FILE: exists and is not a directory"),
    (SWEEPS, "--cache FILE", "--cache FILE: exists and is not a directory"),
    (SWEEPS, "--scheduler tcp://127.0.0.1:1", f"--scheduler tcp://127.0.0.1:1: {NO_SCHEDULER}"),
    *(
        [
            (WITH_OUT, "--out /proc/x", "--out /proc/x: cannot be created"),
            (SWEEPS, "--cache /proc/x", "--cache /proc/x: cannot be created"),
        ]
        if PROCFS
        else []
    ),
    (GRIDS, "--grid 0", "argument --grid: expected an integer >= 2, got 0"),
    (GRIDS, "--grid -2", "argument --grid: expected an integer >= 2, got -2"),
    (REAL, "--data /nonexistent", "--data /nonexistent: no such directory"),
    (REAL, "--data FILE", "--data FILE: not a directory"),
]
# (experiment, arguments, fragment): an experiment's own options, and variants of the shared checks (once)
OWN_MISTAKES = [
    ("landscape", "--workers 0", "argument --workers: expected an integer >= 1, got 0"),
    ("mnist", "--seed -1", "argument --seed: expected an integer >= 0, got -1"),
    ("landscape", "--out FILE/sub", "--out FILE/sub: cannot be created"),
    (
        "landscape",
        "--scheduler host:port",
        "--scheduler host:port: " + ("expected 'local' or an address" if DASK else NO_SCHEDULER),
    ),
    ("demo", "--points 0", "argument --points: expected an integer >= 2, got 0"),
    ("demo", "--points -5", "argument --points: expected an integer >= 2, got -5"),
    ("demo", "--out FILE", "--out FILE: exists and is not a directory"),
    ("demo", "--workers 2", "unrecognized arguments: --workers 2"),
    ("theory_summary", "--figures nowhere", "--figures nowhere: no such directory"),
    ("theory_summary", "--figures FILE", "--figures FILE: not a directory"),
    ("theory_summary", "--figures EMPTY --json EMPTY", "--json EMPTY: is a directory"),
    ("demo", "--out FILE/sub", "--out FILE/sub: cannot be created"),
    ("all", "--out FILE/sub/deeper", "--out FILE/sub/deeper: cannot be created"),
    *(
        [
            (
                "theory_summary",
                "--figures EMPTY --json /proc/x/s.json",
                "--json /proc/x/s.json: cannot be created, its folder /proc/x cannot be created",
            )
        ]
        if PROCFS
        else []
    ),
]


# a data folder without the data files is found only by the loaders, after the slow imports (~4 s)
SLOW_CASES = [
    ("imdb", ["--data", "EMPTY"], "--data EMPTY: no IMDb data, expected aclImdb_v1.tar.gz, aclImdb_labeled.tar.gz"),
    ("mnist", ["--data", "EMPTY"], "--data EMPTY: no MNIST data, expected t10k-images-idx3-ubyte[.gz]"),
    ("all", ["--data", "EMPTY"], "--data EMPTY: no IMDb data"),
]
CASES = [(name, argv.split(), fragment) for names, argv, fragment in SHARED_MISTAKES for name in names] + [
    (name, argv.split(), fragment) for name, argv, fragment in OWN_MISTAKES
]


def _id(case):
    name, argv, _ = case
    return f"{name}:{' '.join(argv)}"


def _run(case, root: Path) -> dict:
    name, argv, _ = case
    cwd = root / "cwd"
    cwd.mkdir()
    (cwd / "FILE").write_text("not a folder\n")
    (cwd / "EMPTY").mkdir()
    quick = [] if name == "theory_summary" else ["--quick"]
    if name in REAL and "--data" not in argv:
        quick += ["--data", "EMPTY"]  # a folder: the default data root may not exist here
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", f"experiments.{name}", *quick, *argv],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return {
        "run": run,
        "seconds": time.perf_counter() - start,
        "left": sorted(p.relative_to(cwd).as_posix() for p in cwd.rglob("*")),
    }


def _check(outcome, case):
    name, _, fragment = case
    run = outcome["run"]
    assert run.returncode == 2, run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"python -m experiments.{name}: error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in run.stderr and run.stdout == ""
    assert outcome["left"] == ["EMPTY", "FILE"], "the command created files"
    assert outcome["seconds"] < QUICK_ANSWER


@pytest.mark.parametrize("case", CASES, ids=_id)
def test_mistake_rejected_at_once(tmp_path, case):
    _check(_run(case, tmp_path), case)


@pytest.mark.slow
@pytest.mark.parametrize("case", SLOW_CASES, ids=_id)
def test_data_folder_without_data_rejected(tmp_path, case):
    _check(_run(case, tmp_path), case)


def test_every_experiment_is_covered():
    scripts = [p for p in (REPO / "experiments").glob("*.py") if not p.name.startswith("_")]
    commands = {p.stem for p in scripts if 'if __name__ == "__main__"' in p.read_text()}
    # real_data_tables formats docs tables from existing CSVs: a maintainer's tool, not an experiment
    assert commands - {"real_data_tables"} == {c[0] for c in CASES}
