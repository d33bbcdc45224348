"""`reproduce concepts`/`geometry` end to end (smoke preset). The concept formulas are
tested in tests/metrics/test_concepts.py."""

import json

import numpy as np
import pytest

from repsim_jax.cli import main

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "experiment, losses",
    [
        ("concepts", "--config.sweep.losses=('kl','l2')"),
        ("geometry", "--config.reproduce.geometry_losses=('kl','kl+procrustes')"),
    ],
)
def test_reproduce_concepts_smoke_writes_summary(tmp_path, experiment, losses):
    assert main(["reproduce", experiment, "--preset", "smoke", "--out", str(tmp_path), "--quiet", losses]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    second = "l2" if experiment == "concepts" else "kl+procrustes"
    assert set(summary["significance"]) == {f"{second}_vs_kl"}
    for loss in ("kl", second):
        for key in ("concept_probe_accuracy", "transfer_r2", "parallelism", "steering_success"):
            values = summary[loss][key]["values"]
            assert len(values) == 2 and np.all(np.isfinite(values))
    assert 0.5 <= summary["teacher"]["concept_probe_accuracy"]["mean"] <= 1
    assert (tmp_path / "metrics.png").stat().st_size > 0
