"""Orbax checkpoints under ``WORKDIR/checkpoints/``.

Each checkpoint holds the :class:`TrainState` pytree (params, optimiser state, step,
RNG key, BatchNorm statistics) and a JSON dict (data-iterator state and bookkeeping).
Saves are asynchronous and atomic (a killed save never becomes visible); the newest
``keep`` are kept; Ctrl-C during an orbax call takes effect when the call returns. Paths
go through ``etils.epath``, so a ``gs://`` workdir works.

A committed checkpoint can still be damaged afterwards (a truncated or overwritten data
file, a deleted item or manifest, garbage JSON). :meth:`Checkpointer.restore` therefore
walks back from the newest step to the newest one that restores completely, warning
once per step it skips, and fails with one line naming the directory only when none
restores (orbax's ``CheckpointManager.all_steps`` lists the steps, ``restore(step)``
reads one).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import threading
import time
import warnings
from typing import Any

import jax
import orbax.checkpoint as ocp
from etils import epath
from jax.sharding import SingleDeviceSharding

from repsim_jax.errors import NEVER_RETRIEVED, InputError
from repsim_jax.workdir import checkpoints_dir, warn

__all__ = ["Checkpointer", "saved_steps"]


def _with_sharding(leaf) -> jax.ShapeDtypeStruct:
    struct = ocp.utils.to_shape_dtype_struct(leaf)
    if struct.sharding is not None:
        return struct
    return jax.ShapeDtypeStruct(struct.shape, struct.dtype, sharding=SingleDeviceSharding(jax.local_devices()[0]))


def _first_line(error: Exception, limit: int = 160) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else ""
    text = f"{type(error).__name__}: {text}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _from_orbax(unraisable) -> bool:
    """An echo of a failed concurrent read: ``RuntimeError('Event loop is closed')`` from
    a read finishing after orbax closed its event loop, or an orbax coroutine dropped
    with its exception unretrieved."""
    if isinstance(unraisable.exc_value, RuntimeError) and str(unraisable.exc_value) == "Event loop is closed":
        return True
    code = getattr(unraisable.object, "cr_code", None)
    return code is not None and f"{os.sep}orbax{os.sep}" in code.co_filename


class _NeverRetrieved(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(NEVER_RETRIEVED)


class _FailedReadsQuiet:
    """Silence the echo of failed restores. orbax reads a step's arrays concurrently; when
    one read fails it closes its event loop while others are in flight, and each of
    those later reports through ``sys.unraisablehook`` (a traceback each), asyncio logs
    "Task exception was never retrieved" or "Future exception was never retrieved" (a
    failed read's task or future collected unread) and Python warns of coroutines never
    awaited. After a failure (:meth:`failed`), leaving the block waits until those echoes settle
    (none for ``settle_s``, at most ``limit_s``) and collects the dropped coroutines, then
    restores the hooks; only those echoes are dropped, anything else goes through."""

    def __init__(self, settle_s: float = 0.2, limit_s: float = 5.0):
        self._settle_s, self._limit_s = settle_s, limit_s
        self._failed, self._last = False, time.monotonic()
        self._filter = _NeverRetrieved()
        self._warnings = warnings.catch_warnings()

    def failed(self) -> None:
        self._failed, self._last = True, time.monotonic()

    def _hook(self, unraisable) -> None:
        if _from_orbax(unraisable):
            self._last = time.monotonic()
        else:
            self._previous(unraisable)

    def __enter__(self) -> _FailedReadsQuiet:
        self._previous, sys.unraisablehook = sys.unraisablehook, self._hook
        logging.getLogger("asyncio").addFilter(self._filter)
        self._warnings.__enter__()
        warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)
        return self

    def __exit__(self, *exc) -> None:
        if self._failed:
            deadline = time.monotonic() + self._limit_s
            while time.monotonic() - self._last < self._settle_s and time.monotonic() < deadline:
                time.sleep(self._settle_s / 4)
            gc.collect()  # dropped coroutines and tasks report when they are collected
        self._warnings.__exit__(*exc)
        logging.getLogger("asyncio").removeFilter(self._filter)
        sys.unraisablehook = self._previous


@contextlib.contextmanager
def _ctrl_c_held():
    """Hold Ctrl-C (SIGINT) back until the block ends, then deliver it to the handler in
    place. Orbax's save, restore and close are not safe to interrupt: a KeyboardInterrupt
    inside them leaves a half-made event loop (an ``Exception ignored`` traceback at
    exit), coroutines never awaited, or a save whose background thread waits 300 s for a
    signal the interrupted call never sent. Only the main thread receives signals: in
    another thread, or under a handler not set from Python, the block runs as it is."""
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or previous is None:
        yield
        return
    frames = []
    signal.signal(signal.SIGINT, lambda signum, frame: frames.append(frame))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if frames and callable(previous):
            previous(signal.SIGINT, frames[0])
        elif frames and previous == signal.SIG_DFL:
            os.kill(os.getpid(), signal.SIGINT)


class Checkpointer:
    """A thin wrapper over ``ocp.CheckpointManager`` for a state pytree plus a JSON dict.

    ``read_only``: restore only (no saves, no deletions, nothing created or cleaned up),
    for readers of a workdir another process may be training in."""

    def __init__(self, workdir: str | epath.Path, keep: int = 3, async_save: bool = True, read_only: bool = False):
        if keep < 1:
            raise InputError(f"checkpoint.keep must be >= 1, got {keep}")
        self.directory = checkpoints_dir(workdir)
        self.read_only = read_only
        if read_only:
            # not orbax's read_only option, which logs a warning each time: a manager that
            # creates nothing (create=False), cleans nothing (orbax's default) and is never
            # asked to save or delete writes nothing
            options = ocp.CheckpointManagerOptions(max_to_keep=None, create=False)
        else:
            options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=async_save)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def _writable(self) -> None:
        if self.read_only:
            raise RuntimeError(f"{self.directory} was opened read-only")

    def steps(self) -> list[int]:
        """Every committed checkpoint step, oldest first."""
        return sorted(self._manager.all_steps())

    def latest_step(self) -> int | None:
        """The newest committed checkpoint step, or ``None``."""
        return self._manager.latest_step()

    def save(self, step: int, state, meta: dict[str, Any]) -> None:
        """Start an asynchronous save of ``state`` and the JSON-able ``meta`` at ``step``."""
        self._writable()
        with _ctrl_c_held():
            self._manager.save(
                step,
                args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                force=True,
            )

    def _restore_step(self, target, step: int) -> tuple[Any, dict[str, Any]]:
        with _ctrl_c_held():
            restored = self._manager.restore(
                step,
                args=ocp.args.Composite(state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()),
            )
        return restored["state"], restored["meta"]

    def restore(self, abstract_state, step: int | None = None) -> tuple[Any, dict[str, Any]]:
        """Restore ``(state, meta)`` onto the structure, dtypes and shardings of
        ``abstract_state`` (a concrete or abstract pytree); leaves without a sharding
        (e.g. from ``jax.eval_shape``) go to the first local device, so a checkpoint
        written on a mesh restores on any machine.

        ``step``: that step exactly. Default: the newest step that restores completely,
        walking back over damaged ones (a warning line each); FileNotFoundError without
        any step, InputError naming the directory when none restores.
        """
        target = jax.tree.map(_with_sharding, abstract_state)
        if step is not None:
            return self._restore_step(target, step)
        steps = self.steps()
        if not steps:
            raise FileNotFoundError(f"no checkpoint in {self.directory}: training has not saved yet")
        with _FailedReadsQuiet() as quiet:
            for candidate in reversed(steps):
                try:
                    return self._restore_step(target, candidate)
                except Exception as error:  # any failure to read a step makes that step unusable
                    quiet.failed()
                    reason = _first_line(error)
                if candidate != steps[0]:
                    warn(f"skipped checkpoint {self.directory}/{candidate}: it does not restore ({reason})")
        raise InputError(
            f"no checkpoint in {self.directory} restores (steps {', '.join(map(str, steps))}; "
            f"the oldest: {reason}); train again in a new workdir"
        )

    def discard_after(self, step: int) -> None:
        """Delete every step newer than ``step`` (damaged ones a restore skipped), so
        training on from ``step`` can save those steps again."""
        self._writable()
        for newer in [s for s in self.steps() if s > step]:
            self._manager.delete(newer)
            warn(f"deleted damaged checkpoint {self.directory}/{newer}; training resumes from step {step}")

    def wait(self) -> None:
        """Block until pending asynchronous saves are committed."""
        with _ctrl_c_held():
            self._manager.wait_until_finished()

    def close(self) -> None:
        """Finish pending saves and release the manager."""
        with _ctrl_c_held():
            self._manager.wait_until_finished()
            self._manager.close()


def saved_steps(workdir: str | epath.Path) -> list[int]:
    """Every committed checkpoint step of ``workdir``, oldest first (read-only)."""
    ckpt = Checkpointer(workdir, read_only=True)
    try:
        return ckpt.steps()
    finally:
        ckpt.close()
