"""Shared command line of the experiments: ``python -m experiments.<name> [options]``.

Paths are relative to the working directory; run from the repository root.
Outputs (CSV, PNG, PDF) go to ``--out``: ``figures/`` for full runs and
``results/quick/`` for ``--quick`` runs, so smoke tests never overwrite
publication figures.  Per-point results are cached in ``--cache``
(``results/cache/<name>/`` by default, git-ignored); the cache is keyed by the
point itself, so quick and full runs share whatever points they have in common
(not ``landscape``'s, whose results depend on the grid's chains: its tag names the grid).

Validation comes first.  :func:`parse_args` checks every argument and input
(counts, output and cache locations, the data root, the scheduler's address)
before any work starts; whether an output folder can be created is tried (and
undone), so nothing is left behind.  A user error ends the program with one
line on stderr and exit code 2.  This module imports only the standard
library, so an experiment can call :func:`preflight` before its slow imports
(numba kernels, scikit-learn: ~3 s) and a mistake is reported at once.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "ArgumentParser",
    "build_parser",
    "experiment_parser",
    "parse_args",
    "preflight",
    "sweep_options",
    "add_data_option",
    "positive_int",
    "grid_size",
    "check_output_dir",
    "check_output_file",
    "check_data_root",
    "check_scheduler",
    "data_check",
    "SHARED_DATA",
    "SWEEPS",
]

FULL_OUT = Path("figures")
QUICK_OUT = Path("results/quick")
CACHE_ROOT = Path("results/cache")
DEMO_OUT = Path("results/demo")
# the shared real data sits beside the checkout: <checkout>/../shared/data
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
SCHEDULER_TIMEOUT = 3.0  # seconds to wait for a Dask scheduler to accept a connection


class ArgumentParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line, ``PROG: error: MESSAGE``, with exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(str(message).split())}\n")


def _count(minimum: int, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse ``type``: an integer >= 1 (a count of workers, seeds, ...)."""
    return _count(1, text)


def grid_size(text: str) -> int:
    """argparse ``type``: points per grid axis, an integer >= 2 (a grid needs two ends)."""
    return _count(2, text)


def nonnegative_int(text: str) -> int:
    """argparse ``type``: an integer >= 0 (a random seed)."""
    return _count(0, text)


def add_data_option(parser: argparse.ArgumentParser, default: Path, contents: str) -> None:
    """``--data DIR`` of the real-data studies; ``contents`` says what the directory must hold."""
    parser.add_argument(
        "--data", type=Path, default=default, metavar="DIR", help=f"directory with {contents} (default: {default})"
    )


def add_grid_options(parser: argparse.ArgumentParser, smoke_help: str, grid_help: str) -> None:
    parser.add_argument("--smoke", action="store_true", help=smoke_help)
    parser.add_argument("--grid", type=grid_size, metavar="N", help=f"{grid_help} (>= 2; overrides the mode's default)")


