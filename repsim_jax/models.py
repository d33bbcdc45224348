"""Encoders, the bias-free unembedding and classifiers (Flax Linen).

Model family (arXiv 2602.15438): an encoder ``f`` maps an input to an embedding
``f(x) ∈ R^d``; a bias-free unembedding ``G ∈ R^{K×d}`` gives logits ``z = G f(x)``.
Every classifier returns ``(embeddings, logits)``; the concept-bottleneck and
attribute-head classifiers also return concept (attribute) logits.

A classifier built with ``init_from`` (config key ``model.init_from``) starts from the
variables stored in a file instead of its random initialisation (:func:`load_variables`).

BatchNorm statistics live in the ``batch_stats`` collection: apply with
``mutable=["batch_stats"]`` when ``train=True`` and thread the returned state explicitly.
Dropout draws from the ``dropout`` RNG stream.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import pathlib
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from repsim_jax.errors import InputError

STEMS = ("cifar", "imagenet")

__all__ = [
    "MLPEncoder",
    "ResNetEncoder",
    "resnet18_encoder",
    "resnet50_encoder",
    "Unembedding",
    "Classifier",
    "ConceptBottleneckClassifier",
    "AttributeHeadClassifier",
    "STEMS",
    "load_variables",
    "without_init_file",
    "with_variables",
    "unembedding_matrix",
    "build_model",
    "dense",
    "INITS",
    "compute_dtype",
    "predict",
    "TrainedModel",
]


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


class _BasicBlock(nn.Module):
    """ResNet basic block: two 3×3 convolutions with a projection shortcut when needed.

    ``padding`` of the 3×3 convolutions: Flax's ``"SAME"`` or torch's 1 pixel per side
    (they differ at stride 2 on even sizes, where ``"SAME"`` pads only the far side)."""

    filters: int
    strides: int
    padding: Any = "SAME"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype)
        conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype)
        y = conv(self.filters, (3, 3), self.strides, padding=self.padding)(x)
        y = nn.relu(norm()(y))
        y = conv(self.filters, (3, 3), 1, padding=self.padding)(y)
        y = norm()(y)
        if x.shape[-1] != self.filters or self.strides != 1:
            x = conv(self.filters, (1, 1), self.strides)(x)
            x = norm()(x)
        return nn.relu(x + y)


class _Bottleneck(nn.Module):
    """ResNet bottleneck block ``1×1 → 3×3 → 1×1`` with expansion 4, the stride on the
    3×3 convolution (torchvision's "ResNet v1.5"); ``padding`` as in :class:`_BasicBlock`."""

    filters: int
    strides: int
    padding: Any = "SAME"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype)
        conv = functools.partial(nn.Conv, use_bias=False, dtype=self.dtype)
        out = 4 * self.filters
        y = nn.relu(norm()(conv(self.filters, (1, 1))(x)))
        y = conv(self.filters, (3, 3), self.strides, padding=self.padding)(y)
        y = nn.relu(norm()(y))
        y = norm()(conv(out, (1, 1))(y))
        if x.shape[-1] != out or self.strides != 1:
            x = norm()(conv(out, (1, 1), self.strides)(x))
        return nn.relu(x + y)


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
        variables = super().init(rngs, *args, **kwargs)
        if not self.init_from:
            return variables
        return with_variables(variables, load_variables(self.init_from), self.init_from)


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


DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def compute_dtype(config) -> Any:
    """The compute dtype of config key ``model.dtype`` (``float32`` or ``bfloat16``;
    parameters and optimiser state stay float32 either way)."""
    name = config.dtype
    if name not in DTYPES:
        raise InputError(f"unknown model.dtype {name!r}; choose one of {sorted(DTYPES)}")
    return DTYPES[name]


