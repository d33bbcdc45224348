"""Layer states (repsim_jax.lm.layers): the residual stream after block L of an HF GPT-2 and of
its import into this project's TransformerLM equal a float64 NumPy GPT-2 forward written
here; ``final`` is the final norm's output (the LM head's input)."""

import copy
import csv
import json

import numpy as np
import pytest

from repsim_jax import metrics
from repsim_jax.cli import main
from repsim_jax.errors import InputError
from repsim_jax.lm.layers import FINAL, parse_layer, parse_layer_pair

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from repsim_jax.adapters import hf  # noqa: E402
from repsim_jax.lm import load_hf  # noqa: E402
from repsim_jax.lm.layers import hf_layer_chunks, lm_layer_states  # noqa: E402
from tests.adapters.conftest import TEXTS, make_lm, make_tokenizer, save_lm  # noqa: E402


def _weights(module, name):
    return getattr(module, name).detach().double().numpy()


def _layer_norm(x, norm):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + norm.eps) * _weights(norm, "weight") + _weights(norm, "bias")


def _dense(x, conv):
    """GPT-2's Conv1D: ``x W + b`` with W stored (in, out)."""
    return x @ _weights(conv, "weight") + _weights(conv, "bias")


def _block(x, block, heads):
    """One GPT-2 block by hand: x + attn(ln_1 x), then + mlp(ln_2 ·), causal, gelu_new."""
    length, width = x.shape
    q, k, v = np.split(_dense(_layer_norm(x, block.ln_1), block.attn.c_attn), 3, axis=-1)
    q, k, v = (a.reshape(length, heads, width // heads) for a in (q, k, v))
    scores = np.einsum("thd,shd->hts", q, k) / np.sqrt(width // heads)
    scores = np.where(np.tril(np.ones((length, length), bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    x = x + _dense(np.einsum("hts,shd->thd", weights, v).reshape(length, width), block.attn.c_proj)
    h = _dense(_layer_norm(x, block.ln_2), block.mlp.c_fc)
    h = 0.5 * h * (1 + np.tanh(np.sqrt(2 / np.pi) * (h + 0.044715 * h**3)))
    return x + _dense(h, block.mlp.c_proj)


def reference_states(model, ids) -> dict:
    """``{0: …, 1: …, "final": …}`` of one text by hand in float64."""
    t = model.transformer
    x = _weights(t.wte, "weight")[ids] + _weights(t.wpe, "weight")[: len(ids)]
    states = {}
    for index, block in enumerate(t.h):
        x = states[index] = _block(x, block, model.config.n_head)
    states[FINAL] = _layer_norm(x, t.ln_f)
    return states


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory):
    """A tiny untied GPT-2 (2 blocks, width 32) with its word-level tokenizer, saved."""
    model, tokenizer = make_lm(11, tied=False), make_tokenizer()
    return model, tokenizer, save_lm(tmp_path_factory.mktemp("gpt2"), model, tokenizer)


def test_parse_layer():
    assert parse_layer("final") == FINAL and parse_layer(" 3 ") == 3
    assert parse_layer_pair("0:final") == (0, FINAL) and parse_layer_pair("2") == (2, 2)
    for bad in ("-1", "x", "", "1.5"):
        with pytest.raises(InputError, match="--layer: .* is not a block index"):
            parse_layer(bad)
    with pytest.raises(InputError, match="--heatmap: '1:2:3' is not 'A:B'"):
        parse_layer_pair("1:2:3", "--heatmap")


def test_hf_and_our_layer_states_equal_a_hand_computation(gpt2):
    model, tokenizer, directory = gpt2
    texts = TEXTS[:6]
    layers = (1, FINAL, 0)
    chunks = list(hf_layer_chunks(model, tokenizer, texts, layers, batch_size=4, chunk_tokens=9))
    assert all(set(chunk) == set(layers) for chunk in chunks) and chunks[0][0].shape == (9, 32)
    got = {layer: np.concatenate([chunk[layer] for chunk in chunks]) for layer in layers}
    ids = [tokenizer(text)["input_ids"] for text in texts]
    by_hand = [reference_states(model, row) for row in ids]
    prefix = min(len(row) for row in ids[:3])  # causal: a prefix's states are the text's first rows
    ours = lm_layer_states(load_hf(directory), np.array([row[:prefix] for row in ids[:3]]), layers)
    for layer in layers:
        expected = np.concatenate([states[layer] for states in by_hand])
        np.testing.assert_allclose(got[layer], expected, atol=2e-5, rtol=0, err_msg=str(layer))
        expected = np.concatenate([states[layer][:prefix] for states in by_hand[:3]])
        np.testing.assert_allclose(ours[layer], expected, atol=1e-4, rtol=0, err_msg=str(layer))
    # `final` is exactly what `extract`/`compare --hf` used before, and HF's last hidden_states
    # entry; block 0 is HF's hidden_states[1], the last block is not HF's last entry
    np.testing.assert_array_equal(
        got[FINAL], np.concatenate(list(hf.lm_hidden_chunks(model, tokenizer, texts, batch_size=4)))
    )
    with torch.no_grad():
        hidden = model(input_ids=torch.tensor([ids[0]]), output_hidden_states=True).hidden_states
    np.testing.assert_allclose(hidden[1][0].numpy(), by_hand[0][0], atol=2e-5)
    np.testing.assert_allclose(hidden[-1][0].numpy(), by_hand[0][FINAL], atol=2e-5)
    assert np.abs(by_hand[0][1] - by_hand[0][FINAL]).max() > 0.1


def test_a_forward_without_logits_to_keep_gives_the_same_rows(gpt2):
    """Models whose forward has no ``logits_to_keep``: the head check runs on all logits."""
    model, tokenizer, _ = gpt2
    expected = list(hf.lm_hidden_chunks(model, tokenizer, TEXTS[:3], batch_size=2))
    plain = copy.copy(model)
    forward = model.forward

    def old_forward(*args, **kwargs):
        if "logits_to_keep" in kwargs:
            raise TypeError("forward() got an unexpected keyword argument 'logits_to_keep'")
        return forward(*args, **kwargs)

    plain.forward = old_forward
    got = list(hf.lm_hidden_chunks(plain, tokenizer, TEXTS[:3], batch_size=2))
    np.testing.assert_array_equal(np.concatenate(got), np.concatenate(expected))


def test_layers_the_model_does_not_have(gpt2):
    model, tokenizer, directory = gpt2
    with pytest.raises(InputError, match=r"layer 2: GPT2LMHeadModel has blocks 0..1 and 'final'"):
        next(hf_layer_chunks(model, tokenizer, TEXTS, (0, 2)))
    with pytest.raises(InputError, match=r"layer 5: the model \(2 blocks\) has blocks 0..1"):
        lm_layer_states(load_hf(directory), np.zeros((1, 4), int), (5,))


def _compare(capsys, *args):
    capsys.readouterr()
    assert main(["compare", *args, "--json", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_layer_comparison_through_the_cli(gpt2, tmp_path, capsys):
    """The identical pair has CKA = m_CCA = R² = 1 at every layer; a twin whose final norm is
    rescaled (the same blocks, final states D·f + c) keeps CKA = 1 on the blocks and R² = 1 at
    `final` where CKA drops; the one-pass grid equals in-memory metrics on extracted layers."""
    model, tokenizer, base = gpt2
    twin = copy.deepcopy(model)
    with torch.no_grad():
        twin.transformer.ln_f.weight.mul_(torch.linspace(0.3, 3.0, 32))
    twin_dir = save_lm(tmp_path / "twin", twin, tokenizer)
    text = tmp_path / "texts.txt"
    text.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    same = _compare(capsys, "--hf", base, "--hf", base, "--text", str(text), "--layer", "1:1")
    assert same["tokens"] > 200 and (same["layer_a"], same["layer_b"]) == (1, 1)
    for key in ("linear_cka", "mean_cca", "affine_r2"):
        assert same[key] == pytest.approx(1.0, abs=1e-5), key
    assert same["procrustes_distance"] < 1e-2

    out, plot = tmp_path / "grid.csv", tmp_path / "grid.png"
    grid = _compare(
        capsys,
        "--hf",
        base,
        "--hf",
        twin_dir,
        "--text",
        str(text),
        "--layer-grid",
        "--out",
        str(out),
        "--plot",
        str(plot),
    )
    assert grid["layers_1"] == grid["layers_2"] == [0, 1, FINAL] and plot.stat().st_size > 0
    cka, r2 = np.array(grid["linear_cka"]), np.array(grid["affine_r2"])
    np.testing.assert_allclose(np.diag(cka)[:2], 1.0, atol=1e-5)
    assert r2[2, 2] == pytest.approx(1.0, abs=1e-5) and cka[2, 2] < 0.99
    assert r2[0, 2] < 0.99 and r2[0, 1] < r2[1, 1]

    states = {}
    for name, directory in (("a", base), ("b", twin_dir)):
        for layer in (0, FINAL):
            path = tmp_path / f"{name}{layer}.npz"
            assert (
                main(["extract", "--hf", directory, "--text", str(text), "--layer", str(layer), "--out", str(path)])
                == 0
            )
            states[name, layer] = np.load(path)["embeddings"]
    assert "unembeddings" not in np.load(tmp_path / "a0.npz")
    with open(out, newline="") as file:
        rows = {(r["layer_a"], r["layer_b"]): r for r in csv.DictReader(file)}
    assert len(rows) == 9
    for i, j, a, b in ((0, 2, 0, FINAL), (2, 0, FINAL, 0), (2, 2, FINAL, FINAL)):
        x, y = states["a", a], states["b", b]
        expected = {
            "linear_cka": metrics.linear_cka(x, y),
            "mean_cca": metrics.mean_cca(x, y, rank_tol=metrics.default_rank_tol(x.dtype)),
            "procrustes_distance": metrics.procrustes_distance(x, y),
            "affine_r2": metrics.affine_map(x, y).r2,
        }
        for key, value in expected.items():
            assert grid[key][i][j] == pytest.approx(float(value), abs=2e-4), (a, b, key)
            assert float(rows[str(a), str(b)][key]) == pytest.approx(grid[key][i][j], rel=1e-6)


def test_layer_options_refuse_bad_input(gpt2, tmp_path, capsys):
    model, tokenizer, base = gpt2
    text = tmp_path / "texts.txt"
    text.write_text("w1 w2 w3\n", encoding="utf-8")
    cases = {
        ("compare", "--hf", base, "--hf", base, "--text", str(text), "--layer", "x:1"): "--layer: 'x' is not",
        ("compare", "--hf", base, "--hf", base, "--text", str(text), "--layer", "0:7"): "layer 7: GPT2LMHeadModel has",
        ("compare", "--hf", base, "--text", str(text), "--layer", "0"): "two models",
        ("compare", "a.npz", "b.npz", "--layer", "0"): "--layer and --layer-grid need two local causal LMs",
        ("extract", "--hf", base, "--text", str(text), "--layer", "-1", "--out", str(tmp_path / "x.npz")): "--layer",
        ("extract", "--out", str(tmp_path / "x.npz")): "give one model",
    }
    for args, message in cases.items():
        capsys.readouterr()
        assert main([*args, "--quiet"]) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and message in err, err
    assert not (tmp_path / "x.npz").exists()
