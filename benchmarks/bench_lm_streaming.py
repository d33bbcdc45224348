"""Two tiny language models compared over n tokens (``compare_language_models``): tokens/s
and peak RSS, against materialising both models' (n, K) logits where that fits.

Two random-init GPT-2 models (2 layers, width 64, untied heads) over a word-level
vocabulary of K = 50,000, a generated corpus of 100-word lines. Each measurement runs in
its own process, so ``ru_maxrss`` belongs to it alone. Needs the ``[torch]`` extra.

    python benchmarks/bench_lm_streaming.py                    # reference n = 1e4; streamed 1e5, 1e6
    python benchmarks/bench_lm_streaming.py --sizes 100000     # fewer points
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._common import machine, write_section  # noqa: E402

VOCAB, WIDTH, WORDS_PER_LINE = 50_000, 64, 100


def _build(root: str, lines: int) -> tuple[str, str, str]:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    words = ["[UNK]", "[PAD]"] + [f"w{i}" for i in range(VOCAB - 2)]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]")
    dirs = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        config = GPT2Config(
            vocab_size=VOCAB,
            n_positions=128,
            n_embd=WIDTH,
            n_layer=2,
            n_head=2,
            tie_word_embeddings=False,
            pad_token_id=1,
            bos_token_id=None,
            eos_token_id=None,
        )
        path = os.path.join(root, f"lm{seed}")
        GPT2LMHeadModel(config).save_pretrained(path)
        tokenizer.save_pretrained(path)
        dirs.append(path)
    text = os.path.join(root, "corpus.txt")
    with open(text, "w") as file:
        for t in range(lines):
            file.write(" ".join(f"w{(7919 * t + 104729 * i) % (VOCAB - 2)}" for i in range(WORDS_PER_LINE)) + "\n")
    return dirs[0], dirs[1], text


def _measure(mode: str, dir_a: str, dir_b: str, text: str, n: int) -> dict:
    """In this process: stream (or materialise) n tokens; time and peak RSS."""
    import numpy as np

    from repsim_jax import metrics
    from repsim_jax.adapters.hf import lm_hidden_chunks, lm_unembeddings, load_causal_lm, read_texts
    from repsim_jax.adapters.lm_compare import compare_language_models

    texts = read_texts(text)
    start = time.perf_counter()
    if mode == "stream":
        result = compare_language_models(dir_a, dir_b, texts, max_tokens=n)
        value = result["logit_distance"]
    else:
        logits = []
        for path in (dir_a, dir_b):
            model, tokenizer = load_causal_lm(path)
            f = np.concatenate(list(lm_hidden_chunks(model, tokenizer, texts, max_tokens=n)))
            logits.append(f @ lm_unembeddings(model).T)
        value = float(metrics.logit_distance(*logits))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {
        "mode": mode,
        "n": n,
        "seconds": seconds,
        "tokens_per_s": n / seconds,
        "peak_gb": peak,
        "logit_distance": value,
    }


def _child(mode, dirs, n) -> dict:
    code = (
        f"import json, sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
        f"import bench_lm_streaming as b; print(json.dumps(b._measure({mode!r}, *{list(dirs)!r}, {n})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--reference-n", type=int, default=10_000)
    args = parser.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as root:
        dirs = _build(root, max([*args.sizes, args.reference_n]) // WORDS_PER_LINE + 1)
        rows = [_child("materialise", dirs, args.reference_n), _child("stream", dirs, args.reference_n)]
        rows += [_child("stream", dirs, n) for n in args.sizes]
    table = "\n".join(
        f"| {r['mode']} | {r['n']:,} | {r['tokens_per_s']:,.0f} | {r['peak_gb']:.2f} GB | {r['logit_distance']:.6g} |"
        for r in rows
    )
    body = f"""Machine: {machine()}; load average before the run {load[0]:.2f}.
Command: `python benchmarks/bench_lm_streaming.py --sizes {" ".join(map(str, args.sizes))}`.
Two random-init GPT-2 models (2 layers, width {WIDTH}, untied heads, K = {VOCAB:,}), each
measurement in its own process; `stream` is `repsim-jax compare --hf` (all metrics and the
three bounds), `materialise` forms both (n, K) logit arrays and d_logit only (at n = 1e5 the
two arrays alone would take 40 GB).

| mode | tokens n | tokens/s | peak RSS | d_logit |
|---|---|---|---|---|
{table}
"""
    print(body)
    write_section("Streaming two language models (compare --hf)", body)


if __name__ == "__main__":
    main()
