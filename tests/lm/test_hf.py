"""load_hf: tiny GPT-2 checkpoints saved by transformers give HF's hidden states and logits."""

import json
import shutil

import numpy as np
import pytest

from repsim_jax.errors import InputError
from repsim_jax.lm import load_hf
from repsim_jax.lm.hf import hf_variables
from tests.lm.conftest import VOCAB

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

TOKENS = np.random.default_rng(0).integers(0, VOCAB, (3, 40))


def hf_states(model, tokens):
    """HF's ``(residual after each block, f, logits)``; the last block's output is caught
    by a hook, since HF's last hidden state already has the final norm applied."""
    caught = {}
    hook = model.transformer.h[-1].register_forward_hook(
        lambda module, args, out: caught.update(last=out[0] if isinstance(out, tuple) else out)
    )
    with torch.no_grad():
        out = model(torch.tensor(tokens), output_hidden_states=True)
    hook.remove()
    blocks = [h.numpy() for h in out.hidden_states[1:-1]] + [caught["last"].numpy()]
    return blocks, out.hidden_states[-1].numpy(), out.logits.numpy()


@pytest.mark.parametrize("head", ["tied", "untied"])
def test_hidden_states_and_logits_equal_hf(gpt2, head):
    model, directory = gpt2[head]
    lm = load_hf(directory)
    assert lm.model.tied_head == (head == "tied")
    blocks, f_hf, logits_hf = hf_states(model, TOKENS)
    f, logits = lm.outputs(TOKENS)
    assert f.shape == (3, 40, 32) and logits.shape == (3, 40, VOCAB)
    np.testing.assert_allclose(logits, logits_hf, atol=1e-4, rtol=0)
    np.testing.assert_allclose(f, f_hf, atol=1e-4, rtol=0)
    hidden = lm.model.apply(lm.variables, TOKENS).hidden
    assert len(hidden) == len(blocks) == 2
    for ours, theirs in zip(hidden, blocks):
        np.testing.assert_allclose(ours, theirs, atol=1e-4, rtol=0)
    np.testing.assert_array_equal(lm.unembeddings, model.lm_head.weight.detach().numpy())


def test_pytorch_bin_with_the_tied_head_stored(gpt2, tmp_path):
    """A torch ``state_dict`` (lm_head.weight stored beside the equal wte) reads like safetensors."""
    model, directory = gpt2["tied"]
    shutil.copy(f"{directory}/config.json", tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    np.testing.assert_allclose(load_hf(str(tmp_path)).outputs(TOKENS)[1], load_hf(directory).outputs(TOKENS)[1])


def _copy(directory, tmp_path, **config_changes):
    target = tmp_path / "model"
    shutil.copytree(directory, target)
    config = json.loads((target / "config.json").read_text())
    (target / "config.json").write_text(json.dumps({**config, **config_changes}))
    return target


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"model_type": "llama"}, "model_type 'llama' is not supported"),
        ({"activation_function": "relu"}, "activation_function='relu' is not supported"),
        ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx=True is not supported"),
        ({"n_layer": 3}, "no tensor 'h.2.attn.c_attn.bias'"),
        ({"n_layer": 1}, "tensor 'h.1.attn.c_attn.bias' is not part of a GPT-2 LM with 1 blocks"),
        ({"n_embd": 48}, "has shape"),
        ({"n_head": 5}, "n_embd 32 is not divisible by n_head 5"),
        ({"vocab_size": "97"}, "no integer 'vocab_size'"),
        ({"tie_word_embeddings": True}, "tie_word_embeddings is true but lm_head.weight differs from wte.weight"),
    ],
)
def test_unsupported_checkpoints_name_the_file(gpt2, tmp_path, changes, message):
    target = _copy(gpt2["untied"][1], tmp_path, **changes)
    with pytest.raises(InputError, match=message) as error:
        load_hf(str(target))
    assert str(target) in str(error.value) and "\n" not in str(error.value)


def test_missing_or_damaged_files(gpt2, tmp_path):
    with pytest.raises(InputError, match="no such model directory"):
        load_hf(str(tmp_path / "absent"))
    with pytest.raises(InputError, match="no config.json"):
        load_hf(str(tmp_path))
    target = _copy(gpt2["tied"][1], tmp_path)
    (target / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(InputError, match="model.safetensors: cannot read safetensors weights"):
        hf_variables(str(target))
    (target / "model.safetensors").unlink()
    with pytest.raises(InputError, match="no model.safetensors"):
        hf_variables(str(target))


def test_non_finite_weights_are_refused(gpt2, tmp_path):
    from safetensors.numpy import load_file, save_file

    target = _copy(gpt2["tied"][1], tmp_path)
    tensors = load_file(target / "model.safetensors")
    tensors["transformer.ln_f.bias"][0] = np.nan
    save_file(tensors, target / "model.safetensors")
    with pytest.raises(InputError, match="ln_f.bias has NaN or Inf"):
        load_hf(str(target))


@pytest.mark.parametrize(
    "tokens, message",
    [
        (np.full((1, 5), VOCAB), r"ids must lie in \[0, 97\)"),
        (np.zeros((1, 65), int), "more than the model's context 64"),
        (np.zeros((5,), int), "shape \\(batch, seq\\)"),
        (np.zeros((1, 5)), "integer ids"),
    ],
)
def test_bad_tokens(gpt2, tokens, message):
    with pytest.raises(InputError, match=message):
        load_hf(gpt2["tied"][1]).outputs(tokens)
