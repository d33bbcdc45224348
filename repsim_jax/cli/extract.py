"""``repsim-jax extract --hf MODEL_DIR --text FILE --out m.npz``: a causal LM's f and g as an ``.npz``.

Writes ``embeddings`` (n, d') — the final hidden state at each token of the text file's
non-empty lines, in order — and ``unembeddings`` (K, d') — the LM head's weight, a bias
folded in as an extra column (d' = d + 1) so that ``logits = embeddings @ unembeddingsᵀ``
exactly; ``logits`` (n, K) too when n·K ≤ 5·10⁷. torch and transformers (the ``[torch]``
extra) are imported only when the command runs.
"""

from __future__ import annotations

import numpy as np

from repsim_jax.cli._args import import_hf
from repsim_jax.errors import InputError

MAX_LOGIT_ENTRIES = 5 * 10**7


def _arrays(hf, model, tokenizer, texts, args) -> dict:
    unembeddings = hf.lm_unembeddings(model)
    chunks = list(hf.lm_hidden_chunks(model, tokenizer, texts, max_tokens=args.max_tokens, max_length=args.max_length))
    if not chunks:
        raise InputError("the tokenizer produced no tokens from the text file")
    arrays = {"embeddings": np.concatenate(chunks), "unembeddings": unembeddings}
    if arrays["embeddings"].shape[0] * unembeddings.shape[0] <= MAX_LOGIT_ENTRIES:
        arrays["logits"] = arrays["embeddings"] @ unembeddings.T
    return arrays


def _handle(args, extra) -> int:
    for option, value in (("--max-tokens", args.max_tokens), ("--max-length", args.max_length)):
        if value is not None and value < 1:
            raise InputError(f"{option} must be >= 1, got {value}")
    hf = import_hf()
    texts = hf.read_texts(args.text)
    model, tokenizer = hf.load_causal_lm(args.hf)
    arrays = _arrays(hf, model, tokenizer, texts, args)
    with open(args.out, "wb") as file:
        np.savez(file, **arrays)
    (n, width), k = arrays["embeddings"].shape, arrays["unembeddings"].shape[0]
    logits = "with logits" if "logits" in arrays else f"without logits (n·K > {MAX_LOGIT_ENTRIES:.0e})"
    print(f"{args.out}: {n} tokens, width {width}, {k} labels, {logits}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "extract", help="a local Hugging Face causal LM's embeddings and unembeddings on a text file, as .npz"
    )
    parser.add_argument(
        "--hf",
        required=True,
        metavar="MODEL_DIR",
        help="local directory with a causal LM and its tokenizer (save_pretrained layout)",
    )
    parser.add_argument("--text", required=True, metavar="FILE", help="UTF-8 text, one input per non-empty line")
    parser.add_argument("--max-tokens", type=int, default=None, help="keep at most this many tokens (default: all)")
    parser.add_argument(
        "--max-length", type=int, default=None, help="cut each line to this many tokens (default: not cut)"
    )
    parser.add_argument("--out", required=True, help="output .npz (embeddings, unembeddings, logits when small)")
    parser.set_defaults(func=_handle)
