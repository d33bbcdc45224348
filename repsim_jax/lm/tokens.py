"""Token input for language models: tokenizers, token files, packed sequences, grain batches.

- Tokenizers: :class:`ByteTokenizer` (built in: the UTF-8 bytes of a text are its tokens,
  ids 0–255, plus an end-of-text id 256 when asked; nothing to download) and
  :class:`HFTokenizer` (a local Hugging Face ``tokenizer.json``, through the
  ``tokenizers`` library of the ``[torch]`` extra).
- Token files (:func:`read_tokens`): a UTF-8 text file, tokenized whole, or a
  pre-tokenised 1-D integer ``.npy`` (memory-mapped, so a large corpus is never loaded).
- Packing (:class:`PackedSequences`): with sequence length L, item i is
  ``tokens[i·L : (i+1)·L + 1]``; its first L tokens are the inputs and its last L the
  next-token targets, so every token but the very first is a target exactly once.
- Batches (:func:`token_batches`): ``grain.MapDataset`` source → seed → global shuffle
  (the same permutation in every process, a new one each epoch) → this process's shard
  (:class:`grain.sharding.ShardByJaxProcess` by default: each process reads only its
  sequences) → ``{"x": inputs, "y": targets}`` → batches of ``batch_size`` → repeat.
  :func:`batch_iterator` reads them with prefetching threads; its
  ``get_state()``/``set_state()`` (a small dict) resume the stream exactly.

Bad files raise InputError naming the file.
"""

from __future__ import annotations

import pathlib

import grain
import numpy as np

from repsim_jax.errors import InputError

__all__ = [
    "ByteTokenizer",
    "HFTokenizer",
    "read_tokens",
    "PackedSequences",
    "token_batches",
    "batch_iterator",
]

_CHECK_BLOCK = 1 << 24  # tokens per block when checking a token file's ids


def _id_dtype(vocab_size: int) -> np.dtype:
    """The smallest dtype of token ids below ``vocab_size``: uint16, else int32."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.int32)


class ByteTokenizer:
    """UTF-8 bytes as tokens (ids 0–255); with ``eos``, id 256 ends each encoded text."""

    def __init__(self, eos: bool = False):
        self.eos_id = 256 if eos else None
        self.vocab_size = 257 if eos else 256

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text``'s UTF-8 bytes (then the end-of-text id, if any)."""
        ids = np.frombuffer(text.encode("utf-8"), np.uint8).astype(np.uint16)
        return ids if self.eos_id is None else np.append(ids, np.uint16(self.eos_id))

    def decode(self, ids) -> str:
        """The text of ``ids``: end-of-text ids dropped, invalid UTF-8 replaced by U+FFFD."""
        ids = np.asarray(ids)
        return ids[ids < 256].astype(np.uint8).tobytes().decode("utf-8", errors="replace")


class HFTokenizer:
    """A local Hugging Face tokenizer: ``directory/tokenizer.json`` (no end-of-text id is added)."""

    def __init__(self, directory: str):
        file = pathlib.Path(directory) / "tokenizer.json"
        if not file.is_file():
            raise InputError(f"{directory}: no tokenizer.json (a Hugging Face tokenizer directory)")
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise InputError(f"{directory}: a Hugging Face tokenizer needs tokenizers (the [torch] extra)") from None
        try:
            self._tokenizer = Tokenizer.from_file(str(file))
        except Exception as error:  # the Rust library raises a plain Exception for a malformed file
            raise InputError(f"{file}: not a tokenizer ({' '.join(str(error).split())})") from None
        self.eos_id = None
        self.vocab_size = self._tokenizer.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> np.ndarray:
        """The ids of ``text`` (no special tokens added)."""
        ids = self._tokenizer.encode(text, add_special_tokens=False).ids
        return np.asarray(ids, _id_dtype(self.vocab_size))

    def decode(self, ids) -> str:
        return self._tokenizer.decode([int(i) for i in ids])


def _read_text(file: pathlib.Path) -> str:
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"{file}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    if not text:
        raise InputError(f"{file}: empty text file")
    return text


