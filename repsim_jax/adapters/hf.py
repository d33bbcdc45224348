"""Hugging Face models as ``logits = f gᵀ``: final hidden states and the output head's weight.

- Causal LMs: ``f`` is the final hidden state (after the final norm: the base model's
  ``last_hidden_state``, the very input of the LM head) at every non-padding token, and
  ``g`` is ``model.get_output_embeddings().weight`` (K, d), tied or not.
- Sequence classifiers: ``f`` is the input of the classification head (its final
  ``nn.Linear``); for models that score every position (GPT-2 style) it is taken at
  the last non-padding token, the position the model pools.

A head bias ``b`` is folded in as a constant-1 column of ``f`` and the column ``b`` of
``g``, so ``logits = f gᵀ`` holds exactly (up to float32 rounding). Texts are tokenized
one by one (the tokenizer's own special tokens, no padding, never cut to a model's own
context), then right-padded in batches with an attention mask, so the rows never depend
on the batch and two models sharing a tokenizer give aligned rows. Models are loaded in float32, local files only.

Inner layers (:func:`lm_layer_chunks`; :mod:`repsim_jax.lm.layers` says what a layer is): the
output of decoder block L, caught by a forward hook on ``decoder_blocks(model)[L]`` during the
same forward that gives the final hidden state, so any set of layers costs one forward per batch.
"""

from __future__ import annotations

import contextlib
import math
import os
from typing import Iterator, Optional

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

from repsim_jax.adapters._fold import head_embeddings, head_unembeddings
from repsim_jax.adapters.torch_classifier import HeadCapture, final_linear
from repsim_jax.errors import InputError
from repsim_jax.io import Representation
from repsim_jax.io import read_texts as read_texts  # re-exported: the CLI and notebooks read texts from here
from repsim_jax.lm.layers import FINAL, checked_layers

# Tokens of the first text whose logits are recomputed by the full model to check f gᵀ.
_CHECK_TOKENS = 16


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def _output_head(model) -> torch.nn.Linear:
    head = model.get_output_embeddings()
    if not isinstance(head, torch.nn.Linear):
        raise InputError(f"{type(model).__name__} has no linear output head (got {type(head).__name__})")
    return head


@contextlib.contextmanager
def _without_progress_bars():
    """transformers' progress bars ("Loading weights") off for the block, then as they were:
    a command's stderr holds only its own lines."""
    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def load_causal_lm(model_dir: str):
    """``(model, tokenizer)`` from a local directory: float32 model in eval mode.

    Raises FileNotFoundError for a missing directory, ValueError when the directory does
    not hold a loadable causal LM and tokenizer, or when the tokenizer has more tokens than
    the model has outputs (fewer is accepted: heads are often padded beyond the vocabulary).
    """
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"{model_dir}: no such model directory")
    try:
        with _without_progress_bars():
            model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        raise InputError(f"{model_dir}: cannot load a causal LM and its tokenizer: {_one_line(error)}") from None
    outputs = _output_head(model).out_features
    if len(tokenizer) > outputs:
        raise InputError(
            f"{model_dir}: tokenizer vocabulary ({len(tokenizer)} tokens) does not match the model's {outputs} outputs"
        )
    return model.eval(), tokenizer


def lm_unembeddings(model) -> np.ndarray:
    """``g``: the output head's weight (K, d), or ``[W, b]`` (K, d+1) when it has a bias; float32."""
    return head_unembeddings(_output_head(model))


