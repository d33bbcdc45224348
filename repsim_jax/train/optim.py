"""Optimisers and learning-rate schedules (optax)."""

from __future__ import annotations

import jax.numpy as jnp
import optax

from repsim_jax.errors import InputError

__all__ = ["reference_schedule", "make_optimizer"]


def reference_schedule(learning_rate: float, warmup_epochs: int, decay: float, steps_per_epoch: int) -> optax.Schedule:
    """The reference schedule: ``lr·10⁻³`` for the first ``E`` epochs, then ``lr·γ^(e−E)``.

    ``e = ⌊step / steps_per_epoch⌋`` is the epoch, ``E = warmup_epochs``, ``γ = decay``
    (a per-epoch exponential decay after a low-rate warm-up).
    """
    if steps_per_epoch < 1:
        raise InputError(f"steps_per_epoch must be >= 1, got {steps_per_epoch}")
    if warmup_epochs < 0 or not 0 < decay <= 1:
        raise InputError(f"need warmup_epochs >= 0 and 0 < decay <= 1, got {warmup_epochs}, {decay}")

    def schedule(step):
        epoch = jnp.asarray(step) // steps_per_epoch
        decayed = learning_rate * decay ** jnp.maximum(epoch - warmup_epochs, 0)
        return jnp.where(epoch < warmup_epochs, learning_rate * 1e-3, decayed)

    return schedule


_OPTIMIZERS = {
    "adam": optax.adam,
    "adamw": optax.adamw,
    "sgd": lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True),
}


def make_optimizer(
    name: str = "adam",
    learning_rate: float = 1e-3,
    *,
    schedule: str = "constant",
    steps_per_epoch: int = 1,
    warmup_epochs: int = 0,
    decay: float = 1.0,
    grad_clip: float | None = None,
) -> optax.GradientTransformation:
    """An optax optimiser: ``adam`` (default), ``adamw`` or ``sgd`` (Nesterov, momentum 0.9).

    ``schedule``: ``constant`` or ``reference`` (:func:`reference_schedule`).
    ``grad_clip``: optional global-norm clipping applied first.
    """
    if name not in _OPTIMIZERS:
        raise InputError(f"unknown optimizer {name!r}; choose from {sorted(_OPTIMIZERS)}")
    if learning_rate <= 0:
        raise InputError(f"learning_rate must be positive, got {learning_rate}")
    if schedule == "constant":
        lr = learning_rate
    elif schedule == "reference":
        lr = reference_schedule(learning_rate, warmup_epochs, decay, steps_per_epoch)
    else:
        raise InputError(f"unknown schedule {schedule!r}; choose 'constant' or 'reference'")
    tx = _OPTIMIZERS[name](lr)
    if grad_clip:
        tx = optax.chain(optax.clip_by_global_norm(grad_clip), tx)
    return tx
