"""Offline TFDS builders prepared locally (array_record, no TensorFlow, no download).

Both builders use ``tfds.features.Tensor`` features (``Image`` features need
TensorFlow to encode) and ``disable_shuffling=True``, so record i is the i-th
generated example and preparation is deterministic. They are read back through
the same ``tfds.data_source`` path as every other TFDS set.

* ``sklearn_digits``: scikit-learn's bundled 8x8 digits (1797 images, pixel values
  0..16 stored as uint8, 10 classes). ``train`` = the first 1347 images, ``test`` =
  the remaining 450, in scikit-learn's order.
* ``concept_shapes``: :mod:`repsim_jax.data.concepts` images with binary concepts;
  the config fixes (seed, num_train, num_test); ``train`` is generated from seed
  ``(seed, 0)`` and ``test`` from ``(seed, 1)``.

Prepared data lives under ``default_data_dir()``: ``$REPSIM_JAX_DATA_DIR`` if set,
else ``~/.cache/repsim_jax``.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import numpy as np
import tensorflow_datasets as tfds

from repsim_jax.data import concepts

DIGITS_NUM_TRAIN = 1347


class _LocalBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Base of the builders here: no code path, hence no checksum-file lookup.

    TFDS derives a checksum file from ``code_path``; for a builder inside a plain
    package that lookup imports ``importlib_resources`` (absent on Python >= 3.9
    unless installed). These builders download nothing, so there is no checksum.
    """

    code_path = None


def default_data_dir() -> pathlib.Path:
    """``$REPSIM_JAX_DATA_DIR`` if set, else ``~/.cache/repsim_jax``."""
    env = os.environ.get("REPSIM_JAX_DATA_DIR")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "repsim_jax"


class SklearnDigits(_LocalBuilder):
    """scikit-learn's bundled digits as an array_record TFDS set (see module doc)."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="scikit-learn digits, 8x8x1 uint8 in 0..16, 10 classes.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(8, 8, 1), dtype=np.uint8),
                    "label": tfds.features.Tensor(shape=(), dtype=np.int32),
                }
            ),
            supervised_keys=("image", "label"),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        return {
            "train": self._generate_examples(0, DIGITS_NUM_TRAIN),
            "test": self._generate_examples(DIGITS_NUM_TRAIN, None),
        }

    def _generate_examples(self, start, stop):
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = digits.images.astype(np.uint8)[..., None]
        for i in range(start, stop if stop is not None else len(images)):
            yield i, {"image": images[i], "label": np.int32(digits.target[i])}


@dataclasses.dataclass(eq=False)
class ConceptShapesConfig(tfds.core.BuilderConfig):
    """Seed and split sizes of a ``concept_shapes`` preparation."""

    seed: int = 0
    num_train: int = 2000
    num_test: int = 500


_DEFAULT_CONCEPT_SHAPES = ConceptShapesConfig(name="seed0_train2000_test500")


def concept_shapes_config(seed: int = 0, num_train: int = 2000, num_test: int = 500) -> ConceptShapesConfig:
    """A config named after its parameters, e.g. ``seed0_train2000_test500``.

    The default parameters return the builder's registered config object itself: TFDS
    rejects a different object with the name of a registered config.
    """
    name = f"seed{seed}_train{num_train}_test{num_test}"
    if name == _DEFAULT_CONCEPT_SHAPES.name:
        return _DEFAULT_CONCEPT_SHAPES
    return ConceptShapesConfig(name=name, seed=seed, num_train=num_train, num_test=num_test)


class ConceptShapes(_LocalBuilder):
    """Concept-shape images with 10 binary concepts and 24 classes (see module doc)."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [_DEFAULT_CONCEPT_SHAPES]

    def _info(self) -> tfds.core.DatasetInfo:
        size = concepts.IMAGE_SIZE
        return tfds.core.DatasetInfo(
            builder=self,
            description=concepts.__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Tensor(shape=(size, size, 3), dtype=np.uint8),
                    "label": tfds.features.Tensor(shape=(), dtype=np.int32),
                    "concepts": tfds.features.Tensor(shape=(len(concepts.CONCEPT_NAMES),), dtype=np.uint8),
                }
            ),
            supervised_keys=("image", "label"),
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        cfg = self.builder_config
        return {
            "train": self._generate_examples((cfg.seed, 0), cfg.num_train),
            "test": self._generate_examples((cfg.seed, 1), cfg.num_test),
        }

    def _generate_examples(self, seed, num_examples):
        data = concepts.generate_concept_shapes(seed, num_examples)
        for i in range(num_examples):
            yield i, {key: value[i] for key, value in data.items()}
