"""A language model's report on held-out tokens (``report.json`` of an LM workdir).

Every position t of every sequence is one input (a row), its next token the label: the
paper's model family with ``f`` the final hidden state (after the final LayerNorm), ``g``
(K, d) the unembedding and K the vocabulary (arXiv 2602.15438, "including autoregressive
language models"). Over the N positions of a split, with student logits ``z_s = f_s g_sᵀ``
and teacher logits ``z_t``:

- ``accuracy``: fraction of positions whose argmax is the next token; ``ce``:
  ``(1/N) Σ_t −log softmax(z_s)_{y_t}`` (nats); ``perplexity = exp(ce)``;
- with a teacher, the teacher's own ``accuracy``/``ce``/``perplexity`` under ``teacher``, and
  from :class:`repsim_jax.streaming.PairStream` fed the positions' ``(f_t, f_s)`` batch by
  batch (the statistics engine, as ``compare --hf``): ``agreement`` (same argmax),
  ``kl_divergence`` ``(1/N) Σ_t KL(p_t ‖ q_s)`` (teacher ‖ student, as for classifiers),
  ``reverse_kl_divergence`` ``(1/N) Σ_t KL(q_s ‖ p_t)``, ``logit_distance``
  ``d_logit = sqrt((1/N) Σ_t ‖z̄_s − z̄_t‖²`` with logits centred over the vocabulary
  (arXiv 2602.15438), and the representation metrics and bounds of the classifier report
  (:mod:`repsim_jax.evaluate`, same keys, teacher = model 1):
  ``mean_cca`` (mean of all canonical correlations of the column spaces, exact QR/SVD form;
  ``eval.cca_components`` does not apply),
  ``linear_cka`` (``‖F̃_tᵀF̃_s‖²_F / (‖F̃_tᵀF̃_t‖_F‖F̃_sᵀF̃_s‖_F)``, Kornblith et al. 2019),
  ``rep_dissimilarity`` (d_rep, pivots/subsets over the vocabulary by
  :func:`repsim_jax.metrics.pivot_subsets` with ``eval.num_pivots``/``num_subsets``/
  ``pivot_seed``; counts under ``pivot_subsets``), ``rep_dissimilarity_reference``
  (``d_rep² / (P·C)``, the authors' normalisation), and the bounds ``cca_logit``,
  ``rep_logit``, ``kl_logit`` (:mod:`repsim_jax.bounds`, in the cells of
  :func:`repsim_jax.bound_table.streamed_bounds`: ``lhs``, ``rhs``, ``holds``, ``slack``, ...);
  ``procrustes_distance`` ``sqrt(2 − 2‖X̃ᵀỸ‖_*)`` of the unit-norm centred
  ``f_t``, ``f_s`` (Williams et al. 2021) from their streamed joint moments
  (:func:`repsim_jax.metrics.procrustes_distance_from_moments`: with ``[F̃_t, F̃_s] = QR``,
  ``F̃_tᵀF̃_s = R_tᵀR_s``, so the nuclear norm is that of a d × d product);
- ``layers`` (with ``loss.layers`` set and a teacher): for each mapped pair ``"i:j"``
  (student block i ↔ teacher block j, :func:`repsim_jax.lm.losses.parse_layers`)
  ``{"cka": linear CKA, "procrustes": Procrustes distance}`` of the two hidden states over
  the positions, each from the pair's streamed moments
  (:func:`~repsim_jax.metrics.linear_cka_from_moments`,
  :func:`~repsim_jax.metrics.procrustes_distance_from_moments`).

A metric the split does not allow (e.g. N ≤ d_t + d_s positions: every canonical
correlation would be 1) is ``null`` with its reason under ``skipped``.

With several processes each process runs the models on its own share of the sequences
(:func:`repsim_jax.row_statistics.own_rows`) and the sums, the stream and the layer moments
are merged across processes: every process gets the whole split's report.

Memory: batches of sequences sized so that one batch's (batch, seq, K) logits stay under
about 64 MB; the vocabulary losses use :mod:`repsim_jax.lm.losses` (``chunk`` as there);
the stream and the layer moments hold O(K·d + d²) (PairStream forms (16, K) logits at a
time). No array over all N positions is ever held.
"""

from __future__ import annotations

