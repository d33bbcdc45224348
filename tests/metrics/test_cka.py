"""linear_cka (biased and debiased) vs explicit-Gram float64 references and invariances."""

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import repsim_jax.metrics as M
from repsim_jax.testing import reference as ref


def _xy(seed, n=20, dx=4, dy=5, noise=1.0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dx)) + rng.standard_normal(dx) * 3
    y = x[:, : min(dx, dy)] @ rng.standard_normal((min(dx, dy), dy)) + noise * rng.standard_normal((n, dy))
    return x, y


def _f32(*a):
    return tuple(np.asarray(v, np.float32) for v in a)


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("dx,dy", [(4, 5), (1, 1)])
def test_cka_matches_reference_float32(debiased, dx, dy):
    x, y = _xy(dx * 3 + dy, dx=dx, dy=dy)
    want = ref.linear_cka(x, y, debiased=debiased)
    got = float(M.linear_cka(*_f32(x, y), debiased=debiased))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_matches_reference_float64(debiased):
    x, y = _xy(1, noise=2.0)
    with jax.enable_x64(True):
        out = M.linear_cka(x, y, debiased=debiased)
        assert out.dtype == np.float64
    np.testing.assert_allclose(float(out), ref.linear_cka(x, y, debiased=debiased), rtol=1e-9, atol=1e-12)


def test_biased_cka_equals_centred_gram_hsic():
    # ‖XᵀY‖²/(‖XᵀX‖‖YᵀY‖) on centred features == HSIC with H K H, H L H.
    x, y = _xy(2)
    want = ref.linear_cka_biased_hsic(x, y)
    np.testing.assert_allclose(want, ref.linear_cka(x, y), rtol=1e-12)
    with jax.enable_x64(True):
        np.testing.assert_allclose(float(M.linear_cka(x, y)), want, rtol=1e-9)


def test_debiased_cka_differs_from_biased_on_small_n():
    # Independent noise at small n: biased CKA is inflated, debiased is near 0.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 4))
    y = rng.standard_normal((8, 5))
    with jax.enable_x64(True):
        b = float(M.linear_cka(x, y))
        u = float(M.linear_cka(x, y, debiased=True))
    np.testing.assert_allclose(u, ref.linear_cka(x, y, debiased=True), rtol=1e-9, atol=1e-12)
    assert u < b - 0.1


def test_debiased_cka_smallest_valid_n():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 2))
    y = rng.standard_normal((4, 3))
    with jax.enable_x64(True):
        got = float(M.linear_cka(x, y, debiased=True))
    np.testing.assert_allclose(got, ref.linear_cka(x, y, debiased=True), rtol=1e-8)


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_one_for_identical_and_similarity_transform(debiased):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((20, 4))
    y = 0.3 * x @ ref.random_orthogonal(rng, 5)[:4] + 7.0  # isometric embedding 4 → 5
    with jax.enable_x64(True):
        np.testing.assert_allclose(float(M.linear_cka(y, y, debiased=debiased)), 1.0, atol=1e-10)
        np.testing.assert_allclose(float(M.linear_cka(x, y, debiased=debiased)), 1.0, atol=1e-10)
    np.testing.assert_allclose(float(M.linear_cka(*_f32(x, y), debiased=debiased)), 1.0, atol=1e-5)


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_invariant_to_orthogonal_isotropic_scaling_translation(debiased):
    rng = np.random.default_rng(6)
    x, y = _xy(6)
    x2 = 12.0 * x @ ref.random_orthogonal(rng, 4) - 3.0
    y2 = 0.05 * y @ ref.random_orthogonal(rng, 5) + rng.standard_normal(5) * 50
    with jax.enable_x64(True):
        a = float(M.linear_cka(x, y, debiased=debiased))
        b = float(M.linear_cka(x2, y2, debiased=debiased))
    np.testing.assert_allclose(b, a, rtol=1e-9)
    np.testing.assert_allclose(float(M.linear_cka(*_f32(x2, y2), debiased=debiased)), a, rtol=5e-4)


def test_cka_not_invariant_to_anisotropic_scaling():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((20, 4))
    y = np.concatenate([x * np.array([1.0, 10.0, 0.1, 1.0]), np.zeros((20, 1))], axis=1)
    with jax.enable_x64(True):
        got = float(M.linear_cka(x, y))
    np.testing.assert_allclose(got, ref.linear_cka(x, y), rtol=1e-9)
    assert got < 0.9


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_symmetric(debiased):
    x, y = _xy(8)
    with jax.enable_x64(True):
        np.testing.assert_allclose(
            float(M.linear_cka(x, y, debiased=debiased)), float(M.linear_cka(y, x, debiased=debiased)), rtol=1e-10
        )


def test_cka_float32_agrees_with_float64_large_offset():
    x, y = _xy(9)
    x = x + 1e3
    for debiased in (False, True):
        with jax.enable_x64(True):
            a = float(M.linear_cka(x, y, debiased=debiased))
        b = float(M.linear_cka(*_f32(x, y), debiased=debiased))
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), dims=st.sampled_from([(4, 5), (1, 1)]), noise=st.floats(0.0, 5.0))
def test_property_cka_in_unit_interval(seed, dims, noise):
    dx, dy = dims  # few distinct shapes: each new shape costs a compilation
    x, y = _xy(seed, n=20, dx=dx, dy=dy, noise=noise)
    c = float(M.linear_cka(*_f32(x, y)))
    u = float(M.linear_cka(*_f32(x, y), debiased=True))
    assert -1e-6 <= c <= 1 + 1e-5
    # the debiased estimator may be negative, but it is a normalised inner product: |·| ≤ 1
    assert abs(u) <= 1 + 1e-4
    np.testing.assert_allclose(c, ref.linear_cka(x, y), atol=1e-4)
    np.testing.assert_allclose(u, ref.linear_cka(x, y, debiased=True), atol=1e-3)


@pytest.mark.parametrize("debiased", [False, True])
@pytest.mark.parametrize("scale", [1e-3, 1e3, pytest.param(1e-6), pytest.param(1e4)])
def test_cka_float32_isotropic_scale_of_both_inputs(scale, debiased):
    # CKA is invariant to isotropic scaling; entries of size 1e4 or 1e-6 are ordinary float32 numbers.
    x, y = _xy(11)
    got = float(M.linear_cka(*_f32(x * scale, y * scale), debiased=debiased))
    np.testing.assert_allclose(got, ref.linear_cka(x, y, debiased=debiased), rtol=1e-3)
