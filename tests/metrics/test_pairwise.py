"""pairwise(metric, stack) must equal calling the metric pair by pair."""

import jax
import numpy as np
import pytest

import repsim_jax.metrics as M
from repsim_jax.testing import reference as ref

NAMES = ["logit_distance", "kl_divergence", "mean_cca", "procrustes_distance", "gram_distance", "linear_cka"]
SYMMETRIC = {"logit_distance", "mean_cca", "procrustes_distance", "gram_distance", "linear_cka"}
REF = {
    "logit_distance": ref.logit_distance,
    "kl_divergence": ref.kl_divergence,
    "mean_cca": ref.mean_cca,
    "procrustes_distance": ref.procrustes_distance,
    "gram_distance": ref.gram_distance,
    "linear_cka": ref.linear_cka,
}


def _stack(seed, m=4, n=16, d=3):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((n, d))
    # related models: shared component plus model-specific noise, one exact copy
    stack = np.stack([base @ rng.standard_normal((d, d)) + 0.7 * rng.standard_normal((n, d)) for _ in range(m)])
    stack[-1] = stack[0] @ ref.random_orthogonal(rng, d) * 2.0  # same shape as model 0
    return stack


@pytest.mark.parametrize("name", NAMES)
def test_pairwise_matches_pair_by_pair_float64(name):
    stack = _stack(1)
    m = stack.shape[0]
    fn = getattr(M, name)
    with jax.enable_x64(True):
        got = np.asarray(M.pairwise(name, stack))
        by_pair = np.array([[float(fn(stack[i], stack[j])) for j in range(m)] for i in range(m)])
    want = np.array([[REF[name](stack[i], stack[j]) for j in range(m)] for i in range(m)])
    assert got.shape == (m, m)
    np.testing.assert_allclose(got, by_pair, rtol=1e-8, atol=1e-7)
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_pairwise_function_or_name_float32(name):
    stack = _stack(2).astype(np.float32)
    m = stack.shape[0]
    fn = getattr(M, name)
    by_name = np.asarray(M.pairwise(name, stack))
    by_fn = np.asarray(M.pairwise(fn, stack))
    by_pair = np.array([[float(fn(stack[i], stack[j])) for j in range(m)] for i in range(m)])
    np.testing.assert_allclose(by_name, by_fn, rtol=1e-6, atol=1e-6)
    # sqrt near 0 amplifies rounding: allow a larger absolute slack for distances
    np.testing.assert_allclose(by_name, by_pair, rtol=1e-4, atol=2e-3)
    identity = 1.0 if name in ("mean_cca", "linear_cka") else 0.0
    np.testing.assert_allclose(np.diag(by_name), identity, atol=2e-3)
    if name in SYMMETRIC:
        np.testing.assert_allclose(by_name, by_name.T, rtol=1e-6, atol=1e-6)


def test_pairwise_kl_is_asymmetric_and_ordered():
    stack = _stack(3)
    with jax.enable_x64(True):
        got = np.asarray(M.pairwise("kl_divergence", stack))
    assert abs(got[0, 1] - got[1, 0]) > 1e-4
    np.testing.assert_allclose(got[0, 1], ref.kl_divergence(stack[0], stack[1]), rtol=1e-9)
    np.testing.assert_allclose(got[1, 0], ref.kl_divergence(stack[1], stack[0]), rtol=1e-9)


def test_pairwise_shape_metrics_detect_similar_models():
    stack = _stack(4)
    with jax.enable_x64(True):
        p = np.asarray(M.pairwise("procrustes_distance", stack))
        c = np.asarray(M.pairwise("linear_cka", stack))
    # model 3 is a rotated, scaled copy of model 0
    assert p[0, 3] < 1e-6 and abs(c[0, 3] - 1.0) < 1e-9


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("linear_cka", {"debiased": True}),
        ("procrustes_distance", {"angular": True}),
        pytest.param("mean_cca", {"ridge": 0.5}),
    ],
)
def test_pairwise_forwards_options(name, kwargs):
    stack = _stack(5)
    m = stack.shape[0]
    fn = getattr(M, name)
    with jax.enable_x64(True):
        got = np.asarray(M.pairwise(name, stack, **kwargs))
        by_pair = np.array([[float(fn(stack[i], stack[j], **kwargs)) for j in range(m)] for i in range(m)])
    np.testing.assert_allclose(got, by_pair, rtol=1e-8, atol=1e-7)


