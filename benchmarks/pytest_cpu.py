"""pytest plugin: CPU seconds per test (this process and its waited-for children), a timing robust to load.

On a shared machine the wall time of the suite depends on what else runs; its CPU time much less
so. ``python -m pytest -p benchmarks.pytest_cpu`` prints the total and the heaviest tests.

Under pytest-xdist each worker measures its own tests and its whole process (start-up, collection
and tests), and the controller prints them per worker: on an idle machine with a core per worker
the run's wall time is about the busiest worker's process CPU plus what the controller spent until
the first worker was up (its start-up and, on an empty numba cache, the compile of tests/conftest.py),
since every worker is a single-threaded CPU-bound process.
"""

from __future__ import annotations

import resource
import time

import pytest

_ROWS: list[tuple[float, float, str]] = []
_WORKERS: dict[str, tuple[float, float, int]] = {}  # worker id -> (CPU over its tests, whole process, tests)
_STARTED: dict[str, float] = {}
SHOWN = 30


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def pytest_configure(config):
    _STARTED["controller"] = _cpu_seconds()  # CPU spent before this: interpreter start-up, imports


@pytest.hookimpl(optionalhook=True)
def pytest_testnodeready(node):  # xdist controller: a worker is up; what it spent until the first one
    _STARTED.setdefault("workers", _cpu_seconds())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    cpu, wall = _cpu_seconds(), time.perf_counter()
    yield
    _ROWS.append((_cpu_seconds() - cpu, time.perf_counter() - wall, item.nodeid))


def pytest_sessionfinish(session):
    output = getattr(session.config, "workeroutput", None)  # set in an xdist worker
    if output is not None:
        output["pytest_cpu"] = (sum(row[0] for row in _ROWS), _cpu_seconds(), len(_ROWS))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):  # xdist controller: a worker finished
    if "pytest_cpu" in getattr(node, "workeroutput", {}):
        _WORKERS[node.gateway.id] = tuple(node.workeroutput["pytest_cpu"])


def pytest_terminal_summary(terminalreporter):
    write = terminalreporter.write_line
    if _WORKERS:
        for worker, (tests, process, n) in sorted(_WORKERS.items()):
            write(f"worker {worker}: {n} tests, CPU over tests {tests:.1f} s, whole process {process:.1f} s")
        busiest = max(process for _, process, _ in _WORKERS.values())
        before = _STARTED.get("workers", _STARTED["controller"])
        write(
            f"controller: CPU {_cpu_seconds():.1f} s ({before:.1f} s before the first worker was up); "
            f"all workers {sum(p for _, p, _ in _WORKERS.values()):.1f} s; idle-machine wall estimate "
            f"{busiest + before:.0f} s (busiest worker + the controller until then)"
        )
        return
    total = sum(row[0] for row in _ROWS)
    write(f"CPU over tests {total:.1f} s, whole process {_cpu_seconds():.1f} s; heaviest (cpu s, wall s):")
    for cpu, wall, nodeid in sorted(_ROWS, reverse=True)[:SHOWN]:
        write(f"{cpu:7.2f} {wall:7.2f}  {nodeid}")
