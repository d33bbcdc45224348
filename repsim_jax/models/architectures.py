"""Encoders, the bias-free unembedding and classifiers (Flax Linen), and their
initialisations (:data:`INITS`).

Model family (arXiv 2602.15438): an encoder ``f`` maps an input to an embedding
``f(x) ∈ R^d``; a bias-free unembedding ``G ∈ R^{K×d}`` gives logits ``z = G f(x)``.
Every classifier returns ``(embeddings, logits)``; the concept-bottleneck and
attribute-head classifiers also return concept (attribute) logits.

A classifier built with ``init_from`` (config key ``model.init_from``) starts from the
variables stored in a file instead of its random initialisation
(:mod:`repsim_jax.models.variables`).

BatchNorm statistics live in the ``batch_stats`` collection: apply with
``mutable=["batch_stats"]`` when ``train=True`` and thread the returned state explicitly.
Dropout draws from the ``dropout`` RNG stream.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from repsim_jax.errors import InputError
from repsim_jax.models.variables import with_init_file

__all__ = [
    "AttributeHeadClassifier",
    "Classifier",
    "ConceptBottleneckClassifier",
    "INITS",
    "MLPEncoder",
    "ResNetEncoder",
    "STEMS",
    "Unembedding",
    "dense",
    "resnet18_encoder",
    "resnet50_encoder",
    "unembedding_matrix",
    "without_init_file",
]

STEMS = ("cifar", "imagenet")


INITS = ("flax", "torch_default")
"""Initialisations of config key ``model.init``: ``flax`` (Flax's defaults: LeCun-normal
kernels, zero biases) or ``torch_default`` (PyTorch's ``nn.Linear`` defaults, the authors'
setup: kernels and biases uniform on ``±1/√fan_in``)."""

_TORCH_KERNEL = nn.initializers.variance_scaling(1 / 3, "fan_in", "uniform")  # U(±√(3·⅓/fan_in))


def _torch_bias(fan_in: int):
    """PyTorch's ``nn.Linear`` bias initialisation, ``U(−1/√fan_in, 1/√fan_in)``."""
    bound = 1.0 / math.sqrt(fan_in)
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -bound, bound)


def dense(features: int, fan_in: int, init: str, **kwargs) -> nn.Dense:
    """``nn.Dense(features, **kwargs)`` initialised by ``init`` (:data:`INITS`); ``fan_in``
    is its input width. ``torch_default`` draws the kernel and bias from ``U(±1/√fan_in)``
    (PyTorch's ``kaiming_uniform_(a=√5)`` and bias rule: ``torch.nn.Linear.reset_parameters``)."""
    if init == "flax":
        return nn.Dense(features, **kwargs)
    if init == "torch_default":
        return nn.Dense(features, kernel_init=_TORCH_KERNEL, bias_init=_torch_bias(fan_in), **kwargs)
    raise InputError(f"unknown model.init {init!r}; choose one of {', '.join(INITS)}")


class MLPEncoder(nn.Module):
    """The reference MLP encoder ``in → 512 → 512 → 512 → d``.

    Each hidden layer is ``Dense → ReLU → Dropout(rate)``; the last layer is linear;
    every layer initialised by ``init`` (:func:`dense`).
    """

    embedding_dim: int
    hidden: Sequence[int] = (512, 512, 512)
    dropout_rate: float = 0.1
    dtype: Any = jnp.float32
    init: str = "flax"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        h = x.reshape((x.shape[0], -1))
        for width in self.hidden:
            h = nn.relu(dense(width, h.shape[-1], self.init, dtype=self.dtype)(h))
            h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
        return dense(self.embedding_dim, h.shape[-1], self.init, dtype=self.dtype)(h)


def _norm_and_conv(train: bool, dtype):
    """A ResNet block's layer makers: BatchNorm (momentum 0.9, batch statistics while
    training) and bias-free convolutions."""
    norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=dtype)
    return norm, functools.partial(nn.Conv, use_bias=False, dtype=dtype)


def _residual(x: jax.Array, y: jax.Array, strides: int, norm, conv) -> jax.Array:
    """``relu(shortcut(x) + y)``: the identity, or a strided 1×1 convolution and BatchNorm
    where the width or the resolution changes."""
    if x.shape[-1] != y.shape[-1] or strides != 1:
        x = norm()(conv(y.shape[-1], (1, 1), strides)(x))
    return nn.relu(x + y)


