"""``repsim-jax extract --hf MODEL_DIR --text FILE --out m.npz``: a causal LM's f and g as an ``.npz``.

Writes ``embeddings`` (n, d') — the final hidden state at each token of the text file's
non-empty lines, in order — and ``unembeddings`` (K, d') — the LM head's weight, a bias
folded in as an extra column (d' = d + 1) so that ``logits = embeddings @ unembeddingsᵀ``
exactly; ``logits`` (n, K) too when n·K ≤ 5·10⁷. torch and transformers (the ``[torch]``
extra) are imported only when the command runs.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from repsim_jax.cli._args import COUNT, add_quiet_argument, import_hf
from repsim_jax.cli._parser import add_command
from repsim_jax.errors import InputError
from repsim_jax.io import save_npz

MAX_LOGIT_ENTRIES = 5 * 10**7


def _hidden_rows(hf, model, tokenizer, texts, args) -> np.ndarray:
    """The hidden states of every token, with a token count on stderr unless ``--quiet``."""
    chunks = []
    options = {"max_tokens": args.max_tokens, "max_length": args.max_length}
    with tqdm(total=args.max_tokens, unit="token", desc="extract", disable=args.quiet) as bar:
        for chunk in hf.lm_hidden_chunks(model, tokenizer, texts, **options):
            chunks.append(chunk)
            bar.update(chunk.shape[0])
    if not chunks:
        raise InputError(f"{args.text}: the tokenizer produced no tokens from the text file")
    return np.concatenate(chunks)


def _arrays(hf, model, tokenizer, texts, args) -> dict:
    unembeddings = hf.lm_unembeddings(model)
    arrays = {"embeddings": _hidden_rows(hf, model, tokenizer, texts, args), "unembeddings": unembeddings}
    if arrays["embeddings"].shape[0] * unembeddings.shape[0] <= MAX_LOGIT_ENTRIES:
        arrays["logits"] = arrays["embeddings"] @ unembeddings.T
    return arrays


def _handle(args, extra) -> int:
    hf = import_hf()
    texts = hf.read_texts(args.text)
    model, tokenizer = hf.load_causal_lm(args.hf)
    arrays = _arrays(hf, model, tokenizer, texts, args)
    save_npz(args.out, arrays)
    (n, width), k = arrays["embeddings"].shape, arrays["unembeddings"].shape[0]
    logits = "with logits" if "logits" in arrays else f"without logits (n·K > {MAX_LOGIT_ENTRIES:.0e})"
    print(f"{args.out}: {n} tokens, width {width}, {k} labels, {logits}")
    return 0


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "extract",
        "Save a local Hugging Face causal LM's embeddings and unembeddings on a text file as .npz",
        [
            "repsim-jax extract --hf ./gpt2 --text lines.txt --out gpt2.npz",
            "repsim-jax extract --hf ./gpt2 --text lines.txt --out gpt2.npz --max-tokens 5000 --max-length 128",
        ],
        "One row per token of the file's non-empty lines; needs the [torch] extra (torch, transformers).\n"
        "Compare two such files with: repsim-jax compare a.npz b.npz",
    )
    parser.add_argument(
        "--hf",
        required=True,
        metavar="MODEL_DIR",
        help="local directory with a causal LM and its tokenizer (save_pretrained layout)",
    )
    parser.add_argument("--text", required=True, metavar="FILE", help="UTF-8 text, one input per non-empty line")
    parser.add_argument(
        "--max-tokens", type=int, valid=COUNT, default=None, help="keep at most this many tokens (default: all)"
    )
    parser.add_argument(
        "--max-length", type=int, valid=COUNT, default=None, help="cut each line to this many tokens (default: not cut)"
    )
    parser.add_argument(
        "--out", required=True, help="output .npz, written as named (embeddings, unembeddings, logits when small)"
    )
    add_quiet_argument(parser)
    parser.set_defaults(func=_handle)
