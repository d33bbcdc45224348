"""The training state: one pytree holding everything a step changes."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax

from repsim_jax.losses import Loss

__all__ = ["TrainState", "create_state", "init_states", "initialiser"]


@flax.struct.dataclass
class TrainState:
    """``step`` (int32), ``params = {"model", "loss"}`` (the loss may learn a projection),
    ``batch_stats`` (BatchNorm running statistics, ``{}`` without BatchNorm),
    ``opt_state`` and ``rng`` (a typed PRNG key, split once per step and per epoch)."""

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array


def create_state(
    key: jax.Array,
    model,
    loss: Loss,
    tx: optax.GradientTransformation,
    sample_x: jax.Array,
    teacher_dim: int | None = None,
) -> TrainState:
    """Initialise a :class:`TrainState` from a typed PRNG key (pure, vmappable).

    ``sample_x`` fixes input shapes (its values are unused); ``teacher_dim`` is the
    teacher's embedding width for feature losses with learned parameters.
    """
    init_key, loss_key, rng = jax.random.split(key, 3)
    variables = model.init(init_key, sample_x, train=False)
    outputs = jax.eval_shape(lambda v: model.apply(v, sample_x), variables)
    student_dim = outputs[0].shape[-1]
    params = {
        "model": variables["params"],
        "loss": loss.init(loss_key, student_dim, teacher_dim or student_dim),
    }
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=variables.get("batch_stats", {}),
        opt_state=tx.init(params),
        rng=rng,
    )


def initialiser(
    seeds: int | Sequence[int], model, loss: Loss, tx, sample_x, teacher_dim: int | None = None
) -> Callable[[], TrainState]:
    """``() -> state``: :func:`create_state` of one seed (an int), or of every seed of a
    sequence stacked on a leading axis (``vmap``). Jitted with output shardings, it
    creates the state where it will live; under ``jax.eval_shape``, its structure."""
    init = lambda key: create_state(key, model, loss, tx, sample_x, teacher_dim)
    if isinstance(seeds, (int, np.integer)):
        return lambda: init(jax.random.key(int(seeds)))
    return lambda: jax.vmap(init)(jnp.stack([jax.random.key(int(s)) for s in seeds]))


def init_states(seeds: Sequence[int], model, loss: Loss, tx, sample_x, teacher_dim: int | None = None) -> TrainState:
    """States for several seeds stacked on a leading axis (:func:`initialiser`, jitted)."""
    return jax.jit(initialiser(list(seeds), model, loss, tx, sample_x, teacher_dim))()
