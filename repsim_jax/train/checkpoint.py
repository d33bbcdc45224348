"""Orbax checkpoints under ``WORKDIR/checkpoints/``.

Each checkpoint holds the :class:`TrainState` pytree (params, optimiser state, step,
RNG key, BatchNorm statistics) and a JSON dict (data-iterator state and bookkeeping).
Saves are asynchronous and atomic (a killed save never becomes visible); the newest
``keep`` are kept. Paths go through ``etils.epath``, so a ``gs://`` workdir works.
"""

from __future__ import annotations

from typing import Any

import jax
import orbax.checkpoint as ocp
from etils import epath
from jax.sharding import SingleDeviceSharding

from repsim_jax.errors import InputError

__all__ = ["Checkpointer"]


def _with_sharding(leaf) -> jax.ShapeDtypeStruct:
    struct = ocp.utils.to_shape_dtype_struct(leaf)
    if struct.sharding is not None:
        return struct
    return jax.ShapeDtypeStruct(struct.shape, struct.dtype, sharding=SingleDeviceSharding(jax.local_devices()[0]))


class Checkpointer:
    """A thin wrapper over ``ocp.CheckpointManager`` for a state pytree plus a JSON dict."""

    def __init__(self, workdir: str | epath.Path, keep: int = 3, async_save: bool = True):
        if keep < 1:
            raise InputError(f"keep must be >= 1, got {keep}")
        path = epath.Path(workdir)
        # orbax refuses relative local paths ("Checkpoint path should be absolute")
        self.directory = (path if "://" in str(workdir) else path.absolute()) / "checkpoints"
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True, enable_async_checkpointing=async_save)
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        """The newest committed checkpoint step, or ``None``."""
        return self._manager.latest_step()

    def save(self, step: int, state, meta: dict[str, Any]) -> None:
        """Start an asynchronous save of ``state`` and the JSON-able ``meta`` at ``step``."""
        self._manager.save(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
            force=True,
        )

    def restore(self, abstract_state, step: int | None = None) -> tuple[Any, dict[str, Any]]:
        """Restore ``(state, meta)`` at ``step`` (default: latest) onto the structure,
        dtypes and shardings of ``abstract_state`` (a concrete or abstract pytree);
        leaves without a sharding (e.g. from ``jax.eval_shape``) go to the first local
        device, so a checkpoint written on a mesh restores on any machine."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        target = jax.tree.map(_with_sharding, abstract_state)
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()),
        )
        return restored["state"], restored["meta"]

    def wait(self) -> None:
        """Block until pending asynchronous saves are committed."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        """Finish pending saves and release the manager."""
        self._manager.wait_until_finished()
        self._manager.close()
