"""A grid of students: losses × embedding dims, seeds vmapped per cell.

``run_sweep(config, workdir)`` trains, for each ``(loss, dim)`` of ``sweep.losses`` ×
``sweep.dims``, the students of ``sweep.seeds`` together in ``WORKDIR/<loss>_d<dim>/``
(one :func:`repsim_jax.experiment.train_and_evaluate` each, resuming if interrupted;
finished cells are skipped), and writes ``summary.md`` (mean ± std over seeds per cell,
test split). Every cell is evaluated against the teacher (``teacher.workdir``); a loss
that does not use it (``ce``: trained on the labels) is the baseline row of the grid.
``dim`` is ``model.embedding_dim`` for classifiers and ``model.width`` for language
models (``model.name = "gpt2"``).
"""

from __future__ import annotations

from etils import epath

from repsim_jax import report
from repsim_jax.config import with_values
from repsim_jax.errors import InputError
from repsim_jax.experiment import report_path, restore, train_and_evaluate
from repsim_jax.losses import get_loss
from repsim_jax.workdir import read_json

__all__ = ["cell_dir", "run_sweep"]


def cell_dir(workdir, loss: str, dim: int) -> epath.Path:
    """The workdir of one grid cell."""
    return epath.Path(workdir) / f"{loss.replace('+', '_')}_d{dim}"


def _dim_key(config) -> str:
    """The config key a sweep's ``dims`` set (module docstring)."""
    return "model.width" if config.model.name == "gpt2" else "model.embedding_dim"


def _cell_config(config, loss, dim):
    return with_values(
        config, {"loss.name": loss, _dim_key(config): int(dim), "seeds": tuple(int(s) for s in config.sweep.seeds)}
    )


def run_sweep(config, workdir: str, progress: bool = False) -> str:
    """Train and evaluate every cell (see the module docstring); returns the markdown table."""
    cells = [(loss, int(dim)) for loss in config.sweep.losses for dim in config.sweep.dims]
    if not cells or not config.sweep.seeds:
        raise InputError("empty sweep grid: set sweep.losses, sweep.dims and sweep.seeds")
    for loss in config.sweep.losses:
        get_loss(loss)  # an unknown name fails before anything trains
    if not config.teacher.workdir:
        raise InputError("sweep compares students with a teacher: set --config.teacher.workdir=<a train workdir>")
    teacher = restore(config.teacher.workdir).model
    summary = {}
    for loss, dim in cells:
        cell = _cell_config(config, loss, dim)
        paths = [report_path(cell_dir(workdir, loss, dim), cell, s) for s in cell.seeds]
        if not all(p.exists() for p in paths):
            if progress:
                print(f"run {loss} d={dim} seeds={list(cell.seeds)} (vmapped) in {cell_dir(workdir, loss, dim)}")
            stage = f"{loss} d={dim} ({len(cell.seeds)} seeds)"
            train_and_evaluate(cell, str(cell_dir(workdir, loss, dim)), teacher, progress=progress, stage=stage)
        reports = [read_json(p)["test"] for p in paths]
        summary[f"{loss} d={dim}"] = report.summarise_seeds(reports, report.STUDENT_METRICS)
    table = report.markdown_summary("Sweep", summary, {}, report.STUDENT_METRICS, row_label="cell")
    (epath.Path(workdir) / "summary.md").write_text(table)
    return table