import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax import bound_table
from repsim_jax.errors import InputError
from repsim_jax.lm import losses
from repsim_jax.metrics import linear_cka_from_moments, pivot_subsets, procrustes_distance_from_moments
from repsim_jax.metrics.moments import MomentAccumulator, Moments, merge
from repsim_jax.row_statistics import RowStatistics, fold_processes, on_every_process, own_rows
from repsim_jax.streaming import COMPARISON_KEYS, PairStream

__all__ = ["split_report", "position_arrays"]

_LOGIT_BUDGET = 1 << 24  # floats of (batch, seq, K) logits per evaluation batch
_FINAL = losses.LayerPair("final", None, None)


def _sums(student_model, student_variables, teacher_model, teacher_variables, chunk, pairs, tokens):
    """Per-batch sums over positions of the report's terms (module docstring) and, with a
    teacher, the positions' rows ``(h_t, h_s)`` of the final states and of each mapped pair."""
    x, y = tokens[:, :-1], tokens[:, 1:]
    s = student_model.apply(student_variables, x)
    count = y.size
    out = {
        "correct": jnp.sum(jnp.argmax(s.logits, -1) == y),
        "ce": losses.cross_entropy_loss(s.f, s.g, y, chunk) * count,
    }
    if teacher_model is None:
        return out, ()
    t = teacher_model.apply(teacher_variables, x)
    out["teacher_correct"] = jnp.sum(jnp.argmax(t.logits, -1) == y)
    out["teacher_ce"] = losses.cross_entropy_loss(t.f, t.g, y, chunk) * count
    rows = lambda h: h.reshape(-1, h.shape[-1])
    return out, tuple((rows(h_t), rows(h_s)) for h_s, h_t in losses.mapped_states(s, t, pairs))


@functools.lru_cache(maxsize=8)
def _jitted(student_model, teacher_model, chunk, pairs):
    """One compiled :func:`_sums` per (student, teacher, chunk, pairs)."""
    step = functools.partial(_sums, student_model, teacher_model=teacher_model, chunk=chunk, pairs=pairs)
    return jax.jit(step)


def _perplexity(ce: float) -> float:
    """``exp(ce)``, inf past float64's range."""
    try:
        return math.exp(ce)
    except OverflowError:
        return math.inf


def _on_default_device(*models):
    """Each model's variables on the default device (a seed's variables may live on a mesh's devices)."""
    return jax.device_put(jax.device_get(tuple(None if m is None else m.variables for m in models)))


