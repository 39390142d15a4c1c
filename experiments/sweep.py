"""Resumable, cached, optionally parallel evaluation of a function over grid points.

A *point* is a JSON-serializable dict of parameters; ``fn(point)`` returns a
JSON-serializable dict of results and must be a pure function of the point.
Each result is cached as its own file ``<cache_dir>/<key>.json``, where the
key hashes the sorted JSON of the point together with a ``tag`` (experiment
name and version: bump the version to invalidate old results).  Files are
written atomically as soon as each result reaches the driver, so an
interrupted sweep (exception, Ctrl-C, kill) resumes by recomputing only the
missing points.  Unreadable cache files (truncated, edited, from another
point) are logged and recomputed.

Hashing is exact: ``1`` and ``1.0`` are different points, so build grids the
same way every run (e.g. always ``float(x)``).

Parallelism, chosen per call:

* ``workers=1``: in-process, in order;
* ``workers=N>1``: a local process pool (``fn`` must be picklable, i.e.
  defined at module level);
* ``scheduler=ADDRESS``: a Dask distributed cluster (``pip install
  transfer-l1[dask]``); ``scheduler="local"`` starts a throw-away
  ``LocalCluster`` of ``workers`` single-threaded processes.  The driver writes
  the cache, so remote workers need no shared filesystem.

Progress: each call shows its own bar, unless it runs inside :func:`progress_group`, whose
one bar counts the points of every sweep in the block (``experiments.all``: one bar per
experiment).

Warm-started solvers use :func:`run_chains`: ``fn`` receives a chain (list of
consecutive points) and returns one result per point.  A chain is the unit of
parallelism and of loss on interruption; points are still cached one by one.
A resumed chain starts at its first missing point, cold; with ``whole_chains=True``
it starts again at its first point instead, so that every result is the one an
uninterrupted run gives, to the last bit (``experiments.landscape``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .io import atomic_open, to_builtin

__all__ = ["PointCache", "point_key", "run_sweep", "run_chains", "progress_group"]

log = logging.getLogger(__name__)
SCHEDULER_TIMEOUT = 10  # seconds for a Dask scheduler to answer: a wrong address fails fast
_GROUP_BAR: ContextVar[tqdm | None] = ContextVar("progress_group", default=None)

Point = Mapping[str, Any]
Result = dict[str, Any]
ChainFn = Callable[[list[Point]], Sequence[Result]]


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=to_builtin)


def point_key(point: Point, tag: str) -> str:
    """Stable hash of ``(tag, point)``, independent of dict order and of the process."""
    return hashlib.sha256(_canonical({"tag": tag, "point": point}).encode()).hexdigest()[:32]


class PointCache:
    """One JSON file per point: ``{"tag": ..., "point": ..., "result": ...}``."""

    def __init__(self, directory: str | os.PathLike, tag: str):
        self.directory = Path(directory)
        self.tag = tag

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def load(self, key: str) -> Result | None:
        """The cached result for ``key``, or None if missing or unusable."""
        path = self.path(key)
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
            # The file must describe the point its name claims (guards against
            # hand-edited or misplaced files).
            if point_key(data["point"], data["tag"]) != key or not isinstance(data["result"], dict):
                raise ValueError("content does not match file name")
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            log.warning("ignoring unreadable cache file %s (%s); recomputing", path, exc)
            return None
        return data["result"]

    def store(self, key: str, point: Point, result: Mapping[str, Any]) -> Result:
        """Atomically write ``result``; returns it as it will read back from disk.

        Returning the JSON round-trip makes fresh and cached results identical
        (tuples become lists, numpy scalars become Python numbers).
        """
        text = json.dumps(
            {"tag": self.tag, "point": point, "result": result},
            sort_keys=True,
            default=to_builtin,
        )
        with atomic_open(self.path(key), "w") as fh:
            fh.write(text)
        return json.loads(text)["result"]


@contextlib.contextmanager
def progress_group(desc: str, disable: bool = False) -> Iterator[tqdm]:
    """One progress bar for all the sweeps run inside the block: each adds its points to the total."""
    with tqdm(total=0, desc=desc, unit="pt", disable=disable) as bar:
        token = _GROUP_BAR.set(bar)
        try:
            yield bar
        finally:
            _GROUP_BAR.reset(token)


def run_sweep(
    fn: Callable[[Point], Mapping[str, Any]],
    points: Sequence[Point],
    cache_dir: str | os.PathLike,
    *,
    tag: str,
    workers: int = 1,
    scheduler: str | None = None,
    batch: int = 1,
    desc: str | None = None,
    progress: bool = True,
) -> list[Result]:
    """Evaluate ``fn`` at every point, reusing cached results; returns results in input order.

    ``batch`` groups that many missing points into one task, which amortizes
    inter-process overhead when ``fn`` takes only milliseconds.  Exceptions
    raised by ``fn`` abort the sweep (completed points stay cached): return a
    failure record instead for expected failures such as non-convergence.
    See the module docstring for ``tag``, ``workers`` and ``scheduler``.
    """
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    chains = [list(points[i : i + batch]) for i in range(0, len(points), batch)]
    results = run_chains(
        functools.partial(_pointwise, fn),
        chains,
        cache_dir,
        tag=tag,
        workers=workers,
        scheduler=scheduler,
        desc=desc,
        progress=progress,
    )
    return [result for chain in results for result in chain]


def _pointwise(fn: Callable[[Point], Mapping[str, Any]], chain: list[Point]) -> list[Mapping[str, Any]]:
    return [fn(point) for point in chain]


def run_chains(
    fn: ChainFn,
    chains: Sequence[Sequence[Point]],
    cache_dir: str | os.PathLike,
    *,
    tag: str,
    workers: int = 1,
    scheduler: str | None = None,
    desc: str | None = None,
    progress: bool = True,
    whole_chains: bool = False,
) -> list[list[Result]]:
    """Evaluate ``fn`` chain by chain; returns one list of results per chain, in input order.

    ``fn(chain)`` gets the chain's *uncached* points, in order, and must return
    one result dict per point (a resumed chain may thus start mid-way, warm
    starting from scratch there).  A point occurring several times is computed
    once.  With ``whole_chains``, a chain with any uncached point is given to
    ``fn`` whole, its cached points included (and their results stored again):
    a result that depends on the warm starts before it is then the same as in
    an uninterrupted run.  Other arguments are as in :func:`run_sweep`.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    cache = PointCache(cache_dir, tag)
    keys = [[point_key(point, tag) for point in chain] for chain in chains]
    done: dict[str, Result] = {}
    for chain_keys in keys:
        for key in chain_keys:
            if key not in done and (result := cache.load(key)) is not None:
                done[key] = result

    # Jobs hold only missing points, each scheduled once (whole chains: every chain that misses one).
    jobs: list[list[tuple[str, Point]]] = []
    scheduled = set(done)
    for chain, chain_keys in zip(chains, keys):
        job = []
        for key, point in zip(chain_keys, chain):
            if key not in scheduled:
                scheduled.add(key)
                job.append((key, point))
        if job and whole_chains:
            job = list(zip(chain_keys, chain))
        if job:
            jobs.append(job)

    n_points = sum(len(chain) for chain in chains)
    n_todo = sum(len(job) for job in jobs)
    group = _GROUP_BAR.get()
    if group is not None:
        group.total += n_points
        group.update(n_points - n_todo)
        bar_context = contextlib.nullcontext(group)
    else:
        bar_context = tqdm(total=n_points, initial=n_points - n_todo, desc=desc or tag, unit="pt", disable=not progress)
    with bar_context as bar:
        point_jobs = [[point for _, point in job] for job in jobs]
        for index, results in _execute(fn, point_jobs, workers, scheduler):
            job = jobs[index]
            if len(results) != len(job):
                raise ValueError(f"fn returned {len(results)} results for a chain of {len(job)} points")
            for (key, point), result in zip(job, results):
                if not isinstance(result, Mapping):
                    raise TypeError(f"fn must return dicts, got {type(result).__name__}")
                done[key] = cache.store(key, point, result)
            bar.update(len(job))
    return [[done[key] for key in chain_keys] for chain_keys in keys]


