"""The token data of a language-model run (config section ``data`` with ``name = "text"``).

``data.source = "concepts"``: the sequences of the concept language
(:mod:`repsim_jax.lm.concept_language`), ``data.num_train`` (0: 8192) training and
``data.num_test`` (0: ``num_train // 9``) held-out ones, ``data.context`` tokens each (0:
``model.context``), over ``model.vocab`` tokens (0: 64), generated with ``data.seed``;
each packed sequence is one of them, and
:attr:`TextData.concepts` holds their latent concepts. Otherwise (``data.source = ""``):
``data.path`` is a UTF-8 text file (tokenized with the built-in
:class:`~repsim_jax.lm.tokens.ByteTokenizer`, K = 256) or a 1-D ``.npy`` of token ids
(memory-mapped; ids below ``model.vocab``, which must then be set). Empty: the built-in
synthetic text of :func:`default_text`, so that a run needs no file and no download.

Split: the last ``data.num_test`` sequences of the tokens are held out (0: a tenth of
them, at least one), the training sequences are packed from the tokens before them
(:class:`~repsim_jax.lm.tokens.PackedSequences`, the first ``data.num_train`` when > 0),
so no held-out target is ever a training input or target. Training reads them as
:class:`TokenStream` (grain: shuffled with ``data.seed``, each process its shard);
an epoch is one pass over a process's shard.
"""

from __future__ import annotations

import dataclasses
import functools

import grain
import numpy as np

from repsim_jax.errors import InputError
from repsim_jax.lm import concept_language
from repsim_jax.lm.tokens import ByteTokenizer, PackedSequences, batch_iterator, read_tokens, token_batches

__all__ = ["default_text", "TokenStream", "TextData", "load_text_data"]

_SUBJECTS = ("the cat", "a dog", "the bird", "my friend", "the teacher", "a student", "the river", "an old man")
_VERBS = ("sees", "likes", "follows", "finds", "helps", "watches", "calls", "meets")
_OBJECTS = ("the moon", "a red ball", "the green tree", "her brother", "the small house", "a loud bell")


@functools.lru_cache(maxsize=2)
def default_text(sentences: int = 6000, seed: int = 0) -> str:
    """A synthetic English-like text of ``sentences`` lines, the same for a seed: simple
    clauses ``SUBJECT VERB OBJECT.`` from small word lists, alternating with sums
    ``a + b = c.`` of one- and two-digit numbers (so that the next token is sometimes
    determined by the context: the sums' results). About 120 kB for 6000 sentences."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(sentences):
        if i % 3 == 2:
            a, b = rng.integers(0, 50, size=2)
            lines.append(f"{a} + {b} = {a + b}.")
        else:
            words = (_SUBJECTS[rng.integers(len(_SUBJECTS))], _VERBS[rng.integers(len(_VERBS))])
            lines.append(f"{words[0]} {words[1]} {_OBJECTS[rng.integers(len(_OBJECTS))]}.")
    return "\n".join(lines) + "\n"


@dataclasses.dataclass(frozen=True)
class TokenStream:
    """A process's training batches ``{"x", "y"}`` (``batch_size`` rows, ``length``
    tokens), repeating epoch after epoch with a new shuffle each; ``steps_per_epoch``
    batches per epoch. :meth:`iterator` reads them; its ``get_state``/``set_state``
    resume the stream exactly."""

    batches: grain.MapDataset
    steps_per_epoch: int
    batch_size: int
    length: int

    def iterator(self) -> grain.DatasetIterator:
        return batch_iterator(self.batches)

    def example(self) -> dict[str, np.ndarray]:
        """One row of zeros with a batch's shapes and dtypes (to initialise a model)."""
        return {key: np.zeros((1, self.length), np.int32) for key in ("x", "y")}


