"""Every bound holds on random models and matches float64 NumPy references."""

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from repsim_jax import bounds
from repsim_jax.errors import InputError
from repsim_jax.metrics import rep_dissimilarity_details, sample_input_sets, sample_pivot_subsets
from repsim_jax.testing import bounds_reference as reference
from repsim_jax.testing import reference as metric_reference
from tests.bounds.conftest import random_pair

SETTINGS = settings(max_examples=6, deadline=None)
shapes = st.tuples(
    st.sampled_from([40, 90]),
    st.sampled_from([6, 9]),
    st.sampled_from([2, 3]),
    st.sampled_from([2, 4]),
    st.floats(0.05, 2.0),
    st.integers(0, 2**16),
)


@SETTINGS
@given(shapes)
@pytest.mark.slow
def test_cca_logit_bound_holds_and_matches_reference(shape):
    n, k, d1, d2, noise, seed = shape
    f1, g1, f2, g2 = random_pair(np.random.default_rng(seed), n, k, d1, d2, noise)
    z1, z2 = f1 @ g1.T + 0.3, f2 @ g2.T
    with jax.enable_x64(True):
        result = bounds.cca_logit_bound(f1, z1, f2, z2)
    lhs, middle, rhs = reference.cca_logit(f1, z1, f2, z2)
    assert bool(result.holds) and lhs <= middle * (1 + 1e-9) <= rhs * (1 + 1e-9)
    np.testing.assert_allclose([result.lhs, result.middle, result.rhs], [lhs, middle, rhs], rtol=1e-7, atol=1e-9)
    assert float(result.student_span_residual) < 1e-9 * float(rhs + 1)


@SETTINGS
@given(shapes)
@pytest.mark.slow
def test_rep_logit_bound_holds_and_matches_reference(shape):
    n, k, d1, d2, noise, seed = shape
    f1, g1, f2, g2 = random_pair(np.random.default_rng(seed), n, k, d1, d2, noise)
    pivots, subsets = sample_pivot_subsets(jax.random.key(seed), k, d1, 3, 4)
    with jax.enable_x64(True):
        result = bounds.rep_logit_bound(f1, g1, f2, g2, pivots, subsets, max_condition=1e300)
    lhs, rhs, errors, subset_rhs = reference.rep_logit(f1, g1, f2, g2, np.asarray(pivots), np.asarray(subsets))
    assert bool(result.holds) and bool(np.all(result.subset_holds)) and lhs <= rhs
    assert np.all(errors <= subset_rhs * (1 + 1e-9))
    np.testing.assert_allclose([result.lhs, result.rhs], [lhs, rhs], rtol=1e-6)
    np.testing.assert_allclose(np.ravel(result.errors), errors, rtol=1e-6)
    np.testing.assert_allclose(np.ravel(result.subset_rhs), subset_rhs, rtol=1e-6)


@SETTINGS
@given(shapes)
def test_kl_logit_bound_holds_and_matches_reference(shape):
    n, k, d1, d2, noise, seed = shape
    f1, g1, f2, g2 = random_pair(np.random.default_rng(seed), n, k, d1, d2, noise)
    z1, z2 = 0.5 * f1 @ g1.T, 0.5 * f2 @ g2.T
    with jax.enable_x64(True):
        result = bounds.kl_logit_bound(z1, z2)
    lhs_x, kl_x, tau_x = reference.kl_logit(z1, z2)
    assert np.all(lhs_x <= kl_x / tau_x**2) and bool(result.holds_per_input) and bool(result.holds)
    np.testing.assert_allclose([result.lhs, result.kl, result.tau], [lhs_x.mean(), kl_x.mean(), tau_x.min()], rtol=1e-7)
    np.testing.assert_allclose(result.rhs_per_input, np.mean(kl_x / tau_x**2), rtol=1e-7)
    assert float(result.slack) >= float(result.slack_per_input) >= 1.0


