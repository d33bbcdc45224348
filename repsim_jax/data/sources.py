"""In-memory random-access source: a dict of equally long arrays read record by record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from repsim_jax.errors import InputError


class ArraySource:
    """Record i is ``{key: arrays[key][i]}``; the same interface as a ``tfds.data_source``.

    So in-memory data (e.g. spirals) is batched by the same loader as TFDS sets.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        lengths = {key: len(value) for key, value in arrays.items()}
        if len(set(lengths.values())) != 1:
            raise InputError(f"need one or more arrays of equal length, got lengths {lengths}")
        self.arrays = {key: np.asarray(value) for key, value in arrays.items()}
        self._length = next(iter(lengths.values()))

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        return {key: value[index] for key, value in self.arrays.items()}

    def __getitems__(self, indices: Sequence[int]) -> list[dict[str, np.ndarray]]:
        """The records at ``indices``, in order (one fancy-indexing read per array)."""
        columns = {key: value[np.asarray(indices, np.int64)] for key, value in self.arrays.items()}
        return [{key: column[j] for key, column in columns.items()} for j in range(len(indices))]
