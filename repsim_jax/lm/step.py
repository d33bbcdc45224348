"""One pure training step of a language model, with its teacher run inside it (online).

``step(state, batch, teacher_variables) -> (state, metrics)`` for a batch
``{"x": inputs, "y": next tokens}`` (batch, seq) of token ids: the teacher's
:class:`~repsim_jax.lm.model.LMOutputs` (inference mode, no gradient), the student's
(training mode: dropout from the state's key), the per-token loss of
:func:`repsim_jax.lm.losses.get_lm_loss` on ``(f, g)`` (no (batch, seq, K) logits are
formed unless the loss is unchunked), its gradient and the optax update. It is
:func:`repsim_jax.train.step.make_train_step` for token inputs: the same
:class:`~repsim_jax.train.state.TrainState`, vmappable over seeds and jitted on the
``("seeds", "data")`` mesh by :func:`repsim_jax.train.fit`. Vocabulary logits of the
teacher are never stored: they are recomputed from ``(f, g)`` inside each step.
"""

from __future__ import annotations

from typing import Callable

import jax
import optax

from repsim_jax.losses import Loss
from repsim_jax.train.state import TrainState

__all__ = ["make_lm_train_step"]


def make_lm_train_step(model, loss: Loss, tx: optax.GradientTransformation, teacher_model=None) -> Callable:
    """The step (module docstring); metrics ``loss``, each loss term and ``grad_norm``.
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
