"""A synthetic language generated from latent binary concepts (``data.source = "concepts"``).

Each sequence draws ``C = 4`` independent binary concepts ``z = (topic, polarity,
number, tense)``, each 0 or 1 with probability ½, that stay fixed for the whole sequence.
Token 0 is the beginning-of-sequence mark; every other token belongs to one word group:
for each concept c and value v a group ``W_{c,v}`` of ``m`` words, and a group of filler
words (the rest of the vocabulary of K tokens, ``m = ⌊3(K − 1)/4⌋ // 2C``). After the mark,
each of the ``L − 1`` positions independently

1. picks a slot: concept c with probability ``π_c`` (:data:`RATES`: 0.30, 0.15, 0.08,
   0.04), a filler with probability ``1 − Σ_c π_c``;
2. for concept c emits a word drawn uniformly from ``W_{c, z_c}``, or with probability
   ``η`` (:data:`NOISE` = 0.1) from the other value's group ``W_{c, 1 − z_c}``; for a
   filler a uniform filler word.

So the next-token distribution at every position is a mixture whose weights on
``W_{c,1}`` vs ``W_{c,0}`` depend on the posterior of ``z_c`` given the prefix, and that
posterior depends on the prefix only through the count ``n_{c,1} − n_{c,0}`` of concept-c
words of either value: its log-odds is ``(n_{c,1} − n_{c,0}) · log((1 − η)/η)``. A model
that predicts the next token well must therefore carry each posterior in its hidden state,
where a linear probe can read it. Frequent concepts (topic) are nearly certain after a
few words; the rare ones (tense: the words of a group have next-token probability
``π_c(1 − η)/m``, below 1% at K = 64) are those a distillation loss that weighs tokens
by their probability (KL) can neglect. :func:`bayes_accuracy` is the best accuracy any
classifier of ``z_c`` from a prefix can reach (the majority vote of the concept's words).

Written as token ids (``vocab`` K >= :data:`MIN_VOCAB`); the same corpus for a seed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.stats

from repsim_jax.errors import InputError

__all__ = [
    "CONCEPTS",
    "RATES",
    "NOISE",
    "BOS",
    "MIN_VOCAB",
    "DEFAULT_VOCAB",
    "DEFAULT_TRAIN_SEQUENCES",
    "Vocabulary",
    "ConceptCorpus",
    "generate",
    "bayes_accuracy",
]

CONCEPTS = ("topic", "polarity", "number", "tense")
RATES = (0.30, 0.15, 0.08, 0.04)
"""π_c: the probability that a position carries a word of concept c."""
NOISE = 0.1
"""η: the probability that a concept word comes from the other value's group."""
BOS = 0
MIN_VOCAB = 2 * len(CONCEPTS) + 2  # the mark, one word per group, one filler
DEFAULT_VOCAB = 64
DEFAULT_TRAIN_SEQUENCES = 8192  # config data.num_train = 0


@dataclasses.dataclass(frozen=True)
class Vocabulary:
    """The token layout of vocabulary size ``size``: ``W_{c,v}`` is the ``group`` tokens
    from ``1 + (2c + v)·group``; fillers are the tokens from :attr:`first_filler` on."""

    size: int

    def __post_init__(self):
        if self.size < MIN_VOCAB:
            raise InputError(f"model.vocab {self.size}: the concept language needs at least {MIN_VOCAB} tokens")

    @property
    def group(self) -> int:
        return max(1, (3 * (self.size - 1) // 4) // (2 * len(CONCEPTS)))

    @property
    def first_filler(self) -> int:
        return 1 + 2 * len(CONCEPTS) * self.group

    def words(self, concept: int, value: int) -> np.ndarray:
        """The token ids of ``W_{concept, value}``."""
        start = 1 + (2 * concept + value) * self.group
        return np.arange(start, start + self.group)


@dataclasses.dataclass(frozen=True)
class ConceptCorpus:
    """``tokens`` (n, L) int32, each row the mark then L − 1 words; ``concepts`` (n, C)
    int8 the latent concepts of each row (columns in the order of :data:`CONCEPTS`)."""

    tokens: np.ndarray
    concepts: np.ndarray
    vocabulary: Vocabulary

    def stream(self) -> np.ndarray:
        """The rows end to end with a closing mark: ``n·L + 1`` tokens, so that packed
        sequences of L + 1 tokens (:class:`repsim_jax.lm.tokens.PackedSequences`) are the
        rows, each with the next row's mark as its last target."""
        return np.concatenate([self.tokens.reshape(-1), [BOS]]).astype(np.int32)


def generate(num_sequences: int, length: int, vocab: int = DEFAULT_VOCAB, seed: int = 0) -> ConceptCorpus:
    """``num_sequences`` sequences of ``length`` tokens of the concept language (module
    docstring) over ``vocab`` tokens, the same for a ``seed``."""
    if num_sequences < 1 or length < 2:
        raise InputError(f"the concept language needs >= 1 sequence of >= 2 tokens, got {num_sequences} × {length}")
    words = Vocabulary(vocab)
    rng = np.random.default_rng(seed)
    count = len(CONCEPTS)
    concepts = rng.integers(0, 2, size=(num_sequences, count), dtype=np.int8)
    shape = (num_sequences, length - 1)
    slot = rng.choice(count + 1, size=shape, p=[*RATES, 1.0 - sum(RATES)])
    flipped = rng.random(shape) < NOISE
    which = rng.integers(0, words.group, size=shape)
    filler = rng.integers(0, vocab - words.first_filler, size=shape)
    concept = np.minimum(slot, count - 1)
    value = np.take_along_axis(concepts, concept, axis=1) ^ flipped
    content = 1 + (2 * concept + value) * words.group + which
    body = np.where(slot == count, words.first_filler + filler, content)
    tokens = np.concatenate([np.full((num_sequences, 1), BOS), body], axis=1).astype(np.int32)
    return ConceptCorpus(tokens, concepts, words)


def bayes_accuracy(concept: int, words: int) -> float:
    """The Bayes-optimal accuracy of ``z_c`` after ``words`` words (module docstring).

    With ``k ~ Binomial(words, π_c)`` words of concept c, ``j ~ Binomial(k, 1 − η)`` of
    them from ``W_{c, z_c}``, and the majority vote optimal (equal priors):
    ``Σ_k P(k) [P(j > k/2) + ½ P(j = k/2)]``.
    """
    k = np.arange(words + 1)
    right = scipy.stats.binom.sf(k // 2, k, 1 - NOISE)  # P(j > ⌊k/2⌋) = P(j > k/2)
    tie = np.where(k % 2 == 0, scipy.stats.binom.pmf(k // 2, k, 1 - NOISE), 0.0)
    return float(np.sum(scipy.stats.binom.pmf(k, words, RATES[concept]) * (right + tie / 2)))