def test_bounds_hold_in_float32(rng):
    f1, g1, f2, g2 = (a.astype(np.float32) for a in random_pair(rng, 500, 12, 4, 5, 0.3))
    pivots, subsets = sample_pivot_subsets(jax.random.key(0), 12, 4, 4, 5)
    assert bool(bounds.cca_logit_bound(f1, f1 @ g1.T, f2, f2 @ g2.T).holds)
    assert bool(bounds.rep_logit_bound(f1, g1, f2, g2, pivots, subsets).holds)
    assert bool(bounds.kl_logit_bound(f1 @ g1.T, f2 @ g2.T).holds)


def test_cca_logit_bound_is_attained():
    """Orthogonal teacher coordinates with variances 9, 4, 1 read out by orthonormal label directions;
    the student keeps the first coordinate only: ρ = (1, 0, 0), so lhs = middle = rhs = 4 + 1."""
    rng = np.random.default_rng(1)
    n, k = 60, 6
    q = np.linalg.qr(rng.normal(size=(n, 3)) - 0.0)[0]
    q = np.linalg.qr(q - q.mean(0))[0]
    f_t = np.sqrt(n) * q * np.array([3.0, 2.0, 1.0])
    g = np.linalg.qr(reference.clr(rng.normal(size=(3, k))).T)[0]  # (K, 3) orthonormal, label-centred
    with jax.enable_x64(True):
        result = bounds.cca_logit_bound(f_t, f_t @ g.T, f_t[:, :1], f_t[:, :1] @ g[:, :1].T)
    np.testing.assert_allclose([result.lhs, result.middle, result.rhs], [5.0, 5.0, 5.0], rtol=1e-10)
    np.testing.assert_allclose(result.eigenvalues[:3], [9.0, 4.0, 1.0], rtol=1e-10)


def test_rep_logit_lhs_is_d_rep_squared(rng):
    f1, g1, f2, g2 = random_pair(rng, 80, 8, 3, 3)
    pivots, subsets = sample_pivot_subsets(jax.random.key(3), 8, 3, 4, 3)
    with jax.enable_x64(True):
        bound = bounds.rep_logit_bound(f1, g1, f2, g2, pivots, subsets)
        metric = rep_dissimilarity_details(f1, g1, f2, g2, pivots, subsets, squared=True)
    np.testing.assert_allclose(bound.lhs, metric.value, rtol=1e-8)


@pytest.mark.slow
def test_many_pairs_equal_per_pair(rng):
    pairs = [random_pair(np.random.default_rng(s), 70, 8, 3, 3) for s in range(4)]
    f1, g1 = pairs[0][:2]
    f2s, g2s = np.stack([p[2] for p in pairs]), np.stack([p[3] for p in pairs])
    pivots, subsets = sample_pivot_subsets(jax.random.key(0), 8, 3, 3, 2)
    sets = sample_input_sets(jax.random.key(1), 70, 2, 10)
    with jax.enable_x64(True):
        z2s = np.einsum("pnd,pkd->pnk", f2s, g2s)
        stacked = [
            bounds.cca_logit_bound(f1, f1 @ g1.T, f2s, z2s, pairs_per_step=3),
            bounds.rep_logit_bound(f1, g1, f2s, g2s, pivots, subsets, pairs_per_step=3),
            bounds.kl_logit_bound(f1 @ g1.T, z2s, pairs_per_step=3),
            bounds.llv_svd_bound(f1[:, :2], g1[:, :2], f2s[..., :2], g2s[..., :2], [[0, 1], [2, 3]], sets),
        ]
        both_stacked = bounds.kl_logit_bound(np.stack([f1 @ g1.T] * 4), z2s)
        for i in range(4):
            single = [
                bounds.cca_logit_bound(f1, f1 @ g1.T, f2s[i], z2s[i]),
                bounds.rep_logit_bound(f1, g1, f2s[i], g2s[i], pivots, subsets),
                bounds.kl_logit_bound(f1 @ g1.T, z2s[i]),
                bounds.llv_svd_bound(f1[:, :2], g1[:, :2], f2s[i, :, :2], g2s[i, :, :2], [[0, 1], [2, 3]], sets),
            ]
            for many, one in zip(stacked, single):
                for a, b in zip(many, one):
                    np.testing.assert_allclose(np.asarray(a)[i], b, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(both_stacked.lhs[i], single[2].lhs, rtol=1e-12)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda f, g: bounds.cca_logit_bound(f[:5], f[:5] @ g.T, f[:5], f[:5] @ g.T), "too few samples"),
        (lambda f, g: bounds.kl_logit_bound(f @ g.T, (f @ g.T)[:, :3]), "logit shapes differ"),
        (lambda f, g: bounds.cca_logit_bound(f, f @ g.T, f[None], (f @ g.T)[None, :, :2]), "same number K"),
        (lambda f, g: bounds.rep_logit_bound(f, g, f, np.full_like(g, np.nan), [0], [[[1, 2, 3]]]), "NaN"),
        (lambda f, g: bounds.kl_logit_bound(f @ g.T, np.stack([f @ g.T] * 2)[..., None]), "2-D"),
    ],
)
def test_bad_input_raises_clear_value_error(rng, call, message):
    f, g = rng.normal(size=(40, 3)), rng.normal(size=(7, 3))
    with pytest.raises(ValueError, match=message):
        call(f, g)


