"""repsim_jax.heap: freed memory given back between evaluation steps (glibc malloc_trim)."""

import platform

import numpy as np
import pytest

from repsim_jax import heap


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_on_glibc_the_release_is_malloc_trim_and_keeps_live_arrays():
    assert heap._malloc_trim() is not None  # not silently a no-op where it matters
    live = np.arange(1 << 20, dtype=np.float64)
    garbage = [np.ones(1 << 16) for _ in range(64)]  # 512 kB blocks: heap, not mmap
    del garbage[::2]
    heap.release_freed_memory()
    assert live.sum() == (1 << 20) * ((1 << 20) - 1) / 2  # what is in use is untouched
    assert all(block.sum() == 1 << 16 for block in garbage)
