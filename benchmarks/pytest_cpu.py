"""pytest plugin: CPU seconds per test (this process and its waited-for children), a timing robust to load.

On a shared machine the wall time of the suite depends on what else runs; its CPU time much less
so. ``python -m pytest -p benchmarks.pytest_cpu`` prints the total and the heaviest tests.
"""

from __future__ import annotations

import resource
import time

import pytest

_ROWS: list[tuple[float, float, str]] = []
SHOWN = 30


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    cpu, wall = _cpu_seconds(), time.perf_counter()
    yield
    _ROWS.append((_cpu_seconds() - cpu, time.perf_counter() - wall, item.nodeid))


def pytest_terminal_summary(terminalreporter):
    total = sum(row[0] for row in _ROWS)
    terminalreporter.write_line(
        f"CPU over tests {total:.1f} s, whole process {_cpu_seconds():.1f} s; heaviest (cpu s, wall s):"
    )
    for cpu, wall, nodeid in sorted(_ROWS, reverse=True)[:SHOWN]:
        terminalreporter.write_line(f"{cpu:7.2f} {wall:7.2f}  {nodeid}")
