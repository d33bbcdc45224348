"""The splits a training run uses (:class:`Dataset`), built from a config section.

Every split is a :class:`repsim_jax.data.rows.Rows`, read on demand: TFDS and local sets
from their ``tfds.data_source``, spirals from an
:class:`repsim_jax.data.sources.ArraySource`, features from their arrays. Training reads
only the train rows of this process's devices; ``Dataset.splits[name]`` reads a whole
split (once) for evaluation and analyses.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax.data import features, local
from repsim_jax.data.augment import crop_flip
from repsim_jax.data.rows import Rows
from repsim_jax.data.sources import ArraySource
from repsim_jax.data.splits import stratified_subset
from repsim_jax.data.synthetic import spiral_splits
from repsim_jax.data.tfds import DATASETS, open_source
from repsim_jax.errors import InputError


class WholeSplits(Mapping):
    """``{name: {"x", "y"[, "concepts"]}}`` of NumPy arrays, each split read whole
    (:meth:`Rows.read_all`, kept) on first access; ``name in splits`` reads nothing."""

    def __init__(self, rows: Mapping[str, Rows]):
        self._rows = rows

    def __getitem__(self, name: str) -> dict[str, np.ndarray]:
        return self._rows[name].read_all()

    def __contains__(self, name: object) -> bool:
        return name in self._rows

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


@dataclasses.dataclass
class Dataset:
    """The splits and how training feeds them.

    ``rows``: ``{"train": Rows, "test": Rows[, "ood": Rows]}`` read on demand;
    ``splits``: the same splits read whole (:class:`WholeSplits`): ``x`` images in their
    stored dtype (uint8) or spiral points (float32), ``y`` int32 classes, ``concepts``
    float32 0/1. ``preprocess``: in-graph ``x -> x`` that training applies to each batch
    (image sets: uint8 → float32 ``(x − mean) / std``). ``augment``: in-graph
    ``(key, x) -> x``, or None.
    """

    rows: dict[str, Rows]
    num_classes: int
    num_concepts: int = 0
    preprocess: Callable | None = None
    augment: Callable | None = None
    splits: WholeSplits = dataclasses.field(init=False, repr=False)

    def __post_init__(self):
        self.splits = WholeSplits(self.rows)


def load_dataset(data: Any) -> Dataset:
    """The dataset named by config section ``data`` (``data.name``: spirals or a TFDS/local set).

    Keys read: ``name``, ``data_dir`` ("" = default), ``num_train``, ``num_test`` (0 =
    whole split), ``points_per_arm``, ``modality`` and ``ring_radii`` (spirals), ``augment`` (image sets:
    :func:`repsim_jax.data.augment.crop_flip`), ``seed`` (concept_shapes generation; the
    split seed of ``features``), ``path`` (``features``: :mod:`repsim_jax.data.features`),
    ``normalization`` (image sets: ``dataset`` or ``unit``, see :func:`_normalisation`).
    """
    if data.name == "spirals":
        return _spirals(data)
    if data.name == "features":
        return _features(data)
    if data.name in DATASETS:
        return _image_set(data)
    raise InputError(f"unknown dataset {data.name!r}; choose spirals, features or one of {sorted(DATASETS)}")


def _spirals(data: Any) -> Dataset:
    """``spiral_splits(seed=0, ...)``'s train and test (and ood unless ``standard``);
    ``data.ring_radii`` = ``()`` takes the modality's default ring; ``num_train`` /
    ``num_test`` > 0 keep a label-stratified subset of that many points."""
    if data.augment:
        raise InputError("data.augment (crop + flip) applies to image sets, not spirals")
    if len(data.ring_radii) not in (0, 2):
        raise InputError(f"data.ring_radii must be () or (min_radius, max_radius), got {data.ring_radii}")
    sp = spiral_splits(0, data.points_per_arm, data.modality, *data.ring_radii)
    named = {"train": _subset(sp.train, data.num_train), "test": _subset(sp.test, data.num_test)}
    if sp.ood is not None:
        named["ood"] = sp.ood
    rows = {name: Rows.from_source(ArraySource({"image": x, "label": y}), name=name) for name, (x, y) in named.items()}
    num_classes = int(max(sp.train[1].max(), sp.test[1].max())) + 1
    return Dataset(rows, num_classes)


def _subset(split: tuple[np.ndarray, np.ndarray], size: int) -> tuple[np.ndarray, np.ndarray]:
    """A label-stratified subset of ``size`` points (:func:`stratified_subset`, seed 0); 0 = all."""
    if not size:
        return split
    keep = stratified_subset(split[1], size)
    return split[0][keep], split[1][keep]


def _image_set(data: Any) -> Dataset:
    """Train and test of a TFDS/local set, first ``num_train``/``num_test`` records each."""
    spec = DATASETS[data.name]
    builder_kwargs = None
    if data.name == "concept_shapes":
        builder_kwargs = {
            "config": local.concept_shapes_config(data.seed, data.num_train or 2000, data.num_test or 500)
        }
    extra_keys = {k: v for k, v in spec.extra_keys.items() if k == "concepts"}
    rows = {
        split: Rows.from_source(
            open_source(data.name, split, data.data_dir or None, builder_kwargs),
            count,
            label_key=spec.label_key,
            extra_keys=extra_keys,
            name=split,
        )
        for split, count in (("train", data.num_train), ("test", data.num_test))
    }
    num_concepts = rows["train"].example()["concepts"].shape[1] if extra_keys else 0
    mean, std = _normalisation(spec, data.normalization)
    preprocess = functools.partial(_normalise, mean=mean, std=std)
    return Dataset(rows, spec.num_classes, num_concepts, preprocess, crop_flip if data.augment else None)


def _normalisation(spec, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel ``(mean, std)`` in pixel units: the set's own statistics (``dataset``),
    or 0 and 255 (``unit``: pixels scaled to [0, 1], torchvision's ``ToTensor``, as the
    reference code of arXiv 2602.15438 feeds CIFAR-100)."""
    if name == "dataset":
        return np.asarray(spec.mean, np.float32), np.asarray(spec.std, np.float32)
    if name == "unit":
        return np.zeros(len(spec.mean), np.float32), np.full(len(spec.std), 255.0, np.float32)
    raise InputError(f"unknown data.normalization {name!r}; choose 'dataset' or 'unit'")


def _features(data: Any) -> Dataset:
    """Train, val and test of a features ``.npz`` (:mod:`repsim_jax.data.features`), the
    first ``num_train``/``num_test`` rows of train/test; no preprocessing."""
    if data.augment:
        raise InputError("data.augment (crop + flip) applies to image sets, not features")
    arrays = features.read_features(data.path)
    splits = features.feature_splits(arrays, data.seed)
    for name, count in (("train", data.num_train), ("test", data.num_test)):
        splits[name] = {key: value[: count or None] for key, value in splits[name].items()}
    num_concepts = arrays["concepts"].shape[1] if "concepts" in arrays else 0
    rows = {name: Rows.from_arrays(columns, name) for name, columns in splits.items()}
    return Dataset(rows, int(arrays["labels"].max()) + 1, num_concepts)


def _normalise(x: jax.Array, mean: np.ndarray, std: np.ndarray) -> jax.Array:
    """``(x − mean) / std`` in float32, per channel (last axis)."""
    return (jnp.asarray(x, jnp.float32) - mean) / std
