"""Caching, resumability and parallel backends of experiments.sweep."""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from experiments.sweep import PointCache, point_key, run_chains, run_sweep

REPO = Path(__file__).resolve().parents[2]
TAG = "test/v1"


class Stop(Exception):
    """Simulated crash in the middle of a sweep."""


def square(calls: Path, point: dict, stop_at: int | None = None, delay: float = 0.0) -> dict:
    """Record each *completed* evaluation in calls/<i>, one line per call."""
    if point["i"] == stop_at:
        raise Stop
    time.sleep(delay)
    with open(calls / str(point["i"]), "a") as fh:
        fh.write("x\n")
    return {"y": point["i"] ** 2, "half": point["x"] / 2}


def counts(calls: Path, n: int) -> list[int]:
    return [len((calls / str(i)).read_text().splitlines()) if (calls / str(i)).exists() else 0 for i in range(n)]


def grid(n: int) -> list[dict]:
    return [{"i": i, "x": 0.1 * i} for i in range(n)]


def expected(n: int) -> list[dict]:
    return [{"y": i**2, "half": 0.1 * i / 2} for i in range(n)]


@pytest.fixture
def calls(tmp_path: Path) -> Path:
    path = tmp_path / "calls"
    path.mkdir()
    return path


def cached_keys(cache: Path) -> set[str]:
    return {p.stem for p in cache.glob("*.json")}


@pytest.mark.parametrize("interrupt", [Stop, KeyboardInterrupt])
def test_resume_after_interrupt_loses_and_recomputes_nothing(tmp_path, calls, interrupt):
    cache, points = tmp_path / "cache", grid(10)

    def crash(point):
        if point["i"] == 6:
            raise interrupt
        return square(calls, point)

    with pytest.raises(interrupt):
        run_sweep(crash, points, cache, tag=TAG, progress=False)
    assert counts(calls, 10) == [1] * 6 + [0] * 4
    assert len(cached_keys(cache)) == 6

    results = run_sweep(functools.partial(square, calls), points, cache, tag=TAG, progress=False)
    assert results == expected(10)
    assert counts(calls, 10) == [1] * 10


def test_resume_after_parallel_crash(tmp_path, calls):
    cache, points = tmp_path / "cache", grid(12)
    with pytest.raises(Stop):
        run_sweep(
            functools.partial(square, calls, stop_at=7, delay=0.02), points, cache, tag=TAG, workers=2, progress=False
        )
    survivors = cached_keys(cache)
    assert survivors

    results = run_sweep(functools.partial(square, calls), points, cache, tag=TAG, workers=2, progress=False)
    assert results == expected(12)
    n_calls = counts(calls, 12)
    for point, n in zip(points, n_calls):
        # Points cached before the crash are never recomputed; points that were
        # running when it happened may legitimately be computed twice.
        assert n == 1 if point_key(point, TAG) in survivors else n in (1, 2)


