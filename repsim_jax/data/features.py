"""Precomputed features as a dataset: an ``.npz`` of ``features``, ``labels``, ``attributes``.

The SUB experiment of arXiv 2602.15438 trains small models on frozen image features
(DINOv2-base CLS tokens, 768-dim, of the SUB bird images) with a bird label and a
substituted attribute per image. Any such set is given as an ``.npz`` with

* ``features``: float (n, p), finite;
* ``labels``: integer (n,) in ``0..K−1`` (K = largest label + 1);
* ``attributes`` (optional): integer (n,), one attribute class per example in
  ``0..A−1`` (SUB), stored as one-hot concepts (n, A); or a 0/1 matrix (n, A).

Splits, as in the authors' ``dsets/sub.py``: ``test`` = 30 % of the rows, ``val`` = 20 %
of the rest, ``train`` = the remaining 56 %, each split stratified by label with
scikit-learn's ``train_test_split(random_state=seed)``; with SUB's rows in the order of
the Hugging Face test split and seed 42 these are the authors' splits.
"""

from __future__ import annotations

import pathlib

import numpy as np
from sklearn.model_selection import train_test_split

from repsim_jax.errors import InputError

__all__ = ["read_features", "write_features", "feature_splits"]

TEST_FRACTION, VAL_FRACTION = 0.3, 0.2


def _checked(arrays: dict, source: str) -> dict[str, np.ndarray]:
    """The arrays as float32 features, int32 labels and float32 0/1 concepts (n, A)."""
    missing = [key for key in ("features", "labels") if key not in arrays]
    if missing:
        raise InputError(f"{source}: missing {missing}; a features file holds features, labels[, attributes]")
    x, y = np.asarray(arrays["features"]), np.asarray(arrays["labels"])
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.floating):
        raise InputError(f"{source}: features must be a float (n, p) array, got {x.dtype} {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InputError(f"{source}: features have NaN or Inf values")
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise InputError(
            f"{source}: labels must be non-negative integers of shape ({len(x)},), got {y.dtype} {y.shape}"
        )
    out = {"features": x.astype(np.float32), "labels": y.astype(np.int32)}
    if "attributes" in arrays:
        out["concepts"] = _attribute_matrix(np.asarray(arrays["attributes"]), len(x), source)
    return out


def _attribute_matrix(attributes: np.ndarray, n: int, source: str) -> np.ndarray:
    """One-hot (n, A) of integer attribute classes, or a 0/1 (n, A) matrix as float32."""
    if attributes.shape == (n,) and np.issubdtype(attributes.dtype, np.integer) and attributes.min() >= 0:
        return np.eye(int(attributes.max()) + 1, dtype=np.float32)[attributes]
    if attributes.ndim == 2 and len(attributes) == n and np.isin(attributes, (0, 1)).all():
        return attributes.astype(np.float32)
    raise InputError(
        f"{source}: attributes must be non-negative integer classes ({n},) or a 0/1 matrix ({n}, A), "
        f"got {attributes.dtype} {attributes.shape}"
    )


def read_features(path: str) -> dict[str, np.ndarray]:
    """``{"features", "labels"[, "concepts"]}`` of a features ``.npz`` (module docstring);
    ValueError for a missing file, missing keys, wrong shapes or dtypes, NaN/Inf."""
    if not path:
        raise InputError("data.name='features' needs data.path: an .npz of features, labels[, attributes]")
    if not pathlib.Path(path).is_file():
        raise InputError(f"data.path: no such file {path}")
    with np.load(path) as stored:
        return _checked({key: stored[key] for key in stored.files}, path)


def write_features(path, features, labels, attributes=None) -> pathlib.Path:
    """Write a features ``.npz`` (checked as :func:`read_features` reads it)."""
    arrays = {"features": features, "labels": labels}
    if attributes is not None:
        arrays["attributes"] = attributes
    _checked(arrays, str(path))
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def feature_splits(arrays: dict[str, np.ndarray], seed: int) -> dict[str, dict[str, np.ndarray]]:
    """``{"train", "val", "test"}`` of ``{"x", "y"[, "concepts"]}`` (module docstring)."""
    rows = np.arange(len(arrays["labels"]))
    labels = arrays["labels"]
    rest, test = train_test_split(rows, test_size=TEST_FRACTION, random_state=seed, stratify=labels)
    train, val = train_test_split(rest, test_size=VAL_FRACTION, random_state=seed, stratify=labels[rest])
    columns = {"x": "features", "y": "labels", "concepts": "concepts"}
    return {
        name: {key: arrays[source][index] for key, source in columns.items() if source in arrays}
        for name, index in (("train", train), ("val", val), ("test", test))
    }
