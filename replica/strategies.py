"""Hyperparameter strategies (THEORY.md §2, "Special cases") as families of (λ1, λ2, κ, Δλ).

Each :class:`Family` maps free optimizer coordinates ``x`` (a box) to
:class:`~replica.Hyperparameters`. Penalties are log-parameterized, and Δλ is the
log-ratio of the penalties off and on supp x1: u = log((λ2 + Δλ)/λ2) ∈ [0, U_MAX],
Δλ = λ2 (e^u − 1). The upper end u = U_MAX is Δλ = ∞ (corrections confined to
supp x1); there λ2 e^u ≥ 100 for every λ2 in the box, far beyond any field, so the
jump to ∞ is invisible. Pretraining Lasso's mixing is a = e^(−u), giving exactly its
κ = 1 − a, Δλ = λ2 (1/a − 1).

The registry: :data:`STRATEGIES` maps each name to its :class:`Family` (:data:`STRATEGY_NAMES`
lists them), :data:`CONTAINS` gives each strategy's direct sub-families, :data:`NESTED_ORDER`
an order in which every strategy comes after those it contains; :func:`contained` and
:func:`strategies_containing` answer membership questions. ``print(STRATEGIES)`` shows the
table below, which is made from the registry itself (each family's ``transfers`` and ``free``):

"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .setting import Hyperparameters

__all__ = [
    "Family",
    "STRATEGIES",
    "STRATEGY_NAMES",
    "CONTAINS",
    "NESTED_ORDER",
    "contained",
    "family",
    "fixed_transfer",
    "fixed_lam1",
    "delta_from_u",
    "u_from_delta",
    "strategies_containing",
    "U_MAX",
    "LOG_LAM_BOUNDS",
]

# the λ box every strategy searches, in log: [1e-4, 1e2]
LOG_LAM_BOUNDS = (math.log(1e-4), math.log(1e2))
KAPPA_BOUNDS = (0.0, 3.0)
U_MAX = LOG_LAM_BOUNDS[1] - LOG_LAM_BOUNDS[0]  # λ2 e^U_MAX ≥ 1e2 for all λ2 ≥ 1e-4


def delta_from_u(u: float, lam2: float) -> float:
    """Δλ = λ2 (e^u − 1) from the optimizer coordinate u = log((λ2 + Δλ)/λ2).

    Parameters
    ----------
    u : float
        The coordinate; negative values count as 0, u ≥ U_MAX gives Δλ = ∞.
    lam2 : float
        λ2.

    Returns
    -------
    float
        Δλ ∈ [0, ∞].

    Examples
    --------
    >>> from replica.strategies import U_MAX, delta_from_u
    >>> delta_from_u(0.0, 0.3), round(delta_from_u(1.0, 0.3), 4), delta_from_u(U_MAX, 0.3)
    (0.0, 0.5155, inf)
    """
    u = max(float(u), 0.0)
    return math.inf if u >= U_MAX else lam2 * math.expm1(u)


def u_from_delta(delta_lam: float, lam2: float) -> float:
    """u = log((λ2 + Δλ)/λ2), the inverse of :func:`delta_from_u`, clipped to [0, U_MAX].

    Parameters
    ----------
    delta_lam : float
        Δλ ∈ [0, ∞]; ∞ (or Δλ > 0 at λ2 = 0) gives U_MAX.
    lam2 : float
        λ2.

    Returns
    -------
    float
        u ∈ [0, U_MAX].

    Examples
    --------
    >>> from replica.strategies import delta_from_u, u_from_delta
    >>> u_from_delta(delta_from_u(1.0, 0.3), 0.3)
    1.0
    """
    if math.isinf(delta_lam) or (lam2 == 0 and delta_lam > 0):
        return U_MAX
    return min(math.log1p(delta_lam / lam2), U_MAX) if delta_lam > 0 else 0.0


@dataclass(frozen=True)
class Family:
    """A strategy: a box of optimizer coordinates and the maps to and from hyperparameters.

    Parameters
    ----------
    name : str
        The strategy's name.
    names : tuple of str
        Coordinate names, among ``"log_lam1"``, ``"log_lam2"``, ``"kappa"``, ``"u"``.
    bounds : tuple of (float, float)
        The box, one (low, high) per coordinate.
    to_hyperparameters : callable
        Coordinates x → :class:`~replica.Hyperparameters` of the family.
    project : callable
        Any Hyperparameters → the nearest coordinates of this family (used to seed it from another
        strategy's optimum).
    objective : str, default "eps2"
        The :class:`~replica.Prediction` attribute it minimizes: ``"eps2"`` (ε^(2nd)) for every
        strategy but ``pretrained`` (``"eps1"``).
    transfers : str, default ""
        What passes from stage 1 to stage 2, in words (for people: tables and ``repr``).
    free : tuple of str, default ()
        The free hyperparameters in the theory's notation; empty: read off ``names`` (log λ1 → λ1,
        log λ2 → λ2, κ → κ, u → Δλ).

    Examples
    --------
    >>> from replica.strategies import STRATEGIES
    >>> fam = STRATEGIES["value"]
    >>> fam.names
    ('log_lam1', 'log_lam2', 'kappa')
    >>> fam.to_hyperparameters(fam.clip([0.0, -1.0, 5.0]))  # κ clipped to its bound 3
    Hyperparameters(lam1=1.0, lam2=0.36787944117144233, kappa=3.0, delta_lam=0.0)
    >>> fam
    Family('value', transfers='values: offset κ·x1 (Δλ = 0)', free=('λ1', 'λ2', 'κ'))
    """

    name: str
    names: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...]
    to_hyperparameters: Callable[[np.ndarray], Hyperparameters]
    project: Callable[[Hyperparameters], np.ndarray]
    objective: str = "eps2"
    transfers: str = ""
    free: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.free:
            object.__setattr__(self, "free", tuple(_HYPERPARAMETER[name] for name in self.names))

    def __repr__(self) -> str:
        return f"Family({self.name!r}, transfers={self.transfers!r}, free={self.free!r})"

    def clip(self, x) -> np.ndarray:
        """``x`` clipped to the box."""
        lo, hi = np.array(self.bounds).T
        return np.clip(np.asarray(x, float), lo, hi)

    def random(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` points uniform in the box of coordinates (log-uniform in the penalties)."""
        lo, hi = np.array(self.bounds).T
        return lo + (hi - lo) * rng.random((n, len(self.names)))


