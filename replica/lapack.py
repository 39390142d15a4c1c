"""LAPACK's ``dgesv`` for the compiled kernels: numba's ``np.linalg.solve``, without its compile time.

numba's ``np.linalg.solve`` and ``np.linalg.det`` call ``scipy.linalg.cython_lapack``'s ``dgesv`` and
``dgetrf``, but compile formatted shape errors with them: about 3 s on first use, in every process
that finds numba's cache empty (benchmarks/test_suite_time.md). :func:`lu_solve` calls the same
``dgesv``, so its solution is bit for bit numba's, and its determinant is the one numba's
``np.linalg.slogdet`` computes from the same LU factors.

The routine's address reaches a kernel as an integer argument (pass :data:`GESV`): numba does not
cache a kernel that holds a ctypes pointer as a global or a default value, and a ctypes argument
costs a microsecond per call to type.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import get_cython_function_address, intrinsic

__all__ = ["GESV", "lu_solve"]

GESV = get_cython_function_address("scipy.linalg.cython_lapack", "dgesv")


@intrinsic
def _call_gesv(typingctx, address, n, nrhs, a, lda, ipiv, b, ldb, info):
    """Call the ``dgesv`` at ``address`` (an integer) with its eight pointer arguments."""
    sig = types.void(types.intp, *([types.voidptr] * 8))

    def codegen(context, builder, signature, args):
        fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()] * 8)
        builder.call(builder.inttoptr(args[0], fnty.as_pointer()), args[1:])
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True)
def lu_solve(A, b, gesv):
    """Solve A x = b for a square float64 ``A`` by LU with partial pivoting (LAPACK ``dgesv``).

    Parameters
    ----------
    A : (n, n) float64 array, not modified
    b : (n,) float64 array, not modified
    gesv : int
        The address :data:`GESV`.

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
    n_, nrhs, lda, ldb, info = ints[0:].ctypes, ints[1:].ctypes, ints[2:].ctypes, ints[3:].ctypes, ints[4:].ctypes
    _call_gesv(gesv, n_, nrhs, lu.ctypes, lda, pivots.ctypes, x.ctypes, ldb, info)
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
