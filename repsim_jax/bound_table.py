"""The bound checks of :mod:`repsim_jax.bounds` on saved models, as table rows.

``teacher_against(teacher_path, student_paths)`` gives one row per student:
``{"teacher", "student", "cca_logit", "rep_logit", "kl_logit"}``, each bound with
``lhs``, ``rhs``, ``holds``, ``slack``, ``tolerance``, ``within_round_off`` and scalar
ingredients (the KL bound also ``log10_rhs`` and ``log10_tau``, finite where ``rhs``
overflows and ``tau`` underflows). A bound the arrays cannot support
(no unembeddings: no rep_logit; neither logits nor unembeddings: no logit-based bound)
is left out with a note. Students of one shape are checked against their teacher in
one compiled call. A model whose logits are not stored and would have more than
``STREAM_ENTRIES`` entries (e.g. a language model over many tokens) is checked from its
representations in chunks instead, in memory independent of n
(:class:`repsim_jax.streaming.PairStream`). ``write_table`` writes rows as CSV or JSON.

For text tables, :func:`verdict` says ``holds``, ``holds (within round-off)`` (lhs exceeds
rhs by less than the bound's ``tolerance``, e.g. identical models whose lhs is rounding
noise) or ``FAILS``, and :func:`rhs_text` / :func:`slack_text` show a number that
overflowed from its ``log10_rhs``.
"""

from __future__ import annotations

import math

import numpy as np

from repsim_jax import bounds
from repsim_jax.errors import InputError
from repsim_jax.io import Representation, check_compatible, load_representation, write_rows
from repsim_jax.metrics import pivot_subsets
from repsim_jax.streaming import PairStream

__all__ = [
    "NAMES",
    "streamed_bounds",
    "teacher_against",
    "all_pairs",
    "write_table",
    "verdict",
    "rhs_text",
    "slack_text",
]

NAMES = ("cca_logit", "rep_logit", "kl_logit")
STREAM_ENTRIES = 5 * 10**7
STREAM_CHUNK = 4096


def _scalar(value):
    value = np.asarray(value)
    if value.dtype == bool:
        return bool(value)
    value = float(value)
    return value if math.isfinite(value) else str(value)


def _cells(result, i, **derived) -> dict:
    """Pair ``i`` of a stacked bound result as table cells: every per-pair scalar field of its
    result type (:class:`~repsim_jax.bounds.CCALogitBound`, ...), in the type's order, then
    ``derived`` summaries of its array fields."""
    return {field: value[i] for field, value in zip(result._fields, result) if np.ndim(value) == 1} | derived


def _cca_summary(r, i, rank):
    return _cells(r, i, mean_correlation=np.mean(r.correlations[i][:rank]), top_eigenvalue=r.eigenvalues[i][0])


def _rep_summary(r, i):
    included = np.asarray(r.included[i])
    return _cells(
        r,
        i,
        mean_inverse_norm_sq=np.mean(np.asarray(r.inverse_norm_sq[i])[included]) if included.any() else np.inf,
        num_subsets=included.size,
        num_excluded=int(included.size - included.sum()),
        all_subsets_hold=r.subset_holds[i].all(),
    )


def _kl_summary(r, i):
    return _cells(r, i)


def _stack(reps, field):
    return np.stack([getattr(r, field) if field != "all_logits" else r.all_logits for r in reps])


def _cca(teacher, students):
    n, d_t = teacher.embeddings.shape
    d_s = students[0].embeddings.shape[1]
    if n <= d_t + d_s:
        return None, f"n={n} <= d_t+d_s={d_t + d_s}: every canonical correlation would be 1"
    result = bounds.cca_logit_bound(
        teacher.embeddings, teacher.all_logits, _stack(students, "embeddings"), _stack(students, "all_logits")
    )
    return [_cca_summary(result, i, min(d_t, d_s)) for i in range(len(students))], None


def _rep(teacher, students, pivot_options):
    k, d1 = teacher.unembeddings.shape
    if k < d1 + 1:
        return None, f"K={k} < d1+1={d1 + 1} labels: no pivot/subset of d1 labels"
    pivots, subsets = pivot_subsets(k, d1, **pivot_options)
    result = bounds.rep_logit_bound(
        teacher.embeddings,
        teacher.unembeddings,
        _stack(students, "embeddings"),
        _stack(students, "unembeddings"),
        pivots,
        subsets,
    )
    return [_rep_summary(result, i) for i in range(len(students))], None


def _kl(teacher, students):
    result = bounds.kl_logit_bound(teacher.all_logits, _stack(students, "all_logits"))
    return [_kl_summary(result, i) for i in range(len(students))], None


def _group_results(teacher: Representation, students, pivot_options):
    """Bounds of one teacher against students that share their array shapes."""
    results = [dict() for _ in students]
    notes = {}
    has_logits = teacher.all_logits is not None and students[0].all_logits is not None
    has_unembeddings = teacher.unembeddings is not None and students[0].unembeddings is not None
    plans = {
        "cca_logit": (lambda: _cca(teacher, students)) if has_logits else None,
        "rep_logit": (lambda: _rep(teacher, students, pivot_options)) if has_unembeddings else None,
        "kl_logit": (lambda: _kl(teacher, students)) if has_logits else None,
    }
    missing = {
        "cca_logit": "needs logits or unembeddings in both files",
        "rep_logit": "needs unembeddings in both files",
        "kl_logit": "needs logits or unembeddings in both files",
    }
    for name in NAMES:
        summaries, note = plans[name]() if plans[name] else (None, missing[name])
        if note:
            notes[name] = note
            continue
        for result, summary in zip(results, summaries):
            result[name] = {key: _scalar(value) for key, value in summary.items()}
    for result in results:
        if notes:
            result["notes"] = dict(notes)
    return results


