"""Execute docs/tutorial.ipynb with nbclient (CI): ``python docs/run_notebook.py``.

Fails if the committed notebook is not what ``docs/make_tutorial.py`` generates (or carries
outputs), if any cell raises, or if the run exceeds the time budget.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tutorial import NOTEBOOK, render  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 60.0


def main() -> int:
    if NOTEBOOK.read_text() != render():
        print(f"{NOTEBOOK} is out of date or has outputs: run python docs/make_tutorial.py", file=sys.stderr)
        return 1
    nb = nbformat.read(NOTEBOOK, as_version=4)
    start = time.perf_counter()
    # cwd = repository root, so the notebook imports this checkout's packages
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}).execute()
    seconds = time.perf_counter() - start
    print(f"{NOTEBOOK.name}: {len(nb.cells)} cells executed in {seconds:.1f} s")
    if seconds > BUDGET_SECONDS:
        print(f"over the {BUDGET_SECONDS:.0f} s budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
