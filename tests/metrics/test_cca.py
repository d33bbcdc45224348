"""canonical_correlations and mean_cca vs float64 references, invariances, ridge."""

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import repsim_jax.metrics as M
from repsim_jax.testing import reference as ref


def _xy(seed, n=40, dx=3, dy=4, coupling=0.7):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dx)) + rng.standard_normal(dx)
    y = coupling * x[:, : min(dx, dy)] @ rng.standard_normal((min(dx, dy), dy)) + rng.standard_normal((n, dy))
    return x, y


def _known_cca(rho, n=30, extra_y=0, seed=0):
    """x, y whose canonical correlations are exactly ``rho`` (descending)."""
    rng = np.random.default_rng(seed)
    k = len(rho)
    a = rng.standard_normal((n, 2 * k + extra_y))
    a = a - a.mean(0)
    q, _ = np.linalg.qr(a)  # centred orthonormal columns
    u, v, w = q[:, :k], q[:, k : 2 * k], q[:, 2 * k :]
    rho = np.asarray(rho, float)
    ybase = u * rho + v * np.sqrt(1 - rho**2)
    x = u @ ref.random_invertible(rng, k) + rng.standard_normal(k)
    y = np.concatenate([ybase, w], axis=1)
    y = y @ ref.random_invertible(rng, y.shape[1]) - 3.0
    return x, y


@pytest.mark.parametrize("dx,dy", [(3, 4), (4, 3), (1, 3)])
def test_canonical_correlations_match_reference_float32(dx, dy):
    x, y = _xy(dx * 10 + dy, dx=dx, dy=dy)
    got = np.asarray(M.canonical_correlations(x.astype(np.float32), y.astype(np.float32)))
    want = ref.canonical_correlations(x, y)
    assert got.shape == (min(dx, dy),)
    np.testing.assert_allclose(got, want, atol=1e-4)
    np.testing.assert_allclose(want, ref.canonical_correlations_whitening(x, y), atol=1e-10)


@pytest.mark.parametrize("dx,dy", [(3, 4), (4, 3)])
def test_canonical_correlations_match_reference_float64(dx, dy):
    x, y = _xy(7, dx=dx, dy=dy)
    with jax.enable_x64(True):
        out = M.canonical_correlations(x, y)
        assert out.dtype == np.float64
        got = np.asarray(out)
    np.testing.assert_allclose(got, ref.canonical_correlations(x, y), atol=1e-9)


def test_canonical_correlations_known_values():
    rho = [0.95, 0.6, 0.2]
    x, y = _known_cca(rho, n=40, extra_y=1)
    with jax.enable_x64(True):
        got = np.asarray(M.canonical_correlations(x, y))
        got_t = np.asarray(M.canonical_correlations(y, x))
    np.testing.assert_allclose(got, rho, atol=1e-9)
    np.testing.assert_allclose(got_t, rho, atol=1e-9)
    got32 = np.asarray(M.canonical_correlations(x.astype(np.float32), y.astype(np.float32)))
    np.testing.assert_allclose(got32, rho, atol=1e-4)
    np.testing.assert_allclose(float(M.mean_cca(x.astype(np.float32), y.astype(np.float32))), np.mean(rho), atol=1e-4)


def test_canonical_correlations_descending_and_in_unit_interval():
    x, y = _xy(3, dx=4, dy=3, coupling=0.3)
    got = np.asarray(M.canonical_correlations(x.astype(np.float32), y.astype(np.float32)))
    assert np.all(np.diff(got) <= 1e-7)
    assert np.all(got >= -1e-6) and np.all(got <= 1 + 1e-6)


def test_cca_invariant_to_invertible_linear_maps_and_translation():
    rng = np.random.default_rng(4)
    x, y = _xy(4, n=40, dx=3, dy=4)
    a = ref.random_invertible(rng, 3, cond=20.0)
    b = ref.random_invertible(rng, 4, cond=20.0)
    with jax.enable_x64(True):
        base = np.asarray(M.canonical_correlations(x, y))
        moved = np.asarray(M.canonical_correlations(x @ a + 5.0, y @ b - rng.standard_normal(4)))
    np.testing.assert_allclose(moved, base, atol=1e-9)
    base32 = np.asarray(M.canonical_correlations((x @ a + 5.0).astype(np.float32), (y @ b).astype(np.float32)))
    np.testing.assert_allclose(base32, base, atol=2e-4)