# the hyperparameter each optimizer coordinate sets
_HYPERPARAMETER = {"log_lam1": "λ1", "log_lam2": "λ2", "kappa": "κ", "u": "Δλ"}


class StrategyRegistry(dict):
    """The strategies by name: a ``dict`` of :class:`Family` that prints as a table.

    One line per strategy: its name, what it transfers from stage 1 to stage 2, and its free
    hyperparameters. Everything else is a plain ``dict``.
    """

    def __repr__(self) -> str:
        rows = [("strategy", "transfers", "free")]
        rows += [(name, fam.transfers, ", ".join(fam.free)) for name, fam in self.items()]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        rule = "  ".join("=" * w for w in widths)
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
        return "\n".join([rule, lines[0], rule, *lines[1:], rule])

    __str__ = __repr__


def _log(lam: float) -> float:
    return math.log(max(lam, math.exp(LOG_LAM_BOUNDS[0])))


def _full(x):
    lam2 = math.exp(x[1])
    return Hyperparameters(math.exp(x[0]), lam2, x[2], delta_from_u(x[3], lam2))


def _value(x):
    return Hyperparameters(math.exp(x[0]), math.exp(x[1]), x[2], 0.0)


def _support(x):
    lam2 = math.exp(x[1])
    return Hyperparameters(math.exp(x[0]), lam2, 0.0, delta_from_u(x[2], lam2))


def _trans_lasso(x):
    return Hyperparameters(math.exp(x[0]), math.exp(x[1]), 1.0, 0.0)


def _pretraining_lasso(x):
    # a = e^(−u) stays > 0 at u = U_MAX: Pretraining Lasso never reaches Δλ = ∞
    lam2, u = math.exp(x[1]), float(x[2])
    return Hyperparameters(math.exp(x[0]), lam2, -math.expm1(-u), lam2 * math.expm1(u))


def _target_only(x):
    lam = math.exp(x[0])
    return Hyperparameters(lam, lam, 0.0, 0.0)


def _pretrained(x):
    # stage 2 is not used; κ = 1, Δλ = ∞ is the member of the family closest to x1 alone
    lam = math.exp(x[0])
    return Hyperparameters(lam, lam, 1.0, math.inf)


def _trans_lasso_lam1(hp: Hyperparameters) -> float:
    """log λ1 of the Trans-Lasso point nearest to ``hp``: a target-only Lasso (κ = 0, Δλ = 0) is
    Trans-Lasso with λ1 → ∞ (x1 = 0), so it maps to the largest λ1."""
    return _L[1] if hp.kappa == 0 and hp.delta_lam == 0 else _log(hp.lam1)


def _mixing(hp: Hyperparameters) -> float:
    """Pretraining-Lasso u = −log a closest to (κ, Δλ): a → 0 if κ ≥ 1 (e.g. Trans-Lasso),
    a = 1 − κ if Δλ = 0, else from Δλ = λ2 (1/a − 1)."""
    if hp.kappa >= 1.0:
        return U_MAX
    if hp.delta_lam == 0:
        return -math.log1p(-max(hp.kappa, 0.0))
    return u_from_delta(hp.delta_lam, hp.lam2)


