"""Shared linear-algebra building blocks against float64 NumPy."""

import jax
import numpy as np
import pytest

from repsim_jax.metrics._linalg import upper_triangular_inverse


@pytest.mark.parametrize("size", [1, 3, 4, 7, 13, 25])
@pytest.mark.parametrize("block", [1, 4, 8])
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
