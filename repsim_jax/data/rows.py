"""A split's rows read on demand (:class:`Rows`), so a process reads only what it needs.

Training places the rows of the train split on the mesh's ``"data"`` axis; with
several processes each reads only the row blocks of its own devices
(:func:`repsim_jax.train.placement.place_rows`), never the whole split. Analyses that
need a whole split (evaluation, probes) read it with :meth:`Rows.read_all`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from repsim_jax.data.loader import read_rows
from repsim_jax.errors import InputError

__all__ = ["Rows", "checked_columns"]


def checked_columns(columns: Mapping[str, Any], name: str) -> dict[str, np.ndarray]:
    """``columns`` as NumPy arrays, checked: ``x`` and ``y`` present, all equally long."""
    columns = {key: np.asarray(value) for key, value in columns.items()}
    if "x" not in columns or "y" not in columns:
        raise InputError(f"{name} data needs 'x' and 'y' arrays, got keys {sorted(columns)}")
    lengths = {key: len(value) for key, value in columns.items()}
    if len(set(lengths.values())) != 1:
        raise InputError(f"{name} data: columns of unequal length {lengths}")
    return columns


class Rows:
    """``len(rows)`` rows of one split; ``rows.read(indices)`` returns the columns
    (``x``, ``y`` and optionally ``concepts``, teacher outputs, ...) of those rows only,
    in order; ``rows.example()`` is row 0 (every process reads it for the shapes)."""

    def __init__(self, size: int, read: Callable[[np.ndarray], dict[str, np.ndarray]], name: str = "train"):
        self.size, self._read, self.name = int(size), read, name
        self._example: dict[str, np.ndarray] | None = None
        self._all: dict[str, np.ndarray] | None = None

    @classmethod
    def from_arrays(cls, columns: Mapping[str, Any], name: str = "train") -> Rows:
        """Rows of equally long in-memory arrays (:func:`checked_columns`; read by fancy indexing)."""
        columns = checked_columns(columns, name)
        return cls(len(columns["x"]), lambda indices: {key: value[indices] for key, value in columns.items()}, name)

    @classmethod
    def from_source(
        cls,
        source: Any,
        count: int = 0,
        *,
        label_key: str = "label",
        extra_keys: Mapping[str, Sequence[str]] | None = None,
        name: str = "train",
    ) -> Rows:
        """The first ``count`` records (0 = all) of a random-access ``source`` (a
        ``tfds.data_source``, :class:`repsim_jax.data.sources.ArraySource`), read with
        :func:`repsim_jax.data.loader.read_rows`: ``image`` → ``x``, ``label`` → ``y``,
        ``concepts`` → float32."""
        size = min(count, len(source)) if count else len(source)

        def read(indices: np.ndarray) -> dict[str, np.ndarray]:
            batch = read_rows(source, indices, label_key=label_key, extra_keys=extra_keys)
            columns = {"x": batch["image"], "y": batch["label"]}
            if "concepts" in batch:
                columns["concepts"] = batch["concepts"].astype(np.float32)
            return columns

        return cls(size, read, name)

    def __len__(self) -> int:
        return self.size

    def read(self, indices) -> dict[str, np.ndarray]:
        """The columns of the rows at ``indices`` (0 ≤ index < len); zero rows when empty."""
        indices = np.asarray(indices, np.int64).reshape(-1)
        if indices.size and (indices.min() < 0 or indices.max() >= self.size):
            got = f"{indices.min()}..{indices.max()}"
            raise IndexError(f"{self.name} rows: indices must be in [0, {self.size}), got {got}")
        if not indices.size:
            return {key: value[:0] for key, value in self.example().items()}
        return self._read(indices)

    def read_all(self) -> dict[str, np.ndarray]:
        """Every row, in order (read once and kept: training on one device and the
        evaluation after it share the read)."""
        if self._all is None:
            self._all = self.read(np.arange(self.size))
        return self._all

    def example(self) -> dict[str, np.ndarray]:
        """Row 0 as one-row columns (read once)."""
        if self._example is None:
            if not self.size:
                raise InputError(f"{self.name} split is empty")
            self._example = self._read(np.zeros(1, np.int64))
        return self._example