class _Block(nn.Module):
    """The fields of a ResNet block: output ``filters``, ``strides`` of its strided
    convolution, ``padding`` of its 3×3 convolutions (Flax's ``"SAME"`` or torch's 1 pixel
    per side: they differ at stride 2 on even sizes, where ``"SAME"`` pads only the far
    side) and ``dtype``."""

    filters: int
    strides: int
    padding: Any = "SAME"
    dtype: Any = jnp.float32


class _BasicBlock(_Block):
    """ResNet basic block: two 3×3 convolutions with a projection shortcut when needed."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        norm, conv = _norm_and_conv(train, self.dtype)
        y = conv(self.filters, (3, 3), self.strides, padding=self.padding)(x)
        y = nn.relu(norm()(y))
        y = conv(self.filters, (3, 3), 1, padding=self.padding)(y)
        return _residual(x, norm()(y), self.strides, norm, conv)


class _Bottleneck(_Block):
    """ResNet bottleneck block ``1×1 → 3×3 → 1×1`` with expansion 4, the stride on the
    3×3 convolution (torchvision's "ResNet v1.5")."""

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        norm, conv = _norm_and_conv(train, self.dtype)
        y = nn.relu(norm()(conv(self.filters, (1, 1))(x)))
        y = conv(self.filters, (3, 3), self.strides, padding=self.padding)(y)
        y = nn.relu(norm()(y))
        return _residual(x, norm()(conv(4 * self.filters, (1, 1))(y)), self.strides, norm, conv)


class ResNetEncoder(nn.Module):
    """ResNet trunk ending in a linear ``d``-dim embedding.

    ``stem="cifar"`` (default): a 3×3 stride-1 convolution, no max-pool, Flax ``"SAME"``
    padding. ``stem="imagenet"``: torchvision's ResNet (He et al. 2016 as in
    ``torchvision.models.resnet``): a 7×7 stride-2 convolution padded 3, BatchNorm, ReLU,
    a 3×3 stride-2 max-pool padded 1, and torch's symmetric padding in every block, so
    that converted torchvision weights (:mod:`repsim_jax.adapters.torchvision_resnet`)
    give torchvision's outputs. Then stages of ``stage_sizes`` blocks with widths 64·2^i,
    stride 2 from the second stage, global average pooling and ``Dense(embedding_dim)``
    (with bias: the ``d``-dim embedding head that replaces torchvision's ``fc``).
    """

    embedding_dim: int
    stage_sizes: Sequence[int]
    bottleneck: bool = False
    stem: str = "cifar"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if self.stem not in STEMS:
            raise InputError(f"unknown ResNet stem (model.stem) {self.stem!r}; choose one of {STEMS}")
        block = _Bottleneck if self.bottleneck else _BasicBlock
        imagenet = self.stem == "imagenet"
        padding = ((1, 1), (1, 1)) if imagenet else "SAME"
        if imagenet:
            h = nn.Conv(64, (7, 7), 2, padding=((3, 3), (3, 3)), use_bias=False, dtype=self.dtype)(x)
        else:
            h = nn.Conv(64, (3, 3), use_bias=False, dtype=self.dtype)(x)
        h = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype)(h))
        if imagenet:
            h = nn.max_pool(h, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
        for i, size in enumerate(self.stage_sizes):
            for j in range(size):
                strides = 2 if i > 0 and j == 0 else 1
                h = block(64 * 2**i, strides, padding, self.dtype)(h, train)
        h = jnp.mean(h, axis=(1, 2))
        return nn.Dense(self.embedding_dim, dtype=self.dtype)(h)


def resnet18_encoder(embedding_dim: int, stem: str = "cifar", dtype: Any = jnp.float32) -> ResNetEncoder:
    """ResNet-18 encoder (basic blocks, stages 2-2-2-2); ``stem`` as in :class:`ResNetEncoder`."""
    return ResNetEncoder(embedding_dim, (2, 2, 2, 2), bottleneck=False, stem=stem, dtype=dtype)


def resnet50_encoder(embedding_dim: int, stem: str = "cifar", dtype: Any = jnp.float32) -> ResNetEncoder:
    """ResNet-50 encoder (bottleneck blocks, stages 3-4-6-3); ``stem`` as in :class:`ResNetEncoder`."""
    return ResNetEncoder(embedding_dim, (3, 4, 6, 3), bottleneck=True, stem=stem, dtype=dtype)


class Unembedding(nn.Module):
    """Bias-free unembedding ``z = G f`` with ``G ∈ R^{K×d}``, initialised Xavier-uniform
    (``init = "xavier"``) or as PyTorch's ``nn.Linear`` (``"torch_default"``, :func:`dense`).

    The kernel is stored as ``Gᵀ`` (shape ``(d, K)``); see :func:`unembedding_matrix`.
    """

    num_classes: int
    dtype: Any = jnp.float32
    init: str = "xavier"

    @nn.compact
    def __call__(self, f: jax.Array) -> jax.Array:
        if self.init == "xavier":
            init = nn.initializers.xavier_uniform()
            return nn.Dense(self.num_classes, use_bias=False, kernel_init=init, dtype=self.dtype)(f)
        return dense(self.num_classes, f.shape[-1], self.init, use_bias=False, dtype=self.dtype)(f)


class Classifier(nn.Module):
    """Encoder followed by the bias-free unembedding; returns ``(embeddings, logits)``.

    ``init_from``: a variables file (:func:`load_variables`); ``init`` then returns its
    arrays in place of the random ones, and keeps the random initialisation of the
    variables the file lacks (e.g. the embedding head and unembedding of an ImageNet
    trunk), see :func:`with_variables`. The file is read only when ``init`` runs: once,
    into a run's initial state, which its checkpoints then hold; restoring or resuming a
    run initialises :func:`without_init_file` instead and never reads the file again.
    """

    encoder: nn.Module
    num_classes: int
    init_from: str = ""
    dtype: Any = jnp.float32
    unembedding_init: str = "xavier"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False):
        f = self.encoder(x, train=train)
        return _float32(f, Unembedding(self.num_classes, self.dtype, self.unembedding_init, name="unembedding")(f))

    @nn.nowrap
    def init(self, rngs, *args, **kwargs):
        return with_init_file(super().init(rngs, *args, **kwargs), self.init_from)


