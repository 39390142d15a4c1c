"""Shared paths and fixtures for the test suite; the shared settings and statistics are in tests/builders.py."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO / ".." / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The project's real-data root (aclImdb, MNIST); tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config, specs):
    """Compile replica's numba kernels once, in pytest-xdist's controller, before the workers start.

    On an empty numba cache (a fresh clone) every worker would otherwise compile the same kernels
    at the same time, each spending the whole compile's CPU (benchmarks/test_suite_time.md); this
    way the workers load them from the cache.
    """
    from experiments.numba_cache import uncached_kernels

    if not uncached_kernels("replica"):
        return
    from replica import predict
    from tests.builders import HYPER, two_task

    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("empty numba cache: compiling replica's kernels once for all workers ...")
    predict(two_task(), HYPER)
