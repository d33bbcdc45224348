"""Tiny GPT-2 checkpoints for the LM tests, built with transformers from a config in code.

torch and transformers are imported inside the fixture, so that without the ``[torch]``
extra the test modules that need it skip (``pytest.importorskip``) before it runs.
"""

import pytest

VOCAB = 97
CONTEXT = 64


def make_gpt2(tied: bool, seed: int):
    """A GPT-2 LM (2 blocks, width 32, 4 heads) in eval mode with every parameter moved off
    its initial value (biases and LayerNorm gains/offsets too), so that a weight mapped to
    the wrong place changes the outputs."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        n_layer=2,
        n_embd=32,
        n_head=4,
        vocab_size=VOCAB,
        n_positions=CONTEXT,
        tie_word_embeddings=tied,
        bos_token_id=None,
        eos_token_id=None,
    )
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.2 * torch.randn_like(parameter))
    return model


@pytest.fixture(scope="session")
def gpt2(tmp_path_factory):
    """``{"tied": (model, directory), "untied": (model, directory)}``, saved as safetensors."""
    saved = {}
    for seed, name in enumerate(("tied", "untied")):
        model = make_gpt2(name == "tied", seed)
        directory = tmp_path_factory.mktemp(f"gpt2_{name}")
        model.save_pretrained(directory)
        saved[name] = (model, str(directory))
    return saved