@pytest.mark.parametrize("d", [3])
def test_cca_is_one_for_invertible_linear_image(d):
    rng = np.random.default_rng(d)
    x = rng.standard_normal((40, d))
    y = x @ ref.random_invertible(rng, d, cond=10.0) + rng.standard_normal(d)
    got = np.asarray(M.canonical_correlations(x.astype(np.float32), y.astype(np.float32)))
    np.testing.assert_allclose(got, 1.0, atol=1e-4)
    np.testing.assert_allclose(float(M.mean_cca(x.astype(np.float32), y.astype(np.float32))), 1.0, atol=1e-4)
    with jax.enable_x64(True):
        np.testing.assert_allclose(float(M.mean_cca(x, y)), 1.0, atol=1e-10)
        np.testing.assert_allclose(float(M.mean_cca(x, x)), 1.0, atol=1e-10)


def test_mean_cca_is_mean_of_correlations():
    x, y = _xy(5, dx=4, dy=3)
    with jax.enable_x64(True):
        rho = np.asarray(M.canonical_correlations(x, y))
        m = float(M.mean_cca(x, y))
    np.testing.assert_allclose(m, rho.mean(), rtol=1e-12)
    np.testing.assert_allclose(m, ref.mean_cca(x, y), atol=1e-9)


def test_cca_uncorrelated_blocks_give_zero():
    # x and y spanned by mutually orthogonal centred directions ⇒ ρ = 0.
    x, y = _known_cca([0.0, 0.0, 0.0], n=40, extra_y=1, seed=3)
    got = np.asarray(M.canonical_correlations(x.astype(np.float32), y.astype(np.float32)))
    np.testing.assert_allclose(got, 0.0, atol=1e-4)


def test_cca_float32_agrees_with_float64_on_badly_scaled_columns():
    # Column scales 1e-2 … 1e2: QR route is insensitive to column scaling.
    rng = np.random.default_rng(6)
    x, y = _xy(6, dx=4, dy=3)
    x = x * np.array([1e-2, 1.0, 10.0, 1e2])
    want = ref.canonical_correlations(x, y)
    got = np.asarray(M.canonical_correlations(x.astype(np.float32), y.astype(np.float32)))
    np.testing.assert_allclose(got, want, atol=5e-4)
    del rng


# ----------------------------------------------------------------- ridge


@pytest.mark.parametrize("ridge", [0.1, 5.0])
def test_ridge_cca_matches_reference(ridge):
    x, y = _xy(8, dx=3, dy=4)
    with jax.enable_x64(True):
        got = np.asarray(M.canonical_correlations(x, y, ridge=ridge))
        m = float(M.mean_cca(x, y, ridge=ridge))
    want = ref.canonical_correlations(x, y, ridge=ridge)
    np.testing.assert_allclose(got, want, atol=1e-9)
    np.testing.assert_allclose(m, want.mean(), atol=1e-9)
    got32 = np.asarray(M.canonical_correlations(x.astype(np.float32), y.astype(np.float32), ridge=ridge))
    np.testing.assert_allclose(got32, want, atol=1e-4)


def test_ridge_allows_few_samples_and_shrinks_correlations():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((6, 4))
    y = rng.standard_normal((6, 5))  # n = 6 <= dx + dy = 9
    with pytest.raises(ValueError):
        M.canonical_correlations(x.astype(np.float32), y.astype(np.float32))
    with jax.enable_x64(True):
        small = np.asarray(M.canonical_correlations(x, y, ridge=0.5))
        big = np.asarray(M.canonical_correlations(x, y, ridge=50.0))
    np.testing.assert_allclose(small, ref.canonical_correlations(x, y, ridge=0.5), atol=1e-9)
    np.testing.assert_allclose(big, ref.canonical_correlations(x, y, ridge=50.0), atol=1e-9)
    assert np.all(small < 1.0) and np.all(big <= small + 1e-12)
    assert small.shape == (4,)


def test_tiny_ridge_approaches_plain_cca():
    x, y = _xy(10, dx=3, dy=4)
    with jax.enable_x64(True):
        plain = np.asarray(M.canonical_correlations(x, y))
        tiny = np.asarray(M.canonical_correlations(x, y, ridge=1e-9))
    np.testing.assert_allclose(tiny, plain, atol=1e-7)


# ----------------------------------------------------------------- properties


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    dims=st.sampled_from([(3, 4), (4, 3)]),
    coupling=st.floats(0.0, 3.0),
)
def test_property_cca_values_in_unit_interval_descending(seed, dims, coupling):
    dx, dy = dims  # few distinct shapes: each new shape costs a compilation
    x, y = _xy(seed, dx=dx, dy=dy, coupling=coupling)
    got = np.asarray(M.canonical_correlations(x.astype(np.float32), y.astype(np.float32)))
    assert got.shape == (min(dx, dy),)
    assert np.all(np.isfinite(got))
    assert np.all(got >= -1e-6) and np.all(got <= 1 + 1e-5)
    assert np.all(np.diff(got) <= 1e-6)
    np.testing.assert_allclose(got, ref.canonical_correlations(x, y), atol=5e-4)


