"""The ``("seeds", "data")`` device mesh of a training run, with a third axis ``"fsdp"``
when a language model's parameters are sharded (config key ``mesh.fsdp`` > 1,
:mod:`repsim_jax.train.fsdp`).

A vmapped group of S seeds is sharded on ``"seeds"`` (each device holds S/s of the seed
members' parameters and optimiser state) and every batch on ``"data"`` (and ``"fsdp"``;
XLA inserts the gradient all-reduce): one jitted program, no ``pmap``. A single run is
the case S = 1 with every device on ``"data"``.
"""

from __future__ import annotations

import math

import jax
import numpy as np
from jax.sharding import AxisType, Mesh

from repsim_jax.errors import InputError

__all__ = ["device_grid", "mesh_shape", "make_mesh", "seeds_data_mesh"]


def mesh_shape(num_seeds: int, seeds: int = 0, data: int = 0, num_devices: int | None = None) -> tuple[int, int]:
    """The ``(seeds, data)`` axis sizes for a group of ``num_seeds`` seed members.

    ``seeds``/``data`` (config section ``mesh``): a positive size, ``-1`` = every device
    the other axis leaves, ``0`` = the default: a single run puts every device on
    ``data``; a group of S seeds puts ``gcd(S, devices)`` on ``seeds`` (= min(S, devices)
    when one divides the other) and the rest on ``data``. Seeds that do not divide the
    ``seeds`` axis are refused (no padding), as is a product that is not the device count.
    """
    devices = jax.device_count() if num_devices is None else num_devices
    if num_seeds < 1:
        raise InputError(f"need at least one seed, got {num_seeds}")
    if seeds == 0 and data == 0:
        seeds = math.gcd(num_seeds, devices)
    if seeds in (0, -1) and data in (0, -1):
        raise InputError(f"mesh.seeds and mesh.data cannot both be left open, got {seeds} and {data}")
    if seeds in (0, -1):
        seeds = devices // data if data > 0 and devices % data == 0 else 0
    if data in (0, -1):
        data = devices // seeds if seeds > 0 and devices % seeds == 0 else 0
    if seeds < 1 or data < 1 or seeds * data != devices:
        raise InputError(f"mesh seeds × data must use all {devices} devices, got seeds={seeds}, data={data}")
    if num_seeds % seeds:
        raise InputError(f"{num_seeds} seeds do not divide over a seeds axis of {seeds}: pick mesh.seeds dividing both")
    return seeds, data


def device_grid(devices, seeds: int, data: int, fsdp: int = 1) -> np.ndarray:
    """``devices`` as a ``(seeds, data)`` grid whose ``data`` axis runs across processes,
    ``(seeds, data, fsdp)`` when ``fsdp`` > 1.

    In process-major order (by ``process_index``, then ``id``), device k sits at
    ``(k mod seeds, k div seeds)`` (with ``fsdp``: ``k mod fsdp`` on ``"fsdp"``, the
    rest of ``k div fsdp`` as before): a process's devices fill whole ``data`` columns, so
    each process holds (and reads) only its own data blocks of the training rows, and
    only the gradient all-reduce crosses hosts; a seed group's members, and the devices
    that share a parameter's shards, stay within a process wherever its device count allows.
    """
    ordered = np.empty(seeds * data * fsdp, dtype=object)
    ordered[:] = sorted(devices, key=lambda d: (d.process_index, d.id))
    grid = ordered.reshape(data, seeds, fsdp).transpose(1, 0, 2)
    return grid if fsdp > 1 else grid[..., 0]


def make_mesh(num_seeds: int, seeds: int = 0, data: int = 0, fsdp: int = 1) -> Mesh:
    """A ``("seeds", "data")`` mesh of every device with :func:`mesh_shape`'s sizes, laid
    out by :func:`device_grid` (Auto axis types, so ordinary model code needs no sharding
    annotations); ``fsdp`` > 1 adds the axis ``"fsdp"`` of that size, and ``seeds × data``
    then share the devices it leaves (``devices / fsdp``)."""
    devices = jax.device_count()
    if fsdp < 1 or devices % fsdp:
        raise InputError(f"mesh.fsdp must divide the {devices} devices, got {fsdp}")
    shape = mesh_shape(num_seeds, seeds, data, devices // fsdp)
    names = ("seeds", "data", "fsdp") if fsdp > 1 else ("seeds", "data")
    return Mesh(device_grid(jax.devices(), *shape, fsdp), names, axis_types=(AxisType.Auto,) * len(names))


def seeds_data_mesh(mesh: Mesh) -> Mesh:
    """``mesh`` as a ``("seeds", "data"[, "fsdp"])`` mesh with Auto axes; a 1-D
    ``("data",)`` mesh gets a ``seeds`` axis of size 1."""
    names = tuple(mesh.axis_names)
    if names == ("data",):
        names, devices = ("seeds", "data"), np.asarray(mesh.devices).reshape(1, -1)
    elif names in (("seeds", "data"), ("seeds", "data", "fsdp")):
        devices = np.asarray(mesh.devices)
    else:
        raise InputError(f"need a ('seeds', 'data'[, 'fsdp']) or ('data',) mesh, got axes {names}")
    return Mesh(devices, names, axis_types=(AxisType.Auto,) * len(names))
