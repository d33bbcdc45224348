"""TFDS catalogue sets through load_image_dataset with tfds.testing.mock_data; errors."""

import json

import numpy as np
import pytest
import tensorflow_datasets as tfds

from repsim_jax.data import load_image_dataset, open_source

# Independent copies of the documented constants (pixel units).
CIFAR10_MEAN = 255 * np.array([0.4914, 0.4822, 0.4465])
CIFAR10_STD = 255 * np.array([0.2470, 0.2435, 0.2616])


@pytest.fixture
def mock16():
    with tfds.testing.mock_data(num_examples=16):
        yield


def test_mock_records_are_stable(mock16):
    src = open_source("cifar10", "train")
    assert np.array_equal(src[3]["image"], open_source("cifar10", "train")[3]["image"])


def test_cifar10_eval_batches_are_normalised_records(mock16):
    src = open_source("cifar10", "test")
    batches = list(load_image_dataset("cifar10", "test", batch_size=5, num_epochs=1))
    assert [len(b["label"]) for b in batches] == [5, 5, 5, 1]
    first = batches[0]
    assert first["image"].shape == (5, 32, 32, 3) and first["image"].dtype == np.float32
    assert first["label"].dtype == np.int32 and set(first) == {"image", "label"}
    raw = np.stack([src[i]["image"] for i in range(5)]).astype(np.float64)
    np.testing.assert_allclose(first["image"], (raw - CIFAR10_MEAN) / CIFAR10_STD, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(first["label"], [src[i]["label"] for i in range(5)])


def test_cifar10_training_drops_remainder_and_shuffles(mock16):
    loader = load_image_dataset("cifar10", "train", batch_size=5, seed=1)
    assert loader.shuffle and loader.drop_remainder
    assert loader.steps_per_epoch == 3
    batches = [next(loader) for _ in range(4)]
    assert {b["image"].shape for b in batches} == {(5, 32, 32, 3)}
    in_order = load_image_dataset("cifar10", "train", batch_size=5, seed=1, shuffle=False)
    assert not np.array_equal(next(in_order)["image"], batches[0]["image"])


def test_mnist_shapes_and_grayscale_normalisation(mock16):
    src = open_source("mnist", "train")
    batch = next(load_image_dataset("mnist", "train", batch_size=8, shuffle=False))
    assert batch["image"].shape == (8, 28, 28, 1) and batch["label"].shape == (8,)
    raw = np.stack([src[i]["image"] for i in range(8)]).astype(np.float64)
    np.testing.assert_allclose(batch["image"], (raw - 255 * 0.1307) / (255 * 0.3081), rtol=1e-5, atol=1e-5)


def test_exact_resume_through_tfds(mock16):
    kw = dict(batch_size=4, seed=9)
    reference = load_image_dataset("cifar10", "train", **kw)
    uninterrupted = [next(reference) for _ in range(7)]
    first = load_image_dataset("cifar10", "train", **kw)
    for _ in range(3):
        next(first)
    resumed = load_image_dataset("cifar10", "train", **kw)
    resumed.restore(json.loads(json.dumps(first.state())))
    for expected in uninterrupted[3:]:
        got = next(resumed)
        assert all(got[k].tobytes() == expected[k].tobytes() for k in ("image", "label"))


def test_latent_factor_sets_yield_factors(mock16):
    batch = next(load_image_dataset("shapes3d", "train", batch_size=4))
    assert batch["image"].shape == (4, 64, 64, 3)
    assert batch["factors"].shape == (4, 5) and batch["factors"].dtype == np.int32
    assert np.all(np.abs(batch["image"]) <= 1.0)


@pytest.mark.parametrize("name", ["cifar10", "fashion_mnist", "dsprites"])
def test_unprepared_dataset_raises_clear_error(tmp_path, name):
    with pytest.raises(FileNotFoundError) as info:
        load_image_dataset(name, "train", batch_size=4, data_dir=tmp_path)
    message = str(info.value)
    assert name in message and str(tmp_path) in message
    assert "download_and_prepare(file_format='array_record')" in message


def test_bad_names_and_splits(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset"):
        load_image_dataset("imagenet9", "train", batch_size=4, data_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown split"):
        load_image_dataset("cifar10", "validation", batch_size=4, data_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown split"):
        load_image_dataset("dsprites", "train[:50%]+test", batch_size=4, data_dir=tmp_path)
