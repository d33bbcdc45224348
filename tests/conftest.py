"""Test-session settings: a non-interactive matplotlib backend, a private data directory,
and JAX's compiled programs released after each test module.

Why the release: every compiled XLA:CPU program keeps its code in a few memory mappings
until its cache entry goes (about 3 mappings a program, measured on JAX 0.10.2). The
whole suite compiles thousands of programs; in one process they passed Linux's default
``vm.max_map_count`` (65,530) near the end of the run, and LLVM's next code allocation
segfaulted inside ``backend_compile`` (CI, test_streaming.py). ``jax.clear_caches()``
after each module keeps a process at a few thousand mappings and its memory flat.
"""

import gc

import jax
import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(scope="session", autouse=True)
def _private_data_dir(tmp_path_factory):
    """Prepared data (``$REPSIM_JAX_DATA_DIR``) in this session's (this worker's) temporary
    directory, so that parallel workers and the user's own cache never share files."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("REPSIM_JAX_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        yield


@pytest.fixture(scope="module", autouse=True)
def _release_compiled_programs():
    """Drop every cached compiled program once a test module is done (module docstring)."""
    yield
    jax.clear_caches()
    gc.collect()
