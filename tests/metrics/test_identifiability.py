"""The pivot/subset choosers and rep_dissimilarity (d_rep) vs an explicit-loop float64 reference."""

import itertools
import math
import warnings

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import repsim_jax.metrics as M
from repsim_jax.metrics import identifiability as ident_mod
from repsim_jax.testing import reference as ref


def _details(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ident_mod.rep_dissimilarity_details(*args, **kwargs)


def _models(seed, n=30, k=10, d1=3, d2=3):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((n, d1)),
        rng.standard_normal((k, d1)),
        rng.standard_normal((n, d2)),
        rng.standard_normal((k, d2)),
    )


def _identifiable_pair(seed, n=30, k=10, d=3):
    rng = np.random.default_rng(seed)
    f2 = rng.standard_normal((n, d))
    g2 = rng.standard_normal((k, d))
    a = ref.random_invertible(rng, d, cond=4.0)
    f1 = f2 @ a.T  # f₁(x) = A f₂(x)
    g1 = g2 @ np.linalg.inv(a) + rng.standard_normal(d)  # g₁ = A⁻ᵀ g₂ + c
    return f1, g1, f2, g2


def _ps(num_labels, dim, p=3, c=4, seed=0):
    """Pivots and subsets drawn with NumPy (keeps compiled shapes few; the sampler is tested below)."""
    rng = np.random.default_rng(seed + 1000)
    pivots = rng.choice(num_labels, size=p, replace=False)
    subsets = np.stack(
        [[rng.choice(np.delete(np.arange(num_labels), q), size=dim, replace=False) for _ in range(c)] for q in pivots]
    )
    return pivots.astype(np.int32), subsets.astype(np.int32)


# ----------------------------------------------------------------- sample_pivot_subsets


@pytest.mark.parametrize("k,dim,p,c", [(10, 3, 4, 5), (5, 4, 5, 2), (3, 2, 2, 1)])
def test_sample_pivot_subsets_structure(k, dim, p, c):
    pivots, subsets = M.sample_pivot_subsets(jax.random.key(k + dim), k, dim, p, c)
    pivots, subsets = np.asarray(pivots), np.asarray(subsets)
    assert pivots.shape == (p,) and subsets.shape == (p, c, dim)
    assert np.issubdtype(pivots.dtype, np.integer) and np.issubdtype(subsets.dtype, np.integer)
    assert len(set(pivots.tolist())) == p  # distinct since p <= k
    assert pivots.min() >= 0 and pivots.max() < k
    assert subsets.min() >= 0 and subsets.max() < k
    for j in range(p):
        for s in subsets[j]:
            assert len(set(s.tolist())) == dim, s
            assert pivots[j] not in s


def test_sample_pivot_subsets_deterministic_and_key_dependent():
    a = [np.asarray(v) for v in M.sample_pivot_subsets(jax.random.key(1), 10, 3, 4, 5)]
    b = [np.asarray(v) for v in M.sample_pivot_subsets(jax.random.key(1), 10, 3, 4, 5)]
    c = [np.asarray(v) for v in M.sample_pivot_subsets(jax.random.key(2), 10, 3, 4, 5)]
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not (np.array_equal(a[0], c[0]) and np.array_equal(a[1], c[1]))


def test_sample_pivot_subsets_covers_labels():
    # Over many subsets every non-pivot label should appear (a crude uniformity check).
    pivots, subsets = M.sample_pivot_subsets(jax.random.key(3), 6, 2, 6, 40)
    subsets = np.asarray(subsets)
    for j, p in enumerate(np.asarray(pivots)):
        seen = set(subsets[j].ravel().tolist())
        assert seen == set(range(6)) - {int(p)}


def test_sample_pivot_subsets_accepts_legacy_key():
    pivots, subsets = M.sample_pivot_subsets(jax.random.PRNGKey(0), 10, 3, 4, 5)
    assert np.asarray(pivots).shape == (4,) and np.asarray(subsets).shape == (4, 5, 3)


@pytest.mark.parametrize("k,dim", [(3, 3), (4, 5), (1, 1)])
def test_sample_pivot_subsets_too_few_labels(k, dim):
    with pytest.raises(ValueError, match="label|dim"):
        M.sample_pivot_subsets(jax.random.key(0), k, dim, 1, 1)