def verdict(values: dict) -> str:
    """``holds``, ``holds (within round-off)`` or ``FAILS`` for one bound of a row: the middle
    one when lhs exceeds rhs by no more than the bound's round-off ``tolerance`` (see
    :mod:`repsim_jax.bounds`), which the CLI tables should show as such."""
    if not values["holds"]:
        return "FAILS"
    return "holds (within round-off)" if values.get("within_round_off") else "holds"


def _from_log10(value, log10_value, spec: str) -> str:
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:{spec}}"
    if log10_value is not None and math.isfinite(log10_value):
        exponent = math.floor(log10_value)
        mantissa = float(f"{10.0 ** (log10_value - exponent):.3g}")
        if mantissa >= 10.0:  # rounded up to the next power of 10
            mantissa, exponent = mantissa / 10.0, exponent + 1
        return f"{mantissa:.3g}e{exponent:+d}"
    return str(value)


def rhs_text(values: dict, spec: str = ".4g") -> str:
    """A bound's rhs for a text table: the number, or, where it overflowed (the KL bound's
    ``KL/τ²``), the same number written from ``log10_rhs`` (e.g. ``3.1e+4521``)."""
    return _from_log10(values["rhs"], values.get("log10_rhs"), spec)


def slack_text(values: dict, spec: str = ".4g") -> str:
    """A bound's slack rhs/lhs for a text table, from ``log10_rhs`` where it overflowed."""
    lhs = values["lhs"]
    log10 = values.get("log10_rhs")
    log10_slack = log10 - math.log10(lhs) if log10 is not None and isinstance(lhs, float) and lhs > 0 else None
    return _from_log10(values["slack"], log10_slack, spec)


def _signature(rep: Representation):
    return (rep.embeddings.shape, None if rep.unembeddings is None else rep.unembeddings.shape, rep.num_labels)


def _streams(rep: Representation) -> bool:
    """Logits not stored and too large to form: ``n·K > STREAM_ENTRIES`` (with unembeddings)."""
    return (
        rep.logits is None
        and rep.unembeddings is not None
        and rep.embeddings.shape[0] * rep.num_labels > STREAM_ENTRIES
    )


def streamed_bounds(result: dict) -> dict:
    """The three bounds of a :meth:`repsim_jax.streaming.PairStream.result` as table cells:
    their fields (those of the in-memory result types that the moments give) as JSON-safe
    scalars (non-finite numbers as strings)."""
    return {name: {key: _scalar(v) for key, v in result[name].items()} for name in NAMES}


def _streamed_row(teacher: Representation, student: Representation, pivot_options) -> dict:
    """The three bounds from f and g chunk by chunk (:class:`repsim_jax.streaming.PairStream`)."""
    stream = PairStream(teacher.unembeddings, student.unembeddings)
    for start in range(0, teacher.embeddings.shape[0], STREAM_CHUNK):
        stream.add(teacher.embeddings[start : start + STREAM_CHUNK], student.embeddings[start : start + STREAM_CHUNK])
    return streamed_bounds(stream.result(pivot_options)) | {
        "notes": {"streamed": f"logits not stored and n·K > {STREAM_ENTRIES:.0e}: bounds from f, g in chunks"}
    }


def teacher_against(teacher_path: str, student_paths, pivot_options: dict | None = None, load=load_representation):
    """Rows ``{"teacher", "student", <bound>: {...}}`` for every student, grouped by shape;
    ``pivot_options`` go to :func:`repsim_jax.metrics.pivot_subsets` (its defaults when None);
    ``load(path) -> Representation`` reads each model (default: an ``.npz`` file)."""
    teacher = load(teacher_path)
    students = {}
    for path in student_paths:
        student = load(path)
        check_compatible(teacher_path, teacher, path, student)
        students.setdefault(_signature(student), []).append((path, student))
    rows = {}
    for group in students.values():
        if _streams(teacher) or _streams(group[0][1]):
            results = [_streamed_row(teacher, student, pivot_options or {}) for _, student in group]
        else:
            results = _group_results(teacher, [s for _, s in group], pivot_options or {})
        for (path, _), result in zip(group, results):
            rows[path] = {"teacher": teacher_path, "student": path, **result}
    return [rows[path] for path in student_paths]


def _flatten(row):
    flat = {"teacher": row["teacher"], "student": row["student"]}
    for name in NAMES:
        for key, value in row.get(name, {}).items():
            flat[f"{name}.{key}"] = value
    flat["notes"] = "; ".join(f"{k}: {v}" for k, v in row.get("notes", {}).items())
    return flat


def write_table(rows, path) -> None:
    """Rows as JSON (``.json``) or flattened CSV (``bound.key`` columns)."""
    write_rows(rows, path, _flatten)


def all_pairs(files, pivot_options: dict | None = None, load=load_representation) -> list[dict]:
    """Rows for every ordered pair of distinct models (each as teacher of the rest)."""
    if len(files) < 2:
        raise InputError(f"all pairs need at least 2 models, got {len(files)}")
    return [row for t in files for row in teacher_against(t, [s for s in files if s != t], pivot_options, load)]
