"""Model variables stored in files (config key ``model.init_from``): read once per file
version (a cache keyed on path and modification time) and put in place of a model's
random initialisation."""

from __future__ import annotations

import functools
import pathlib

import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from repsim_jax.errors import InputError

__all__ = ["load_variables", "with_init_file", "with_variables"]


def load_variables(path: str) -> dict[str, np.ndarray]:
    """Flat model variables ``{"params/encoder/Conv_0/kernel": array, ...}`` from a file
    or, for a language model, a Hugging Face GPT-2 directory
    (:func:`repsim_jax.lm.hf.hf_variables`).

    ``.npz``: keys are ``/``-joined paths starting with ``params/`` or ``batch_stats/``
    (what :func:`repsim_jax.adapters.torchvision_resnet.convert` writes). ``.pth``/``.pt``:
    a torchvision ResNet ``state_dict``, converted on the fly (needs the ``[torch]``
    extra). Read once per file version (path and modification time). ValueError for a
    missing file, another suffix, other keys or non-finite values.
    """
    file = pathlib.Path(path)
    if file.is_dir():
        from repsim_jax.lm.hf import hf_variables  # lm imports this module

        return hf_variables(path)
    if not file.is_file():
        raise InputError(f"model.init_from: no such file {path}")
    return _read_variables(str(file), file.stat().st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_variables(path: str, _mtime: int) -> dict[str, np.ndarray]:
    if path.endswith((".pth", ".pt")):
        from repsim_jax.adapters.torchvision_resnet import read_resnet_variables

        return read_resnet_variables(path)
    if not path.endswith(".npz"):
        raise InputError(f"model.init_from {path}: expected a .npz of variables or a torchvision .pth state_dict")
    with np.load(path) as stored:
        flat = {key: stored[key] for key in stored.files}
    for key, value in flat.items():
        if key.split("/")[0] not in ("params", "batch_stats"):
            raise InputError(f"{path}: key {key!r} is not a model variable (params/... or batch_stats/...)")
        if not np.all(np.isfinite(value)):
            raise InputError(f"{path}: {key} has NaN or Inf values")
    return flat


def with_variables(variables, stored: dict[str, np.ndarray], source: str):
    """``variables`` with every array of ``stored`` (flat ``/``-joined paths) put in place.

    Each stored array must name a variable of the model and have its shape (ValueError
    naming the key otherwise, e.g. for a ResNet-50 file given to a ResNet-18 or a
    torchvision trunk given to a ``cifar``-stem model); it takes the variable's dtype.
    Variables absent from ``stored`` keep their values.
    """
    flat = traverse_util.flatten_dict(dict(variables), sep="/")
    unknown = sorted(set(stored) - set(flat))
    if unknown:
        raise InputError(
            f"{source}: {len(unknown)} arrays match no variable of the model (e.g. {unknown[0]}); "
            "check model.name and model.stem"
        )
    for key, value in stored.items():
        if value.shape != flat[key].shape:
            raise InputError(f"{source}: {key} has shape {value.shape}, the model's has {flat[key].shape}")
        flat[key] = jnp.asarray(value, flat[key].dtype)
    return traverse_util.unflatten_dict(flat, sep="/")


def with_init_file(variables, init_from: str):
    """``variables`` with those of the file ``init_from`` put in place (:func:`with_variables`),
    or unchanged when ``init_from`` is empty: the ``init`` of a model with an ``init_from`` field."""
    if not init_from:
        return variables
    return with_variables(variables, load_variables(init_from), init_from)