@dataclasses.dataclass(frozen=True)
class TextData:
    """Training sequences ``train`` and held-out sequences ``test`` (n, L+1) int32 of a
    vocabulary of ``vocab_size`` tokens; ``seed`` shuffles the training stream.
    ``sequence_concepts`` (the concept language only): the latent concepts (N, C) of the
    training then the held-out sequences, one row each."""

    train: PackedSequences
    test: np.ndarray
    vocab_size: int
    seed: int
    source: str
    sequence_concepts: np.ndarray | None = None

    @property
    def length(self) -> int:
        return self.train.length

    def sample_input(self) -> np.ndarray:
        return np.zeros((1, self.length), np.int32)

    def stream(self, batch_size: int, shard: grain.sharding.ShardOptions | None = None) -> TokenStream:
        """This process's batches of ``batch_size`` sequences (:func:`token_batches`)."""
        steps = len(token_batches(self.train, batch_size, self.seed, shard, num_epochs=1))
        return TokenStream(token_batches(self.train, batch_size, self.seed, shard), steps, batch_size, self.length)

    @property
    def splits(self) -> dict[str, np.ndarray]:
        """The evaluated sequences (n, L+1): ``test`` (held out) and ``train`` (the first
        training sequences, as many as ``test`` has, to compare the two)."""
        count = min(len(self.test), len(self.train))
        return {"train": np.stack([self.train[i] for i in range(count)]), "test": self.test}

    @property
    def concepts(self) -> dict[str, np.ndarray] | None:
        """The latent concepts (n, C) of the rows of :attr:`splits` (None without them)."""
        if self.sequence_concepts is None:
            return None
        held_out = len(self.test)
        return {
            "train": self.sequence_concepts[: min(held_out, len(self.train))],
            "test": self.sequence_concepts[len(self.sequence_concepts) - held_out :],
        }


class _Vocabulary:
    """The vocabulary a ``.npy`` token file is checked against (its ids: [0, vocab_size))."""

    def __init__(self, vocab_size: int):
        self.vocab_size = vocab_size


def _tokens(data, vocab: int) -> tuple[np.ndarray, int, str]:
    """``(tokens, vocabulary size, source name)`` of config section ``data``."""
    if not data.path:
        tokenizer = ByteTokenizer()
        return tokenizer.encode(default_text()), tokenizer.vocab_size, "the built-in text"
    if data.path.endswith(".npy"):
        if not vocab:
            raise InputError(f"data.path {data.path}: a token file needs model.vocab (its ids' vocabulary size)")
        return read_tokens(data.path, _Vocabulary(vocab)), vocab, data.path
    tokenizer = ByteTokenizer()
    return read_tokens(data.path, tokenizer), tokenizer.vocab_size, data.path


def _concept_corpus(data, vocab: int, length: int) -> concept_language.ConceptCorpus:
    """The concept language's sequences of ``data.source = "concepts"`` (module docstring)."""
    if data.path:
        raise InputError(f"data.path {data.path!r} is not read with data.source 'concepts': leave it empty")
    train = data.num_train or concept_language.DEFAULT_TRAIN_SEQUENCES
    held_out = data.num_test or max(1, train // 9)  # about a tenth of all, as for text
    return concept_language.generate(train + held_out, length, vocab or concept_language.DEFAULT_VOCAB, data.seed)


def load_text_data(data, vocab: int, context: int) -> TextData:
    """The :class:`TextData` of config section ``data`` (module docstring) for a model of
    vocabulary ``vocab`` (0: the data's) and ``context`` positions; the sequence length
    is ``data.context`` (0: ``context``). InputError for too little text."""
    if data.augment:
        raise InputError("data.augment (crop + flip) applies to image sets, not text")
    generated = data.get("source", "")  # a data section of before the key: the text
    if generated not in ("", "concepts"):
        raise InputError(f"data.source must be '' (data.path or the built-in text) or 'concepts', got {generated!r}")
    length = data.context or context
    if length > context:
        raise InputError(f"data.context {length} is longer than model.context {context}")
    corpus = _concept_corpus(data, vocab, length) if generated == "concepts" else None
    if corpus is None:
        tokens, vocab_size, source = _tokens(data, vocab)
    else:
        tokens, vocab_size, source = corpus.stream(), corpus.vocabulary.size, "the concept language"
    sequences = (len(tokens) - 1) // length
    held_out = data.num_test or max(1, sequences // 10)
    if held_out >= sequences:
        raise InputError(
            f"{source}: {len(tokens)} tokens make {sequences} sequences of {length}, "
            f"too few to hold out {held_out} and train on the rest"
        )
    cut = len(tokens) - held_out * length - 1
    held = PackedSequences(tokens[cut:], length, source)
    test = np.stack([held[i] for i in range(held_out)])
    train_tokens = tokens[: cut + 1] if not data.num_train else tokens[: min(cut, data.num_train * length) + 1]
    concepts = None if corpus is None else corpus.concepts
    return TextData(PackedSequences(train_tokens, length, source), test, vocab_size, data.seed, source, concepts)