_L = LOG_LAM_BOUNDS
_U = (0.0, U_MAX)
STRATEGIES: dict[str, Family] = StrategyRegistry(
    (f.name, f)
    for f in (
        Family(
            "full",
            ("log_lam1", "log_lam2", "kappa", "u"),
            (_L, _L, KAPPA_BOUNDS, _U),
            _full,
            lambda hp: np.array([_log(hp.lam1), _log(hp.lam2), hp.kappa, u_from_delta(hp.delta_lam, hp.lam2)]),
            transfers="values and support: offset κ·x1, extra penalty Δλ off supp x1",
        ),
        Family(
            "value",
            ("log_lam1", "log_lam2", "kappa"),
            (_L, _L, KAPPA_BOUNDS),
            _value,
            lambda hp: np.array([_log(hp.lam1), _log(hp.lam2), hp.kappa]),
            transfers="values: offset κ·x1 (Δλ = 0)",
        ),
        Family(
            "support",
            ("log_lam1", "log_lam2", "u"),
            (_L, _L, _U),
            _support,
            lambda hp: np.array([_log(hp.lam1), _log(hp.lam2), u_from_delta(hp.delta_lam, hp.lam2)]),
            transfers="support: extra penalty Δλ off supp x1 (κ = 0)",
        ),
        Family(
            "trans_lasso",
            ("log_lam1", "log_lam2"),
            (_L, _L),
            _trans_lasso,
            lambda hp: np.array([_trans_lasso_lam1(hp), _log(hp.lam2)]),
            transfers="values, all of them: offset x1 (κ = 1, Δλ = 0)",
        ),
        Family(
            "pretraining_lasso",
            ("log_lam1", "log_lam2", "u"),
            (_L, _L, _U),
            _pretraining_lasso,
            lambda hp: np.array([_log(hp.lam1), _log(hp.lam2), _mixing(hp)]),
            transfers="both, tied: κ = 1 − a, Δλ = λ2 (1/a − 1), a ∈ (0, 1]",
            free=("λ1", "λ2", "a"),
        ),
        Family(
            "target_only",
            ("log_lam2",),
            (_L,),
            _target_only,
            lambda hp: np.array([_log(hp.lam2)]),
            transfers="nothing: a Lasso on the target alone (κ = 0, Δλ = 0)",
        ),
        Family(
            "pretrained",
            ("log_lam1",),
            (_L,),
            _pretrained,
            lambda hp: np.array([_log(hp.lam1)]),
            objective="eps1",
            transfers="everything: x1 is the estimate (no stage 2; minimizes ε^(1st))",
        ),
    )
)
"""Every strategy by name; ``print(STRATEGIES)`` shows what each transfers and its free hyperparameters."""


STRATEGY_NAMES: tuple[str, ...] = tuple(STRATEGIES)
"""The strategy names, in the order of the table above."""

# Direct sub-families: a result of a contained strategy is a valid point of the container.
CONTAINS: dict[str, tuple[str, ...]] = {
    "full": ("value", "support", "pretraining_lasso"),
    "value": ("trans_lasso", "target_only"),
    "support": ("target_only",),
    "pretraining_lasso": ("target_only",),
    "trans_lasso": (),
    "target_only": (),
    "pretrained": (),
}


# Contained strategies first, so each optimum can seed its containers (full ≤ value, support, ...);
# pretrained first of all: its λ1 is an extra start for every strategy (see replica.optimize).
NESTED_ORDER: tuple[str, ...] = (
    "pretrained",
    "target_only",
    "trans_lasso",
    "value",
    "support",
    "pretraining_lasso",
    "full",
)


def contained(container: str, strategy: str) -> bool:
    """Whether ``strategy``'s family is a subset of ``container``'s (reflexive, transitive closure of :data:`CONTAINS`).

    Parameters
    ----------
    container, strategy : str
        Strategy names.

    Returns
    -------
    bool

    Examples
    --------
    >>> contained("full", "trans_lasso"), contained("support", "value")
    (True, False)
    """
    return strategy == container or any(contained(sub, strategy) for sub in CONTAINS.get(container, ()))


