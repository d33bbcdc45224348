"""What :func:`repsim_jax.train.fit` is given, in four groups checked once, on construction:

- :class:`Student`: what is trained (model, loss, optimiser, concept term) from which
  seeds (one run, or several trained together under ``vmap``);
- :class:`Data`: the training rows (or a language model's token stream), the evaluation
  columns, in-graph ``preprocess``/``augment`` and the ``curves`` hook;
- :class:`Teacher`: a trained teacher and how its outputs reach the loss (``cached`` once
  before training or ``online`` in every step); the third way, precomputed
  ``teacher_embeddings``/``teacher_logits`` columns, lives in the training rows;
- :class:`Schedule`: epochs, batch size, evaluation and checkpoint cadence, progress bar.

The runner (:mod:`repsim_jax.experiment`) builds these from a config and so checks seeds,
batch size and steps per epoch through the same code as any other caller of ``fit``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax
import numpy as np
import optax

from repsim_jax.data.rows import Rows
from repsim_jax.errors import InputError
from repsim_jax.lm.data import TokenStream
from repsim_jax.losses import Loss

__all__ = ["Data", "Schedule", "Student", "Teacher", "checked_seeds", "embedding_dim", "steps_per_epoch_of"]

TEACHER_MODES = ("cached", "online")


def checked_seeds(seeds: Sequence[int], name: str = "seeds") -> tuple[int, ...]:
    """``seeds`` as ints, refused unless distinct and non-empty (``name``: the key in the message)."""
    values = tuple(int(s) for s in seeds)
    if not values or len(set(values)) != len(values):
        raise InputError(f"{name} must be distinct and non-empty, got {list(values)}")
    return values


def steps_per_epoch_of(n: int, batch_size: int, keep_last_batch: bool) -> int:
    """Steps in an epoch of ``n`` rows: ``⌈n / batch_size⌉`` keeping the last partial batch,
    else ``⌊n / batch_size⌋``."""
    return -(-n // batch_size) if keep_last_batch else n // batch_size


def embedding_dim(trained, sample_x) -> int:
    """The embedding width of ``trained`` (``model``, ``variables``) on inputs shaped like
    ``sample_x`` (shapes only: nothing is computed)."""
    return int(jax.eval_shape(lambda v, s: trained.model.apply(v, s), trained.variables, sample_x)[0].shape[-1])


@dataclasses.dataclass(frozen=True)
class Student:
    """What :func:`~repsim_jax.train.fit` trains: ``model``, ``loss`` (from
    :func:`repsim_jax.losses.get_loss`), optimiser ``tx``; ``seeds`` an int (one run) or
    a sequence of distinct seeds trained together under ``vmap`` (a stacked state); a
    model with concept or attribute logits adds ``concept_weight`` times the
    ``concept_loss`` term (:data:`repsim_jax.train.step.CONCEPT_LOSSES`)."""

    model: Any
    loss: Loss
    tx: optax.GradientTransformation
    seeds: int | Sequence[int] = 0
    concept_weight: float = 1.0
    concept_loss: str = "bce"

    def __post_init__(self):
        if not self.vmapped:
            object.__setattr__(self, "seeds", int(self.seeds))
        else:
            object.__setattr__(self, "seeds", checked_seeds(self.seeds))

    @property
    def vmapped(self) -> bool:
        """Several seeds trained together (a stacked state), even a sequence of one."""
        return not isinstance(self.seeds, (int, np.integer))

    @property
    def seed_list(self) -> list[int]:
        return list(self.seeds) if self.vmapped else [self.seeds]


@dataclasses.dataclass(frozen=True)
class Data:
    """What :func:`~repsim_jax.train.fit` reads: ``train``, in-memory columns (``x``,
    ``y``, optional ``concepts`` and precomputed ``teacher_embeddings``/``teacher_logits``),
    :class:`repsim_jax.data.rows.Rows` read on demand or a language model's
    :class:`repsim_jax.lm.data.TokenStream`; ``eval`` columns evaluated every
    ``Schedule.eval_every`` epochs; ``preprocess``, ``x -> x`` in-graph on each batch (e.g.
    uint8 → float); ``augment``, ``(key, x) -> x`` in-graph after the teacher sees the
    batch; ``curves``, ``state -> [{"<split>/<name>": value} per seed]`` called with the
    eval cadence (e.g. :class:`repsim_jax.evaluate.Curves`), logged as
    ``eval/<split>/<name>``. A token stream takes none of the four."""

    train: dict | Rows | TokenStream
    eval: dict | None = None
    preprocess: Callable | None = None
    augment: Callable | None = None
    curves: Callable | None = None

    def __post_init__(self):
        extras = (self.eval, self.preprocess, self.augment, self.curves)
        if self.is_stream and any(e is not None for e in extras):
            raise InputError("a token stream trains without eval data, curves, preprocess or augment")

    @property
    def is_stream(self) -> bool:
        return isinstance(self.train, TokenStream)


@dataclasses.dataclass(frozen=True)
class Teacher:
    """A teacher's outputs for a distillation loss: ``trained`` (a
    :class:`repsim_jax.models.TrainedModel`: ``model``, ``variables``), with ``mode``
    ``cached`` (its outputs computed once before training) or ``online`` (recomputed
    inside every step; same values, less memory; language models are distilled online)."""

    trained: Any
    mode: str = "cached"

    def __post_init__(self):
        if self.mode not in TEACHER_MODES:
            raise InputError(f"teacher.mode must be 'cached' or 'online', got {self.mode!r}")


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How :func:`~repsim_jax.train.fit` runs: ``num_epochs`` of ``batch_size`` rows per
    step (with ``keep_last_batch`` the last ``n % batch_size`` rows of each permutation
    are one smaller step, PyTorch's default; else dropped); evaluation every
    ``eval_every`` epochs and at the last; a checkpoint every ``checkpoint_every``, the
    newest ``keep`` kept; ``stop_after_epochs`` stops (checkpointed) after that many
    epochs in this call, as a preemption would; ``progress`` shows a bar labelled
    ``desc``."""

    num_epochs: int
    batch_size: int
    keep_last_batch: bool = False
    eval_every: int = 1
    checkpoint_every: int = 1
    keep: int = 3
    stop_after_epochs: int | None = None
    progress: bool = True
    desc: str = "epochs"

    def __post_init__(self):
        if self.num_epochs < 1 or self.eval_every < 1 or self.checkpoint_every < 1:
            raise InputError("num_epochs, eval_every and checkpoint_every must be >= 1")

    def steps_per_epoch(self, n: int) -> int:
        """Steps in an epoch of ``n`` training rows (:func:`steps_per_epoch_of`), refused
        unless ``1 <= batch_size <= n``."""
        if not 1 <= self.batch_size <= n:
            raise InputError(f"batch_size must be in [1, {n}] for {n} training examples, got {self.batch_size}")
        return steps_per_epoch_of(n, self.batch_size, self.keep_last_batch)
