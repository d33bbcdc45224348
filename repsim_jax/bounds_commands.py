"""``repsim-jax bounds``: the bound checks of :mod:`repsim_jax.bounds` on saved ``.npz`` models.

    repsim-jax bounds TEACHER.npz STUDENT.npz [--json]
    repsim-jax bounds TEACHER.npz --students DIR [--out table.csv|.json] [--plot lhs_rhs.png]
    repsim-jax bounds --all-pairs DIR [--out ...] [--plot ...]

Keys ``cca_logit``, ``rep_logit``, ``kl_logit``, each with ``lhs``, ``rhs``, ``holds`` and
scalar ingredients. A bound the arrays cannot support (no unembeddings: no rep_logit;
neither logits nor unembeddings: no logit-based bound) is left out with a note. Students
of one shape are checked against their teacher in one compiled call.
"""

from __future__ import annotations

import csv
import json
import math
import os

import jax
import numpy as np

from repsim_jax import bounds
from repsim_jax.io import Representation, check_compatible, load_representation
from repsim_jax.metrics import sample_pivot_subsets

NAMES = ("cca_logit", "rep_logit", "kl_logit")


def _scalar(value):
    value = np.asarray(value)
    if value.dtype == bool:
        return bool(value)
    value = float(value)
    return value if math.isfinite(value) else ("inf" if value > 0 else "nan")


def _cca_summary(r, i, rank):
    return {"lhs": r.lhs[i], "middle": r.middle[i], "rhs": r.rhs[i], "holds": r.holds[i], "slack": r.slack[i],
            "mean_correlation": np.mean(r.correlations[i][:rank]),
            "top_eigenvalue": r.eigenvalues[i][0], "teacher_span_residual": r.teacher_span_residual[i],
            "student_span_residual": r.student_span_residual[i]}


def _rep_summary(r, i):
    included = np.asarray(r.included[i])
    return {"lhs": r.lhs[i], "rhs": r.rhs[i], "holds": r.holds[i], "slack": r.slack[i],
            "logit_distance_sq": r.logit_distance_sq[i],
            "mean_inverse_norm_sq": np.mean(np.asarray(r.inverse_norm_sq[i])[included]) if included.any() else np.inf,
            "num_subsets": included.size, "num_excluded": int(included.size - included.sum()),
            "all_subsets_hold": r.subset_holds[i].all()}


def _kl_summary(r, i):
    return {"lhs": r.lhs[i], "rhs": r.rhs[i], "holds": r.holds[i], "slack": r.slack[i], "kl": r.kl[i],
            "tau": r.tau[i], "rhs_per_input": r.rhs_per_input[i], "holds_per_input": r.holds_per_input[i],
            "slack_per_input": r.slack_per_input[i]}


def _stack(reps, field):
    return np.stack([getattr(r, field) if field != "all_logits" else r.all_logits for r in reps])


def _cca(teacher, students):
    n, d_t = teacher.embeddings.shape
    d_s = students[0].embeddings.shape[1]
    if n <= d_t + d_s:
        return None, f"n={n} <= d_t+d_s={d_t + d_s}: every canonical correlation would be 1"
    result = bounds.cca_logit_bound(teacher.embeddings, _stack(students, "embeddings"), teacher.all_logits,
                                    _stack(students, "all_logits"))
    return [_cca_summary(result, i, min(d_t, d_s)) for i in range(len(students))], None


def _rep(teacher, students, options):
    k, d1 = teacher.unembeddings.shape
    if k < d1 + 1:
        return None, f"K={k} < d1+1={d1 + 1} labels: no pivot/subset of d1 labels"
    pivots, subsets = sample_pivot_subsets(jax.random.key(options.seed), k, d1, min(options.pivots, k),
                                           options.subsets)
    result = bounds.rep_logit_bound(teacher.embeddings, teacher.unembeddings, _stack(students, "embeddings"),
                                    _stack(students, "unembeddings"), pivots, subsets)
    return [_rep_summary(result, i) for i in range(len(students))], None


