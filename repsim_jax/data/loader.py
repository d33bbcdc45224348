"""A resumable, seeded, host-sliced NumPy batch iterator over a random-access source.

The source is anything with ``len`` and ``source[i]`` returning a feature dict
(a ``tfds.data_source``, an :class:`repsim_jax.data.sources.ArraySource`, or a list
of dicts); ``source.__getitems__(indices)`` is used when it works (ArrayRecord reads
a batch at once).

Order: epoch e visits ``np.random.default_rng([seed, e]).permutation(n)`` (or
``0..n−1`` without shuffling) in consecutive global batches of ``batch_size``;
with ``drop_remainder`` the incomplete last batch is skipped. Host p of P takes
``np.array_split(global_batch, P)[p]``, so hosts hold disjoint contiguous slices
that together cover every global batch. The iterator state is
``{"seed", "epoch", "position"}`` (position = batches already taken in the epoch):
plain ints, JSON-able (e.g. ``ocp.args.JsonSave``); a loader built with the same
arguments and ``restore(state)`` yields exactly the batches that would have come next.

Batches: ``{"image": (B, ...), "label": int32 (B,), <extra>: int32 (B, k)}``; "image"
is float32 ``(pixel − mean) / std`` when mean/std are given, else the records' own
dtype (e.g. uint8, for in-graph normalisation). Batches are not augmented: training
applies :func:`repsim_jax.data.augment.crop_flip` in-graph.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from repsim_jax.errors import InputError

STATE_KEYS = ("seed", "epoch", "position")


def read_records(source: Any, indices: np.ndarray) -> list[Mapping[str, Any]]:
    """``source.__getitems__(indices)`` where it works, else ``[source[i] ...]``.

    ``tfds.testing.mock_data`` (tfds 4.9.10) installs a ``__getitems__`` that fails
    with TypeError; per-record reads return the same records.
    """
    keys = [int(i) for i in indices]
    getitems = getattr(source, "__getitems__", None)
    if getitems is not None:
        try:
            return list(getitems(keys))
        except TypeError:
            pass
    return [source[i] for i in keys]


class ImageLoader:
    """Iterator of image batches; see the module docstring for the exact order."""

    def __init__(
        self,
        source: Any,
        *,
        batch_size: int,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        label_key: str = "label",
        extra_keys: Mapping[str, Sequence[str]] | None = None,
        shuffle: bool = False,
        drop_remainder: bool = False,
        seed: int = 0,
        num_epochs: int | None = None,
        process_index: int | None = None,
        process_count: int | None = None,
    ):
        """Args:
        source: random-access source of feature dicts with key ``"image"``.
        batch_size: GLOBAL batch size, divisible by ``process_count``.
        mean, std: per-channel normalisation constants in pixel units, both or
          neither; None keeps the images as stored.
        label_key: feature holding the integer class.
        extra_keys: output key → feature keys concatenated into an int32 (B, k) array.
        shuffle, drop_remainder: see the module docstring.
        seed: non-negative int seeding the shuffle.
        num_epochs: stop after this many epochs; None repeats forever.
        process_index, process_count: this host's slot; default ``jax.process_index()``
          and ``jax.process_count()``.
        """
        self.process_index = jax.process_index() if process_index is None else process_index
        self.process_count = jax.process_count() if process_count is None else process_count
        _check_layout(batch_size, self.process_index, self.process_count)
        self.source, self.batch_size, self.num_examples = source, batch_size, len(source)
        if (mean is None) != (std is None):
            raise InputError("give both mean and std, or neither")
        self.mean = None if mean is None else np.asarray(mean, np.float32)
        self.std = None if std is None else np.asarray(std, np.float32)
        self.label_key, self.extra_keys = label_key, dict(extra_keys or {})
        self.shuffle, self.drop_remainder = shuffle, drop_remainder
        self.num_epochs = num_epochs
        full, partial = divmod(self.num_examples, batch_size)
        self.steps_per_epoch = full + (1 if partial and not drop_remainder else 0)
        if self.steps_per_epoch == 0:
            raise InputError(
                f"{self.num_examples} examples give no batch of {batch_size} (drop_remainder={drop_remainder})"
            )
        self._order_cache: tuple[int, np.ndarray] | None = None
        self.restore({"seed": seed, "epoch": 0, "position": 0})

    def state(self) -> dict[str, int]:
        """``{"seed", "epoch", "position"}``: where the next batch comes from."""
        return {"seed": self._seed, "epoch": self._epoch, "position": self._position}

    def restore(self, state: Mapping[str, int]) -> None:
        """Continue from a :meth:`state` dict (e.g. restored from a JSON checkpoint)."""
        if set(state) != set(STATE_KEYS):
            raise InputError(f"state must have exactly the keys {STATE_KEYS}, got {sorted(state)}")
        seed, epoch, position = (int(state[k]) for k in STATE_KEYS)
        if seed < 0 or epoch < 0 or not 0 <= position < self.steps_per_epoch:
            raise InputError(f"invalid state {dict(state)} for {self.steps_per_epoch} steps per epoch")
        self._seed, self._epoch, self._position = seed, epoch, position

    def __iter__(self) -> ImageLoader:
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        if self.num_epochs is not None and self._epoch >= self.num_epochs:
            raise StopIteration
        start = self._position * self.batch_size
        global_indices = self._epoch_order()[start : start + self.batch_size]
        local = np.array_split(global_indices, self.process_count)[self.process_index]
        batch = self._load(local)
        self._position += 1
        if self._position == self.steps_per_epoch:
            self._epoch, self._position = self._epoch + 1, 0
        return batch

    def _epoch_order(self) -> np.ndarray:
        """Record indices of the current epoch, in visiting order (cached per epoch)."""
        if self._order_cache is None or self._order_cache[0] != (self._seed, self._epoch):
            order = np.arange(self.num_examples)
            if self.shuffle:
                order = np.random.default_rng([self._seed, self._epoch]).permutation(order)
            self._order_cache = ((self._seed, self._epoch), order)
        return self._order_cache[1]

    def _load(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """Read, normalise (if mean/std were given) and collate the records at ``indices``."""
        batch = read_rows(self.source, indices, label_key=self.label_key, extra_keys=self.extra_keys)
        if self.mean is not None:
            batch["image"] = (batch["image"].astype(np.float32) - self.mean) / self.std
        return batch


def _check_layout(batch_size: int, process_index: int, process_count: int) -> None:
    """Validate the global batch size and this host's slot."""
    if int(batch_size) != batch_size or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer, got {batch_size}")
    if process_count < 1 or not 0 <= process_index < process_count:
        raise InputError(f"need 0 <= process_index < process_count, got {process_index}, {process_count}")
    if batch_size % process_count:
        raise InputError(f"global batch_size {batch_size} is not divisible by process_count {process_count}")


