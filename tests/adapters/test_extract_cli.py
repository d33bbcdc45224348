"""``repsim-jax extract``: the .npz it writes, its one-line errors, and a core that never imports torch."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from repsim_jax import cli  # noqa: E402
from repsim_jax.adapters import hf  # noqa: E402
from repsim_jax.cli import extract  # noqa: E402
from repsim_jax.io import load_representation  # noqa: E402
from tests.adapters.conftest import VOCAB, make_lm, make_tokenizer, save_lm  # noqa: E402


@pytest.fixture
def run():
    """``repsim-jax extract ARGS`` through ``repsim_jax.cli.main``."""
    return lambda *args: cli.main(["extract", *args])


@pytest.mark.parametrize("max_tokens", [None, 25])
def test_extract_writes_a_loadable_representation(run, lm_dirs, text_file, tmp_path, capsys, max_tokens):
    out = tmp_path / "m.out"  # any name: written as given, not suffixed with .npz
    limit = [] if max_tokens is None else ["--max-tokens", str(max_tokens)]
    assert run("--hf", lm_dirs["untied"], "--text", text_file, *limit, "--out", str(out)) == 0
    rep = load_representation(str(out))
    model, tokenizer = hf.load_causal_lm(lm_dirs["untied"])
    texts = hf.read_texts(text_file)
    with torch.no_grad():
        own = torch.cat([model(input_ids=torch.tensor([tokenizer(t)["input_ids"]])).logits[0] for t in texts])
    own = own.numpy()[:max_tokens]
    assert rep.embeddings.shape == (own.shape[0], 32) and rep.unembeddings.shape == (len(VOCAB), 32)
    assert np.abs(rep.embeddings @ rep.unembeddings.T - own).max() <= 1e-4
    assert np.abs(rep.logits - own).max() <= 1e-4
    assert capsys.readouterr().out == f"{out}: {own.shape[0]} tokens, width 32, {len(VOCAB)} labels, with logits\n"


def test_extract_leaves_out_large_logits(run, lm_dirs, text_file, tmp_path, monkeypatch):
    monkeypatch.setattr(extract, "MAX_LOGIT_ENTRIES", 10 * len(VOCAB))
    out = str(tmp_path / "m.npz")
    assert run("--hf", lm_dirs["tied"], "--text", text_file, "--out", out) == 0
    rep = load_representation(out)
    assert rep.logits is None and rep.embeddings.shape[0] > 10


def _mismatched_dir(tmp_path):
    return save_lm(tmp_path / "mismatch", make_lm(0, tied=False), make_tokenizer(VOCAB + ["extra1", "extra2"]))


@pytest.mark.parametrize("case", ["missing model", "empty text", "vocabulary", "max tokens", "no torch"])
def test_extract_bad_input_is_one_line_and_status_2(run, lm_dirs, text_file, tmp_path, capsys, monkeypatch, case):
    model_dir, texts = lm_dirs["untied"], text_file
    options = []
    if case == "missing model":
        model_dir = str(tmp_path / "nowhere")
    elif case == "empty text":
        texts = str(tmp_path / "empty.txt")
        open(texts, "w").close()
    elif case == "vocabulary":
        model_dir = _mismatched_dir(tmp_path)
    elif case == "max tokens":
        options = ["--max-tokens", "0"]
    else:
        monkeypatch.setitem(sys.modules, "transformers", None)
    out = tmp_path / "m.npz"
    assert run("--hf", model_dir, "--text", texts, *options, "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and err.startswith("repsim-jax extract: error: "), err
    assert not out.exists()
    if case == "no torch":
        assert "pip install torch==2.14.1 torchvision==0.29.1 && pip install -e .[torch]" in err


def test_core_and_cli_do_not_import_torch():
    code = (
        "import sys, repsim_jax, repsim_jax.metrics, repsim_jax.io, repsim_jax.cli, repsim_jax.cli.extract, "
        "repsim_jax.adapters; assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
