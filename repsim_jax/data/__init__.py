"""Data: synthetic spirals, TFDS image sets via ``tfds.data_source``, local offline sets,
precomputed features (:mod:`repsim_jax.data.features`).

Preparing a TFDS catalogue set for offline use (once, where TensorFlow exists,
e.g. Colab)::

    tfds.builder("cifar10", data_dir=DIR).download_and_prepare(file_format="array_record")

then ``load_image_dataset("cifar10", "train", batch_size=128, data_dir=DIR)``.
``sklearn_digits`` and ``concept_shapes`` need no preparation: they are built on
first use under ``$REPSIM_JAX_DATA_DIR`` (default ``~/.cache/repsim_jax``).

Training opens a set with ``load_dataset(config.data)``: every split is a :class:`Rows`
read on demand (image sets and spirals through the same record reader as
:class:`ImageLoader`, spirals via :class:`ArraySource`; features from their arrays), so
each process reads only the training rows of its devices; crop + flip is applied in-graph by :func:`crop_flip`.
"""

from repsim_jax.data.augment import crop_flip
from repsim_jax.data.concepts import (
    CONCEPT_NAMES,
    class_from_concepts,
    generate_concept_shapes,
)
from repsim_jax.data.dataset import Dataset, load_dataset
from repsim_jax.data.features import feature_splits, read_features, write_features
from repsim_jax.data.loader import ImageLoader, read_rows, read_split
from repsim_jax.data.local import (
    ConceptShapes,
    SklearnDigits,
    concept_shapes_config,
    default_data_dir,
)
from repsim_jax.data.rows import Rows
from repsim_jax.data.sources import ArraySource
from repsim_jax.data.splits import stratified_split, stratified_subset
from repsim_jax.data.synthetic import (
    MODALITIES,
    RING_RADII,
    SpiralSplits,
    make_spirals,
    ring_mask,
    spiral_splits,
)
from repsim_jax.data.tfds import DATASETS, DatasetSpec, load_image_dataset, open_source

__all__ = [
    "CONCEPT_NAMES",
    "DATASETS",
    "MODALITIES",
    "RING_RADII",
    "ArraySource",
    "ConceptShapes",
    "Dataset",
    "DatasetSpec",
    "ImageLoader",
    "Rows",
    "SklearnDigits",
    "SpiralSplits",
    "class_from_concepts",
    "concept_shapes_config",
    "crop_flip",
    "default_data_dir",
    "feature_splits",
    "generate_concept_shapes",
    "load_dataset",
    "load_image_dataset",
    "make_spirals",
    "open_source",
    "read_features",
    "read_rows",
    "read_split",
    "ring_mask",
    "spiral_splits",
    "stratified_split",
    "stratified_subset",
    "write_features",
]
