"""Encoders, the bias-free unembedding and classifiers (Flax Linen).

Model family (arXiv 2602.15438): an encoder ``f`` maps an input to an embedding
``f(x) ∈ R^d``; a bias-free unembedding ``G ∈ R^{K×d}`` gives logits ``z = G f(x)``.
Every classifier returns ``(embeddings, logits)``; the concept-bottleneck classifier also
returns the concept logits.

BatchNorm statistics live in the ``batch_stats`` collection: apply with
``mutable=["batch_stats"]`` when ``train=True`` and thread the returned state explicitly.
Dropout draws from the ``dropout`` RNG stream.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "MLPEncoder",
    "ResNetEncoder",
    "resnet18_encoder",
    "resnet50_encoder",
    "Unembedding",
    "Classifier",
    "ConceptBottleneckClassifier",
    "unembedding_matrix",
    "build_model",
    "predict",
    "TrainedModel",
]


class MLPEncoder(nn.Module):
    """The reference MLP encoder ``in → 512 → 512 → 512 → d``.

    Each hidden layer is ``Dense → ReLU → Dropout(rate)``; the last layer is linear.
    """

    embedding_dim: int
    hidden: Sequence[int] = (512, 512, 512)
    dropout_rate: float = 0.1

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = x.reshape((x.shape[0], -1))
        for width in self.hidden:
            h = nn.relu(nn.Dense(width)(h))
            h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
        return nn.Dense(self.embedding_dim)(h)


class _BasicBlock(nn.Module):
    """ResNet basic block: two 3×3 convolutions with a projection shortcut when needed."""

    filters: int
    strides: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9)
        y = nn.Conv(self.filters, (3, 3), self.strides, use_bias=False)(x)
        y = nn.relu(norm()(y))
        y = nn.Conv(self.filters, (3, 3), 1, use_bias=False)(y)
        y = norm()(y)
        if x.shape[-1] != self.filters or self.strides != 1:
            x = nn.Conv(self.filters, (1, 1), self.strides, use_bias=False)(x)
            x = norm()(x)
        return nn.relu(x + y)


class _Bottleneck(nn.Module):
    """ResNet bottleneck block ``1×1 → 3×3 → 1×1`` with expansion 4."""

    filters: int
    strides: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9)
        out = 4 * self.filters
        y = nn.relu(norm()(nn.Conv(self.filters, (1, 1), use_bias=False)(x)))
        y = nn.Conv(self.filters, (3, 3), self.strides, use_bias=False)(y)
        y = nn.relu(norm()(y))
        y = norm()(nn.Conv(out, (1, 1), use_bias=False)(y))
        if x.shape[-1] != out or self.strides != 1:
            x = norm()(nn.Conv(out, (1, 1), self.strides, use_bias=False)(x))
        return nn.relu(x + y)


class ResNetEncoder(nn.Module):
    """CIFAR ResNet (3×3 stem, no max-pool) ending in a linear ``d``-dim embedding.

    Stages of ``stage_sizes`` blocks with widths 64·2^i, stride 2 from the second stage,
    global average pooling, then ``Dense(embedding_dim)``.
    """

    embedding_dim: int
    stage_sizes: Sequence[int]
    bottleneck: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        block = _Bottleneck if self.bottleneck else _BasicBlock
        h = nn.Conv(64, (3, 3), use_bias=False)(x)
        h = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9)(h))
        for i, size in enumerate(self.stage_sizes):
            for j in range(size):
                strides = 2 if i > 0 and j == 0 else 1
                h = block(64 * 2**i, strides)(h, train)
        h = jnp.mean(h, axis=(1, 2))
        return nn.Dense(self.embedding_dim)(h)


def resnet18_encoder(embedding_dim: int) -> ResNetEncoder:
    """CIFAR ResNet-18 encoder (basic blocks, stages 2-2-2-2)."""
    return ResNetEncoder(embedding_dim, (2, 2, 2, 2), bottleneck=False)


def resnet50_encoder(embedding_dim: int) -> ResNetEncoder:
    """CIFAR ResNet-50 encoder (bottleneck blocks, stages 3-4-6-3)."""
    return ResNetEncoder(embedding_dim, (3, 4, 6, 3), bottleneck=True)


class Unembedding(nn.Module):
    """Bias-free unembedding ``z = G f`` with ``G ∈ R^{K×d}`` (Xavier-uniform init).

    The kernel is stored as ``Gᵀ`` (shape ``(d, K)``); see :func:`unembedding_matrix`.
    """

    num_classes: int

    @nn.compact
    def __call__(self, f: jax.Array) -> jax.Array:
        dense = nn.Dense(self.num_classes, use_bias=False, kernel_init=nn.initializers.xavier_uniform())
        return dense(f)


class Classifier(nn.Module):
    """Encoder followed by the bias-free unembedding; returns ``(embeddings, logits)``."""

    encoder: nn.Module
    num_classes: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False):
        f = self.encoder(x, train=train)
        return f, Unembedding(self.num_classes, name="unembedding")(f)


class ConceptBottleneckClassifier(nn.Module):
    """Concept-bottleneck teacher: image → concepts → embedding → class logits.

    ``c = W_c h(x)`` are concept logits (``sigmoid(c)`` the concept probabilities),
    the embedding is ``f = W_f sigmoid(c) + b``, the logits ``z = G f``.
    Returns ``(embeddings, logits, concept_logits)``.
    """

    backbone: nn.Module
    num_concepts: int
    embedding_dim: int
    num_classes: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False):
        h = self.backbone(x, train=train)
        concept_logits = nn.Dense(self.num_concepts, name="concepts")(h)
        f = nn.Dense(self.embedding_dim, name="embedding")(nn.sigmoid(concept_logits))
        logits = Unembedding(self.num_classes, name="unembedding")(f)
        return f, logits, concept_logits


def unembedding_matrix(params) -> jax.Array:
    """The unembedding ``G`` (K, d) of a classifier's parameters."""
    return params["unembedding"]["Dense_0"]["kernel"].T


def build_model(config, num_classes: int, num_concepts: int = 0) -> nn.Module:
    """The classifier a ``model`` config section names (``name``, ``hidden``, ``dropout``,
    ``embedding_dim``, ``concept_bottleneck``)."""
    d = config.embedding_dim
    if config.name == "mlp":
        encoder = MLPEncoder(d, tuple(config.hidden), config.dropout)
    elif config.name in ("resnet18", "resnet50"):
        encoder = {"resnet18": resnet18_encoder, "resnet50": resnet50_encoder}[config.name](d)
    else:
        raise ValueError(f"unknown model {config.name!r}; choose mlp, resnet18 or resnet50")
    if not config.concept_bottleneck:
        return Classifier(encoder, num_classes)
    if not num_concepts:
        raise ValueError("model.concept_bottleneck needs a dataset with concepts")
    return ConceptBottleneckClassifier(encoder, num_concepts, d, num_classes)


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
