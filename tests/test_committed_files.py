"""No committed file names a path that exists only on a developer's machine.

A path that means something on every machine is fine: relative paths (``../shared/data``, the
data root beside the checkout), ``~`` (the reader's own home), system paths (``/proc``). What
is flagged is an absolute path into somebody's home or workspace: a home directory by name
(Linux, macOS, Windows), root's home, this workplace's ``/work`` tree, macOS's per-user
temporary folders, and wherever this checkout itself happens to live.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# absolute, so not preceded by a word, a dot or a tilde (URLs and "~/..." are not machine paths);
# each pattern is written so that this file's own source does not match it
MACHINE_PATHS = re.compile(
    r"(?<![\w.~/-])/(?:work|root|home/[\w.-]+|Users/[\w.-]+|var/folders|private/var/folders)/"
    r"|\b[A-Za-z]:\\(?:Users|Documents and Settings)\\"
)


def _committed_text_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: no list of committed files")
    files = []
    for name in filter(None, listed.decode().split("\0")):
        path = REPO / name
        if path.is_file() and b"\0" not in path.read_bytes()[:8192]:  # binary files (PNG, PDF) are not text
            files.append(path)
    return files


def _offending_lines(text: str, checkout: str) -> list[str]:
    return [
        line.strip()[:160]
        for line in text.splitlines()
        if MACHINE_PATHS.search(line) or (len(checkout) > 1 and checkout in line)
    ]


def test_no_committed_file_names_a_path_on_a_developers_machine():
    files = _committed_text_files()
    assert len(files) > 50, "the listing missed the repository's files"
    checkout = REPO.as_posix()
    found = {
        path.relative_to(REPO).as_posix(): lines
        for path in files
        if (lines := _offending_lines(path.read_text(encoding="utf-8", errors="replace"), checkout))
    }
    assert not found, f"machine-specific paths (use a relative path or an option): {found}"


@pytest.mark.parametrize(
    "line",
    [
        "python3 -m venv /" + "work/venvs/ptlasso",
        "see /" + "home/alice/notes.md",
        "cache at /" + "Users/bob/Library/Caches",
        "PYTHONPATH=/" + "root/src",
        "tmp: /" + "var/folders/xy/T/pytest-of-alice",
        "C:" + "\\Users\\carol\\data",
    ],
)
def test_machine_paths_are_recognised(line):
    assert _offending_lines(line, "/nowhere/checkout")


@pytest.mark.parametrize(
    "line",
    [
        "--data ../shared/data (default: the data root beside the checkout)",
        "python -m experiments.imdb --data ~/data",
        "<https://ai.stanford.edu/~amaas/data/sentiment/>",
        "a network file system: //server/" + "home/share",
        "--out /proc/x is rejected",
        "the network/" + "work/ folder of a relative path",
    ],
)
def test_portable_paths_pass(line):
    assert not _offending_lines(line, "/nowhere/checkout")


def test_the_checkout_path_itself_is_recognised():
    assert _offending_lines(f"results in {REPO.as_posix()}/figures", REPO.as_posix())
