"""Freed heap memory given back to the operating system between the steps of an evaluation.

glibc keeps freed blocks below its (adaptive, up to 32 MB) mmap threshold in its heap, so
an evaluation that computes many metrics one after another, each allocating and freeing
n × K arrays, holds the sum of their fragments rather than the largest step:
measured on the n = 50,000, K = 100 report (benchmarks/RESULTS.md, "Evaluation memory"),
935 MB were still held after it, of which ``malloc_trim(0)`` gave back 546 MB.
"""

from __future__ import annotations

import ctypes
import functools


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None where the C library has none (macOS, musl)."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # no such symbol, or no C library to open (Windows)
        return None


def release_freed_memory() -> None:
    """``malloc_trim(0)``: the heap's free pages returned to the operating system (a no-op
    without glibc). Changes no setting; what is in use stays where it is."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
