"""The two-stage problem of THEORY.md §2, stated once: its data, its units and its stage-2 inputs.

* :func:`check_transfer_data` validates a target (X, y) and sources [(X_k, y_k), ...];
* :class:`Scaling` maps the user's columns to the theory's convention (design entries of mean
  square 1/N, THEORY.md §1) and the fitted coefficients and penalties back;
* :class:`TransferProblem` holds the scaled data and builds each stage's design (per-dataset
  intercepts are block centring, :mod:`solvers.lasso.centred`);
* :func:`finetune_inputs` is stage 2's weighted Lasso given x1: the offset response y − κ·A x1 and
  the weights λ2 + Δλ·1[x1_i = 0]. The estimators, the CV paths and ALO all call it.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from sklearn.utils.validation import check_X_y, validate_data

from replica import Hyperparameters

from .lasso import Design

__all__ = ["check_transfer_data", "Scaling", "TransferProblem", "finetune_inputs", "check_hyperparameters"]


def check_hyperparameters(lam1, lam2, kappa, delta_lam) -> Hyperparameters:
    """The estimators' (λ1, λ2, κ, Δλ) as :class:`replica.Hyperparameters`, or a ValueError naming the bad one.

    Numbers only (no strings, no booleans); λ1, λ2 ≥ 0 finite; κ ≥ 0 finite (κ scales the transferred
    values; a source whose values are the negatives of the target's is not a transfer this estimator
    makes); Δλ ∈ [0, ∞].

    Parameters
    ----------
    lam1, lam2, kappa, delta_lam : float
        The hyperparameters of THEORY.md §2.

    Returns
    -------
    replica.Hyperparameters

    Examples
    --------
    >>> check_hyperparameters(0.5, 0.1, 1.0, 0.0).as_dict()
    {'lam1': 0.5, 'lam2': 0.1, 'kappa': 1.0, 'delta_lam': 0.0}
    >>> check_hyperparameters("0.5", 0.1, 1.0, 0.0)
    Traceback (most recent call last):
    ...
    ValueError: lam1 must be a number, got '0.5' (str)
    """
    values = {"lam1": lam1, "lam2": lam2, "kappa": kappa, "delta_lam": delta_lam}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if kappa < 0:
        raise ValueError(f"kappa must be >= 0 (the share of the pretrained values kept), got {kappa}")
    return Hyperparameters(float(lam1), float(lam2), float(kappa), float(delta_lam))


def check_transfer_data(estimator, X, y, sources, *, reset: bool = True):
    """Validate the target (X, y) and ``sources`` = [(X_k, y_k), ...]; ValueError naming the problem.

    Parameters
    ----------
    estimator : scikit-learn estimator or None
        X and y go through its ``validate_data`` (which sets ``n_features_in_`` when ``reset``), or
        through ``check_X_y`` when None.
    X : array-like or scipy.sparse matrix of shape (n, N)
        Target design.
    y : array-like of shape (n,)
        Target response.
    sources : sequence of (X_k, y_k) pairs or None
        Each an (X, y) pair of finite values with the target's N columns.
    reset : bool, default True
        Passed to ``validate_data``.

    Returns
    -------
    X, y, sources
        Float64 arrays (sparse stays sparse, with 32-bit indices where they fit) and a list of pairs.

    Examples
    --------
    >>> import numpy as np
    >>> X, y, src = check_transfer_data(None, np.ones((3, 2)), np.zeros(3), [(np.ones((4, 2)), np.zeros(4))])
    >>> X.shape, len(src)
    ((3, 2), 1)
    >>> check_transfer_data(None, np.ones((3, 2)), np.zeros(3), [(np.ones((4, 3)), np.zeros(4))])
    Traceback (most recent call last):
    ...
    ValueError: source 0 has 3 features, the target has 2
    """
    kw = dict(accept_sparse=("csr", "csc"), dtype=np.float64, y_numeric=True)
    if estimator is None:
        X, y = check_X_y(X, y, **kw)
    else:
        X, y = validate_data(estimator, X, y, reset=reset, **kw)
    X = _small_indices(X)
    if sources is None:
        sources = ()
    if isinstance(sources, tuple) and len(sources) == 2 and not isinstance(sources[0], (tuple, list)):
        raise ValueError("sources must be a list of (X, y) pairs, e.g. sources=[(X_source, y_source)]")
    checked = []
    for k, pair in enumerate(sources):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"source {k} must be an (X, y) pair")
        Xk, yk = pair
        if getattr(yk, "ndim", 1) != 1 and np.ndim(yk) != 1:
            raise ValueError(f"source {k}: y must be 1-D, got shape {np.shape(yk)}")
        try:
            Xk, yk = check_X_y(Xk, yk, **kw)
        except ValueError as exc:
            raise ValueError(f"source {k}: {exc}") from None
        if Xk.shape[1] != X.shape[1]:
            raise ValueError(f"source {k} has {Xk.shape[1]} features, the target has {X.shape[1]}")
        checked.append((_small_indices(Xk), yk))
    return X, y, checked


def _small_indices(X):
    """Sparse X with 32-bit indices (the solvers' kernels take those) when its size allows."""
    if sparse.issparse(X) and X.indices.dtype != np.int32 and X.nnz < 2**31 and max(X.shape) < 2**31:
        X = X.copy()
        X.indices = X.indices.astype(np.int32)
        X.indptr = X.indptr.astype(np.int32)
    return X


@dataclass(frozen=True)
class Scaling:
    """Column divisors taking the user's design to the theory's convention (THEORY.md §1).

    ``standardize=True``: every column of the pooled training data (centred within each dataset
    when there are intercepts) gets mean square 1/N. ``False``: one common factor, so that the
    mean squared row norm is 1 and the user's relative column scales are kept.

    Attributes
    ----------
    divisors : ndarray of shape (N,)
        Theory-unit column = user column / divisor.

    Examples
    --------
    >>> import numpy as np
    >>> s = Scaling.fit([np.array([[1.0, 2.0], [-1.0, -2.0]])], fit_intercept=True, standardize=True)
    >>> np.round(s.apply(np.array([[1.0, 2.0]])) ** 2, 12).tolist()  # mean square 1/N = 1/2 per column
    [[0.5, 0.5]]
    """

    divisors: np.ndarray

    @classmethod
    def fit(cls, blocks, fit_intercept: bool, standardize: bool) -> Scaling:
        """The scaling of the pooled ``blocks`` (target and sources), each centred if ``fit_intercept``.

        Parameters
        ----------
        blocks : list of (M_k, N) arrays or sparse matrices
            The datasets.
        fit_intercept : bool
            Centre each block before measuring its columns.
        standardize : bool
            Per-column divisors, else one common factor.

        Returns
        -------
        Scaling
        """
        N = blocks[0].shape[1]
        rows = sum(b.shape[0] for b in blocks)
        ms = np.zeros(N)
        for b in blocks:
            sq = np.asarray(b.multiply(b).sum(axis=0) if sparse.issparse(b) else (b * b).sum(axis=0)).ravel()
            if fit_intercept:
                sq = sq - np.asarray(b.mean(axis=0)).ravel() ** 2 * b.shape[0]
            ms += np.maximum(sq, 0.0)
        ms /= rows
        if standardize:
            div = np.sqrt(ms * N)
            div[div <= 1e-12 * max(div.max(), 1e-300)] = 1.0  # constant columns: left as they are
        else:
            total = math.sqrt(ms.sum())
            if total == 0:
                raise ValueError("X is constant: every column has zero variance")
            div = np.full(N, total)
        return cls(div)

    def apply(self, A):
        """A design in theory units (sparse stays sparse).

        Parameters
        ----------
        A : (M, N) array or sparse matrix
            A design in the user's units.

        Returns
        -------
        The scaled design.
        """
        if sparse.issparse(A):
            return sparse.csr_matrix(A @ sparse.diags(1.0 / self.divisors))
        return np.asarray(A) / self.divisors

    def coef_to_user(self, coef: np.ndarray) -> np.ndarray:
        """Coefficients of the scaled design in the user's units.

        Parameters
        ----------
        coef : ndarray of shape (N,)
            Coefficients in theory units.

        Returns
        -------
        ndarray of shape (N,)
        """
        return coef / self.divisors


@dataclass
class TransferProblem:
    """Target (A, y) and sources [(A_k, y_k)] in theory units (after :class:`Scaling`).

    Attributes
    ----------
    A : (n, N) array or sparse matrix
        Target design.
    y : ndarray of shape (n,)
        Target response.
    sources : list of (A_k, y_k)
        Source datasets.
    fit_intercept : bool
        Every dataset has its own free intercept.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> problem, scaling = TransferProblem.scaled(rng.standard_normal((5, 3)), np.ones(5), [], True, True)
    >>> design, y_c, y_mean = problem.target_design()
    >>> design.shape, float(y_mean), bool(np.allclose(y_c, 0))
    ((5, 3), 1.0, True)
    """

    A: object
    y: np.ndarray
    sources: list
    fit_intercept: bool
    _designs: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def scaled(cls, X, y, sources, fit_intercept: bool, standardize: bool) -> tuple[TransferProblem, Scaling]:
        """The problem of user-unit data mapped to theory units, and the :class:`Scaling` fitted on
        the target and sources together.

        Parameters
        ----------
        X, y, sources
            Checked data (:func:`check_transfer_data`).
        fit_intercept, standardize : bool
            As in :meth:`Scaling.fit`.

        Returns
        -------
        problem : TransferProblem
        scaling : Scaling
        """
        scaling = Scaling.fit([X] + [Xk for Xk, _ in sources], fit_intercept, standardize)
        # sources are only ever stacked into stage-1 designs (column-wise kernels): CSC once, not per fold
        sources = [(sparse.csc_matrix(scaling.apply(Xk)), yk) for Xk, yk in sources]
        return cls(scaling.apply(X), y, sources, fit_intercept), scaling

    @property
    def n_features(self) -> int:
        """N."""
        return self.A.shape[1]

    def pretrain_design(self, rows=None, pretrain_on_target: bool = True):
        """Stage-1 design and centred response: sources, plus the target rows ``rows`` (None: all).

        Parameters
        ----------
        rows : index array, optional
            Target rows pooled into stage 1.
        pretrain_on_target : bool, default True
            Pool target rows at all.

        Returns
        -------
        design : solvers.lasso.Design
        y_c : ndarray
            Response centred per dataset.
        """
        if rows is None and ("pretrain", pretrain_on_target) in self._designs:
            return self._designs["pretrain", pretrain_on_target]
        blocks = [A for A, _ in self.sources]
        ys = [y for _, y in self.sources]
        if pretrain_on_target:
            blocks.append(self.A if rows is None else self.A[rows])
            ys.append(self.y if rows is None else self.y[rows])
        if not blocks:
            raise ValueError("no pretraining data: pretrain_on_target=False and no sources")
        design = Design(blocks, self.fit_intercept)
        out = design, design.center(np.concatenate(ys))[0]
        if rows is None:  # the whole problem's designs are asked for again (estimates, refit): kept
            self._designs["pretrain", pretrain_on_target] = out
        return out

    def target_design(self, rows=None):
        """Stage-2 design, centred response and the response mean on the target rows ``rows``.

        Parameters
        ----------
        rows : index array, optional
            Target rows (None: all).

        Returns
        -------
        design : solvers.lasso.Design
        y_c : ndarray
            Centred response.
        y_mean : float
            Its mean (0.0 without intercepts).
        """
        if rows is None and "target" in self._designs:
            return self._designs["target"]
        A = self.A if rows is None else self.A[rows]
        y = self.y if rows is None else self.y[rows]
        design = Design([A], self.fit_intercept)
        y_c, means = design.center(y)
        out = design, y_c, float(means[0])
        if rows is None:
            self._designs["target"] = out
        return out

    def with_sources(self, keep) -> TransferProblem:
        """The same target with only the sources ``keep`` (indices), in the same units.

        Parameters
        ----------
        keep : sequence of int
            Indices into ``sources``.

        Returns
        -------
        TransferProblem
        """
        return TransferProblem(self.A, self.y, [self.sources[k] for k in keep], self.fit_intercept)


def finetune_inputs(y, pretrained, x1, kappa: float, lam2: float, delta_lam: float):
    """Stage 2's weighted Lasso given x1 (THEORY.md §2): response y − κ·A x1 and weights λ2 + Δλ·1[x1_i = 0].

    Parameters
    ----------
    y : ndarray of shape (n,)
        Target response (centred if the design is).
    pretrained : ndarray of shape (n,)
        The pretrained prediction A x1 on the same rows (only read when κ ≠ 0).
    x1 : ndarray of shape (N,)
        The pretrained coefficients; their zeros get the extra penalty.
    kappa, lam2, delta_lam : float
        κ, λ2 and Δλ (∞ allowed: x2 = 0 off supp x1). With ``lam2 = 1`` and ``delta_lam = f − 1`` the
        weights are the unit weights of a λ2 path at the fixed ratio f = (λ2 + Δλ)/λ2.

    Returns
    -------
    response : ndarray of shape (n,)
    weights : ndarray of shape (N,)

    Examples
    --------
    >>> import numpy as np
    >>> z, w = finetune_inputs(np.array([1.0, 2.0]), np.array([0.5, 0.5]), np.array([0.3, 0.0]), 2.0, 0.1, np.inf)
    >>> z.tolist(), w.tolist()
    ([0.0, 1.0], [0.1, inf])
    """
    response = np.asarray(y, dtype=np.float64) - kappa * np.asarray(pretrained) if kappa != 0 else y
    weights = np.where(np.asarray(x1) == 0, lam2 + delta_lam, lam2)
    return response, weights
