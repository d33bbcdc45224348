"""Training: state, one pure step, checkpoints and the epoch loop (:func:`fit`).
Configs map onto it in :mod:`repsim_jax.experiment`."""

from repsim_jax.train.checkpoint import Checkpointer
from repsim_jax.train.loop import FitResult, NonFiniteLossError, fit
from repsim_jax.train.optim import make_optimizer, reference_schedule
from repsim_jax.train.spec import Data, Schedule, Student, Teacher
from repsim_jax.train.state import TrainState, create_state, init_states
from repsim_jax.train.step import make_eval_fn, make_train_step

__all__ = [
    "Checkpointer",
    "Data",
    "FitResult",
    "NonFiniteLossError",
    "Schedule",
    "Student",
    "Teacher",
    "TrainState",
    "create_state",
    "fit",
    "init_states",
    "make_eval_fn",
    "make_optimizer",
    "make_train_step",
    "reference_schedule",
]
