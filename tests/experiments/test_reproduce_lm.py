"""The concept language (repsim_jax.lm.concept_language) and ``reproduce lm`` end to end.

Fast: the generator's statistics against its specification (emission rates, noise, the
vocabulary layout), its Bayes-optimal accuracy against a simulation of the majority
vote it claims is optimal, the concepts recovered by a linear probe on a constructed
embedding (word-group counts), the same corpus for a seed, and the data option's split
(each held-out row's concepts are those the generator drew for it). Slow: one smoke
reproduction through the CLI, then ``evaluate`` on its teacher.
"""

import json

import ml_collections
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from repsim_jax.cli import main
from repsim_jax.errors import InputError
from repsim_jax.lm import concept_language as cl
from repsim_jax.lm.data import load_text_data

LENGTH = 32


@pytest.fixture(scope="module")
def corpus():
    return cl.generate(4000, LENGTH, vocab=64, seed=3)


def _group_counts(corpus, upto: int) -> np.ndarray:
    """(n, C, 2): how many words of W_{c,0} and W_{c,1} each sequence has in positions 1..upto."""
    words = corpus.tokens[:, 1 : upto + 1]
    v = corpus.vocabulary
    return np.stack(
        [np.stack([np.isin(words, v.words(c, b)).sum(1) for b in (0, 1)], 1) for c in range(len(cl.CONCEPTS))], 1
    )


def test_generator_statistics_match_the_specification(corpus):
    n, length = corpus.tokens.shape
    assert corpus.tokens.dtype == np.int32 and corpus.concepts.shape == (n, len(cl.CONCEPTS))
    assert np.all(corpus.tokens[:, 0] == cl.BOS) and np.all(corpus.tokens[:, 1:] != cl.BOS)
    assert corpus.tokens.max() < 64
    counts = _group_counts(corpus, length - 1)
    positions = n * (length - 1)
    for c, rate in enumerate(cl.RATES):
        emitted = counts[:, c].sum()
        # binomial standard errors; 5 of them bound a false failure below 1e-6
        assert abs(emitted / positions - rate) < 5 * np.sqrt(rate * (1 - rate) / positions)
        agreeing = np.take_along_axis(counts[:, c], corpus.concepts[:, [c]].astype(int), 1).sum()
        assert abs(1 - agreeing / emitted - cl.NOISE) < 5 * np.sqrt(cl.NOISE * (1 - cl.NOISE) / emitted)
    assert abs(corpus.concepts.mean() - 0.5) < 5 * np.sqrt(0.25 / corpus.concepts.size)
    fillers = (corpus.tokens[:, 1:] >= corpus.vocabulary.first_filler).mean()
    assert abs(fillers - (1 - sum(cl.RATES))) < 0.01


def test_bayes_accuracy_is_the_majority_vote_and_a_probe_on_counts_reaches_it(corpus):
    words = 16
    counts = _group_counts(corpus, words)
    for c in range(len(cl.CONCEPTS)):
        margin = counts[:, c, 1] - counts[:, c, 0]
        truth = corpus.concepts[:, c]
        # majority vote, ties split evenly in expectation
        vote = np.where(margin == 0, 0.5, (np.sign(margin) > 0) == truth)
        expected = cl.bayes_accuracy(c, words)
        assert abs(vote.mean() - expected) < 4 * np.sqrt(0.25 / len(truth))
        # a linear probe on a constructed embedding (the counts) recovers the concept, held out
        x = counts.reshape(len(truth), -1).astype(float)
        probe = LogisticRegression().fit(x[:3000], truth[:3000])
        assert probe.score(x[3000:], truth[3000:]) > expected - 4 * np.sqrt(0.25 / 1000)
    assert cl.bayes_accuracy(0, 0) == 0.5 and cl.bayes_accuracy(0, 200) > 0.999
    assert cl.bayes_accuracy(0, 1) == pytest.approx(0.5 + cl.RATES[0] * (0.5 - cl.NOISE), abs=1e-12)


def test_the_same_corpus_for_a_seed_and_another_for_another_seed():
    a, b, c = cl.generate(50, 20, 64, 1), cl.generate(50, 20, 64, 1), cl.generate(50, 20, 64, 2)
    np.testing.assert_array_equal(a.tokens, b.tokens)  # bit-equal: determinism is the property
    np.testing.assert_array_equal(a.concepts, b.concepts)
    assert not np.array_equal(a.tokens, c.tokens)
    with pytest.raises(InputError, match="model.vocab 8"):
        cl.generate(5, 20, 8)


def test_data_option_packs_one_sequence_per_row_with_its_concepts():
    section = ml_collections.ConfigDict(
        dict(path="", context=0, num_train=40, num_test=8, seed=4, augment=False, source="concepts")
    )
    data = load_text_data(section, 0, 24)
    reference = cl.generate(48, 24, cl.DEFAULT_VOCAB, 4)
    assert data.vocab_size == cl.DEFAULT_VOCAB and len(data.train) == 40 and data.test.shape == (8, 25)
    np.testing.assert_array_equal(data.test[:, :-1], reference.tokens[40:])
    np.testing.assert_array_equal(data.splits["train"][:, :-1], reference.tokens[:8])
    np.testing.assert_array_equal(data.concepts["test"], reference.concepts[40:])
    np.testing.assert_array_equal(data.concepts["train"], reference.concepts[:8])
    assert np.all(data.test[:, -1] == cl.BOS)
    with pytest.raises(InputError, match="data.source"):
        load_text_data(ml_collections.ConfigDict(dict(section.to_dict(), source="bytes")), 0, 24)


@pytest.mark.slow
def test_reproduce_lm_smoke_through_the_cli(tmp_path):
    """One smoke reproduction (KL and L2+Procrustes students, 2 seeds), then ``evaluate``
    on its teacher workdir."""
    out = tmp_path / "lm"
    losses = "--config.sweep.losses=('kl','l2+procrustes')"
    assert main(["reproduce", "lm", "--preset", "smoke", "--out", str(out), "--quiet", losses]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["significance"]) == {"l2+procrustes_vs_kl"}
    for loss in ("kl", "l2+procrustes"):
        for key in ("logit_distance", "kl_divergence", "mean_cca", "rep_dissimilarity", "concept_probe_accuracy"):
            values = summary[loss][key]["values"]
            assert len(values) == 2 and np.all(np.isfinite(values)), (loss, key)
        for name in cl.CONCEPTS:
            assert 0 <= summary[loss][f"concept_probe_{name}"]["mean"] <= 1
    teacher = summary["teacher"]
    # above chance on the most frequent concept (Bayes-optimal ≈ 0.99 at the probed positions)
    assert teacher["concept_probe_topic"]["mean"] > 0.7
    assert summary["bayes_accuracy"]["concept_probe_topic"] > 0.98
    assert "concept_probe_accuracy" in (out / "summary.md").read_text()
    assert (out / "metrics.png").stat().st_size > 0
    assert main(["evaluate", "--workdir", str(out / "teacher")]) == 0
    report = json.loads((out / "teacher" / "report.json").read_text())
    assert np.isfinite(report["test"]["perplexity"])
