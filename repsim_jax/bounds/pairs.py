"""The pair-mapping engine: one bound kernel over one pair or a stack of pairs.

Each array argument of a bound is either one model's array or a stack with a leading pair
axis; a side whose arrays are not stacked is shared by all pairs, and its own work (QR,
eigenvalues, log-softmax) is done once, before a single compiled ``lax.map`` over the
pairs (a plain loop on CPU, ``pairs_per_step`` vmapped pairs per step on accelerators).
"""

from __future__ import annotations

import functools

import jax
import numpy as np

from repsim_jax.errors import InputError
from repsim_jax.metrics import checks
from repsim_jax.metrics.batching import dividing_batch_size


def _lax_map(function, xs, pairs_per_step):
    """``lax.map`` over the pair axis; ``pairs_per_step > 1`` vmaps that many pairs per step
    (``lax.map``'s ``batch_size``, lowered to one dividing the number of pairs)."""
    if pairs_per_step == 1:
        return jax.lax.map(function, xs)
    length = jax.tree.leaves(xs)[0].shape[0]
    return jax.lax.map(function, xs, batch_size=dividing_batch_size(length, pairs_per_step))


@functools.partial(jax.jit, static_argnames=("prepare", "pair", "pairs_per_step"))
def _over_pairs(prepare, pair, teacher, student, extra, pairs_per_step):
    """``pair(prepare(*teacher, *extra), *student)`` for one pair, or mapped over the stacked side(s).

    An unstacked teacher is prepared once, outside the map, and shared by every pair.
    """
    t_stacked, s_stacked = teacher[0].ndim == 3, student[0].ndim == 3
    if not (t_stacked or s_stacked):
        return pair(prepare(*teacher, *extra), *student)
    if not t_stacked:
        state = prepare(*teacher, *extra)
        return _lax_map(lambda s: pair(state, *s), student, pairs_per_step)
    if not s_stacked:
        return _lax_map(lambda t: pair(prepare(*t, *extra), *student), teacher, pairs_per_step)
    return _lax_map(lambda ts: pair(prepare(*ts[0], *extra), *ts[1]), (teacher, student), pairs_per_step)


def map_pairs(prepare, pair, teacher, student, extra, pairs_per_step):
    """:func:`_over_pairs` with the default pairs per step: 1 (a plain loop) on CPU and 16
    on accelerators."""
    if pairs_per_step is None:
        pairs_per_step = 1 if jax.default_backend() == "cpu" else 16
    elif int(pairs_per_step) < 1:
        raise InputError(f"pairs_per_step must be >= 1, got {pairs_per_step}")
    return _over_pairs(prepare, pair, tuple(teacher), tuple(student), extra, int(pairs_per_step))


def side_arrays(side: str, names, arrays):
    """Validates one model's arrays: all 2-D (one model) or all 3-D (a stack of pairs)."""
    arrays = [a if hasattr(a, "ndim") else np.asarray(a) for a in arrays]
    ranks = {a.ndim for a in arrays}
    if len(ranks) != 1 or ranks.pop() not in (2, 3):
        raise InputError(f"{side} arrays ({', '.join(names)}) must all be 2-D (one model) or all 3-D (a stack)")
    rank = arrays[0].ndim
    checked = [checks.as_float_array(n, a, ndim=rank) for n, a in zip(names, arrays)]
    if rank == 3 and len({a.shape[0] for a in checked}) > 1:
        raise InputError(f"{side} stacks differ in their number of pairs: {[a.shape[0] for a in checked]}")
    return checked


def check_pair_counts(teacher, student):
    if teacher[0].ndim == 3 and student[0].ndim == 3 and teacher[0].shape[0] != student[0].shape[0]:
        raise InputError(f"teacher and student stacks hold {teacher[0].shape[0]} and {student[0].shape[0]} pairs")


def model_shape(a):
    """Shape of one model's array (without a pair axis)."""
    return a.shape[-2:]
