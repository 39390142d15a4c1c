"""Summary statistics over seeds and subsamples, shared by the experiments and the benchmarks."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["mean_se"]


def mean_se(values) -> tuple[float, float]:
    """Mean of the finite values and its standard error, std (ddof 1) / √n.

    Parameters
    ----------
    values : array_like
        One number per seed or subsample; NaN and ±inf mark runs that measured nothing (left out).

    Returns
    -------
    mean, se : float
        NaN and NaN without a finite value; the SE is NaN with one.

    Examples
    --------
    >>> mean_se([1.0, 2.0, 3.0, float("nan")])
    (2.0, 0.5773502691896258)
    """
    x = np.asarray(values, float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return math.nan, math.nan
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size)) if x.size > 1 else math.nan
