"""Theorem F.1 of arXiv 2602.15438 over training: a teacher against its students' checkpoints.

Two forms of ``lhs ≤ rhs`` per student seed and checkpoint, on one data split:

* centred (the proven form, :func:`repsim_jax.bounds.cca_logit_bound`):
  ``lhs = Σᵢ(1 − ρᵢ²)λᵢ`` with λ the eigenvalues of the covariance of the teacher's
  label-centred logits, ``rhs = d²_logit``;
* raw (the quantities of the authors' ``figures/bound_plot_cifar.py``): ``lhs =
  Σᵢ(1 − ρᵢ²)μᵢ`` with μ the eigenvalues of the uncentred second moment
  ``Z_tᵀZ_t/n`` of the raw teacher logits, ``rhs = (1/n) Σ_x ‖z_t(x) − z_s(x)‖²``.

ρ are the canonical correlations of the embeddings (f_t, f_s), descending, zero-padded
to the number of eigenvalues. Both λ and μ are sorted descending, the pairing the proof
needs (docs/theory.md §3.1): the authors' figure pairs μ in the unspecified order of
``np.linalg.eig`` and sorts nothing. The raw form is not proven as it stands: μ ≥ λ
elementwise (``Z_tᵀZ_t/n`` dominates the covariance of the label-centred logits), so
both of its sides are at least the centred ones, by the logits' mean and per-input
label average; it is plotted to compare with the paper's figure.

``theorem_f1_curves(teacher_workdir, students_workdir)`` reads workdirs written by
``repsim-jax train`` and ``sweep`` (the students' checkpoints: ``paper-students`` keeps
every 10th epoch); ``run_theorem_f1`` also writes ``theorem_f1.json`` and the figure
(:func:`repsim_jax.plots.theorem_f1`)::

    python -m repsim_jax.reproduce.theorem_f1 W/teacher0 W/students0/l2_d25 W/f1
"""

from __future__ import annotations

import json
import pathlib
import sys

import numpy as np

from repsim_jax import bounds, plots
from repsim_jax.errors import InputError
from repsim_jax.experiment import Run, restore, trained_models
from repsim_jax.metrics import canonical_correlations
from repsim_jax.reproduce.students import checkpoint_epochs
from repsim_jax.train.checkpoint import Checkpointer

__all__ = ["raw_cca_logit", "outputs_at_checkpoints", "theorem_f1_curves", "run_theorem_f1"]


def raw_cca_logit(teacher_embeddings, student_embeddings, teacher_logits, student_logits) -> dict[str, float]:
    """The raw form for one pair (module docstring): ``{"lhs", "rhs"}`` in float64."""
    z_t, z_s = np.asarray(teacher_logits, np.float64), np.asarray(student_logits, np.float64)
    n = z_t.shape[0]
    moments = np.sort(np.linalg.eigvalsh(z_t.T @ z_t / n))[::-1]
    rho = np.sort(np.asarray(canonical_correlations(teacher_embeddings, student_embeddings), np.float64))[::-1]
    rho = np.pad(rho, (0, max(moments.size - rho.size, 0)))[: moments.size]
    return {"lhs": float(np.sum((1 - rho**2) * moments)), "rhs": float(np.sum((z_t - z_s) ** 2) / n)}


def outputs_at_checkpoints(students: Run, x, epochs) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """``[epoch][seed] -> (embeddings, logits)`` of every seed of ``students`` on ``x`` at
    the checkpoints saved after ``epochs``."""
    preprocess = students.built.data.preprocess
    ckpt = Checkpointer(students.workdir, keep=1000)
    try:
        out = []
        for step in epochs:
            state, _ = ckpt.restore(students.state, step)
            out.append([m.outputs(x, preprocess) for m in trained_models(students.built.model, state, students.seeds)])
        return out
    finally:
        ckpt.close()


def _saved_epochs(run: Run) -> list[int]:
    """The epochs whose checkpoints ``run`` keeps (the last ``checkpoint.keep`` saved)."""
    c = run.config
    return checkpoint_epochs(c.num_epochs, c.checkpoint.every)[-c.checkpoint.keep :]


def theorem_f1_curves(teacher_workdir: str, students_workdir: str, split: str = "test", epochs=None) -> dict:
    """Both forms of Theorem F.1 for the teacher against every student seed at each saved
    checkpoint (or ``epochs``): ``{"epochs": (E,), "seeds", "centred": {"lhs", "rhs"},
    "raw": {"lhs", "rhs"}}`` with (S, E) arrays."""
    teacher, students = restore(teacher_workdir).model, restore(students_workdir)
    data = students.built.data
    if split not in data.splits:
        raise InputError(f"{students_workdir}: no split {split!r}; splits {sorted(data.splits)}")
    x = data.splits[split]["x"]
    epochs = _saved_epochs(students) if epochs is None else list(epochs)
    t_emb, t_logits = teacher.outputs(x, data.preprocess)
    curves = {"epochs": np.asarray(epochs), "seeds": students.seeds}
    per_epoch = outputs_at_checkpoints(students, x, epochs)
    centred = [
        bounds.cca_logit_bound(t_emb, t_logits, np.stack([e for e, _ in outs]), np.stack([z for _, z in outs]))
        for outs in per_epoch
    ]
    raw = [[raw_cca_logit(t_emb, e, t_logits, z) for e, z in outs] for outs in per_epoch]
    curves["centred"] = {side: np.stack([np.asarray(getattr(r, side)) for r in centred], 1) for side in ("lhs", "rhs")}
    curves["raw"] = {side: np.array([[r[side] for r in col] for col in raw]).T for side in ("lhs", "rhs")}
    return curves


def run_theorem_f1(teacher_workdir: str, students_workdir: str, out: str, split: str = "test") -> dict:
    """:func:`theorem_f1_curves`, written to ``OUT/theorem_f1.json`` and ``OUT/theorem_f1.png``."""
    curves = theorem_f1_curves(teacher_workdir, students_workdir, split)
    out = pathlib.Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plots.theorem_f1(curves, out / "theorem_f1.png")
    (out / "theorem_f1.json").write_text(json.dumps(curves, indent=1, default=lambda a: np.asarray(a).tolist()))
    return curves


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit("usage: python -m repsim_jax.reproduce.theorem_f1 TEACHER_WORKDIR STUDENTS_WORKDIR OUT")
    run_theorem_f1(*sys.argv[1:])
    print(f"wrote {sys.argv[3]}/theorem_f1.png and theorem_f1.json")
