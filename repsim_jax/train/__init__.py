"""Training: state, one pure step (single device, data-parallel, vmapped seeds),
checkpoints and the epoch loop (:func:`fit`). Configs map onto it in
:mod:`repsim_jax.experiment`."""

from repsim_jax.train.checkpoint import Checkpointer
from repsim_jax.train.loop import FitResult, NonFiniteLossError, fit
from repsim_jax.train.optim import make_optimizer, reference_schedule
from repsim_jax.train.state import TrainState, create_state, init_states
from repsim_jax.train.step import (
    data_mesh,
    data_parallel_step,
    make_eval_fn,
    make_train_step,
    replicate,
    shard_batch,
)

__all__ = [
    "Checkpointer",
    "FitResult",
    "NonFiniteLossError",
    "TrainState",
    "create_state",
    "data_mesh",
    "data_parallel_step",
    "fit",
    "init_states",
    "make_eval_fn",
    "make_optimizer",
    "make_train_step",
    "reference_schedule",
    "replicate",
    "shard_batch",
]
