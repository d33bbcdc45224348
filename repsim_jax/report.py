"""Summaries of runs over seeds: mean ± std, significance tests, markdown tables.

Used by the reproductions (:mod:`repsim_jax.reproduce`) and by ``repsim-jax sweep``.
"""

from __future__ import annotations

import numpy as np
import scipy.stats

from repsim_jax import authors
from repsim_jax.errors import InputError
from repsim_jax.evaluators import SIMILARITY_METRICS

__all__ = [
    "STUDENT_METRICS",
    "AUTHORS_METRICS",
    "TESTED_METRICS",
    "summarise_seeds",
    "summarise_teachers",
    "over_teachers",
    "inverse_variance_mean",
    "significance",
    "compare_to_reference",
    "markdown_summary",
    "bound_stats",
]

STUDENT_METRICS = ("accuracy", "agreement", *(key for key in SIMILARITY_METRICS if key != "gram_distance"))
"""The keys a summary of students reports: prediction, agreement and the teacher–student
comparison (:data:`repsim_jax.evaluators.SIMILARITY_METRICS`; the Gram distance, added to the reports
later, is in the reports only, so the summaries' tables keep their columns)."""
# The reports' ``authors`` section (repsim_jax.authors) as summary keys: a dotted key reads a
# section (``authors.cca_score`` is ``report["authors"]["cca_score"]``).
AUTHORS_METRICS = tuple(f"authors.{key}" for key in authors.KEYS)
TESTED_METRICS = ("mean_cca", "rep_dissimilarity")
# The metrics every probe study (concepts, SUB) reports before its own probes, in table order.
PROBE_STUDY_METRICS = (
    "accuracy",
    "agreement",
    "kl_divergence",
    "logit_distance",
    "mean_cca",
    "rep_dissimilarity",
    "linear_cka",
)


def _metric(report: dict, key: str):
    """``report[key]``; a dotted key reads inside a section (``authors.cca_score``). None when absent."""
    value = report
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def summarise_seeds(reports: list[dict], keys=STUDENT_METRICS, prefix: str = "") -> dict:
    """``{prefix+metric: {"mean", "std", "values"}}`` over per-seed reports (std: ddof=0);
    metrics missing (``None``) in any report are left out. Keys may be dotted
    (:data:`AUTHORS_METRICS`), and keep their dotted name in the summary."""
    out = {}
    for key in keys:
        values = [_metric(r, key) for r in reports]
        if values and all(v is not None for v in values):
            arr = np.asarray(values, np.float64)
            out[prefix + key] = {"mean": float(arr.mean()), "std": float(arr.std()), "values": [float(v) for v in arr]}
    return out


def inverse_variance_mean(groups) -> tuple[float, float]:
    """Inverse-variance weighted mean over teachers and its standard deviation.

    Each teacher ``t`` is one measuring instrument whose ``n_t`` student values ``y_ti``
    have sample variance ``s_t²`` (ddof=1); every value is weighted by ``1/s_t²``:
    ``ŷ = Σ_t Σ_i y_ti/s_t² / Σ_t n_t/s_t²`` and ``Var(ŷ) = 1 / Σ_t n_t/s_t²``, as in
    the figures of arXiv 2602.15438. Raises ValueError when a teacher has fewer than
    two values or zero variance (the weight is then undefined).
    """
    arrays = [np.asarray(g, np.float64) for g in groups]
    if any(a.size < 2 for a in arrays):
        raise InputError("inverse-variance weighting needs >= 2 student values per teacher")
    variances = np.array([a.var(ddof=1) for a in arrays])
    if np.any(variances == 0):
        raise InputError("inverse-variance weighting is undefined: a teacher's students have zero variance")
    weight = sum(a.size / v for a, v in zip(arrays, variances))
    mean = sum(a.sum() / v for a, v in zip(arrays, variances)) / weight
    return float(mean), float(np.sqrt(1.0 / weight))


def over_teachers(groups) -> tuple[float, float, str]:
    """``(mean, std, weighting)`` over teachers of their students' values ``groups[t]``:
    :func:`inverse_variance_mean` (``"inverse-variance"``), or where its weights are
    undefined (a teacher with one value, or zero variance) the equal-weight mean of the
    teacher means and its standard error ``std(means, ddof=1)/√T`` (``"equal"``; NaN for
    one teacher)."""
    try:
        return (*inverse_variance_mean(groups), "inverse-variance")
    except ValueError:
        means = np.array([np.mean(g) for g in groups], np.float64)
        std = float(means.std(ddof=1) / np.sqrt(means.size)) if means.size > 1 else float("nan")
        return float(means.mean()), std, "equal"


