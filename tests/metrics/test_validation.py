"""Every bad input raises ValueError with a message naming the problem; validate=False skips checks."""

import jax
import numpy as np
import pytest

import repsim_jax.metrics as M
from repsim_jax.testing import reference as _ref

RNG = np.random.default_rng(0)
X = RNG.standard_normal((20, 3)).astype(np.float32)
Y = RNG.standard_normal((20, 4)).astype(np.float32)
Z1 = RNG.standard_normal((20, 6)).astype(np.float32)
Z2 = RNG.standard_normal((20, 6)).astype(np.float32)
F1, F2 = X, Y
G1 = RNG.standard_normal((8, 3)).astype(np.float32)
G2 = RNG.standard_normal((8, 4)).astype(np.float32)
PIVOTS = np.array([0, 1], np.int32)
SUBSETS = np.array([[[1, 2, 3], [4, 5, 6]], [[0, 2, 3], [5, 6, 7]]], np.int32)

# (name, callable taking two (n, d) "representation" arrays)
PAIR_METRICS = {
    "logit_distance": lambda a, b, **kw: M.logit_distance(a, b, **kw),
    "kl_divergence": lambda a, b, **kw: M.kl_divergence(a, b, **kw),
    "canonical_correlations": lambda a, b, **kw: M.canonical_correlations(a, b, **kw),
    "mean_cca": lambda a, b, **kw: M.mean_cca(a, b, **kw),
    "procrustes_distance": lambda a, b, **kw: M.procrustes_distance(a, b, **kw),
    "gram_distance": lambda a, b, **kw: M.gram_distance(a, b, **kw),
    "linear_cka": lambda a, b, **kw: M.linear_cka(a, b, **kw),
    "linear_cka_debiased": lambda a, b, **kw: M.linear_cka(a, b, debiased=True, **kw),
    "affine_map": lambda a, b, **kw: M.affine_map(a, b, **kw),
}
SAME_WIDTH = {"logit_distance", "kl_divergence"}


def _pair(name):
    if name in SAME_WIDTH:
        return Z1, Z2
    return X, Y


@pytest.mark.parametrize("name", sorted(PAIR_METRICS))
def test_row_mismatch(name):
    a, b = _pair(name)
    with pytest.raises(ValueError, match="row|sample|input|shape"):
        PAIR_METRICS[name](a, b[:-1])


@pytest.mark.parametrize("name", sorted(PAIR_METRICS))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite(name, bad):
    a, b = _pair(name)
    a = a.copy()
    a[3, 1] = bad
    with pytest.raises(ValueError, match="NaN|Inf|finite"):
        PAIR_METRICS[name](a, b)
    b = b.copy()
    b[0, 0] = bad
    with pytest.raises(ValueError, match="NaN|Inf|finite"):
        PAIR_METRICS[name](_pair(name)[0], b)


@pytest.mark.parametrize("name", sorted(PAIR_METRICS))
def test_integer_input(name):
    a, b = _pair(name)
    with pytest.raises(ValueError, match="float"):
        PAIR_METRICS[name](np.round(a * 10).astype(np.int32), b)
    with pytest.raises(ValueError, match="float"):
        PAIR_METRICS[name](a, np.round(b * 10).astype(np.int64))


@pytest.mark.parametrize("name", sorted(PAIR_METRICS))
def test_wrong_ndim(name):
    a, b = _pair(name)
    with pytest.raises(ValueError, match="dimension|ndim|shape"):
        PAIR_METRICS[name](a[None], b[None])
    with pytest.raises(ValueError, match="dimension|ndim|shape"):
        PAIR_METRICS[name](a[:, 0], b)


def test_logit_label_count_mismatch():
    with pytest.raises(ValueError, match="shape|label|differ"):
        M.logit_distance(Z1, Z2[:, :5])
    with pytest.raises(ValueError, match="shape|label|differ"):
        M.kl_divergence(Z1, Z2[:, :5])


def test_center_logits_rejects_bad_input():
    with pytest.raises(ValueError, match="float"):
        M.center_logits(np.ones((3, 4), np.int32))
    bad = Z1.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN|Inf|finite"):
        M.center_logits(bad)


def test_jax_array_nan_detected():
    a = jax.numpy.asarray(X).at[0, 0].set(jax.numpy.nan)
    with pytest.raises(ValueError, match="NaN|Inf|finite"):
        M.procrustes_distance(a, Y)


