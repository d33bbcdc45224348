"""Representations saved by any framework, as ``.npz`` files.

An ``.npz`` holds ``embeddings`` (n, d), optionally ``unembeddings`` (K, d) and
``logits`` (n, K). Loading checks every array (float dtype, rank, finite values,
matching n, d and K) and raises :class:`~repsim_jax.errors.InputError` (a ``ValueError``)
naming the file and the problem; float16 arrays are upcast to float32 (exactly).
Outputs (:func:`save_npz`, :func:`write_rows`) are written to a temporary file in the
same directory and renamed into place, so a failed write (a full disk) leaves no
partial file under the requested name.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import zipfile
import zlib
from typing import NamedTuple, Optional

import numpy as np

from repsim_jax.errors import InputError
from repsim_jax.metrics import checks


class Representation(NamedTuple):
    """One model's arrays on a shared set of inputs."""

    embeddings: np.ndarray
    unembeddings: Optional[np.ndarray] = None
    logits: Optional[np.ndarray] = None

    @property
    def num_labels(self) -> Optional[int]:
        """K from the stored logits or unembeddings; None when the file has neither."""
        for array, axis in ((self.logits, 1), (self.unembeddings, 0)):
            if array is not None:
                return array.shape[axis]
        return None

    @property
    def all_logits(self) -> Optional[np.ndarray]:
        """Stored logits, else ``embeddings @ unembeddingsᵀ`` when unembeddings exist."""
        if self.logits is not None:
            return self.logits
        if self.unembeddings is not None:
            return self.embeddings @ self.unembeddings.T
        return None


def _checked(path: str, name: str, value, ndim: int) -> np.ndarray:
    if value.dtype == np.float16:
        value = value.astype(np.float32)
    try:
        return np.asarray(checks.as_float_array(name, value, ndim))
    except ValueError as error:
        raise InputError(f"{path}: {error}") from None


ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
"""The first bytes of a zip archive (an empty one: the second), as ``numpy.load`` tests them."""


def _read_arrays(path: str) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` archive at ``path``, or InputError saying what it is not."""
    with open(path, "rb") as file:
        head = file.read(4)
    if not head:
        raise InputError(f"{path}: empty file, not an .npz archive")
    if not head.startswith(ZIP_MAGIC):
        raise InputError(f"{path}: not an .npz archive (a zip of .npy arrays as numpy.savez writes)")
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as error:
        raise InputError(f"{path}: not a readable .npz file ({' '.join(str(error).split())})") from None


def load_representation(path: str) -> Representation:
    """Reads and validates one ``.npz`` representation file."""
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    arrays = _read_arrays(path)
    if "embeddings" not in arrays:
        raise InputError(f"{path}: missing key 'embeddings' (found {sorted(arrays) or 'no arrays'})")
    embeddings = _checked(path, "embeddings", arrays["embeddings"], 2)
    unembeddings = logits = None
    if "unembeddings" in arrays:
        unembeddings = _checked(path, "unembeddings", arrays["unembeddings"], 2)
        if unembeddings.shape[1] != embeddings.shape[1]:
            raise InputError(
                f"{path}: unembeddings width {unembeddings.shape[1]} != embeddings width {embeddings.shape[1]}"
            )
    if "logits" in arrays:
        logits = _checked(path, "logits", arrays["logits"], 2)
        if logits.shape[0] != embeddings.shape[0]:
            raise InputError(f"{path}: logits have {logits.shape[0]} rows, embeddings {embeddings.shape[0]}")
        if unembeddings is not None and logits.shape[1] != unembeddings.shape[0]:
            raise InputError(f"{path}: logits have {logits.shape[1]} labels, unembeddings {unembeddings.shape[0]}")
    return Representation(embeddings, unembeddings, logits)


def check_compatible(path_a: str, a: Representation, path_b: str, b: Representation) -> None:
    """Raises unless two representations share their inputs (n) and, where both have labels, K."""
    if a.embeddings.shape[0] != b.embeddings.shape[0]:
        raise InputError(
            f"row (input) counts differ: {path_a} has {a.embeddings.shape[0]}, {path_b} has {b.embeddings.shape[0]}"
        )
    ka, kb = a.num_labels, b.num_labels
    if ka is not None and kb is not None and ka != kb:
        raise InputError(f"label counts differ: {path_a} has {ka}, {path_b} has {kb}")


@contextlib.contextmanager
def replaced_atomically(path: str, mode: str = "wb", **kwargs):
    """A handle to a temporary file beside ``path`` that becomes ``path`` (``os.replace``)
    when the block ends without an error; removed otherwise."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".{os.path.basename(path)}.partial")
    try:
        with open(temporary, mode, **kwargs) as handle:
            yield handle
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def read_texts(path: str) -> list[str]:
    """The non-empty (not whitespace-only) lines of a UTF-8 file, without line endings;
    InputError naming the file when it is not UTF-8 or has no such line."""
    try:
        with open(path, encoding="utf-8") as file:
            texts = [line.rstrip("\r\n") for line in file if line.strip()]
    except UnicodeDecodeError as error:
        raise InputError(f"{path}: not UTF-8 text ({error.reason})") from None
    if not texts:
        raise InputError(f"{path}: no non-empty lines of text")
    return texts


def save_npz(path: str, arrays: dict) -> None:
    """``arrays`` as an uncompressed ``.npz`` at exactly ``path`` (no suffix added)."""
    with replaced_atomically(path) as handle:
        np.savez(handle, **arrays)


def write_rows(rows: list[dict], path: str, flatten=lambda row: row) -> None:
    """``rows`` as JSON (a ``.json`` path) or as CSV of ``flatten(row)`` (columns in
    order of first appearance)."""
    if path.endswith(".json"):
        with replaced_atomically(path, "w") as handle:
            json.dump(rows, handle, indent=2)
        return
    flat = [flatten(row) for row in rows]
    with replaced_atomically(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(key for row in flat for key in row)))
        writer.writeheader()
        writer.writerows(flat)
