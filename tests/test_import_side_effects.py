"""Importing repsim_jax changes nothing global but the documented XLA:CPU scheduler flag.

Each check runs in a fresh interpreter: this test process has long imported everything.
The dependencies are imported before the snapshot (jax sets ``TF_CPP_MIN_LOG_LEVEL``,
scikit-learn ``KMP_*`` on import); what is compared is what repsim_jax itself does."""

import json
import os
import subprocess
import sys

import pytest

FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"

PROBE = """
import json, os, sys, warnings
import matplotlib, jax, flax, optax, orbax.checkpoint, sklearn, scipy, tensorflow_datasets
matplotlib.use("svg")  # a user's choice of backend, which importing repsim_jax.plots must keep
env, path, fmt, backend = dict(os.environ), list(sys.path), warnings.formatwarning, matplotlib.get_backend()
import repsim_jax, repsim_jax.cli, repsim_jax.plots
from repsim_jax.config import experiment_config
for _ in range(5):
    experiment_config("synthetic", "smoke"), experiment_config("sub", "smoke")
changed = sorted(k for k in set(env) | set(os.environ) if env.get(k) != os.environ.get(k))
print(json.dumps({
    "changed_env": changed,
    "xla_flags": os.environ.get("XLA_FLAGS"),
    "sys_path_same": sys.path == path,
    "common_module": "common" in sys.modules,
    "formatwarning_same": warnings.formatwarning is fmt,
    "backend_same": matplotlib.get_backend() == backend,
}))
"""


def _probe(xla_flags=None) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "MPLBACKEND")}
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.splitlines()[-1])


def test_import_sets_only_the_scheduler_flag_and_nothing_else():
    seen = _probe()
    assert seen["changed_env"] == ["XLA_FLAGS"] and seen["xla_flags"] == f"{FLAG}=false"
    assert seen["sys_path_same"] and not seen["common_module"]
    assert seen["formatwarning_same"] and seen["backend_same"]


@pytest.mark.slow
def test_a_users_xla_flags_are_kept_and_the_workaround_can_be_opted_out_of():
    assert _probe(f"{FLAG}=true")["changed_env"] == []
    seen = _probe("--xla_force_host_platform_device_count=2")
    assert seen["xla_flags"] == f"--xla_force_host_platform_device_count=2 {FLAG}=false"
