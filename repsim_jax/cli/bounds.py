"""``repsim-jax bounds``: the bound checks of :mod:`repsim_jax.bounds` on saved models
(``.npz`` files or workdirs).

repsim-jax bounds TEACHER.npz STUDENT.npz [--json]
repsim-jax bounds TEACHER.npz --students DIR [--out table.csv|.json] [--plot lhs_rhs.png]
repsim-jax bounds --all-pairs DIR [--out ...] [--plot ...]
repsim-jax bounds --hf TEACHER_DIR --hf STUDENT_DIR --text FILE     (local causal LMs, streamed)
repsim-jax bounds --all-pairs --hf A --hf B --hf C ... --text FILE  (every ordered pair, one pass)
"""

from __future__ import annotations

import json
import pathlib
import re

from repsim_jax import bound_table, plots
from repsim_jax.bound_table import NAMES
from repsim_jax.cli import _args
from repsim_jax.cli._parser import add_command
from repsim_jax.errors import InputError
from repsim_jax.export import model_loader, model_paths


def _fmt(value, width=""):
    return f"{value:{width}.4g}" if isinstance(value, float) else f"{value!s:{width}}"


def _print_pair(row):
    for name in NAMES:
        if name not in row:
            continue
        values = row[name]
        print(
            f"{name:10s} lhs {_fmt(values['lhs'], '<12')} rhs {bound_table.rhs_text(values):<12} "
            f"{bound_table.verdict(values)}  (slack rhs/lhs {bound_table.slack_text(values)})"
        )
    for name, note in row.get("notes", {}).items():
        print(f"{name:10s} omitted: {note}")


def model_label(path: str) -> str:
    """A model's name in the table: ``GROUP/seed<s>`` for one seed of a group, else the
    file or workdir name."""
    parts = pathlib.PurePath(path).parts
    if len(parts) >= 2 and re.fullmatch(r"seed\d+", parts[-1]):
        return f"{parts[-2]}/{parts[-1]}"
    return parts[-1] if parts else path


def _bound_cell(values) -> str:
    if values is None:
        return "-"
    verdict = {"holds": "ok", "holds (within round-off)": "ok (round-off)"}.get(bound_table.verdict(values), "FAIL")
    return f"{_fmt(values['lhs'])} / {bound_table.rhs_text(values)} {verdict}"


def table_lines(rows) -> list[str]:
    """The rows as aligned text columns: teacher and student names left-aligned, each
    bound's ``lhs / rhs verdict`` right-aligned, every column as wide as its widest cell."""
    header = ["teacher", "student", *(f"{name} lhs / rhs" for name in NAMES)]
    body = [
        [model_label(row["teacher"]), model_label(row["student"]), *(_bound_cell(row.get(n)) for n in NAMES)]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    return [
        "  ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width) for i, (cell, width) in enumerate(zip(line, widths))
        )
        for line in [header, *body]
    ]


def _print_rows(rows):
    for line in table_lines(rows):
        print(line.rstrip())


def _language_model_rows(args, options):
    """Rows of local causal LMs streamed over ``--text``: the teacher against the student
    (two ``--hf``), or every ordered pair (``--all-pairs``), each model run once per batch."""
    if args.paths or args.students or args.all_pairs or not args.text:
        raise InputError("give --hf TEACHER --hf STUDENT --text FILE, or --all-pairs --hf A --hf B ... --text FILE")
    texts = _args.import_hf().read_texts(args.text)
    from repsim_jax.adapters.lm_compare import compare_language_model_zoo, compare_language_models

    stream = {**_args.hf_options(args), "pivot_options": options}
    if args.all_pairs is None:
        if len(args.hf) != 2:
            raise InputError("give exactly --hf TEACHER --hf STUDENT --text FILE, or --all-pairs with --hf")
        values = {(0, 1): compare_language_models(*args.hf, texts, **stream)}
    else:
        values = compare_language_model_zoo(args.hf, texts, **stream)
    return [
        {"teacher": args.hf[i], "student": args.hf[j], **bound_table.streamed_bounds(pair)}
        for (i, j), pair in values.items()
    ]


def _rows(args, options):
    if args.hf:
        return _language_model_rows(args, options)
    load = model_loader(args.split)
    if args.all_pairs is not None:
        if args.paths or args.students or not args.all_pairs:
            raise InputError("--all-pairs DIR takes no other model paths or --students (or: --all-pairs --hf ...)")
        return bound_table.all_pairs(model_paths(args.all_pairs), options, load)
    if args.students:
        if len(args.paths) != 1:
            raise InputError("--students DIR needs exactly one TEACHER (.npz or workdir)")
        return bound_table.teacher_against(args.paths[0], model_paths(args.students), options, load)
    if len(args.paths) != 2:
        raise InputError("give TEACHER STUDENT, or TEACHER --students DIR, or --all-pairs DIR (.npz files or workdirs)")
    return bound_table.teacher_against(args.paths[0], [args.paths[1]], options, load)


def _handle(args, extra) -> int:
    _args.check_suffix("--out", args.out, (".csv", ".json"))
    _args.check_plot_path(args.plot)
    rows = _rows(args, _args.pivot_options(args))
    many = args.all_pairs is not None or bool(args.students)
    if args.out:
        bound_table.write_table(rows, args.out)
    if args.plot:
        plots.bound_pairs(rows, NAMES, args.plot)
    if args.json:
        payload = rows if many else {k: v for k, v in rows[0].items() if k not in ("teacher", "student")}
        print(json.dumps(payload, indent=2))
    elif many:
        _print_rows(rows)
    else:
        _print_pair(rows[0])
    return 0


def register(subparsers) -> None:
    parser = add_command(
        subparsers,
        "bounds",
        "Check the bounds tying logit distances to representation similarity on saved models",
        [
            "repsim-jax bounds teacher.npz student.npz",
            "repsim-jax bounds runs/smoke/teacher --students runs/smoke/students --out bounds.csv",
            "repsim-jax bounds --all-pairs runs/smoke/students --plot lhs_rhs.png",
            "repsim-jax bounds --all-pairs --hf ./a --hf ./b --hf ./c --text lines.txt --out bounds.csv",
        ],
        "Models are .npz files or workdirs (GROUP/seed<s> for one seed of a group). Bounds: cca_logit\n"
        "(mean CCA vs logit distance), rep_logit (d_rep vs logit distance), kl_logit (KL vs logit distance).",
    )
    parser.add_argument("paths", nargs="*", help="TEACHER [STUDENT]: .npz files or workdirs")
    parser.add_argument("--students", metavar="DIR", help="check TEACHER against every model (.npz, workdir) in DIR")
    parser.add_argument(
        "--all-pairs",
        nargs="?",
        const="",
        metavar="DIR",
        help="check every ordered pair of models in DIR, or (no DIR) of the --hf models in one pass",
    )
    parser.add_argument("--hf", action="append", metavar="MODEL_DIR", help="a local causal LM directory (repeat)")
    parser.add_argument("--json", action="store_true", help="print JSON (keys cca_logit, rep_logit, kl_logit)")
    parser.add_argument("--out", metavar="FILE", help="write the per-pair table (.csv, or .json)")
    parser.add_argument("--plot", metavar="FILE", help="write lhs vs rhs per pair (log-log, y = x line) as an image")
    _args.add_comparison_arguments(parser, "check")
    parser.set_defaults(func=_handle)