def strategies_containing(kappa: float, u: float) -> frozenset[str]:
    """The strategies whose family holds the stage-2 transfer mode (κ, u), u = log((λ2 + Δλ)/λ2).

    Any (λ1, λ2) goes with the mode, so ``pretrained`` (x1 alone) is never included.

    Parameters
    ----------
    kappa : float
        κ.
    u : float
        u = log((λ2 + Δλ)/λ2) ≥ 0; ∞ is Δλ = ∞.

    Returns
    -------
    frozenset of str

    Examples
    --------
    >>> sorted(strategies_containing(0.0, 0.0))
    ['full', 'pretraining_lasso', 'support', 'target_only', 'value']
    >>> sorted(strategies_containing(1.0, 0.0))
    ['full', 'trans_lasso', 'value']
    """
    out = {"full"}
    if u == 0:
        out.add("value")
    if kappa == 0:
        out.add("support")
    if kappa == 1 and u == 0:
        out.add("trans_lasso")
    if kappa == 0 and u == 0:
        out.add("target_only")
    # Pretraining Lasso: κ = 1 − a, Δλ = λ2 (1/a − 1), i.e. κ = 1 − e^(−u) with a > 0
    if math.isfinite(u) and abs(kappa + math.expm1(-u)) < 1e-9:
        out.add("pretraining_lasso")
    return frozenset(out)


def fixed_transfer(kappa: float, delta_lam: float) -> Family:
    """The family of (λ1, λ2) alone at fixed κ and Δλ: the inner problem of a (κ, Δλ) landscape.

    Parameters
    ----------
    kappa : float
        κ.
    delta_lam : float
        Δλ ∈ [0, ∞].

    Returns
    -------
    Family
        Coordinates (log λ1, log λ2); objective ε^(2nd).

    Examples
    --------
    >>> from replica.strategies import fixed_transfer
    >>> fam = fixed_transfer(0.5, 1.0)
    >>> fam.name, fam.to_hyperparameters([0.0, 0.0]).kappa
    ('fixed(kappa=0.5, delta_lam=1)', 0.5)
    """
    return Family(
        f"fixed(kappa={kappa:g}, delta_lam={delta_lam:g})",
        ("log_lam1", "log_lam2"),
        (_L, _L),
        lambda x: Hyperparameters(math.exp(x[0]), math.exp(x[1]), kappa, delta_lam),
        lambda hp: np.array([_log(hp.lam1), _log(hp.lam2)]),
        transfers=f"fixed: κ = {kappa:g}, Δλ = {delta_lam:g}",
    )


def fixed_lam1(fam: Family, lam1: float) -> Family:
    """``fam`` at a fixed λ1: its other coordinates only (stage 1 is solved once and reused along the search).

    Parameters
    ----------
    fam : Family
        A strategy's family.
    lam1 : float
        λ1 > 0.

    Returns
    -------
    Family
        ``fam`` without the coordinate log λ1; ``fam`` itself if it has none (``target_only``, whose λ1 is
        λ2's).

    Examples
    --------
    >>> from replica.strategies import family, fixed_lam1
    >>> fam = fixed_lam1(family("value"), 0.5)
    >>> fam.names, fam.to_hyperparameters([0.0, 1.0]).lam1
    (('log_lam2', 'kappa'), 0.5)
    """
    if "log_lam1" not in fam.names:
        return fam
    if not lam1 > 0:
        raise ValueError(f"lam1 must be > 0, got {lam1!r}")
    j = fam.names.index("log_lam1")
    keep = [i for i in range(len(fam.names)) if i != j]
    log_lam1 = math.log(lam1)
    return Family(
        f"{fam.name}(lam1={lam1:g})",
        tuple(fam.names[i] for i in keep),
        tuple(fam.bounds[i] for i in keep),
        lambda x: fam.to_hyperparameters(np.insert(np.asarray(x, float), j, log_lam1)),
        lambda hp: fam.project(hp)[keep],
        objective=fam.objective,
        transfers=fam.transfers,
        free=tuple(f for f in fam.free if f != "λ1"),
    )


def family(strategy: str) -> Family:
    """The :class:`Family` of a strategy name.

    Parameters
    ----------
    strategy : str
        A key of :data:`STRATEGIES`.

    Returns
    -------
    Family

    Raises
    ------
    ValueError
        For an unknown name, listing the valid ones.

    Examples
    --------
    >>> from replica.strategies import family
    >>> family("support").names
    ('log_lam1', 'log_lam2', 'u')
    >>> family("lasso")
    Traceback (most recent call last):
    ...
    ValueError: unknown strategy 'lasso'; expected one of ['full', 'pretrained', 'pretraining_lasso', 'support', 'target_only', 'trans_lasso', 'value']
    """
    try:
        return STRATEGIES[strategy]
    except (KeyError, TypeError):
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {sorted(STRATEGIES)}") from None


if __doc__:  # the table of strategies, made from the registry (absent under python -OO)
    __doc__ += repr(STRATEGIES) + "\n"
