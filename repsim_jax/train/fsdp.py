"""Fully sharded parameters on the mesh axis ``"fsdp"`` (config key ``mesh.fsdp``).

Fully sharded data parallelism (ZeRO stage 3: Rajbhandari et al. 2020, "ZeRO: Memory
Optimizations Toward Training Trillion Parameter Models"; PyTorch FSDP: Zhao et al. 2023):
each of the F devices of the ``"fsdp"`` axis stores 1/F of every parameter, of its
optimiser state and of an online teacher's parameters, so a model F times larger than
one device's memory fits at rest. Each array is split along its largest axis that F
divides (the first such axis on a tie; the leading seed axis of a vmapped group stays on
``"seeds"``); an array without one (the step count, the PRNG key) is replicated.

Batches are split over ``("data", "fsdp")`` together, so every device sees its own
rows. Everything is one ``jax.jit`` with these shardings: XLA's SPMD partitioner gathers
a parameter where an operation needs it whole and reduces the gradient onto the shards,
so the arithmetic is one device's up to the order of its sums. A mesh without the axis
(F = 1) gives the plain layout: states on ``"seeds"`` (or replicated), batches on ``"data"``.
"""

from __future__ import annotations

import jax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

__all__ = ["batch_sharding", "sharded_axis", "tree_shardings"]


def _fsdp_size(mesh: Mesh) -> int:
    return mesh.shape["fsdp"] if "fsdp" in mesh.axis_names else 1


def sharded_axis(shape: tuple[int, ...], size: int, skip: int = 0) -> int | None:
    """The largest axis of ``shape`` (from axis ``skip`` on) that ``size`` divides, the
    first on a tie; None when ``size`` is 1 or no axis is divisible."""
    candidates = [a for a in range(skip, len(shape)) if size > 1 and shape[a] % size == 0]
    return max(candidates, key=lambda a: shape[a], default=None)


def _spec(shape: tuple[int, ...], size: int, stacked: bool) -> P:
    """``"seeds"`` on the leading axis of a stacked (vmapped) array, ``"fsdp"`` on
    :func:`sharded_axis`, nothing elsewhere."""
    names: list[str | None] = [None] * len(shape)
    if stacked:
        names[0] = "seeds"
    axis = sharded_axis(shape, size, skip=int(stacked))
    if axis is not None:
        names[axis] = "fsdp"
    return P(*names)


def tree_shardings(tree, mesh: Mesh, stacked: bool = False):
    """A ``NamedSharding`` for every array of ``tree`` (concrete or ``jax.eval_shape``
    output): the module docstring's layout; ``stacked``: every leaf carries a leading
    seed axis (a vmapped group's state)."""
    size = _fsdp_size(mesh)
    return jax.tree.map(lambda leaf: NamedSharding(mesh, _spec(tuple(leaf.shape), size, stacked)), tree)


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Rows split over ``("data", "fsdp")`` (over ``"data"`` on a mesh without ``"fsdp"``)."""
    return NamedSharding(mesh, P(("data", "fsdp") if "fsdp" in mesh.axis_names else "data"))