def test_sample_pivot_subsets_more_pivots_than_labels():
    # num_pivots > num_labels: either refused with a clear message or valid output.
    try:
        pivots, subsets = M.sample_pivot_subsets(jax.random.key(0), 4, 2, 6, 3)
    except ValueError as err:
        assert "pivot" in str(err)
    else:
        pivots, subsets = np.asarray(pivots), np.asarray(subsets)
        assert pivots.shape == (6,) and subsets.shape == (6, 3, 2)
        assert set(pivots.tolist()) == set(range(4))


# ----------------------------------------------------------------- all_pivot_subsets / pivot_subsets


@pytest.mark.parametrize("k,dim", [(5, 2), (6, 3), (3, 2), (4, 1), (7, 6)])
def test_all_pivot_subsets_lists_every_subset_of_the_other_labels(k, dim):
    pivots, subsets = M.all_pivot_subsets(k, dim)
    assert pivots.dtype == np.int32 and subsets.dtype == np.int32
    assert subsets.shape == (k, math.comb(k - 1, dim), dim)
    np.testing.assert_array_equal(pivots, np.arange(k))
    for p in range(k):
        others = [q for q in range(k) if q != p]
        np.testing.assert_array_equal(subsets[p], np.array(list(itertools.combinations(others, dim))))
        assert len({tuple(s) for s in np.asarray(subsets[p]).tolist()}) == math.comb(k - 1, dim)


@pytest.mark.parametrize("k,dim", [(3, 3), (1, 1), (4, 0)])
def test_all_pivot_subsets_refuses_too_few_labels(k, dim):
    with pytest.raises(ValueError, match="label|dim"):
        M.all_pivot_subsets(k, dim)


