"""experiments.numba_cache reads numba's cache as numba does: a kernel is uncached until its first
call compiles and stores it, and stays cached for the next process; the demo says when it compiles."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from experiments.numba_cache import IID_MODULES, kernels, uncached_kernels

REPO = Path(__file__).resolve().parents[2]

KERNELS = """
from numba import njit

@njit(cache=True)
def twice(x):
    return 2.0 * x

@njit(cache=True, inline="always")
def inlined(x):
    return x + 1.0

@njit
def uncached(x):
    return x
"""


def test_a_kernel_is_uncached_until_its_first_call(tmp_path, monkeypatch):
    package = tmp_path / "toy_kernels"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "maps.py").write_text(textwrap.dedent(KERNELS))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    maps = importlib.import_module("toy_kernels.maps")
    # only the cached kernel that numba compiles on its own counts
    assert uncached_kernels("toy_kernels") == ["toy_kernels.maps.twice"]
    assert maps.twice(1.5) == 3.0
    assert uncached_kernels("toy_kernels") == []
    # a new process finds it in the cache
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "from experiments.numba_cache import uncached_kernels; print(uncached_kernels('toy_kernels'))",
        ],
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])},
        capture_output=True,
        text=True,
        check=True,
    )
    assert run.stdout.strip() == "[]"


def test_replica_kernels_are_found():
    """Every compiled kernel of replica is seen (an empty list would claim a warm cache)."""
    found = kernels("replica")
    assert len(found) >= 10 and "replica.stage1.stage1_map" in found
    assert "replica.gaussian.soft_moments_1" not in found  # inlined into its callers
    assert set(uncached_kernels("replica")) <= set(found)
    iid = kernels("replica", IID_MODULES)
    assert "replica.stage2.stage2_T" in iid and not any(".effective." in name for name in iid)


def test_demo_says_when_it_compiles(tmp_path, monkeypatch, capsys):
    """The notice comes before the first prediction, and only when numba's cache lacks a kernel."""
    from experiments import demo

    def sweep(alphas, *args):
        print("predicting", file=sys.stderr)
        return [{"eps1": 0.1, "eps2": 0.1} for _ in alphas]

    monkeypatch.setattr(demo, "sweep", sweep)
    monkeypatch.setattr(demo.io, "save_figure", lambda *args, **kwargs: [])
    for uncached, notice in ((["replica.stage1.stage1_map"], True), ([], False), (None, False)):
        monkeypatch.setattr(demo.numba_cache, "uncached_kernels", lambda *args, found=uncached: found)
        demo.main(["--points", "2", "--out", str(tmp_path)])
        err = capsys.readouterr().err
        assert err.splitlines()[-1] == "predicting"
        assert ("first run: compiling replica's numba kernels" in err) == notice, err