def summarise_teachers(groups: list[list[dict]], keys=STUDENT_METRICS, prefix: str = "") -> dict:
    """Summaries over teachers: ``groups[t]`` holds teacher ``t``'s per-seed student reports.

    Per metric: ``mean``/``std`` = :func:`inverse_variance_mean` (its standard deviation,
    i.e. the standard error of the weighted mean; the equal-weight mean of the teacher
    means and its standard error where a teacher's students have zero variance, with
    ``weighting`` saying which), ``teacher_means``/``teacher_stds`` (ddof=0 over each
    teacher's students) and ``values`` (every student, teacher-major).
    """
    per_teacher = [summarise_seeds(g, keys, prefix) for g in groups]
    out = {}
    for key in per_teacher[0]:
        if not all(key in t for t in per_teacher):
            continue
        values = [t[key]["values"] for t in per_teacher]
        means = np.array([t[key]["mean"] for t in per_teacher])
        mean, std, weighting = over_teachers(values)
        out[key] = {
            "mean": mean,
            "std": std,
            "weighting": weighting,
            "teacher_means": means.tolist(),
            "teacher_stds": [t[key]["std"] for t in per_teacher],
            "values": [v for vs in values for v in vs],
        }
    return out


def significance(a, b) -> dict:
    """Two-sided tests of equal location of samples ``a`` and ``b`` (e.g. seeds of two losses).

    Welch's t-test (``scipy.stats.ttest_ind(a, b, equal_var=False)``: unequal variances,
    t = (ā − b̄)/sqrt(s_a²/n_a + s_b²/n_b), Welch–Satterthwaite df) and the Mann–Whitney U
    test (``scipy.stats.mannwhitneyu(a, b, alternative="two-sided")``, exact for small
    samples without ties). ``difference`` = mean(a) − mean(b).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size < 2 or b.size < 2:
        raise InputError(f"significance tests need >= 2 values per group, got {a.size} and {b.size}")
    welch = scipy.stats.ttest_ind(a, b, equal_var=False)
    mwu = scipy.stats.mannwhitneyu(a, b, alternative="two-sided")
    return {
        "difference": float(a.mean() - b.mean()),
        "welch_t": float(welch.statistic),
        "welch_p": float(welch.pvalue),
        "mannwhitney_u": float(mwu.statistic),
        "mannwhitney_p": float(mwu.pvalue),
    }


def _teacher_level(a: dict, b: dict) -> dict:
    """Tests on per-teacher means: :func:`significance` plus the paired t-test over
    teachers (``scipy.stats.ttest_rel``: each teacher has students of both losses)."""
    paired = scipy.stats.ttest_rel(a["teacher_means"], b["teacher_means"])
    return significance(a["teacher_means"], b["teacher_means"]) | {
        "level": "teachers",
        "n": len(a["teacher_means"]),
        "paired_t": float(paired.statistic),
        "paired_p": float(paired.pvalue),
    }


def compare_to_reference(summary: dict, reference: str = "kl", keys=TESTED_METRICS) -> dict:
    """:func:`significance` of every other loss against ``reference`` per metric:
    ``{"<loss>_vs_<reference>": {metric: {...}}}``.

    Summaries over several teachers (:func:`summarise_teachers`) are tested at the
    teacher level, on the per-teacher means (students of one teacher are not independent
    draws); single-teacher summaries over student seeds. ``level`` and ``n`` say which.
    """
    if reference not in summary:
        raise InputError(f"reference loss {reference!r} not among {sorted(summary)}")

    def test(a: dict, b: dict) -> dict:
        if "teacher_means" in a and len(a["teacher_means"]) >= 2:
            return _teacher_level(a, b)
        return significance(a["values"], b["values"]) | {"level": "student seeds", "n": len(a["values"])}

    return {
        f"{loss}_vs_{reference}": {
            k: test(summary[loss][k], summary[reference][k])
            for k in keys
            if k in summary[loss] and k in summary[reference]
        }
        for loss in summary
        if loss != reference
    }


def _tests_table(tests: dict) -> list[str]:
    lines = [
        "",
        "Two-sided Welch t-test (unequal variances) and Mann–Whitney U test (scipy.stats), over"
        " student seeds of one teacher or, with several teachers, over the per-teacher means"
        " (`level`, `n`); there also the paired t-test over teachers:",
        "",
        "| comparison | metric | level (n) | difference | Welch t | Welch p | MWU U | MWU p | paired p |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, per_metric in tests.items():
        for metric, t in per_metric.items():
            paired = f"{t['paired_p']:.3g}" if "paired_p" in t else "–"
            lines.append(
                f"| {name} | {metric} | {t['level']} ({t['n']}) | {t['difference']:.4g} | {t['welch_t']:.3g} | "
                f"{t['welch_p']:.3g} | {t['mannwhitney_u']:.3g} | {t['mannwhitney_p']:.3g} | {paired} |"
            )
    return lines


def _teacher_table(summary: dict, keys, row_label: str) -> list[str]:
    """Per-teacher means ± std of ``keys``: one row per group and teacher."""
    groups = list(summary)
    num_teachers = len(next(iter(summary[groups[0]].values()))["teacher_means"])
    lines = [
        "",
        "Per teacher, mean ± std over its students:",
        "",
        f"| {row_label} | teacher | " + " | ".join(keys) + " |",
        "|---" * (len(keys) + 2) + "|",
    ]
    for g in groups:
        for t in range(num_teachers):
            cells = [
                f"{summary[g][k]['teacher_means'][t]:.4g} ± {summary[g][k]['teacher_stds'][t]:.2g}"
                if k in summary[g]
                else "n/a"
                for k in keys
            ]
            lines.append(f"| {g} | {t} | " + " | ".join(cells) + " |")
    return lines


def markdown_summary(
    title: str, summary: dict, tests: dict, keys, teacher: dict | None = None, row_label: str = "loss"
) -> str:
    """Markdown: one row per group (a loss, or ``loss d=dim``) of ``mean ± std`` per
    metric, then the tests. Summaries over several teachers (:func:`summarise_teachers`)
    show the weighted mean ± its standard error, then a per-teacher table."""
    groups = list(summary)
    shown = [k for k in keys if any(k in summary[g] for g in groups)]
    cell = lambda s: f"{s['mean']:.4g} ± {s['std']:.2g}" if s else "n/a"
    lines = [f"# {title}", ""]
    if teacher:
        lines += ["Teacher: " + ", ".join(f"{k} = {v['mean']:.4g}" for k, v in teacher.items()), ""]
    first = next(iter(summary[groups[0]].values()), None)
    if first is not None and "teacher_means" in first:
        num_teachers = len(first["teacher_means"])
        per_teacher = len(first["values"]) // num_teachers
        lines += [
            f"Students, {num_teachers} teachers × {per_teacher} seeds (test split): inverse-variance weighted"
            " mean over teachers ± its standard error:",
            "",
        ]
    else:
        lines += [f"Students, mean ± std over {len(first['values']) if first else 0} seeds (test split):", ""]
    lines += [f"| {row_label} | " + " | ".join(shown) + " |", "|---" * (len(shown) + 1) + "|"]
    lines += [f"| {g} | " + " | ".join(cell(summary[g].get(k)) for k in shown) + " |" for g in groups]
    if first is not None and "teacher_means" in first:
        lines += _teacher_table(summary, [k for k in TESTED_METRICS + ("accuracy",) if k in shown], row_label)
    if tests:
        lines += _tests_table(tests)
    return "\n".join(lines) + "\n"


def bound_stats(curve: dict) -> dict:
    """The CCA–logit bound over training (``{"epochs", "lhs" (S, E), "rhs", "holds"}``)
    as summary entries ``cca_bound_lhs``/``_rhs`` (mean/std over seeds per epoch) and
    ``cca_bound_holds``."""
    epochs = [int(e) for e in curve["epochs"]]
    return {
        f"cca_bound_{side}": {
            "epochs": epochs,
            "mean": curve[side].mean(0).tolist(),
            "std": curve[side].std(0).tolist(),
            "values": curve[side].tolist(),
        }
        for side in ("lhs", "rhs")
    } | {"cca_bound_holds": bool(np.all(curve["holds"]))}
