"""Killed-and-resumed equals uninterrupted; NaN stops and keeps the last good checkpoint;
metrics.jsonl; the reference schedule."""

import json
import os
import signal
import subprocess
import sys
import time

import _common
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import WORKER, assert_same, flat_state, worker_env

from repsim_jax.losses import get_loss
from repsim_jax.models import Classifier, MLPEncoder
from repsim_jax.train import fit, make_optimizer, reference_schedule
from repsim_jax.train.checkpoint import Checkpointer
from repsim_jax.train.loop import NonFiniteLossError

EPOCHS = 40


def _committed(workdir):
    ckpts = workdir / "checkpoints"
    return ckpts.exists() and any(p.name.isdigit() for p in ckpts.iterdir())


def _kill_after_first_checkpoint(mode, tmp_path, workdir):
    proc = subprocess.Popen(
        [sys.executable, WORKER, mode, str(tmp_path / "x.npz"), str(workdir), str(EPOCHS)],
        env=worker_env(),
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 180
    while not _committed(workdir) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = Checkpointer(workdir).latest_step()
    assert killed_at is not None and killed_at < EPOCHS, "the run was not interrupted mid-way"


@pytest.mark.slow
def test_killed_and_resumed_equals_uninterrupted(tmp_path, run_worker):
    workdir = tmp_path / "killed"
    _kill_after_first_checkpoint("fit", tmp_path, workdir)
    run_worker("fit", tmp_path / "resumed.npz", workdir, EPOCHS)
    uninterrupted = _common.run_fit(tmp_path / "straight", None, num_epochs=EPOCHS)
    assert_same(flat_state(uninterrupted.state), tmp_path / "resumed.npz", atol=1e-6)
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == list(range(1, EPOCHS + 1))


@pytest.mark.slow
def test_killed_meshed_run_resumes_to_the_uninterrupted_result(tmp_path, run_worker):
    """kill -9 during two vmapped seeds on a (seeds=2, data=2) mesh of 4 fake devices,
    then resume there: equal to the same seeds trained without interruption on one device
    (the data order lives in the state's key, so the iterator state resumes exactly)."""
    workdir = tmp_path / "killed"
    _kill_after_first_checkpoint("fit_meshed", tmp_path, workdir)
    run_worker("fit_meshed", tmp_path / "resumed.npz", workdir, EPOCHS)
    uninterrupted = _common.run_fit(tmp_path / "straight", None, seeds=[5, 7], num_epochs=EPOCHS)
    resumed = np.load(tmp_path / "resumed.npz")
    for a, key in zip(flat_state(uninterrupted.state), resumed.files):
        np.testing.assert_allclose(resumed[key], a, rtol=1e-5, atol=1e-6)
    rows = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert sorted((r["epoch"], r["seed"]) for r in rows) == [(e, s) for e in range(1, EPOCHS + 1) for s in (5, 7)]


@pytest.mark.slow
def test_stop_and_rerun_resumes_in_process(tmp_path):
    first = _common.run_fit(tmp_path / "w", 1, num_epochs=3)
    assert first.epochs == 1 and int(first.state.step) == 4
    second = _common.run_fit(tmp_path / "w", None, num_epochs=3)
    assert [r["epoch"] for r in second.history] == [2, 3]
    straight = _common.run_fit(tmp_path / "s", None, num_epochs=3)
    for a, b in zip(flat_state(straight.state), flat_state(second.state)):
        np.testing.assert_allclose(b, a, atol=1e-6, rtol=0)
    finished = _common.run_fit(tmp_path / "w", None, num_epochs=3)
    assert finished.history == []


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    data = _common.distill_data()
    model = Classifier(MLPEncoder(4, hidden=(8,)), _common.NUM_CLASSES)
    kwargs = dict(num_epochs=2, batch_size=16, progress=False)
    fit(model, get_loss("l2"), make_optimizer(), data, tmp_path, **kwargs)
    data["teacher_logits"][5, 0] = np.nan
    with pytest.raises(NonFiniteLossError, match="last good checkpoint .epoch 2."):
        fit(model, get_loss("l2"), make_optimizer(), data, tmp_path, **{**kwargs, "num_epochs": 4})
    assert Checkpointer(tmp_path).latest_step() == 2


def test_bad_inputs_raise_value_error(tmp_path):
    data = _common.distill_data()
    model = Classifier(MLPEncoder(4, hidden=(8,)), _common.NUM_CLASSES)
    with pytest.raises(ValueError, match="batch_size"):
        fit(model, get_loss("ce"), make_optimizer(), data, tmp_path, num_epochs=1, batch_size=1000)
    with pytest.raises(ValueError, match="needs a teacher"):
        fit(
            model,
            get_loss("kl"),
            make_optimizer(),
            {"x": data["x"], "y": data["y"]},
            tmp_path,
            num_epochs=1,
            batch_size=8,
        )
    data["x"][0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        fit(model, get_loss("l2"), make_optimizer(), data, tmp_path, num_epochs=1, batch_size=8)


def test_reference_schedule_closed_form():
    sched = reference_schedule(0.1, warmup_epochs=2, decay=0.5, steps_per_epoch=3)
    epochs = np.arange(18) // 3
    want = np.where(epochs < 2, 1e-4, 0.1 * 0.5 ** np.maximum(epochs - 2, 0))
    np.testing.assert_allclose([float(sched(jnp.int32(s))) for s in range(18)], want, rtol=1e-6)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        reference_schedule(0.1, 1, 0.9, 0)
