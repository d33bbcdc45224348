"""Training curves (config ``eval.curves``): report quantities in metrics.jsonl and
TensorBoard at every evaluated epoch (a resumed run's rows: test_resume.py)."""

import json

import _common
import jax
import numpy as np
import pytest
import scipy.special
from test_tensorboard import _scalars

from repsim_jax.evaluate import Curves
from repsim_jax.experiment import trained_models
from repsim_jax.models import Classifier, MLPEncoder, TrainedModel

SEEDS = [5, 7]
NAMES = ("accuracy", "agreement", "kl_divergence", "mean_cca")


def _student_model():
    return Classifier(MLPEncoder(4, hidden=(16, 16)), _common.NUM_CLASSES)  # run_fit's student


def _curves(data, seeds=SEEDS):
    """The teacher (random) and the hook of a run_fit of ``seeds``: Curves of NAMES on ``data``."""
    teacher_model = Classifier(MLPEncoder(3, hidden=(8,)), _common.NUM_CLASSES)
    teacher = TrainedModel(teacher_model, teacher_model.init(jax.random.key(1), data["x"][:1]))
    curves = Curves(NAMES, {"test": data}, teacher)
    return teacher, lambda state: curves(trained_models(_student_model(), state, seeds))


def _rows(workdir):
    return [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]


def curve_hook(data, seeds):
    """``fit``'s ``curves`` for run_fit's student of ``seeds``, on ``data`` (test_resume.py)."""
    return _curves(data, seeds)[1]


@pytest.mark.slow
def test_curve_rows_equal_numpy_and_reach_tensorboard(tmp_path):
    data = _common.distill_data(32)
    teacher, hook = _curves(data)
    whole = tmp_path / "whole"
    result = _common.run_fit(whole, None, seeds=SEEDS, num_epochs=2, curves=hook, checkpoint_every=2)
    rows = _rows(whole)
    assert [(r["epoch"], r["seed"]) for r in rows] == [(e, s) for e in (1, 2) for s in SEEDS]
    assert all({f"eval/test/{name}" for name in NAMES} <= set(r) for r in rows)
    # the last rows against float64 NumPy on the final models
    _, t_logits = teacher.outputs(data["x"])
    p = scipy.special.softmax(np.float64(t_logits), -1)
    for model, row in zip(trained_models(_student_model(), result.state, SEEDS), rows[-2:]):
        _, logits = model.outputs(data["x"])
        q = scipy.special.softmax(np.float64(logits), -1)
        assert row["eval/test/accuracy"] == pytest.approx(np.mean(q.argmax(-1) == data["y"]), abs=1e-12)
        assert row["eval/test/agreement"] == pytest.approx(np.mean(q.argmax(-1) == p.argmax(-1)), abs=1e-12)
        kl = np.mean(np.sum(p * (np.log(p) - np.log(q)), -1))
        assert row["eval/test/kl_divergence"] == pytest.approx(kl, rel=1e-4)
        assert 0 <= row["eval/test/mean_cca"] <= 1 + 1e-6

    for seed in SEEDS:
        scalars = _scalars(whole / "tb" / f"seed{seed}")
        for row in (r for r in rows if r["seed"] == seed):
            assert scalars[("eval/test/kl_divergence", row["step"])] == pytest.approx(
                row["eval/test/kl_divergence"], rel=1e-6
            )
