"""A decoder-only transformer language model of the GPT-2 family (Flax Linen).

Next-token prediction is the paper's model family with one input per position
(arXiv 2602.15438: "including autoregressive language models"): the embedding ``f`` of
position t is the final hidden state after the final LayerNorm, the unembedding ``g``
(K, d) is the head's matrix and the logits are ``z = f gᵀ`` over the vocabulary.

Architecture (Radford et al. 2019, "Language Models are Unsupervised Multitask
Learners", the layout Hugging Face's ``GPT2LMHeadModel`` stores): token plus learned
position embeddings, ``depth`` pre-LN blocks ``x ← x + attn(LN(x))``, ``x ← x + mlp(LN(x))``
with causal multi-head self-attention (scores scaled by ``1/sqrt(width/heads)``) and an
MLP ``width → 4·width → width`` with the tanh approximation of GELU, a final LayerNorm
(ε = 1e-5) and a bias-free head: tied (``g`` is the token embedding) or untied (its own
``g``). Dropout (``dropout``, off by default) acts on the embeddings and on both residual
branches in training mode; attention probabilities have none.

Parameters stay float32; ``dtype`` is the compute dtype (bfloat16 as for the other
models). Outputs are float32 (:class:`LMOutputs`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax.errors import InputError
from repsim_jax.models import TrainedModel, predict, with_init_file

__all__ = ["LMOutputs", "TransformerLM", "unembedding", "TrainedLM", "LAYER_NORM_EPSILON"]

LAYER_NORM_EPSILON = 1e-5
_INIT_STD = 0.02  # GPT-2's initializer_range


class LMOutputs(NamedTuple):
    """What :class:`TransformerLM` returns, float32.

    ``f`` (batch, seq, d): hidden state after the final LayerNorm; ``logits``
    (batch, seq, K) = ``f gᵀ``, or None when not asked for; ``hidden``: the residual
    stream after each block, ``depth`` arrays (batch, seq, d) (the last one before the
    final LayerNorm); ``g`` (K, d): the unembedding. ``outputs[:2]`` is
    ``(embeddings, logits)`` as for the classifiers of :mod:`repsim_jax.models`.
    """

    f: jax.Array
    logits: jax.Array | None
    hidden: tuple[jax.Array, ...]
    g: jax.Array


def _normal(std: float):
    return nn.initializers.normal(stddev=std)


def _layer_norm(dtype, name: str) -> nn.LayerNorm:
    """LayerNorm with ε = 1e-5 and the two-pass variance ``mean((x − mean x)²)``."""
    return nn.LayerNorm(epsilon=LAYER_NORM_EPSILON, dtype=dtype, use_fast_variance=False, name=name)


class _CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention: one projection to ``[q | k | v]`` (width 3d, each
    split into ``heads`` contiguous heads), scaled dot-product attention over earlier and
    current positions (softmax in float32), an output projection."""

    width: int
    heads: int
    out_std: float
    dtype: Any

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        batch, length, _ = x.shape
        qkv = nn.Dense(3 * self.width, dtype=self.dtype, kernel_init=_normal(_INIT_STD), name="qkv")(x)
        shape = (batch, length, self.heads, self.width // self.heads)
        q, k, v = (part.reshape(shape) for part in jnp.split(qkv, 3, axis=-1))
        y = jax.nn.dot_product_attention(q, k, v, is_causal=True).reshape(batch, length, self.width)
        return nn.Dense(self.width, dtype=self.dtype, kernel_init=_normal(self.out_std), name="out")(y)


class _MLP(nn.Module):
    """``down(gelu_tanh(up(x)))`` with hidden width 4d."""

    width: int
    out_std: float
    dtype: Any

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        h = nn.Dense(4 * self.width, dtype=self.dtype, kernel_init=_normal(_INIT_STD), name="up")(x)
        h = jax.nn.gelu(h, approximate=True)
        return nn.Dense(self.width, dtype=self.dtype, kernel_init=_normal(self.out_std), name="down")(h)


class _Block(nn.Module):
    """Pre-LN transformer block: ``x + attn(LN₁(x))``, then ``x + mlp(LN₂(x))``."""

    width: int
    heads: int
    out_std: float
    dropout: float
    dtype: Any

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        drop = lambda y: nn.Dropout(self.dropout, deterministic=not train)(y)
        attention = _CausalSelfAttention(self.width, self.heads, self.out_std, self.dtype, name="attention")
        x = x + drop(attention(_layer_norm(self.dtype, "attention_norm")(x)))
        mlp = _MLP(self.width, self.out_std, self.dtype, name="mlp")
        return x + drop(mlp(_layer_norm(self.dtype, "mlp_norm")(x)))


class TransformerLM(nn.Module):
    """GPT-2-family decoder-only LM (module docstring); ``tokens`` (batch, seq) → :class:`LMOutputs`.

    Fields: ``vocab_size`` K, ``context`` (the most positions), ``width`` d, ``depth``
    (blocks), ``heads`` (dividing d), ``tied_head`` (``g`` is the token embedding),
    ``dropout`` and the compute ``dtype``. Initialisation as GPT-2's: normal(0.02)
    weights and embeddings, the two projections into the residual stream normal
    ``0.02/sqrt(2·depth)``, zero biases, unit LayerNorm gains.

    ``init_from``: a Hugging Face GPT-2 directory or a ``.npz`` of variables whose arrays
    ``init`` puts in place of the random ones, as :class:`repsim_jax.models.Classifier` does
    (read only when ``init`` runs; restores use :func:`repsim_jax.models.without_init_file`).

    ``logits=False`` skips the (batch, seq, K) logits (``LMOutputs.logits`` is None): the
    vocabulary losses of :mod:`repsim_jax.lm.losses` take ``f`` and ``g`` instead.

    ``steering`` (d,) (or any shape broadcasting to (batch, seq, d)), with
    ``steering_layer`` L (0-based, ``0 ≤ L < depth``, as in :mod:`repsim_jax.lm.layers`):
    the vector is added to the residual stream after block L at every position, and the
    rest of the forward runs on the steered stream (``hidden[L:]`` hold steered states);
    :mod:`repsim_jax.lm.steering` uses it. Without ``steering`` nothing changes.
    """

    vocab_size: int
    context: int
    width: int
    depth: int
    heads: int
    tied_head: bool = True
    dropout: float = 0.0
    dtype: Any = jnp.float32
    init_from: str = ""

    @nn.nowrap
    def init(self, rngs, *args, **kwargs):
        return with_init_file(super().init(rngs, *args, **kwargs), self.init_from)

    def setup(self):
        if self.width % self.heads:
            raise InputError(f"model.width {self.width} is not divisible by model.heads {self.heads}")
        self.token_embedding = nn.Embed(self.vocab_size, self.width, self.dtype, embedding_init=_normal(_INIT_STD))
        self.position_embedding = nn.Embed(self.context, self.width, self.dtype, embedding_init=_normal(_INIT_STD))
        out_std = _INIT_STD / math.sqrt(2 * self.depth)
        self.blocks = [_Block(self.width, self.heads, out_std, self.dropout, self.dtype) for _ in range(self.depth)]
        self.final_norm = _layer_norm(self.dtype, None)
        self.embedding_dropout = nn.Dropout(self.dropout)
        if not self.tied_head:
            self.unembedding = self.param("unembedding", _normal(_INIT_STD), (self.vocab_size, self.width))

    def __call__(
        self,
        tokens: jax.Array,
        train: bool = False,
        logits: bool = True,
        steering: jax.Array | None = None,
        steering_layer: int = 0,
    ) -> LMOutputs:
        length = tokens.shape[-1]
        if length > self.context:
            raise InputError(f"sequences of {length} tokens are longer than model.context {self.context}")
        if steering is not None and not 0 <= steering_layer < self.depth:
            raise InputError(f"steering_layer {steering_layer}: the model has blocks 0..{self.depth - 1}")
        steered = lambda layer: steering is not None and layer == steering_layer
        x = self.token_embedding(tokens) + self.position_embedding(jnp.arange(length))
        x = self.embedding_dropout(x, deterministic=not train)
        hidden = []
        for layer, block in enumerate(self.blocks):
            x = block(x, train)
            x = x + jnp.asarray(steering, x.dtype) if steered(layer) else x
            hidden.append(x)
        f = self.final_norm(x)
        g = self.token_embedding.embedding if self.tied_head else self.unembedding
        z = jnp.einsum("...d,kd->...k", f, g.astype(self.dtype)).astype(jnp.float32) if logits else None
        as_float32 = lambda a: a.astype(jnp.float32)
        return LMOutputs(as_float32(f), z, tuple(map(as_float32, hidden)), as_float32(g))


def unembedding(params) -> jax.Array:
    """``g`` (K, d) of a :class:`TransformerLM`'s parameters: the untied head's matrix, or
    the token embedding when the head is tied."""
    return params["unembedding"] if "unembedding" in params else params["token_embedding"]["embedding"]


def _checked_tokens(tokens, vocab_size: int, context: int) -> np.ndarray:
    """``tokens`` as an int32 (batch, seq) array; InputError unless they are integer ids
    in [0, K) with 1 ≤ seq ≤ context."""
    tokens = np.asarray(tokens)
    if tokens.ndim != 2 or not np.issubdtype(tokens.dtype, np.integer) or tokens.size == 0:
        raise InputError(f"tokens: expected integer ids of shape (batch, seq), got {tokens.dtype} {tokens.shape}")
    if tokens.shape[1] > context:
        raise InputError(f"tokens: {tokens.shape[1]} positions, more than the model's context {context}")
    low, high = tokens.min(), tokens.max()
    if low < 0 or high >= vocab_size:
        raise InputError(f"tokens: ids must lie in [0, {vocab_size}), got values in [{low}, {high}]")
    return tokens.astype(np.int32)


@dataclasses.dataclass(frozen=True)
class TrainedLM(TrainedModel):
    """A :class:`TransformerLM` with its variables: :class:`repsim_jax.models.TrainedModel`
    whose inputs are token ids (batch, seq)."""

    def outputs(self, tokens, batch_size: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """``(f (batch, seq, d), logits (batch, seq, K))`` as float32 NumPy arrays, computed
        ``batch_size`` sequences at a time; InputError for ids outside [0, K), a sequence
        longer than the context or a non-integer array."""
        tokens = _checked_tokens(tokens, self.model.vocab_size, self.model.context)
        f, logits = predict(self.model, self.variables, tokens, batch_size=batch_size)
        return np.asarray(f), np.asarray(logits)

    @property
    def unembeddings(self) -> np.ndarray:
        """``g`` (K, d)."""
        return np.asarray(unembedding(self.variables["params"]))
