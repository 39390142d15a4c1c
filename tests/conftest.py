"""Shared paths and fixtures for the test suite; the shared settings and statistics are in tests/builders.py."""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

try:
    import fcntl
except ImportError:  # not POSIX: the workers compile what they need themselves
    fcntl = None

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO / ".." / "shared" / "data"
_LOCK_ENV = "REPLICA_TEST_KERNEL_LOCK"
_COMPILING = pytest.StashKey[subprocess.Popen]()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The project's real-data root (aclImdb, MNIST); tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_setupnodes(config, specs):
    """On an empty numba cache (a fresh clone), compile replica's kernels once, in a process of its own
    that runs while pytest-xdist starts its workers; each worker waits for it before its first test.

    Otherwise every worker would compile the same kernels at the same time, each spending the whole
    compile's CPU; and compiling in the controller first would leave the second core idle while the
    workers could be starting (benchmarks/test_suite_time.md). The compiling process holds an exclusive
    ``flock`` until it exits (even if it fails); the workers take a shared one.
    """
    from experiments.numba_cache import IID_MODULES, uncached_kernels

    if fcntl is None or not uncached_kernels("replica", IID_MODULES):
        return
    fd, lock = tempfile.mkstemp(prefix="replica-kernels-", suffix=".lock")
    fcntl.flock(fd, fcntl.LOCK_EX)
    warm = "from replica import predict; from tests.builders import HYPER, two_task; predict(two_task(), HYPER)"
    config.stash[_COMPILING] = subprocess.Popen(
        [sys.executable, "-c", warm], cwd=REPO, pass_fds=(fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    os.close(fd)  # the child's copy keeps the lock
    os.environ[_LOCK_ENV] = lock  # the workers start with the controller's environment
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line("empty numba cache: compiling replica's kernels once for all workers ...")


def pytest_configure(config):
    """A pytest-xdist worker started while the kernels compile yields the CPU to the compiling process,
    which every worker waits for, while it imports and collects. The workers keep nice 10 until they exit
    at the end of the run, which changes nothing between them."""
    if os.environ.get(_LOCK_ENV) and hasattr(config, "workerinput"):
        os.nice(10)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session):
    """In a pytest-xdist worker: wait until the kernels compiled by the controller's process are cached."""
    lock = os.environ.get(_LOCK_ENV)
    if lock and fcntl is not None and hasattr(session.config, "workerinput"):
        with open(lock) as f:
            fcntl.flock(f, fcntl.LOCK_SH)


def pytest_unconfigure(config):
    proc = config.stash.get(_COMPILING, None)
    if proc is not None:
        proc.wait()
        Path(os.environ.pop(_LOCK_ENV)).unlink(missing_ok=True)
