"""Causal language models compared over the same tokens, streamed chunk by chunk.

Every model reads ``texts`` through the first model's tokenizer (their vocabularies must be
equal: logits over different label sets are not comparable), so row i of each chunk is the
same token position. Each model runs once per batch of texts, however many pairs it is in.

- :func:`compare_language_model_zoo`: M models, every ordered pair's metrics and three logit
  bounds from one pass (a :class:`repsim_jax.streaming.ZooStream` fed each chunk's final
  hidden states, bias folded: :mod:`repsim_jax.adapters.hf`); memory O(M²d² + M·K·d +
  chunk·M·d + ROW_BLOCK·M·K), independent of the number of tokens.
- :func:`compare_language_models`: two models, its M = 2 case (the one pair A → B).
- :func:`compare_layer_grid`: two models at chosen layers (the residual stream after
  block L, or ``final``: :mod:`repsim_jax.lm.layers`), every layer of A against every layer
  of B from one pass (:class:`repsim_jax.layer_compare.LayerGrid`); one layer pair is its
  1 × 1 case.
"""

from __future__ import annotations

import math

from tqdm.auto import tqdm

from repsim_jax.adapters.hf import lm_layer_chunks, lm_unembeddings, load_causal_lm
from repsim_jax.errors import InputError
from repsim_jax.layer_compare import LayerGrid
from repsim_jax.lm.layers import FINAL, all_layers
from repsim_jax.streaming import ZooStream

__all__ = ["compare_language_models", "compare_language_model_zoo", "compare_layer_grid", "zoo_row"]


def _load(dirs):
    """``[(model, tokenizer)]`` of every directory; InputError unless all share the first's vocabulary."""
    loaded = [load_causal_lm(directory) for directory in dirs]
    vocabulary = loaded[0][1].get_vocab()
    for directory, (_, tokenizer) in zip(dirs[1:], loaded[1:]):
        if tokenizer.get_vocab() != vocabulary:
            raise InputError(
                f"{dirs[0]} and {directory} have different vocabularies: logits over different label sets "
                "are not comparable"
            )
    return loaded


def _chunks(loaded, texts, layers, options, progress: bool):
    """Per chunk, ``[{layer: rows} of each model]``: every model through its own generator
    (one forward per batch each), all on the first model's tokenizer; a token count on stderr."""
    tokenizer = loaded[0][1]
    streams = [
        lm_layer_chunks(model, tokenizer, texts, model_layers, **options)
        for (model, _), model_layers in zip(loaded, layers)
    ]
    with tqdm(total=options["max_tokens"], unit="token", desc="compare", disable=not progress) as bar:
        for chunks in zip(*streams):
            yield chunks
            bar.update(next(iter(chunks[0].values())).shape[0])


def _options(max_tokens, max_length, chunk_tokens) -> dict:
    return {"max_tokens": max_tokens, "chunk_tokens": chunk_tokens, "max_length": max_length}


def _zoo_stream(dirs, texts, pairs, options, progress) -> ZooStream:
    loaded = _load(dirs)
    stream = ZooStream([lm_unembeddings(model) for model, _ in loaded], pairs)
    for chunks in _chunks(loaded, texts, [(FINAL,)] * len(dirs), options, progress):
        stream.add(*(chunk[FINAL] for chunk in chunks))
    return stream


def _pair_values(stream: ZooStream, first: int, second: int, pivot_options) -> dict:
    """``tokens`` and :meth:`ZooStream.pair_result` (metrics, shape metrics and the bounds)."""
    return {"tokens": stream.count, **stream.pair_result(first, second, pivot_options)}


def compare_language_model_zoo(
    dirs,
    texts,
    *,
    max_tokens: int | None = None,
    max_length: int | None = None,
    chunk_tokens: int = 4096,
    pivot_options: dict | None = None,
    progress: bool = False,
) -> dict:
    """``{(i, j): values}`` for every ordered pair of distinct models of ``dirs`` (i the
    teacher: KL(i ‖ j), d_rep maps j onto i), from one pass over every non-padding position of
    ``texts`` (at most ``max_tokens``): ``tokens``, the keys of
    :meth:`repsim_jax.streaming.PairStream.result`."""
    if len(dirs) < 2:
        raise InputError(f"all pairs need at least 2 models, got {len(dirs)}")
    if len(set(dirs)) != len(dirs):
        raise InputError(f"all pairs: a model directory is given twice: {list(dirs)}")
    stream = _zoo_stream(list(dirs), texts, None, _options(max_tokens, max_length, chunk_tokens), progress)
    return {pair: _pair_values(stream, *pair, pivot_options) for pair in stream.pairs}


def compare_language_models(
    dir_a: str,
    dir_b: str,
    texts,
    *,
    max_tokens: int | None = None,
    max_length: int | None = None,
    chunk_tokens: int = 4096,
    pivot_options: dict | None = None,
    progress: bool = False,
) -> dict:
    """The values of model A (model 1, the teacher side) against model B over every
    non-padding position of ``texts`` (at most ``max_tokens``): :func:`compare_language_model_zoo`'s
    for the one pair A → B, from a stream tracking that pair only."""
    options = _options(max_tokens, max_length, chunk_tokens)
    return _pair_values(_zoo_stream([dir_a, dir_b], texts, ((0, 1),), options, progress), 0, 1, pivot_options)


def zoo_row(name_a: str, name_b: str, values: dict) -> dict:
    """A zoo table row as :func:`repsim_jax.compare.all_pairs` writes them: ``a``, ``b``, the
    scalar metrics and ``cca_logit_floor = sqrt(Σᵢ(1 − ρᵢ²)λᵢ)`` (the CCA–logit bound's lhs)."""
    scalars = {key: value for key, value in values.items() if not isinstance(value, dict)}
    return {"a": name_a, "b": name_b, **scalars, "cca_logit_floor": math.sqrt(values["cca_logit"]["lhs"])}


def compare_layer_grid(
    dir_a: str,
    dir_b: str,
    texts,
    layers_a,
    layers_b,
    *,
    max_tokens: int | None = None,
    max_length: int | None = None,
    chunk_tokens: int = 4096,
    progress: bool = False,
) -> dict:
    """:meth:`repsim_jax.layer_compare.LayerGrid.result` of every layer of ``layers_a``
    (model A) against every layer of ``layers_b`` (model B) over the positions of ``texts``,
    all layers of a model from one forward per batch; None: every layer of that model
    (:func:`repsim_jax.lm.layers.all_layers`)."""
    loaded = _load([dir_a, dir_b])
    layers_a, layers_b = (
        all_layers(model.config.get_text_config().num_hidden_layers) if layers is None else tuple(layers)
        for layers, (model, _) in zip((layers_a, layers_b), loaded)
    )
    grid = LayerGrid(layers_a, layers_b)
    options = _options(max_tokens, max_length, chunk_tokens)
    for chunk_a, chunk_b in _chunks(loaded, texts, [layers_a, layers_b], options, progress):
        grid.add(chunk_a, chunk_b)
    return grid.result()