def test_arguments_in_another_order_are_refused_naming_them(rng):
    """The contract's order is (f1, g1, z1, f2, g2, z2), or the subset a bound needs. Called
    in another order (the former ``cca_logit_bound(f_t, f_s, z_t, z_s)``, or the
    unembeddings after both embeddings), the public wrapper's shape checks refuse it with
    the arguments named whenever the widths tell them apart (here d = 3 != K = 7)."""
    f1, g1, f2, g2 = random_pair(rng, 40, 7, 3, 3)
    z1, z2 = f1 @ g1.T, f2 @ g2.T
    with pytest.raises(InputError, match=r"z1 and z2 need the same number K .* z1 with 3 and z2 with 7"):
        bounds.cca_logit_bound(f1, f2, z1, z2)
    with pytest.raises(InputError, match=r"f1 \(40, 3\), g1 \(40, 3\), f2 \(7, 3\)"):
        bounds.rep_logit_bound(f1, f2, g1, g2, [0], [[[1, 2, 3]]])


@pytest.mark.slow
def test_logit_bounds_equal_the_three_calls(rng):
    pairs = [random_pair(np.random.default_rng(s), 60, 7, 3, 2) for s in range(3)]
    f1, g1 = pairs[0][:2]
    f2s, g2s = np.stack([p[2] for p in pairs]), np.stack([p[3] for p in pairs])
    z1, z2s = f1 @ g1.T + 0.2, np.einsum("pnd,pkd->pnk", f2s, g2s)
    pivots, subsets = sample_pivot_subsets(jax.random.key(2), 7, 3, 2, 3)
    with jax.enable_x64(True):
        combined = bounds.logit_bounds(f1, g1, z1, f2s, g2s, z2s, pivots, subsets, pairs_per_step=3)
        separate = (
            bounds.cca_logit_bound(f1, z1, f2s, z2s),
            bounds.rep_logit_bound(f1, g1, f2s, g2s, pivots, subsets),
            bounds.kl_logit_bound(z1, z2s),
        )
    for many, each in zip(combined, separate):
        for a, b in zip(many, each):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_cca_bound_counts_a_repeated_student_column_once():
    """A rank-deficient student (a column repeated) has the canonical correlations of its
    distinct columns: the bound equals the one for the single column."""
    rng = np.random.default_rng(5)
    f1, g1, f2, g2 = random_pair(rng, 80, 6, 3, 1, 0.4)
    z1, z2 = f1 @ g1.T, f2 @ g2.T
    with jax.enable_x64(True):
        single = bounds.cca_logit_bound(f1, z1, f2, z2)
        repeated = bounds.cca_logit_bound(f1, z1, np.concatenate([f2, f2], axis=1), z2)
    lhs, middle, rhs = reference.cca_logit(f1, z1, f2, z2)
    np.testing.assert_allclose([repeated.lhs, repeated.middle, repeated.rhs], [lhs, middle, rhs], rtol=1e-9)
    np.testing.assert_allclose(repeated.correlations[:1], single.correlations[:1], rtol=1e-9)
    np.testing.assert_allclose(repeated.correlations[1], 0.0, atol=1e-6)


