"""logit_distance, logit_distance_from_reps, center_logits, kl_divergence vs float64 references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import repsim_jax.metrics as M
from repsim_jax.testing import reference as ref

F32 = dict(rtol=1e-4, atol=1e-5)
F64 = dict(rtol=1e-9, atol=1e-12)


def _logits(seed, n=20, k=7, scale=2.0):
    rng = np.random.default_rng(seed)
    return scale * rng.standard_normal((n, k)), scale * rng.standard_normal((n, k))


def _reps(seed, n=20, k=9, d1=4, d2=4):
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((n, d1)),
        rng.standard_normal((k, d1)),
        rng.standard_normal((n, d2)),
        rng.standard_normal((k, d2)),
    )


# ----------------------------------------------------------------- center_logits


def test_center_logits_matches_reference_float32():
    z, _ = _logits(0)
    got = np.asarray(M.center_logits(z.astype(np.float32)))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, ref.center_logits(z), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got.sum(-1), 0.0, atol=1e-5)


def test_center_logits_matches_reference_float64():
    z, _ = _logits(1)
    with jax.enable_x64(True):
        got = np.asarray(M.center_logits(z))
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, ref.center_logits(z), **F64)


def test_center_logits_equals_clr_of_softmax():
    # Z̄ = log p − mean_y log p, independent of any bias.
    z, _ = _logits(2)
    bias = np.linspace(-3, 3, z.shape[1])
    logp = z + bias - np.log(np.exp(z + bias).sum(-1, keepdims=True))
    clr = logp - logp.mean(-1, keepdims=True)
    with jax.enable_x64(True):
        got = np.asarray(M.center_logits(z + bias))
    np.testing.assert_allclose(got, clr, rtol=1e-9, atol=1e-10)


# ----------------------------------------------------------------- logit_distance


@pytest.mark.parametrize("squared", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_logit_distance_matches_reference_float32(seed, squared):
    z1, z2 = _logits(seed)
    got = float(M.logit_distance(z1.astype(np.float32), z2.astype(np.float32), squared=squared))
    np.testing.assert_allclose(got, ref.logit_distance(z1, z2, squared=squared), **F32)


@pytest.mark.parametrize("squared", [False, True])
def test_logit_distance_matches_reference_float64(squared):
    z1, z2 = _logits(3)
    with jax.enable_x64(True):
        out = M.logit_distance(z1, z2, squared=squared)
        assert out.dtype == jnp.float64
        got = float(out)
    np.testing.assert_allclose(got, ref.logit_distance(z1, z2, squared=squared), **F64)


def test_logit_distance_accepts_jax_arrays():
    z1, z2 = _logits(4)
    got = float(M.logit_distance(jnp.asarray(z1, jnp.float32), jnp.asarray(z2, jnp.float32)))
    np.testing.assert_allclose(got, ref.logit_distance(z1, z2), **F32)


def test_logit_distance_hand_computed():
    # One input, K=2: centred logits are ±(a−b)/2; diff ±1 ⇒ d² = 2 · 1² = 2.
    z1 = np.array([[3.0, 1.0]], np.float32)  # centred (1, −1)
    z2 = np.array([[0.0, 0.0]], np.float32)  # centred (0, 0)
    np.testing.assert_allclose(float(M.logit_distance(z1, z2, squared=True)), 2.0, rtol=1e-6)
    np.testing.assert_allclose(float(M.logit_distance(z1, z2)), np.sqrt(2.0), rtol=1e-6)


def test_logit_distance_squared_is_square_of_distance():
    z1, z2 = _logits(5)
    d = float(M.logit_distance(z1.astype(np.float32), z2.astype(np.float32)))
    d2 = float(M.logit_distance(z1.astype(np.float32), z2.astype(np.float32), squared=True))
    np.testing.assert_allclose(d**2, d2, rtol=1e-5)


def test_logit_distance_zero_for_identical_and_per_input_shift():
    z1, _ = _logits(6)
    shift = np.random.default_rng(0).standard_normal((z1.shape[0], 1)) * 10
    for dtype in (np.float32,):
        z = z1.astype(dtype)
        assert float(M.logit_distance(z, z)) == 0.0
        assert abs(float(M.logit_distance(z, (z1 + shift).astype(dtype), squared=True))) < 1e-4
    with jax.enable_x64(True):
        assert float(M.logit_distance(z1, z1 + shift)) < 1e-6


def test_logit_distance_invariant_to_per_input_shifts():
    z1, z2 = _logits(7)
    rng = np.random.default_rng(1)
    s1 = rng.standard_normal((z1.shape[0], 1)) * 5
    s2 = rng.standard_normal((z1.shape[0], 1)) * 5
    with jax.enable_x64(True):
        a = float(M.logit_distance(z1, z2))
        b = float(M.logit_distance(z1 + s1, z2 + s2))
    np.testing.assert_allclose(a, b, rtol=1e-10)
    np.testing.assert_allclose(a, ref.logit_distance(z1, z2), **F64)


def test_logit_distance_symmetric():
    z1, z2 = _logits(8)
    a = float(M.logit_distance(z1.astype(np.float32), z2.astype(np.float32)))
    b = float(M.logit_distance(z2.astype(np.float32), z1.astype(np.float32)))
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_logit_distance_float32_agrees_with_float64():
    z1, z2 = _logits(9, scale=5.0)
    d32 = float(M.logit_distance(z1.astype(np.float32), z2.astype(np.float32)))
    with jax.enable_x64(True):
        d64 = float(M.logit_distance(z1, z2))
    np.testing.assert_allclose(d32, d64, rtol=1e-5)


def test_logit_distance_large_common_offset_float32():
    # Per-input offsets of size 1e3 must not destroy float32 accuracy much.
    z1, z2 = _logits(10)
    off = 1e3
    got = float(M.logit_distance((z1 + off).astype(np.float32), (z2 - off).astype(np.float32)))
    np.testing.assert_allclose(got, ref.logit_distance(z1, z2), rtol=1e-3)


# ----------------------------------------------------------------- from reps


@pytest.mark.parametrize("d1,d2", [(4, 4), (3, 5)])
@pytest.mark.parametrize("squared", [False, True])
def test_logit_distance_from_reps_matches_reference(d1, d2, squared):
    f1, g1, f2, g2 = _reps(11, d1=d1, d2=d2)
    args32 = [a.astype(np.float32) for a in (f1, g1, f2, g2)]
    got = float(M.logit_distance_from_reps(*args32, squared=squared))
    want = ref.logit_distance_from_reps(f1, g1, f2, g2, squared=squared)
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-5)
    with jax.enable_x64(True):
        got64 = float(M.logit_distance_from_reps(f1, g1, f2, g2, squared=squared))
    np.testing.assert_allclose(got64, want, rtol=1e-9, atol=1e-11)


def test_logit_distance_from_reps_equals_logit_distance_of_products():
    f1, g1, f2, g2 = _reps(12, d1=3, d2=5)
    with jax.enable_x64(True):
        a = float(M.logit_distance_from_reps(f1, g1, f2, g2, squared=True))
        b = float(M.logit_distance(f1 @ g1.T, f2 @ g2.T, squared=True))
    np.testing.assert_allclose(a, b, rtol=1e-9)


def test_logit_distance_from_reps_ignores_common_unembedding_offset():
    # Adding one vector to every row of G adds (f·c) to all logits of an input: removed by centring.
    f1, g1, f2, g2 = _reps(13)
    c = np.random.default_rng(3).standard_normal(g1.shape[1]) * 4
    with jax.enable_x64(True):
        a = float(M.logit_distance_from_reps(f1, g1, f2, g2))
        b = float(M.logit_distance_from_reps(f1, g1 + c, f2, g2))
    np.testing.assert_allclose(a, b, rtol=1e-10)


@pytest.mark.parametrize("d", [4])
def test_identifiable_transform_gives_zero_logit_distance(d):
    # f₁ = A f₂, g₁ = A⁻ᵀ g₂ + c  ⇒ identical conditionals.
    rng = np.random.default_rng(14 + d)
    f2 = rng.standard_normal((20, d))
    g2 = rng.standard_normal((9, d))
    a = ref.random_invertible(rng, d, cond=5.0)
    c = rng.standard_normal(d)
    f1 = f2 @ a.T
    g1 = g2 @ np.linalg.inv(a) + c
    scale = ref.logit_distance_from_reps(f1, g1, rng.standard_normal((20, d)), g2)
    got32 = float(M.logit_distance_from_reps(*(x.astype(np.float32) for x in (f1, g1, f2, g2))))
    assert got32 < 1e-2 * scale
    with jax.enable_x64(True):
        assert float(M.logit_distance_from_reps(f1, g1, f2, g2)) < 1e-6
        assert float(M.logit_distance_from_reps(f1, g1, f2, g2, squared=True)) < 1e-12
        assert float(M.logit_distance(f1 @ g1.T, f2 @ g2.T)) < 1e-6


def test_logit_distance_from_reps_zero_for_identical():
    f1, g1, _, _ = _reps(15)
    f1, g1 = f1.astype(np.float32), g1.astype(np.float32)
    got = float(M.logit_distance_from_reps(f1, g1, f1, g1))
    assert np.isfinite(got) and got < 1e-2


# ----------------------------------------------------------------- KL


@pytest.mark.parametrize("seed", [0, 1])
def test_kl_divergence_matches_reference(seed):
    zp, zq = _logits(20 + seed)
    got = float(M.kl_divergence(zp.astype(np.float32), zq.astype(np.float32)))
    np.testing.assert_allclose(got, ref.kl_divergence(zp, zq), rtol=1e-4, atol=1e-6)
    with jax.enable_x64(True):
        got64 = float(M.kl_divergence(zp, zq))
    np.testing.assert_allclose(got64, ref.kl_divergence(zp, zq), **F64)


def test_kl_divergence_direction():
    # KL(p‖q) with p the first argument.
    zp, zq = _logits(22, scale=3.0)
    with jax.enable_x64(True):
        pq = float(M.kl_divergence(zp, zq))
        qp = float(M.kl_divergence(zq, zp))
    np.testing.assert_allclose(pq, ref.kl_divergence(zp, zq), **F64)
    np.testing.assert_allclose(qp, ref.kl_divergence(zq, zp), **F64)
    assert abs(pq - qp) > 1e-3  # genuinely asymmetric inputs


def test_kl_divergence_hand_computed():
    # p = (1/2, 1/2), q = (e/(1+e), 1/(1+e)) from logits (1, 0).
    zp = np.array([[0.0, 0.0]])
    zq = np.array([[1.0, 0.0]])
    q = np.array([np.e / (1 + np.e), 1 / (1 + np.e)])
    want = 0.5 * np.log(0.5 / q[0]) + 0.5 * np.log(0.5 / q[1])
    with jax.enable_x64(True):
        np.testing.assert_allclose(float(M.kl_divergence(zp, zq)), want, rtol=1e-12)


def test_kl_divergence_zero_for_same_distribution_and_shift_invariant():
    zp, zq = _logits(23)
    shift = np.random.default_rng(5).standard_normal((zp.shape[0], 1)) * 7
    with jax.enable_x64(True):
        assert abs(float(M.kl_divergence(zp, zp + shift))) < 1e-10
        a = float(M.kl_divergence(zp, zq))
        b = float(M.kl_divergence(zp + shift, zq - shift))
    np.testing.assert_allclose(a, b, rtol=1e-10)
    assert a > 0


def test_kl_divergence_extreme_logits_finite():
    # Near-one-hot distributions: log_softmax must be used (no log(0)).
    zp = np.array([[80.0, 0.0, -80.0], [0.0, 90.0, 0.0]])
    zq = np.array([[0.0, 80.0, -80.0], [0.0, 0.0, 90.0]])
    got32 = float(M.kl_divergence(zp.astype(np.float32), zq.astype(np.float32)))
    want = ref.kl_divergence(zp, zq)
    assert np.isfinite(got32)
    np.testing.assert_allclose(got32, want, rtol=1e-4)
    assert float(M.kl_divergence(zp.astype(np.float32), zp.astype(np.float32))) == pytest.approx(0.0, abs=1e-6)