def test_resume_after_sigkill(tmp_path, calls):
    cache, n = tmp_path / "cache", 40
    script = textwrap.dedent(
        f"""
        import functools, sys
        from pathlib import Path
        from tests.experiments.test_sweep import grid, square
        from experiments.sweep import run_sweep
        run_sweep(functools.partial(square, Path({str(calls)!r}), delay=0.03),
                  grid({n}), {str(cache)!r}, tag={TAG!r}, progress=False)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 20
        while len(cached_keys(cache)) < 5 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    survivors = cached_keys(cache)
    assert 5 <= len(survivors) < n

    results = run_sweep(functools.partial(square, calls), grid(n), cache, tag=TAG, progress=False)
    assert results == expected(n)
    n_calls = counts(calls, n)
    for point, k in zip(grid(n), n_calls):
        assert k == 1 if point_key(point, TAG) in survivors else k in (1, 2)
    assert n_calls.count(2) <= 1  # at most the point in flight when killed


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text[: len(text) // 2],  # truncated write
        lambda text: "",  # empty file
        lambda text: "\x00\x00garbage",  # not JSON
        lambda text: text.replace('"i": 3', '"i": 4'),  # content of another point
        lambda text: json.dumps({"tag": TAG}),  # valid JSON, missing fields
    ],
)
def test_corrupted_cache_file_is_recomputed(tmp_path, calls, damage):
    cache, points = tmp_path / "cache", grid(5)
    run_sweep(functools.partial(square, calls), points, cache, tag=TAG, progress=False)
    victim = cache / f"{point_key(points[3], TAG)}.json"
    victim.write_text(damage(victim.read_text()))

    results = run_sweep(functools.partial(square, calls), points, cache, tag=TAG, progress=False)
    assert results == expected(5)
    assert counts(calls, 5) == [1, 1, 1, 2, 1]
    assert PointCache(cache, TAG).load(victim.stem) == expected(5)[3]


def test_parallel_results_match_serial_in_input_order(tmp_path, calls):
    points = grid(9)[::-1]  # order must follow the input, not the grid
    serial = run_sweep(functools.partial(square, calls), points, tmp_path / "a", tag=TAG, progress=False)
    parallel = run_sweep(
        functools.partial(square, calls, delay=0.01), points, tmp_path / "b", tag=TAG, workers=2, progress=False
    )
    batched = run_sweep(
        functools.partial(square, calls), points, tmp_path / "c", tag=TAG, workers=2, batch=4, progress=False
    )
    assert serial == parallel == batched == expected(9)[::-1]


def test_key_is_order_independent_and_tagged():
    assert point_key({"a": 1, "b": 2.5}, TAG) == point_key({"b": 2.5, "a": 1}, TAG)
    assert point_key({"a": 1}, TAG) != point_key({"a": 1}, "test/v2")
    assert point_key({"a": 1}, TAG) != point_key({"a": 2}, TAG)


def test_duplicates_computed_once_and_fresh_equals_cached(tmp_path, calls):
    points = [{"i": 1, "x": 0.5}, {"i": 2, "x": 1.0}, {"x": 0.5, "i": 1}]

    def numpy_result(point):
        square(calls, point)
        return {"v": np.float32(point["x"]), "arr": np.arange(2), "t": (1, 2)}

    fresh = run_sweep(numpy_result, points, tmp_path, tag=TAG, progress=False)
    cached = run_sweep(numpy_result, points, tmp_path, tag=TAG, progress=False)
    assert fresh == cached
    assert fresh[0] == {"v": 0.5, "arr": [0, 1], "t": [1, 2]}
    assert counts(calls, 3) == [0, 1, 1]


def warm_chain(calls: Path, chain: list[dict]) -> list[dict]:
    """Stand-in for a warm-started solver: results depend on the chain's start."""
    for point in chain:
        with open(calls / str(point["i"]), "a") as fh:
            fh.write("x\n")
    return [{"y": p["i"] ** 2, "start": chain[0]["i"]} for p in chain]


def test_chains_cache_points_individually(tmp_path, calls):
    chains = [grid(12)[k : k + 4] for k in (0, 4, 8)]
    first = run_chains(functools.partial(warm_chain, calls), chains, tmp_path, tag=TAG, progress=False)
    assert [[r["start"] for r in chain] for chain in first] == [[0] * 4, [4] * 4, [8] * 4]

    (tmp_path / f"{point_key(chains[1][2], TAG)}.json").unlink()
    second = run_chains(functools.partial(warm_chain, calls), chains, tmp_path, tag=TAG, workers=2, progress=False)
    assert second[0] == first[0] and second[2] == first[2]
    # Only the lost point is recomputed, as a chain starting at it.
    assert second[1] == first[1][:2] + [{"y": 36, "start": 6}] + first[1][3:]
    assert counts(calls, 12) == [1] * 6 + [2] + [1] * 5


def test_whole_chains_resume_as_an_uninterrupted_run(tmp_path, calls):
    """whole_chains: a chain that lost a point is run again from its first point, so every result
    (here: which point the chain started at) is the uninterrupted run's; complete chains are not rerun."""
    chains = [grid(12)[k : k + 4] for k in (0, 4, 8)]
    run = functools.partial(run_chains, functools.partial(warm_chain, calls), chains, tmp_path, tag=TAG, progress=False)
    first = run(whole_chains=True)
    for lost in (chains[1][2], chains[2][0]):
        (tmp_path / f"{point_key(lost, TAG)}.json").unlink()
    assert run(whole_chains=True) == first
    assert counts(calls, 12) == [1] * 4 + [2] * 8
    assert run(whole_chains=True) == first  # complete: read back, nothing computed
    assert counts(calls, 12) == [1] * 4 + [2] * 8


def test_chain_result_length_is_checked(tmp_path):
    with pytest.raises(ValueError, match="2 results for a chain of 3"):
        run_chains(lambda chain: [{}, {}], [grid(3)], tmp_path, tag=TAG, progress=False)


def test_dask_cluster_matches_serial(tmp_path, calls):
    distributed = pytest.importorskip("distributed")
    points = grid(8)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        results = run_sweep(
            functools.partial(square, calls),
            points,
            tmp_path,
            tag=TAG,
            scheduler=cluster.scheduler_address,
            progress=False,
        )
        assert results == expected(8)
        again = run_sweep(
            functools.partial(square, calls),
            points,
            tmp_path,
            tag=TAG,
            scheduler=cluster.scheduler_address,
            progress=False,
        )
    assert again == results
    assert counts(calls, 8) == [1] * 8


@pytest.mark.slow
def test_dask_local_scheduler_starts_own_cluster(tmp_path, calls):
    pytest.importorskip("distributed")
    results = run_sweep(
        functools.partial(square, calls), grid(6), tmp_path, tag=TAG, workers=2, scheduler="local", progress=False
    )
    assert results == expected(6)
    assert counts(calls, 6) == [1] * 6
