"""torchvision ResNet weights as variables of our Flax ResNet (``model.stem="imagenet"``).

A ``state_dict`` of ``torchvision.models.resnet18``/``resnet50`` (e.g. the ImageNet
weights ``resnet50-11ad3fa6.pth``) maps one to one onto
:class:`repsim_jax.models.ResNetEncoder` with the torchvision stem; the two then compute
the same function. Per tensor (torch layouts on the left):

* convolution ``weight`` (O, I, kh, kw) → ``kernel`` (kh, kw, I, O);
* BatchNorm ``weight``/``bias`` → params ``scale``/``bias``; ``running_mean``/
  ``running_var`` → batch_stats ``mean``/``var`` (``num_batches_tracked`` is dropped;
  both use ε = 1e-5, and Flax momentum 0.9 is torch momentum 0.1);
* ``conv1``/``bn1`` → ``encoder/Conv_0``/``BatchNorm_0``; block j of ``layer{s}`` →
  ``encoder/_BasicBlock_b`` or ``_Bottleneck_b`` with b counting blocks over all stages;
  inside a block ``conv{i}``/``bn{i}`` → ``Conv_{i−1}``/``BatchNorm_{i−1}`` and the
  projection shortcut ``downsample.0``/``downsample.1`` → the next ``Conv``/``BatchNorm``.

torchvision's own ``fc`` (the 1000 ImageNet classes) is not part of our model and is
dropped: the classifier puts a ``d``-dim embedding head (``Linear`` with bias) after the
pooled trunk and a bias-free unembedding to K classes after it, as the reference code
of arXiv 2602.15438 does (``backbones/resnet.py``, ``models/classifier.py``). A
``state_dict`` of such a classifier (keys ``encoder.tv_layers.<trunk>``,
``encoder.linear.{weight,bias}``, ``linear.weight``) converts whole: ``encoder.linear``
→ ``encoder/Dense_0`` (``weight`` (d, C) → ``kernel`` (C, d)) and ``linear.weight``
(K, d) → ``unembedding/Dense_0/kernel`` (d, K); its unused ``encoder.conv1`` is dropped.
A plain torchvision ``state_dict`` gives the trunk only, and the heads keep their random
initialisation (:func:`repsim_jax.models.with_variables`).

``python -m repsim_jax.adapters.torchvision_resnet IN.pth OUT.npz`` writes the flat
variables that ``model.init_from`` reads without torch.
"""

from __future__ import annotations

import pickle
import re
import sys
from collections.abc import Mapping

import numpy as np
import torch

from repsim_jax.errors import InputError

__all__ = ["read_state_dict", "resnet_variables", "read_resnet_variables", "convert"]

_BLOCK = re.compile(r"layer(\d)\.(\d+)\.")
_BN = {
    "weight": ("params", "scale"),
    "bias": ("params", "bias"),
    "running_mean": ("batch_stats", "mean"),
    "running_var": ("batch_stats", "var"),
}


def read_state_dict(path: str) -> dict[str, np.ndarray]:
    """The tensors of a ``torch.save``\\ d ``state_dict`` as float32 NumPy arrays.

    Loaded with ``weights_only=True`` (no code runs). ValueError for an unreadable file
    or one that is not a mapping of names to tensors."""
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as error:
        raise InputError(f"{path}: cannot read a torch state_dict: {' '.join(str(error).split())}") from None
    if not isinstance(loaded, Mapping) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise InputError(f"{path}: expected a state_dict (a mapping of names to tensors), got {type(loaded).__name__}")
    return {key: value.detach().to(torch.float32).numpy() for key, value in loaded.items()}


