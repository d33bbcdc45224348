"""The model a config section ``model`` names (:func:`build_model`) and its compute dtype."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from repsim_jax.errors import InputError
from repsim_jax.models.architectures import (
    INITS,
    AttributeHeadClassifier,
    Classifier,
    ConceptBottleneckClassifier,
    MLPEncoder,
    resnet18_encoder,
    resnet50_encoder,
)

__all__ = ["DTYPES", "build_model", "compute_dtype"]


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
