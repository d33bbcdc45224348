"""Hidden states of a language model at a chosen layer: the residual stream after block L.

A layer is named by a block index or ``"final"`` (:data:`FINAL`):

- ``L`` (0-based, ``0 ≤ L < depth``): the residual stream after block L,
  ``h_L = h_{L−1} + attn(LN(h_{L−1})) + mlp(LN(·))`` with ``h_{−1}`` the token plus position
  embedding — the output of block L, *before* the final norm even for the last block.
  For this project's :class:`~repsim_jax.lm.model.TransformerLM` it is ``LMOutputs.hidden[L]``;
  for a Hugging Face causal LM the output of ``decoder_blocks(model)[L]``
  (:func:`repsim_jax.adapters.hf.decoder_blocks`), caught by a forward hook. For L < depth − 1
  that is HF's ``hidden_states[L + 1]``, but HF's *last* ``hidden_states`` entry is the final
  norm's output (GPT-2: ``ln_f`` already applied), i.e. ``final``, not block depth − 1.
- ``final`` (the default everywhere): the final hidden state ``f = LN_f(h_{depth−1})``, the
  LM head's input, so that ``logits = f gᵀ`` (for an HF head with a bias, ``f`` carries a
  constant-1 column and ``g`` the bias: :mod:`repsim_jax.adapters.hf`). Exactly the rows
  ``extract``/``compare --hf`` used before layers existed.

Public API (stable; other modules import it):

- :data:`FINAL`, the type ``Layer = int | "final"``;
- :func:`parse_layer` (``"3"``, ``"final"``) and :func:`parse_layer_pair` (``"A:B"``, or one
  layer for both models), InputError naming the option;
- :func:`all_layers`: every layer of a model of a given depth, in order;
- :func:`checked_layers`: the layers validated against a model's depth;
- :func:`hf_layer_chunks`: per chunk of tokens, ``{layer: (rows, d)}`` of an HF causal LM for
  every requested layer from ONE forward per batch of texts;
- :func:`lm_layer_states`: ``{layer: (n·T, d)}`` of this project's
  :class:`~repsim_jax.lm.model.TrainedLM` on token ids (n, T), one position per row.

Layer indices are checked against the model (InputError naming the blocks it has).
torch is imported only by :func:`hf_layer_chunks`.
"""

from __future__ import annotations

from typing import Iterator, Literal, Optional, Union

import jax
import numpy as np

from repsim_jax.errors import InputError

__all__ = [
    "FINAL",
    "Layer",
    "parse_layer",
    "parse_layer_pair",
    "all_layers",
    "checked_layers",
    "hf_layer_chunks",
    "lm_layer_states",
]

FINAL = "final"
Layer = Union[int, Literal["final"]]


def parse_layer(text: str, option: str = "--layer") -> Layer:
    """``"final"`` or a block index ``"0"``, ``"1"``, … as a :data:`Layer`; InputError naming
    ``option`` for anything else (a negative or non-integer index, an empty string)."""
    value = str(text).strip()
    if value == FINAL:
        return FINAL
    if value.isdigit():
        return int(value)
    raise InputError(f"{option}: {text!r} is not a block index (0, 1, ...) nor 'final'")


def parse_layer_pair(text: str, option: str = "--layer") -> tuple[Layer, Layer]:
    """``"A:B"`` as (model 1's layer, model 2's layer); one layer ``"L"`` means ``"L:L"``."""
    sides = str(text).split(":")
    if len(sides) == 1:
        sides = sides * 2
    if len(sides) != 2:
        raise InputError(f"{option}: {text!r} is not 'A:B' (block indices or 'final') nor one layer")
    first, second = (parse_layer(side, option) for side in sides)
    return first, second


def all_layers(depth: int) -> tuple:
    """Every layer of a model with ``depth`` blocks, in order: ``(0, 1, …, depth − 1, "final")``."""
    return (*range(depth), FINAL)


def checked_layers(layers, depth: int, who: str) -> tuple:
    """``layers`` as a non-empty tuple of distinct layers of ``who``, a model with ``depth``
    blocks; InputError naming the blocks it has otherwise."""
    layers = tuple(layers)
    if not layers or len(set(layers)) != len(layers):
        raise InputError(f"layers: expected distinct layers, got {list(layers)}")
    for layer in layers:
        if layer != FINAL and not (isinstance(layer, int) and 0 <= layer < depth):
            raise InputError(f"layer {layer!r}: {who} has blocks 0..{depth - 1} and 'final'")
    return layers


def hf_layer_chunks(
    model,
    tokenizer,
    texts,
    layers=(FINAL,),
    *,
    batch_size: int = 8,
    max_length: Optional[int] = None,
    chunk_tokens: int = 4096,
    max_tokens: Optional[int] = None,
) -> Iterator[dict]:
    """``{layer: (rows, d) float32}`` of an HF causal LM per chunk of ``chunk_tokens`` tokens
    (the last may be shorter), every layer of ``layers`` from one forward per batch of
    ``batch_size`` texts: :func:`repsim_jax.adapters.hf.lm_layer_chunks` (rows text by text,
    each cut to ``max_length`` tokens, at most ``max_tokens`` in all)."""
    from repsim_jax.adapters.hf import lm_layer_chunks

    options = dict(max_tokens=max_tokens, chunk_tokens=chunk_tokens, batch_size=batch_size, max_length=max_length)
    return lm_layer_chunks(model, tokenizer, texts, layers, **options)


def _states(model, layers):
    """``(variables, tokens) -> (states (batch, T, d) of each layer, in order)`` from one
    forward, jitted once per call (a tuple: pytree keys may not mix ints and strings)."""

    def run(variables, tokens):
        outputs = model.apply(variables, tokens, logits=False)
        return tuple(outputs.f if layer == FINAL else outputs.hidden[layer] for layer in layers)

    return jax.jit(run)


def lm_layer_states(trained, tokens, layers=(FINAL,), batch_size: int = 8) -> dict:
    """``{layer: (n·T, d) float32}`` of a :class:`~repsim_jax.lm.model.TrainedLM` on token ids
    ``tokens`` (n, T) (the model's inputs; row ``i·T + t`` is sequence i, position t), every
    layer from one forward per ``batch_size`` sequences. InputError for ids outside the
    vocabulary, sequences beyond the context or a layer the model does not have."""
    from repsim_jax.lm.model import _checked_tokens

    model = trained.model
    layers = checked_layers(layers, model.depth, f"the model ({model.depth} blocks)")
    tokens = _checked_tokens(tokens, model.vocab_size, model.context)
    run = _states(model, layers)
    parts = [
        jax.device_get(run(trained.variables, tokens[s : s + batch_size])) for s in range(0, len(tokens), batch_size)
    ]
    return {
        layer: np.concatenate([part[i].reshape(-1, part[i].shape[-1]) for part in parts])
        for i, layer in enumerate(layers)
    }
