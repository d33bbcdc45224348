"""Steering transfer (repsim_jax.lm.steering, ``repsim-jax transfer``) on constructed pairs
of tiny GPT-2s with a known answer:

- a copy of model A whose residual stream is turned by an orthogonal Q (Q1 = 1, so Q
  commutes with LayerNorm's centring; every LayerNorm gain and bias folded into the next
  linear map): its hidden state after every block is A's times Qᵀ and its logits are A's,
  so the affine map is exact (R² = 1) and A's carried steering vector is B's own — the
  transferred effect equals the native one;
- an unrelated model (another initialisation): R² near 0 and a transferred effect within
  the spread of random directions, while the native effect lies far outside it.

The models are width 8 with large token embeddings (std 0.5) and a tied head, so a
vector toward the contrast words' embeddings raises their probability. The map is fitted
on words w0..w59 only; the contrast words are w60..w63 vs w80..w83.
"""

import csv

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from repsim_jax.cli import main  # noqa: E402
from repsim_jax.lm.steering import TorchLM, fit_affine, steering_effects, transfer  # noqa: E402
from tests.adapters.conftest import gpt2_config, make_tokenizer, save_lm  # noqa: E402

POSITIVE = ["w60 w61 w62 w63", "w61 w62 w60", "w62 w60 w61 w61", "w63 w60 w62"]
NEGATIVE = ["w80 w81 w82", "w81 w83 w80", "w82 w80 w83 w81", "w83 w82"]
TARGETS = ("w60", "w61", "w62", "w63")
SCALES = (0.5, 1.0)


def _model(seed: int):
    from transformers import GPT2LMHeadModel

    torch.manual_seed(seed)
    model = GPT2LMHeadModel(gpt2_config(True, n_embd=8)).eval()
    with torch.no_grad():
        model.transformer.wte.weight.normal_(0.0, 0.5)
        for block in model.transformer.h:  # LayerNorms off their defaults, to be folded
            for norm in (block.ln_1, block.ln_2):
                norm.weight.uniform_(0.5, 1.5)
                norm.bias.normal_(0.0, 0.1)
    return model


def turn(d: int, seed: int) -> np.ndarray:
    """A random orthogonal Q (d, d) with Q·1 = 1: a rotation of the complement of 1."""
    rng = np.random.default_rng(seed)
    basis = np.linalg.qr(np.column_stack([np.ones(d), rng.standard_normal((d, d - 1))]))[0][:, 1:]
    return basis @ np.linalg.qr(rng.standard_normal((d - 1, d - 1)))[0] @ basis.T + np.ones((d, d)) / d


def turned_copy(model, q: np.ndarray):
    """The copy of the module docstring: residual x ↦ x Qᵀ (rows), LayerNorms folded; the
    tied head follows the embedding (the final norm is left at gain 1, bias 0)."""
    import copy

    turned = copy.deepcopy(model)
    right = torch.tensor(q.T, dtype=torch.float64)  # x' = x R, R = Qᵀ
    f64 = lambda p: p.detach().double()

    def fold(norm, conv):  # (γ⊙n + β) W + b = n R (Rᵀ diag(γ) W) + (βW + b)
        weight = f64(conv.weight)
        conv.weight.copy_(right.T @ torch.diag(f64(norm.weight)) @ weight)
        conv.bias.copy_(f64(norm.bias) @ weight + f64(conv.bias))
        norm.weight.fill_(1.0)
        norm.bias.zero_()

    def turn_output(conv):
        conv.weight.copy_(f64(conv.weight) @ right)
        conv.bias.copy_(f64(conv.bias) @ right)

    t = turned.transformer
    with torch.no_grad():
        for block in t.h:
            fold(block.ln_1, block.attn.c_attn)
            turn_output(block.attn.c_proj)
            fold(block.ln_2, block.mlp.c_fc)
            turn_output(block.mlp.c_proj)
        for embedding in (t.wte, t.wpe):
            embedding.weight.copy_(f64(embedding.weight) @ right)
    return turned