def _pad_id(model, tokenizer) -> int:
    """The id written at padded positions: the model's pad token, else the tokenizer's, else 0."""
    for candidate in (model.config.pad_token_id, tokenizer.pad_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


def _token_ids(model, tokenizer, text: str, max_length: Optional[int]) -> list[int]:
    """The text's token ids alone, cut to ``max_length``; ValueError beyond the model's context.

    Texts are never cut silently to a model's own context length: two models with
    different contexts would then see different tokens and their rows would not align.
    """
    ids = tokenizer(text)["input_ids"][:max_length]
    context = getattr(model.config, "max_position_embeddings", None)
    if context is not None and len(ids) > context:
        raise InputError(
            f"a text has {len(ids)} tokens, more than the model's context length {context}; "
            "pass max_length (--max-length) to cut every text alike"
        )
    return ids


def _batches(model, tokenizer, texts, batch_size: int, max_length: Optional[int]):
    """Right-padded ``(input_ids, attention_mask)`` on the model's device, texts in order.

    Each text is tokenized alone (:func:`_token_ids`); texts with no tokens are skipped.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    pad = _pad_id(model, tokenizer)
    for start in range(0, len(texts), batch_size):
        ids = [_token_ids(model, tokenizer, text, max_length) for text in texts[start : start + batch_size]]
        ids = [row for row in ids if row]
        if not ids:
            continue
        width = max(len(row) for row in ids)
        input_ids = torch.tensor([row + [pad] * (width - len(row)) for row in ids], device=model.device)
        mask = torch.tensor([[1] * len(row) + [0] * (width - len(row)) for row in ids], device=model.device)
        yield input_ids, mask


def _head_matches(head: torch.nn.Linear, features: torch.Tensor, expected: torch.Tensor) -> bool:
    """``head(features) == expected`` up to float32 rounding (relative to the largest logit).

    Applies the head's weight and bias directly, so hooks on the head do not fire.
    """
    got = torch.nn.functional.linear(features, head.weight, head.bias).float()
    scale = max(1.0, expected.abs().max().item())
    return torch.allclose(got, expected.float(), rtol=1e-4, atol=1e-4 * scale)


def _check_head_exact(model, head, logits, hidden) -> None:
    """ValueError unless the model's own ``logits`` (first text, first tokens) are ``head(hidden)``.

    Catches models that post-process their logits (soft-capping, scaling), for which the
    final hidden state times the head weight is not the model's prediction.
    """
    if not _head_matches(head, hidden[: logits.shape[0]], logits):
        raise InputError(
            f"{type(model).__name__}: its logits are not its output head applied to the final "
            "hidden state (scaled or soft-capped logits?), so logits = f gᵀ would not hold"
        )


def decoder_blocks(model) -> torch.nn.ModuleList:
    """The model's transformer blocks, in order: the base model's first ``ModuleList`` with
    ``num_hidden_layers`` entries (GPT-2's ``transformer.h``, Llama's ``model.layers``)."""
    count = model.config.get_text_config().num_hidden_layers
    for module in model.base_model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return module
    raise InputError(f"{type(model).__name__}: no list of {count} transformer blocks found in its base model")


class _Capture:
    """Forward hooks that keep, per forward, the final hidden state (the base model's
    ``last_hidden_state``) and the output of each requested block (its first element
    when the block returns a tuple)."""

    def __init__(self, model, blocks: tuple[int, ...]):
        self.outputs: dict = {}
        modules = decoder_blocks(model) if blocks else ()
        self._handles = [model.base_model.register_forward_hook(self._keeper(FINAL))]
        self._handles += [modules[b].register_forward_hook(self._keeper(b)) for b in blocks]

    def _keeper(self, key):
        def keep(module, args, output):
            if key == FINAL:
                output = output.last_hidden_state
            self.outputs[key] = output[0] if isinstance(output, tuple) else output

        return keep

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()


def _layer_rows(outputs: dict, layer, kept: torch.Tensor, head) -> np.ndarray:
    """One layer's rows at the kept positions, float32: ``final`` bias-folded, a block as is."""
    if layer == FINAL:
        return head_embeddings(outputs[FINAL][kept], head)
    return outputs[layer][kept].detach().to(device="cpu", dtype=torch.float32).numpy()


@torch.no_grad()
def _layer_batches(model, tokenizer, texts, layers, batch_size, max_length) -> Iterator[dict]:
    """Per batch, from one forward: ``{layer: rows}`` at non-padding tokens, text by text.

    The first batch runs the whole model with the logits of the first text's first
    ``_CHECK_TOKENS`` positions only (``logits_to_keep``), checked against the head; later
    batches run the base model alone. Either way the base model runs once per batch.
    """
    head = _output_head(model)
    with _Capture(model, tuple(layer for layer in layers if layer != FINAL)) as capture:
        for index, (input_ids, mask) in enumerate(_batches(model, tokenizer, texts, batch_size, max_length)):
            if index == 0:
                first = torch.arange(min(_CHECK_TOKENS, int(mask[0].sum())), device=input_ids.device)
                _check_head_exact(model, head, _first_logits(model, input_ids, mask, first), capture.outputs[FINAL][0])
            else:
                model.base_model(input_ids=input_ids, attention_mask=mask)
            yield {layer: _layer_rows(capture.outputs, layer, mask.bool(), head) for layer in layers}


def _first_logits(model, input_ids, mask, positions) -> torch.Tensor:
    """The whole model's logits of the first text at ``positions``: only those positions'
    (``logits_to_keep``) where the model's forward takes it, else all of them, then picked."""
    try:
        return model(input_ids=input_ids, attention_mask=mask, logits_to_keep=positions).logits[0]
    except TypeError:  # a forward without logits_to_keep
        return model(input_ids=input_ids, attention_mask=mask).logits[0, positions]


def _rows(block: dict) -> int:
    return next(iter(block.values())).shape[0]


def _take(blocks: Iterator[dict], limit: float) -> Iterator[dict]:
    """The first ``limit`` rows of a stream of ``{layer: rows}`` blocks; stops pulling blocks once it has them."""
    if limit <= 0:
        return
    for block in blocks:
        kept = int(min(limit, _rows(block)))
        limit -= kept
        yield {layer: rows[:kept] for layer, rows in block.items()}
        if limit <= 0:
            return


def _rechunk(blocks: Iterator[dict], size: int) -> Iterator[dict]:
    """The same rows regrouped in blocks of ``size`` rows (the last one may be shorter)."""
    pending = None
    for block in blocks:
        pending = block if pending is None else {k: np.concatenate([pending[k], block[k]]) for k in block}
        while _rows(pending) >= size:
            yield {k: v[:size] for k, v in pending.items()}
            pending = {k: v[size:] for k, v in pending.items()}
    if pending is not None and _rows(pending):
        yield pending


def lm_layer_chunks(
    model,
    tokenizer,
    texts,
    layers=(FINAL,),
    max_tokens: Optional[int] = None,
    chunk_tokens: int = 4096,
    batch_size: int = 8,
    max_length: Optional[int] = None,
) -> Iterator[dict]:
    """``{layer: rows}`` of a causal LM for every layer of ``layers``, in float32 blocks of
    ``chunk_tokens`` rows (the last may be shorter), all layers from one forward per batch.

    A layer is ``"final"`` — the final hidden state (after the final norm, the LM head's
    input), with a constant-1 column appended when the head has a bias, so that
    ``rows @ lm_unembeddings(model)ᵀ`` are the model's logits — or a block index L
    (0-based): the residual stream after block L, the output of ``decoder_blocks(model)[L]``
    (before the final norm even for the last block; HF's own last ``hidden_states`` entry is
    the final norm's output instead). One row per non-padding token: text by text, position
    by position, at most ``max_tokens`` in all; each text is cut to ``max_length`` tokens
    (default: not cut; ValueError for a text beyond the model's context length). The first
    text is checked against the model's own logits (ValueError when they differ, e.g. for
    scaled or soft-capped logits). The forward passes run under ``torch.no_grad``.
    """
    if chunk_tokens < 1:
        raise InputError(f"chunk_tokens must be >= 1, got {chunk_tokens}")
    layers = checked_layers(layers, model.config.get_text_config().num_hidden_layers, type(model).__name__)
    model.eval()
    limit = math.inf if max_tokens is None else max_tokens
    batches = _layer_batches(model, tokenizer, texts, layers, batch_size, max_length)
    return _rechunk(_take(batches, limit), chunk_tokens)  # a plain function: the checks above run on the call


def lm_hidden_chunks(
    model,
    tokenizer,
    texts,
    max_tokens: Optional[int] = None,
    chunk_tokens: int = 4096,
    batch_size: int = 8,
    max_length: Optional[int] = None,
) -> Iterator[np.ndarray]:
    """``f`` of a causal LM: the ``"final"`` rows of :func:`lm_layer_chunks`, so that
    ``f @ lm_unembeddings(model)ᵀ`` are the model's logits."""
    options = dict(max_tokens=max_tokens, chunk_tokens=chunk_tokens, batch_size=batch_size, max_length=max_length)
    for chunk in lm_layer_chunks(model, tokenizer, texts, (FINAL,), **options):
        yield chunk[FINAL]


def _pooled_features(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The head's input per text: as is when 2-D, else at the last non-padding position."""
    if features.ndim == 2:
        return features
    last = mask.sum(dim=1) - 1
    return features[torch.arange(features.shape[0], device=features.device), last]


def sequence_classifier_representation(model, tokenizer, texts, batch_size: int = 8) -> Representation:
    """``Representation(f (n, d[+1]), g (K, d[+1]), logits (n, K))`` of a sequence classifier.

    ``f`` is the input of the classification head (the last ``nn.Linear`` of the model),
    at the last non-padding token for models that score every position; ``g`` its weight
    (bias folded). ``logits`` are the model's own; every batch is checked to equal
    ``f gᵀ`` (ValueError otherwise). ValueError for a text beyond the model's context length.
    """
    head = final_linear(model)
    model.eval()
    features, logits = [], []
    with torch.no_grad(), HeadCapture(head) as capture:
        for input_ids, mask in _batches(model, tokenizer, texts, batch_size, None):
            batch_logits = model(input_ids=input_ids, attention_mask=mask).logits
            pooled = _pooled_features(capture.single_call()[0], mask)
            if not _head_matches(head, pooled, batch_logits):
                raise InputError(
                    f"{type(model).__name__}: its logits are not its head applied to the pooled "
                    "features, so logits = f gᵀ would not hold"
                )
            features.append(head_embeddings(pooled, head))
            logits.append(batch_logits.float().cpu().numpy())
    if not features:
        raise InputError("the texts produced no tokens")
    return Representation(np.concatenate(features), head_unembeddings(head), np.concatenate(logits))
