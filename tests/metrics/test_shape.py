"""procrustes_distance and gram_distance vs float64 references and invariances."""

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import repsim_jax.metrics as M
from repsim_jax.testing import reference as ref

SQRT2 = float(np.sqrt(2.0))


def _xy(seed, n=20, dx=4, dy=4, noise=1.0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dx))
    y = x[:, : min(dx, dy)] @ rng.standard_normal((min(dx, dy), dy)) + noise * rng.standard_normal((n, dy))
    return x, y


def _f32(*a):
    return tuple(np.asarray(v, np.float32) for v in a)


# ----------------------------------------------------------------- vs reference


@pytest.mark.parametrize("dx,dy", [(4, 4), (3, 6), (6, 2)])
@pytest.mark.parametrize("angular", [False, True])
def test_procrustes_matches_reference_float32(dx, dy, angular):
    x, y = _xy(dx * 7 + dy, dx=dx, dy=dy)
    got = float(M.procrustes_distance(*_f32(x, y), angular=angular))
    np.testing.assert_allclose(got, ref.procrustes_distance(x, y, angular=angular), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("angular", [False, True])
def test_procrustes_matches_reference_float64(angular):
    x, y = _xy(1, dx=6, dy=2)
    with jax.enable_x64(True):
        out = M.procrustes_distance(x, y, angular=angular)
        assert out.dtype == np.float64
    np.testing.assert_allclose(float(out), ref.procrustes_distance(x, y, angular=angular), rtol=1e-9, atol=1e-12)


def test_procrustes_equals_explicit_rotation_distance():
    x, y = _xy(2, dx=3, dy=6)
    with jax.enable_x64(True):
        got = float(M.procrustes_distance(x, y))
    np.testing.assert_allclose(got, ref.procrustes_distance_by_rotation(x, y), rtol=1e-9)


def test_procrustes_angular_consistent_with_euclidean():
    # D_P² = 2 − 2 cos θ
    x, y = _xy(3)
    with jax.enable_x64(True):
        d = float(M.procrustes_distance(x, y))
        theta = float(M.procrustes_distance(x, y, angular=True))
    np.testing.assert_allclose(d**2, 2 - 2 * np.cos(theta), rtol=1e-9)


@pytest.mark.parametrize("dx,dy", [(4, 4), (3, 6)])
def test_gram_distance_matches_reference(dx, dy):
    x, y = _xy(4 + dx, dx=dx, dy=dy)
    want = ref.gram_distance(x, y)
    np.testing.assert_allclose(float(M.gram_distance(*_f32(x, y))), want, rtol=1e-4, atol=1e-5)
    with jax.enable_x64(True):
        out = M.gram_distance(x, y)
        assert out.dtype == np.float64
    np.testing.assert_allclose(float(out), want, rtol=1e-9, atol=1e-12)


def test_shape_metrics_hand_computed():
    # x = centred (−1, 1) column; y = centred (1, −1): same up to sign (an orthogonal map).
    x = np.array([[0.0], [2.0]])
    y = np.array([[5.0], [3.0]])
    z = np.array([[0.0, 1.0], [0.0, -1.0]])  # second column only
    with jax.enable_x64(True):
        assert float(M.procrustes_distance(x, y)) == pytest.approx(0.0, abs=1e-7)
        assert float(M.gram_distance(x, y)) == pytest.approx(0.0, abs=1e-7)
        # normalised x = (−1, 1)/√2 padded, z = (0,1;0,−1)/√2: XᵀZ = [[0, −1]], ‖·‖_* = 1 ⇒ 0
        assert float(M.procrustes_distance(x, z)) == pytest.approx(0.0, abs=1e-7)
    # orthogonal 2-D patterns: X = e₁e₁ᵀ-like (rank 1) vs a rotated rank-1 direction
    a = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    b = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    # normalised: X = (e1−e2)/√2 ⊗ e1, Y = (e3−e4)/√2 ⊗ e1: XᵀY = 0 ⇒ D_P = √2, θ = π/2
    with jax.enable_x64(True):
        assert float(M.procrustes_distance(a, b)) == pytest.approx(SQRT2, rel=1e-9)
        assert float(M.procrustes_distance(a, b, angular=True)) == pytest.approx(np.pi / 2, rel=1e-9)
        # ‖XXᵀ − YYᵀ‖_F with disjoint supports: √(‖XXᵀ‖² + ‖YYᵀ‖²) = √2
        assert float(M.gram_distance(a, b)) == pytest.approx(SQRT2, rel=1e-9)


# ----------------------------------------------------------------- invariances


@pytest.mark.parametrize("metric", ["procrustes", "gram"])
def test_invariant_to_orthogonal_scaling_translation(metric):
    rng = np.random.default_rng(5)
    x, y = _xy(5, dx=4, dy=4)
    fn = M.procrustes_distance if metric == "procrustes" else M.gram_distance
    rx, ry = ref.random_orthogonal(rng, 4), ref.random_orthogonal(rng, 4)
    x2 = 3.7 * x @ rx + rng.standard_normal(4) * 10
    y2 = 0.2 * y @ ry - 4.0
    with jax.enable_x64(True):
        np.testing.assert_allclose(float(fn(x2, y2)), float(fn(x, y)), rtol=1e-9)
    np.testing.assert_allclose(float(fn(*_f32(x2, y2))), float(fn(*_f32(x, y))), rtol=2e-4)


@pytest.mark.parametrize("metric", ["procrustes", "gram"])
def test_zero_for_similarity_transform(metric):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((20, 4))
    y = 2.5 * x @ ref.random_orthogonal(rng, 4) + 1.0
    fn = M.procrustes_distance if metric == "procrustes" else M.gram_distance
    with jax.enable_x64(True):
        assert float(fn(x, y)) < 1e-6
        assert float(fn(x, x)) < 1e-6
    # float32: 2 − 2‖XᵀY‖_* may be slightly negative ⇒ safe sqrt must give a small, finite value
    got = float(fn(*_f32(x, y)))
    assert np.isfinite(got) and got < 2e-3
    got = float(fn(*_f32(x, x)))
    assert np.isfinite(got) and got < 2e-3


def test_procrustes_zero_padding_for_different_widths():
    # y = x embedded in a wider space with an orthogonal map ⇒ distance 0.
    rng = np.random.default_rng(7)
    x = rng.standard_normal((20, 3))
    q = ref.random_orthogonal(rng, 6)[:3]  # 3×6 with orthonormal rows
    y = x @ q
    with jax.enable_x64(True):
        assert float(M.procrustes_distance(x, y)) < 1e-6
        assert float(M.procrustes_distance(y, x)) < 1e-6
        assert float(M.gram_distance(x, y)) < 1e-6


def test_not_invariant_to_general_linear_maps():
    # A sanity check that the metric actually measures shape: anisotropic scaling changes it.
    rng = np.random.default_rng(8)
    x = rng.standard_normal((20, 4))
    y = x * np.array([1.0, 5.0, 0.1, 1.0])
    with jax.enable_x64(True):
        d = float(M.procrustes_distance(x, y))
    np.testing.assert_allclose(d, ref.procrustes_distance(x, y), rtol=1e-9)
    assert d > 0.1


def test_symmetric():
    x, y = _xy(9, dx=3, dy=6)
    with jax.enable_x64(True):
        for fn in (M.procrustes_distance, M.gram_distance):
            np.testing.assert_allclose(float(fn(x, y)), float(fn(y, x)), rtol=1e-10)


def test_float32_agrees_with_float64():
    x, y = _xy(10, noise=0.3)
    x = x * 100 + 1000  # large offset and scale
    for fn in (M.procrustes_distance, M.gram_distance):
        with jax.enable_x64(True):
            d64 = float(fn(x, y))
        d32 = float(fn(*_f32(x, y)))
        np.testing.assert_allclose(d32, d64, rtol=1e-3)


# ----------------------------------------------------------------- properties


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), dims=st.sampled_from([(4, 4), (3, 6)]), noise=st.floats(0.0, 5.0))
def test_property_procrustes_and_gram_ranges(seed, dims, noise):
    dx, dy = dims  # few distinct shapes: each new shape costs a compilation
    x, y = _xy(seed, n=20, dx=dx, dy=dy, noise=noise)
    if np.linalg.norm(x - x.mean(0)) < 1e-6 or np.linalg.norm(y - y.mean(0)) < 1e-6:
        return
    d = float(M.procrustes_distance(*_f32(x, y)))
    theta = float(M.procrustes_distance(*_f32(x, y), angular=True))
    g = float(M.gram_distance(*_f32(x, y)))
    assert 0.0 <= d <= SQRT2 + 1e-5
    assert 0.0 <= theta <= np.pi / 2 + 1e-5
    assert 0.0 <= g <= SQRT2 + 1e-5  # ‖XXᵀ−YYᵀ‖² = ‖XᵀX‖²+‖YᵀY‖²−2‖XᵀY‖² ≤ 2
    np.testing.assert_allclose(d, ref.procrustes_distance(x, y), atol=2e-3)
    np.testing.assert_allclose(g, ref.gram_distance(x, y), atol=2e-3)


@pytest.mark.parametrize(
    "metric,scale",
    [
        ("procrustes", 1e-6),
        ("procrustes", 1e6),
        pytest.param("procrustes", 1e-12),
        pytest.param("procrustes", 1e9),
        ("gram", 1e-6),
        ("gram", 1e6),
        pytest.param("gram", 1e-12),
        pytest.param("gram", 1e9),
    ],
)
def test_float32_isotropic_scale_of_both_inputs(metric, scale):
    x, y = _xy(12)
    fn = M.procrustes_distance if metric == "procrustes" else M.gram_distance
    rfn = ref.procrustes_distance if metric == "procrustes" else ref.gram_distance
    np.testing.assert_allclose(float(fn(*_f32(x * scale, y * scale))), rfn(x, y), rtol=1e-3)
