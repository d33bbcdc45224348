"""float16/bfloat16 inputs to every public metric: upcast to float32, exactly.

The upcast is exact, so each result must equal the result for the same values given as
float32 (compared at 1e-6, i.e. the same computation). Before, eight functions raised
``NotImplementedError: Unsupported dtype float16`` from LAPACK and the others computed in
half precision (3 significant digits).
"""

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

import repsim_jax.metrics as M

RNG = np.random.default_rng(0)
N, K, D1, D2 = 60, 8, 3, 4
F1 = RNG.standard_normal((N, D1))
F2 = F1 @ RNG.standard_normal((D1, D2)) + 0.3 * RNG.standard_normal((N, D2))
G1 = RNG.standard_normal((K, D1))
G2 = RNG.standard_normal((K, D2))
CONCEPTS = (RNG.random((N, 2)) > 0.5).astype(np.int32)
LABELS = np.arange(N) % K
PIVOTS, SUBSETS = M.pivot_subsets(K, D1, num_pivots=2, num_subsets=3)
INPUT_SETS = M.sample_input_sets(jax.random.key(0), N, D1, 4)


def _moments(f1, f2):
    return M.MomentAccumulator().add(f1, f2).moments


# each case: (inputs, function of the inputs); inputs are cast to the dtype under test
CASES = {
    "canonical_correlations": ((F1, F2), lambda x, y: M.canonical_correlations(x, y)),
    "mean_cca": ((F1, F2), lambda x, y: M.mean_cca(x, y)),
    "mean_cca_rank_tol": ((F1, F2), lambda x, y: M.mean_cca(x, y, rank_tol=1e-5)),
    "linear_cka": ((F1, F2), lambda x, y: M.linear_cka(x, y)),
    "linear_cka_debiased": ((F1, F2), lambda x, y: M.linear_cka(x, y, debiased=True)),
    "procrustes_distance": ((F1, F2), lambda x, y: M.procrustes_distance(x, y)),
    "gram_distance": ((F1, F2), lambda x, y: M.gram_distance(x, y)),
    "affine_map": ((F1, F2), lambda x, y: M.affine_map(x, y)),
    "center_logits": ((F1 @ G1.T,), lambda z: M.center_logits(z)),
    "logit_distance": ((F1 @ G1.T, F2 @ G2.T), lambda a, b: M.logit_distance(a, b)),
    "kl_divergence": ((F1 @ G1.T, F2 @ G2.T), lambda a, b: M.kl_divergence(a, b)),
    "logit_distance_from_reps": ((F1, G1, F2, G2), lambda *r: M.logit_distance_from_reps(*r)),
    "rep_dissimilarity": ((F1, G1, F2, G2), lambda *r: M.rep_dissimilarity(*r, PIVOTS, SUBSETS)),
    "rep_dissimilarity_details": ((F1, G1, F2, G2), lambda *r: M.rep_dissimilarity_details(*r, PIVOTS, SUBSETS)),
    "svd_dissimilarity": ((F1, G1, F2, G2), lambda *r: M.svd_dissimilarity(*r, PIVOTS, SUBSETS, INPUT_SETS)),
    "svd_dissimilarity_details": (
        (F1, G1, F2, G2),
        lambda *r: M.svd_dissimilarity_details(*r, PIVOTS, SUBSETS, INPUT_SETS),
    ),
    "llv_distance": ((F1 @ G1.T, F2 @ G2.T), lambda a, b: M.llv_distance(a, b, D1)),
    "llv_distance_details": ((F1 @ G1.T, F2 @ G2.T), lambda a, b: M.llv_distance_details(a, b, D1)),
    "pairwise": ((np.stack([F1, F2[:, :D1]]),), lambda s: M.pairwise("linear_cka", s)),
    "pairwise_generic": ((np.stack([F1, F2[:, :D1]]),), lambda s: M.pairwise("mean_cca", s, ridge=0.1)),
    "canonical_correlations_from_moments": (
        (F1, F2),
        lambda x, y: M.canonical_correlations_from_moments(_moments(x, y)),
    ),
    "mean_cca_from_moments": ((F1, F2), lambda x, y: M.mean_cca_from_moments(_moments(x, y))),
    "linear_cka_from_moments": ((F1, F2), lambda x, y: M.linear_cka_from_moments(_moments(x, y))),
    "procrustes_distance_from_moments": ((F1, F2), lambda x, y: M.procrustes_distance_from_moments(_moments(x, y))),
    "gram_distance_from_moments": ((F1, F2), lambda x, y: M.gram_distance_from_moments(_moments(x, y))),
    "logit_distance_from_moments": (
        (F1, F2, G1, G2),
        lambda f1, f2, g1, g2: M.logit_distance_from_moments(_moments(f1, f2), g1, g2),
    ),
    "rep_dissimilarity_from_moments": (
        (F1, F2, G1, G2),
        lambda f1, f2, g1, g2: M.rep_dissimilarity_from_moments(_moments(f1, f2), g1, g2, PIVOTS, SUBSETS),
    ),
    "concept_directions": ((F1,), lambda f: M.concept_directions(f, CONCEPTS)),
    "class_means": ((F1,), lambda f: M.class_means(f, LABELS, K)),
    "direction_auc": ((F1,), lambda f: M.direction_auc(f, CONCEPTS, M.concept_directions(f, CONCEPTS))),
    "transfer_properties": (
        (F1, F2),
        lambda a, b: M.transfer_properties((a, a), (b, b), (CONCEPTS, CONCEPTS)),
    ),
}
HALF = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16}


def _values(result):
    """The numbers of a result (array, NamedTuple or dict) as one float64 vector."""
    leaves = jax.tree.leaves(result._asdict() if hasattr(result, "_asdict") else result)
    return np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in leaves])


@pytest.mark.parametrize("dtype", sorted(HALF))
@pytest.mark.parametrize("name", sorted(CASES))
def test_half_precision_inputs_are_upcast_to_float32(name, dtype):
    inputs, function = CASES[name]
    half = [np.asarray(a).astype(HALF[dtype]) for a in inputs]
    as_float32 = [a.astype(np.float32) for a in half]
    result, expected = function(*half), function(*as_float32)
    leaves = [leaf for leaf in jax.tree.leaves(result) if hasattr(leaf, "dtype")]
    assert all(leaf.dtype != HALF[dtype] for leaf in leaves), name
    np.testing.assert_allclose(_values(result), _values(expected), rtol=1e-6, atol=1e-7, err_msg=name)


def test_jax_half_precision_arrays_are_upcast_too():
    x, y = jnp.asarray(F1, jnp.bfloat16), jnp.asarray(F2, jnp.bfloat16)
    expected = M.mean_cca(np.asarray(x, np.float32), np.asarray(y, np.float32))
    np.testing.assert_allclose(float(M.mean_cca(x, y)), float(expected), rtol=1e-6)
