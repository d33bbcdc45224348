"""A zoo of causal LMs in one pass: `compare --all-pairs --hf A --hf B --hf C --hf D` equals the
pairwise `compare --hf` runs and runs each model exactly once per batch of texts;
`bounds --all-pairs --hf` gives the same bounds."""

import copy
import csv
import json
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from repsim_jax.adapters import lm_compare  # noqa: E402
from repsim_jax.cli import main  # noqa: E402
from tests.adapters.conftest import gpt2_config, make_tokenizer, save_lm  # noqa: E402

NAMES = ("base", "twin", "other", "third")
LINES = 36  # texts; the CLI runs them in batches of 8
BATCHES = math.ceil(LINES / 8)
SCALARS = ("logit_distance", "kl_divergence", "mean_cca", "linear_cka", "rep_dissimilarity", "procrustes_distance")


def _lm(seed):
    from transformers import GPT2LMHeadModel

    torch.manual_seed(seed)
    return GPT2LMHeadModel(gpt2_config(tied=False, n_embd=16, n_head=2)).eval()


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """Four tiny GPT-2s (width 16) on one tokenizer: a model, its ln_f-rescaled twin (same
    predictions), two independent ones; and a text file."""
    root, tokenizer = tmp_path_factory.mktemp("zoo"), make_tokenizer()
    base = _lm(0)
    twin = copy.deepcopy(base)
    scale = torch.linspace(0.5, 2.0, 16)
    with torch.no_grad():
        twin.transformer.ln_f.weight.mul_(scale)
        twin.transformer.ln_f.bias.mul_(scale)
        twin.lm_head.weight.div_(scale)
    models = {"base": base, "twin": twin, "other": _lm(1), "third": _lm(2)}
    dirs = [save_lm(root / name, models[name], tokenizer) for name in NAMES]
    text = root / "texts.txt"
    text.write_text("\n".join(" ".join(f"w{(5 * t + 3 * i) % 98}" for i in range(4 + t % 7)) for t in range(LINES)))
    return dirs, str(text)


def _json(capsys, *args):
    capsys.readouterr()
    assert main([*args, "--json", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)


def _counting(monkeypatch) -> dict:
    """Wraps the loader so that every model counts its base-model forwards (hook on the base model)."""
    counts, load = {}, lm_compare.load_causal_lm

    def counted(directory):
        model, tokenizer = load(directory)
        counts[directory] = 0
        model.base_model.register_forward_hook(lambda *_: counts.__setitem__(directory, counts[directory] + 1))
        return model, tokenizer

    monkeypatch.setattr(lm_compare, "load_causal_lm", counted)
    return counts


@pytest.mark.slow
def test_zoo_equals_the_pairwise_runs_and_runs_each_model_once_per_batch(zoo, tmp_path, capsys, monkeypatch):
    dirs, text = zoo
    counts = _counting(monkeypatch)
    hf = [arg for d in dirs for arg in ("--hf", d)]
    out, plot = str(tmp_path / "zoo.csv"), str(tmp_path / "zoo.png")
    rows = _json(capsys, "compare", "--all-pairs", *hf, "--text", text, "--out", out, "--plot", plot)
    assert counts == {d: BATCHES for d in dirs}  # one forward per batch per model, not one per pair
    assert len(rows) == 12 and {(r["a"], r["b"]) for r in rows} == {(a, b) for a in dirs for b in dirs if a != b}
    with open(out, newline="") as file:
        assert len(list(csv.DictReader(file))) == 12
    assert (tmp_path / "zoo.png").stat().st_size > 0
    zoo_rows = {(r["a"], r["b"]): r for r in rows}
    for i, a in enumerate(dirs):
        for b in dirs[i + 1 :]:
            pair = _json(capsys, "compare", "--hf", a, "--hf", b, "--text", text)
            assert counts[a] == counts[b] == BATCHES  # the two-model run: once per batch as well
            for key in (*SCALARS, "tokens"):
                assert zoo_rows[a, b][key] == pytest.approx(pair[key], rel=1e-5, abs=1e-6), (a, b, key)
            # the floor's Σ(1 − ρ²)λ splits the student on the teacher's QR basis, whose last column is
            # rounding noise for a LayerNorm output (centred rank d − 1): it moves ~1e-3 between QR paths
            floor = math.sqrt(pair["cca_logit"]["lhs"])
            assert zoo_rows[a, b]["cca_logit_floor"] == pytest.approx(floor, rel=1e-2, abs=1e-6), (a, b)
            for key in ("logit_distance", "mean_cca", "linear_cka", "procrustes_distance"):  # symmetric
                assert zoo_rows[b, a][key] == pytest.approx(pair[key], rel=1e-5, abs=1e-6), (b, a, key)
    base, twin, other = dirs[:3]
    assert zoo_rows[base, twin]["kl_divergence"] < 1e-6 < zoo_rows[base, other]["kl_divergence"]
    assert zoo_rows[base, twin]["mean_cca"] == pytest.approx(1.0, abs=1e-4)

    bound_rows = _json(capsys, "bounds", "--all-pairs", *hf, "--text", text)
    assert counts == {d: BATCHES for d in dirs} and len(bound_rows) == 12
    first = _json(capsys, "bounds", "--hf", base, "--hf", other, "--text", text)
    (streamed,) = [r for r in bound_rows if (r["teacher"], r["student"]) == (base, other)]
    for name in ("cca_logit", "rep_logit", "kl_logit"):
        assert streamed[name]["holds"] and first[name]["holds"]
        assert streamed[name]["lhs"] == pytest.approx(first[name]["lhs"], rel=1e-5, abs=1e-9), name


def test_zoo_refuses_what_it_cannot_compare(zoo, tmp_path, capsys):
    dirs, text = zoo
    cases = {
        ("compare", "--all-pairs", "--hf", dirs[0], "--text", text): "all pairs need at least 2 models",
        ("compare", "--all-pairs", "--hf", dirs[0], "--hf", dirs[0], "--text", text): "given twice",
        ("compare", "--all-pairs", "x", "--hf", dirs[0], "--hf", dirs[1], "--text", text): "takes no directory",
        ("compare", "--hf", dirs[0], "--hf", dirs[1], "--hf", dirs[2], "--text", text): "or --all-pairs",
        ("bounds", "--all-pairs", "--hf", dirs[0], "--hf", dirs[1]): "--text FILE",
    }
    for args, message in cases.items():
        capsys.readouterr()
        assert main([*args, "--quiet"] if args[0] == "compare" else list(args)) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and message in err, err
