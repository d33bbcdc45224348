"""Token input: tokenizers, token files, packing, the grain pipeline (coverage, shards, resume)."""

import itertools
import json

import grain
import numpy as np
import pytest

from repsim_jax.errors import InputError
from repsim_jax.lm.tokens import (
    ByteTokenizer,
    HFTokenizer,
    PackedSequences,
    batch_iterator,
    read_tokens,
    token_batches,
)

TEXT = "Plain text, naïve café — 東京 🙂\nsecond line\ttab\n"
LENGTH = 8


def shard(index, count, drop_remainder=True):
    return grain.sharding.ShardOptions(shard_index=index, shard_count=count, drop_remainder=drop_remainder)


def take(iterator, count):
    return [next(iterator) for _ in range(count)]


def items_of(batch):
    """Item indices of a batch of ``arange`` tokens: row ``x`` starts at token ``i·L``."""
    return [int(row[0]) // LENGTH for row in batch["x"]]


def test_byte_tokenizer_round_trips_text():
    plain, with_eos = ByteTokenizer(), ByteTokenizer(eos=True)
    ids = plain.encode(TEXT)
    assert plain.vocab_size == 256 and with_eos.vocab_size == 257
    np.testing.assert_array_equal(ids, list(TEXT.encode("utf-8")))
    assert plain.decode(ids) == TEXT
    eos_ids = with_eos.encode(TEXT)
    assert eos_ids[-1] == 256 and len(eos_ids) == len(ids) + 1
    assert with_eos.decode(eos_ids) == TEXT


def test_read_tokens_from_text(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    np.testing.assert_array_equal(read_tokens(str(path), ByteTokenizer()), ByteTokenizer().encode(TEXT))


def test_read_tokens_from_npy_is_memory_mapped(tmp_path):
    path = tmp_path / "tokens.npy"
    np.save(path, np.arange(300, dtype=np.uint16) % 257)
    tokens = read_tokens(str(path), ByteTokenizer(eos=True))
    assert isinstance(tokens, np.memmap)
    np.testing.assert_array_equal(tokens, np.arange(300) % 257)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("bad.txt", b"caf\xe9", "not UTF-8 text"),
        ("empty.txt", b"", "empty text file"),
        ("garbage.npy", b"not numpy", "not a NumPy .npy token file"),
    ],
)
def test_bad_files_name_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as error:
        read_tokens(str(path), ByteTokenizer())
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((4, 4), np.int32), "expected a 1-D array of integer token ids"),
        (np.zeros(8, np.float32), "expected a 1-D array of integer token ids"),
        (np.array([1, 256, 3]), r"must lie in \[0, 256\)"),
        (np.array([1, -1, 3]), r"must lie in \[0, 256\)"),
    ],
)
def test_bad_token_arrays(tmp_path, array, message):
    path = tmp_path / "tokens.npy"
    np.save(path, array)
    with pytest.raises(InputError, match=message):
        read_tokens(str(path), ByteTokenizer())
    with pytest.raises(InputError, match="no such token or text file"):
        read_tokens(str(tmp_path / "absent.txt"), ByteTokenizer())


def test_packing_covers_every_token_once():
    tokens = np.arange(1 + 5 * LENGTH + 3)
    sequences = PackedSequences(tokens, LENGTH)
    assert len(sequences) == 5
    for i in range(5):
        np.testing.assert_array_equal(sequences[i], tokens[i * LENGTH : (i + 1) * LENGTH + 1])
    inputs = np.concatenate([sequences[i][:-1] for i in range(5)])
    targets = np.concatenate([sequences[i][1:] for i in range(5)])
    np.testing.assert_array_equal(inputs, tokens[: 5 * LENGTH])
    np.testing.assert_array_equal(targets, tokens[1 : 5 * LENGTH + 1])
    with pytest.raises(InputError, match="corpus.txt: 8 tokens, fewer than the sequence length"):
        PackedSequences(tokens[:LENGTH], LENGTH, source="corpus.txt")


