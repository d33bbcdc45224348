"""load_dataset: splits equal to spiral_splits / records read straight from tfds.data_source."""

import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from repsim_jax.data import (
    concept_shapes_config,
    crop_flip,
    load_dataset,
    spiral_splits,
)

# Independent copies of the documented CIFAR-10 constants (pixel units).
CIFAR10_MEAN = 255 * np.array([0.4914, 0.4822, 0.4465])
CIFAR10_STD = 255 * np.array([0.2470, 0.2435, 0.2616])


def _data(**values):
    """A ``data`` config section with exactly the keys load_dataset reads."""
    section = dict(
        name="spirals",
        data_dir="",
        num_train=0,
        num_test=0,
        points_per_arm=20,
        modality="standard",
        ring_radii=(),
        augment=False,
        seed=0,
        normalization="dataset",
    )
    return ml_collections.ConfigDict({**section, **values})


def _assert_same(got, expected):
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("modality", ["standard", "interpolation", "extrapolation"])
def test_spirals_equal_spiral_splits(modality):
    data = load_dataset(_data(points_per_arm=30, modality=modality))
    sp = spiral_splits(seed=0, points_per_arm=30, modality=modality)
    expected = {"train": sp.train, "test": sp.test, **({} if sp.ood is None else {"ood": sp.ood})}
    assert (
        set(data.splits) == set(expected) == ({"train", "test"} if modality == "standard" else {"train", "test", "ood"})
    )
    for name, (x, y) in expected.items():
        assert set(data.splits[name]) == {"x", "y"}
        _assert_same(data.splits[name]["x"], x)
        _assert_same(data.splits[name]["y"], y)
    assert data.num_classes == 7 and data.num_concepts == 0
    assert data.preprocess is None and data.augment is None


def test_spirals_num_train_keeps_a_stratified_subset():
    data = load_dataset(_data(points_per_arm=30, num_train=70, num_test=14))
    sp = spiral_splits(seed=0, points_per_arm=30)
    assert np.bincount(data.splits["train"]["y"]).tolist() == [10] * 7
    assert np.bincount(data.splits["test"]["y"]).tolist() == [2] * 7
    full = {tuple(row) for row in sp.train[0].tolist()}
    assert all(tuple(row) in full for row in data.splits["train"]["x"].tolist())


def test_spirals_ring_radii_key():
    """``data.ring_radii`` moves the held-out ring; a malformed value is refused."""
    data = load_dataset(_data(points_per_arm=30, modality="interpolation", ring_radii=(2.0, 5.0)))
    sp = spiral_splits(seed=0, points_per_arm=30, modality="interpolation", min_radius=2.0, max_radius=5.0)
    _assert_same(data.splits["ood"]["x"], sp.ood[0])
    with pytest.raises(ValueError, match="ring_radii"):
        load_dataset(_data(modality="interpolation", ring_radii=(2.0,)))


def _records(source, count):
    n = min(count, len(source)) if count else len(source)
    return [source[i] for i in range(n)]


def test_concept_shapes_equal_the_prepared_records(tmp_path):
    data = load_dataset(_data(name="concept_shapes", data_dir=str(tmp_path), num_train=40, num_test=12, seed=3))
    config = concept_shapes_config(seed=3, num_train=40, num_test=12)
    for split, n in (("train", 40), ("test", 12)):
        records = _records(
            tfds.data_source("concept_shapes", split=split, data_dir=tmp_path, builder_kwargs={"config": config}), 0
        )
        assert len(records) == n
        got = data.splits[split]
        assert set(got) == {"x", "y", "concepts"}
        _assert_same(got["x"], np.stack([r["image"] for r in records]).astype(np.uint8))
        _assert_same(got["y"], np.array([r["label"] for r in records], np.int32))
        _assert_same(got["concepts"], np.stack([r["concepts"] for r in records]).astype(np.float32))
    assert data.num_classes == 24 and data.num_concepts == 10 and data.augment is None


def test_cifar10_prefix_and_whole_split_through_mock_tfds():
    with tfds.testing.mock_data(num_examples=16):
        data = load_dataset(_data(name="cifar10", num_train=10, num_test=0, augment=True))
        train = _records(tfds.data_source("cifar10", split="train"), 10)
        test = _records(tfds.data_source("cifar10", split="test"), 0)
    for got, records in ((data.splits["train"], train), (data.splits["test"], test)):
        assert set(got) == {"x", "y"}
        _assert_same(got["x"], np.stack([r["image"] for r in records]).astype(np.uint8))
        _assert_same(got["y"], np.array([r["label"] for r in records], np.int32))
    assert len(data.splits["train"]["x"]) == 10 and len(data.splits["test"]["x"]) == 16
    assert data.num_classes == 10 and data.num_concepts == 0 and data.augment is crop_flip
    normalised = data.preprocess(data.splits["test"]["x"])
    assert isinstance(normalised, jnp.ndarray) and normalised.dtype == jnp.float32
    np.testing.assert_allclose(
        normalised, (data.splits["test"]["x"] - CIFAR10_MEAN) / CIFAR10_STD, rtol=1e-5, atol=1e-5
    )


def test_bad_names_and_options():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet9'.*spirals.*cifar10"):
        load_dataset(_data(name="imagenet9"))
    with pytest.raises(ValueError, match="image sets"):
        load_dataset(_data(augment=True))