def _read_token_file(file: pathlib.Path, vocab_size: int) -> np.ndarray:
    """A 1-D integer ``.npy`` memory-mapped; InputError for another shape or dtype or an id
    outside [0, vocab_size) (checked block by block)."""
    try:
        tokens = np.load(file, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise InputError(f"{file}: not a NumPy .npy token file ({' '.join(str(error).split())})") from None
    if tokens.ndim != 1 or not np.issubdtype(tokens.dtype, np.integer):
        raise InputError(f"{file}: expected a 1-D array of integer token ids, got {tokens.dtype} {tokens.shape}")
    for start in range(0, tokens.shape[0], _CHECK_BLOCK):
        block = tokens[start : start + _CHECK_BLOCK]
        low, high = block.min(), block.max()
        if low < 0 or high >= vocab_size:
            raise InputError(f"{file}: token ids must lie in [0, {vocab_size}) of the tokenizer, got {low}..{high}")
    return tokens


def read_tokens(path: str, tokenizer) -> np.ndarray:
    """The token ids (1-D) of ``path``: a ``.npy`` token file (memory-mapped, ids checked
    against ``tokenizer.vocab_size``) or a UTF-8 text file encoded by ``tokenizer``."""
    file = pathlib.Path(path)
    if not file.is_file():
        raise InputError(f"{path}: no such token or text file")
    if file.suffix == ".npy":
        return _read_token_file(file, tokenizer.vocab_size)
    return tokenizer.encode(_read_text(file))


class PackedSequences:
    """Random-access source of packed sequences: item i is the L+1 tokens
    ``tokens[i·L : (i+1)·L + 1]`` as int32, for ``(len(tokens) − 1) // L`` items.

    ``source`` names the tokens' file in errors (fewer than L+1 tokens).
    """

    def __init__(self, tokens, length: int, source: str = "tokens"):
        if length < 1:
            raise InputError(f"sequence length must be >= 1, got {length}")
        if len(tokens) < length + 1:
            raise InputError(f"{source}: {len(tokens)} tokens, fewer than the sequence length + 1 ({length + 1})")
        self._tokens = tokens
        self.length = length

    def __len__(self) -> int:
        return (len(self._tokens) - 1) // self.length

    def __getitem__(self, index: int) -> np.ndarray:
        start = index * self.length
        return np.asarray(self._tokens[start : start + self.length + 1], np.int32)


def _inputs_and_targets(sequence: np.ndarray) -> dict[str, np.ndarray]:
    return {"x": sequence[:-1], "y": sequence[1:]}


def token_batches(
    sequences: PackedSequences,
    batch_size: int,
    seed: int,
    shard: grain.sharding.ShardOptions | None = None,
    num_epochs: int | None = None,
) -> grain.MapDataset:
    """This process's batches ``{"x": (B, L), "y": (B, L)}`` int32 of ``sequences``.

    The sequences are shuffled globally with ``seed`` (a new permutation each epoch, the
    same in every process), then split by ``shard`` (default
    ``ShardByJaxProcess(drop_remainder=True)``): shard i of n takes every n-th sequence from
    i, after the last ``len % n`` are dropped when ``shard.drop_remainder`` (so every
    process has as many batches). ``batch_size`` is this process's rows per batch; the
    last partial batch of an epoch is dropped. ``num_epochs=None`` repeats forever.
    InputError when a shard has fewer sequences than one batch.
    """
    shard = shard or grain.sharding.ShardByJaxProcess(drop_remainder=True)
    if batch_size < 1:
        raise InputError(f"batch size must be >= 1, got {batch_size}")
    dataset = grain.MapDataset.source(sequences).seed(seed).shuffle()
    if shard.drop_remainder:
        dataset = dataset[: len(dataset) // shard.shard_count * shard.shard_count]
    dataset = dataset[shard.shard_index :: shard.shard_count]
    if len(dataset) < batch_size:
        raise InputError(
            f"{len(dataset)} sequences of {sequences.length} tokens for shard {shard.shard_index} of "
            f"{shard.shard_count}, fewer than one batch of {batch_size}: use more text or a shorter sequence length"
        )
    return dataset.map(_inputs_and_targets).batch(batch_size, drop_remainder=True).repeat(num_epochs)


def batch_iterator(batches: grain.MapDataset, threads: int = 2, prefetch: int = 4) -> grain.DatasetIterator:
    """An iterator over ``batches`` read by ``threads`` threads, ``prefetch`` batches ahead.

    ``iterator.get_state()`` is a small dict; ``set_state`` of it on a fresh iterator of
    the same ``batches`` gives exactly the batches that followed (resume after a restart).
    """
    options = grain.ReadOptions(num_threads=threads, prefetch_buffer_size=prefetch)
    return iter(batches.to_iter_dataset(options))
