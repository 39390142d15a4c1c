"""Every public function and class of ``solvers`` documents its parameters (numpydoc) and has an example."""

import pytest

from tests.docstrings import check, check_lists, public_objects

NAMES, DATA = public_objects("solvers")

# Names whose docstrings another change is still rewriting. A listed name must still fail the check,
# so the list cannot hide a compliant name or go stale.
PENDING: set[str] = set()


@pytest.mark.parametrize("name", NAMES)
def test_public_docstring(name):
    check("solvers", name, PENDING)


def test_lists_are_current():
    check_lists(NAMES, DATA, PENDING, expected_data=set())
