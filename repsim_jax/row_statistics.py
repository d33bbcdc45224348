"""A split's rows shared among processes: statistics that add up over rows, each
process's own rows, and rows gathered in process order.

The prediction, agreement and ranking evaluators (:mod:`repsim_jax.evaluators`) reduce a
split to :class:`RowStatistics`, sums and minima over its rows, and finish their values from
them. A split in memory is one chunk; chunks merge by adding sums and taking minima; with
several processes each process evaluates :func:`own_rows` and the statistics are merged
across processes (:meth:`RowStatistics.merge_processes`, :func:`fold_processes` for any
mergeable state), exactly: values travel as their bytes, so float64 sums stay float64
whatever ``jax_enable_x64`` says. What needs every row
at once (the similarity metrics, the authors' conventions, concept probes) takes the rows
gathered in process order (:func:`gathered_rows`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable

import jax
import numpy as np
from jax.experimental import multihost_utils

from repsim_jax.errors import InputError

__all__ = ["RowStatistics", "fold_processes", "on_every_process", "own_rows", "gathered_rows"]


def _allgather_exact(array: np.ndarray) -> np.ndarray:
    """``array`` of every process stacked in process order, shape ``(P, *array.shape)``,
    bit for bit: gathered as bytes (``process_allgather`` would cast float64 to float32
    without x64)."""
    array = np.asarray(array, order="C")  # (not ascontiguousarray: it makes a scalar 1-d)
    as_bytes = array.reshape(1, -1).view(np.uint8)
    gathered = np.asarray(multihost_utils.process_allgather(as_bytes, tiled=True))
    return gathered.view(array.dtype).reshape(-1, *array.shape)


def fold_processes(state, merge: Callable):
    """``merge`` folded over every process's ``state`` (a pytree whose leaves have the same
    shapes and dtypes on every process) in process order, the same on every process; the
    leaves gathered bit for bit. ``state`` itself with one process."""
    if jax.process_count() == 1:
        return state
    gathered = jax.tree.map(lambda leaf: _allgather_exact(np.asarray(leaf)), state)
    states = [jax.tree.map(lambda leaf, p=p: leaf[p], gathered) for p in range(jax.process_count())]
    return functools.reduce(merge, states)


@functools.partial(jax.tree_util.register_dataclass, data_fields=["sums", "minima"], meta_fields=[])
@dataclasses.dataclass(frozen=True)
class RowStatistics:
    """Float64 ``sums`` (added over rows) and ``minima`` (smallest over rows) by name."""

    sums: dict[str, np.ndarray]
    minima: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    @classmethod
    def of(cls, sums: dict, minima: dict | None = None) -> RowStatistics:
        """The statistics with every value as a float64 array."""
        as_array = lambda values: {k: np.asarray(v, np.float64) for k, v in (values or {}).items()}
        return cls(as_array(sums), as_array(minima))

    def merge(self, other: RowStatistics) -> RowStatistics:
        """The statistics of both sets of rows."""
        sums = {k: self.sums[k] + other.sums[k] for k in self.sums}
        minima = {k: np.minimum(self.minima[k], other.minima[k]) for k in self.minima}
        return RowStatistics(sums, minima)

    def merge_processes(self) -> RowStatistics:
        """The statistics of every process's rows, merged in process order (the same on
        every process); the statistics themselves with one process."""
        return fold_processes(self, RowStatistics.merge)


def on_every_process(compute: Callable):
    """``compute()`` on this process's rows, failing on every process when it fails on any:
    the failing process raises its own error, the others an InputError saying so, instead of
    waiting in the next collective for a process that left (one small gather)."""
    if jax.process_count() == 1:
        return compute()
    error, value = None, None
    try:
        value = compute()
    except Exception as raised:  # re-raised below, after the other processes have heard of it
        error = raised
    failed = _allgather_exact(np.array(error is not None))
    if error is not None:
        raise error
    if failed.any():
        others = ", ".join(str(p) for p in np.flatnonzero(failed))
        raise InputError(f"evaluation failed on process(es) {others} (their own error says why)")
    return value


def _row_counts(num_rows: int) -> list[int]:
    """How many of ``num_rows`` rows each process owns (as ``np.array_split``)."""
    per, extra = divmod(num_rows, jax.process_count())
    return [per + (p < extra) for p in range(jax.process_count())]


def own_rows(num_rows: int) -> slice:
    """This process's contiguous share of ``num_rows`` rows (process p: the p-th of
    ``process_count`` near-equal blocks; every row with one process). InputError when some
    process would have none."""
    if num_rows < jax.process_count():
        raise InputError(
            f"a split of {num_rows} rows: each of the {jax.process_count()} process(es) needs at least one"
        )
    counts = _row_counts(num_rows)
    start = sum(counts[: jax.process_index()])
    return slice(start, start + counts[jax.process_index()])


def gathered_rows(own: np.ndarray | None) -> np.ndarray | None:
    """The rows of which this process holds ``own`` (its :func:`own_rows`; any count per
    process) with every other process's, in process order, on every process, bit for bit
    (None stays None)."""
    if own is None or jax.process_count() == 1:
        return own
    own = np.asarray(own)
    counts = _allgather_exact(np.array(own.shape[0], np.int64)).tolist()
    padded = np.zeros((max(counts), *own.shape[1:]), own.dtype)
    padded[: own.shape[0]] = own
    blocks = _allgather_exact(padded)
    return np.concatenate([block[:count] for block, count in zip(blocks, counts)])
