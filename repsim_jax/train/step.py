"""One pure train step ``(state, batch) -> (state, metrics)``.

:func:`repsim_jax.train.fit` scans it over an epoch's batches, ``vmap``-ed over a stacked
state for several seeds (:func:`repsim_jax.train.state.init_states`); on a mesh the batch
is sharded over the axis ``"data"`` and XLA computes the loss as the mean over the
*global* batch, so the gradient is the correct mean gradient (no ``shard_map``, hence no
risk of the summed-gradient pitfall). BatchNorm statistics are over the global batch as
well, and dropout masks do not depend on the sharding (partitionable threefry), so N
devices reproduce one device.

Language models have their own step (:func:`make_lm_train_step`): token batches
``{"x": inputs, "y": next tokens}`` (batch, seq), the teacher run inside the step
(online) from its variables, the per-token loss of
:func:`repsim_jax.lm.losses.get_lm_loss` on the outputs' ``(f, g)``, so that no
(batch, seq, K) logits are formed unless the loss is unchunked and the teacher's
vocabulary logits are never stored; the same state, vmappable over seeds.

A batch is a dict: ``x``, ``y`` and, for distillation, ``teacher_embeddings`` and
``teacher_logits``; ``concepts`` (B, C) in {0, 1} adds a concept term (:data:`CONCEPT_LOSSES`)
for concept-bottleneck and attribute-head models.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from repsim_jax.errors import InputError
from repsim_jax.losses import Loss
from repsim_jax.train.state import TrainState

__all__ = ["make_train_step", "make_lm_train_step", "make_eval_fn"]


def _variables(params, batch_stats):
    variables = {"params": params["model"]}
    if batch_stats:
        variables["batch_stats"] = batch_stats
    return variables


CONCEPT_LOSSES = ("bce", "softmax")
"""The concept term of config key ``loss.concept_loss``: ``bce``, the mean over concepts of
the sigmoid binary cross-entropy against {0, 1} labels (several concepts per input);
``softmax``, the softmax cross-entropy over the concepts ``−Σ_c t_c log softmax(a)_c`` against
one-hot rows ``t`` (one concept per input: the authors' SUB attribute loss,
``F.cross_entropy`` in their ``utils/losses.py`` ``BiClassification_Loss``)."""


def _concept_term(kind: str, concept_logits: jax.Array, concepts: jax.Array) -> jax.Array:
    """Batch mean of the :data:`CONCEPT_LOSSES` term ``kind``."""
    if kind == "softmax":
        return jnp.mean(optax.softmax_cross_entropy(concept_logits, concepts))
    return jnp.mean(optax.sigmoid_binary_cross_entropy(concept_logits, concepts))


def make_train_step(
    model, loss: Loss, tx: optax.GradientTransformation, concept_weight: float = 1.0, concept_loss: str = "bce"
) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
    """The pure step: forward (train mode), ``loss.apply``, gradient, optax update; a model
    with a third output (concept or attribute logits) adds ``concept_weight`` times the
    ``concept_loss`` term (:data:`CONCEPT_LOSSES`) against the batch's ``concepts``.

    Metrics: ``loss``, each loss term (the concept term as ``concept_bce`` or
    ``concept_ce``), ``accuracy`` and ``grad_norm`` (global L2 norm).
    """
    if concept_loss not in CONCEPT_LOSSES:
        raise InputError(f"unknown loss.concept_loss {concept_loss!r}; choose one of {', '.join(CONCEPT_LOSSES)}")
    concept_name = "concept_ce" if concept_loss == "softmax" else "concept_bce"

    def step(state: TrainState, batch: dict) -> tuple[TrainState, dict]:
        rng, dropout_key = jax.random.split(state.rng)
        teacher = None
        if loss.needs_teacher:
            teacher = (batch["teacher_embeddings"], batch["teacher_logits"])

        def objective(params):
            outputs, updates = model.apply(
                _variables(params, state.batch_stats),
                batch["x"],
                train=True,
                rngs={"dropout": dropout_key},
                mutable=["batch_stats"],
            )
            value, parts = loss.apply(params["loss"], outputs[:2], teacher, batch["y"])
            if len(outputs) == 3 and "concepts" in batch:
                parts[concept_name] = _concept_term(concept_loss, outputs[2], batch["concepts"])
                value = value + concept_weight * parts[concept_name]
            return value, (parts, outputs[1], updates.get("batch_stats", {}))

        (value, (parts, logits, batch_stats)), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {
            "loss": value,
            **parts,
            "accuracy": jnp.mean(jnp.argmax(logits, -1) == batch["y"]),
            "grad_norm": optax.tree.norm(grads),
        }
        new_state = TrainState(state.step + 1, params, batch_stats, opt_state, rng)
        return new_state, metrics

    return step


def make_lm_train_step(model, loss: Loss, tx: optax.GradientTransformation, teacher_model=None) -> Callable:
    """``step(state, batch, teacher_variables) -> (state, metrics)`` of a language model
    (module docstring): the teacher's outputs in inference mode without gradient, the
    student's in training mode (dropout from the state's key), loss, gradient, update.
    Metrics ``loss``, each loss term and ``grad_norm``.
    ``teacher_model`` (a :class:`~repsim_jax.lm.model.TransformerLM`) is needed when the
    loss distils a teacher; ``teacher_variables`` are its ``{"params": ...}``."""

    def step(state: TrainState, batch: dict, teacher_variables) -> tuple[TrainState, dict]:
        rng, dropout_key = jax.random.split(state.rng)
        teacher = None
        if loss.needs_teacher:
            teacher = jax.lax.stop_gradient(teacher_model.apply(teacher_variables, batch["x"], logits=False))

        def objective(params):
            student = model.apply(
                {"params": params["model"]}, batch["x"], train=True, logits=False, rngs={"dropout": dropout_key}
            )
            return loss.apply(params["loss"], student, teacher, batch["y"])

        (value, parts), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        metrics = {"loss": value, **parts, "grad_norm": optax.tree.norm(grads)}
        return TrainState(state.step + 1, params, state.batch_stats, opt_state, rng), metrics

    return step


def make_eval_fn(model) -> Callable:
    """``eval_fn(params, batch_stats, x) -> outputs`` in inference mode (no dropout,
    running BatchNorm statistics)."""

    def eval_fn(params, batch_stats, x):
        return model.apply(_variables(params, batch_stats), x, train=False)

    return eval_fn
