"""LAPACK's ``dgesv`` for the compiled kernels: numba's ``np.linalg.solve``, without its compile time.

numba's ``np.linalg.solve`` and ``np.linalg.det`` call ``scipy.linalg.cython_lapack``'s ``dgesv`` and
``dgetrf``, but compile formatted shape errors with them: about 3 s on first use, in every process
that finds numba's cache empty (benchmarks/test_suite_time.md). :func:`solve` calls the same ``dgesv``
through a ctypes pointer, so the solution of :func:`lu_solve` is bit for bit numba's, and its determinant is the one
numba's ``np.linalg.slogdet`` computes from the same LU factors.

The pointer reaches a kernel as an argument (pass :data:`GESV`): numba does not cache a kernel that
holds a ctypes pointer as a global or as a default value.
"""

from __future__ import annotations

import ctypes
import math

import numpy as np
from numba import njit
from numba.extending import get_cython_function_address

__all__ = ["GESV", "lu_solve"]

GESV = ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * 8)(
    get_cython_function_address("scipy.linalg.cython_lapack", "dgesv")
)


@njit(cache=True)
def lu_solve(A, b, gesv):
    """Solve A x = b for a square float64 ``A`` by LU with partial pivoting (LAPACK ``dgesv``).

    Parameters
    ----------
    A : (n, n) float64 array, not modified
    b : (n,) float64 array, not modified
    gesv : :data:`GESV`

    Returns
    -------
    x : (n,) array
        The solution; meaningless if ``sign`` is 0.
    sign, logdet : float
        det(A) = sign × exp(logdet), as numba's ``np.linalg.slogdet`` gives them from the same LU
        factors (``np.linalg.det`` is their product): (0, −inf) if a pivot is exactly zero.
    """
    n = b.size
    lu = A.T.copy().T  # Fortran order, as LAPACK reads it
    x = b.copy()
    # n, nrhs, lda, ldb, info: LAPACK takes every integer by reference
    ints = np.array([n, 1, n, n, 0], dtype=np.int32)
    pivots = np.empty(n, dtype=np.int32)
    gesv(
        ints[0:].ctypes,
        ints[1:].ctypes,
        lu.ctypes,
        ints[2:].ctypes,
        pivots.ctypes,
        x.ctypes,
        ints[3:].ctypes,
        ints[4:].ctypes,
    )
    if ints[4] > 0:
        return x, 0.0, -math.inf
    swaps = 0
    for k in range(n):
        swaps += pivots[k] != k + 1
    sign, logdet = (1.0 if swaps % 2 == 0 else -1.0), 0.0
    for k in range(n):
        v = lu[k, k]
        if v < 0.0:
            sign, v = -sign, -v
        logdet += math.log(v)
    return x, sign, logdet
