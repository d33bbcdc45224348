"""Batch sizes for ``jax.lax.map`` that leave no remainder batch.

``lax.map(f, xs, batch_size=b)`` with ``len(xs) % b ≠ 0`` adds a separately vmapped
remainder; on XLA:CPU (jax 0.10.2) such programs holding batched LAPACK calls can hang
at 0% CPU (e.g. the rep–logit bound for 50 pairs in batches of 16), while batch sizes
dividing the length run normally.
"""

from __future__ import annotations


def dividing_batch_size(length: int, batch_size: int) -> int:
    """The largest batch size ≤ ``batch_size`` that divides ``length``."""
    return max(size for size in range(1, min(batch_size, length) + 1) if length % size == 0)
