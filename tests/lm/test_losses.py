"""Vocabulary losses of language models: chunked = unchunked = float64 NumPy, the O(d²) L2 form,
gradients, memory of the chunked gradient, bad arguments."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special

from repsim_jax.errors import InputError
from repsim_jax.lm import losses
from repsim_jax.testing import reference

VOCAB, D_S, D_T = 97, 8, 12
CHUNKS = [None, 10, 128]  # 10 does not divide K = 97; 128 > K is one chunk of K (no padding)


def arrays(seed=0, positions=(2, 6)):
    rng = np.random.default_rng(seed)
    f_s = rng.normal(size=(*positions, D_S))
    g_s = rng.normal(size=(VOCAB, D_S)) * 0.7 + 0.3
    f_t = rng.normal(size=(*positions, D_T))
    g_t = rng.normal(size=(VOCAB, D_T)) * 0.5 - 0.2
    targets = rng.integers(0, VOCAB, positions)
    return [np.float32(a) for a in (f_s, g_s, f_t, g_t)], targets


def logits64(f, g):
    return np.asarray(f, np.float64).reshape(-1, f.shape[-1]) @ np.asarray(g, np.float64).T


def reference_losses(f_s, g_s, f_t, g_t, targets):
    """Every loss from (N, K) float64 logits, written from the definitions."""
    z_s, z_t = logits64(f_s, g_s), logits64(f_t, g_t)
    center = lambda z: z - z.mean(axis=1, keepdims=True)
    n = z_s.shape[0]
    log_q = scipy.special.log_softmax(z_s, axis=1)
    return {
        "kl": 4.0 * reference.kl_divergence(z_t / 2.0, z_s / 2.0),
        "l2": reference.logit_distance(z_s, z_t, squared=True),
        "l2_uncentered": np.sum((z_s - z_t) ** 2) / n,
        "l1": np.sum(np.abs(center(z_s) - center(z_t))) / n,
        "l1_uncentered": np.mean(np.abs(z_s - z_t)),
        "ce": -np.mean(log_q[np.arange(n), targets.reshape(-1)]),
    }


def loss_functions(chunk):
    """Each loss of ``reference_losses`` as ``(f_s, g_s, f_t, g_t, targets) -> value``."""
    named = {
        "kl": lambda *a: losses.kl_loss(*a[:4], temperature=2.0, chunk=chunk),
        "l2": lambda *a: losses.l2_loss(*a[:4], chunk=chunk),
        "l2_uncentered": lambda *a: losses.l2_loss(*a[:4], centered=False, chunk=chunk),
        "l1": lambda *a: losses.l1_loss(*a[:4], chunk=chunk),
        "l1_uncentered": lambda *a: losses.l1_loss(*a[:4], centered=False, chunk=chunk),
        "ce": lambda f_s, g_s, f_t, g_t, y: losses.cross_entropy_loss(f_s, g_s, y, chunk=chunk),
    }
    return named


@functools.cache
def all_values(chunk):
    """Values and student gradients (f_s, g_s) of every loss for one chunk size (one compilation)."""
    (f_s, g_s, f_t, g_t), targets = arrays()

    @jax.jit
    def values_and_grads(*args):
        return {name: jax.value_and_grad(fn, argnums=(0, 1))(*args) for name, fn in loss_functions(chunk).items()}

    results = values_and_grads(f_s, g_s, f_t, g_t, targets)
    return {name: (float(value), [np.asarray(g) for g in grads]) for name, (value, grads) in results.items()}


@pytest.mark.parametrize("chunk", CHUNKS)
def test_losses_equal_the_float64_reference(chunk):
    expected = reference_losses(*arrays()[0], arrays()[1])
    for name, (value, _) in all_values(chunk).items():
        np.testing.assert_allclose(value, expected[name], rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("chunk", CHUNKS[1:])
def test_chunked_values_and_gradients_equal_unchunked(chunk):
    whole = all_values(None)
    for name, (value, grads) in all_values(chunk).items():
        np.testing.assert_allclose(value, whole[name][0], rtol=1e-5, err_msg=name)
        for ours, theirs in zip(grads, whole[name][1]):
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * np.abs(theirs).max(), err_msg=name)


@pytest.mark.parametrize("centered", [True, False])
def test_gram_form_equals_the_direct_l2_with_its_gradients(centered):
    (f_s, g_s, f_t, g_t), _ = arrays(seed=1)
    direct = jax.jit(jax.value_and_grad(lambda a, b: losses.l2_loss(a, b, f_t, g_t, centered), (0, 1)))(f_s, g_s)
    gram = jax.jit(jax.value_and_grad(lambda a, b: losses.l2_loss(a, b, f_t, g_t, centered, gram=True), (0, 1)))(
        f_s, g_s
    )
    np.testing.assert_allclose(gram[0], direct[0], rtol=1e-5)
    for ours, theirs in zip(gram[1], direct[1]):
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-4 * np.abs(theirs).max())


def test_gram_form_cancellation_stays_within_its_documented_size():
    """Near-equal models: the O(d²) value's float32 error is ~1e-7 (‖z̄_s‖² + ‖z̄_t‖²) (here
    bounded by 1e-6 of it) while the direct form stays accurate relative to the distance."""
    rng = np.random.default_rng(2)
    g_t, f_t = rng.normal(size=(500, 16)), 3 * rng.normal(size=(64, 16))
    g_s, f_s = g_t + 1e-3 * rng.normal(size=g_t.shape), f_t + 1e-3 * rng.normal(size=f_t.shape)
    z_s, z_t = logits64(f_s, g_s), logits64(f_t, g_t)
    exact = reference.logit_distance(z_s, z_t, squared=True)
    center = lambda z: z - z.mean(axis=1, keepdims=True)
    size = np.mean(np.sum(center(z_s) ** 2 + center(z_t) ** 2, axis=1))
    args = [np.float32(a) for a in (f_s, g_s, f_t, g_t)]
    assert abs(float(losses.l2_loss(*args, gram=True)) - exact) <= 1e-6 * size
    assert abs(float(losses.l2_loss(*args, chunk=100)) - exact) <= 1e-4 * exact


def test_centred_losses_ignore_a_shift_of_the_unembeddings():
    """g_k → g_k + c adds f·c to every logit of a position: centred distances and KL are unchanged."""
    (f_s, g_s, f_t, g_t), _ = arrays(seed=3)
    shifted = g_s + np.float32(np.arange(D_S) - 3.0)
    for fn in (
        lambda g: losses.l2_loss(f_s, g, f_t, g_t, chunk=10),
        lambda g: losses.l2_loss(f_s, g, f_t, g_t, gram=True),
        lambda g: losses.l1_loss(f_s, g, f_t, g_t, chunk=10),
        lambda g: losses.kl_loss(f_s, g, f_t, g_t, chunk=10),
    ):
        np.testing.assert_allclose(fn(shifted), fn(g_s), rtol=1e-4)
    assert (
        abs(
            float(losses.l2_loss(f_s, shifted, f_t, g_t, centered=False, chunk=10))
            - float(losses.l2_loss(f_s, g_s, f_t, g_t, centered=False, chunk=10))
        )
        > 1.0
    )


def test_chunked_gradient_holds_chunk_not_vocabulary_logits():
    """Compiled gradient of the KL at K = 8192: the chunked one's scratch memory is below one
    (N, K) float32 logit array, the unchunked one's above it (XLA's memory analysis)."""
    n, vocab, width = 256, 8192, 32
    f, g = jnp.ones((n, width)), jnp.ones((vocab, width))
    logits_bytes = n * vocab * 4

    def scratch(chunk):
        grad = jax.grad(lambda a, b: losses.kl_loss(a, b, f, g, chunk=chunk), (0, 1))
        return jax.jit(grad).lower(f, g).compile().memory_analysis().temp_size_in_bytes

    assert scratch(512) < logits_bytes / 2 < logits_bytes < scratch(None)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda f_s, g_s, f_t, g_t: losses.l2_loss(f_s, g_s, f_t, g_t, chunk=0), "chunk must be a positive integer"),
        (lambda f_s, g_s, f_t, g_t: losses.kl_loss(f_s[:1], g_s, f_t, g_t), "positions differ"),
        (lambda f_s, g_s, f_t, g_t: losses.l1_loss(f_s, g_s[:5], f_t, g_t), "vocabularies differ"),
        (lambda f_s, g_s, f_t, g_t: losses.l2_loss(f_s, g_t, f_t, g_s), "hidden width 8 does not match"),
        (lambda f_s, g_s, f_t, g_t: losses.cross_entropy_loss(f_s, g_s, jnp.zeros(3, int)), "targets"),
    ],
)
def test_bad_arguments(call, message):
    with pytest.raises(InputError, match=message):
        call(*arrays()[0])


def test_registry_names_the_logit_losses():
    assert losses.VOCAB_LOSSES == {"kl": losses.kl_loss, "l2": losses.l2_loss, "l1": losses.l1_loss}
