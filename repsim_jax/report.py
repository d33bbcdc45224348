"""Summaries of runs over seeds: mean ± std, significance tests, markdown tables.

Used by the reproductions (:mod:`repsim_jax.reproduce`) and by ``repsim-jax sweep``.
"""

from __future__ import annotations

import numpy as np
import scipy.stats

__all__ = [
    "STUDENT_METRICS",
    "TESTED_METRICS",
    "summarise_seeds",
    "significance",
    "compare_to_reference",
    "markdown_summary",
    "bound_stats",
]

STUDENT_METRICS = (
    "accuracy",
    "agreement",
    "kl_divergence",
    "logit_distance",
    "rep_dissimilarity",
    "mean_cca",
    "linear_cka",
    "procrustes_distance",
)
TESTED_METRICS = ("mean_cca", "rep_dissimilarity")


def summarise_seeds(reports: list[dict], keys=STUDENT_METRICS, prefix: str = "") -> dict:
    """``{prefix+metric: {"mean", "std", "values"}}`` over per-seed reports (std: ddof=0);
    metrics missing (``None``) in any report are left out."""
    out = {}
    for key in keys:
        values = [r.get(key) for r in reports]
        if values and all(v is not None for v in values):
            arr = np.asarray(values, np.float64)
            out[prefix + key] = {"mean": float(arr.mean()), "std": float(arr.std()), "values": [float(v) for v in arr]}
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
        raise ValueError(f"significance tests need >= 2 values per group, got {a.size} and {b.size}")
    welch = scipy.stats.ttest_ind(a, b, equal_var=False)
    mwu = scipy.stats.mannwhitneyu(a, b, alternative="two-sided")
    return {
        "difference": float(a.mean() - b.mean()),
        "welch_t": float(welch.statistic),
        "welch_p": float(welch.pvalue),
        "mannwhitney_u": float(mwu.statistic),
        "mannwhitney_p": float(mwu.pvalue),
    }


def compare_to_reference(summary: dict, reference: str = "kl", keys=TESTED_METRICS) -> dict:
    """:func:`significance` of every other loss against ``reference`` per metric:
    ``{"<loss>_vs_<reference>": {metric: {...}}}``."""
    if reference not in summary:
        raise ValueError(f"reference loss {reference!r} not among {sorted(summary)}")
    return {
        f"{loss}_vs_{reference}": {
            k: significance(summary[loss][k]["values"], summary[reference][k]["values"])
            for k in keys
            if k in summary[loss] and k in summary[reference]
        }
        for loss in summary
        if loss != reference
    }


def _tests_table(tests: dict) -> list[str]:
    lines = [
        "",
        "Two-sided Welch t-test (unequal variances) and Mann–Whitney U test over seeds (scipy.stats):",
        "",
        "| comparison | metric | difference | Welch t | Welch p | MWU U | MWU p |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, per_metric in tests.items():
        for metric, t in per_metric.items():
            lines.append(
                f"| {name} | {metric} | {t['difference']:.4g} | {t['welch_t']:.3g} | "
                f"{t['welch_p']:.3g} | {t['mannwhitney_u']:.3g} | {t['mannwhitney_p']:.3g} |"
            )
    return lines


def markdown_summary(
    title: str, summary: dict, tests: dict, keys, teacher: dict | None = None, row_label: str = "loss"
) -> str:
    """Markdown: one row per group (a loss, or ``loss d=dim``) of ``mean ± std`` per
    metric, then the tests."""
    groups = list(summary)
    shown = [k for k in keys if any(k in summary[g] for g in groups)]
    cell = lambda s: f"{s['mean']:.4g} ± {s['std']:.2g}" if s else "n/a"
    lines = [f"# {title}", ""]
    if teacher:
        lines += ["Teacher: " + ", ".join(f"{k} = {v['mean']:.4g}" for k, v in teacher.items()), ""]
    n = len(next(iter(summary[groups[0]].values()))["values"]) if summary[groups[0]] else 0
    lines += [
        f"Students, mean ± std over {n} seeds (test split):",
        "",
        f"| {row_label} | " + " | ".join(shown) + " |",
        "|---" * (len(shown) + 1) + "|",
    ]
    lines += [f"| {g} | " + " | ".join(cell(summary[g].get(k)) for k in shown) + " |" for g in groups]
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
