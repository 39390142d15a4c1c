"""What numba compiles on first use, and how long each kernel takes, on an empty cache.

Runs itself in a fresh process with ``NUMBA_CACHE_DIR`` pointed at an empty temporary folder, so the
repository's own cache is neither used nor touched. The times are wall seconds of each top-level
compile (callees included), from numba's compile events; the baseline is the same process's
``import replica``. Results: benchmarks/test_suite_time.md.

    python benchmarks/numba_compile_time.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict

STEPS = {
    "i.i.d. predict": "from replica import predict; from tests.builders import HYPER, two_task; "
    "predict(two_task(), HYPER)",
    "correlated predict": "from replica import predict; from replica.covariance import ar1; "
    "from tests.builders import HYPER, two_task; predict(two_task().with_covariance(ar1(60, 0.5), draws=4), HYPER)",
    "centred Lasso": "import numpy as np; from solvers.lasso import centred; A = np.random.default_rng(0).normal(size=(50, 20)); "
    "d = centred.Design([A[:25], A[25:]], True); centred.lasso(d, d.center(A[:, 0] + 1)[0], np.ones(20))",
}


def _child() -> None:
    from numba.core import event

    stack, totals = [], defaultdict(float)

    class Listener(event.Listener):
        def on_start(self, ev):
            f = ev.data["dispatcher"].py_func
            stack.append((f"{f.__module__}.{f.__qualname__}", time.perf_counter()))

        def on_end(self, ev):
            name, t0 = stack.pop()
            if not stack:
                totals[name] += time.perf_counter() - t0

    t0 = time.perf_counter()
    import replica  # noqa: F401

    print(f"baseline: import replica {time.perf_counter() - t0:.2f} s")
    event.register("numba:compile", Listener())
    for step, code in STEPS.items():
        totals.clear()
        t0 = time.perf_counter()
        exec(code, {})
        print(f"{step}: {time.perf_counter() - t0:.2f} s, of which compiling {sum(totals.values()):.2f} s")
        for name, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
            print(f"    {seconds:6.2f} s  {name}")


if __name__ == "__main__":
    if os.environ.get("NUMBA_COMPILE_TIME_CHILD"):
        sys.path.insert(0, os.getcwd())  # the repository, for tests.builders
        _child()
    else:
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache, "NUMBA_COMPILE_TIME_CHILD": "1"}
            sys.exit(subprocess.call([sys.executable, os.path.abspath(__file__)], cwd=repo, env=env))