def _batches(tokens: np.ndarray, vocab: int):
    length = tokens.shape[1] - 1
    batch = max(1, _LOGIT_BUDGET // (length * vocab))
    return (tokens[start : start + batch] for start in range(0, len(tokens), batch))


def _comparison(stream: PairStream) -> tuple[dict, dict]:
    """``agreement``, both KL directions and d_logit from ``stream``
    (:meth:`~repsim_jax.streaming.PairStream.comparison`: for any number of positions);
    null with their reason when out of float64's range."""
    try:
        return stream.comparison(), {}
    except InputError as error:
        return dict.fromkeys(COMPARISON_KEYS), dict.fromkeys(COMPARISON_KEYS, str(error))


def _stream_metrics(stream: PairStream, vocab: int, dim: int, pivot_options: dict) -> tuple[dict, dict]:
    """The classifier report's representation metrics and the three bounds from ``stream``
    (module docstring); ``({}, skipped)`` when the stream cannot give them."""
    names = ("mean_cca", "linear_cka", "rep_dissimilarity", *bound_table.NAMES)
    try:
        pivots, subsets = pivot_subsets(vocab, dim, **pivot_options)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # excluded subsets: as the classifier report
            result = stream.result(pivot_options)
    except InputError as error:
        return dict.fromkeys(names), dict.fromkeys(names, str(error))
    count = int(subsets.shape[0] * subsets.shape[1])
    values = {name: result[name] for name in names[:3]}
    values["rep_dissimilarity_reference"] = result["rep_dissimilarity"] ** 2 / count
    values["pivot_subsets"] = {
        "pivots_used": int(subsets.shape[0]),
        "subsets_per_pivot": int(subsets.shape[1]),
        "options": pivot_options,
    }
    return values | bound_table.streamed_bounds(result), {}


def _moment_metrics(moments: Moments) -> dict:
    """Linear CKA and Procrustes distance of a pair's streamed moments (teacher block first)."""
    return {
        "cka": float(linear_cka_from_moments(moments)),
        "procrustes": float(procrustes_distance_from_moments(moments)),
    }


def split_report(
    student,
    tokens: np.ndarray,
    teacher=None,
    chunk: int | None = None,
    *,
    pivot_options: dict | None = None,
    layers=(),
) -> dict:
    """The report (module docstring) of :class:`~repsim_jax.lm.model.TrainedLM`
    ``student`` (and ``teacher``) on ``tokens`` (n, L+1): each row's first L tokens are
    inputs, its last L the next-token labels. ``pivot_options`` (``num_pivots``,
    ``num_subsets``, ``seed``) go to :func:`repsim_jax.metrics.pivot_subsets`; ``layers``:
    the ``loss.layers`` strings whose mapped hidden states the report compares."""
    tokens = np.asarray(tokens, np.int32)
    tokens = tokens[own_rows(len(tokens))]
    vocab, pivot_options = student.model.vocab_size, dict(pivot_options or {})
    pairs = (_FINAL, *losses.parse_layers(layers)) if teacher is not None else ()
    run = _jitted(student.model, None if teacher is None else teacher.model, chunk, pairs)
    s_vars, t_vars = _on_default_device(student, teacher)
    stream = None if teacher is None else PairStream(teacher.unembeddings, student.unembeddings)
    moments = [MomentAccumulator() for _ in pairs]

    def own_sums() -> RowStatistics:
        batches = []
        for batch in _batches(tokens, vocab):
            sums, rows = run(s_vars, teacher_variables=t_vars, tokens=batch)
            batches.append(RowStatistics.of(jax.device_get(sums) | {"positions": batch[:, 1:].size}))
            for accumulator, (h_t, h_s) in zip(moments, rows):
                accumulator.add(h_t, h_s)
            if stream is not None:
                stream.add(*rows[0])
        return functools.reduce(RowStatistics.merge, batches)

    totals = {k: float(v) for k, v in on_every_process(own_sums).merge_processes().sums.items()}
    moments = [fold_processes(accumulator.moments, merge) for accumulator in moments]
    if stream is not None:
        stream.merge_processes()
    n = int(totals["positions"])
    report = {"tokens": n, "accuracy": totals["correct"] / n, "ce": totals["ce"] / n}
    report["perplexity"] = _perplexity(report["ce"])
    if teacher is None:
        return report
    teacher_ce = totals["teacher_ce"] / n
    report["teacher"] = {
        "accuracy": totals["teacher_correct"] / n,
        "ce": teacher_ce,
        "perplexity": _perplexity(teacher_ce),
    }
    comparison, skipped = _comparison(stream)
    values, not_given = _stream_metrics(stream, vocab, teacher.unembeddings.shape[1], pivot_options)
    skipped |= not_given
    report |= (
        comparison | values | {"procrustes_distance": _moment_metrics(moments[0])["procrustes"], "skipped": skipped}
    )
    if len(pairs) > 1:
        report["layers"] = {pair.name: _moment_metrics(m) for pair, m in zip(pairs[1:], moments[1:])}
    return report


def position_arrays(trained, tokens: np.ndarray, logits: bool = True) -> dict[str, np.ndarray]:
    """Every position of ``tokens`` (n, L+1) as a row, in the ``.npz`` layout of
    :mod:`repsim_jax.io`: ``embeddings`` f (n·L, d), ``unembeddings`` g (K, d), ``labels``
    (the next tokens, n·L) and, with ``logits``, ``logits`` (n·L, K) = ``f gᵀ``."""
    tokens = np.asarray(tokens, np.int32)
    model = trained.model
    apply = jax.jit(lambda v, x: model.apply(v, x, logits=logits)[:2])
    (variables,) = _on_default_device(trained)
    f, z = [], []
    for batch in _batches(tokens, model.vocab_size):
        f_batch, z_batch = apply(variables, batch[:, :-1])
        f.append(np.asarray(f_batch).reshape(-1, f_batch.shape[-1]))
        if logits:
            z.append(np.asarray(z_batch).reshape(-1, z_batch.shape[-1]))
    out = {"embeddings": np.concatenate(f), "unembeddings": np.asarray(trained.unembeddings)}
    if logits:
        out["logits"] = np.concatenate(z)
    return out | {"labels": tokens[:, 1:].reshape(-1)}