def test_column_space_correlations_of_rank_deficient_inputs_match_principal_angles():
    """rank_tol: a LayerNorm-like x (rows sum to zero) and y with a constant column have
    no whitener; their ρ are the cosines of the angles between the centred column spaces."""
    import scipy.linalg

    rng = np.random.default_rng(3)
    x = rng.standard_normal((400, 6))
    x -= x.mean(1, keepdims=True)  # rank 5 once centred
    y = np.concatenate(
        [x[:, :3] @ rng.standard_normal((3, 3)) + 0.3 * rng.standard_normal((400, 3)), np.ones((400, 1))], 1
    )  # rank 3 once centred
    xc, yc = x - x.mean(0), y - y.mean(0)
    cosines = np.sort(np.cos(scipy.linalg.subspace_angles(xc, yc)))[::-1]  # 3 angles
    rho = np.asarray(M.canonical_correlations(x.astype("f4"), y.astype("f4"), rank_tol=1e-5))
    np.testing.assert_allclose(rho[:3], cosines, atol=1e-5)
    assert np.all(rho[3:] == 0)
    mean = float(M.mean_cca(x.astype("f4"), y.astype("f4"), rank_tol=1e-5))
    assert mean == pytest.approx(cosines.mean(), abs=1e-5)  # averaged over min(rank) = 3
    assert float(M.mean_cca(x.astype("f4"), (2 * x + 1).astype("f4"), rank_tol=1e-5)) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="singular case"):
        M.mean_cca(x.astype("f4"), y.astype("f4"))


def test_mean_cca_top_components_and_full_rank_agreement():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((300, 5)), rng.standard_normal((300, 4))
    x[:, :2] += y[:, :2]
    expected = np.sort(ref.canonical_correlations(x, y))[::-1]
    top2 = float(M.mean_cca(x.astype("f4"), y.astype("f4"), num_components=2))
    assert top2 == pytest.approx(expected[:2].mean(), abs=1e-5)
    assert float(M.mean_cca(x.astype("f4"), y.astype("f4"), rank_tol=1e-5)) == pytest.approx(expected.mean(), abs=1e-5)
    with pytest.raises(ValueError, match="num_components"):
        M.mean_cca(x, y, num_components=0)


# ----------------------------------------------------------------- constant columns and too few rows


def _constant_column_pair(seed=5, n=40):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 3)).astype(np.float32)
    y = (x @ rng.standard_normal((3, 2)) + 0.2 * rng.standard_normal((n, 2))).astype(np.float32)
    x_const = x.copy()
    x_const[:, 1] = 7.0  # constant over the samples: zero after centring
    return x, x_const, y


def test_constant_input_raises_with_rank_tol():
    """m_CCA over the column spaces averages over min(rank x, rank y) values: for a constant
    input that is 0 values (was NaN), so it is refused, from arrays and from moments."""
    _, _, y = _constant_column_pair()
    constant = np.full((y.shape[0], 3), 2.5, np.float32)
    for call in (
        lambda: M.mean_cca(constant, y, rank_tol=1e-5),
        lambda: M.canonical_correlations(constant, y, rank_tol=1e-5),
        lambda: M.mean_cca(y, constant, rank_tol=1e-5),
        lambda: M.mean_cca_from_moments(M.MomentAccumulator().add(constant, y).moments, rank_tol=1e-5),
    ):
        with pytest.raises(ValueError, match="singular case: [xy] is constant over the samples"):
            call()


def test_constant_column_from_moments_raises_without_rank_tol_and_works_with_it():
    x, x_const, y = _constant_column_pair()
    state = M.MomentAccumulator().add(x_const, y).moments
    for call in (lambda: M.canonical_correlations_from_moments(state), lambda: M.mean_cca_from_moments(state)):
        with pytest.raises(ValueError, match="constant or \\(nearly\\) collinear column; pass ridge > 0 or rank_tol"):
            call()
    expected = float(M.mean_cca(x_const, y, rank_tol=1e-5))
    np.testing.assert_allclose(float(M.mean_cca_from_moments(state, rank_tol=1e-5)), expected, rtol=1e-5)
    # the constant column drops out: the same as the two informative columns alone
    np.testing.assert_allclose(expected, ref.mean_cca(x[:, [0, 2]], y), rtol=1e-4)


@pytest.mark.parametrize("rows", [1, 5])
def test_moments_of_too_few_rows_raise(rows):
    x, _, y = _constant_column_pair()
    state = M.MomentAccumulator().add(x[:rows], y[:rows]).moments
    for call in (
        lambda: M.canonical_correlations_from_moments(state),
        lambda: M.mean_cca_from_moments(state),
        lambda: M.mean_cca_from_moments(state, rank_tol=1e-5),
    ):
        with pytest.raises(ValueError, match="too few samples"):
            call()
