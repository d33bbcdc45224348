"""A workdir's layout and its rules: one owner, one config, files that are whole or absent.

Layout of a workdir ``W`` (:func:`repsim_jax.experiment.train_and_evaluate` writes it):

- ``W/config.json``: the run's config (every path in it absolute, :data:`PATH_KEYS`);
- ``W/checkpoints/<epoch>/``: orbax checkpoints (:mod:`repsim_jax.train.checkpoint`);
- ``W/metrics.jsonl``: one JSON row per seed and epoch, cut back to the restored
  checkpoint on resume (:mod:`repsim_jax.train.loop`);
- ``W/tb/`` (``W/tb/seed<s>/`` per seed of a group): TensorBoard events;
- ``W/report.json`` for a single seed, ``W/seed<s>/report.json`` per seed of a group;
- ``W/.lock``: locked (``fcntl.flock``) by the process training or evaluating in ``W``,
  and naming it (host and pid). The kernel drops the lock when that process ends, even
  by ``kill -9``, so a lock left by a dead process never blocks.

Every JSON file is written atomically (:func:`write_text`: a temporary file in the same
directory, then ``os.replace``), so a reader sees the old file or the new one, never half
of one. Re-running in ``W`` compares the requested config with ``W/config.json`` before
anything is written (:func:`config_changes`): only the keys in :data:`MAY_CHANGE` may
differ, following the flax examples' practice of a workdir whose config is fixed once
training has saved. Locks and atomic renames apply to local workdirs; a ``gs://``
workdir relies on the object store writing whole objects.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import tempfile
import warnings
from collections.abc import Iterator, Sequence

import jax
import ml_collections
from etils import epath

from repsim_jax.config import with_defaults
from repsim_jax.errors import InputError

__all__ = [
    "MAY_CHANGE",
    "PATH_KEYS",
    "checkpoints_dir",
    "config_changes",
    "config_path",
    "is_workdir",
    "locate",
    "lock_path",
    "metrics_path",
    "owned",
    "read_config",
    "read_json",
    "report_path",
    "seed_dir",
    "tensorboard_dir",
    "with_absolute_paths",
    "write_json",
    "write_text",
]

# Config keys a re-run may change: they decide how long to train, what to measure and
# where things live, not what the trained model is. ``num_epochs`` may only grow past
# the epochs already trained; ``loss.teacher_dim`` is derived from the teacher.
MAY_CHANGE = (
    "num_epochs",
    "eval.*",
    "checkpoint.*",
    "mesh.*",
    "teacher.mode",
    "data.data_dir",
    "sweep.*",
    "reproduce.*",
)
DERIVED = ("loss.teacher_dim",)
PATH_KEYS = ("teacher.workdir", "model.init_from", "data.path", "data.data_dir")


def _is_remote(path) -> bool:
    return "://" in str(path)


def config_path(workdir) -> epath.Path:
    return epath.Path(workdir) / "config.json"


def is_workdir(path) -> bool:
    """Whether ``path`` is a workdir this project wrote (it holds ``config.json``)."""
    return config_path(path).exists()


def seed_dir(workdir, seed: int) -> epath.Path:
    """``W/seed<s>``: the directory of one seed of a vmapped group (its report; the
    address ``GROUP/seed<s>`` of its model)."""
    return epath.Path(workdir) / f"seed{seed}"


def checkpoints_dir(workdir) -> epath.Path:
    """``W/checkpoints``, absolute for a local ``W`` (orbax refuses relative paths)."""
    path = epath.Path(workdir)
    return (path if _is_remote(workdir) else path.absolute()) / "checkpoints"


def metrics_path(workdir) -> epath.Path:
    return epath.Path(workdir) / "metrics.jsonl"


def tensorboard_dir(workdir, seed: int, grouped: bool) -> epath.Path:
    """``W/tb``, or ``W/tb/seed<s>`` for a member of a vmapped group."""
    root = epath.Path(workdir) / "tb"
    return root / f"seed{seed}" if grouped else root


def report_path(workdir, seeds: Sequence[int], seed: int) -> epath.Path:
    """``report.json`` of ``seed``: in the workdir for one seed, in ``seed<s>/`` for a group."""
    return (epath.Path(workdir) if len(seeds) == 1 else seed_dir(workdir, seed)) / "report.json"


def lock_path(workdir) -> epath.Path:
    return epath.Path(workdir) / ".lock"


def locate(workdir: str) -> tuple[str, str | None] | None:
    """``(run directory, seed)`` of a workdir this project wrote: ``(WORKDIR, None)``, or
    ``(GROUP, "<s>")`` for one seed of a group (``GROUP/seed<s>``); ``None`` otherwise."""
    path = epath.Path(workdir)
    if is_workdir(path):
        return str(workdir), None
    if path.name.startswith("seed") and is_workdir(path.parent):
        return str(path.parent), path.name.removeprefix("seed")
    return None


def write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a temporary file in the same directory,
    flushed to disk, then renamed over ``path`` (POSIX ``rename`` is atomic), so a kill
    or a full disk leaves the previous file whole."""
    path = epath.Path(path)
    if _is_remote(path):
        path.write_text(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as file:
            os.fchmod(file.fileno(), 0o644)
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_json(path, value, indent: int | None = 2) -> None:
    """``value`` as JSON, written atomically (:func:`write_text`)."""
    write_text(path, json.dumps(value, indent=indent))


def read_json(path):
    """The JSON value in ``path``; InputError naming the file when it is not valid JSON
    (e.g. cut short by a full disk)."""
    try:
        return json.loads(epath.Path(path).read_text())
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError
        raise InputError(f"{path} is damaged (not valid JSON: {error})") from None


def _absolute(path: str) -> str:
    return path if not path or _is_remote(path) else os.path.abspath(os.path.expanduser(path))


def _get(config, key: str):
    section, _, leaf = key.rpartition(".")
    node = config
    for part in section.split(".") if section else ():
        node = node[part]
    return node, leaf


def with_absolute_paths(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A copy of ``config`` with every local path in :data:`PATH_KEYS` made absolute, so
    the workdir's ``config.json`` means the same from any current directory."""
    config = config.copy_and_resolve_references()
    for key in PATH_KEYS:
        node, leaf = _get(config, key)
        node[leaf] = _absolute(str(node[leaf]))
    return config


def _found_from(workdir: epath.Path, path: str) -> str:
    """A relative ``path`` stored by an earlier release (relative to the directory that
    run started in): the first of the current directory, the workdir and the workdir's
    ancestors under which it exists, made absolute; unchanged when none has it."""
    root = epath.Path(os.path.abspath(workdir))
    for base in (epath.Path(os.getcwd()), root, *root.parents):
        if (base / path).exists():
            return str(base / path)
    return path


def read_config(workdir) -> ml_collections.ConfigDict:
    """The config in ``W/config.json`` with every key this version declares (defaults
    for keys added later) and its relative paths resolved (:func:`_found_from`)."""
    path = config_path(workdir)
    config = with_defaults(read_json(path), str(path))
    for key in PATH_KEYS:
        node, leaf = _get(config, key)
        value = str(node[leaf])
        if value and not _is_remote(value) and not os.path.isabs(value):
            node[leaf] = _found_from(epath.Path(workdir), value)
    return config


def _flat(config: ml_collections.ConfigDict) -> dict[str, str]:
    """``{"section.key": JSON text of the value}``; JSON text compares tuples with lists
    and NaN with NaN."""

    def walk(node: dict, prefix: str) -> Iterator[tuple[str, str]]:
        for key, value in node.items():
            if isinstance(value, dict):
                yield from walk(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", json.dumps(value, sort_keys=True)

    return dict(walk(json.loads(config.to_json()), ""))


def _may_change(key: str) -> bool:
    return any(key == rule or (rule.endswith("*") and key.startswith(rule[:-1])) for rule in MAY_CHANGE)


def config_changes(
    workdir, stored: ml_collections.ConfigDict, requested: ml_collections.ConfigDict, trained_epochs: int | None
) -> list[str]:
    """The differences ``"key old -> new"`` between the ``stored`` config of ``workdir``
    and the ``requested`` one, checked for a re-run.

    With a trained model in the workdir (``trained_epochs``, the newest checkpoint's
    epoch) only the keys in :data:`MAY_CHANGE` may differ, and ``num_epochs`` may not fall
    below ``trained_epochs``; anything else raises InputError naming the keys and both
    values. Without a checkpoint nothing trained is kept, so every change is allowed.
    """
    old, new = _flat(stored), _flat(requested)
    show = lambda flat, key: flat.get(key, "(absent)")
    differ = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k) and k not in DERIVED)
    if trained_epochs is not None:
        fixed = [k for k in differ if not _may_change(k)]
        if fixed:
            listed = "; ".join(f"{k} stored {show(old, k)}, requested {show(new, k)}" for k in fixed)
            raise InputError(
                f"{config_path(workdir)} holds another run's config: {listed}; "
                f"a re-run may change only {', '.join(MAY_CHANGE)}: use a new workdir"
            )
        if requested.num_epochs < trained_epochs:
            raise InputError(
                f"{workdir} holds a model trained for {trained_epochs} epochs (checkpoint "
                f"{checkpoints_dir(workdir)}/{trained_epochs}); num_epochs={requested.num_epochs} is fewer: "
                f"ask for {trained_epochs} or more, or use a new workdir"
            )
    return [f"{k} {show(old, k)} -> {show(new, k)}" for k in differ]


_HELD: dict[str, int] = {}  # lock file (real path) -> its descriptor, for locks this process holds


@contextlib.contextmanager
def owned(workdir) -> Iterator[None]:
    """Hold ``W/.lock`` for the duration: a second process asking for it gets one
    InputError line naming the owner (host and pid). Reentrant within a process; only
    process 0 of a multi-process run locks; a remote (``gs://``) workdir is not locked."""
    path = lock_path(workdir)
    key = os.path.realpath(path)
    if _is_remote(path) or jax.process_index() or key in _HELD:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 256, 0).decode(errors="replace").strip() or "another process"
        os.close(fd)
        raise InputError(
            f"{workdir} is in use by {holder} (lock {path}); wait for that run to end or use another workdir"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"host {socket.gethostname()} pid {os.getpid()}\n".encode(), 0)
    _HELD[key] = fd
    try:
        yield
    finally:
        del _HELD[key]
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def warn(message: str) -> None:
    """One line on stderr (a ``UserWarning``) from process 0."""
    if not jax.process_index():
        warnings.warn(message, stacklevel=3)