# ----------------------------------------------------------------- CCA / CKA sample sizes


@pytest.mark.parametrize("n", [2, 6, 7])  # dx + dy = 7
def test_cca_too_few_samples_without_ridge(n):
    with pytest.raises(ValueError, match="sample|rows|ridge"):
        M.canonical_correlations(X[:n], Y[:n])
    with pytest.raises(ValueError, match="sample|rows|ridge"):
        M.mean_cca(X[:n], Y[:n])


def test_cca_enough_samples_boundary():
    # n = dx + dy + 1 is the first admissible size
    out = np.asarray(M.canonical_correlations(X[:8], Y[:8]))
    assert out.shape == (3,) and np.all(np.isfinite(out))


def test_cca_negative_ridge():
    with pytest.raises(ValueError, match="ridge"):
        M.canonical_correlations(X, Y, ridge=-1.0)


def test_cca_rank_deficient_without_ridge():
    xr = X.copy()
    xr[:, 2] = xr[:, 0] - 2 * xr[:, 1]
    with pytest.raises(ValueError, match="rank|collinear|ridge"):
        M.canonical_correlations(xr, Y)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_debiased_cka_needs_more_than_three_samples(n):
    with pytest.raises(ValueError, match="sample|rows|n > 3|3"):
        M.linear_cka(X[:n], Y[:n], debiased=True)


def test_constant_representation_rejected_by_shape_metrics():
    # All rows equal: column-centred matrix is zero, normalisation undefined.
    c = np.ones((20, 3), np.float32)
    for fn in (M.procrustes_distance, M.gram_distance, M.linear_cka):
        with pytest.raises(ValueError, match="constant|zero|variance|degenerate"):
            fn(c, Y)


# ----------------------------------------------------------------- d_rep


def test_sample_pivot_subsets_too_few_labels():
    with pytest.raises(ValueError, match="label"):
        M.sample_pivot_subsets(jax.random.key(0), 4, 4, 2, 3)


def test_rep_dissimilarity_subset_contains_pivot():
    bad = SUBSETS.copy()
    bad[1, 0, 1] = PIVOTS[1]
    with pytest.raises(ValueError, match="pivot"):
        M.rep_dissimilarity(F1, G1, F2, G2, PIVOTS, bad)


@pytest.mark.parametrize("label", [8, 100, -1])
def test_rep_dissimilarity_out_of_range_labels(label):
    bad = SUBSETS.copy()
    bad[0, 1, 2] = label
    with pytest.raises(ValueError, match="label|range|outside"):
        M.rep_dissimilarity(F1, G1, F2, G2, PIVOTS, bad)
    badp = PIVOTS.copy()
    badp[0] = label
    with pytest.raises(ValueError, match="label|range|outside"):
        M.rep_dissimilarity(F1, G1, F2, G2, badp, SUBSETS)


def test_rep_dissimilarity_subset_with_repeated_label():
    bad = SUBSETS.copy()
    bad[0, 0] = [1, 2, 1]
    with pytest.raises(ValueError, match="distinct|repeat|duplicate"):
        M.rep_dissimilarity(F1, G1, F2, G2, PIVOTS, bad)


def test_rep_dissimilarity_wrong_subset_size():
    with pytest.raises(ValueError, match="subset|dim|size|shape"):
        M.rep_dissimilarity(F1, G1, F2, G2, PIVOTS, SUBSETS[:, :, :2])


def test_rep_dissimilarity_too_few_labels():
    # d₁ = 3 needs at least 4 labels
    with pytest.raises(ValueError, match="label"):
        M.rep_dissimilarity(F1, G1[:3], F2, G2[:3], np.array([0], np.int32), np.array([[[1, 2, 0]]], np.int32))