def _kl(teacher, students):
    result = bounds.kl_logit_bound(teacher.all_logits, _stack(students, "all_logits"))
    return [_kl_summary(result, i) for i in range(len(students))], None


def _group_results(teacher: Representation, students, options):
    """Bounds of one teacher against students that share their array shapes."""
    results = [dict() for _ in students]
    notes = {}
    has_logits = teacher.all_logits is not None and students[0].all_logits is not None
    has_unembeddings = teacher.unembeddings is not None and students[0].unembeddings is not None
    plans = {"cca_logit": (lambda: _cca(teacher, students)) if has_logits else None,
             "rep_logit": (lambda: _rep(teacher, students, options)) if has_unembeddings else None,
             "kl_logit": (lambda: _kl(teacher, students)) if has_logits else None}
    missing = {"cca_logit": "needs logits or unembeddings in both files",
               "rep_logit": "needs unembeddings in both files",
               "kl_logit": "needs logits or unembeddings in both files"}
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


def _signature(rep: Representation):
    logits = rep.all_logits
    return (rep.embeddings.shape, None if rep.unembeddings is None else rep.unembeddings.shape,
            None if logits is None else logits.shape)


def teacher_against(teacher_path: str, student_paths, options):
    """Rows ``{"teacher", "student", <bound>: {...}}`` for every student, grouped by shape."""
    teacher = load_representation(teacher_path)
    students = {}
    for path in student_paths:
        student = load_representation(path)
        check_compatible(teacher_path, teacher, path, student)
        students.setdefault(_signature(student), []).append((path, student))
    rows = {}
    for group in students.values():
        results = _group_results(teacher, [s for _, s in group], options)
        for (path, _), result in zip(group, results):
            rows[path] = {"teacher": teacher_path, "student": path, **result}
    return [rows[path] for path in student_paths]


def _npz_files(directory: str):
    if not os.path.isdir(directory):
        raise ValueError(f"{directory}: not a directory")
    files = sorted(os.path.join(directory, f) for f in os.listdir(directory) if f.endswith(".npz"))
    if not files:
        raise ValueError(f"{directory}: no .npz files")
    return files


def _flatten(row):
    flat = {"teacher": row["teacher"], "student": row["student"]}
    for name in NAMES:
        for key, value in row.get(name, {}).items():
            flat[f"{name}.{key}"] = value
    flat["notes"] = "; ".join(f"{k}: {v}" for k, v in row.get("notes", {}).items())
    return flat


def _write_table(rows, path):
    flat = [_flatten(row) for row in rows]
    if path.endswith(".json"):
        with open(path, "w") as handle:
            json.dump(rows, handle, indent=2)
        return
    columns = list(dict.fromkeys(key for row in flat for key in row))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(flat)


def _plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(NAMES), figsize=(4.2 * len(NAMES), 4))
    for ax, name in zip(axes, NAMES):
        checked = [(r[name]["lhs"], r[name]["rhs"]) for r in rows if name in r]
        points = [p for p in checked if all(isinstance(v, float) and 0 < v < np.inf for v in p)]
        if len(points) < len(checked):
            ax.text(0.5, 0.5, f"{len(checked) - len(points)} pairs not drawn:\nlhs = 0 or rhs = inf",
                    transform=ax.transAxes, ha="center", va="center")
        if points:
            lhs, rhs = np.array(points).T
            ax.loglog(lhs, rhs, "o", ms=4)
            low, high = min(lhs.min(), rhs.min()), max(lhs.max(), rhs.max())
            ax.loglog([low, high], [low, high], "k--", lw=1, label="y = x")
            ax.legend()
        ax.set_title(f"{name} ({len(points)} of {len(checked)} pairs drawn)")
        ax.set_xlabel("lhs")
        ax.set_ylabel("rhs")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fmt(value, width=""):
    return f"{value:{width}.4g}" if isinstance(value, float) else f"{value!s:{width}}"


