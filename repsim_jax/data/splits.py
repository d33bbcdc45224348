"""Seeded stratified splitting of a labelled set into disjoint index sets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from repsim_jax.errors import InputError


def stratified_split(
    labels: np.ndarray,
    fractions: Sequence[float] = (0.5, 0.25, 0.25),
    seed: int = 0,
) -> tuple[np.ndarray, ...]:
    """Split indices so that every part keeps the label proportions.

    For each label c with n_c examples (visited in increasing label order), its
    indices are permuted with ``np.random.default_rng(seed)`` and cut into
    consecutive parts of sizes ``floor(f_k · n_c)`` for every fraction but the
    last; the last part takes the rest. Each returned index array is sorted.

    Args:
      labels: integer array (n,).
      fractions: positive part fractions summing to 1 (e.g. 50/25/25 train/val/test).
      seed: seed of the permutation.

    Returns:
      One sorted int64 index array per fraction; together they partition ``range(n)``.
    """
    labels = np.asarray(labels)
    fractions = np.asarray(fractions, dtype=np.float64)
    if labels.ndim != 1:
        raise InputError(f"labels must be 1-D, got shape {labels.shape}")
    if fractions.ndim != 1 or fractions.size < 1 or np.any(fractions <= 0):
        raise InputError(f"fractions must be positive, got {fractions.tolist()}")
    if not np.isclose(fractions.sum(), 1.0):
        raise InputError(f"fractions must sum to 1, got {fractions.sum()}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        sizes = np.floor(fractions[:-1] * members.size).astype(np.int64)
        for k, chunk in enumerate(np.split(members, np.cumsum(sizes))):
            parts[k].append(chunk)
    return tuple(np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts)


def stratified_subset(labels: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``size`` examples with the labels as balanced as possible.

    With K labels, label ``c`` (in increasing order) gets ``⌊size/K⌋`` examples, plus one
    for the first ``size mod K`` labels, drawn by ``np.random.default_rng(seed)``'s
    permutation of its indices. Raises ValueError when a label has too few examples.
    """
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if not 0 < size <= labels.size:
        raise InputError(f"subset size must be in 1..{labels.size}, got {size}")
    rng = np.random.default_rng(seed)
    chosen = []
    for rank, label in enumerate(classes):
        want = size // classes.size + (rank < size % classes.size)
        members = np.flatnonzero(labels == label)
        if members.size < want:
            raise InputError(
                f"label {label} has {members.size} examples, fewer than the {want} a subset of {size} needs"
            )
        chosen.append(rng.permutation(members)[:want])
    return np.sort(np.concatenate(chosen))