def test_rep_dissimilarity_shape_errors():
    with pytest.raises(ValueError, match="row|sample|input"):
        M.rep_dissimilarity(F1, G1, F2[:-1], G2, PIVOTS, SUBSETS)
    with pytest.raises(ValueError, match="label|row|shape|differ"):
        M.rep_dissimilarity(F1, G1, F2, G2[:-1], PIVOTS, SUBSETS)
    with pytest.raises(ValueError, match="dimension|width|shape|differ"):
        M.rep_dissimilarity(F1, G1[:, :2], F2, G2, PIVOTS, SUBSETS)
    with pytest.raises(ValueError, match="integer"):
        M.rep_dissimilarity(F1, G1, F2, G2, PIVOTS.astype(np.float32), SUBSETS)
    bad = G1.copy()
    bad[2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN|Inf|finite"):
        M.rep_dissimilarity(F1, bad, F2, G2, PIVOTS, SUBSETS)
    with pytest.raises(ValueError, match="pivot|subset|shape"):
        M.rep_dissimilarity(F1, G1, F2, G2, PIVOTS[:1], SUBSETS)


def test_logit_distance_from_reps_shape_errors():
    with pytest.raises(ValueError, match="row|sample|input"):
        M.logit_distance_from_reps(F1, G1, F2[:-1], G2)
    with pytest.raises(ValueError, match="label|row|shape|differ"):
        M.logit_distance_from_reps(F1, G1, F2, G2[:-1])
    with pytest.raises(ValueError, match="dimension|width|shape|differ"):
        M.logit_distance_from_reps(F1, G1[:, :2], F2, G2)
    bad = F2.copy()
    bad[1, 1] = np.inf
    with pytest.raises(ValueError, match="NaN|Inf|finite"):
        M.logit_distance_from_reps(F1, G1, bad, G2)


def test_affine_map_negative_ridge():
    with pytest.raises(ValueError, match="ridge"):
        M.affine_map(X, Y, ridge=-0.5)


def test_pairwise_bad_stack():
    with pytest.raises(ValueError, match="dimension|ndim|shape|stack"):
        M.pairwise("linear_cka", X)
    bad = np.stack([X, X]).copy()
    bad[1, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN|Inf|finite"):
        M.pairwise("linear_cka", bad)


# ----------------------------------------------------------------- validate=False


def test_validate_false_skips_checks():
    # with validation off nothing raises, even for inputs the validator refuses
    a = X.copy()
    a[0, 0] = np.nan
    for fn in (M.procrustes_distance, M.gram_distance, M.linear_cka, M.mean_cca):
        assert np.shape(fn(a, Y, validate=False)) == ()
    # n <= dx + dy: no error, and the trivial correlations are all 1
    rho = np.asarray(M.canonical_correlations(X[:5], Y[:5], validate=False))
    assert rho.shape == (3,) and np.all(np.isfinite(rho))
    np.testing.assert_allclose(
        float(M.linear_cka(X[:3], Y[:3], validate=False)), _ref.linear_cka(X[:3], Y[:3]), rtol=1e-4
    )


ZNAN = Z1.copy()
ZNAN[0, 0] = np.nan
XNAN = X.copy()
XNAN[0, 0] = np.nan
NAN_CASES = {
    "procrustes_distance": pytest.param(lambda: M.procrustes_distance(XNAN, Y, validate=False)),
    "procrustes_angular": pytest.param(lambda: M.procrustes_distance(XNAN, Y, angular=True, validate=False)),
    "gram_distance": pytest.param(lambda: M.gram_distance(XNAN, Y, validate=False)),
    "logit_distance": pytest.param(lambda: M.logit_distance(ZNAN, Z2, validate=False)),
    "logit_distance_from_reps": pytest.param(lambda: M.logit_distance_from_reps(XNAN, G1, F2, G2, validate=False)),
    "logit_distance_squared": lambda: M.logit_distance(ZNAN, Z2, squared=True, validate=False),
    "kl_divergence": lambda: M.kl_divergence(ZNAN, Z2, validate=False),
    "linear_cka": lambda: M.linear_cka(XNAN, Y, validate=False),
    "mean_cca": lambda: M.mean_cca(XNAN, Y, validate=False),
}


@pytest.mark.parametrize("case", list(NAN_CASES.values()), ids=list(NAN_CASES))
def test_validate_false_propagates_nan(case):
    # A NaN representation must never look like a perfect match (distance 0 / similarity 1).
    assert np.isnan(float(case()))


def test_validate_false_gives_same_value_for_good_input():
    for name, fn in PAIR_METRICS.items():
        if name == "affine_map":
            continue
        a, b = _pair(name)
        np.testing.assert_allclose(np.asarray(fn(a, b, validate=False)), np.asarray(fn(a, b)), rtol=1e-6, err_msg=name)
