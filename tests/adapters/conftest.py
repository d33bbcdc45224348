"""Tiny offline models for the adapter tests: a word-level tokenizer, GPT-2 LMs and classifiers.

torch and transformers are imported inside the fixtures, so that without the ``[torch]``
extra the test modules skip (``pytest.importorskip``) before any fixture runs.
"""

import pytest

VOCAB = ["[UNK]", "[PAD]"] + [f"w{i}" for i in range(98)]  # 100 tokens
TEXTS = [
    "w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12",
    "w13 w14",
    "w15 w16 w17 unknown w18 w19 w20",
    "w21",
    " ".join(f"w{i % 98}" for i in range(5, 45)),
] + [" ".join(f"w{(7 * t + i) % 98}" for i in range(3 + t % 9)) for t in range(40)]


def make_tokenizer(words=VOCAB):
    """A WordLevel tokenizer over ``words`` (whitespace split), with [UNK] and [PAD]."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({word: i for i, word in enumerate(words)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", pad_token="[PAD]")


def gpt2_config(tied: bool, **overrides):
    from transformers import GPT2Config

    settings = dict(
        vocab_size=len(VOCAB),
        n_positions=64,
        n_embd=32,
        n_layer=2,
        n_head=2,
        tie_word_embeddings=tied,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=1,
    )
    return GPT2Config(**{**settings, **overrides})


def make_lm(seed: int, tied: bool):
    """A randomly initialised tiny GPT-2 LM (eval mode), its final norm's gain/bias randomised too."""
    import torch
    from transformers import GPT2LMHeadModel

    torch.manual_seed(seed)
    model = GPT2LMHeadModel(gpt2_config(tied)).eval()
    with torch.no_grad():
        model.transformer.ln_f.weight.uniform_(0.5, 1.5)
        model.transformer.ln_f.bias.normal_(0.0, 0.1)
    return model


def save_lm(directory, model, tokenizer) -> str:
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


@pytest.fixture(scope="session")
def lm_dirs(tmp_path_factory):
    """Saved tiny GPT-2 LMs with the word-level tokenizer: ``{"tied": dir, "untied": dir}``."""
    tokenizer = make_tokenizer()
    return {
        name: save_lm(tmp_path_factory.mktemp(name), make_lm(seed, tied), tokenizer)
        for seed, (name, tied) in enumerate((("tied", True), ("untied", False)))
    }


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_text("\n".join(TEXTS[:3] + ["", "   "] + TEXTS[3:]) + "\n", encoding="utf-8")
    return str(path)
