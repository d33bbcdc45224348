"""TransformerLM: outputs, causal masking, tied/untied heads, bf16 compute, bad configs.

One set of variables (untied head) serves every variant: the tied model reads the same
tree without ``unembedding``, the bf16 and dropout models have the same parameters.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from repsim_jax.errors import InputError
from repsim_jax.lm.model import TrainedLM, TransformerLM, unembedding

VOCAB, CONTEXT = 23, 16
TOKENS = jnp.asarray(np.random.default_rng(0).integers(0, VOCAB, (2, CONTEXT)), jnp.int32)


def model(**fields):
    return TransformerLM(VOCAB, CONTEXT, **{"width": 16, "depth": 2, "heads": 2, "tied_head": False, **fields})


@functools.cache
def apply(lm):
    return jax.jit(lm.apply, static_argnames=("train", "logits"))


@pytest.fixture(scope="module")
def untied():
    return jax.jit(model().init)(jax.random.key(0), TOKENS)


def tied_variables(untied):
    return {"params": {key: value for key, value in untied["params"].items() if key != "unembedding"}}


@pytest.mark.parametrize("tied", [True, False])
def test_outputs_are_f_times_g(untied, tied):
    lm = model(tied_head=tied)
    variables = tied_variables(untied) if tied else untied
    out = apply(lm)(variables, TOKENS)
    assert out.f.shape == (2, CONTEXT, 16) and out.logits.shape == (2, CONTEXT, VOCAB)
    assert len(out.hidden) == 2 and all(h.shape == (2, CONTEXT, 16) for h in out.hidden)
    params = variables["params"]
    expected_g = params["token_embedding"]["embedding"] if tied else params["unembedding"]
    np.testing.assert_array_equal(out.g, expected_g)
    np.testing.assert_array_equal(unembedding(params), expected_g)
    np.testing.assert_allclose(out.logits, np.einsum("btd,kd->btk", out.f, out.g), atol=1e-5)
    if not tied:
        assert not np.allclose(out.logits, apply(model(tied_head=True))(tied_variables(untied), TOKENS).logits)


def test_no_logits_when_not_asked(untied):
    without = jax.eval_shape(functools.partial(model().apply, logits=False), untied, TOKENS)
    assert without.logits is None and without.f.shape == (2, CONTEXT, 16) and without.g.shape == (VOCAB, 16)


def test_final_norm_is_a_layer_norm_of_the_last_block(untied):
    """f = LN(hidden[-1]) with ε = 1e-5, checked in float64 NumPy."""
    out = apply(model())(untied, TOKENS)
    h = np.asarray(out.hidden[-1], np.float64)
    norm = untied["params"]["final_norm"]
    expected = (h - h.mean(-1, keepdims=True)) / np.sqrt(h.var(-1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(out.f, expected * norm["scale"] + norm["bias"], atol=1e-5)


def test_causal_masking(untied):
    """Changing token t changes nothing at positions before t, and changes every position from t on."""
    changed = TOKENS.at[:, 9].set((TOKENS[:, 9] + 1) % VOCAB)
    a, b = apply(model())(untied, TOKENS), apply(model())(untied, changed)
    for ours, theirs in [(a.f, b.f), (a.logits, b.logits), *zip(a.hidden, b.hidden)]:
        np.testing.assert_array_equal(ours[:, :9], theirs[:, :9])
        assert np.abs(ours[:, 9:] - theirs[:, 9:]).max(axis=-1).min() > 0


def test_bfloat16_compute_keeps_float32_params_and_outputs(untied):
    assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(untied))
    out = apply(model(dtype=jnp.bfloat16))(untied, TOKENS)
    assert out.f.dtype == out.logits.dtype == out.g.dtype == jnp.float32
    exact = apply(model())(untied, TOKENS)
    np.testing.assert_allclose(out.logits, exact.logits, atol=0.05 * np.abs(exact.logits).max())


def test_dropout_only_in_training(untied):
    """Training mode with dropout differs from the plain model (eval mode never builds dropout masks)."""
    lm = model(dropout=0.5)
    key = jax.random.key(1, impl="rbg")  # compiles 5x faster on CPU than threefry; masks are masks
    train = apply(lm)(untied, TOKENS, train=True, rngs={"dropout": key})
    assert not np.allclose(train.f, apply(model())(untied, TOKENS).f)


def test_trained_lm_outputs_in_batches(untied):
    lm = TrainedLM(model(), untied)
    f, logits = lm.outputs(np.asarray(TOKENS)[[0, 1, 1, 0]], batch_size=2)
    out = apply(model())(untied, TOKENS)
    np.testing.assert_allclose(f, np.asarray(out.f)[[0, 1, 1, 0]], atol=1e-6)
    np.testing.assert_allclose(logits, np.asarray(out.logits)[[0, 1, 1, 0]], atol=1e-5)
    np.testing.assert_array_equal(lm.unembeddings, untied["params"]["unembedding"])


def test_bad_configurations(untied):
    with pytest.raises(InputError, match="model.width 16 is not divisible by model.heads 3"):
        jax.eval_shape(model(heads=3).init, jax.random.key(0), TOKENS)
    with pytest.raises(InputError, match="longer than model.context 16"):
        jax.eval_shape(model().apply, untied, jnp.zeros((1, CONTEXT + 1), jnp.int32))
