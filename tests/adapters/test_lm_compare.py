"""`repsim-jax compare --hf A --hf B --text FILE`: two causal LMs streamed over the same
tokens equal the in-memory comparison and bounds, see their identifiability class, and
refuse what cannot be compared."""

import copy
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from repsim_jax import bounds, metrics  # noqa: E402
from repsim_jax.cli import main  # noqa: E402
from repsim_jax.io import load_representation  # noqa: E402
from tests.adapters.conftest import VOCAB, make_lm, make_tokenizer, save_lm  # noqa: E402


@pytest.fixture(scope="module")
def lms(tmp_path_factory):
    """A tiny untied GPT-2, its ln_f-rescaled twin (same logits, hidden states D·h), an
    independent model, and one with another vocabulary."""
    root, tokenizer = tmp_path_factory.mktemp("lms"), make_tokenizer()
    base = make_lm(0, tied=False)
    twin = copy.deepcopy(base)
    scale = torch.linspace(0.5, 2.0, 32)
    with torch.no_grad():
        twin.transformer.ln_f.weight.mul_(scale)
        twin.transformer.ln_f.bias.mul_(scale)
        twin.lm_head.weight.div_(scale)
    other_vocab = make_tokenizer(VOCAB[:2] + [f"v{i}" for i in range(98)])
    return {
        "base": save_lm(root / "base", base, tokenizer),
        "twin": save_lm(root / "twin", twin, tokenizer),
        "other": save_lm(root / "other", make_lm(7, tied=False), tokenizer),
        "vocab": save_lm(root / "vocab", make_lm(8, tied=False), other_vocab),
    }


@pytest.fixture(scope="module")
def texts(tmp_path_factory):
    path = tmp_path_factory.mktemp("texts") / "texts.txt"
    lines = [" ".join(f"w{(7 * t + i) % 98}" for i in range(5 + t % 11)) for t in range(60)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _streamed(capsys, a, b, texts, *extra):
    capsys.readouterr()
    assert main(["compare", "--hf", a, "--hf", b, "--text", texts, "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_identifiability_class_is_seen_as_the_same_model(lms, texts, capsys):
    same = _streamed(capsys, lms["base"], lms["twin"], texts)
    assert same["tokens"] > 64 + 32
    assert same["logit_distance"] < 1e-3 and same["kl_divergence"] < 1e-6
    assert same["mean_cca"] == pytest.approx(1.0, abs=1e-4) and same["rep_dissimilarity"] < 1e-2
    assert all(same[name]["holds"] for name in ("cca_logit", "rep_logit", "kl_logit"))
    other = _streamed(capsys, lms["base"], lms["other"], texts)
    assert other["mean_cca"] < 0.9 and other["logit_distance"] > 0.1
    assert all(other[name]["holds"] for name in ("cca_logit", "rep_logit", "kl_logit"))


@pytest.mark.slow
def test_streaming_equals_the_in_memory_comparison_and_bounds(lms, texts, tmp_path, capsys):
    streamed = _streamed(capsys, lms["base"], lms["other"], texts)
    for name in ("base", "other"):
        assert main(["extract", "--hf", lms[name], "--text", texts, "--out", str(tmp_path / f"{name}.npz")]) == 0
    a, b = (load_representation(str(tmp_path / f"{n}.npz")) for n in ("base", "other"))
    capsys.readouterr()
    assert main(["compare", str(tmp_path / "base.npz"), str(tmp_path / "other.npz"), "--json"]) == 0
    in_memory = json.loads(capsys.readouterr().out)
    for key in ("logit_distance", "kl_divergence", "mean_cca", "linear_cka", "rep_dissimilarity"):
        assert streamed[key] == pytest.approx(in_memory[key], rel=2e-4), key
    pivots, subsets = metrics.pivot_subsets(len(VOCAB), a.embeddings.shape[1])
    checks = {
        "cca_logit": bounds.cca_logit_bound(a.embeddings, a.logits, b.embeddings, b.logits),
        "rep_logit": bounds.rep_logit_bound(
            a.embeddings, a.unembeddings, b.embeddings, b.unembeddings, pivots, subsets
        ),
        "kl_logit": bounds.kl_logit_bound(a.logits, b.logits),
    }
    # The teacher's final LayerNorm output is rank-deficient, so its smallest canonical
    # correlations are fixed only to float32 round-off, which differs between the in-memory
    # QR and the streamed moments by CPU: the CCA lhs differed by 2.1e-3 on an AMD EPYC
    # (the code at the previous release too), less on Xeon. 5e-3 still fails a wrong bound.
    for name, check in checks.items():
        assert streamed[name]["rhs"] == pytest.approx(float(check.rhs), rel=5e-3), name
        assert streamed[name]["lhs"] == pytest.approx(float(check.lhs), rel=5e-3), name
        assert streamed[name]["holds"] == bool(check.holds)


@pytest.mark.parametrize(
    "case, message",
    [
        ("vocab", "different vocabularies"),
        ("missing", "no such"),
        ("empty", "empty"),
        ("one", "exactly --hf A --hf B --text FILE"),
    ],
)
def test_bad_input_is_one_line_exit_2(lms, texts, tmp_path, capsys, case, message):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n")
    argv = {
        "vocab": ["--hf", lms["base"], "--hf", lms["vocab"], "--text", texts],
        "missing": ["--hf", lms["base"], "--hf", str(tmp_path / "nope"), "--text", texts],
        "empty": ["--hf", lms["base"], "--hf", lms["twin"], "--text", str(empty)],
        "one": ["--hf", lms["base"], "--text", texts],
    }[case]
    capsys.readouterr()
    assert main(["compare", *argv]) == 2
    err = capsys.readouterr().err
    assert message.lower() in err.lower() and err.count("\n") == 1 and "Traceback" not in err