def _texts(count: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(f"w{w}" for w in rng.integers(0, 60, size=10)) for _ in range(count)]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """One torch thread for these tiny models (on a loaded shared CPU, intra-op threads made
    each forward ~20x slower); the previous count is restored after the module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models():
    tokenizer = make_tokenizer()
    a = _model(0)
    return tokenizer, a, turned_copy(a, turn(8, 1)), _model(7)


def _effects(rows, vector):
    return np.array([[r["logprob_shift"], r["kl"]] for r in rows if r["vector"] == vector])


def test_affine_fit_recovers_an_exact_map_against_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 5))
    weight, bias = rng.standard_normal((5, 3)), rng.standard_normal(3)
    fitted = fit_affine(x[:150], x[:150] @ weight + bias, x[150:], x[150:] @ weight + bias, ridge=0.0)
    np.testing.assert_allclose(fitted.map.matrix, weight.T, rtol=1e-4, atol=1e-5)  # float32
    np.testing.assert_allclose(fitted.map.bias, bias, rtol=1e-4, atol=1e-5)
    assert fitted.r2 == pytest.approx(1.0, abs=1e-6)
    shrunk = fit_affine(x[:150], x[:150] @ weight, x[150:], x[150:] @ weight, ridge=1.0)  # λ = tr(X̃ᵀX̃)/5
    centred = x[:150] - x[:150].mean(axis=0)
    penalty = np.sum(centred**2) / 5
    reference = np.linalg.solve(centred.T @ centred + penalty * np.eye(5), centred.T @ (centred @ weight))
    np.testing.assert_allclose(shrunk.map.matrix, reference.T, rtol=1e-4, atol=1e-5)
    noise = rng.standard_normal((200, 3))  # unrelated targets: held-out R² near 0 (slightly below)
    assert abs(fit_affine(x[:150], noise[:150], x[150:], noise[150:]).r2) < 0.1


def test_turned_copy_has_the_same_logits_and_turned_hidden_states(models):
    tokenizer, a, copy, _ = models
    ids = torch.tensor([tokenizer(_texts(1)[0])["input_ids"]])
    with torch.no_grad():
        np.testing.assert_allclose(copy(ids).logits.numpy(), a(ids).logits.numpy(), atol=2e-5)
    q = turn(8, 1)
    texts = _texts(2)
    for layer in (0, 1):
        turned = TorchLM(a, tokenizer).hidden_rows(texts, layer) @ q.T
        np.testing.assert_allclose(TorchLM(copy, tokenizer).hidden_rows(texts, layer), turned, atol=1e-4)


def test_steering_transfers_to_the_copy_and_not_to_an_unrelated_model(models):
    tokenizer, a, copy, unrelated = models
    targets = tokenizer.convert_tokens_to_ids(list(TARGETS))
    small = TorchLM(a, tokenizer)
    options = dict(texts=_texts(40), contrast=(POSITIVE, NEGATIVE), targets=targets, scales=SCALES)

    same = transfer(small, TorchLM(copy, tokenizer), (1, 1), **options)
    assert same.r2 > 0.9999 and same.cosine > 0.9999
    native, carried, random = (_effects(same.rows, v) for v in ("native", "transferred", "random"))
    assert np.all(native[:, 0] > 0.1)  # the native vector raises the targets
    np.testing.assert_allclose(carried, native, rtol=0.05)  # within 5% of native
    assert np.all(np.abs(random[:, 0]) < 0.2 * native[:, 0])  # the random control near 0

    other = transfer(small, TorchLM(unrelated, tokenizer), (1, 1), **options)
    assert abs(other.r2) < 0.15
    native, carried = _effects(other.rows, "native")[:, 0], _effects(other.rows, "transferred")[:, 0]
    band = {r["scale"]: (r["logprob_shift"], r["logprob_shift_std"]) for r in other.rows if r["vector"] == "random"}
    mean, spread = np.array([band[s] for s in SCALES]).T
    assert np.all(np.abs(carried - mean) < 3 * spread)  # like a random direction
    assert np.all(native - mean > 3 * spread)  # while the native effect is not


def test_effects_of_the_zero_vector_are_zero(models):
    tokenizer, a, _, _ = models
    rows = steering_effects(TorchLM(a, tokenizer), [[5, 6, 7], [8, 9]], 0, {"zero": np.zeros(8)}, (1.0,), [5])
    assert rows[0]["logprob_shift"] == pytest.approx(0.0, abs=1e-6) and rows[0]["kl"] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.slow
def test_transfer_cli_end_to_end(models, tmp_path, capsys):
    tokenizer, a, copy, _ = models
    small, large = (save_lm(tmp_path / name, m, tokenizer) for name, m in (("a", a), ("b", copy)))
    files = {}
    for name, lines in (("text", _texts(40)), ("pos", POSITIVE), ("neg", NEGATIVE), ("targets", TARGETS)):
        files[name] = tmp_path / f"{name}.txt"
        files[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    table, figure = tmp_path / "t.csv", tmp_path / "t.png"
    arguments = ["transfer", "--small", small, "--large", large, "--layers", "1:1", "--text", str(files["text"])]
    arguments += ["--contrast", str(files["pos"]), str(files["neg"]), "--targets", str(files["targets"])]
    arguments += ["--scales", "0.5", "1", "--random-draws", "4", "--out", str(table), "--plot", str(figure), "--quiet"]
    assert main(arguments) == 0
    assert "held-out R² = 1.0000" in capsys.readouterr().out
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    shift = {(r["vector"], float(r["scale"])): float(r["logprob_shift"]) for r in rows}
    for s in SCALES:
        assert shift["transferred", s] == pytest.approx(shift["native", s], rel=0.05)
    assert figure.stat().st_size > 0

    for layers, message in (("final:1", "steering acts on the residual stream"), ("1:5", "--large: layer 5")):
        assert main(arguments[:6] + [layers] + arguments[7:]) == 2
        last = capsys.readouterr().err.splitlines()[-1]  # above it: transformers' weight-loading bar
        assert last.startswith("repsim-jax transfer: error: ") and message in last


def test_in_graph_steering_equals_the_torch_hook(models, tmp_path):
    """The same GPT-2 steered in-graph after block 0 (TransformerLM's steering input, via
    load_hf) and by the forward hook on the HF model: equal log-probabilities; unsteered,
    both are the HF model's own."""
    from repsim_jax.lm import load_hf
    from repsim_jax.lm.steering import FlaxLM

    tokenizer, a, _, _ = models
    ours = FlaxLM(load_hf(save_lm(tmp_path / "a", a, tokenizer)), lambda text: tokenizer(text)["input_ids"])
    hooked = TorchLM(a, tokenizer)
    tokens = np.array([tokenizer(text)["input_ids"][:8] for text in _texts(3)], np.int32)
    vector = np.random.default_rng(0).standard_normal(8).astype(np.float32)
    steered = ours.log_probs(tokens, 0, vector)
    np.testing.assert_allclose(steered, hooked.log_probs(tokens, 0, vector), atol=2e-4)
    with torch.no_grad():
        own = torch.log_softmax(a(input_ids=torch.as_tensor(tokens, dtype=torch.long)).logits, -1).numpy()
    np.testing.assert_allclose(ours.log_probs(tokens, 0, None), own, atol=2e-4)
    np.testing.assert_allclose(hooked.log_probs(tokens, 0, None), own, atol=1e-6)
    assert np.max(np.abs(steered - own)) > 0.1  # the vector does change the predictions