def test_an_epoch_reads_every_sequence_once_and_epochs_reshuffle():
    sequences = PackedSequences(np.arange(1 + 24 * LENGTH), LENGTH)
    iterator = batch_iterator(token_batches(sequences, batch_size=4, seed=3, shard=shard(0, 1)))
    epochs = [take(iterator, 6), take(iterator, 6)]
    for epoch in epochs:
        order = [i for batch in epoch for i in items_of(batch)]
        assert sorted(order) == list(range(24))
        for batch in epoch:
            np.testing.assert_array_equal(batch["y"][:, :-1], batch["x"][:, 1:])
            np.testing.assert_array_equal(batch["y"][:, -1], batch["x"][:, -1] + 1)
            assert batch["x"].dtype == np.int32 and batch["x"].shape == (4, LENGTH)
    assert [items_of(b) for b in epochs[0]] != [items_of(b) for b in epochs[1]]
    assert sorted(range(24)) != [i for batch in epochs[0] for i in items_of(batch)]  # shuffled


@pytest.mark.parametrize("drop_remainder, sizes", [(True, [8, 8, 8]), (False, [9, 9, 8])])
def test_process_shards_are_disjoint(drop_remainder, sizes):
    """Three fake processes (shard options) read disjoint sequences of one global shuffle."""
    sequences = PackedSequences(np.arange(1 + 26 * LENGTH), LENGTH)
    shards = []
    for index in range(3):
        batches = token_batches(sequences, 1, seed=5, shard=shard(index, 3, drop_remainder), num_epochs=1)
        shards.append([i for batch in batch_iterator(batches) for i in items_of(batch)])
    assert [len(s) for s in shards] == sizes
    union = set(itertools.chain(*shards))
    assert len(union) == sum(sizes)
    if not drop_remainder:
        assert union == set(range(26))


def test_default_shard_is_this_jax_process():
    sequences = PackedSequences(np.arange(1 + 12 * LENGTH), LENGTH)
    ours = next(batch_iterator(token_batches(sequences, 3, seed=0)))
    explicit = next(batch_iterator(token_batches(sequences, 3, seed=0, shard=shard(0, 1))))
    np.testing.assert_array_equal(ours["x"], explicit["x"])


def test_restored_iterator_state_gives_the_same_remaining_batches():
    """Bit-equal batches after set_state (the property resuming a run relies on), across an epoch end."""
    sequences = PackedSequences(np.arange(1 + 20 * LENGTH), LENGTH)
    batches = token_batches(sequences, 3, seed=7, shard=shard(0, 1))
    iterator = batch_iterator(batches, threads=2, prefetch=4)
    take(iterator, 4)
    state = iterator.get_state()
    expected = take(iterator, 6)
    resumed = batch_iterator(batches, threads=2, prefetch=4)
    resumed.set_state(json.loads(json.dumps(state)))
    for ours, theirs in zip(take(resumed, 6), expected):
        np.testing.assert_array_equal(ours["x"], theirs["x"])
        np.testing.assert_array_equal(ours["y"], theirs["y"])


def test_text_file_through_the_pipeline(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT * 3, encoding="utf-8")
    tokenizer = ByteTokenizer()
    sequences = PackedSequences(read_tokens(str(path), tokenizer), LENGTH, source=str(path))
    rows = [row for batch in batch_iterator(token_batches(sequences, 1, 0, shard(0, 1), 1)) for row in batch["x"]]
    rows.sort(key=lambda row: next(i for i in range(len(sequences)) if np.array_equal(sequences[i][:-1], row)))
    covered = len(rows) * LENGTH
    assert bytes(np.concatenate(rows).astype(np.uint8)) == (TEXT * 3).encode("utf-8")[:covered]


def test_too_few_sequences_for_a_batch():
    sequences = PackedSequences(np.arange(1 + 5 * LENGTH), LENGTH)
    with pytest.raises(InputError, match="2 sequences of 8 tokens for shard 1 of 2, fewer than one batch of 3"):
        token_batches(sequences, 3, seed=0, shard=shard(1, 2))


def test_hf_tokenizer_directory(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    words = {"[UNK]": 0, "the": 1, "cat": 2, "sat": 3}
    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel(words, unk_token="[UNK]"))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    backend.save(str(tmp_path / "tokenizer.json"))
    tokenizer = HFTokenizer(str(tmp_path))
    assert tokenizer.vocab_size == 4
    np.testing.assert_array_equal(tokenizer.encode("the cat sat dog"), [1, 2, 3, 0])
    assert tokenizer.decode([1, 2, 3]) == "the cat sat"
    (tmp_path / "tokenizer.json").write_text("{", encoding="utf-8")
    with pytest.raises(InputError, match="tokenizer.json: not a tokenizer"):
        HFTokenizer(str(tmp_path))
    with pytest.raises(InputError, match="no tokenizer.json"):
        HFTokenizer(str(tmp_path / "absent"))
