"""Two causal language models compared over the same tokens, streamed chunk by chunk.

Both models read ``texts`` through model A's tokenizer (their vocabularies must be
equal: logits over different label sets are not comparable), so row i of each chunk
is the same token position. Each chunk's final hidden states (bias folded, see
:mod:`repsim_jax.adapters.hf`) go into a :class:`repsim_jax.streaming.PairStream`;
memory is O(d² + K·d + chunk·K), independent of the number of tokens.
"""

from __future__ import annotations

from tqdm.auto import tqdm

from repsim_jax.adapters.hf import lm_hidden_chunks, lm_unembeddings, load_causal_lm
from repsim_jax.errors import InputError
from repsim_jax.streaming import PairStream

__all__ = ["compare_language_models"]


def _same_vocabulary(dir_a, tok_a, dir_b, tok_b) -> None:
    if tok_a.get_vocab() != tok_b.get_vocab():
        raise InputError(
            f"{dir_a} and {dir_b} have different vocabularies: logits over different label sets are not comparable"
        )


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
    """:meth:`PairStream.result` of model A (model 1, the teacher side) against model B
    over every non-padding position of ``texts`` (at most ``max_tokens``), plus
    ``tokens``: the number of positions compared (counted on stderr with ``progress``)."""
    model_a, tok_a = load_causal_lm(dir_a)
    model_b, tok_b = load_causal_lm(dir_b)
    _same_vocabulary(dir_a, tok_a, dir_b, tok_b)
    stream = PairStream(lm_unembeddings(model_a), lm_unembeddings(model_b))
    options = {"max_tokens": max_tokens, "chunk_tokens": chunk_tokens, "max_length": max_length}
    with tqdm(total=max_tokens, unit="token", desc="compare", disable=not progress) as bar:
        for f_a, f_b in zip(
            lm_hidden_chunks(model_a, tok_a, texts, **options), lm_hidden_chunks(model_b, tok_a, texts, **options)
        ):
            stream.add(f_a, f_b)
            bar.update(f_a.shape[0])
    return {"tokens": stream.count, **stream.result(pivot_options)}