def build_parser(name: str, description: str | None = None) -> ArgumentParser:
    """The argument parser of a sweep experiment ``name`` with the shared options; add its own to it."""
    parser = ArgumentParser(
        prog=f"python -m experiments.{name}",
        description=description,
        epilog=(
            "Interrupted runs resume: finished points are read back from the cache "
            "and only missing ones are computed. Delete the cache directory to start afresh."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="coarse grid and small sizes for a smoke test (about a minute)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"directory for CSV and figures (default: {FULL_OUT}/, or {QUICK_OUT}/ with --quick)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help=f"directory of per-point cached results (default: {CACHE_ROOT}/{name}/)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="local worker processes (default: 1; the machine is shared, be modest)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help=(
            "run on a Dask cluster, e.g. tcp://host:8786, or 'local' for a local cluster "
            "of --workers processes (needs: pip install 'transfer-l1[dask]')"
        ),
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(experiment=name)
    return parser


def _real_data(contents: str) -> Callable[[argparse.ArgumentParser], None]:
    def add(parser: argparse.ArgumentParser) -> None:
        add_data_option(parser, SHARED_DATA, contents)
        parser.add_argument(
            "--seed",
            type=nonnegative_int,
            default=0,
            metavar="S",
            help="base random seed of the subsamples (default: 0)",
        )

    return add


def _grid_experiment(what: str, smoke: str) -> Callable[[argparse.ArgumentParser], None]:
    return lambda parser: add_grid_options(parser, smoke, what)


# every sweep experiment and the options it adds to the shared ones
SWEEPS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "landscape": _grid_experiment("points per axis of each (κ, t) panel", "3×3 grids (tests only)"),
    "phase_diagram": _grid_experiment("points per axis", "2×2 grids (tests only)"),
    "noise": _grid_experiment("points per axis", "2×2 grid, one α_target (tests only)"),
    "strategies": _grid_experiment("α_target points", "one panel, two α_target, tiny simulations (tests)"),
    "imdb": lambda parser: (
        _real_data("aclImdb/, aclImdb_v1.tar.gz or aclImdb_labeled.tar.gz")(parser),
        parser.add_argument(
            "--words",
            type=int,
            choices=(2000, 20000),
            default=2000,
            help="vocabulary size (default: 2000; 20000: the reduced study, figures/imdb20k_*)",
        ),
    ),
    "mnist": _real_data("the MNIST t10k idx files, .gz or not, or a mnist/ folder holding them"),
    "correlation": lambda parser: parser.add_argument(
        "--smoke", action="store_true", help="two ρ, N = 200, 2 seeds (tests only)"
    ),
}


def _plain_parser(name: str, description: str | None) -> ArgumentParser:
    return ArgumentParser(
        prog=f"python -m experiments.{name}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def demo_parser(description: str | None = None) -> ArgumentParser:
    """``experiments.demo``: no sweep, so no cache, workers or scheduler."""
    parser = _plain_parser("demo", description)
    parser.add_argument("--quick", action="store_true", help="10 α_target points instead of 40")
    parser.add_argument(
        "--out", type=Path, default=DEMO_OUT, metavar="DIR", help=f"output directory (default: {DEMO_OUT}/)"
    )
    parser.add_argument(
        "--points", type=grid_size, metavar="N", help="α_target points (>= 2; default: 40, or 10 with --quick)"
    )
    return parser


def summary_parser(description: str | None = None) -> ArgumentParser:
    """``experiments.theory_summary``: reads CSVs, optionally writes JSON."""
    parser = _plain_parser("theory_summary", description)
    parser.add_argument(
        "--figures",
        type=Path,
        default=FULL_OUT,
        metavar="DIR",
        help=f"directory holding the experiments' CSVs (default: {FULL_OUT}/)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers as JSON")
    return parser


def all_parser(description: str | None = None) -> ArgumentParser:
    """``experiments.all``: the options it passes on to every experiment."""
    parser = _plain_parser("all", description)
    parser.add_argument("--quick", action="store_true", help="every experiment in its --quick mode")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=f"directory for every CSV and figure (default: {FULL_OUT}/, or {QUICK_OUT}/ with --quick)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=CACHE_ROOT,
        metavar="DIR",
        help=f"cache root, one folder per experiment as in the single runs (default: {CACHE_ROOT}/)",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=1, metavar="N", help="local worker processes (default: 1)"
    )
    parser.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler for every sweep, or 'local'")
    add_data_option(parser, SHARED_DATA, "the IMDb and MNIST files (see the README's Data section)")
    parser.add_argument("--theory-only", action="store_true", help="skip the real-data studies (imdb, mnist)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    return parser


def experiment_parser(name: str, description: str | None = None) -> ArgumentParser:
    """The full parser of experiment ``name``: a sweep of :data:`SWEEPS`, ``demo``, ``theory_summary`` or ``all``."""
    if name == "demo":
        return demo_parser(description)
    if name == "theory_summary":
        return summary_parser(description)
    if name == "all":
        return all_parser(description)
    parser = build_parser(name, description)
    SWEEPS[name](parser)
    return parser


def check_output_dir(path: Path, option: str) -> None:
    """Raise ValueError unless ``path`` is a directory this process can write in, or can create.

    Permission bits cannot answer that (root passes every ``os.access`` test, yet ``/proc``,
    ``/sys`` or a read-only mount refuse it), so it is tried: the missing part of ``path`` is
    created and a temporary file written in it, then both are removed again. An existing
    directory only gets the temporary file. Nothing is left behind.
    """
    if problem := _folder_problem(Path(path)):
        raise ValueError(f"{option} {path}: {problem}")


def check_output_file(path: Path, option: str) -> None:
    """Raise ValueError unless ``path`` can be written as a file (its folder may have to be created)."""
    if path.is_dir():
        raise ValueError(f"{option} {path}: is a directory")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{option} {path}: file is not writable")
    folder = Path(os.path.abspath(path)).parent
    if problem := _folder_problem(folder):
        raise ValueError(f"{option} {path}: cannot be created, its folder {folder} {problem}")


def _folder_problem(path: Path) -> str | None:
    """Why no file can be written in folder ``path`` (see :func:`check_output_dir`), or None."""
    target = Path(os.path.abspath(path))  # ".." resolved as mkdir(parents=True) would
    missing: list[Path] = []  # the folders to create, deepest first
    ancestor = target
    try:
        while not ancestor.exists():
            missing.append(ancestor)
            ancestor = ancestor.parent
    except OSError as exc:  # a parent that cannot be searched
        return f"cannot be accessed ({exc.strerror})"
    exists = not missing
    if exists and not target.is_dir():
        return "exists and is not a directory"
    if not ancestor.is_dir():
        return f"cannot be created, {ancestor} is not a directory"
    created: list[Path] = []
    try:
        for folder in reversed(missing):
            folder.mkdir()
            created.append(folder)
        fd, probe = tempfile.mkstemp(dir=target, prefix=".probe-", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return f"{'is not writable' if exists else 'cannot be created'} ({exc.strerror or exc})"
    finally:
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()
    return None


def check_data_root(path: Path, option: str = "--data") -> None:
    """Raise ValueError unless ``path`` is a readable directory (which files it must hold is the
    loaders' business: :func:`solvers.datasets.locate_imdb`, :func:`solvers.datasets.locate_mnist`)."""
    if not path.exists():
        raise ValueError(f"{option} {path}: no such directory")
    if not path.is_dir():
        raise ValueError(f"{option} {path}: not a directory (give the folder that holds the data files)")
    if not os.access(path, os.R_OK | os.X_OK):
        raise ValueError(f"{option} {path}: directory is not readable")


def data_check(locate: Callable[[Path], Any]) -> Callable[[argparse.Namespace], None]:
    """A :func:`parse_args` check that ``locate(args.data)`` (a loader's ``locate_*``) finds readable data."""

    def check(args: argparse.Namespace) -> None:
        try:
            found = locate(args.data)
        except ValueError as exc:
            raise ValueError(f"--data {exc}") from None
        for path in found if isinstance(found, tuple) else (found,):
            try:
                if path.is_dir():
                    next(path.iterdir(), None)
                else:
                    with open(path, "rb") as fh:
                        if not fh.read(1):
                            raise ValueError(f"--data {args.data}: {path} is empty")
            except OSError as exc:
                raise ValueError(f"--data {args.data}: cannot read {path} ({exc.strerror or exc})") from None

    return check


def check_scheduler(address: str | None, timeout: float = SCHEDULER_TIMEOUT) -> None:
    """Raise ValueError unless Dask is installed and ``address`` (``local`` or ``[tcp://]host:port``)
    accepts a TCP connection within ``timeout`` seconds; None (no cluster) passes."""
    if address is None:
        return
    if importlib.util.find_spec("distributed") is None:
        raise ValueError(f"--scheduler {address}: needs Dask, pip install 'transfer-l1[dask]'")
    if address == "local":
        return
    url = urlsplit(address if "://" in address else f"tcp://{address}")
    if url.scheme not in ("tcp", "tls"):
        return  # other Dask protocols (inproc, ucx, ws) cannot be probed with a plain socket
    try:
        host, port = url.hostname, url.port
    except ValueError:  # a port that is not a number
        host = port = None
    if not host or port is None:
        raise ValueError(f"--scheduler {address}: expected 'local' or an address tcp://HOST:PORT")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = f"no answer within {timeout:g} s" if isinstance(exc, TimeoutError) else exc.strerror or exc
        raise ValueError(f"--scheduler {address}: cannot connect ({reason})") from None


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace, checks: Sequence[Callable]) -> None:
    try:
        for option in ("out", "cache"):
            if getattr(args, option, None) is not None:
                check_output_dir(args.__dict__[option], f"--{option}")
        if getattr(args, "data", None) is not None and not getattr(args, "theory_only", False):
            check_data_root(args.data)
        if getattr(args, "figures", None) is not None:
            check_data_root(args.figures, "--figures")
        if getattr(args, "json", None) is not None:
            check_output_file(args.json, "--json")
        check_scheduler(getattr(args, "scheduler", None))
        for check in checks:
            check(args)
    except ValueError as exc:
        parser.error(str(exc))


def parse_args(
    parser: argparse.ArgumentParser, argv: list[str] | None = None, checks: Sequence[Callable[[Any], None]] = ()
) -> argparse.Namespace:
    """Parse ``argv`` (default: ``sys.argv[1:]``), fill in the default directories, validate.

    Validation covers the options every experiment has (``--out``, ``--cache``, ``--data``,
    ``--scheduler``) and then ``checks``, callables taking the parsed arguments that raise
    ValueError naming the problem. Any error exits with one line on stderr and code 2.
    """
    args = parser.parse_args(argv)
    if "out" in args and args.out is None:
        args.out = QUICK_OUT if getattr(args, "quick", False) else FULL_OUT
    if "cache" in args and args.cache is None:
        args.cache = CACHE_ROOT / args.experiment
    _check(parser, args, checks)
    return args


def preflight(name: str, parser_factory: Callable[[], argparse.ArgumentParser] | None = None) -> None:
    """Validate this process's command line for experiment ``name``; exit 2 with one line on a mistake.

    Experiments call it before their slow imports, so that a mistake is reported in a fraction
    of a second; ``main()`` validates again (cheaply) with the complete checks. ``--help`` is left
    to ``main()``, whose parser carries the module's description.
    """
    argv = sys.argv[1:]
    if "-h" in argv or "--help" in argv:
        return
    parse_args(parser_factory() if parser_factory else experiment_parser(name), argv)


def sweep_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`experiments.sweep.run_sweep` taken from parsed ``args``."""
    return {
        "cache_dir": args.cache,
        "workers": args.workers,
        "scheduler": args.scheduler,
        "progress": not args.no_progress,
    }
