"""Every figure of ``figures/`` and every number of the README's Results section, in one command.

Runs, in this order, ``landscape``, ``strategies``, ``phase_diagram``, ``noise`` (the theory
figures), ``correlation`` (theory against simulations on correlated designs), ``imdb``, ``imdb20k`` (``imdb --words 20000``) and ``mnist`` (the real-data studies), each with the given ``--quick``,
``--out``, ``--workers``, ``--scheduler`` and its own cache folder under ``--cache``, then prints
the numbers of the Results section (``experiments.theory_summary``) from the CSVs just written.
One progress bar per experiment. Interrupted, it resumes: every finished point is cached.
"""

from __future__ import annotations

# ruff: noqa: E402 -- the command line is checked before the slow imports (numba kernels, ~3 s)
from experiments import cli

if __name__ == "__main__":
    cli.preflight("all")

import importlib
import time

from experiments import io, sweep

THEORY = ("landscape", "strategies", "phase_diagram", "noise", "correlation")
REAL_DATA = ("imdb", "imdb20k", "mnist")
# experiments that are another experiment's module run with extra options
VARIANTS = {"imdb20k": ("imdb", ["--words", "20000"])}


def _real_data_present(args) -> None:
    if args.theory_only:
        return
    from solvers.datasets import locate_imdb, locate_mnist

    for locate in (locate_imdb, locate_mnist):
        try:
            cli.data_check(locate)(args)
        except ValueError as exc:
            raise ValueError(f"{exc} (or run the theory figures alone: --theory-only)") from None


def experiment_argv(args, name: str) -> list[str]:
    """The command line of one experiment under ``experiments.all``."""
    argv = ["--out", str(args.out), "--cache", str(args.cache / name), "--workers", str(args.workers)]
    argv += ["--quick"] * args.quick + ["--no-progress"] * args.no_progress
    argv += ["--scheduler", args.scheduler] if args.scheduler else []
    argv += VARIANTS[name][1] if name in VARIANTS else []
    return argv + (["--data", str(args.data)] if name in REAL_DATA else [])


@io.reports_outputs
def main(argv=None) -> dict[str, float]:
    """Run every experiment, then the summary; returns each experiment's wall time in seconds."""
    args = cli.parse_args(cli.all_parser(__doc__), argv, checks=[_real_data_present])
    names = THEORY + (() if args.theory_only else REAL_DATA)
    seconds = {}
    for name in names:
        module = importlib.import_module(f"experiments.{VARIANTS.get(name, (name,))[0]}")
        start = time.perf_counter()
        with sweep.progress_group(name, disable=args.no_progress):
            module.main(experiment_argv(args, name))
        seconds[name] = time.perf_counter() - start
        print(f"{name}: {seconds[name] / 60:.1f} min", flush=True)
    from experiments import theory_summary

    theory_summary.main(["--figures", str(args.out)])
    print("\nwall time per experiment:")
    for name, s in seconds.items():
        print(f"  {name:14s} {s / 60:6.1f} min")
    print(f"  {'total':14s} {sum(seconds.values()) / 60:6.1f} min")
    return seconds


if __name__ == "__main__":
    main()