def _execute(
    fn: ChainFn, jobs: list[list[Point]], workers: int, scheduler: str | None
) -> Iterator[tuple[int, Sequence[Result]]]:
    """Yield ``(job index, fn(job))`` as jobs complete, on the chosen backend."""
    if scheduler is not None:
        return _execute_dask(fn, jobs, workers, scheduler)
    if min(workers, len(jobs)) > 1:
        return _execute_pool(fn, jobs, workers)
    return ((index, fn(job)) for index, job in enumerate(jobs))


def _execute_pool(fn: ChainFn, jobs: list[list[Point]], workers: int) -> Iterator[tuple[int, Sequence[Result]]]:
    executor = ProcessPoolExecutor(max_workers=min(workers, len(jobs)))
    try:
        futures = {executor.submit(fn, job): index for index, job in enumerate(jobs)}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        # On error or interrupt, drop queued jobs instead of waiting for them.
        executor.shutdown(wait=False, cancel_futures=True)


def _execute_dask(
    fn: ChainFn, jobs: list[list[Point]], workers: int, scheduler: str
) -> Iterator[tuple[int, Sequence[Result]]]:
    try:
        import distributed
    except ImportError as exc:
        raise ImportError("--scheduler needs Dask: pip install 'transfer-l1[dask]'") from exc
    with contextlib.ExitStack() as stack:
        if scheduler == "local":
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None)
            address: Any = stack.enter_context(cluster)
        else:
            address = scheduler
        try:
            client = stack.enter_context(distributed.Client(address, timeout=SCHEDULER_TIMEOUT))
        except OSError as exc:  # distributed raises OSError (or its TimeoutError) for an unreachable scheduler
            raise ConnectionError(
                f"Dask scheduler {address} not reachable within {SCHEDULER_TIMEOUT} s ({exc})"
            ) from exc
        futures = {client.submit(fn, job, pure=False): index for index, job in enumerate(jobs)}
        try:
            for future in distributed.as_completed(futures):
                yield futures[future], future.result()
        finally:
            client.cancel(list(futures))
