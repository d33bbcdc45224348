"""Offline sets: sklearn digits through the TFDS path; concept shapes generation and loading."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from repsim_jax.data import (
    CONCEPT_NAMES,
    concept_shapes_config,
    default_data_dir,
    generate_concept_shapes,
    load_image_dataset,
    open_source,
)

SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = ("red", "green", "blue")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("repsim_cache")


def test_digits_through_tfds_equal_sklearn(cache):
    digits = load_digits()
    train, test = open_source("sklearn_digits", "train", cache), open_source("sklearn_digits", "test", cache)
    assert len(train) == 1347 and len(test) == 1797 - 1347
    records = list(train.__getitems__(list(range(len(train))))) + [test[i] for i in range(len(test))]
    np.testing.assert_array_equal(np.stack([r["image"][..., 0] for r in records]), digits.images)
    np.testing.assert_array_equal([r["label"] for r in records], digits.target)


def test_digits_loader_batches(cache):
    batches = list(load_image_dataset("sklearn_digits", "test", batch_size=100, data_dir=cache, num_epochs=1))
    assert [len(b["label"]) for b in batches] == [100] * 4 + [50]
    images = np.concatenate([b["image"] for b in batches])[..., 0] * 6.0095 + 4.8916
    np.testing.assert_allclose(images, load_digits().images[1347:], atol=1e-4)


def test_concept_shapes_deterministic():
    a, b, c = (generate_concept_shapes(s, 40) for s in (4, 4, 5))
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)
    assert a["image"].tobytes() != c["image"].tobytes()
    assert a["image"].shape == (40, 32, 32, 3) and a["image"].dtype == np.uint8
    assert a["concepts"].shape == (40, len(CONCEPT_NAMES))


def test_concept_class_is_documented_function_of_concepts():
    data = generate_concept_shapes(0, 300)
    for row, label in zip(data["concepts"], data["label"]):
        named = dict(zip(CONCEPT_NAMES, row.tolist()))
        shapes = [i for i, s in enumerate(SHAPES) if named[f"shape_{s}"]]
        colours = [i for i, c in enumerate(COLOURS) if named[f"colour_{c}"]]
        assert len(shapes) == 1 and len(colours) == 1
        assert label == 6 * shapes[0] + 2 * colours[0] + named["large"]
    assert set(data["label"].tolist()) == set(range(24))


def test_concepts_are_visible_in_the_pixels():
    """Colour, quadrant and size read back from the bright pixels of each image."""
    data = generate_concept_shapes(1, 200)
    for image, row in zip(data["image"].astype(float), data["concepts"]):
        named = dict(zip(CONCEPT_NAMES, row.tolist()))
        fg = image.max(axis=-1) > 120
        rows, cols = np.nonzero(fg)
        assert COLOURS[int(np.argmax(image[fg].mean(axis=0)))] == next(c for c in COLOURS if named[f"colour_{c}"])
        assert (rows.mean() < 16) == bool(named["top"]) and (cols.mean() < 16) == bool(named["left"])
        assert (fg.sum() > 75) == bool(named["large"])


def test_concept_shapes_loader_yields_concepts(cache):
    config = concept_shapes_config(seed=2, num_train=48, num_test=16)
    expected = generate_concept_shapes((2, 0), 48)
    loader = load_image_dataset(
        "concept_shapes", "train", batch_size=16, data_dir=cache, builder_kwargs={"config": config}, shuffle=False
    )
    batches = [next(loader) for _ in range(3)]
    concepts = np.concatenate([b["concepts"] for b in batches])
    assert batches[0]["concepts"].dtype == np.int32 and batches[0]["image"].shape == (16, 32, 32, 3)
    np.testing.assert_array_equal(concepts, expected["concepts"])
    np.testing.assert_array_equal(np.concatenate([b["label"] for b in batches]), expected["label"])
    assert len(open_source("concept_shapes", "test", cache, {"config": config})) == 16


def test_default_data_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("REPSIM_JAX_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    monkeypatch.delenv("REPSIM_JAX_DATA_DIR")
    assert default_data_dir().parts[-2:] == (".cache", "repsim_jax")


def test_bad_concept_size():
    with pytest.raises(ValueError, match="num_examples"):
        generate_concept_shapes(0, 0)
