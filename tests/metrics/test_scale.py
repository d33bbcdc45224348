"""Inputs ×1e±30 (float32): distances scale with the inputs, scale-free metrics do not move.

Expected values come from the float64 references on the unscaled arrays times the scale
(distances are homogeneous of degree 1 in the embeddings), or are the unscaled float32
values (m_CCA, CKA, Procrustes, Gram distance and R² are scale-free). Before, float32
squares overflowed or underflowed: d_logit was inf at 1e20 and 0 at 1e-25.
"""

import jax
import numpy as np
import pytest

import repsim_jax.metrics as M
from repsim_jax.errors import InputError
from repsim_jax.metrics.moments import from_data
from repsim_jax.testing import reference as ref

RNG = np.random.default_rng(0)
N, K, D1, D2 = 200, 10, 4, 5
F1 = RNG.standard_normal((N, D1)).astype(np.float32)
F2 = (F1 @ RNG.standard_normal((D1, D2)) + 0.3 * RNG.standard_normal((N, D2))).astype(np.float32)
G1 = RNG.standard_normal((K, D1)).astype(np.float32)
G2 = RNG.standard_normal((K, D2)).astype(np.float32)
PIVOTS, SUBSETS = M.pivot_subsets(K, D1)
SCALES = [1e30, 1e20, 1e-25, 1e-30]


@pytest.mark.parametrize("scale", SCALES)
def test_logit_distance_scales_with_the_logits(scale):
    z1, z2 = F1 @ G1.T, F2 @ G2.T
    s = np.float32(scale)
    value = float(M.logit_distance(z1 * s, z2 * s))
    np.testing.assert_allclose(value, float(s) * ref.logit_distance(z1, z2), rtol=1e-5)


@pytest.mark.parametrize("scale", SCALES)
def test_logit_distance_from_reps_and_moments_scale_with_the_embeddings(scale):
    s = np.float32(scale)
    expected = float(s) * ref.logit_distance_from_reps(F1, G1, F2, G2)
    np.testing.assert_allclose(float(M.logit_distance_from_reps(F1 * s, G1, F2 * s, G2)), expected, rtol=1e-5)
    state = from_data(F1 * s, F2 * s)
    np.testing.assert_allclose(float(M.logit_distance_from_moments(state, G1, G2)), expected, rtol=1e-4)


@pytest.mark.parametrize("scale", SCALES)
def test_rep_dissimilarity_scales_with_the_embeddings(scale):
    s = np.float32(scale)
    expected = float(s) * ref.rep_dissimilarity(F1, G1, F2, G2, np.asarray(PIVOTS), np.asarray(SUBSETS))
    value = float(M.rep_dissimilarity(F1 * s, G1, F2 * s, G2, PIVOTS, SUBSETS))
    np.testing.assert_allclose(value, expected, rtol=1e-4)
    # from moments: the value is right; the per-subset errors (≈ s² ≥ 1e40) only fit float32 at 1e±15
    state = from_data(F1 * s, F2 * s)
    details = M.rep_dissimilarity_from_moments(state, G1, G2, PIVOTS, SUBSETS, validate=False)
    np.testing.assert_allclose(float(details.value), expected, rtol=1e-3)


@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_squared_distances_outside_float32_raise(scale):
    """d² ≈ 1e±60 is not a float32 number: one clear error, not inf or 0."""
    s = np.float32(scale)
    with pytest.raises(InputError, match=r"logit_distance \(squared\) is about 1e[+-][56]\d.*outside the float32"):
        M.logit_distance(F1 @ G1.T * s, F2 @ G2.T * s, squared=True)
    with pytest.raises(InputError, match="rep_dissimilarity \\(squared\\) is about 1e"):
        M.rep_dissimilarity(F1 * s, G1, F2 * s, G2, PIVOTS, SUBSETS, squared=True)
    with pytest.raises(InputError, match="per-subset errors"):
        M.rep_dissimilarity_details(F1 * s, G1, F2 * s, G2, PIVOTS, SUBSETS)


SCALE_FREE = {
    "mean_cca": lambda x, y: M.mean_cca(x, y),
    "mean_cca_rank_tol": lambda x, y: M.mean_cca(x, y, rank_tol=1e-5),
    "linear_cka": lambda x, y: M.linear_cka(x, y),
    "linear_cka_debiased": lambda x, y: M.linear_cka(x, y, debiased=True),
    "procrustes_distance": lambda x, y: M.procrustes_distance(x, y),
    "gram_distance": lambda x, y: M.gram_distance(x, y),
    "affine_map_r2": lambda x, y: M.affine_map(x, y).r2,
    "pairwise_mean_cca": lambda x, y: M.pairwise("mean_cca", np.stack([x, y[:, :D1]]))[0, 1],
    "cca_from_moments": lambda x, y: M.mean_cca_from_moments(from_data(x, y)),
    "cka_from_moments": lambda x, y: M.linear_cka_from_moments(from_data(x, y)),
    "procrustes_from_moments": lambda x, y: M.procrustes_distance_from_moments(from_data(x, y)),
}


@pytest.mark.parametrize("scale", [1e30, 1e-30])
@pytest.mark.parametrize("name", sorted(SCALE_FREE))
def test_scale_free_metrics_do_not_move(name, scale):
    metric = SCALE_FREE[name]
    s = np.float32(scale)
    np.testing.assert_allclose(float(metric(F1 * s, F2 * s)), float(metric(F1, F2)), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_llv_and_svd_dissimilarity_at_extreme_scales(scale):
    """d_SVD is scale-free (its standard deviations are taken scale-safely). d_LLV reads
    log-softmax outputs: finite for logits ×1e30; for logits ×1e-30 the log-probabilities
    are all log(1/K) to float32 precision, which it reports as a singular case."""
    s = np.float32(scale)
    sets = M.sample_input_sets(jax.random.key(0), N, D1, 5)
    base = float(M.svd_dissimilarity(F1, G1, F2, G2, PIVOTS, SUBSETS, sets))
    value = float(M.svd_dissimilarity(F1 * s, G1, F2 * s, G2, PIVOTS, SUBSETS, sets))
    np.testing.assert_allclose(value, base, rtol=1e-3, atol=1e-5)
    z1, z2 = F1 @ G1.T * s, F2 @ G2.T * s
    if scale > 1:
        assert np.isfinite(float(M.llv_distance(z1, z2, D1)))
    else:
        with pytest.raises(InputError, match="zero variance"):
            M.llv_distance(z1, z2, D1)
