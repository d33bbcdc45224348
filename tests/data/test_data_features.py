"""``data.name="features"``: a generated features .npz read into the authors' SUB splits
(the reference: scikit-learn's train_test_split applied to the arrays, as in their
dsets/sub.py); ``data.normalization="unit"`` scales pixels to [0, 1]."""

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds
from sklearn.model_selection import train_test_split

from repsim_jax.data import load_dataset, write_features

N, P, K, A = 300, 12, 6, 5


def _data(**values):
    section = dict(
        name="features", path="", data_dir="", num_train=0, num_test=0, augment=False, seed=42, normalization="dataset"
    )
    return ml_collections.ConfigDict({**section, **values})


@pytest.fixture
def generated(tmp_path):
    """Features with distinct rows, 6 balanced labels, one of 5 attributes per row."""
    rng = np.random.default_rng(0)
    arrays = {
        "features": rng.normal(size=(N, P)).astype(np.float32),
        "labels": np.repeat(np.arange(K), N // K),
        "attributes": rng.integers(A, size=N),
    }
    path = tmp_path / "features.npz"
    write_features(path, **arrays)
    return str(path), arrays


def test_splits_are_the_reference_splits(generated):
    path, arrays = generated
    data = load_dataset(_data(path=path))
    x, c, y = arrays["features"], arrays["attributes"], arrays["labels"]
    x_rest, x_test, c_rest, c_test, y_rest, y_test = train_test_split(
        x, c, y, test_size=0.3, random_state=42, stratify=y
    )
    x_train, x_val, c_train, c_val, y_train, y_val = train_test_split(
        x_rest, c_rest, y_rest, test_size=0.2, random_state=42, stratify=y_rest
    )
    expected = {"train": (x_train, y_train, c_train), "val": (x_val, y_val, c_val), "test": (x_test, y_test, c_test)}
    assert set(data.splits) == set(expected)
    for name, (xs, ys, cs) in expected.items():
        split = data.splits[name]
        np.testing.assert_array_equal(split["x"], xs)
        np.testing.assert_array_equal(split["y"], ys)
        np.testing.assert_array_equal(split["concepts"], np.eye(A)[cs])
        assert split["x"].dtype == np.float32 and split["y"].dtype == np.int32
    assert (len(x_train), len(x_val), len(x_test)) == (168, 42, 90)
    assert (data.num_classes, data.num_concepts, data.preprocess, data.augment) == (K, A, None, None)


def test_binary_attributes_and_row_limits(tmp_path):
    rng = np.random.default_rng(1)
    x, binary = rng.normal(size=(N, P)), rng.integers(2, size=(N, 3))
    write_features(tmp_path / "f.npz", x, np.arange(N) % K, binary)
    data = load_dataset(_data(path=str(tmp_path / "f.npz"), num_train=50, num_test=20))
    train = data.splits["train"]
    assert len(train["x"]) == 50 and len(data.splits["test"]["y"]) == 20 and data.num_concepts == 3
    rows = [int(np.flatnonzero(np.all(x.astype(np.float32) == row, axis=1))[0]) for row in train["x"]]
    np.testing.assert_array_equal(train["concepts"], binary[rows])
    np.testing.assert_array_equal(train["y"], np.arange(N)[rows] % K)


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"labels": np.zeros(N, int)}, r"missing \['features'\]"),
        ({"features": np.zeros((N, P), int), "labels": np.zeros(N, int)}, "must be a float"),
        ({"features": np.full((N, P), np.nan), "labels": np.zeros(N, int)}, "NaN or Inf"),
        ({"features": np.zeros((N, P)), "labels": np.zeros(N - 1, int)}, "labels must be"),
        ({"features": np.zeros((N, P)), "labels": np.zeros(N, int), "attributes": np.full(N, 0.5)}, "attributes must"),
    ],
)
def test_bad_feature_files(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=message):
        load_dataset(_data(path=str(tmp_path / "bad.npz")))


def test_missing_path_file_and_augment(generated, tmp_path):
    with pytest.raises(ValueError, match="needs data.path"):
        load_dataset(_data())
    with pytest.raises(ValueError, match="no such file"):
        load_dataset(_data(path=str(tmp_path / "none.npz")))
    with pytest.raises(ValueError, match="applies to image sets"):
        load_dataset(_data(path=generated[0], augment=True))


def test_unit_normalization_is_pixels_over_255():
    section = _data(name="cifar100", num_train=8, num_test=8, normalization="unit")
    with tfds.testing.mock_data(num_examples=16):
        data = load_dataset(section)
        x = data.splits["train"]["x"]
        np.testing.assert_allclose(np.asarray(data.preprocess(x)), x.astype(np.float64) / 255, rtol=1e-6)
        section.normalization = "imagenet"
        with pytest.raises(ValueError, match="unknown data.normalization"):
            load_dataset(section)