def without_init_file(model: nn.Module) -> nn.Module:
    """``model`` with its variables' shapes but a random ``init`` that reads no
    ``init_from`` file: the structure a checkpoint restores onto."""
    return model.clone(init_from="") if getattr(model, "init_from", "") else model


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
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False):
        h = self.backbone(x, train=train)
        concept_logits = nn.Dense(self.num_concepts, dtype=self.dtype, name="concepts")(h)
        f = nn.Dense(self.embedding_dim, dtype=self.dtype, name="embedding")(nn.sigmoid(concept_logits))
        logits = Unembedding(self.num_classes, self.dtype, name="unembedding")(f)
        return _float32(f, logits, concept_logits)


class AttributeHeadClassifier(nn.Module):
    """Classifier with a second bias-free linear head on the embedding: attribute logits.

    ``f = encoder(x)``, label logits ``z = G f`` and attribute logits ``a = W_a f``
    (``W_a ∈ R^{A×d}``), both heads reading the same embedding (no bottleneck). This is
    the SUB teacher of arXiv 2602.15438 (the authors' ``models/cbm.py``: a shallow
    encoder with a label head and an attribute head trained jointly). Returns
    ``(embeddings, logits, attribute_logits)``; training adds the concept loss of
    :mod:`repsim_jax.train.step` against the one-hot attributes.
    """

    encoder: nn.Module
    num_classes: int
    num_attributes: int
    dtype: Any = jnp.float32
    attribute_init: str = "flax"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False):
        f = self.encoder(x, train=train)
        logits = Unembedding(self.num_classes, self.dtype, name="unembedding")(f)
        head = dense(
            self.num_attributes, f.shape[-1], self.attribute_init, use_bias=False, dtype=self.dtype, name="attributes"
        )
        return _float32(f, logits, head(f))


def _float32(*outputs: jax.Array) -> tuple[jax.Array, ...]:
    """Model outputs in float32 whatever the compute dtype: losses and metrics are float32."""
    return tuple(o.astype(jnp.float32) for o in outputs)


def unembedding_matrix(params) -> jax.Array:
    """The unembedding ``G`` (K, d) of a classifier's or a language model's parameters."""
    if "token_embedding" in params:
        from repsim_jax.lm.model import unembedding  # lm.model imports this module

        return unembedding(params)
    return params["unembedding"]["Dense_0"]["kernel"].T
