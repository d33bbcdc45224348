"""Every pair of a stack of M representations, in one compiled call.

Metrics that depend on the pair only through the cross products ``XᵢᵀXⱼ`` of per-model
prepared matrices (mean_cca, linear_cka, procrustes_distance, gram_distance) factorise
each model once (centring, normalisation, an orthonormal basis for CCA: Cholesky-QR2,
matmul-bound, with a Householder fallback for ill-conditioned stacks) and then obtain all cross
blocks from matrix products over tiles of models, computing only tiles on or above the
diagonal: the per-pair work is the unavoidable ``2 n d²`` flops of ``XᵢᵀXⱼ`` plus a
small ``d × d`` finish (singular values or norms).

Any other scalar metric runs as a batched ``vmap`` over the pairs. Asymmetric metrics
(kl_divergence, rep_dissimilarity) fill the whole matrix; symmetric ones the upper
triangle, mirrored. On the factorised path the diagonal holds the exact value for
identical inputs (0 for distances, 1 for similarities); the generic path evaluates the
metric on the diagonal too (options such as a CCA ridge change that value).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax.errors import InputError
from repsim_jax.metrics import checks
from repsim_jax.metrics.batching import dividing_batch_size
from repsim_jax.metrics.linalg import (
    center_columns,
    gram,
    matmul,
    nuclear_norm,
    power_of_two_scale,
    safe_sqrt,
    squared_norm,
    thin_qr,
    unit_frobenius,
)


class _GramForm(NamedTuple):
    """``prepare(stack) -> (matrices (M, n, w), extras (M,))`` for the whole stack at once;
    ``finish(block, extra_i, extra_j)`` per pair."""

    prepare: Callable
    finish: Callable


def _prepare_normalized(x):
    normalized = unit_frobenius(center_columns(x))
    return normalized, squared_norm(gram(normalized, normalized))


def _prepare_cca(x):
    """An orthonormal basis of each centred model, divided by a power of 2 first (Q does not
    change; Cholesky-QR2's Gram would overflow or underflow for inputs far from 1)."""
    centred = center_columns(x)
    return thin_qr(centred / power_of_two_scale(centred, axis=(-2, -1)))[0], jnp.zeros(x.shape[:-2], x.dtype)


_GRAM_FORMS = {
    "mean_cca": _GramForm(
        _prepare_cca, lambda c, ei, ej: jnp.mean(jnp.clip(jnp.linalg.svd(c, compute_uv=False), 0.0, 1.0))
    ),
    "linear_cka": _GramForm(_prepare_normalized, lambda c, ei, ej: squared_norm(c) / jnp.sqrt(ei * ej)),
    "procrustes_distance": _GramForm(_prepare_normalized, lambda c, ei, ej: safe_sqrt(2.0 - 2.0 * nuclear_norm(c))),
    "gram_distance": _GramForm(_prepare_normalized, lambda c, ei, ej: safe_sqrt(ei + ej - 2.0 * squared_norm(c))),
}
_ASYMMETRIC = {"kl_divergence", "rep_dissimilarity"}
_IDENTITY_VALUE = {"mean_cca": 1.0, "linear_cka": 1.0}


def _upper_pairs(m: int):
    rows, cols = np.triu_indices(m, k=1)
    return rows.astype(np.int32), cols.astype(np.int32)


def _cross_blocks(prepared, rows, cols, tile):
    """``prepared[i]ᵀ prepared[j]`` for the listed pairs (i ≤ j), from upper tile products."""
    m, n, w = prepared.shape
    num_tiles = -(-m // tile)
    padded = jnp.pad(prepared, ((0, num_tiles * tile - m), (0, 0), (0, 0)))
    tiles = padded.reshape(num_tiles, tile, n, w).transpose(0, 2, 1, 3).reshape(num_tiles, n, tile * w)
    tile_a, tile_b = np.triu_indices(num_tiles)
    tile_index = np.full((num_tiles, num_tiles), -1, np.int32)
    tile_index[tile_a, tile_b] = np.arange(tile_a.size)
    products = jax.lax.map(lambda ab: matmul(tiles[ab[0]].T, tiles[ab[1]]), jnp.stack([tile_a, tile_b], axis=1))
    products = products.reshape(-1, tile, w, tile, w)
    which = tile_index[rows // tile, cols // tile]
    return products[which, rows % tile, :, cols % tile, :]


@functools.partial(jax.jit, static_argnames=("name", "angular"))
def _pairwise_gram(stack, name, angular=False):
    form = _GRAM_FORMS[name]
    prepared, extra = form.prepare(stack)
    m, _, w = prepared.shape
    rows, cols = _upper_pairs(m)
    blocks = _cross_blocks(prepared, rows, cols, tile=max(1, min(m, 512 // w)))
    finish = form.finish
    if angular:
        finish = lambda c, ei, ej: 2.0 * jnp.arcsin(jnp.minimum(form.finish(c, ei, ej) / 2.0, 1.0))
    values = jax.vmap(finish)(blocks, extra[rows], extra[cols])
    return _assemble(values, rows, cols, m, symmetric=True, diagonal=_IDENTITY_VALUE.get(name, 0.0))


def _assemble(values, rows, cols, m, symmetric, diagonal):
    matrix = jnp.full((m, m), diagonal, values.dtype).at[rows, cols].set(values)
    return matrix.at[cols, rows].set(values) if symmetric else matrix


def _pair_indices(m, symmetric):
    """Pairs with i ≤ j (symmetric metrics) or all ordered pairs, diagonal included."""
    rows, cols = np.triu_indices(m) if symmetric else np.indices((m, m)).reshape(2, -1)
    return rows.astype(np.int32), cols.astype(np.int32)


@functools.partial(jax.jit, static_argnames=("kernel", "symmetric", "batch_size"))
def _pairwise_vmap(stack, kernel, symmetric, batch_size):
    m = jax.tree_util.tree_leaves(stack)[0].shape[0]
    rows, cols = _pair_indices(m, symmetric)

    def one(pair):
        first = jax.tree_util.tree_map(lambda a: a[pair[0]], stack)
        second = jax.tree_util.tree_map(lambda a: a[pair[1]], stack)
        return kernel(*first, *second)

    pairs = jnp.stack([rows, cols], axis=1)
    values = jax.lax.map(one, pairs, batch_size=dividing_batch_size(rows.size, batch_size))
    return _assemble(values, rows, cols, m, symmetric, diagonal=0.0)


def _as_stack(stack):
    parts = stack if isinstance(stack, (tuple, list)) else (stack,)
    arrays = tuple(checks.as_float_array(f"stack[{i}]", p, ndim=3) for i, p in enumerate(parts))
    if len({a.shape[0] for a in arrays}) > 1:
        raise InputError(f"stack parts must share their leading (model) axis, got {[a.shape for a in arrays]}")
    if arrays[0].shape[0] < 2:
        raise InputError(f"pairwise needs at least 2 models in the stack, got {arrays[0].shape[0]}")
    return arrays


def _resolve(metric):
    from repsim_jax import metrics

    name = metric if isinstance(metric, str) else getattr(metric, "__name__", "")
    function = getattr(metrics, name, None)
    if name not in metrics.__all__ or not callable(function):
        raise InputError(f"unknown metric {metric!r} for pairwise")
    return name, function


def _gram_form_applies(name, parts, kwargs) -> bool:
    """The factorised path covers the default options (and Procrustes' ``angular``)."""
    neutral = {"debiased": False, "ridge": 0.0}
    if name == "procrustes_distance":
        neutral["angular"] = kwargs.get("angular", False)
    plain = all(k in neutral and isinstance(v, (bool, int, float)) and v == neutral[k] for k, v in kwargs.items())
    return name in _GRAM_FORMS and len(parts) == 1 and plain


def pairwise(metric, stack, *, validate: bool = True, batch_size: int = 64, **kwargs) -> jax.Array:
    """The (M, M) matrix of ``metric`` over all pairs of a stack of M representations.

    Args:
      metric: a scalar public metric of :mod:`repsim_jax.metrics` or its name, e.g.
        ``"mean_cca"``, ``linear_cka``, ``"rep_dissimilarity"``.
      stack: (M, n, d) array, or a tuple of arrays with leading axis M for metrics of
        several arrays per model, e.g. ``(embeddings (M, n, d), unembeddings (M, K, d))``
        for ``logit_distance_from_reps`` and ``rep_dissimilarity``.
      batch_size: pairs evaluated together by the generic (vmap) path.
      **kwargs: passed to the metric, e.g. ``debiased=True`` or ``pivots=..., subsets=...``.

    Entry ``[i, j]`` is ``metric(model i, model j)``.
    """
    name, function = _resolve(metric)
    parts = _as_stack(stack) if validate else tuple(stack if isinstance(stack, (tuple, list)) else (stack,))
    if validate:
        function(*[p[0] for p in parts], *[p[1] for p in parts], **kwargs)  # pair-level checks
    if _gram_form_applies(name, parts, kwargs):
        matrix = _pairwise_gram(parts[0], name, angular=bool(kwargs.get("angular", False)))
    else:
        kernel = functools.partial(function, validate=False, **kwargs)
        matrix = _pairwise_vmap(parts, kernel, name not in _ASYMMETRIC, batch_size)
    if validate and not bool(jnp.isfinite(matrix).all()):
        bad = np.argwhere(~np.isfinite(np.asarray(matrix)))[0]
        raise InputError(f"{name} is not finite for models {tuple(int(i) for i in bad)} (degenerate representation?)")
    return matrix
