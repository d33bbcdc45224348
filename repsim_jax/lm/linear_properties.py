"""Relational linearity of a next-token predictor: are the differences of concept pairs parallel?

After arXiv 2410.23501 ("all or none": linear properties of next-token predictors hold in
all or in none of the models that induce the same distribution, under conditions;
parallelism is the property that can fail to transfer). For pairs ``(a_p, b_p)``,
p = 1..P, of tokens standing in one relation (base → superlative; ``W_{c,0}`` word →
``W_{c,1}`` word of the concept language) and vectors ``u_t`` of the tokens in one space,
the differences ``Δ_p = u_{b_p} − u_{a_p}`` and

- **parallelism** ``= 2/(P(P−1)) Σ_{p<q} cos(Δ_p, Δ_q)``: 1 when all differences point the
  same way, near 0 for unrelated directions;
- **shuffled baseline**: the same statistic after the 2P tokens of the pairs are permuted
  at random and re-paired consecutively (so a shuffled pair's order, hence the sign of
  its difference, is random and no relation is shared: its expectation is 0), averaged
  over ``shuffles`` permutations, with its standard deviation over them — the size of
  the parallelism that unrelated differences of these very vectors show by chance.

Spaces: **g-space**, the unembedding rows ``g_t`` (the head's weights of the tokens), and
**f-space**, the model's final hidden state f (the LM head's input) at the position of
token t read after a fixed ``prefix`` (e.g. the concept language's beginning mark).
:func:`model_relations` measures both per model and relation; :func:`logit_distances`
gives each model's ``d_logit`` to the first model on the same texts, to set beside them
(does a property hold in all the models of nearly one distribution, or in none?).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from repsim_jax.errors import InputError
from repsim_jax.lm.concept_language import CONCEPTS, Vocabulary
from repsim_jax.lm.layers import FINAL
from repsim_jax.lm.steering import SteerableLM, padded_batches
from repsim_jax.metrics import logit_distance
from repsim_jax.metrics.concepts import difference_parallelism as parallelism

__all__ = ["parallelism", "shuffled_baseline", "concept_pairs", "model_relations", "logit_distances", "read_pairs"]


def shuffled_baseline(first: np.ndarray, second: np.ndarray, shuffles: int = 20, seed: int = 0) -> tuple[float, float]:
    """``(mean, std)`` over ``shuffles`` random re-pairings of the 2P vectors of the pairs
    (module docstring) of their :func:`parallelism`. Pairs of equal vectors drawn by a
    shuffle (repeated tokens) are drawn again."""
    vectors = np.concatenate([first, second]).astype(np.float64)
    rng = np.random.default_rng(seed)
    values = []
    while len(values) < shuffles:
        order = rng.permutation(len(vectors)).reshape(-1, 2)
        a, b = vectors[order[:, 0]], vectors[order[:, 1]]
        if np.all(np.linalg.norm(b - a, axis=1) > 0):
            values.append(parallelism(a, b))
    return float(np.mean(values)), float(np.std(values))


def concept_pairs(vocab: int) -> dict[str, np.ndarray]:
    """Per concept c of the concept language over ``vocab`` tokens, the pairs
    ``(W_{c,0}[k], W_{c,1}[k])`` (group, 2) of token ids: the relation 'value 0 → value 1'."""
    words = Vocabulary(vocab)
    return {name: np.stack([words.words(c, 0), words.words(c, 1)], axis=1) for c, name in enumerate(CONCEPTS)}


def read_pairs(path: str) -> list[tuple[str, str]]:
    """The pairs of a UTF-8 file: one pair per non-empty line, two words separated by
    whitespace (e.g. ``easy easiest``; for a model trained on ids, ``5 21``)."""
    try:
        with open(path, encoding="utf-8") as file:
            lines = [line.split() for line in file if line.strip()]
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text ({error.reason})") from None
    for number, words in enumerate(lines, 1):
        if len(words) != 2:
            raise InputError(f"{path}: line {number} has {len(words)} words; a pair is two words")
    if len(lines) < 2:
        raise InputError(f"{path}: {len(lines)} pair(s); parallelism needs at least 2")
    return [tuple(words) for words in lines]


def _f_vectors(model: SteerableLM, words: Sequence[str], prefix: str) -> np.ndarray:
    """f at the last token of ``prefix + word``, per word (P, d)."""
    texts = [prefix + word for word in words]
    lengths = [len(model.encode(text)) for text in texts]
    rows = model.hidden_rows(texts, FINAL)
    return rows[np.cumsum(lengths) - 1]


def model_relations(
    model: SteerableLM, relations: dict, prefix: str = "", shuffles: int = 20, seed: int = 0
) -> list[dict]:
    """One row ``{relation, space, parallelism, baseline, baseline_std}`` per relation
    (a name → its pairs of words, each one token) and space (``f``, ``g``) of ``model``."""
    g = np.asarray(model.unembeddings, np.float64)
    rows = []
    for name, pairs in relations.items():
        first, second = ([str(pair[side]) for pair in pairs] for side in (0, 1))
        ids = [[model.token_id(word) for word in words] for words in (first, second)]
        spaces = {
            "f": [_f_vectors(model, words, prefix) for words in (first, second)],
            "g": [g[np.asarray(side)] for side in ids],
        }
        for space, (a, b) in spaces.items():
            mean, std = shuffled_baseline(a, b, shuffles, seed)
            rows.append({"relation": name, "space": space, "parallelism": parallelism(a, b)})
            rows[-1].update(baseline=mean, baseline_std=std)
    return rows


def logit_distances(models: Sequence[SteerableLM], texts: Sequence[str]) -> list[float]:
    """``d_logit`` (:func:`repsim_jax.metrics.logit_distance`, centred logits) of each model
    to the first on the next-token distributions at every token of ``texts``."""
    sequences = [models[0].encode(text) for text in texts]
    for model in models[1:]:
        if [model.encode(text) for text in texts] != sequences:
            first = models[0].name
            raise InputError(f"--text: {model.name} tokenizes the texts unlike {first}; d_logit needs one tokenizer")
    sequences = [ids for ids in sequences if ids]
    if not sequences:
        raise InputError("--text: the tokenizer produced no tokens")

    def log_probs(model):
        return np.concatenate([model.log_probs(t, 0, None)[m] for t, m in padded_batches(sequences)])

    reference = log_probs(models[0])
    return [0.0] + [float(logit_distance(reference, log_probs(m))) for m in models[1:]]