def read_rows(
    source: Any,
    indices: np.ndarray,
    *,
    label_key: str = "label",
    extra_keys: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, np.ndarray]:
    """The records at ``indices`` collated into ``{"image", "label", <extra>}`` arrays,
    images in their stored dtype, labels and extras int32."""
    indices = np.asarray(indices, np.int64)
    # No index still needs the feature shapes: read record 0 and keep zero rows of it.
    records = read_records(source, indices if indices.size else np.zeros(1, np.int64))
    rows = indices.size
    batch = {
        "image": np.stack([np.asarray(r["image"]) for r in records])[:rows],
        "label": np.asarray([r[label_key] for r in records], np.int32)[:rows],
    }
    for out_key, keys in (extra_keys or {}).items():
        columns = [np.concatenate([np.atleast_1d(r[k]) for k in keys]) for r in records]
        batch[out_key] = np.stack(columns).astype(np.int32)[:rows]
    return batch


def read_split(
    source: Any,
    count: int = 0,
    *,
    label_key: str = "label",
    extra_keys: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, np.ndarray]:
    """Records ``0 .. n−1`` of ``source`` as one batch (:func:`read_rows`), images in
    their stored dtype; ``n = min(count, len(source))``, or ``len(source)`` when
    ``count`` is 0."""
    n = min(count, len(source)) if count else len(source)
    return read_rows(source, np.arange(n), label_key=label_key, extra_keys=extra_keys)
