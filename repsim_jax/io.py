"""Representations saved by any framework, as ``.npz`` files.

An ``.npz`` holds ``embeddings`` (n, d), optionally ``unembeddings`` (K, d) and
``logits`` (n, K). Loading checks every array (float dtype, rank, finite values,
matching n, d and K) and raises ``ValueError`` naming the file and the problem.
"""

from __future__ import annotations

import os
import zipfile
from typing import NamedTuple, Optional

import numpy as np

from repsim_jax.metrics import _validate


class Representation(NamedTuple):
    """One model's arrays on a shared set of inputs."""

    embeddings: np.ndarray
    unembeddings: Optional[np.ndarray] = None
    logits: Optional[np.ndarray] = None

    @property
    def all_logits(self) -> Optional[np.ndarray]:
        """Stored logits, else ``embeddings @ unembeddingsᵀ`` when unembeddings exist."""
        if self.logits is not None:
            return self.logits
        if self.unembeddings is not None:
            return self.embeddings @ self.unembeddings.T
        return None


def _checked(path: str, name: str, value, ndim: int) -> np.ndarray:
    try:
        return np.asarray(_validate.as_float_array(name, value, ndim))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def load_representation(path: str) -> Representation:
    """Reads and validates one ``.npz`` representation file."""
    if not os.path.isfile(path):
        raise ValueError(f"{path}: no such file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: not a readable .npz file ({error})") from None
    if "embeddings" not in arrays:
        raise ValueError(f"{path}: missing key 'embeddings' (found {sorted(arrays) or 'no arrays'})")
    embeddings = _checked(path, "embeddings", arrays["embeddings"], 2)
    unembeddings = logits = None
    if "unembeddings" in arrays:
        unembeddings = _checked(path, "unembeddings", arrays["unembeddings"], 2)
        if unembeddings.shape[1] != embeddings.shape[1]:
            raise ValueError(f"{path}: unembeddings width {unembeddings.shape[1]} != embeddings width "
                             f"{embeddings.shape[1]}")
    if "logits" in arrays:
        logits = _checked(path, "logits", arrays["logits"], 2)
        if logits.shape[0] != embeddings.shape[0]:
            raise ValueError(f"{path}: logits have {logits.shape[0]} rows, embeddings {embeddings.shape[0]}")
        if unembeddings is not None and logits.shape[1] != unembeddings.shape[0]:
            raise ValueError(f"{path}: logits have {logits.shape[1]} labels, unembeddings {unembeddings.shape[0]}")
    return Representation(embeddings, unembeddings, logits)


def load_pair(path_a: str, path_b: str) -> tuple[Representation, Representation]:
    """Loads two representations of the same inputs (equal n; equal K where both have labels)."""
    a, b = load_representation(path_a), load_representation(path_b)
    if a.embeddings.shape[0] != b.embeddings.shape[0]:
        raise ValueError(f"row (input) counts differ: {path_a} has {a.embeddings.shape[0]}, "
                         f"{path_b} has {b.embeddings.shape[0]}")
    la, lb = a.all_logits, b.all_logits
    if la is not None and lb is not None and la.shape[1] != lb.shape[1]:
        raise ValueError(f"label counts differ: {path_a} has {la.shape[1]}, {path_b} has {lb.shape[1]}")
    return a, b
