"""Relational linearity (repsim_jax.lm.linear_properties, ``repsim-jax linear``).

- parallelism against a float64 loop over pairs, and its invariances;
- a planted relational-linear vocabulary: a tiny GPT-2 whose blocks write nothing (so f
  is the final LayerNorm of the token's embedding) and whose pair words are
  ``a_p = −δ/2 + z_p``, ``b_p = δ/2 + z_p`` with every ``z_p`` ⊥ δ, 1 and of one norm:
  all four vectors have one norm and mean 0, so ``f(b_p) − f(a_p) ∝ δ`` and
  ``g(b_p) − g(a_p) = δ`` (tied head) — parallelism 1 in both spaces, the shuffled
  baseline near 0; the orthogonally turned copy of test_steering has the same logits
  (d_logit 0) and the same parallelism (cosines survive an orthogonal map).
"""

import csv

import numpy as np
import pytest

from repsim_jax.errors import InputError
from repsim_jax.lm.linear_properties import concept_pairs, parallelism, shuffled_baseline

WIDTH = 16
FIRST = [f"w{i}" for i in range(10, 18)]
SECOND = [f"w{i}" for i in range(30, 38)]


def _loop_parallelism(a, b):
    differences = [np.asarray(y, np.float64) - np.asarray(x, np.float64) for x, y in zip(a, b)]
    cosines = [
        p @ q / (np.linalg.norm(p) * np.linalg.norm(q))
        for i, p in enumerate(differences)
        for j, q in enumerate(differences)
        if i < j
    ]
    return float(np.mean(cosines))


def test_parallelism_against_a_loop_and_invariances():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    assert parallelism(a, b) == pytest.approx(_loop_parallelism(a, b), rel=1e-12)
    q = np.linalg.qr(rng.standard_normal((5, 5)))[0]
    assert parallelism(a @ q + 3.0, b @ q + 3.0) == pytest.approx(parallelism(a, b), rel=1e-10)  # orthogonal, shift
    assert parallelism(a, a + rng.standard_normal(5)) == pytest.approx(1.0)  # one shared difference
    mean, std = shuffled_baseline(a, a + 1.0, shuffles=200)
    assert abs(mean) < 3 * std / np.sqrt(200) + 0.02 and std > 0
    with pytest.raises(InputError, match="same vector"):
        parallelism(a, np.concatenate([a[:1], b[1:]]))


def test_concept_pairs_are_the_word_groups():
    pairs = concept_pairs(64)
    assert list(pairs) == ["topic", "polarity", "number", "tense"]
    # m = ⌊3·63/4⌋ // 8 = 5 words a group; W_{c,v} starts at 1 + (2c + v)·m
    np.testing.assert_array_equal(pairs["topic"], np.stack([np.arange(1, 6), np.arange(6, 11)], axis=1))
    np.testing.assert_array_equal(pairs["tense"], np.stack([np.arange(31, 36), np.arange(36, 41)], axis=1))


torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from repsim_jax.cli import main  # noqa: E402
from tests.adapters.conftest import TEXTS, gpt2_config, make_tokenizer, save_lm  # noqa: E402
from tests.lm.test_steering import turn, turned_copy  # noqa: E402


def _planted(tokenizer):
    from transformers import GPT2LMHeadModel

    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(gpt2_config(True, n_embd=WIDTH)).eval()
    centred = lambda m: m - m.mean(axis=-1, keepdims=True)
    delta = centred(rng.standard_normal(WIDTH))
    z = centred(rng.standard_normal((len(FIRST), WIDTH)))
    z -= np.outer(z @ delta, delta) / (delta @ delta)  # ⊥ δ (and still ⊥ 1)
    z *= 2.0 / np.linalg.norm(z, axis=1, keepdims=True)
    embedding = rng.standard_normal((len(tokenizer), WIDTH))
    embedding[tokenizer.convert_tokens_to_ids(FIRST)] = z - delta / 2
    embedding[tokenizer.convert_tokens_to_ids(SECOND)] = z + delta / 2
    with torch.no_grad():
        model.transformer.wte.weight.copy_(torch.tensor(embedding))
        model.transformer.wpe.weight.zero_()
        for block in model.transformer.h:  # the blocks write nothing into the residual stream
            for projection in (block.attn.c_proj, block.mlp.c_proj):
                projection.weight.zero_()
                projection.bias.zero_()
    return model


@pytest.mark.slow
def test_planted_vocabulary_through_the_cli(tmp_path, capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: intra-op threads only slow them down on a shared CPU
    try:
        tokenizer = make_tokenizer()
        planted = _planted(tokenizer)
        directories = [
            save_lm(tmp_path / n, m, tokenizer)
            for n, m in (("p", planted), ("q", turned_copy(planted, turn(WIDTH, 2))))
        ]
        pairs, texts, table = tmp_path / "superlative.txt", tmp_path / "texts.txt", tmp_path / "linear.csv"
        pairs.write_text("".join(f"{a} {b}\n" for a, b in zip(FIRST, SECOND)), encoding="utf-8")
        texts.write_text("\n".join(TEXTS[:6]) + "\n", encoding="utf-8")
        arguments = ["linear", "--model", directories[0], "--model", directories[1], "--pairs", str(pairs)]
        assert main(arguments + ["--text", str(texts), "--out", str(table), "--quiet"]) == 0
    finally:
        torch.set_num_threads(threads)
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert [(r["relation"], r["space"]) for r in rows] == [("superlative", "f"), ("superlative", "g")] * 2
    for row in rows:
        assert float(row["parallelism"]) >= 0.99
        assert abs(float(row["baseline"])) < 0.1
    assert float(rows[2]["logit_distance"]) < 1e-4  # the turned copy: the same distribution
    for first, second in zip(rows[:2], rows[2:]):  # and the same parallelism
        assert float(second["parallelism"]) == pytest.approx(float(first["parallelism"]), abs=1e-5)

    (tmp_path / "bad.txt").write_text("w10 w30 w31\nw11 w31\n", encoding="utf-8")
    assert main(["linear", "--model", directories[0], "--pairs", str(tmp_path / "bad.txt")]) == 2
    assert "line 1 has 3 words" in capsys.readouterr().err
