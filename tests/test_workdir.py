"""Workdirs (repsim_jax.workdir): one owner (a lock), one config (checked before a re-run
writes anything), atomic JSON, paths that do not depend on the current directory, and
damaged JSON that gives one line instead of blocking. Tiny spirals runs through the API."""

import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from repsim_jax import experiment, workdir
from repsim_jax.cli import main
from repsim_jax.config import experiment_config, with_values
from repsim_jax.errors import InputError
from repsim_jax.train.loop import NonFiniteLossError

TINY = {
    "data.points_per_arm": 20,
    "num_epochs": 2,
    "batch_size": 32,
    "model.hidden": (16, 16),
    "model.embedding_dim": 4,
    "eval.every": 1,
    "checkpoint.every": 1,
}


def _config(**values):
    return with_values(experiment_config("synthetic", "smoke"), {**TINY, **values})


def _train(path, **values):
    return experiment.train_and_evaluate(_config(**values), str(path), progress=False)


def _epochs(path):
    return [json.loads(line)["epoch"] for line in (path / "metrics.jsonl").read_text().splitlines()]


def _same_variables(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A teacher and an L2 student trained from ``root`` with relative workdirs and a
    relative ``teacher.workdir``, as a user in ``root`` would type them."""
    root = tmp_path_factory.mktemp("start")
    before = os.getcwd()
    os.chdir(root)
    try:
        teacher = _train("runs/teacher")
        student = _train("runs/student", **{"loss.name": "l2", "teacher.workdir": "runs/teacher"})
    finally:
        os.chdir(before)
    return root, teacher, student


@pytest.fixture
def trained(runs, tmp_path):
    """A fresh copy of the 2-epoch teacher workdir."""
    copy = tmp_path / "w"
    shutil.copytree(runs[0] / "runs" / "teacher", copy)
    return copy


# --- paths ------------------------------------------------------------------------


def test_config_json_stores_the_teacher_path_absolute(runs):
    """Defect (issue 19): the teacher path was stored relative to the directory the run started in."""
    root, _, _ = runs
    stored = json.loads((root / "runs" / "student" / "config.json").read_text())
    assert stored["teacher"]["workdir"] == str(root / "runs" / "teacher")


def test_evaluate_from_another_directory(runs, tmp_path, monkeypatch, capsys):
    """`cd elsewhere && repsim-jax evaluate --workdir /abs/student` finds its teacher."""
    root, _, student = runs
    monkeypatch.chdir(tmp_path)
    assert main(["evaluate", f"--workdir={root / 'runs' / 'student'}"]) == 0, capsys.readouterr().err
    report = json.loads((root / "runs" / "student" / "report.json").read_text())
    assert report["test"]["mean_cca"] == pytest.approx(student.reports[0]["test"]["mean_cca"], rel=1e-6)


def test_a_relative_teacher_path_of_the_current_release_still_restores(runs, tmp_path, monkeypatch):
    """config.json written by the current release holds ``teacher.workdir=runs/teacher``
    (relative to where it started): read from that directory (the current directory first)
    or from anywhere else (found under an ancestor of the workdir)."""
    root, teacher, _ = runs
    old = root / "runs" / "old_student"
    shutil.copytree(root / "runs" / "student", old)
    stored = json.loads((old / "config.json").read_text())
    stored["teacher"]["workdir"] = "runs/teacher"
    (old / "config.json").write_text(json.dumps(stored))
    for cwd in (root, tmp_path):
        monkeypatch.chdir(cwd)
        run = experiment.restore(str(old))
        assert run.config.teacher.workdir == str(root / "runs" / "teacher")
        assert _same_variables(experiment.restore(run.config.teacher.workdir).model.variables, teacher.model.variables)


def test_with_absolute_paths_leaves_empty_and_remote_paths_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = _config(**{"teacher.workdir": "t", "data.data_dir": "gs://bucket/data", "model.init_from": ""})
    fixed = workdir.with_absolute_paths(config)
    assert fixed.teacher.workdir == str(tmp_path / "t")
    assert (fixed.data.data_dir, fixed.model.init_from) == ("gs://bucket/data", "")
    assert config.teacher.workdir == "t"  # a copy


# --- one config -------------------------------------------------------------------


def test_a_changed_model_is_refused_before_anything_is_written(trained):
    """Defect (issue 21, case 1): config.json was overwritten, then restoring failed on shapes,
    and the trained model could no longer be loaded."""
    before = {name: (trained / name).read_bytes() for name in ("config.json", "metrics.jsonl", "report.json")}
    with pytest.raises(InputError, match=r"model\.hidden stored \[16, 16\], requested \[32, 32\]") as error:
        _train(trained, **{"model.hidden": (32, 32), "optim.learning_rate": 0.5})
    assert "optim.learning_rate stored 0.001, requested 0.5" in str(error.value)
    assert "\n" not in str(error.value)
    assert {name: (trained / name).read_bytes() for name in before} == before
    assert tuple(experiment.restore(str(trained)).config.model.hidden) == (16, 16)


def test_fewer_epochs_than_trained_are_refused(trained):
    """Defect (issue 21, case 5): a re-run with fewer epochs exited 0, its config.json saying 1
    epoch over the 2-epoch model and report."""
    config_json = (trained / "config.json").read_bytes()
    with pytest.raises(InputError, match=r"trained for 2 epochs \(checkpoint .*/checkpoints/2\); num_epochs=1"):
        _train(trained, num_epochs=1)
    assert (trained / "config.json").read_bytes() == config_json


@pytest.mark.slow
def test_allowed_changes_are_listed_and_applied(trained):
    with pytest.warns(UserWarning, match=r"applies config changes: checkpoint\.keep 3 -> 5; num_epochs 2 -> 3"):
        run = _train(trained, num_epochs=3, **{"checkpoint.keep": 5})
    assert json.loads((trained / "config.json").read_text())["num_epochs"] == 3
    rows = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    per_epoch = rows[0]["step"]
    assert [(r["epoch"], r["step"]) for r in rows] == [(e, e * per_epoch) for e in (1, 2, 3)]
    assert int(run.state.step) == 3 * per_epoch


def test_config_changes_names_every_refused_key_and_allows_the_listed_ones():
    stored = _config()
    changed = with_values(stored, {"eval.num_pivots": 3, "mesh.data": 2, "loss.temperature": 2.0, "seeds": (0, 1)})
    with pytest.raises(InputError) as error:
        workdir.config_changes("W", stored, changed, trained_epochs=2)
    message = str(error.value)
    assert "loss.temperature stored 1.0, requested 2.0; seeds stored [0], requested [0, 1]" in message
    assert "eval.num_pivots" not in message.split("; a re-run")[0]
    allowed = with_values(stored, {"eval.num_pivots": 3, "mesh.data": 2, "loss.teacher_dim": 9})
    assert workdir.config_changes("W", stored, allowed, 2) == ["eval.num_pivots 10 -> 3", "mesh.data 0 -> 2"]
    assert workdir.config_changes("W", stored, changed, None)  # nothing trained yet: any change


@pytest.mark.slow
def test_a_run_killed_before_its_first_checkpoint_starts_afresh(trained):
    """Defect (issue 21, case 3): metrics.jsonl kept the rows of a run killed before its first
    checkpoint committed, and the re-run appended them again. Without a checkpoint nothing
    trained is kept, so the re-run may also change the model."""
    shutil.rmtree(trained / "checkpoints")
    with (trained / "metrics.jsonl").open("a") as log:
        log.write('{"epoch": 3, "st')  # a row cut short by the kill
    with pytest.warns(UserWarning, match=r"model\.hidden \[16, 16\] -> \[8, 8\]"):
        run = _train(trained, **{"model.hidden": (8, 8)})
    assert _epochs(trained) == [1, 2]
    assert run.models[0].variables["params"]["encoder"]["Dense_0"]["kernel"].shape == (2, 8)


# --- one owner --------------------------------------------------------------------

HOLDER = """
import sys, time
from repsim_jax.workdir import owned
with owned(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    """Another process holding ``tmp_path/w``'s lock."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "w")], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    yield proc
    proc.kill()
    proc.wait()


def test_a_second_writer_is_refused_naming_the_owner(holder, tmp_path):
    """Defect (issue 21, case 2): two runs in one workdir both exited 0, every metrics row twice."""
    owner = f"host {socket.gethostname()} pid {holder.pid}"
    with pytest.raises(InputError, match=f"is in use by {owner}") as error:
        _train(tmp_path / "w")
    assert "\n" not in str(error.value)
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == [".lock"]  # nothing else written


def test_a_lock_left_by_a_killed_process_does_not_block(holder, tmp_path):
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert "pid" in (tmp_path / "w" / ".lock").read_text()  # the dead owner's name is still there
    with workdir.owned(tmp_path / "w"):
        assert f"pid {os.getpid()}" in (tmp_path / "w" / ".lock").read_text()


def test_the_lock_is_released_when_the_run_raises_and_is_reentrant(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with workdir.owned(tmp_path):
            with workdir.owned(tmp_path):  # evaluate_run inside train_and_evaluate
                pass
            raise RuntimeError("boom")
    with open(tmp_path / ".lock") as other:  # another open file: flock conflicts even in one process
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)


# --- whole files ------------------------------------------------------------------


def test_write_text_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    workdir.write_json(path, {"a": 1})

    def full_disk(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space left"):
        workdir.write_json(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["config.json"]  # no temporary file left


def test_a_truncated_report_does_not_block_and_evaluate_rewrites_it(trained):
    """Defect (issue 21, case 9): a truncated report.json blocked evaluate, compare and distill
    with a JSON error naming no file."""
    report = trained / "report.json"
    expected = json.loads(report.read_text())
    report.write_text(report.read_text()[:40])
    with pytest.warns(UserWarning, match=f"{report} is damaged .*rewrites it"):
        run = experiment.restore(str(trained))
    assert run.reports == []
    with pytest.warns(UserWarning, match="rewriting it without its 'run' section"):
        experiment.evaluate_run(run)
    rewritten = json.loads(report.read_text())
    assert rewritten["test"]["accuracy"] == pytest.approx(expected["test"]["accuracy"])


def test_a_truncated_config_is_one_line_naming_the_file(trained):
    config = trained / "config.json"
    config.write_text(config.read_text()[:30])
    with pytest.raises(InputError, match=f"^{config} is damaged \\(not valid JSON"):
        experiment.restore(str(trained))


# --- truthful messages ------------------------------------------------------------


@pytest.mark.slow
def test_a_nan_learning_rate_says_no_checkpoint_exists(tmp_path):
    """Defect (issue 21, case 10): the message said "the last good checkpoint (epoch 0) is kept"
    while checkpoints/ was empty."""
    with pytest.raises(NonFiniteLossError, match=r"no checkpoint was saved before it") as error:
        _train(tmp_path / "w", **{"optim.learning_rate": float("nan")})
    assert "is kept" not in str(error.value)
    assert not list((tmp_path / "w" / "checkpoints").iterdir())
