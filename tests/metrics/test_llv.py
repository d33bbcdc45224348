"""d_LLV and d_SVD (arXiv 2506.03784) against float64 NumPy references, invariance and input checks."""

import jax
import numpy as np
import pytest

from repsim_jax.metrics import llv_distance, llv_distance_details, sample_input_sets, svd_dissimilarity
from repsim_jax.testing import bounds_reference as reference
from tests.bounds.conftest import random_pair


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_llv_and_svd_match_references(rng):
    f1, g1, f2, g2 = random_pair(rng, 60, 7, 2, 2, noise=0.4)
    sets = np.asarray(sample_input_sets(jax.random.key(0), 60, 2, 8))
    pivots, subsets = np.array([0, 3]), np.array([[[1, 2], [4, 6]], [[0, 5], [1, 2]]])
    labels = np.array([0, 1, 2, 4, 5, 6])
    with jax.enable_x64(True):
        ours = llv_distance_details(f1 @ g1.T, f2 @ g2.T, labels=labels, input_sets=sets, weight=0.5)
        svd = svd_dissimilarity(f1, g1, f2, g2, pivots, subsets, sets)
    value, t1, t2 = reference.llv(f1 @ g1.T, f2 @ g2.T, labels, sets, 0.5)
    np.testing.assert_allclose([ours.value, ours.label_term, ours.input_term], [value, t1, t2], rtol=1e-9)
    np.testing.assert_allclose(svd, reference.svd_dissimilarity(f1, g1, f2, g2, pivots, subsets, sets), rtol=1e-9)


def test_llv_and_svd_vanish_in_one_identifiability_class(rng):
    f1, g1, _, _ = random_pair(rng, 50, 6, 2, 2)
    a = np.array([[2.0, 1.0], [0.5, -1.0]])
    f2, g2 = f1 @ a.T, g1 @ np.linalg.inv(a) + 0.7  # f -> A f, g -> A^-T g + shared shift
    sets = sample_input_sets(jax.random.key(0), 50, 2, 5)
    with jax.enable_x64(True):
        assert float(llv_distance(f1 @ g1.T, f2 @ g2.T, 2)) < 1e-10
        assert abs(float(svd_dissimilarity(f1, g1, f2, g2, np.array([0]), np.array([[[1, 2]]]), sets))) < 1e-10


def test_llv_rejects_bad_input(rng):
    z = rng.normal(size=(20, 5))
    with pytest.raises(ValueError, match="pass dim"):
        llv_distance(z, z)
    with pytest.raises(ValueError, match="not in the label set"):
        llv_distance(z, z, 2, labels=[0, 1, 2], label_pivot=4)
    with pytest.raises(ValueError, match="zero variance"):
        llv_distance(np.zeros((20, 5)), z, 2)


@pytest.mark.slow
def test_llv_defaults_apply_without_validation(rng):
    # validate=False skips the checks, not the defaults: all labels and 100 input sets from `seed`.
    f1, g1, f2, g2 = random_pair(rng, 40, 5, 2, 2, noise=0.5)
    z1, z2 = f1 @ g1.T, f2 @ g2.T
    sets = np.asarray(sample_input_sets(jax.random.key(3), 40, 2, 100))
    want, _, _ = reference.llv(z1, z2, np.arange(5), sets, 1e-5)
    with jax.enable_x64(True):
        unchecked = llv_distance(z1, z2, 2, seed=3, validate=False)
        jitted = jax.jit(lambda a, b: llv_distance(a, b, 2, seed=3, validate=False))(z1, z2)
    np.testing.assert_allclose([unchecked, jitted], [want, want], rtol=1e-9)
