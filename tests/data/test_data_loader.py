"""ImageLoader over in-memory sources: order, normalisation, host slices, exact resume."""

import json

import numpy as np
import pytest

from repsim_jax.data import ArraySource, ImageLoader, read_split


def _source(n, size=6):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(n, size, size, 3), dtype=np.uint8)
    return [{"image": images[i], "label": np.int64(i), "attr": np.array([i % 2, i % 3])} for i in range(n)]


def _loader(source, **kw):
    args = dict(batch_size=4, mean=(10.0, 20.0, 30.0), std=(2.0, 4.0, 8.0), seed=5)
    return ImageLoader(source, **{**args, **kw})


def test_batches_are_normalised_records_in_order():
    src = _source(10)
    batches = list(_loader(src, num_epochs=1, extra_keys={"attr": ("attr", "label")}))
    assert [b["label"].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    b = batches[1]
    raw = np.stack([src[i]["image"] for i in range(4, 8)]).astype(np.float64)
    np.testing.assert_allclose(b["image"], (raw - [10, 20, 30]) / [2, 4, 8], rtol=1e-6)
    assert b["image"].dtype == np.float32 and b["label"].dtype == np.int32
    assert b["attr"].dtype == np.int32
    assert b["attr"].tolist() == [[i % 2, i % 3, i] for i in range(4, 8)]


def test_without_mean_and_std_images_keep_their_dtype():
    src = _source(5)
    batch = next(ImageLoader(src, batch_size=5, process_index=0, process_count=1))
    assert batch["image"].dtype == np.uint8
    assert batch["image"].tobytes() == np.stack([r["image"] for r in src]).tobytes()


def test_array_source_records_and_batch_reads():
    arrays = {"image": np.arange(12.0).reshape(6, 2), "label": np.arange(6) % 3}
    src = ArraySource(arrays)
    assert len(src) == 6
    np.testing.assert_array_equal(src[4]["image"], [8.0, 9.0])
    assert src[4]["label"] == 1
    records = src.__getitems__([5, 0, 5])
    assert [r["label"] for r in records] == [2, 0, 2]
    np.testing.assert_array_equal(records[1]["image"], [0.0, 1.0])
    with pytest.raises(ValueError, match="equal length"):
        ArraySource({"image": np.zeros((3, 2)), "label": np.zeros(4)})


@pytest.mark.parametrize("count,expected", [(0, 7), (3, 3), (50, 7)])
def test_read_split_is_the_first_records_in_order(count, expected):
    x = np.random.default_rng(2).normal(size=(7, 2)).astype(np.float32)
    y = np.arange(7, dtype=np.int32)[::-1].copy()
    batch = read_split(ArraySource({"image": x, "label": y}), count)
    assert batch["image"].tobytes() == x[:expected].tobytes() and batch["image"].dtype == np.float32
    assert batch["label"].tolist() == y[:expected].tolist() and batch["label"].dtype == np.int32


def test_drop_remainder_and_shuffled_epochs_cover_each_record_once():
    loader = _loader(_source(10), shuffle=True, drop_remainder=True)
    assert loader.steps_per_epoch == 2
    epochs = [np.concatenate([next(loader)["label"] for _ in range(2)]) for _ in range(3)]
    for labels in epochs:
        assert labels.size == 8 and np.unique(labels).size == 8
    assert not np.array_equal(epochs[0], epochs[1])


@pytest.mark.parametrize("taken", [4, 5])
def test_exact_resume_with_shuffle(taken):
    src = _source(11)
    kw = dict(shuffle=True, drop_remainder=True, seed=3)
    reference = _loader(src, **kw)
    uninterrupted = [next(reference) for _ in range(9)]
    first = _loader(src, **kw)
    for _ in range(taken):
        next(first)
    saved = json.loads(json.dumps(first.state()))
    assert saved == {"seed": 3, "epoch": taken // 2, "position": taken % 2}
    resumed = _loader(src, **{**kw, "seed": 0})
    resumed.restore(saved)
    for expected in uninterrupted[taken:]:
        got = next(resumed)
        assert got.keys() == expected.keys()
        for key in got:
            assert got[key].tobytes() == expected[key].tobytes()


@pytest.mark.parametrize("n,batch_size,hosts", [(24, 8, 4), (9, 8, 4), (13, 6, 2)])
def test_host_slices_are_disjoint_and_cover_the_global_batch(n, batch_size, hosts):
    src = _source(n)
    kw = dict(batch_size=batch_size, shuffle=True, num_epochs=2)
    single = list(_loader(src, **kw, process_index=0, process_count=1))
    per_host = [list(_loader(src, **kw, process_index=p, process_count=hosts)) for p in range(hosts)]
    assert all(len(h) == len(single) for h in per_host)
    for step, global_batch in enumerate(single):
        parts = [h[step] for h in per_host]
        labels = np.concatenate([p["label"] for p in parts])
        assert np.unique(labels).size == labels.size
        for key in global_batch:
            np.testing.assert_array_equal(np.concatenate([p[key] for p in parts]), global_batch[key])
        if len(global_batch["label"]) == batch_size:
            assert {len(p["label"]) for p in parts} == {batch_size // hosts}


@pytest.mark.parametrize(
    "kw,match",
    [
        (dict(batch_size=6, process_count=4, process_index=0), "divisible"),
        (dict(process_count=2, process_index=2), "process_index"),
        (dict(batch_size=0), "batch_size"),
        (dict(batch_size=20, drop_remainder=True), "no batch"),
        (dict(std=None), "mean and std"),
    ],
)
def test_loader_rejects_bad_layout(kw, match):
    with pytest.raises(ValueError, match=match):
        _loader(_source(10), **kw)


@pytest.mark.parametrize(
    "state,match",
    [
        ({"seed": 0, "epoch": 0}, "keys"),
        ({"seed": 0, "epoch": 0, "position": 3}, "invalid state"),
        ({"seed": -1, "epoch": 0, "position": 0}, "invalid state"),
    ],
)
def test_restore_rejects_bad_state(state, match):
    with pytest.raises(ValueError, match=match):
        _loader(_source(10)).restore(state)