@pytest.mark.slow
def test_float32_bounds_of_an_exactly_equivalent_student():
    """Student = invertible linear map of the teacher (same logits): every lhs and rhs is
    rounding-level against the scale of the data, and every check holds."""
    rng = np.random.default_rng(6)
    f1, g1 = rng.normal(size=(400, 3)), rng.normal(size=(9, 3))
    mix = rng.normal(size=(3, 3)) + 3 * np.eye(3)
    f2, g2 = f1 @ mix, g1 @ np.linalg.inv(mix).T
    f1, g1, f2, g2 = (a.astype(np.float32) for a in (f1, g1, f2, g2))
    pivots, subsets = sample_pivot_subsets(jax.random.key(4), 9, 3, 3, 3)
    result = bounds.logit_bounds(f1, g1, f1 @ g1.T, f2, g2, f2 @ g2.T, pivots, subsets)
    scale = float(np.mean(np.sum(f1**2, 1)))
    assert all(bool(r.holds) for r in result)
    assert float(result.rep_logit.lhs) < 1e-5 * scale and float(result.cca_logit.lhs) < 1e-4 * scale
    assert float(result.kl_logit.kl) < 1e-5


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_non_finite_logits_are_named(rng, bad):
    f, g = rng.normal(size=(40, 3)), rng.normal(size=(7, 3))
    z = f @ g.T
    z[3, 2] = bad
    with pytest.raises(ValueError, match="z2 contains NaN or Inf"):
        bounds.kl_logit_bound(f @ g.T, z)


@pytest.mark.slow
def test_pairs_per_step_gives_the_same_bounds(rng):
    f1, g1, f2, g2 = random_pair(rng, 50, 6, 2, 2)
    stack = np.stack([f2, 2 * f2, f2 + 1, -f2, f2 * 0.5])
    pivots, subsets = sample_pivot_subsets(jax.random.key(1), 6, 2, 2, 2)
    with jax.enable_x64(True):
        one, three = (
            bounds.rep_logit_bound(f1, g1, stack, np.stack([g2] * 5), pivots, subsets, pairs_per_step=b) for b in (1, 3)
        )
    np.testing.assert_allclose(one.lhs, three.lhs, rtol=1e-12)
    with pytest.raises(ValueError, match="pairs_per_step"):
        bounds.kl_logit_bound(f1 @ g1.T, f2 @ g2.T, pairs_per_step=0)


def test_kl_of_nearly_equal_models_is_accurate_in_float32():
    """KL ≈ 1e-7: the log1p form keeps its rounding relative to the logit differences, where
    ``Σ p δ + lse(z_q) − lse(z_p)`` would carry rounding of order eps·|lse| ≈ 1e-6."""
    rng = np.random.default_rng(7)
    z_p = (5 * rng.normal(size=(50, 10))).astype(np.float32)
    z_q = (z_p + 1e-3 * rng.normal(size=z_p.shape)).astype(np.float32)
    result = bounds.kl_logit_bound(z_p, z_q)
    np.testing.assert_allclose(float(result.kl), metric_reference.kl_divergence(z_p, z_q), rtol=1e-3)


def test_kl_of_far_apart_models_matches_reference_in_float32():
    """A student logit 120 above the teacher's: ``p·e^u`` overflows float32, and the
    pair falls back to the normaliser form."""
    rng = np.random.default_rng(8)
    z_p = (5 * rng.normal(size=(50, 10))).astype(np.float32)
    z_q = z_p.copy()
    z_q[:, 3] += 120.0
    result = bounds.kl_logit_bound(z_p, z_q)
    np.testing.assert_allclose(float(result.kl), metric_reference.kl_divergence(z_p, z_q), rtol=1e-5)
    assert bool(result.holds) and np.isfinite(float(result.kl))
