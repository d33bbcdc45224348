"""Streaming second moments: exact metrics for more samples than fit in memory.

The state of a stream of representation blocks ``[f₁(x), f₂(x), ...]`` (columns
concatenated, width ``D = Σ dᵢ``) is ``(count, mean, factor)``, where ``factor`` is the
upper-triangular ``R`` (D × D) of the centred data: ``Σ_x (f(x) − mean)(f(x) − mean)ᵀ = RᵀR``.
Memory is O(D²) whatever the number of samples.

Two states merge exactly (Chan, Golub & LeVeque's pairwise update, in factor form):
with ``δ = mean_b − mean_a`` the centred scatter is ``S_a + S_b + (n_a n_b / n) δδᵀ``,
so the merged factor is the R of the stacked rows ``[R_a; R_b; √(n_a n_b / n) δᵀ]``.
Working with R (a TSQR) instead of the scatter matrix keeps the condition number
unsquared, which CCA needs. The uncentred factor is the R of ``[R; √n · meanᵀ]``.

Every metric that depends on the data only through these moments has a
``*_from_moments`` form: logit distance from representations, d_rep, CCA, linear CKA
(biased), Procrustes and Gram distance.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import jax.numpy as jnp

from repsim_jax.errors import InputError
from repsim_jax.metrics import checks
from repsim_jax.metrics.linalg import upper_factor


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Moments:
    """Count, mean and centred scatter factor of column blocks of widths ``widths``."""

    count: jax.Array
    mean: jax.Array
    factor: jax.Array
    widths: tuple[int, ...] = dataclasses.field(metadata=dict(static=True))

    def block(self, index: int) -> slice:
        """The column slice of block ``index`` in the concatenated representation."""
        start = sum(self.widths[:index])
        return slice(start, start + self.widths[index])


def empty(widths: Sequence[int], dtype=jnp.float32) -> Moments:
    """Moments of zero samples for blocks of the given widths."""
    width = sum(widths)
    return Moments(
        count=jnp.zeros((), dtype),
        mean=jnp.zeros((width,), dtype),
        factor=jnp.zeros((width, width), dtype),
        widths=tuple(int(w) for w in widths),
    )


def from_data(*blocks: jax.Array) -> Moments:
    """Moments of in-memory blocks (n, dᵢ) sharing their rows."""
    data = jnp.concatenate(blocks, axis=1)
    mean = jnp.mean(data, axis=0)
    return Moments(
        count=jnp.asarray(data.shape[0], data.dtype),
        mean=mean,
        factor=upper_factor(data - mean),
        widths=tuple(block.shape[1] for block in blocks),
    )


def merge(a: Moments, b: Moments) -> Moments:
    """Exact moments of the union of the samples behind ``a`` and ``b``."""
    count = a.count + b.count
    share_b = jnp.where(count > 0, b.count / jnp.maximum(count, 1), 0.0)
    delta = b.mean - a.mean
    cross_weight = jnp.sqrt(a.count * share_b)
    stacked = jnp.concatenate([a.factor, b.factor, cross_weight * delta[None, :]], axis=0)
    return Moments(
        count=count,
        mean=a.mean + share_b * delta,
        factor=upper_factor(stacked),
        widths=a.widths,
    )


@jax.jit
def update(state: Moments, *blocks: jax.Array) -> Moments:
    """Adds a chunk of samples (one array per block, equal rows) to ``state``."""
    return merge(state, from_data(*blocks))


def raw_factor(state: Moments) -> jax.Array:
    """R with ``RᵀR = Σ_x f(x) f(x)ᵀ`` (uncentred second moment times n)."""
    mean_row = jnp.sqrt(state.count) * state.mean[None, :]
    return upper_factor(jnp.concatenate([state.factor, mean_row], axis=0))


def centered_scatter(state: Moments) -> jax.Array:
    """``Σ_x (f(x) − mean)(f(x) − mean)ᵀ = RᵀR``."""
    return jnp.matmul(state.factor.T, state.factor, precision=jax.lax.Precision.HIGHEST)


class MomentAccumulator:
    """Feeds chunks into :class:`Moments` with validation, for use from Python loops.

    >>> acc = MomentAccumulator()
    >>> for f1_chunk, f2_chunk in chunks:
    ...     acc.add(f1_chunk, f2_chunk)
    >>> canonical_correlations_from_moments(acc.moments)
    """

    def __init__(self):
        self._state: Moments | None = None

    def add(self, *blocks) -> "MomentAccumulator":
        arrays = [checks.as_float_array(f"block {i}", b, ndim=2) for i, b in enumerate(blocks)]
        checks.same_rows(**{f"block {i}": a for i, a in enumerate(arrays)})
        widths = tuple(a.shape[1] for a in arrays)
        if self._state is None:
            self._state = empty(widths, dtype=jnp.result_type(*arrays))
        elif widths != self._state.widths:
            raise InputError(f"chunk block widths {widths} differ from earlier chunks {self._state.widths}")
        self._state = update(self._state, *arrays)
        return self

    @property
    def moments(self) -> Moments:
        if self._state is None:
            raise InputError("no samples were added to the accumulator")
        return self._state
