"""solvers.compare: known means and standard errors, and a theory-vs-simulation check through it."""

import math

import pytest

from replica import Hyperparameters, Setting, predict
from solvers import compare, simulate
from tests.solvers.test_theory import FINITE_SIZE_ABS, FINITE_SIZE_REL


def test_known_means_standard_errors_and_z():
    records = [{"eps1": v, "eps2": 10 * v, "support1": 0.1} for v in (1.0, 2.0, 3.0, 4.0)]
    c = compare(records, {"eps1": 2.0, "eps2": 30.0, "support1": 0.1})
    # sample variance of 1, 2, 3, 4 is 5/3, so SE = sqrt(5/3 / 4)
    se = math.sqrt(5 / 12)
    assert list(c) == ["eps1", "eps2", "support1"]  # R21 and support2 absent from the records
    assert c["eps1"].mean == pytest.approx(2.5) and c["eps1"].se == pytest.approx(se)
    assert c["eps1"].z == pytest.approx(0.5 / se)
    assert c["eps2"].se == pytest.approx(10 * se) and c["eps2"].z == pytest.approx(-5 / (10 * se))
    assert (c["support1"].se, c["support1"].z) == (0.0, 0.0)  # identical seeds, theory met exactly
    assert c.max_abs_z == pytest.approx(0.5 / se)
    assert c["eps1"].n_seeds == 4


def test_zero_spread_off_theory_is_infinite_z_and_attributes_are_read():
    class Prediction:
        eps2 = 0.5

    c = compare([{"eps2": 0.6}, {"eps2": 0.6}], Prediction(), quantities=["eps2"])
    assert c["eps2"].z == math.inf


def test_readable_table():
    c = compare([{"eps2": 0.20}, {"eps2": 0.22}, {"eps2": 0.21}], {"eps2": 0.2})
    text = str(c).splitlines()
    assert text[0].split() == ["quantity", "simulation", "mean", "±", "SE", "theory", "z"]
    assert text[1].split()[:2] == ["eps2", "0.21"] and text[1].endswith("+1.73")
    assert "3 seeds" in text[-1] and "2 degrees of freedom" in text[-1]


@pytest.mark.parametrize(
    "records, message",
    [
        ([{"eps2": 0.2}], "at least 2 seeds"),
        ([{"eps2": 0.2}, {"eps1": 0.2}], "no quantity to compare"),
        ([{"eps2": 0.2}, {"eps2": float("nan")}], "eps2 is not finite"),
    ],
)
def test_bad_records(records, message):
    with pytest.raises(ValueError, match=message):
        compare(records, {"eps2": 0.2})


def test_simulation_agrees_with_theory_through_compare():
    """Every quantity within 4 SE plus the measured finite-size allowance of tests/solvers/test_theory.py."""
    setting = Setting.two_task(0.5, 2.0, 0.3, 0.3, 0.1, 0.05, 0.05)
    hyper = Hyperparameters(lam1=0.5, lam2=0.1, kappa=0.5, delta_lam=1.0)
    c = compare(simulate(setting, hyper, 800, range(6), workers=1), predict(setting, hyper))
    assert list(c) == ["eps1", "eps2", "support1", "support2"]
    for q in c.values():
        allowed = 4 * q.se + FINITE_SIZE_REL * abs(q.theory) + FINITE_SIZE_ABS
        assert abs(q.mean - q.theory) <= allowed, str(c)
