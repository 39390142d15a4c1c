"""Shared command line of the experiments: ``python -m experiments.<name> [options]``.

Paths are relative to the working directory; run from the repository root.
Outputs (CSV, PNG, PDF) go to ``--out``: ``figures/`` for full runs and
``results/quick/`` for ``--quick`` runs, so smoke tests never overwrite
publication figures.  Per-point results are cached in ``--cache``
(``results/cache/<name>/`` by default, git-ignored); the cache is keyed by the
point itself, so quick and full runs share whatever points they have in common.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ["build_parser", "parse_args", "sweep_options", "add_data_option", "SHARED_DATA"]

FULL_OUT = Path("figures")
QUICK_OUT = Path("results/quick")
CACHE_ROOT = Path("results/cache")
# the shared real data sits beside the checkout: <checkout>/../shared/data
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


def add_data_option(parser: argparse.ArgumentParser, default: Path, contents: str) -> None:
    """``--data DIR`` of the real-data studies; ``contents`` says what the directory must hold."""
    parser.add_argument("--data", type=Path, default=default, help=f"directory with {contents} (default: {default})")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def build_parser(name: str, description: str | None = None) -> argparse.ArgumentParser:
    """The argument parser of experiment ``name``; add experiment-specific options to it."""
    parser = argparse.ArgumentParser(
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
        type=_positive_int,
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
    parser.add_argument("--seed", type=int, default=0, help="base random seed (default: 0)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(experiment=name)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default: ``sys.argv[1:]``) and fill in the default directories."""
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = QUICK_OUT if args.quick else FULL_OUT
    if args.cache is None:
        args.cache = CACHE_ROOT / args.experiment
    return args


def sweep_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`experiments.sweep.run_sweep` taken from parsed ``args``."""
    return {
        "cache_dir": args.cache,
        "workers": args.workers,
        "scheduler": args.scheduler,
        "progress": not args.no_progress,
    }
