"""Trained models: :class:`TrainedModel` (a module with its variables) and inference
(:func:`predict`, one jitted program per model and preprocessing)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax.models.architectures import unembedding_matrix

__all__ = ["TrainedModel", "predict"]


def predict(
    model: nn.Module, variables, x, batch_size: int = 4096, preprocess: Callable | None = None
) -> tuple[jax.Array, jax.Array]:
    """Inference-mode ``(embeddings, logits)`` of ``model`` over ``x``, in chunks."""
    run = _inference(model, preprocess)
    outs = [run(variables, x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return tuple(jnp.concatenate(parts) for parts in zip(*outs))


@functools.lru_cache(maxsize=32)
def _inference(model: nn.Module, preprocess: Callable | None):
    """One jitted ``(variables, chunk) -> (embeddings, logits)`` per (model, preprocess),
    so repeated predictions (every seed, split and checkpoint) compile once per shape."""

    def run(variables, chunk):
        chunk = preprocess(chunk) if preprocess else chunk
        return model.apply(variables, chunk, train=False)[:2]

    return jax.jit(run)


@dataclasses.dataclass(frozen=True)
class TrainedModel:
    """A trained classifier: ``model`` (a Flax module), ``variables``
    (``{"params"[, "batch_stats"]}``), its ``seed`` and the ``workdir`` it came from."""

    model: Any
    variables: Any
    seed: int = 0
    workdir: str = ""

    def outputs(self, x, preprocess: Callable | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(embeddings (n, d), logits (n, K))`` as NumPy arrays."""
        emb, logits = predict(self.model, self.variables, x, preprocess=preprocess)
        return np.asarray(emb), np.asarray(logits)

    @property
    def unembeddings(self) -> np.ndarray:
        """``G`` (K, d)."""
        return np.asarray(unembedding_matrix(self.variables["params"]))
