"""Bias folding: ``f Wᵀ + b = [f, 1] [W, b]ᵀ``, so a biased linear head stays a pure f gᵀ."""

from __future__ import annotations

import numpy as np
import torch


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to(device="cpu", dtype=torch.float32).numpy()


def head_unembeddings(head: torch.nn.Linear) -> np.ndarray:
    """``W`` (K, d), or ``[W, b]`` (K, d+1) when the head has a bias; float32."""
    weight = _numpy(head.weight)
    if head.bias is None:
        return weight
    return np.concatenate([weight, _numpy(head.bias)[:, None]], axis=1)


def head_embeddings(features: torch.Tensor, head: torch.nn.Linear) -> np.ndarray:
    """The head's input rows (m, d), with a constant-1 column appended when it has a bias; float32."""
    rows = _numpy(features)
    if head.bias is None:
        return rows
    return np.concatenate([rows, np.ones((rows.shape[0], 1), np.float32)], axis=1)
