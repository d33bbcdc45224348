"""One owner and one config per workdir (issue 21, cases 1, 2 and 5).

Two commands at once: the first to take the workdir's lock is stopped (SIGSTOP: a slow
run) until the other has answered, so the overlap is certain, then continued. Re-runs
that would change the trained model, or ask for fewer epochs than trained, are refused
before anything is written.
"""

import os
import shutil
import signal
import socket

import pytest
from _faults import (
    TRAIN,
    assert_bit_identical,
    assert_each_epoch_once,
    cli,
    cli_pair,
    evaluates,
    finish,
    lock_owner,
    ok,
    one_line,
    spawn,
    wait_until,
)


def _stopped_owner(workdir, *procs):
    """The process of ``procs`` that took ``workdir``'s lock, stopped there."""
    wait_until(lambda: lock_owner(workdir) in {p.pid for p in procs})
    owner = next(p for p in procs if p.pid == lock_owner(workdir))
    os.kill(owner.pid, signal.SIGSTOP)
    return owner


def _refused_by(result, workdir, owner) -> None:
    one_line(result, 2, f"{workdir} is in use by host {socket.gethostname()} pid {owner.pid}", f"{workdir}/.lock")


@pytest.mark.slow
def test_the_same_command_twice_at_once_runs_once(base, tmp_path):
    """Before: both exited 0 and metrics.jsonl had every epoch twice."""
    workdir = tmp_path / "w"
    procs = [spawn([*TRAIN, f"--workdir={workdir}"], tmp_path) for _ in range(2)]
    owner = _stopped_owner(workdir, *procs)
    try:
        refused = finish(next(p for p in procs if p is not owner))
    finally:
        os.kill(owner.pid, signal.SIGCONT)
    _refused_by(refused, workdir, owner)
    ok(finish(owner))
    assert_each_epoch_once(workdir)
    assert_bit_identical(workdir, base.leaves)


@pytest.mark.slow
def test_a_second_writer_with_another_learning_rate_changes_nothing(base, tmp_path):
    """Before: the second run's checkpoint ended up under the first run's config.json
    (evaluate gave 0.89 where that config's run gives 0.63). Refused while the first runs,
    and refused again after it, naming the key: the workdir holds the first run only."""
    workdir = tmp_path / "w"
    other = [*TRAIN, f"--workdir={workdir}", "--config.optim.learning_rate=0.01"]
    first = spawn([*TRAIN, f"--workdir={workdir}"], tmp_path)
    _stopped_owner(workdir, first)
    config = workdir / "config.json"
    written = config.read_bytes() if config.exists() else None
    try:
        refused = cli(other, tmp_path)
        assert (config.read_bytes() if config.exists() else None) == written
    finally:
        os.kill(first.pid, signal.SIGCONT)
    _refused_by(refused, workdir, first)
    ok(finish(first))
    assert config.read_bytes() == base.config_json
    one_line(cli(other, tmp_path), 2, str(config), "optim.learning_rate stored 0.001, requested 0.01")
    assert config.read_bytes() == base.config_json
    assert_bit_identical(workdir, base.leaves)
    assert_each_epoch_once(workdir)
    assert evaluates(workdir)["test"]["accuracy"] == base.report["test"]["accuracy"]


@pytest.mark.slow
def test_refused_reruns_leave_the_workdir_as_it_was(base, trained, tmp_path):
    """Before: a re-run with another model exited 2 with a traceback after overwriting
    config.json, and the model could no longer be loaded; a re-run with fewer epochs exited
    0, its config.json saying 4 epochs over the 8-epoch model and report."""
    model, fewer = trained, tmp_path / "fewer"  # two copies of the base workdir
    shutil.copytree(trained, fewer)
    files = ("config.json", "metrics.jsonl", "report.json")
    before = {w: {name: (w / name).read_bytes() for name in files} for w in (model, fewer)}
    steps = {w: sorted(p.name for p in (w / "checkpoints").iterdir()) for w in (model, fewer)}
    bigger, shorter = cli_pair(
        [*TRAIN, f"--workdir={model}", "--config.model.hidden=(32,32,32)"],
        [*TRAIN, f"--workdir={fewer}", "--config.num_epochs=4"],
        tmp_path,
    )
    one_line(bigger, 2, f"{model}/config.json", "model.hidden stored [64, 64, 64], requested [32, 32, 32]")
    one_line(shorter, 2, f"{fewer} holds a model trained for 8 epochs", "num_epochs=4 is fewer")
    for workdir in (model, fewer):
        assert {name: (workdir / name).read_bytes() for name in files} == before[workdir]
        assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == steps[workdir]
        assert_bit_identical(workdir, base.leaves)
        report = evaluates(workdir)
        assert report["test"]["nll"] == pytest.approx(base.report["test"]["nll"], rel=1e-12)
