"""A language model's report on held-out tokens (``report.json`` of an LM workdir).

Every position t of every sequence is one input, its next token the label. Over the N
positions of a split, with student logits ``z_s = f_s g_sᵀ`` and teacher logits ``z_t``:

- ``accuracy``: fraction of positions whose argmax is the next token; ``ce``:
  ``(1/N) Σ_t −log softmax(z_s)_{y_t}`` (nats); ``perplexity = exp(ce)``;
- with a teacher: ``agreement`` (same argmax), ``kl_divergence``
  ``(1/N) Σ_t KL(p_t ‖ q_s)`` (teacher ‖ student, as for classifiers),
  ``kl_divergence_reverse`` ``(1/N) Σ_t KL(q_s ‖ p_t)``, and ``logit_distance``
  ``d_logit = sqrt((1/N) Σ_t ‖z̄_s − z̄_t‖²`` with logits centred over the vocabulary
  (arXiv 2602.15438); the teacher's own ``accuracy``/``perplexity`` under ``teacher``.

Sums run over batches of sequences sized so that one batch's (batch, seq, K) logits stay
under about 64 MB; the vocabulary losses use :mod:`repsim_jax.lm.losses` (``chunk`` as
there). Representation metrics (m_CCA, CKA, d_rep) are not computed here yet.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax.lm import losses

__all__ = ["split_report"]

_LOGIT_BUDGET = 1 << 24  # floats of (batch, seq, K) logits per evaluation batch


def _sums(student_model, student_variables, teacher_model, teacher_variables, chunk, tokens):
    """Per-batch sums over positions of the report's terms (module docstring)."""
    x, y = tokens[:, :-1], tokens[:, 1:]
    s = student_model.apply(student_variables, x)
    count = y.size
    out = {
        "correct": jnp.sum(jnp.argmax(s.logits, -1) == y),
        "ce": losses.cross_entropy_loss(s.f, s.g, y, chunk) * count,
    }
    if teacher_model is not None:
        t = teacher_model.apply(teacher_variables, x)
        out["teacher_correct"] = jnp.sum(jnp.argmax(t.logits, -1) == y)
        out["teacher_ce"] = losses.cross_entropy_loss(t.f, t.g, y, chunk) * count
        out["agree"] = jnp.sum(jnp.argmax(s.logits, -1) == jnp.argmax(t.logits, -1))
        out["kl"] = losses.kl_loss(s.f, s.g, t.f, t.g, 1.0, chunk) * count
        out["kl_reverse"] = losses.kl_loss(t.f, t.g, s.f, s.g, 1.0, chunk) * count
        out["l2"] = losses.l2_loss(s.f, s.g, t.f, t.g, True, chunk) * count
    return out


@functools.lru_cache(maxsize=8)
def _jitted(student_model, teacher_model, chunk):
    """One compiled :func:`_sums` per (student, teacher, chunk)."""
    return jax.jit(functools.partial(_sums, student_model, teacher_model=teacher_model, chunk=chunk))


def _perplexity(ce: float) -> float:
    """``exp(ce)``, inf past float64's range."""
    try:
        return math.exp(ce)
    except OverflowError:
        return math.inf


def split_report(student, tokens: np.ndarray, teacher=None, chunk: int | None = None) -> dict:
    """The report (module docstring) of :class:`~repsim_jax.lm.model.TrainedLM`
    ``student`` (and ``teacher``) on ``tokens`` (n, L+1): each row's first L tokens are
    inputs, its last L the next-token labels."""
    tokens = np.asarray(tokens, np.int32)
    length, vocab = tokens.shape[1] - 1, student.model.vocab_size
    batch = max(1, _LOGIT_BUDGET // (length * vocab))
    run = _jitted(student.model, None if teacher is None else teacher.model, chunk)
    # both models on the default device: a seed's variables may live on a mesh's devices
    s_vars, t_vars = jax.device_put(jax.device_get((student.variables, None if teacher is None else teacher.variables)))
    totals: dict[str, float] = {}
    for start in range(0, len(tokens), batch):
        sums = run(s_vars, teacher_variables=t_vars, tokens=tokens[start : start + batch])
        for key, value in sums.items():
            totals[key] = totals.get(key, 0.0) + float(value)
    n = tokens.shape[0] * length
    report = {"tokens": n, "accuracy": totals["correct"] / n, "ce": totals["ce"] / n}
    report["perplexity"] = _perplexity(report["ce"])
    if teacher is not None:
        teacher_ce = totals["teacher_ce"] / n
        report["teacher"] = {
            "accuracy": totals["teacher_correct"] / n,
            "ce": teacher_ce,
            "perplexity": _perplexity(teacher_ce),
        }
        report["agreement"] = totals["agree"] / n
        report["kl_divergence"] = totals["kl"] / n
        report["kl_divergence_reverse"] = totals["kl_reverse"] / n
        report["logit_distance"] = math.sqrt(max(totals["l2"] / n, 0.0))
    return report
