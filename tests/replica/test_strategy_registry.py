"""``print(replica.STRATEGIES)``: one line per strategy saying what it transfers and what is free,
made from the registry itself (the module docstring shows the same table), with the registry
still a plain dict of Families."""

from __future__ import annotations

import math

import pytest

import replica
from replica.strategies import STRATEGIES, STRATEGY_NAMES, Family, fixed_transfer

NOTATION = {"λ1", "λ2", "κ", "Δλ", "a"}


def _rows(text: str) -> dict[str, list[str]]:
    """The table's body: strategy name -> its line split on runs of two or more spaces."""
    lines = text.splitlines()
    assert lines[0].startswith("=") and lines[2].startswith("=") and lines[-1].startswith("="), text
    assert lines[1].split() == ["strategy", "transfers", "free"]
    return {line.split()[0]: [cell for cell in line.split("  ") if cell.strip()] for line in lines[3:-1]}


def test_printed_registry_has_one_line_per_strategy():
    rows = _rows(str(replica.STRATEGIES))
    assert list(rows) == list(STRATEGY_NAMES)
    for name, cells in rows.items():
        fam = STRATEGIES[name]
        assert [c.strip() for c in cells] == [name, fam.transfers, ", ".join(fam.free)]
        assert fam.transfers and "Family(" not in fam.transfers
    assert repr(replica.STRATEGIES) == str(replica.STRATEGIES)


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_free_hyperparameters_match_the_coordinates(name):
    """As many free hyperparameters as optimizer coordinates, in the theory's notation; a strategy
    that fixes κ or Δλ says so in its description."""
    fam = STRATEGIES[name]
    assert len(fam.free) == len(fam.names) and set(fam.free) <= NOTATION
    hp = fam.to_hyperparameters(fam.clip([0.5] * len(fam.names)))
    if "κ" not in fam.free and "a" not in fam.free and name != "pretrained":
        assert f"κ = {hp.kappa:g}" in fam.transfers
    if "Δλ" not in fam.free and "a" not in fam.free and name != "pretrained":
        assert f"Δλ = {hp.delta_lam:g}" in fam.transfers


def test_module_docstring_shows_the_registry():
    assert repr(STRATEGIES) in replica.strategies.__doc__


def test_registry_still_behaves_as_a_dict():
    assert isinstance(STRATEGIES, dict)
    assert dict(STRATEGIES) == {name: STRATEGIES[name] for name in STRATEGY_NAMES}
    assert all(isinstance(f, Family) and f.name == n for n, f in STRATEGIES.items())


def test_family_repr_is_readable():
    fam = fixed_transfer(0.5, math.inf)
    assert (
        repr(fam)
        == "Family('fixed(kappa=0.5, delta_lam=inf)', transfers='fixed: κ = 0.5, Δλ = inf', free=('λ1', 'λ2'))"
    )
