"""Fixtures of the fault-injection suite: the base run, trained once per session, and
private copies of it (helpers in ``_faults``)."""

import json
import shutil
import time
from pathlib import Path

import pytest
from _faults import CACHE, TRAIN, Base, assert_each_epoch_once, finish, lock_owner, ok, spawn, state_leaves, wait_until


@pytest.fixture(scope="session", autouse=True)
def compilation_caches(tmp_path_factory):
    """Where the commands' private compilation caches go (:data:`_faults.CACHE`)."""
    CACHE["root"] = tmp_path_factory.mktemp("jax-caches")
    yield
    CACHE.update(root=None, seed=None)


@pytest.fixture(scope="session")
def base(tmp_path_factory) -> Base:
    """:data:`TRAIN` run once, uninterrupted, for the whole session; tests copy it. It
    compiles every program afresh and fills the cache later commands copy."""
    root = tmp_path_factory.mktemp("base")
    path = root / "w"
    cache = root / "jax-cache"
    start = time.monotonic()
    proc = spawn([*TRAIN, f"--workdir={path}"], root, cache_dir=cache)
    wait_until(lambda: lock_owner(path) == proc.pid, proc)
    locked = time.monotonic()
    ok(finish(proc))
    owned_s = time.monotonic() - locked
    assert owned_s < time.monotonic() - start
    assert_each_epoch_once(path)
    CACHE["seed"] = cache
    return Base(
        path,
        state_leaves(path),
        owned_s,
        (path / "config.json").read_bytes(),
        json.loads((path / "report.json").read_text()),
    )


@pytest.fixture
def trained(base, tmp_path) -> Path:
    """A private copy of the base workdir (checkpoints 6, 7, 8)."""
    copy = tmp_path / "w"
    shutil.copytree(base.path, copy)
    return copy