def _layout(state: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(trunk, heads)``: torchvision trunk tensors by their torchvision names, and the
    classifier heads (``embedding.*``, ``unembedding``) when the reference layout has them."""
    prefix = "encoder.tv_layers."
    if not any(key.startswith(prefix) for key in state):
        return dict(state), {}
    trunk = {key.removeprefix(prefix): v for key, v in state.items() if key.startswith(prefix)}
    heads = {
        name: state[key]
        for name, key in (
            ("embedding.weight", "encoder.linear.weight"),
            ("embedding.bias", "encoder.linear.bias"),
            ("unembedding", "linear.weight"),
        )
        if key in state
    }
    rest = set(state) - {prefix + key for key in trunk} - {"encoder.linear.weight", "encoder.linear.bias"}
    unknown = sorted(rest - {"linear.weight", "encoder.conv1.weight"})
    if unknown:
        raise InputError(f"unexpected keys beside the classifier layout: {unknown[:5]}")
    return trunk, heads


def _module_names(trunk: Mapping[str, np.ndarray]) -> dict[str, str]:
    """torchvision module name (``conv1``, ``layer2.0.downsample.1``) → our module path,
    for every module the trunk must hold (shortcuts where it has them)."""
    blocks = sorted({(int(m[1]), int(m[2])) for m in map(_BLOCK.match, trunk) if m})
    bottleneck = any(key.endswith(".conv3.weight") for key in trunk)
    kind, convs = ("_Bottleneck", 3) if bottleneck else ("_BasicBlock", 2)
    names = {"conv1": "encoder/Conv_0", "bn1": "encoder/BatchNorm_0"}
    for index, (stage, block) in enumerate(blocks):
        base, ours = f"layer{stage}.{block}", f"encoder/{kind}_{index}"
        for i in range(1, convs + 1):
            names[f"{base}.conv{i}"], names[f"{base}.bn{i}"] = f"{ours}/Conv_{i - 1}", f"{ours}/BatchNorm_{i - 1}"
        if any(key.startswith(f"{base}.downsample.") for key in trunk):
            names[f"{base}.downsample.0"] = f"{ours}/Conv_{convs}"
            names[f"{base}.downsample.1"] = f"{ours}/BatchNorm_{convs}"
    return names


def _leaves(path: str) -> tuple[str, ...]:
    return ("weight",) if "/Conv_" in path else tuple(_BN)


def _trunk_variables(trunk: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    names = _module_names(trunk)
    for module, path in names.items():
        missing = [leaf for leaf in _leaves(path) if f"{module}.{leaf}" not in trunk]
        if missing:
            raise InputError(f"incomplete state_dict: {module} lacks {missing}")
    known = {f"{module}.{leaf}" for module, path in names.items() for leaf in _leaves(path)}
    unused = [k for k in trunk if k not in known and not k.endswith("num_batches_tracked") and not k.startswith("fc.")]
    if unused:
        raise InputError(f"keys that are not part of a torchvision ResNet: {sorted(unused)[:5]}")
    out = {}
    for module, path in names.items():
        if "/Conv_" in path:
            weight = trunk[f"{module}.weight"]
            if weight.ndim != 4:
                raise InputError(f"{module}.weight must be 4-D (O, I, kh, kw), got shape {weight.shape}")
            out[f"params/{path}/kernel"] = weight.transpose(2, 3, 1, 0)
        else:
            for leaf, (collection, name) in _BN.items():
                out[f"{collection}/{path}/{name}"] = trunk[f"{module}.{leaf}"]
    return out


def _head_variables(heads: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {}
    if "embedding.weight" in heads:
        out["params/encoder/Dense_0/kernel"] = heads["embedding.weight"].T
    if "embedding.bias" in heads:
        out["params/encoder/Dense_0/bias"] = heads["embedding.bias"]
    if "unembedding" in heads:
        out["params/unembedding/Dense_0/kernel"] = heads["unembedding"].T
    return out


def resnet_variables(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Flat variables ``{"params/encoder/Conv_0/kernel": array, ...}`` of a torchvision
    ResNet ``state_dict`` (or of a reference-layout classifier); see the module docstring.

    ValueError naming the key for an unknown key, a convolution weight that is not 4-D,
    a BatchNorm or convolution with missing tensors, or a NaN/Inf value.
    """
    for key, value in state.items():
        if not np.all(np.isfinite(value)):
            raise InputError(f"{key} has NaN or Inf values")
    trunk, heads = _layout(state)
    if "conv1.weight" not in trunk:
        raise InputError("not a torchvision ResNet state_dict: no conv1.weight")
    return _trunk_variables(trunk) | _head_variables(heads)


def read_resnet_variables(path: str) -> dict[str, np.ndarray]:
    """:func:`resnet_variables` of the ``state_dict`` saved at ``path`` (errors name the file)."""
    try:
        return resnet_variables(read_state_dict(path))
    except ValueError as error:
        raise InputError(f"{path}: {error}") from None


def convert(path: str, out: str) -> dict[str, np.ndarray]:
    """Write :func:`read_resnet_variables` of ``path`` to the ``.npz`` ``out``; returns them."""
    variables = read_resnet_variables(path)
    np.savez(out, **variables)
    return variables


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m repsim_jax.adapters.torchvision_resnet IN.pth OUT.npz")
    written = convert(sys.argv[1], sys.argv[2])
    print(f"wrote {len(written)} arrays to {sys.argv[2]}")
