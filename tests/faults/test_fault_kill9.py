"""kill -9 at random points, each followed by the same command again (issue 21, cases 1-3).

Two chains of kills run side by side, each in its own workdirs and with its own seeded
generator choosing where to kill: inside a checkpoint write (when the k-th new
``checkpoints/<step>.orbax-checkpoint-tmp`` directory appears) or after a random delay
into the run's life as the workdir's owner (config check and write, restore, log cut
back, compiling, epochs, saves, evaluation, report). After every kill the workdir must
hold whole JSON files and a log that agrees with its checkpoints; every chain ends with
a run to completion whose final state equals the uninterrupted run bit for bit, with
each epoch logged once, and whose workdir evaluates.
"""

import contextlib
import dataclasses
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from _faults import (
    TRAIN,
    assert_bit_identical,
    assert_each_epoch_once,
    evaluates,
    finish,
    kill9,
    lock_owner,
    ok,
    spawn,
    wait_until,
)

KILLS_PER_CHAIN = 6  # two chains: 12 kills (seeded: 6 planned inside a checkpoint write)
TMP = ".orbax-checkpoint-tmp"


@dataclasses.dataclass
class Kill:
    how: str  # "checkpoint write" or "delay"
    in_write: bool  # the killed run had a checkpoint's temporary directory open
    committed: bool  # the workdir held a committed checkpoint (False: died before the first)
    after_s: float  # seconds from the start of the command


def _temporaries(workdir: Path) -> set[tuple[str, int]]:
    """The temporary checkpoint directories (name, inode) now: orbax leaves those of a
    killed save in place, so only ones that were not there at a run's start are its own."""
    found = set()
    try:
        for path in (workdir / "checkpoints").iterdir():
            if TMP in path.name:
                with contextlib.suppress(FileNotFoundError):
                    found.add((path.name, path.stat().st_ino))
    except FileNotFoundError:
        pass
    return found


@dataclasses.dataclass
class Attempt:
    """One run of the command, to be killed."""

    proc: subprocess.Popen
    workdir: Path
    started: float
    leftovers: set  # temporary checkpoint directories already there at its start

    def kill(self, how: str) -> Kill | None:
        """kill -9 now; None when the run had ended."""
        in_write = bool(_temporaries(self.workdir) - self.leftovers)
        if self.proc.poll() is not None:
            return None
        kill9(self.proc)
        committed = any(p.name.isdigit() for p in (self.workdir / "checkpoints").glob("*"))
        return Kill(how, in_write, committed, time.monotonic() - self.started)


def _kill_in_write(run: Attempt, nth: int, rng) -> Kill | None:
    """Kill when the ``nth`` new temporary checkpoint directory appears (plus up to 30 ms,
    still inside that write: a save takes about 100 ms); None when the run ended first."""
    seen, count = set(run.leftovers), 0

    def nth_appeared():
        nonlocal seen, count
        now = _temporaries(run.workdir)
        count += len(now - seen)
        seen = now
        return count >= nth

    if not wait_until(nth_appeared, run.proc):
        return None
    time.sleep(rng.uniform(0, 0.03))
    return run.kill("checkpoint write")


def _kill_after_delay(run: Attempt, owned_s: float, rng) -> Kill | None:
    """Kill a uniformly random time into the run's life as the workdir's owner."""
    if not wait_until(lambda: lock_owner(run.workdir) == run.proc.pid, run.proc):
        return None
    deadline = time.monotonic() + rng.uniform(0, owned_s)
    while time.monotonic() < deadline:
        if run.proc.poll() is not None:
            return None
        time.sleep(0.005)
    return run.kill("delay")


def _check_after_kill(workdir: Path, base) -> None:
    """What a kill -9 may leave: whole JSON files (atomic writes) and a log whose complete
    rows are epochs 1..m once each, m at least the newest committed checkpoint (an epoch's
    rows are written before its checkpoint); a partial last line is allowed."""
    config = workdir / "config.json"
    if config.exists():
        assert json.loads(config.read_text()) == json.loads(base.config_json)
    report = workdir / "report.json"
    if report.exists():
        json.loads(report.read_text())
    log = workdir / "metrics.jsonl"
    lines = log.read_text().split("\n")[:-1] if log.exists() else []  # the last piece: partial or ""
    epochs = [json.loads(line)["epoch"] for line in lines]
    assert epochs == list(range(1, len(epochs) + 1)), epochs
    committed = [int(p.name) for p in (workdir / "checkpoints").glob("*") if p.name.isdigit()]
    assert max(committed, default=0) <= len(epochs), (committed, epochs)


def _chain(root: Path, base, seed: int) -> tuple[list[Kill], list[Path]]:
    """Kill and re-run :data:`TRAIN` until ``KILLS_PER_CHAIN`` kills, then run it to
    completion. A run that completes before its kill ends the workdir's chain; the next
    kill starts a fresh workdir. The first run in a workdir dies inside its first
    checkpoint write (issue 21 case 3: killed before the first commit); the others where
    the generator says. Returns the kills and the completed workdirs."""
    rng = np.random.default_rng(seed)
    kills, completed = [], []
    workdir = root / f"chain{seed}_0"
    while True:
        fresh = not workdir.exists()
        leftovers = _temporaries(workdir)
        run = Attempt(spawn([*TRAIN, f"--workdir={workdir}"], root), workdir, time.monotonic(), leftovers)
        if len(kills) >= KILLS_PER_CHAIN:
            ok(finish(run.proc))
            completed.append(workdir)
            return kills, completed
        if fresh:
            kill = _kill_in_write(run, 1, rng)
        elif rng.random() < 0.4:
            kill = _kill_in_write(run, int(rng.integers(1, 4)), rng)
        else:
            kill = _kill_after_delay(run, base.owned_s, rng)
        if kill is None:  # the run completed first
            ok(finish(run.proc))
            completed.append(workdir)
            workdir = root / f"chain{seed}_{len(completed)}"
            continue
        kills.append(kill)
        _check_after_kill(workdir, base)


@pytest.mark.slow
def test_kill9_at_random_points_then_rerun_equals_the_uninterrupted_run(base, tmp_path):
    with ThreadPoolExecutor(2) as pool:
        chains = list(pool.map(lambda seed: _chain(tmp_path, base, seed), (2101, 2102)))
    kills = [k for chain_kills, _ in chains for k in chain_kills]
    completed = [w for _, workdirs in chains for w in workdirs]
    assert len(kills) >= 2 * KILLS_PER_CHAIN
    assert sum(k.in_write for k in kills) >= 3, kills  # at least a quarter landed inside a save
    assert sum(not k.committed for k in kills) >= 2, kills  # each chain's first: before any commit
    for workdir in completed:
        assert_bit_identical(workdir, base.leaves)
        assert_each_epoch_once(workdir)
        report = evaluates(workdir)
        assert report["test"]["accuracy"] == base.report["test"]["accuracy"]
    inside, early = sum(k.in_write for k in kills), sum(not k.committed for k in kills)
    print(f"\n{len(kills)} kills ({inside} inside a checkpoint write, {early} before the first commit), ", end="")
    print(f"{len(completed)} completed workdirs")
    for kill in kills:
        print(kill)
