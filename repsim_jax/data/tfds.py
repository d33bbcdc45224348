"""Image classification sets read through ``tfds.data_source`` (no TensorFlow at runtime).

Supported names (``DATASETS``): cifar10, cifar100, mnist, fashion_mnist, dsprites,
shapes3d (TFDS catalogue sets, which must be prepared beforehand), and
sklearn_digits, concept_shapes (built locally on first use, see
:mod:`repsim_jax.data.local`). All are read as ArrayRecord through
``tfds.data_source`` and batched by :class:`repsim_jax.data.loader.ImageLoader`.

Preparing a catalogue set once, where TensorFlow is available (e.g. Colab)::

    import tensorflow_datasets as tfds
    tfds.builder("cifar10", data_dir=DIR).download_and_prepare(file_format="array_record")

then copy ``DIR`` (e.g. to a bucket or local disk) and pass ``data_dir=DIR`` here
(``data_dir=None`` means TFDS's default, ``$TFDS_DATA_DIR`` or
``~/tensorflow_datasets``). Decoding their PNG-encoded images needs Pillow or OpenCV.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import jax
import tensorflow_datasets as tfds
from jax.experimental import multihost_utils

from repsim_jax.data import local
from repsim_jax.data.loader import ImageLoader
from repsim_jax.errors import InputError


def _unit(*values: float) -> tuple[float, ...]:
    """Constants given on the [0, 1] scale, in uint8 pixel units."""
    return tuple(255.0 * v for v in values)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """How a dataset is opened and turned into batches.

    ``mean``/``std`` are per-channel constants in pixel units (image = (pixel −
    mean)/std); ``extra_keys`` maps an output key to the features concatenated
    into it; ``local`` sets are built on first use (:mod:`repsim_jax.data.local`).
    """

    splits: tuple[str, ...]
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    label_key: str = "label"
    extra_keys: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    local: bool = False


_DSPRITES_FACTORS = ("label_scale", "label_orientation", "label_x_position", "label_y_position")
_SHAPES3D_FACTORS = ("label_floor_hue", "label_wall_hue", "label_object_hue", "label_scale", "label_orientation")

DATASETS: dict[str, DatasetSpec] = {
    # Per-channel train-set statistics as commonly quoted for each set.
    "cifar10": DatasetSpec(("train", "test"), 10, _unit(0.4914, 0.4822, 0.4465), _unit(0.2470, 0.2435, 0.2616)),
    "cifar100": DatasetSpec(("train", "test"), 100, _unit(0.5071, 0.4865, 0.4409), _unit(0.2673, 0.2564, 0.2762)),
    "mnist": DatasetSpec(("train", "test"), 10, _unit(0.1307), _unit(0.3081)),
    "fashion_mnist": DatasetSpec(("train", "test"), 10, _unit(0.2860), _unit(0.3530)),
    # dsprites pixels are 0/1 and are left as they are; shapes3d is mapped to [-1, 1].
    "dsprites": DatasetSpec(
        ("train",), 3, (0.0,), (1.0,), label_key="label_shape", extra_keys={"factors": _DSPRITES_FACTORS}
    ),
    "shapes3d": DatasetSpec(
        ("train",), 4, (127.5,) * 3, (127.5,) * 3, label_key="label_shape", extra_keys={"factors": _SHAPES3D_FACTORS}
    ),
    # Train-split statistics computed here (digits: pixel values 0..16; concept
    # shapes: default config).
    "sklearn_digits": DatasetSpec(("train", "test"), 10, (4.8916,), (6.0095,), local=True),
    "concept_shapes": DatasetSpec(
        ("train", "test"),
        24,
        (34.92, 34.87, 34.93),
        (33.39, 33.14, 33.35),
        extra_keys={"concepts": ("concepts",)},
        local=True,
    ),
}


def dataset_spec(name: str) -> DatasetSpec:
    """The :class:`DatasetSpec` of ``name``; ValueError for an unknown name."""
    if name not in DATASETS:
        raise InputError(f"unknown dataset {name!r}; supported: {sorted(DATASETS)}")
    return DATASETS[name]


def _check_split(name: str, split: str) -> None:
    """Every ``+``-joined part of ``split`` (slices allowed) must name a known split."""
    known = dataset_spec(name).splits
    for part in str(split).split("+"):
        if part.split("[")[0].strip() not in known:
            raise InputError(
                f"unknown split {split!r} for {name}; available: {list(known)} "
                "(TFDS slicing such as 'train[:90%]' is allowed)"
            )


def _not_prepared(name: str, data_dir: Any) -> FileNotFoundError:
    where = data_dir if data_dir is not None else f"{tfds.core.constants.DATA_DIR} (TFDS default)"
    return FileNotFoundError(
        f"TFDS dataset {name!r} is not prepared in array_record format under data_dir={where}. "
        f"Prepare it once where TensorFlow is available (e.g. Colab): "
        f"tfds.builder({name!r}, data_dir=DIR).download_and_prepare(file_format='array_record'), "
        f"then copy DIR here and pass data_dir=DIR."
    )


def open_source(name: str, split: str, data_dir: Any = None, builder_kwargs: Mapping[str, Any] | None = None) -> Any:
    """The random-access ``tfds.data_source`` of ``name``/``split``.

    Catalogue sets are never downloaded (``download=False``): an unprepared set
    raises FileNotFoundError naming the dataset, the data_dir and how to prepare
    it. Local sets (``sklearn_digits``, ``concept_shapes``) are prepared on first
    use under ``data_dir`` (default :func:`repsim_jax.data.local.default_data_dir`; with
    several processes, process 0 builds it while the others wait); ``builder_kwargs``
    passes e.g. ``{"config": local.concept_shapes_config(seed=1)}``.
    """
    _check_split(name, split)
    if dataset_spec(name).local:
        prepare = functools.partial(
            tfds.data_source,
            name,
            split=split,
            data_dir=data_dir or local.default_data_dir(),
            download=True,
            builder_kwargs=dict(builder_kwargs or {}),
            download_and_prepare_kwargs={"file_format": "array_record"},
        )
        if jax.process_count() > 1:
            # process 0 builds the set first, so processes sharing a data_dir never
            # write it at the same time; the others then find it prepared
            if jax.process_index() == 0:
                prepare()
            multihost_utils.sync_global_devices(f"repsim_jax: {name} prepared")
        return prepare()
    try:
        return tfds.data_source(
            name, split=split, data_dir=data_dir, download=False, builder_kwargs=dict(builder_kwargs or {})
        )
    except (NotImplementedError, FileNotFoundError, AssertionError) as err:
        raise _not_prepared(name, data_dir) from err


def load_image_dataset(
    name: str,
    split: str,
    *,
    batch_size: int,
    data_dir: Any = None,
    training: bool | None = None,
    shuffle: bool | None = None,
    drop_remainder: bool | None = None,
    seed: int = 0,
    num_epochs: int | None = None,
    process_index: int | None = None,
    process_count: int | None = None,
    builder_kwargs: Mapping[str, Any] | None = None,
) -> ImageLoader:
    """An :class:`ImageLoader` over ``name``/``split`` (the single entry for all sets).

    ``training`` (default: the split starts with ``"train"``) sets the defaults
    ``shuffle=True, drop_remainder=True``; for evaluation both default to False.
    Batches are dicts ``{"image": float32 (B, H, W, C) normalised with the set's
    mean/std, "label": int32 (B,)}`` plus ``"concepts"`` (concept_shapes, binary)
    or ``"factors"`` (dsprites, shapes3d: latent factor class indices), int32 (B, k).
    ``batch_size`` is global; each host gets ``batch_size / process_count`` rows.
    """
    spec = dataset_spec(name)
    source = open_source(name, split, data_dir, builder_kwargs)
    training = str(split).startswith("train") if training is None else training
    return ImageLoader(
        source,
        batch_size=batch_size,
        mean=spec.mean,
        std=spec.std,
        label_key=spec.label_key,
        extra_keys=spec.extra_keys,
        shuffle=training if shuffle is None else shuffle,
        drop_remainder=training if drop_remainder is None else drop_remainder,
        seed=seed,
        num_epochs=num_epochs,
        process_index=process_index,
        process_count=process_count,
    )
