"""Shared linear-algebra building blocks against float64 NumPy."""

import jax
import numpy as np
import pytest

from repsim_jax.metrics.linalg import thin_qr, upper_triangular_inverse


@pytest.mark.parametrize("size, block", [(1, 4), (3, 1), (7, 4), (13, 8), (25, 4)])
def test_upper_triangular_inverse_matches_numpy(size, block):
    rng = np.random.default_rng(size)
    r = np.triu(rng.normal(size=(3, 2, size, size))) + 2 * np.eye(size)
    with jax.enable_x64(True):
        inverse = np.asarray(upper_triangular_inverse(r, block))
    np.testing.assert_allclose(inverse, np.linalg.inv(r), rtol=1e-10, atol=1e-12)
    assert np.all(np.tril(inverse, -1) == 0)


def test_upper_triangular_inverse_of_a_singular_matrix_is_not_finite():
    r = np.triu(np.ones((6, 6), np.float32))
    r[3, 3] = 0.0
    assert not np.all(np.isfinite(np.asarray(upper_triangular_inverse(r))))


def _singular_spread(rng, n, d, condition):
    """An n × d matrix with singular values spread geometrically over [1, condition]."""
    u = np.linalg.qr(rng.normal(size=(n, d)))[0]
    v = np.linalg.qr(rng.normal(size=(d, d)))[0]
    return (u * np.geomspace(1.0, condition, d)) @ v.T


@pytest.mark.parametrize("condition", [1.0, 1e2, 1e6])
def test_thin_qr_factors_the_columns(condition):
    """Well conditioned: Cholesky-QR2; cond 1e6 in float32 (beyond eps^-1/2): the
    Householder fallback. Either way orthonormal columns spanning x (float64 checks)."""
    rng = np.random.default_rng(int(np.log10(condition)))
    x = np.stack([_singular_spread(rng, 300, 6, condition) for _ in range(2)]).astype(np.float32)
    q, r = (np.asarray(a, np.float64) for a in thin_qr(x))
    eye = np.broadcast_to(np.eye(6), (2, 6, 6))
    np.testing.assert_allclose(np.swapaxes(q, 1, 2) @ q, eye, atol=1e-5)
    np.testing.assert_allclose(q @ r, x, atol=1e-5 * np.abs(x).max())
    assert np.all(np.tril(r, -1) == 0)