@pytest.mark.parametrize("num_pivots,num_subsets", [(5, 6), (3, 10), (30, 1), (6, 6)])
def test_pivot_subsets_is_exhaustive_within_the_budget(num_pivots, num_subsets):
    # K = 5, dim = 2: 5·C(4, 2) = 30 (pivot, subset) pairs, all listed when 30 <= P·C
    got = M.pivot_subsets(5, 2, num_pivots, num_subsets, seed=3)
    for a, b in zip(got, M.all_pivot_subsets(5, 2)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("k,dim,num_pivots,num_subsets", [(5, 2, 1, 29), (5, 2, 2, 14), (10, 3, 20, 5)])
def test_pivot_subsets_samples_beyond_the_budget(k, dim, num_pivots, num_subsets):
    got = M.pivot_subsets(k, dim, num_pivots, num_subsets, seed=7)
    want = M.sample_pivot_subsets(jax.random.key(7), k, dim, min(num_pivots, k), num_subsets)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_pivot_subsets_defaults_and_huge_label_sets():
    pivots, subsets = M.pivot_subsets(1000, 50)  # C(999, 50) is never materialised
    assert pivots.shape == (10,) and subsets.shape == (10, 20, 50)
    with pytest.raises(ValueError, match="label"):
        M.pivot_subsets(3, 3)


# ----------------------------------------------------------------- d_rep vs reference


@pytest.mark.parametrize("d1,d2,squared", [(3, 3, False), (2, 4, True), (4, 2, False)])
def test_rep_dissimilarity_matches_reference(d1, d2, squared):
    f1, g1, f2, g2 = _models(d1 * 10 + d2, d1=d1, d2=d2)
    pivots, subsets = _ps(10, d1)
    want = ref.rep_dissimilarity(f1, g1, f2, g2, pivots, subsets, squared=squared)
    with jax.enable_x64(True):
        out = M.rep_dissimilarity(f1, g1, f2, g2, pivots, subsets, squared=squared)
        got64 = float(getattr(out, "value", out))
    np.testing.assert_allclose(got64, want, rtol=1e-9)
    out = M.rep_dissimilarity(*(a.astype(np.float32) for a in (f1, g1, f2, g2)), pivots, subsets, squared=squared)
    np.testing.assert_allclose(float(getattr(out, "value", out)), want, rtol=2e-3)


def test_rep_dissimilarity_hand_picked_subsets_and_per_subset_errors():
    f1, g1, f2, g2 = _models(5, d1=2, d2=4)
    pivots = np.array([0, 5, 9], np.int32)
    subsets = np.array(
        [[[1, 2], [3, 4], [4, 1], [8, 9]], [[0, 1], [2, 3], [4, 0], [9, 6]], [[1, 0], [7, 8], [5, 6], [2, 4]]],
        np.int32,
    )
    errs, excluded = ref.rep_dissimilarity_terms(f1, g1, f2, g2, pivots, subsets)
    assert excluded == 0
    with jax.enable_x64(True):
        det = _details(f1, g1, f2, g2, pivots, subsets, squared=True)
        np.testing.assert_allclose(np.asarray(det.errors).ravel(), errs, rtol=1e-9)
        np.testing.assert_allclose(float(det.value), errs.mean(), rtol=1e-9)
        assert int(det.num_excluded) == 0
        assert np.asarray(det.included).all()
        np.testing.assert_allclose(
            np.asarray(det.condition).ravel(),
            [np.linalg.cond(g1[s] - g1[p], "fro") for p, ss in zip(pivots, subsets) for s in ss],
            rtol=1e-8,
        )


def test_rep_dissimilarity_subset_order_irrelevant():
    # Permuting the labels inside a subset permutes rows of L₁ and L₂ together: A unchanged.
    f1, g1, f2, g2 = _models(6, d1=3, d2=3)
    pivots, s = _ps(10, 3, seed=6)
    s_perm = s[:, :, ::-1].copy()
    with jax.enable_x64(True):
        a = float(M.rep_dissimilarity(f1, g1, f2, g2, pivots, s))
        b = float(M.rep_dissimilarity(f1, g1, f2, g2, pivots, s_perm))
    np.testing.assert_allclose(a, b, rtol=1e-10)
    np.testing.assert_allclose(a, ref.rep_dissimilarity(f1, g1, f2, g2, pivots, s), rtol=1e-9)


# ----------------------------------------------------------------- identifiability


@pytest.mark.parametrize("d", [3])
def test_identifiable_transform_gives_zero_d_rep_and_logit_distance(d):
    f1, g1, f2, g2 = _identifiable_pair(d, d=d)
    pivots, subsets = _ps(10, d)
    f1n, g1n, f2n, g2n = _models(99, d1=d, d2=d)
    baseline = ref.rep_dissimilarity(f1n, g1n, f2n, g2n, pivots, subsets)
    with jax.enable_x64(True):
        assert float(M.rep_dissimilarity(f1, g1, f2, g2, pivots, subsets)) < 1e-6
        assert float(M.rep_dissimilarity(f1, g1, f2, g2, pivots, subsets, squared=True)) < 1e-12
        assert float(M.logit_distance_from_reps(f1, g1, f2, g2)) < 1e-6
    got32 = float(M.rep_dissimilarity(*(a.astype(np.float32) for a in (f1, g1, f2, g2)), pivots, subsets))
    assert got32 < 1e-2 * baseline
    assert float(M.logit_distance_from_reps(*(a.astype(np.float32) for a in (f1, g1, f2, g2)))) < 1e-2


def test_d_rep_invariant_to_reparametrising_model_two():
    # (f₂, g₂) → (B f₂, B⁻ᵀ g₂ + c) gives the same model, so the same d_rep.
    rng = np.random.default_rng(7)
    f1, g1, f2, g2 = _models(7, d1=2, d2=4)
    b = ref.random_invertible(rng, 4, cond=5.0)
    f2b = f2 @ b.T
    g2b = g2 @ np.linalg.inv(b) + rng.standard_normal(4)
    g1c = g1 + rng.standard_normal(2)
    pivots, subsets = _ps(10, 2)
    with jax.enable_x64(True):
        a = float(M.rep_dissimilarity(f1, g1, f2, g2, pivots, subsets))
        b_ = float(M.rep_dissimilarity(f1, g1c, f2b, g2b, pivots, subsets))
    np.testing.assert_allclose(b_, a, rtol=1e-8)


# ----------------------------------------------------------------- exclusion


def _singular_setup():
    f1, g1, f2, g2 = _models(8, d1=2, d2=4)
    g1 = g1.copy()
    g1[3] = g1[0] + 2.0 * (g1[2] - g1[0])  # L₁ rows for (pivot 0, subset {2,3}) are collinear
    pivots = np.array([0, 1, 9], np.int32)
    subsets = np.array(
        [[[2, 3], [4, 5], [6, 7], [8, 1]], [[2, 3], [4, 5], [6, 7], [8, 0]], [[2, 3], [4, 5], [6, 7], [8, 0]]],
        np.int32,
    )
    return f1, g1, f2, g2, pivots, subsets


def test_ill_conditioned_subsets_are_excluded_and_counted():
    f1, g1, f2, g2, pivots, subsets = _singular_setup()
    errs, excluded = ref.rep_dissimilarity_terms(f1, g1, f2, g2, pivots, subsets, max_condition=1e5)
    assert excluded == 1 and len(errs) == 11
    with jax.enable_x64(True):
        det = _details(f1, g1, f2, g2, pivots, subsets, squared=True)
        assert int(det.num_excluded) == 1
        want_included = np.ones((3, 4), bool)
        want_included[0, 0] = False
        np.testing.assert_array_equal(np.asarray(det.included), want_included)
        assert np.all(np.isfinite(np.asarray(det.errors)))
        np.testing.assert_allclose(float(det.value), errs.mean(), rtol=1e-9)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plain = float(M.rep_dissimilarity(f1, g1, f2, g2, pivots, subsets))
        np.testing.assert_allclose(plain, np.sqrt(errs.mean()), rtol=1e-9)
    det32 = _details(*(a.astype(np.float32) for a in (f1, g1, f2, g2)), pivots, subsets, squared=True)
    assert int(det32.num_excluded) == 1
    assert np.isfinite(float(det32.value))
    np.testing.assert_allclose(float(det32.value), errs.mean(), rtol=2e-3)


def test_exclusion_warns_when_validating():
    f1, g1, f2, g2, pivots, subsets = _singular_setup()
    with pytest.warns(Warning, match="1"):
        M.rep_dissimilarity(*(a.astype(np.float32) for a in (f1, g1, f2, g2)), pivots, subsets)


def test_max_condition_threshold_follows_frobenius_condition_number():
    f1, g1, f2, g2 = _models(9, d1=2, d2=4)
    pivots, subsets = _ps(10, 2, seed=9)
    conds = np.array([[np.linalg.cond(g1[s] - g1[p], "fro") for s in ss] for p, ss in zip(pivots, subsets)])
    thr = float(np.median(conds))
    errs, excluded = ref.rep_dissimilarity_terms(f1, g1, f2, g2, pivots, subsets, max_condition=thr)
    assert 0 < excluded < conds.size
    with jax.enable_x64(True):
        det = _details(f1, g1, f2, g2, pivots, subsets, squared=True, max_condition=thr)
    assert int(det.num_excluded) == excluded
    np.testing.assert_array_equal(np.asarray(det.included), conds <= thr)
    np.testing.assert_allclose(float(det.value), errs.mean(), rtol=1e-9)


def test_all_subsets_ill_conditioned_raises():
    f1, g1, f2, g2, pivots, subsets = _singular_setup()
    subsets = np.broadcast_to(subsets[:1, :1], subsets.shape).copy()
    pivots = np.zeros_like(pivots)
    with pytest.raises(ValueError, match="condition"):
        M.rep_dissimilarity(*(a.astype(np.float32) for a in (f1, g1, f2, g2)), pivots, subsets, max_condition=1e5)


# ----------------------------------------------------------------- bound consistency


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), dims=st.sampled_from([(2, 4), (3, 3)]), noise=st.floats(0.0, 2.0))
def test_property_d_rep_bounded_by_logit_distance(seed, dims, noise):
    # e_pS = (1/n)Σ‖L₁⁻¹(L₁f₁ − L₂f₂)‖² ≤ ‖L₁⁻¹‖₂² (1/n)Σ‖Δ‖², ‖Δ‖² ≤ 2(d₁+1)‖Z̄₁−Z̄₂‖²
    d1, d2 = dims
    rng = np.random.default_rng(seed)
    f1, g1, f2, g2 = _models(seed, d1=d1, d2=d2)
    f1 = f1 + noise * rng.standard_normal(f1.shape)
    pivots, subsets = _ps(10, d1, seed=seed % 1000)
    with jax.enable_x64(True):
        det = _details(f1, g1, f2, g2, pivots, subsets, squared=True, max_condition=1e8)
        dlogit2 = float(M.logit_distance_from_reps(f1, g1, f2, g2, squared=True))
    inc = np.asarray(det.included)
    errs = np.asarray(det.errors)
    z1, z2 = ref.center_logits(f1 @ g1.T), ref.center_logits(f2 @ g2.T)
    for j, p in enumerate(pivots):
        for c, s in enumerate(subsets[j]):
            if not inc[j, c]:
                continue
            l1 = g1[s] - g1[p]
            inv2 = np.linalg.norm(np.linalg.inv(l1), 2) ** 2
            delta = (z1[:, s] - z1[:, [p]]) - (z2[:, s] - z2[:, [p]])
            per = inv2 * np.mean(np.sum(delta**2, axis=1))
            assert errs[j, c] <= per * (1 + 1e-7) + 1e-10
            assert errs[j, c] <= 2 * (d1 + 1) * inv2 * dlogit2 * (1 + 1e-7) + 1e-10
