"""``repsim-jax extract``: a language model's states at one layer as an ``.npz``.

- ``--hf MODEL_DIR --text FILE``: a local Hugging Face causal LM on the non-empty lines of a
  text file, one row per token, in order (torch and transformers, the ``[torch]`` extra,
  are imported only when the command runs).
- ``--lm WORKDIR``: a language model trained here (a run, or ``GROUP/seed<s>``), one row per
  position of its data split ``--split``, ``labels`` the next tokens.

``--layer final`` (the default): ``embeddings`` (n, d') — the final hidden state, the LM
head's input — and ``unembeddings`` (K, d') — the head's weight, an HF head's bias folded in
as an extra column (d' = d + 1) so that ``logits = embeddings @ unembeddingsᵀ`` exactly;
``logits`` (n, K) too when n·K ≤ 5·10⁷. ``--layer L``: ``embeddings`` (n, d) only, the
residual stream after block L (0-based; :mod:`repsim_jax.lm.layers`), where no head applies.
"""

from __future__ import annotations

import numpy as np
from tqdm.auto import tqdm

from repsim_jax.cli._args import COUNT, add_quiet_argument, add_split_argument, import_hf
from repsim_jax.cli._parser import add_command
from repsim_jax.errors import InputError
from repsim_jax.io import save_npz
from repsim_jax.lm.layers import FINAL, parse_layer

MAX_LOGIT_ENTRIES = 5 * 10**7


def _hidden_rows(hf, model, tokenizer, texts, layer, args) -> np.ndarray:
    """The layer's states at every token, with a token count on stderr unless ``--quiet``."""
    chunks = []
    options = {"max_tokens": args.max_tokens, "max_length": args.max_length}
    with tqdm(total=args.max_tokens, unit="token", desc="extract", disable=args.quiet) as bar:
        for chunk in hf.lm_layer_chunks(model, tokenizer, texts, (layer,), **options):
            chunks.append(chunk[layer])
            bar.update(chunk[layer].shape[0])
    if not chunks:
        raise InputError(f"{args.text}: the tokenizer produced no tokens from the text file")
    return np.concatenate(chunks)


def _with_logits(arrays: dict) -> dict:
    """``arrays`` plus ``logits = embeddings @ unembeddingsᵀ`` when they have at most
    ``MAX_LOGIT_ENTRIES`` entries."""
    if arrays["embeddings"].shape[0] * arrays["unembeddings"].shape[0] <= MAX_LOGIT_ENTRIES:
        arrays["logits"] = arrays["embeddings"] @ arrays["unembeddings"].T
    return arrays


def _hf_arrays(layer, args) -> dict:
    if not args.text:
        raise InputError("--hf needs --text FILE (UTF-8 text, one input per non-empty line)")
    hf = import_hf()
    texts = hf.read_texts(args.text)
    model, tokenizer = hf.load_causal_lm(args.hf)
    embeddings = _hidden_rows(hf, model, tokenizer, texts, layer, args)
    if layer != FINAL:
        return {"embeddings": embeddings}
    return _with_logits({"embeddings": embeddings, "unembeddings": hf.lm_unembeddings(model)})


def _trained_language_model(path: str, split: str):
    """``(TrainedLM, split tokens (n, T+1))`` of a workdir (or ``GROUP/seed<s>``) of one language model."""
    from repsim_jax.experiment import restore
    from repsim_jax.lm.data import TextData
    from repsim_jax.workdir import locate

    found = locate(path)
    if found is None:
        raise InputError(f"{path}: not a workdir of this project (no config.json)")
    root, seed = found
    run = restore(root) if seed is None else restore(root).seed_run(seed)
    data = run.built.data
    if not isinstance(data, TextData):
        raise InputError(f"{path}: not a language model's workdir (its data are not token sequences)")
    if split not in data.splits:
        raise InputError(f"{path}: no split {split!r}; splits {sorted(data.splits)}")
    return run.model, np.asarray(data.splits[split])


def _workdir_arrays(layer, args) -> dict:
    from repsim_jax.lm.layers import lm_layer_states

    trained, tokens = _trained_language_model(args.lm, args.split)
    states = lm_layer_states(trained, tokens[:, :-1], (layer,))[layer]
    arrays = {"embeddings": states, "labels": tokens[:, 1:].reshape(-1)}
    if args.max_tokens is not None:
        arrays = {name: values[: args.max_tokens] for name, values in arrays.items()}
    if layer != FINAL:
        return arrays
    return _with_logits(arrays | {"unembeddings": trained.unembeddings})


def _handle(args, extra) -> int:
    if bool(args.hf) == bool(args.lm):
        raise InputError("give one model: --hf MODEL_DIR --text FILE, or --lm WORKDIR")
    layer = parse_layer(args.layer)
    arrays = _hf_arrays(layer, args) if args.hf else _workdir_arrays(layer, args)
    save_npz(args.out, arrays)
    n, width = arrays["embeddings"].shape
    if "unembeddings" not in arrays:
        print(f"{args.out}: {n} tokens, width {width}, layer {layer} (residual stream after block {layer})")
        return 0
    k = arrays["unembeddings"].shape[0]
    logits = "with logits" if "logits" in arrays else f"without logits (n·K > {MAX_LOGIT_ENTRIES:.0e})"
    print(f"{args.out}: {n} tokens, width {width}, {k} labels, {logits}")
    return 0


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "extract",
        "Save a language model's states at one layer (and its unembeddings at the final one) as .npz",
        [
            "repsim-jax extract --hf ./gpt2 --text lines.txt --out gpt2.npz",
            "repsim-jax extract --hf ./gpt2 --text lines.txt --out gpt2.npz --max-tokens 5000 --max-length 128",
            "repsim-jax extract --hf ./gpt2 --text lines.txt --layer 6 --out gpt2_block6.npz",
            "repsim-jax extract --lm runs/lm/teacher --layer 1 --out teacher_block1.npz",
        ],
        "One row per token of the file's non-empty lines (--hf; needs the [torch] extra: torch, transformers),\n"
        "or per position of a trained language model's data split (--lm). Compare two such files with:\n"
        "repsim-jax compare a.npz b.npz",
    )
    parser.add_argument(
        "--hf", metavar="MODEL_DIR", help="local directory with a causal LM and its tokenizer (save_pretrained layout)"
    )
    parser.add_argument("--lm", metavar="WORKDIR", help="a language model trained here (a run, or GROUP/seed<s>)")
    parser.add_argument("--text", metavar="FILE", help="--hf: UTF-8 text, one input per non-empty line")
    parser.add_argument(
        "--layer",
        default=FINAL,
        metavar="L",
        help="residual stream after block L (0-based), or final: the LM head's input (default)",
    )
    parser.add_argument(
        "--max-tokens", type=int, valid=COUNT, default=None, help="keep at most this many tokens (default: all)"
    )
    parser.add_argument(
        "--max-length",
        type=int,
        valid=COUNT,
        default=None,
        help="--hf: cut each line to this many tokens (default: not cut)",
    )
    parser.add_argument(
        "--out", required=True, help="output .npz, written as named (embeddings, unembeddings, logits when small)"
    )
    add_split_argument(parser)
    add_quiet_argument(parser)
    parser.set_defaults(func=_handle)