def test_pairwise_ridge_cca_matches_reference_including_diagonal():
    # With a ridge the diagonal is not 1: pairwise must evaluate it, like every other entry.
    stack = _stack(5)
    m = stack.shape[0]
    with jax.enable_x64(True):
        got = np.asarray(M.pairwise("mean_cca", stack, ridge=0.5))
    want = np.array([[ref.mean_cca(stack[i], stack[j], ridge=0.5) for j in range(m)] for i in range(m)])
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8)
    assert np.all(np.diag(want) < 1.0 - 1e-3)  # the true diagonal value is not 1 with a ridge


def test_pairwise_logit_distance_from_reps_tuple_stack():
    rng = np.random.default_rng(6)
    m, n, k, d = 3, 12, 6, 2
    f = rng.standard_normal((m, n, d))
    g = rng.standard_normal((m, k, d))
    with jax.enable_x64(True):
        got = np.asarray(M.pairwise("logit_distance_from_reps", (f, g)))
    want = np.array([[ref.logit_distance_from_reps(f[i], g[i], f[j], g[j]) for j in range(m)] for i in range(m)])
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-7)


def test_pairwise_rep_dissimilarity_tuple_stack():
    rng = np.random.default_rng(7)
    m, n, k, d = 3, 12, 7, 2
    f = rng.standard_normal((m, n, d))
    g = rng.standard_normal((m, k, d))
    pivots, subsets = M.sample_pivot_subsets(jax.random.key(0), k, d, 2, 3)
    pivots, subsets = np.asarray(pivots), np.asarray(subsets)
    with jax.enable_x64(True):
        got = np.asarray(M.pairwise("rep_dissimilarity", (f, g), pivots=pivots, subsets=subsets))
    want = np.array(
        [[ref.rep_dissimilarity(f[i], g[i], f[j], g[j], pivots, subsets) for j in range(m)] for i in range(m)]
    )
    np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-7)


def test_pairwise_batch_size_does_not_change_result():
    stack = _stack(8, m=5)
    with jax.enable_x64(True):
        a = np.asarray(M.pairwise("kl_divergence", stack, batch_size=1))
        b = np.asarray(M.pairwise("kl_divergence", stack, batch_size=64))
    np.testing.assert_allclose(a, b, rtol=1e-12)
    want = np.array([[ref.kl_divergence(stack[i], stack[j]) for j in range(5)] for i in range(5)])
    np.testing.assert_allclose(a, want, rtol=1e-9, atol=1e-12)


def test_pairwise_unknown_metric_name():
    with pytest.raises(ValueError):
        M.pairwise("no_such_metric", _stack(9).astype(np.float32))


def test_pairwise_many_models_float32():
    # More models than a small tile: all blocks assembled in the right place.
    rng = np.random.default_rng(10)
    m = 10
    stack = np.stack([_stack(20 + i, m=1)[0] + 0.1 * rng.standard_normal((16, 3)) for i in range(m)])
    for name in ("procrustes_distance", "linear_cka", "mean_cca", "gram_distance"):
        got = np.asarray(M.pairwise(name, stack.astype(np.float32)))
        want = np.array([[REF[name](stack[i], stack[j]) for j in range(m)] for i in range(m)])
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-3, err_msg=name)


def test_pairwise_llv_distance_uses_its_default_labels_and_input_sets():
    # Regression: the validate=False kernel skipped llv_distance's defaults (all labels,
    # input sets sampled from `seed`) and vmap failed on labels=None.
    z = np.random.default_rng(11).standard_normal((4, 500, 10))
    with jax.enable_x64(True):
        got = np.asarray(M.pairwise("llv_distance", z, dim=3))
        by_pair = np.array([[float(M.llv_distance(z[i], z[j], 3)) for j in range(4)] for i in range(4)])
    assert got.shape == (4, 4)
    np.testing.assert_allclose(got, by_pair, rtol=1e-10, atol=1e-12)