def _print_pair(row):
    for name in NAMES:
        if name not in row:
            continue
        values = row[name]
        verdict = "holds" if values["holds"] else "FAILS"
        print(f"{name:10s} lhs {_fmt(values['lhs'], '<12')} rhs {_fmt(values['rhs'], '<12')} {verdict}  "
              f"(slack rhs/lhs {_fmt(values['slack'])})")
    for name, note in row.get("notes", {}).items():
        print(f"{name:10s} omitted: {note}")


def _print_rows(rows):
    print(f"{'teacher':24s} {'student':24s} " + " ".join(f"{n + ' lhs/rhs':>28s}" for n in NAMES))
    for row in rows:
        cells = []
        for name in NAMES:
            v = row.get(name)
            cells.append(f"{'-':>28s}" if v is None else
                         f"{_fmt(v['lhs'], '>11')}/{_fmt(v['rhs'], '<11')} {'ok' if v['holds'] else 'FAIL':>4s}")
        print(f"{os.path.basename(row['teacher']):24s} {os.path.basename(row['student']):24s} " + " ".join(cells))


def _rows(args):
    if args.all_pairs:
        if args.paths or args.students:
            raise ValueError("--all-pairs DIR takes no other model paths or --students")
        files = _npz_files(args.all_pairs)
        if len(files) < 2:
            raise ValueError(f"{args.all_pairs}: --all-pairs needs at least 2 .npz files")
        return [row for t in files for row in teacher_against(t, [s for s in files if s != t], args)]
    if args.students:
        if len(args.paths) != 1:
            raise ValueError("--students DIR needs exactly one TEACHER.npz")
        return teacher_against(args.paths[0], _npz_files(args.students), args)
    if len(args.paths) != 2:
        raise ValueError("give TEACHER.npz STUDENT.npz, or TEACHER.npz --students DIR, or --all-pairs DIR")
    return teacher_against(args.paths[0], [args.paths[1]], args)


def run(args, extra) -> int:
    """Handler of ``repsim-jax bounds``."""
    if args.pivots < 1 or args.subsets < 1:
        raise ValueError("--pivots and --subsets must be >= 1")
    rows = _rows(args)
    many = bool(args.all_pairs or args.students)
    if args.out:
        _write_table(rows, args.out)
    if args.plot:
        _plot(rows, args.plot)
    if args.json:
        payload = rows if many else {k: v for k, v in rows[0].items() if k not in ("teacher", "student")}
        print(json.dumps(payload, indent=2))
    elif many:
        _print_rows(rows)
    else:
        _print_pair(rows[0])
    return 0


def register(subparsers) -> None:
    """Adds the ``bounds`` subcommand to an argparse subparsers object."""
    parser = subparsers.add_parser("bounds", help="check the logit/representation bounds on saved models (.npz)")
    parser.add_argument("paths", nargs="*", help="TEACHER.npz [STUDENT.npz]")
    parser.add_argument("--students", metavar="DIR", help="check TEACHER against every .npz in DIR")
    parser.add_argument("--all-pairs", metavar="DIR", help="check every ordered pair of .npz files in DIR")
    parser.add_argument("--json", action="store_true", help="print JSON (keys cca_logit, rep_logit, kl_logit)")
    parser.add_argument("--out", metavar="FILE", help="write the per-pair table (.csv, or .json)")
    parser.add_argument("--plot", metavar="FILE", help="write lhs vs rhs per pair (log-log, y = x line) as an image")
    parser.add_argument("--pivots", type=int, default=10, help="pivot labels for rep_logit")
    parser.add_argument("--subsets", type=int, default=20, help="label subsets per pivot for rep_logit")
    parser.add_argument("--seed", type=int, default=0, help="seed of the pivot/subset sample")
    parser.set_defaults(func=run)
