"""Streaming second moments: chunked accumulation must give the in-memory metric values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import repsim_jax.metrics as M
from repsim_jax.metrics import moments as mom
from repsim_jax.testing import reference as ref

N, D1, D2, K = 40, 3, 4, 8
CHUNKS = [7, 13, 1, 19]  # uneven, including a single-row chunk; sums to N


def _data(seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    f1 = rng.standard_normal((N, D1)) + offset
    f2 = f1 @ rng.standard_normal((D1, D2)) + 0.8 * rng.standard_normal((N, D2)) - offset
    g1 = rng.standard_normal((K, D1))
    g2 = rng.standard_normal((K, D2))
    return f1, g1, f2, g2


def _accumulate(f1, f2, chunks=CHUNKS):
    acc = M.MomentAccumulator()
    start = 0
    for size in chunks:
        out = acc.add(f1[start : start + size], f2[start : start + size])
        assert out is acc
        start += size
    assert start == f1.shape[0]
    return acc.moments


def _pivots_subsets():
    pivots = np.array([0, 3, 7], np.int32)
    subsets = np.array(
        [[[1, 2, 3], [4, 5, 6], [7, 1, 5]], [[0, 1, 2], [4, 6, 7], [2, 5, 0]], [[0, 1, 2], [3, 4, 5], [6, 2, 4]]],
        np.int32,
    )
    return pivots, subsets


def test_moment_state_statistics_float64():
    f1, _, f2, _ = _data(1, offset=3.0)
    x = np.concatenate([f1, f2], axis=1)
    with jax.enable_x64(True):
        state = _accumulate(f1, f2)
        assert state.widths == (D1, D2)
        assert state.factor.dtype == jnp.float64
        np.testing.assert_allclose(float(state.count), N)
        np.testing.assert_allclose(np.asarray(state.mean), x.mean(0), rtol=1e-12)
        xc = x - x.mean(0)
        np.testing.assert_allclose(np.asarray(mom.centered_scatter(state)), xc.T @ xc, rtol=1e-10, atol=1e-10)
        r = np.asarray(mom.raw_factor(state))
        np.testing.assert_allclose(r.T @ r, x.T @ x, rtol=1e-10, atol=1e-9)
        np.testing.assert_allclose(np.asarray(state.factor), np.triu(np.asarray(state.factor)), atol=0)


@pytest.mark.slow
def test_streamed_metrics_equal_in_memory_and_reference_float64():
    f1, g1, f2, g2 = _data(2)
    pivots, subsets = _pivots_subsets()
    with jax.enable_x64(True):
        s = _accumulate(f1, f2)
        checks = {
            "logit": (
                float(M.logit_distance_from_moments(s, g1, g2)),
                float(M.logit_distance_from_reps(f1, g1, f2, g2)),
                ref.logit_distance_from_reps(f1, g1, f2, g2),
            ),
            "logit2": (
                float(M.logit_distance_from_moments(s, g1, g2, squared=True)),
                float(M.logit_distance_from_reps(f1, g1, f2, g2, squared=True)),
                ref.logit_distance_from_reps(f1, g1, f2, g2, squared=True),
            ),
            "cka": (float(M.linear_cka_from_moments(s)), float(M.linear_cka(f1, f2)), ref.linear_cka(f1, f2)),
            "procrustes": (
                float(M.procrustes_distance_from_moments(s)),
                float(M.procrustes_distance(f1, f2)),
                ref.procrustes_distance(f1, f2),
            ),
            "angular": (
                float(M.procrustes_distance_from_moments(s, angular=True)),
                float(M.procrustes_distance(f1, f2, angular=True)),
                ref.procrustes_distance(f1, f2, angular=True),
            ),
            "gram": (float(M.gram_distance_from_moments(s)), float(M.gram_distance(f1, f2)), ref.gram_distance(f1, f2)),
        }
        rho_s = np.asarray(M.canonical_correlations_from_moments(s))
        rho_m = np.asarray(M.canonical_correlations(f1, f2))
        rho_r = np.asarray(M.canonical_correlations_from_moments(s, ridge=2.0))
        det = M.rep_dissimilarity_from_moments(s, g1, g2, pivots, subsets)
        drep_m = float(M.rep_dissimilarity(f1, g1, f2, g2, pivots, subsets))
    for name, (streamed, in_memory, want) in checks.items():
        np.testing.assert_allclose(streamed, in_memory, rtol=1e-9, atol=1e-12, err_msg=name)
        np.testing.assert_allclose(streamed, want, rtol=1e-9, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(rho_s, rho_m, atol=1e-10)
    np.testing.assert_allclose(rho_s, ref.canonical_correlations(f1, f2), atol=1e-10)
    np.testing.assert_allclose(rho_r, ref.canonical_correlations(f1, f2, ridge=2.0), atol=1e-10)
    np.testing.assert_allclose(float(det.value), drep_m, rtol=1e-9)
    np.testing.assert_allclose(float(det.value), ref.rep_dissimilarity(f1, g1, f2, g2, pivots, subsets), rtol=1e-9)
    errs, _ = ref.rep_dissimilarity_terms(f1, g1, f2, g2, pivots, subsets)
    np.testing.assert_allclose(np.asarray(det.errors).ravel(), errs, rtol=1e-9)


def test_streamed_metrics_float32_with_offset():
    # Per-chunk offsets of 1e3 must not destroy float32 accuracy (centred factor form).
    f1, g1, f2, g2 = _data(3, offset=1e3)
    pivots, subsets = _pivots_subsets()
    s = _accumulate(f1.astype(np.float32), f2.astype(np.float32))
    assert s.factor.dtype == jnp.float32
    np.testing.assert_allclose(float(M.linear_cka_from_moments(s)), ref.linear_cka(f1, f2), rtol=1e-3)
    np.testing.assert_allclose(float(M.procrustes_distance_from_moments(s)), ref.procrustes_distance(f1, f2), rtol=1e-3)
    np.testing.assert_allclose(float(M.gram_distance_from_moments(s)), ref.gram_distance(f1, f2), rtol=1e-3)
    np.testing.assert_allclose(
        np.asarray(M.canonical_correlations_from_moments(s)), ref.canonical_correlations(f1, f2), atol=1e-3
    )
    # the logit distance is not translation invariant: compare with the uncentred reference
    np.testing.assert_allclose(
        float(M.logit_distance_from_moments(s, g1.astype(np.float32), g2.astype(np.float32))),
        ref.logit_distance_from_reps(f1, g1, f2, g2),
        rtol=1e-3,
    )
    det = M.rep_dissimilarity_from_moments(s, g1.astype(np.float32), g2.astype(np.float32), pivots, subsets)
    np.testing.assert_allclose(float(det.value), ref.rep_dissimilarity(f1, g1, f2, g2, pivots, subsets), rtol=1e-2)


def test_chunking_and_order_do_not_matter():
    f1, _, f2, _ = _data(4)
    perm = np.random.default_rng(0).permutation(N)
    with jax.enable_x64(True):
        a = _accumulate(f1, f2)
        b = _accumulate(f1[perm], f2[perm], chunks=[N])
        c = _accumulate(f1, f2, chunks=[1] * N)
        for s in (b, c):
            np.testing.assert_allclose(np.asarray(s.mean), np.asarray(a.mean), rtol=1e-12)
            np.testing.assert_allclose(
                np.asarray(mom.centered_scatter(s)), np.asarray(mom.centered_scatter(a)), rtol=1e-10, atol=1e-10
            )
            np.testing.assert_allclose(float(M.linear_cka_from_moments(s)), ref.linear_cka(f1, f2), rtol=1e-10)


def test_merge_equals_single_pass_and_from_data():
    f1, _, f2, _ = _data(5, offset=2.0)
    with jax.enable_x64(True):
        left = mom.from_data(f1[:15], f2[:15])
        right = mom.from_data(f1[15:], f2[15:])
        merged = mom.merge(left, right)
        whole = mom.from_data(f1, f2)
        via_update = mom.update(mom.update(mom.empty((D1, D2), dtype=jnp.float64), f1[:15], f2[:15]), f1[15:], f2[15:])
        for s in (merged, via_update):
            np.testing.assert_allclose(float(s.count), N)
            np.testing.assert_allclose(np.asarray(s.mean), np.asarray(whole.mean), rtol=1e-12)
            np.testing.assert_allclose(
                np.asarray(mom.centered_scatter(s)), np.asarray(mom.centered_scatter(whole)), rtol=1e-10, atol=1e-10
            )
            np.testing.assert_allclose(
                float(M.procrustes_distance_from_moments(s)), ref.procrustes_distance(f1, f2), rtol=1e-9
            )


def test_update_is_scannable():
    # The pure update composes with lax.scan over equal chunks (e.g. on device).
    f1, _, f2, _ = _data(6)
    with jax.enable_x64(True):
        chunks1 = jnp.asarray(f1.reshape(4, 10, D1))
        chunks2 = jnp.asarray(f2.reshape(4, 10, D2))

        def body(state, xs):
            return mom.update(state, xs[0], xs[1]), None

        state, _ = jax.lax.scan(body, mom.empty((D1, D2), dtype=jnp.float64), (chunks1, chunks2))
        np.testing.assert_allclose(float(M.gram_distance_from_moments(state)), ref.gram_distance(f1, f2), rtol=1e-9)


def test_accumulator_errors():
    acc = M.MomentAccumulator()
    with pytest.raises(ValueError, match="no samples"):
        _ = acc.moments
    f1, _, f2, _ = _data(7)
    f1, f2 = f1.astype(np.float32), f2.astype(np.float32)
    acc.add(f1[:5], f2[:5])
    with pytest.raises(ValueError, match="width"):
        acc.add(f1[:5], f2[:5, :2])
    with pytest.raises(ValueError, match="row"):
        acc.add(f1[:5], f2[:6])
    bad = f1[:5].copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN|finite"):
        acc.add(bad, f2[:5])


def test_streamed_cka_float32_large_entries():
    f1, _, f2, _ = _data(8)
    s = _accumulate((f1 * 1e4).astype(np.float32), (f2 * 1e4).astype(np.float32))
    np.testing.assert_allclose(float(M.linear_cka_from_moments(s)), ref.linear_cka(f1, f2), rtol=1e-3)


def test_streamed_shape_metrics_float32_large_entries():
    f1, _, f2, _ = _data(8)
    s = _accumulate((f1 * 1e4).astype(np.float32), (f2 * 1e4).astype(np.float32))
    np.testing.assert_allclose(float(M.procrustes_distance_from_moments(s)), ref.procrustes_distance(f1, f2), rtol=1e-3)
    np.testing.assert_allclose(float(M.gram_distance_from_moments(s)), ref.gram_distance(f1, f2), rtol=1e-3)
    np.testing.assert_allclose(
        np.asarray(M.canonical_correlations_from_moments(s)), ref.canonical_correlations(f1, f2), atol=1e-3
    )
