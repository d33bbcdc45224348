"""Killed-and-resumed equals uninterrupted; NaN stops and keeps the last good checkpoint;
damaged checkpoints are skipped; metrics.jsonl agrees with the checkpoints; the
reference schedule."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import _common
import jax.numpy as jnp
import numpy as np
import pytest
import test_curve_rows
from conftest import WORKER, assert_same, flat_state, worker_env
from etils import epath

from repsim_jax.errors import InputError
from repsim_jax.losses import get_loss
from repsim_jax.models import Classifier, MLPEncoder
from repsim_jax.train import Data, Schedule, Student, Teacher, fit, make_optimizer, reference_schedule
from repsim_jax.train.checkpoint import Checkpointer
from repsim_jax.train.loop import NonFiniteLossError, _MetricsLog, _stopped

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
    curves = test_curve_rows.curve_hook(_common.distill_data(32), [0])  # report quantities in the rows
    first = _common.run_fit(tmp_path / "w", 1, num_epochs=3, curves=curves)
    assert first.epochs == 1 and int(first.state.step) == 4
    second = _common.run_fit(tmp_path / "w", None, num_epochs=3, curves=curves)
    assert [r["epoch"] for r in second.history] == [2, 3]
    straight = _common.run_fit(tmp_path / "s", None, num_epochs=3, curves=curves)
    for a, b in zip(flat_state(straight.state), flat_state(second.state)):
        np.testing.assert_allclose(b, a, atol=1e-6, rtol=0)
    # bit-equal is the property: the resumed run logs what the uninterrupted one does, curves included
    assert "eval/test/kl_divergence" in straight.history[-1]
    assert (tmp_path / "w" / "metrics.jsonl").read_text() == (tmp_path / "s" / "metrics.jsonl").read_text()
    finished = _common.run_fit(tmp_path / "w", None, num_epochs=3)
    assert finished.history == []


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    data = _common.distill_data()
    model = Classifier(MLPEncoder(4, hidden=(8,)), _common.NUM_CLASSES)
    student = Student(model, get_loss("l2"), make_optimizer())
    fit(student, Data(data), tmp_path, Schedule(2, 16, progress=False))
    data["teacher_logits"][5, 0] = np.nan
    with pytest.raises(NonFiniteLossError, match="last good checkpoint .epoch 2."):
        fit(student, Data(data), tmp_path, Schedule(4, 16, progress=False))
    assert Checkpointer(tmp_path).latest_step() == 2


def test_bad_inputs_raise_value_error(tmp_path):
    data = _common.distill_data()
    model = Classifier(MLPEncoder(4, hidden=(8,)), _common.NUM_CLASSES)
    with pytest.raises(ValueError, match="batch_size"):
        fit(Student(model, get_loss("ce"), make_optimizer()), Data(data), tmp_path, Schedule(1, 1000))
    with pytest.raises(ValueError, match="needs a teacher"):
        unlabelled = Data({"x": data["x"], "y": data["y"]})
        fit(Student(model, get_loss("kl"), make_optimizer()), unlabelled, tmp_path, Schedule(1, 8))
    data["x"][0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        fit(Student(model, get_loss("l2"), make_optimizer()), Data(data), tmp_path, Schedule(1, 8))
    with pytest.raises(ValueError, match="distinct and non-empty"):
        Student(model, get_loss("l2"), make_optimizer(), seeds=[3, 3])
    with pytest.raises(ValueError, match="num_epochs, eval_every and checkpoint_every"):
        Schedule(0, 8)
    with pytest.raises(ValueError, match="teacher.mode must be"):
        Teacher(None, "sometimes")


def test_reference_schedule_closed_form():
    sched = reference_schedule(0.1, warmup_epochs=2, decay=0.5, steps_per_epoch=3)
    epochs = np.arange(18) // 3
    want = np.where(epochs < 2, 1e-4, 0.1 * 0.5 ** np.maximum(epochs - 2, 0))
    np.testing.assert_allclose([float(sched(jnp.int32(s))) for s in range(18)], want, rtol=1e-6)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        reference_schedule(0.1, 1, 0.9, 0)


def _epochs(workdir):
    return [json.loads(line)["epoch"] for line in (workdir / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """3 uninterrupted epochs, a checkpoint after each: ``(workdir, FitResult)``."""
    workdir = tmp_path_factory.mktemp("straight")
    return workdir, _common.run_fit(workdir, None, num_epochs=3)


@pytest.fixture
def copy(straight, tmp_path):
    shutil.copytree(straight[0], tmp_path / "w")
    return tmp_path / "w"


def _data_files(step_dir):
    """The OCDBT data files of a step (orbax keeps a copy per process and a merged one)."""
    return [p for p in step_dir.rglob("*") if p.parent.name == "d"]


def _damage(step_dir, how):
    """The damages of issue 21 (case 4) to one committed checkpoint step."""
    if how == "truncated data files":
        for data in _data_files(step_dir):
            data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    elif how == "garbage data files":
        for data in _data_files(step_dir):
            data.write_bytes(np.random.default_rng(0).bytes(data.stat().st_size))
    elif how == "state deleted":
        shutil.rmtree(step_dir / "state")
    elif how == "manifests deleted":
        for manifest in step_dir.rglob("manifest.ocdbt"):
            manifest.unlink()
    elif how == "garbage meta":
        (step_dir / "meta" / "metadata").write_text("garbage")


DAMAGES = ["truncated data files", "garbage data files", "state deleted", "manifests deleted", "garbage meta"]


def _restore(workdir, target, step=None):
    ckpt = Checkpointer(workdir, read_only=True)
    try:
        return ckpt.restore(target, step)
    finally:
        ckpt.close()


@pytest.mark.parametrize("how", DAMAGES)
def test_a_damaged_newest_checkpoint_is_skipped_in_one_line(straight, copy, how, capfd):
    """Defect (issue 21, case 4): a damaged newest checkpoint gave a traceback (ZSTD error,
    KeyError 'state', a multi-kilobyte line, a JSON error naming no file) although the
    earlier steps were intact."""
    workdir, result = straight
    _damage(copy / "checkpoints" / "3", how)
    capfd.readouterr()
    with pytest.warns(UserWarning, match=r"skipped checkpoint .*/checkpoints/3: it does not restore \(") as seen:
        state, meta = _restore(copy, result.state)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Exception ignored" not in err, err[:2000]
    skipped = [str(w.message) for w in seen if "skipped" in str(w.message)]
    assert len(skipped) == 1 and "\n" not in skipped[0] and len(skipped[0]) < 300
    assert meta["data_state"]["epoch"] == 2
    expected, _ = _restore(workdir, result.state, step=2)
    for a, b in zip(flat_state(expected), flat_state(state)):
        np.testing.assert_array_equal(b, a)  # the same bytes: step 2 restored whole


def test_no_restorable_checkpoint_is_one_line_naming_the_directory(straight, copy):
    for step in (1, 2, 3):
        _damage(copy / "checkpoints" / str(step), "state deleted")
    with pytest.warns(UserWarning):  # steps 3 and 2 skipped
        with pytest.raises(InputError, match=f"no checkpoint in {copy / 'checkpoints'} restores") as error:
            _restore(copy, straight[1].state)
    assert "\n" not in str(error.value)


@pytest.mark.slow
def test_fit_resumes_past_a_damaged_checkpoint_to_the_uninterrupted_result(straight, copy):
    """The damaged step 3 is skipped and deleted, epoch 3 is trained again from step 2:
    bit-equal to the uninterrupted run (one program, every draw from the state's key),
    and each epoch is logged once."""
    _damage(copy / "checkpoints" / "3", "garbage data files")
    with pytest.warns(UserWarning, match=r"(skipped|deleted damaged) checkpoint .*/checkpoints/3") as seen:
        resumed = _common.run_fit(copy, None, num_epochs=3)
    assert any("deleted damaged checkpoint" in str(w.message) for w in seen)
    assert [r["epoch"] for r in resumed.history] == [3]
    for a, b in zip(flat_state(straight[1].state), flat_state(resumed.state)):
        np.testing.assert_array_equal(b, a)
    assert _epochs(copy) == [1, 2, 3]
    assert Checkpointer(copy, read_only=True).steps() == [1, 2, 3]


def test_a_run_killed_before_its_first_checkpoint_logs_each_epoch_once(straight, copy):
    """Defect (issue 21, case 3): rows of a run that died before its first checkpoint
    committed stayed in metrics.jsonl and the re-run appended them again; a partial last
    line made every resume fail."""
    shutil.rmtree(copy / "checkpoints")
    with (copy / "metrics.jsonl").open("a") as log:
        log.write('{"epoch": 4, "step": 1')
    again = _common.run_fit(copy, None, num_epochs=3)
    assert _epochs(copy) == [1, 2, 3]
    for a, b in zip(flat_state(straight[1].state), flat_state(again.state)):
        np.testing.assert_array_equal(b, a)


def test_metrics_log_cut_back_to_the_checkpoint(tmp_path):
    """Rows after the restored epoch go, a partial last line goes, a complete line that
    is not JSON goes with a warning; TensorBoard purges after the restored step."""
    log = _MetricsLog(epath.Path(tmp_path), [0], grouped=False)
    rows = [{"epoch": e, "step": 4 * e, "seed": 0} for e in (1, 2, 3)]
    lines = [json.dumps(r) + "\n" for r in rows]
    log.path.write_text(lines[0] + "garbage\n" + "".join(lines[1:]) + '{"epoch": 4, "st')
    (tmp_path / "tb").mkdir()
    with pytest.warns(UserWarning, match=r"metrics.jsonl: dropped line\(s\) 2, not JSON"):
        log.truncate_after(2, 8)
    assert log.path.read_text() == "".join(lines[:2])
    assert log._purge_step == 9
    log.truncate_after(0, 0)
    assert log.path.read_text() == ""


def test_fit_refuses_fewer_epochs_than_its_checkpoint_holds(copy):
    """Defect (issue 21, case 5): fit returned the 3-epoch state for num_epochs=2."""
    log = (copy / "metrics.jsonl").read_text()
    with pytest.raises(InputError, match=r"checkpoints/3 holds a model trained for 3 epochs, more than num_epochs=2"):
        _common.run_fit(copy, None, num_epochs=2)
    assert (copy / "metrics.jsonl").read_text() == log


def test_the_nan_message_says_what_is_kept():
    """Defect (issue 21, case 10): "the last good checkpoint (epoch 0) is kept" with no checkpoint."""
    losses = np.array([[1.0, 2.0], [3.0, np.inf]])
    none = _stopped(losses, 0, [5, 7], 0, "W/checkpoints")
    assert none == (
        "non-finite loss inf at epoch 1, step 2 (seed 7); stopped, no checkpoint was saved before it "
        "(W/checkpoints holds none), so a re-run starts afresh"
    )
    assert _stopped(losses, 4, [5, 7], 3, "W/checkpoints").endswith(
        "at epoch 5, step 2 (seed 7); stopped, the last good checkpoint (epoch 3) is kept in W/checkpoints"
    )


@pytest.mark.slow
def test_nan_before_any_checkpoint_says_none_was_saved(tmp_path):
    """The message above from a run: NaN teacher outputs from the first epoch on."""
    data = _common.distill_data()
    data["teacher_logits"][5, 0] = np.nan
    model = Classifier(MLPEncoder(4, hidden=(8,)), _common.NUM_CLASSES)
    with pytest.raises(NonFiniteLossError, match="no checkpoint was saved before it") as error:
        fit(Student(model, get_loss("l2"), make_optimizer()), Data(data), tmp_path, Schedule(2, 16, progress=False))
    assert "is kept" not in str(error.value)
    assert Checkpointer(tmp_path, read_only=True).steps() == []


@pytest.mark.slow
def test_killed_before_or_after_its_first_checkpoint_logs_each_epoch_once(tmp_path, run_worker):
    """kill -9 as soon as the first row is logged (most often before the first checkpoint
    commits), then after a few rows; every resume leaves epochs 1..EPOCHS logged once."""
    workdir = tmp_path / "killed"
    for rows in (1, 5):
        proc = subprocess.Popen(
            [sys.executable, WORKER, "fit", str(tmp_path / "x.npz"), str(workdir), str(EPOCHS)],
            env=worker_env(),
            stderr=subprocess.DEVNULL,
        )
        log = workdir / "metrics.jsonl"
        deadline = time.time() + 180
        while time.time() < deadline and proc.poll() is None:
            if log.exists() and log.read_text().count("\n") >= rows:
                break
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    run_worker("fit", tmp_path / "resumed.npz", workdir, EPOCHS)
    assert _epochs(workdir) == list(range(1, EPOCHS + 1))
