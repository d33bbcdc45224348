"""metrics.kl: the one KL implementation, against float64 NumPy and closed forms.

The textbook ``Σ p (log p − log q)`` in float32 loses ``eps·|z|`` absolutely (the
log-sum-exps do not cancel exactly): +73% at KL ≈ 4e-8 and +10⁴% at 4e-11 for the cases
below. The reference is ``repsim_jax.testing.reference.kl_divergence``, the same formula
in float64 (its own error there is ~1e-15 absolute, below 1e-4 of the smallest KL here).
"""

import jax
import numpy as np
import pytest

import repsim_jax.metrics as M
from repsim_jax.errors import InputError
from repsim_jax.metrics.kl import kl_per_input
from repsim_jax.testing import reference as ref

N, K = 600, 5000


def near_equal_logits(noise, seed=0):
    """float32 logits z₁ (n × K, entries of size 3) and ``z₂ = z₁ + noise·N(0, 1)``:
    KL ≈ ½ Var_p(δ) ≈ noise²/2 (5e-9, 1.3e-9 and 5e-11 for the noises below)."""
    rng = np.random.default_rng(seed)
    z1 = (3.0 * rng.standard_normal((N, K))).astype(np.float32)
    z2 = (z1 + noise * rng.standard_normal((N, K))).astype(np.float32)
    return z1, z2


@pytest.mark.parametrize("noise", [1e-4, 5e-5, 1e-5])
def test_kl_of_near_equal_models_matches_float64(noise):
    z1, z2 = near_equal_logits(noise)
    expected = ref.kl_divergence(z1, z2)
    assert 1e-11 < expected < 1e-7
    np.testing.assert_allclose(float(M.kl_divergence(z1, z2)), expected, rtol=1e-3)


def test_kl_of_far_models_matches_float64():
    rng = np.random.default_rng(1)
    z1, z2 = (3.0 * rng.standard_normal((2, N, K))).astype(np.float32)
    expected = ref.kl_divergence(z1, z2)
    assert expected > 1.0
    np.testing.assert_allclose(float(M.kl_divergence(z1, z2)), expected, rtol=1e-5)


def test_rows_beyond_the_exponent_range_use_the_normalisers():
    """A student putting e^300 more weight on a label the teacher gives e^-300: some
    ``e^{−u}`` overflows float32, KL ≈ 600, still to float32's relative precision."""
    rng = np.random.default_rng(2)
    z1, z2 = rng.standard_normal((2, 8, 20)).astype(np.float32)
    z1[:3, 0], z2[:3, 0] = -300.0, 300.0
    rows = kl_per_input(z1, z2)
    expected = np.sum(np.exp(_log_softmax(z1)) * (_log_softmax(z1) - _log_softmax(z2)), axis=1)
    assert expected[:3].min() > 100
    np.testing.assert_allclose(np.asarray(rows.value), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(rows.log_value), np.log(expected), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(rows.log_tau), _log_tau(z1, z2), rtol=1e-6)


def _log_softmax(z):
    z = np.asarray(z, np.float64)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _log_tau(z1, z2):
    return np.minimum(_log_softmax(z1).min(axis=-1), _log_softmax(z2).min(axis=-1))


@pytest.mark.parametrize("scale", [1e-30, 1e-20])
def test_log_kl_is_right_where_kl_underflows(scale):
    """For logits of size s → 0, ``KL_x = ½ Var_p(δ) + O(s³)`` (second-order expansion of
    ``log Σ p e^{−u}``), a closed form in float64; KL itself (~s²) is below float32's range,
    so kl_divergence raises InputError instead of returning 0."""
    rng = np.random.default_rng(3)
    z1, z2 = (rng.standard_normal((2, 50, 30)) * scale).astype(np.float32)
    p = np.exp(_log_softmax(z1))
    delta = z1.astype(np.float64) - z2.astype(np.float64)
    centred = delta - np.sum(p * delta, axis=1, keepdims=True)
    expected = 0.5 * np.sum(p * centred**2, axis=1)
    np.testing.assert_allclose(np.asarray(kl_per_input(z1, z2).log_value), np.log(expected), rtol=1e-5)
    with pytest.raises(InputError, match="kl_divergence is about 1e-.*outside the float32 range"):
        M.kl_divergence(z1, z2)


@pytest.mark.parametrize("scale", [1e20, 1e30])
def test_kl_of_huge_logits_matches_float64(scale):
    rng = np.random.default_rng(4)
    z1, z2 = (rng.standard_normal((2, 50, 30)) * scale).astype(np.float32)
    np.testing.assert_allclose(float(M.kl_divergence(z1, z2)), ref.kl_divergence(z1, z2), rtol=1e-5)


def test_equal_models_have_kl_zero_and_log_minus_infinity():
    z = np.random.default_rng(5).standard_normal((20, 7)).astype(np.float32)
    rows = kl_per_input(z, z)
    assert np.all(np.asarray(rows.value) == 0.0) and np.all(np.isneginf(np.asarray(rows.log_value)))
    assert float(M.kl_divergence(z, z)) == 0.0


def test_kl_in_float64_matches_reference():
    z1, z2 = near_equal_logits(1e-5, seed=6)
    with jax.enable_x64(True):
        value = float(M.kl_divergence(z1.astype(np.float64), z2.astype(np.float64)))
    np.testing.assert_allclose(value, ref.kl_divergence(z1, z2), rtol=1e-4)
