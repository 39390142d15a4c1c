"""replica.optimize: optimality against random points of each family, nesting of families, constraints."""

from __future__ import annotations

import math

import numpy as np
import pytest

from replica import ConvergenceError, Hyperparameters, OptimizationResult, Setting, optimize, predict
from replica.strategies import CONTAINS, STRATEGIES, U_MAX, family
from replica.strategy_optima import ORDER, optimize_strategies
from tests.builders import paper_setting

SETTINGS = {
    "small_target": paper_setting(0.3, 2.0),
    "large_target": paper_setting(2.0, 1.0),
    "similarity_not_pretrained": Setting.similarity(1.0, 3.0, 0.3, 0.3, 0.1, 0.5, 0.8, pretrain_on_target=False),
}
MAIN = ("full", "value", "support")


@pytest.fixture(scope="module", params=list(SETTINGS))
def optima(request):
    setting = SETTINGS[request.param]
    return setting, optimize_strategies(setting, ORDER)


def _random_points(fam, opt: OptimizationResult, n: int, rng) -> np.ndarray:
    """Half uniform in the family's box, half within ±0.5 of the optimum (a local check)."""
    far = fam.random(rng, n - n // 2)
    near = fam.clip(np.array(opt.x) + rng.uniform(-0.5, 0.5, (n // 2, len(fam.names))))
    return np.vstack([far, near])


def _check_no_better_point(setting, opt, n, seed):
    fam = family(opt.strategy)
    rng = np.random.default_rng(seed)
    errors = []
    for x in _random_points(fam, opt, n, rng):
        try:
            pred = predict(setting, fam.to_hyperparameters(x))
        except ConvergenceError:
            continue
        errors.append(getattr(pred, fam.objective))
    assert len(errors) > 0.8 * n, "too many random points failed to converge"
    assert min(errors) >= opt.error - 1e-7, (opt.strategy, min(errors), opt.error)


def test_full_not_worse_than_any_restricted_strategy(optima):
    _, results = optima
    for name in ("value", "support", "trans_lasso", "pretraining_lasso", "target_only"):
        assert results["full"].eps2 <= results[name].eps2, name


def test_nesting_of_families(optima):
    _, results = optima
    for container, subs in CONTAINS.items():
        for sub in subs:
            assert results[container].eps2 <= results[sub].eps2, (container, sub)


@pytest.mark.parametrize("strategy", MAIN)
def test_no_random_point_beats_optimum(optima, strategy):
    setting, results = optima
    _check_no_better_point(setting, results[strategy], 60, seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ORDER)
def test_no_random_point_beats_optimum_200(optima, strategy):
    setting, results = optima
    _check_no_better_point(setting, results[strategy], 200, seed=2)


def test_reported_error_is_predict_at_reported_hyperparameters(optima):
    setting, results = optima
    for name, res in results.items():
        pred = predict(setting, res.hyperparameters)
        assert getattr(pred, family(name).objective) == pytest.approx(res.error, abs=1e-9), name
        assert res.evaluations >= 1 and res.starts >= 1 and res.method == "BOBYQA"


def test_family_constraints(optima):
    _, results = optima
    hp = {name: res.hyperparameters for name, res in results.items()}
    assert hp["value"].delta_lam == 0 and hp["value"].kappa >= 0
    assert hp["support"].kappa == 0
    assert (hp["trans_lasso"].kappa, hp["trans_lasso"].delta_lam) == (1.0, 0.0)
    assert (hp["target_only"].kappa, hp["target_only"].delta_lam) == (0.0, 0.0)
    a = 1 - hp["pretraining_lasso"].kappa
    assert 0 < a <= 1
    assert hp["pretraining_lasso"].delta_lam == pytest.approx(hp["pretraining_lasso"].lam2 * (1 / a - 1), rel=1e-9)
    assert hp["full"].kappa >= 0 and hp["full"].delta_lam >= 0
    assert results["pretrained"].error == results["pretrained"].prediction.eps1
    assert results["pretrained"].eps2 == results["pretrained"].prediction.eps2
    assert all(r.error == r.eps2 for name, r in results.items() if name != "pretrained")


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_family_maps_round_trip(name):
    fam = family(name)
    for x in fam.random(np.random.default_rng(0), 20):
        x[-1] = min(x[-1], U_MAX - 1e-3) if fam.names[-1] == "u" else x[-1]
        hp = fam.to_hyperparameters(x)
        assert isinstance(hp, Hyperparameters)
        np.testing.assert_allclose(fam.clip(fam.project(hp)), x, atol=1e-9)


def test_u_max_is_infinite_delta_lam():
    fam = family("full")
    hp = fam.to_hyperparameters(np.array([0.0, -9.0, 0.5, U_MAX]))
    assert math.isinf(hp.delta_lam)
    assert family("support").project(hp)[-1] == U_MAX


def test_warm_start_reaches_same_optimum_with_fewer_evaluations():
    setting = SETTINGS["small_target"]
    cold = optimize(setting, "value", seeds=())
    warm = optimize(setting, "value", start=cold, seeds=())
    assert warm.eps2 <= cold.eps2 + 1e-9
    assert warm.evaluations < cold.evaluations


def test_seed_from_contained_strategy_bounds_result():
    setting = SETTINGS["large_target"]
    seed = optimize(setting, "support", seeds=())
    res = optimize(setting, "full", start=seed, seeds=[seed], multistart=1, max_evaluations=5)
    assert res.eps2 <= seed.eps2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"strategy": "both"}, "unknown strategy 'both'"),
        ({"strategy": "full", "multistart": 0}, "multistart"),
        ({"strategy": "full", "xtol": 0.0}, "xtol"),
        ({"strategy": "full", "start": Hyperparameters(1, 1)}, "start must be an OptimizationResult"),
        ({"strategy": "full", "seeds": [1.0]}, "seeds must be OptimizationResults"),
    ],
)
def test_bad_input_raises_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        optimize(SETTINGS["small_target"], **kwargs)


def test_bad_setting_raises_value_error():
    with pytest.raises(ValueError, match="setting must be a replica.Setting"):
        optimize("not a setting")


def test_flat_lam2_plateau_returns_its_edge():
    """Where x2 ≈ 0 is optimal (little, noisy target data; a near-perfect source), every larger λ2 is
    optimal too: optimize returns the plateau's edge, so the answer does not depend on the search."""
    s = Setting.two_task(0.1, 5.0, 1.0, 0.1, 0.1, 0.0, 0.0)
    res = optimize(s, "value")
    h = res.hyperparameters
    assert res.prediction.support2 < 1e-9 and res.prediction.residual <= 1e-10
    wider = predict(s, Hyperparameters(h.lam1, 4 * h.lam2, h.kappa, h.delta_lam))
    assert wider.eps2 == pytest.approx(res.eps2, rel=1e-12)
    below = predict(s, Hyperparameters(h.lam1, h.lam2 * 0.9, h.kappa, h.delta_lam))
    assert below.eps2 > wider.eps2 * (1 + 1e-12)