def _encoder(config, dtype) -> nn.Module:
    d = config.embedding_dim
    if config.name == "mlp":
        return MLPEncoder(d, tuple(config.hidden), config.dropout, dtype, config.init)
    if config.init != "flax":
        raise InputError(f"model.init {config.init!r} initialises mlp models; model.name {config.name!r} needs 'flax'")
    if config.name in ("resnet18", "resnet50"):
        return {"resnet18": resnet18_encoder, "resnet50": resnet50_encoder}[config.name](d, config.stem, dtype)
    raise InputError(f"unknown model {config.name!r}; choose mlp, resnet18, resnet50 or gpt2")


def build_model(config, num_classes: int, num_concepts: int = 0, distilled: bool = False) -> nn.Module:
    """The classifier a ``model`` config section names (``name``, ``hidden``, ``dropout``,
    ``embedding_dim``, ``stem``, ``concept_bottleneck``, ``attribute_head``, ``init_from``,
    ``dtype``, ``init``), or with ``name = "gpt2"`` the language model
    :class:`repsim_jax.lm.model.TransformerLM` (``vocab``, 0 = ``num_classes``, the data's
    vocabulary; ``context``, ``width``, ``depth``, ``heads``, ``tied_head``, ``dropout``,
    ``init_from``, ``dtype``).

    ``init = "torch_default"`` (:data:`INITS`; MLP models only) follows the authors'
    ``main.py`` (lines 68–69): every layer keeps PyTorch's ``nn.Linear`` initialisation,
    then every model but the plain cross-entropy classifier re-draws its unembedding
    Xavier-uniform (their ``initialize_weights``): so a ``distilled`` student's and an
    attribute-head teacher's unembedding are Xavier, a plain teacher's is not. With
    ``init = "flax"`` every unembedding is Xavier-uniform."""
    dtype = compute_dtype(config)
    if config.init not in INITS:
        raise InputError(f"unknown model.init {config.init!r}; choose one of {', '.join(INITS)}")
    if config.name == "gpt2":
        if config.init != "flax":
            raise InputError(f"model.init {config.init!r} initialises mlp models; model.name 'gpt2' needs 'flax'")
        return _language_model(config, num_classes, dtype)
    encoder = _encoder(config, dtype)
    heads = [key for key in ("concept_bottleneck", "attribute_head") if config[key]]
    init_from = config.init_from
    if heads and init_from:
        raise InputError(f"model.init_from initialises plain classifiers, not model.{heads[0]}")
    if len(heads) > 1:
        raise InputError("choose model.concept_bottleneck or model.attribute_head, not both")
    if not heads:
        torch_unembedding = config.init == "torch_default" and not distilled
        return Classifier(encoder, num_classes, init_from, dtype, "torch_default" if torch_unembedding else "xavier")
    if not num_concepts:
        raise InputError(f"model.{heads[0]} needs a dataset with concepts (attributes)")
    if heads[0] == "attribute_head":
        return AttributeHeadClassifier(encoder, num_classes, num_concepts, dtype, config.init)
    if config.init != "flax":
        raise InputError(f"model.init {config.init!r} is not available for model.concept_bottleneck; use 'flax'")
    return ConceptBottleneckClassifier(encoder, num_concepts, config.embedding_dim, num_classes, dtype)


def _language_model(config, vocabulary: int, dtype) -> nn.Module:
    from repsim_jax.lm.model import TransformerLM  # lm.model imports this module

    if config.vocab and config.vocab < vocabulary:
        raise InputError(f"model.vocab {config.vocab} is smaller than the data's vocabulary of {vocabulary} tokens")
    heads = [key for key in ("concept_bottleneck", "attribute_head") if config[key]]
    if heads:
        raise InputError(f"model.{heads[0]} is for classifiers, not model.name 'gpt2'")
    return TransformerLM(
        config.vocab or vocabulary,
        config.context,
        config.width,
        config.depth,
        config.heads,
        tied_head=config.tied_head,
        dropout=config.dropout,
        dtype=dtype,
        init_from=config.init_from,
    )


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
