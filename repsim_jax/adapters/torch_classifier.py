"""A PyTorch classifier as ``logits = f gᵀ``: penultimate features and its final linear layer.

``f`` is the input of the classifier's head (its final ``nn.Linear``), captured by a
forward hook; ``g`` is the head's weight (K, d). A head bias ``b`` is folded in as a
constant-1 column of ``f`` and the column ``b`` of ``g``, so ``logits = f gᵀ`` holds
exactly (up to float32 rounding) whether or not the head has a bias.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from repsim_jax.adapters._fold import head_embeddings, head_unembeddings
from repsim_jax.errors import InputError
from repsim_jax.io import Representation


def final_linear(model: torch.nn.Module) -> torch.nn.Linear:
    """The last ``nn.Linear`` in ``model.modules()`` (registration order); ValueError if none."""
    linears = [module for module in model.modules() if isinstance(module, torch.nn.Linear)]
    if not linears:
        raise InputError(f"{type(model).__name__} has no nn.Linear layer to use as its head")
    return linears[-1]


class HeadCapture:
    """Context manager: records ``(input, output)`` of every call of ``head`` while active."""

    def __init__(self, head: torch.nn.Linear):
        self.head = head
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def _record(self, module, args, output):
        self.calls.append((args[0], output))

    def __enter__(self) -> "HeadCapture":
        self._handle = self.head.register_forward_hook(self._record)
        return self

    def __exit__(self, *exc_info) -> None:
        self._handle.remove()

    def single_call(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The one ``(input, output)`` of the last forward pass; ValueError unless there was exactly one."""
        calls, self.calls = self.calls, []
        if len(calls) != 1:
            raise InputError(f"the head was called {len(calls)} times in one forward pass (expected once)")
        return calls[0]


def _as_model_input(batch, model: torch.nn.Module) -> torch.Tensor:
    """A tensor on the model's device; floating inputs cast to the model's parameter dtype."""
    parameter = next(model.parameters())
    batch = torch.as_tensor(batch, device=parameter.device)
    return batch.to(parameter.dtype) if batch.is_floating_point() else batch


def _batch_rows(model, head, capture, batch) -> tuple[np.ndarray, np.ndarray]:
    """``(f, logits)`` of one batch; ValueError unless the model returns its head's 2-D output."""
    logits = model(_as_model_input(batch, model))
    features, head_output = capture.single_call()
    if features.ndim != 2:
        raise InputError(f"the head's input has shape {tuple(features.shape)}; expected (batch, features)")
    if not isinstance(logits, torch.Tensor) or not torch.equal(logits, head_output):
        raise InputError("the model's output is not its head's output, so logits = f gᵀ would not hold")
    return head_embeddings(features, head), logits.detach().to("cpu", torch.float32).numpy()


def classifier_representation(
    model: torch.nn.Module, inputs, head: Optional[torch.nn.Linear] = None, batch_size: int = 256
) -> Representation:
    """``Representation(f (n, d[+1]), g (K, d[+1]), logits (n, K))`` of a classifier on ``inputs``.

    ``inputs`` is an array or tensor whose first axis indexes the n examples; it is fed to
    ``model`` in batches of ``batch_size`` (model in eval mode, ``torch.no_grad``). ``head``
    defaults to :func:`final_linear`; the model's output must be that head's output. The
    logits are the model's own; ``f gᵀ`` equals them up to float32 rounding.
    """
    if batch_size < 1:
        raise InputError(f"batch_size must be >= 1, got {batch_size}")
    head = final_linear(model) if head is None else head
    model.eval()
    features, logits = [], []
    with torch.no_grad(), HeadCapture(head) as capture:
        for start in range(0, len(inputs), batch_size):
            f, z = _batch_rows(model, head, capture, inputs[start : start + batch_size])
            features.append(f)
            logits.append(z)
    if not features:
        raise InputError("inputs are empty")
    return Representation(np.concatenate(features), head_unembeddings(head), np.concatenate(logits))
