"""Helpers for the training tests: subprocess runner and flattened-state comparison."""

import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
WORKER = os.path.join(HERE, "_worker.py")
ROOT = os.path.dirname(os.path.dirname(HERE))


def worker_env():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT, env.get("PYTHONPATH", "")])
    env.pop("XLA_FLAGS", None)
    return env


@pytest.fixture
def run_worker():
    def run(*args, timeout=240):
        proc = subprocess.run(
            [sys.executable, WORKER, *map(str, args)], env=worker_env(), capture_output=True, text=True, timeout=timeout
        )
        assert proc.returncode == 0, proc.stderr[-3000:]

    return run


@pytest.fixture
def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def flat_state(state):
    """Params, optimiser state and BatchNorm stats as a list of NumPy arrays."""
    return [np.asarray(x) for x in jax.tree.leaves((state.params, state.opt_state, state.batch_stats))]


def assert_same(expected, npz_path, atol=1e-5):
    got = np.load(npz_path)
    assert len(got.files) == len(expected)
    for i, want in enumerate(expected):
        np.testing.assert_allclose(got[f"arr_{i}"], want, atol=atol, rtol=0)
