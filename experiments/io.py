"""Atomic writes of experiment outputs: JSON, CSV and figures.

Every writer goes through :func:`atomic_open`: the data is written to a
temporary file in the destination directory, flushed and fsync'ed, then moved
over the destination with :func:`os.replace`.  A reader therefore sees either
the old file or the complete new one, never a truncated one, even if the
process is killed mid-write.

The output writers (:func:`write_json`, :func:`write_csv`, :func:`save_figure`) note every
path they write; an experiment's ``main`` decorated with :func:`reports_outputs` prints them
when it ends (the cache files of :mod:`experiments.sweep` are not outputs and are not noted).

Importing this module selects matplotlib's non-interactive Agg backend:
experiments are batch jobs and must run on headless machines.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any

import matplotlib

matplotlib.use("Agg")

__all__ = [
    "atomic_open",
    "to_builtin",
    "write_json",
    "write_csv",
    "write_keeping_notes",
    "save_figure",
    "recording_outputs",
    "reports_outputs",
]

_WRITTEN: ContextVar[list[Path] | None] = ContextVar("written", default=None)


@contextlib.contextmanager
def recording_outputs() -> Iterator[list[Path]]:
    """A list that collects the paths the output writers write inside the block, in order.

    A block inside another one adds its paths to the outer list as well.
    """
    outer = _WRITTEN.get()
    written: list[Path] = []
    token = _WRITTEN.set(written)
    try:
        yield written
    finally:
        _WRITTEN.reset(token)
        if outer is not None:
            outer.extend(written)


def reports_outputs(main: Callable) -> Callable:
    """Decorate an experiment's ``main``: when it returns, print ``wrote PATH`` for every output.

    Run inside another experiment's ``main`` (``experiments.all``), it leaves the printing to the
    outer one, which lists everything once at its end.
    """

    @functools.wraps(main)
    def run(*args, **kwargs):
        nested = _WRITTEN.get() is not None
        with recording_outputs() as written:
            result = main(*args, **kwargs)
        if not nested:
            for path in dict.fromkeys(written):
                print(f"wrote {path}", flush=True)
        return result

    return run


def _note(path: str | os.PathLike) -> None:
    written = _WRITTEN.get()
    if written is not None:
        written.append(Path(path))


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` when the block exits cleanly.

    ``mode`` is ``"w"`` (text, UTF-8, no newline translation) or ``"wb"``.
    Parent directories are created; the file gets the permissions of a plain
    ``open()`` (0666 minus the umask, e.g. 0644).  If the block raises, the temporary file
    is removed and ``path`` is left untouched.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same directory as the target: os.replace is only atomic within one filesystem.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); an output gets the mode open() would give it
        os.chmod(tmp, 0o666 & ~_umask())
        kwargs = {"encoding": "utf-8", "newline": ""} if mode == "w" else {}
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _umask() -> int:
    """The process's umask (reading it means setting it: put it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(directory: Path) -> None:
    """Persist the rename itself (best effort: not every OS allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def to_builtin(obj: Any) -> Any:
    """``json`` fallback: numpy scalars and arrays become Python numbers and lists."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    """Atomically write ``obj`` as JSON (numpy values are converted)."""
    with atomic_open(path, "w") as fh:
        json.dump(obj, fh, indent=indent, sort_keys=True, default=to_builtin)
        fh.write("\n")
    _note(path)


def write_csv(
    path: str | os.PathLike,
    rows: Iterable[Mapping[str, Any]],
    fieldnames: Sequence[str] | None = None,
) -> None:
    """Atomically write a list of dicts as CSV.

    Columns are ``fieldnames`` if given, else the union of the rows' keys in
    first-seen order; missing values are left empty.
    """
    rows = list(rows)
    if fieldnames is None:
        fieldnames = list(dict.fromkeys(key for row in rows for key in row))
    with atomic_open(path, "w") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    _note(path)


def write_keeping_notes(path: str | os.PathLike, text: str, marker: str) -> None:
    """Atomically write ``text`` over a report whose hand-written part must survive a rerun.

    Everything of the old file from the first ``marker`` on (the notes under a generated table) follows
    ``text`` after a blank line; without ``marker`` in the old file, only ``text`` is written.
    """
    path = Path(path)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    notes = old[old.index(marker) :] if marker in old else ""
    with atomic_open(path) as fh:
        fh.write(text + ("\n" + notes if notes else ""))
    _note(path)


def read_csv(path: str | os.PathLike) -> list[dict]:
    """Rows of a CSV written by :func:`write_csv`, numbers as floats and True/False as bools
    (other text, and empty cells, stay strings)."""

    def parse(text: str):
        if text in ("True", "False"):
            return text == "True"
        try:
            return float(text)
        except ValueError:
            return text

    with open(path, newline="") as fh:
        return [{key: parse(value) for key, value in row.items()} for row in csv.DictReader(fh)]


def save_figure(
    fig: matplotlib.figure.Figure,
    path: str | os.PathLike,
    formats: Sequence[str] = ("png", "pdf"),
    **savefig_kwargs: Any,
) -> list[Path]:
    """Atomically save ``fig`` once per format; returns the written paths.

    ``path`` is the stem: ``figures/fig3`` (or ``figures/fig3.png``, whose
    suffix is dropped) gives ``figures/fig3.png`` and ``figures/fig3.pdf``.
    The PDF has no creation date, so the same figure gives the same bytes.
    """
    stem = Path(path)
    if stem.suffix.lstrip(".") in formats:
        stem = stem.with_suffix("")
    savefig_kwargs.setdefault("bbox_inches", "tight")
    written = []
    for fmt in formats:
        target = stem.with_name(f"{stem.name}.{fmt}")
        # a PDF carries its creation date unless told not to: without it a rerun gives the same bytes
        dated = {"metadata": {"CreationDate": None}} if fmt == "pdf" else {}
        with atomic_open(target, "wb") as fh:
            fig.savefig(fh, format=fmt, **(dated | savefig_kwargs))
        written.append(target)
        _note(target)
    return written
