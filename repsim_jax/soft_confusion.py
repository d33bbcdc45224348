"""Soft confusion matrices: how a model spreads its tempered probability over the labels,
averaged per true label (the interpolation figures of arXiv 2602.15438's public code).

For logits ``z(x)`` (K labels), true labels ``y`` and temperature ``T`` (10 in the
authors' interpolation evaluation), row ``i`` is the mean over the inputs of true label
``i`` of the tempered softmax:

    M[i, j] = (1/|X_i|) Σ_{x ∈ X_i} softmax(z(x) / T)_j,   X_i = {x : y(x) = i}.

Each row that has inputs sums to 1; a high ``T`` flattens the rows towards 1/K and so
shows how the model ranks the runner-up labels, which a hard confusion matrix hides.
Computed in float64 NumPy.
"""

from __future__ import annotations

import numpy as np
from scipy.special import softmax

from repsim_jax.errors import InputError

__all__ = ["AUTHORS_TEMPERATURE", "soft_confusion"]

AUTHORS_TEMPERATURE = 10.0


def _checked(logits, labels, temperature: float) -> tuple[np.ndarray, np.ndarray]:
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels)
    if logits.ndim != 2 or logits.shape[0] == 0:
        raise InputError(f"soft_confusion: logits must be a non-empty (n, K) array, got shape {logits.shape}")
    if not np.all(np.isfinite(logits)):
        raise InputError("soft_confusion: logits contain NaN or inf")
    if labels.shape != (logits.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(
            f"soft_confusion: labels must be {logits.shape[0]} integers, got {labels.dtype} {labels.shape}"
        )
    if labels.min() < 0 or labels.max() >= logits.shape[1]:
        raise InputError(
            f"soft_confusion: labels must lie in [0, {logits.shape[1]}), got {labels.min()}…{labels.max()}"
        )
    if not (np.isfinite(temperature) and temperature > 0):
        raise InputError(f"soft_confusion: temperature must be a positive number, got {temperature}")
    return logits, labels


def soft_confusion(logits, labels, temperature: float = AUTHORS_TEMPERATURE) -> np.ndarray:
    """The (K, K) soft confusion matrix ``M`` of the module docstring (float64).

    Args:
      logits: (n, K) logits of one model on a split.
      labels: (n,) true labels in ``[0, K)``.
      temperature: ``T`` (default 10, the authors' value).

    Returns ``M``; a label without inputs in the split has an undefined row, returned as
    NaN (the authors' code leaves it 0, which reads as a row of confident mistakes).
    """
    logits, labels = _checked(logits, labels, float(temperature))
    num_labels = logits.shape[1]
    probs = softmax(logits / temperature, axis=1)
    sums = np.zeros((num_labels, num_labels))
    np.add.at(sums, labels, probs)
    counts = np.bincount(labels, minlength=num_labels).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts[:, None] > 0, sums / counts[:, None], np.nan)
