"""Hugging Face adapters: f gᵀ equals the model's own logits, rows aligned token by token."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from repsim_jax.adapters import hf  # noqa: E402
from tests.adapters.conftest import TEXTS, VOCAB, gpt2_config, make_lm, make_tokenizer, save_lm  # noqa: E402


def _reference_logits(model, tokenizer, texts):
    """The model's logits on each text alone (no padding), rows text by text."""
    with torch.no_grad():
        rows = [model(input_ids=torch.tensor([tokenizer(text)["input_ids"]])).logits[0] for text in texts]
    return torch.cat(rows).numpy()


def _features(model, tokenizer, texts, **options):
    return np.concatenate(list(hf.lm_hidden_chunks(model, tokenizer, texts, **options)))


@pytest.mark.parametrize("name", ["tied", "untied"])
def test_lm_features_times_unembeddings_are_the_logits(lm_dirs, name):
    model, tokenizer = hf.load_causal_lm(lm_dirs[name])
    f = _features(model, tokenizer, TEXTS, batch_size=4)
    g = hf.lm_unembeddings(model)
    reference = _reference_logits(model, tokenizer, TEXTS)
    assert f.dtype == g.dtype == np.float32
    assert f.shape == (sum(len(tokenizer(t)["input_ids"]) for t in TEXTS), 32) and g.shape == (len(VOCAB), 32)
    assert np.abs(f @ g.T - reference).max() <= 1e-4
    assert (model.lm_head.weight is model.transformer.wte.weight) == (name == "tied")


def test_final_hidden_state_is_the_last_output_hidden_state(lm_dirs):
    model, tokenizer = hf.load_causal_lm(lm_dirs["untied"])
    ids = torch.tensor([tokenizer(TEXTS[0])["input_ids"]])
    with torch.no_grad():
        last = model(input_ids=ids, output_hidden_states=True).hidden_states[-1][0].numpy()
    np.testing.assert_allclose(_features(model, tokenizer, TEXTS[:1]), last, atol=1e-6)


def test_rows_do_not_depend_on_batching_and_stop_at_max_tokens(lm_dirs):
    model, tokenizer = hf.load_causal_lm(lm_dirs["untied"])
    whole = _features(model, tokenizer, TEXTS, batch_size=1)
    chunks = list(hf.lm_hidden_chunks(model, tokenizer, TEXTS, chunk_tokens=7, batch_size=5))
    assert all(chunk.shape[0] == 7 for chunk in chunks[:-1]) and 0 < chunks[-1].shape[0] <= 7
    assert torch.is_grad_enabled()  # no_grad is entered only while the generator runs
    np.testing.assert_allclose(np.concatenate(chunks), whole, atol=1e-5)
    np.testing.assert_allclose(_features(model, tokenizer, TEXTS, max_tokens=20, batch_size=3), whole[:20], atol=1e-5)


def test_texts_beyond_the_context_need_max_length(lm_dirs):
    model, tokenizer = hf.load_causal_lm(lm_dirs["untied"])
    long_text = " ".join(["w1"] * 65)
    with pytest.raises(ValueError, match="65 tokens, more than the model's context length 64; pass max_length"):
        _features(model, tokenizer, [long_text])
    np.testing.assert_allclose(
        _features(model, tokenizer, [long_text], max_length=64),
        _features(model, tokenizer, [" ".join(["w1"] * 64)]),
        atol=1e-5,
    )


def test_max_length_cuts_each_text(lm_dirs):
    model, tokenizer = hf.load_causal_lm(lm_dirs["untied"])
    f = _features(model, tokenizer, TEXTS[:2], max_length=3)
    np.testing.assert_allclose(f, np.concatenate([_features(model, tokenizer, [t])[:3] for t in TEXTS[:2]]), atol=1e-5)


def test_biased_head_is_folded_into_a_constant_column():
    model, tokenizer = make_lm(3, tied=False), make_tokenizer()
    model.lm_head = torch.nn.Linear(32, len(VOCAB), bias=True)
    f, g = _features(model, tokenizer, TEXTS), hf.lm_unembeddings(model)
    assert f.shape[1] == g.shape[1] == 33 and np.all(f[:, -1] == 1)
    np.testing.assert_array_equal(g[:, -1], model.lm_head.bias.detach().numpy())
    assert np.abs(f @ g.T - _reference_logits(model, tokenizer, TEXTS)).max() <= 1e-4


def test_post_processed_logits_are_refused():
    model, tokenizer = make_lm(4, tied=False), make_tokenizer()

    def scale_logits(module, args, output):
        output.logits.mul_(2.0)

    model.register_forward_hook(scale_logits)
    with pytest.raises(ValueError, match="logits = f gᵀ would not hold"):
        _features(model, tokenizer, TEXTS)


def test_sequence_classifier_features_times_head_are_the_logits():
    from transformers import GPT2ForSequenceClassification

    torch.manual_seed(5)
    model = GPT2ForSequenceClassification(gpt2_config(tied=False, num_labels=3)).eval()
    tokenizer = make_tokenizer()
    rep = hf.sequence_classifier_representation(model, tokenizer, TEXTS, batch_size=6)
    with torch.no_grad():
        own = torch.cat([model(input_ids=torch.tensor([tokenizer(t)["input_ids"]])).logits for t in TEXTS]).numpy()
    assert rep.embeddings.shape == (len(TEXTS), 32) and rep.unembeddings.shape == (3, 32)
    assert np.abs(rep.embeddings @ rep.unembeddings.T - own).max() <= 1e-4
    assert np.abs(rep.logits - own).max() <= 1e-4


def test_load_errors(tmp_path, lm_dirs):
    with pytest.raises(FileNotFoundError, match="no such model directory"):
        hf.load_causal_lm(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="cannot load"):
        hf.load_causal_lm(str(tmp_path))
    bigger = make_tokenizer(VOCAB + [f"extra{i}" for i in range(20)])
    mismatched = save_lm(tmp_path / "mismatch", make_lm(0, tied=False), bigger)
    with pytest.raises(ValueError, match=r"vocabulary \(120 tokens\) does not match the model's 100 outputs"):
        hf.load_causal_lm(mismatched)


def test_read_texts(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a b\n\n  \nc\r\n", encoding="utf-8")
    assert hf.read_texts(str(path)) == ["a b", "c"]
    path.write_text("\n \n", encoding="utf-8")
    with pytest.raises(ValueError, match="no non-empty lines"):
        hf.read_texts(str(path))
