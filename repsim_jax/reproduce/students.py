"""The teacher → students pipeline shared by every reproduction.

A teacher trained with ``loss.name = "ce"`` for ``reproduce.teacher_epochs``; for each
loss, students over ``sweep.seeds`` (vmapped) for ``reproduce.student_epochs``,
checkpointed every ``reproduce.bound_every`` epochs; both through
:func:`repsim_jax.experiment.train_and_evaluate`. Output layout: ``OUT/teacher/`` and
``OUT/students/<loss>/`` (``seed<s>/report.json`` per seed), then ``summary.json`` and
``summary.md``. With several ``reproduce.teacher_seeds`` each teacher and its students
get that layout in ``OUT/teacher_seed<t>/`` (:func:`teacher_dirs`). The teacher and each
student group is one stage of the run's :class:`~repsim_jax.reproduce.progress.Stages`.
"""

from __future__ import annotations

import json
import pathlib
import time

import numpy as np

from repsim_jax import bounds, report
from repsim_jax.config import experiment_config, with_values
from repsim_jax.errors import InputError
from repsim_jax.experiment import Run, train_and_evaluate, trained_models
from repsim_jax.models import TrainedModel
from repsim_jax.reproduce.progress import Stages
from repsim_jax.train.checkpoint import Checkpointer

__all__ = [
    "reproduction_config",
    "teacher_dirs",
    "train_teacher",
    "distil_students",
    "checkpoint_epochs",
    "bound_over_training",
    "write_summary",
]


def reproduction_config(name: str, preset: str, overrides=()):
    """``<name>:<preset>`` with overrides, checked to have >= 2
    distinct student seeds (``sweep.seeds``) for mean ± std and the tests."""
    config = experiment_config(name, preset, overrides)
    seeds = tuple(config.sweep.seeds)
    if len(set(seeds)) < 2 or len(set(seeds)) != len(seeds):
        raise InputError(f"need >= 2 distinct student seeds (sweep.seeds) for mean ± std and tests, got {seeds}")
    return config


def teacher_dirs(config, out) -> list[tuple[int, pathlib.Path]]:
    """``(seed, directory)`` of each teacher of ``reproduce.teacher_seeds``: ``OUT``
    itself for one teacher, ``OUT/teacher_seed<t>`` for each of several."""
    seeds = [int(s) for s in config.reproduce.teacher_seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise InputError(f"reproduce.teacher_seeds must be distinct and non-empty, got {seeds}")
    out = pathlib.Path(out)
    return [(seeds[0], out)] if len(seeds) == 1 else [(s, out / f"teacher_seed{s}") for s in seeds]


def train_teacher(config, out, stages: Stages, seed: int | None = None, name: str = "teacher", **changes) -> Run:
    """The teacher run in ``OUT/<name>`` (default ``OUT/teacher``) with ``seed`` (default:
    the first of ``reproduce.teacher_seeds``), announced as the next of ``stages``;
    ``changes`` are extra ``{"section.key": value}`` settings (e.g. a concept bottleneck)."""
    epochs = config.reproduce.teacher_epochs
    seed = int(config.reproduce.teacher_seeds[0]) if seed is None else seed
    teacher_config = with_values(
        config,
        {
            "loss.name": "ce",
            "num_epochs": epochs,
            "checkpoint.every": epochs,
            "seeds": (seed,),
            **changes,
        },
    )
    workdir = str(pathlib.Path(out) / name)
    stage = f"{name} (seed {seed})"
    stages.next(f"{stage}: train {epochs} epochs, evaluate")
    return train_and_evaluate(teacher_config, workdir, progress=stages.shown, stage=stage)


def distil_students(config, teacher: TrainedModel, loss: str, out, stages: Stages, tag: str = "") -> Run:
    """Students of ``loss`` over ``sweep.seeds`` in ``OUT/students/<loss>``, every
    ``reproduce.bound_every``-th epoch's checkpoint kept, announced as the next of
    ``stages``; ``tag`` is added to the stage's name (e.g. ``", N=70"``)."""
    epochs, every = config.reproduce.student_epochs, config.reproduce.bound_every
    if every < 1:
        raise InputError(f"reproduce.bound_every must be >= 1, got {every}")
    student_config = with_values(
        config,
        {
            "loss.name": loss,
            "num_epochs": epochs,
            "seeds": tuple(int(s) for s in config.sweep.seeds),
            "checkpoint.every": every,
            "checkpoint.keep": epochs // every + 1,
        },
    )
    workdir = pathlib.Path(out) / "students" / loss.replace("+", "_")
    stage = f"{loss} students ({len(student_config.seeds)} seeds{tag})"
    stages.next(f"{stage}: train {epochs} epochs, evaluate")
    return train_and_evaluate(student_config, str(workdir), teacher, progress=stages.shown, stage=stage)


def checkpoint_epochs(num_epochs: int, every: int) -> list[int]:
    """The epochs :func:`repsim_jax.train.fit` checkpoints at: multiples of ``every`` and the last."""
    return sorted(set(range(every, num_epochs + 1, every)) | {num_epochs})


def bound_over_training(students: Run, teacher: TrainedModel, x, epochs) -> dict:
    """CCA–logit bound (Thm F.1, :func:`repsim_jax.bounds.cca_logit_bound`) of the teacher
    and every seed's student at the checkpoints of ``students`` saved after ``epochs``.

    ``lhs = Σᵢ(1 − ρᵢ²)λᵢ`` and ``rhs = d²_logit`` on ``x``. Returns ``{"epochs": (E,),
    "lhs": (S, E), "rhs": (S, E), "holds": (S, E)}``.
    """
    preprocess = students.built.data.preprocess
    t_emb, t_logits = teacher.outputs(x, preprocess)
    ckpt = Checkpointer(students.workdir, keep=1000)
    columns = []
    try:
        for step in epochs:
            state, _ = ckpt.restore(students.state, step)
            outs = [m.outputs(x, preprocess) for m in trained_models(students.built.model, state, students.seeds)]
            columns.append(
                bounds.cca_logit_bound(t_emb, t_logits, np.stack([o[0] for o in outs]), np.stack([o[1] for o in outs]))
            )
    finally:
        ckpt.close()
    stack = lambda name: np.stack([np.asarray(getattr(r, name)) for r in columns], axis=1)
    return {"epochs": np.asarray(epochs), "lhs": stack("lhs"), "rhs": stack("rhs"), "holds": stack("holds")}


def write_summary(out, title: str, summary: dict, tests: dict, keys, teacher: dict, config, start: float) -> dict:
    """Write ``summary.md`` and ``summary.json`` to ``out``; returns the JSON content."""
    out = pathlib.Path(out)
    (out / "summary.md").write_text(report.markdown_summary(title, summary, tests, keys, teacher))
    result = summary | {
        "teacher": teacher,
        "significance": tests,
        "config": config.to_dict(),
        "wall_time_s": time.time() - start,
    }
    (out / "summary.json").write_text(json.dumps(result, indent=1, default=list))
    return result
