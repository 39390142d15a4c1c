"""replica.lapack: the kernels' LAPACK solve agrees with numpy's and leaves its inputs alone."""

import math

import numpy as np
import pytest

from replica.lapack import GESV, lu_solve


@pytest.mark.parametrize("n", [1, 2, 4, 7])
def test_lu_solve_is_numpys_solve_and_slogdet(n):
    rng = np.random.default_rng(n)
    A, b = rng.standard_normal((n, n)), rng.standard_normal(n)
    A_in, b_in = A.copy(), b.copy()
    x, sign, logdet = lu_solve(A, b, GESV)
    assert np.allclose(A @ x, b, rtol=0, atol=1e-12 * np.abs(A).sum())
    want_sign, want_logdet = np.linalg.slogdet(A)
    assert sign == want_sign and logdet == pytest.approx(want_logdet, abs=1e-12)
    assert np.array_equal(A, A_in) and np.array_equal(b, b_in)


def test_lu_solve_reports_an_exactly_singular_matrix():
    _, sign, logdet = lu_solve(np.array([[1.0, 2.0], [2.0, 4.0]]), np.ones(2), GESV)
    assert sign == 0.0 and logdet == -math.inf
