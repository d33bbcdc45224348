"""Fault injection through the command line (issue 21): the helpers.

Every test here drives ``python -m repsim_jax.cli`` in a subprocess (where a kill, a
signal, a second process or the real stderr matters) or ``repsim_jax.cli.main`` in
process, on the smoke config made smaller (:data:`TRAIN`). The base run (``conftest.base``)
is that exact command trained once without interruption: the reference every resumed
run must equal bit for bit.
"""

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

import repsim_jax
from repsim_jax import experiment

EPOCHS = 8
SMOKE = [
    "--config=synthetic:smoke",
    f"--config.num_epochs={EPOCHS}",
    "--config.data.points_per_arm=50",
    "--config.checkpoint.every=1",  # a checkpoint every epoch: 8 commits to land in, keep=3 keeps steps 6-8
    "--config.eval.every=1",  # eval/ce in every metrics row: the test nll of every checkpointed epoch
]
TRAIN = ["train", *SMOKE, "--quiet"]
TIMEOUT = 300


# JAX's persistent compilation cache, filled by the base run (``conftest.base``): every
# later command gets a private copy, so it loads the programs the base run compiled
# instead of compiling them again (seconds per command) and a kill -9 in the middle of
# writing a cache entry spoils only that command's copy. A cached program is the one
# compiling gives, so results are unchanged (the bit-equality tests check this too).
CACHE: dict = {"root": None, "seed": None}  # set by conftest's session fixtures


def cli_env(cache_dir) -> dict:
    """The test's environment, with the repsim_jax this process imported first on the path
    (the checkout or an installed wheel), no XLA flags another test may have set, and
    JAX's compilation cache in ``cache_dir`` (every program cached)."""
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    package_root = str(Path(repsim_jax.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    env["JAX_COMPILATION_CACHE_DIR"] = str(cache_dir)
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    return env


def _private_cache() -> Path:
    private = Path(tempfile.mkdtemp(prefix="jax-cache-", dir=CACHE["root"]))
    if CACHE["seed"] is not None:
        shutil.copytree(CACHE["seed"], private, dirs_exist_ok=True)
    return private


def _default_ctrl_c() -> None:
    """SIGINT back to its default disposition in the child (before exec), as a terminal's
    shell starts a command: pytest-xdist workers ignore SIGINT, and an ignored signal stays
    ignored across exec, so Python would install no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(args, cwd, cache_dir=None) -> subprocess.Popen:
    """``python -m repsim_jax.cli ARGS`` started in ``cwd``, stdout and stderr piped, with
    a private copy of the compilation cache (or ``cache_dir``) and Ctrl-C as in a terminal."""
    return subprocess.Popen(
        [sys.executable, "-m", "repsim_jax.cli", *map(str, args)],
        cwd=cwd,
        env=cli_env(cache_dir or _private_cache()),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_ctrl_c,
    )


def finish(proc: subprocess.Popen, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{proc.args} ran past {timeout} s; stderr: {err[-3000:]}") from None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def cli(args, cwd, timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    return finish(spawn(args, cwd), timeout)


def cli_pair(first, second, cwd) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    """Two commands run side by side (two cores: half the wall time of one after the other)."""
    a, b = spawn(first, cwd), spawn(second, cwd)
    return finish(a), finish(b)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"{result.args} exit {result.returncode}\n{result.stderr[-4000:]}"
    return result


def one_line(result: subprocess.CompletedProcess, status: int, *pieces: str) -> str:
    """The failed command's whole stderr: one line, exit ``status``, naming every piece."""
    err = result.stderr
    assert result.returncode == status, f"exit {result.returncode}, expected {status}\n{err[-4000:]}"
    assert "Traceback" not in err, err[-4000:]
    assert len(err.splitlines()) == 1 and err.endswith("\n"), err[-4000:]
    for piece in pieces:
        assert piece in err, (piece, err)
    return err.strip()


def warning_lines(result: subprocess.CompletedProcess) -> list[str]:
    """stderr of a command that succeeded or failed cleanly: every line one of the CLI's
    own (``repsim-jax: warning: ...`` or ``repsim-jax CMD: ...``), no traceback."""
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr, result.stderr[-4000:]
    assert all(line.startswith("repsim-jax") for line in lines), result.stderr[-4000:]
    return lines


def rows(workdir) -> list[dict]:
    return [json.loads(line) for line in (Path(workdir) / "metrics.jsonl").read_text().splitlines()]


def assert_each_epoch_once(workdir, epochs: int = EPOCHS) -> list[dict]:
    """metrics.jsonl holds every (seed, step) once: epochs 1..``epochs`` of seed 0 in order."""
    logged = rows(workdir)
    keys = [(r["seed"], r["step"]) for r in logged]
    assert len(keys) == len(set(keys)), f"duplicate rows: {keys}"
    assert [(r["seed"], r["epoch"]) for r in logged] == [(0, e) for e in range(1, epochs + 1)]
    return logged


def state_leaves(workdir) -> list[np.ndarray]:
    """Every array of the restored train state (params, optimiser, BatchNorm, step, RNG key)."""
    state = experiment.restore(str(workdir)).state
    leaves = jax.tree.leaves(state)
    return [
        np.asarray(jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x) for x in leaves
    ]


def assert_bit_identical(workdir, reference: list[np.ndarray]) -> None:
    """Bit-equality is the property tested: every draw comes from the state's key, so a
    run resumed from any committed checkpoint replays exactly what the uninterrupted run
    computed, the same program on the same inputs."""
    got = state_leaves(workdir)
    assert len(got) == len(reference)
    for a, b in zip(got, reference):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def lock_owner(workdir) -> int | None:
    """The pid ``W/.lock`` names, None when nobody holds it (yet)."""
    try:
        found = re.search(r"pid (\d+)", (Path(workdir) / ".lock").read_text())
    except FileNotFoundError:
        return None
    return int(found.group(1)) if found else None


def wait_until(condition, proc: subprocess.Popen | None = None, timeout: float = TIMEOUT, poll: float = 0.005):
    """Poll ``condition()`` until true; False when ``proc`` ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {condition}")


def kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()


@dataclasses.dataclass
class Base:
    """The uninterrupted run of :data:`TRAIN` in ``path``."""

    path: Path
    leaves: list[np.ndarray]  # its final state
    owned_s: float  # seconds from taking the workdir's lock to exiting
    config_json: bytes
    report: dict

    def test_nll(self, epoch: int) -> float:
        """The test-split cross-entropy the run logged at ``epoch`` (eval/ce)."""
        return next(r["eval/ce"] for r in rows(self.path) if r["epoch"] == epoch)


def evaluates(workdir) -> dict:
    """``repsim-jax evaluate --workdir W`` (in process) exits 0; the report it wrote."""
    from repsim_jax.cli import main

    assert main(["evaluate", f"--workdir={workdir}", "--quiet"]) == 0
    return json.loads((Path(workdir) / "report.json").read_text())
