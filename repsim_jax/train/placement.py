"""Host values onto a mesh: replicated trees (:func:`place`) and the training rows,
sharded on ``"data"`` and read block by block per process (:func:`place_rows`).

With P processes, process p reads only the row blocks that its own devices hold, so
the processes together read every row of the split once (rows are replicated only
across the ``"seeds"`` axis, within the processes that share a data block). Rows are
padded with zeros up to a multiple of the data axis; the epoch's permutation never
draws a padding row. Inside the epoch XLA partitions each batch's gather from these rows
as a gather of the local rows plus an all-reduce of one global batch: the rows are never
collected onto one device (tests/train/test_placement.py reads the compiled program).
"""

from __future__ import annotations

from typing import Callable

import jax
import numpy as np
from jax.sharding import NamedSharding

from repsim_jax.data.rows import Rows

__all__ = ["place", "place_rows", "padded_size"]


def place(tree, sharding):
    """Global arrays laid out by ``sharding`` (one ``NamedSharding``, or a tree of them
    matching ``tree``) from host values every process holds in full; each process
    transfers only the blocks of its own devices (``jax.make_array_from_callback``).
    ``None`` stays ``None``."""
    if tree is None:
        return None
    host = jax.tree.map(np.asarray, tree)
    if isinstance(sharding, jax.sharding.Sharding):
        sharding = jax.tree.map(lambda _: sharding, host)
    return jax.tree.map(lambda a, s: jax.make_array_from_callback(a.shape, s, lambda index: a[index]), host, sharding)


def padded_size(n: int, sharding: NamedSharding) -> int:
    """``n`` rounded up to a multiple of the sharding's ``"data"`` axis."""
    data = sharding.mesh.shape["data"]
    return n + (-n % data)


def place_rows(
    rows: Rows, sharding: NamedSharding, add_columns: Callable[[dict], dict] | None = None
) -> dict[str, jax.Array]:
    """The columns of ``rows`` as global ``(padded_size, ...)`` arrays sharded by
    ``sharding`` (rows on ``"data"``), each process reading only the blocks of its
    addressable devices. ``add_columns(block) -> {name: array}`` adds columns computed
    from a block's rows (e.g. cached teacher outputs), on the process that reads it."""
    n = len(rows)
    total = padded_size(n, sharding)
    blocks: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    for index in sharding.addressable_devices_indices_map((total,)).values():
        start, stop, _ = index[0].indices(total)
        if (start, stop) not in blocks:
            blocks[start, stop] = _read_block(rows, start, stop, add_columns)
    first = next(iter(blocks.values()))

    def make(key: str) -> jax.Array:
        shape = (total, *first[key].shape[1:])
        return jax.make_array_from_callback(shape, sharding, lambda index: blocks[index[0].indices(total)[:2]][key])

    return {key: make(key) for key in first}


def _read_block(rows: Rows, start: int, stop: int, add_columns) -> dict[str, np.ndarray]:
    """Rows ``start .. stop−1`` (those below ``len(rows)``) and their added columns,
    zero-padded to ``stop − start`` rows."""
    block = rows.read(np.arange(start, min(stop, len(rows))))
    if add_columns is not None:
        # a block of padding alone takes the added columns' shapes from row 0
        added = add_columns(block) if len(block["x"]) else add_columns(rows.example())
        block.update({key: value[: len(block["x"])] for key, value in added.items()})
    pad = lambda value: np.zeros((stop - start - len(value), *value.shape[1:]), value.dtype)
    return {key: np.concatenate([value, pad(value)]) for key, value in block.items()}
