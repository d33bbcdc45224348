"""``repsim-jax bounds``: the bound checks of :mod:`repsim_jax.bounds` on saved models
(``.npz`` files or workdirs).

repsim-jax bounds TEACHER.npz STUDENT.npz [--json]
repsim-jax bounds TEACHER.npz --students DIR [--out table.csv|.json] [--plot lhs_rhs.png]
repsim-jax bounds --all-pairs DIR [--out ...] [--plot ...]
"""

from __future__ import annotations

import json
import os

from repsim_jax import bound_table, plots
from repsim_jax.bound_table import NAMES
from repsim_jax.cli._args import add_pivot_arguments, add_split_argument, pivot_options
from repsim_jax.errors import InputError
from repsim_jax.export import model_loader, model_paths


def _fmt(value, width=""):
    return f"{value:{width}.4g}" if isinstance(value, float) else f"{value!s:{width}}"


def _print_pair(row):
    for name in NAMES:
        if name not in row:
            continue
        values = row[name]
        verdict = "holds" if values["holds"] else "FAILS"
        print(
            f"{name:10s} lhs {_fmt(values['lhs'], '<12')} rhs {_fmt(values['rhs'], '<12')} {verdict}  "
            f"(slack rhs/lhs {_fmt(values['slack'])})"
        )
    for name, note in row.get("notes", {}).items():
        print(f"{name:10s} omitted: {note}")


def _print_rows(rows):
    print(f"{'teacher':24s} {'student':24s} " + " ".join(f"{n + ' lhs/rhs':>28s}" for n in NAMES))
    for row in rows:
        cells = []
        for name in NAMES:
            v = row.get(name)
            cells.append(
                f"{'-':>28s}"
                if v is None
                else f"{_fmt(v['lhs'], '>11')}/{_fmt(v['rhs'], '<11')} {'ok' if v['holds'] else 'FAIL':>4s}"
            )
        print(f"{os.path.basename(row['teacher']):24s} {os.path.basename(row['student']):24s} " + " ".join(cells))


def _rows(args, options):
    load = model_loader(args.split)
    if args.all_pairs:
        if args.paths or args.students:
            raise InputError("--all-pairs DIR takes no other model paths or --students")
        return bound_table.all_pairs(model_paths(args.all_pairs), options, load)
    if args.students:
        if len(args.paths) != 1:
            raise InputError("--students DIR needs exactly one TEACHER (.npz or workdir)")
        return bound_table.teacher_against(args.paths[0], model_paths(args.students), options, load)
    if len(args.paths) != 2:
        raise InputError("give TEACHER STUDENT, or TEACHER --students DIR, or --all-pairs DIR (.npz files or workdirs)")
    return bound_table.teacher_against(args.paths[0], [args.paths[1]], options, load)


def _handle(args, extra) -> int:
    rows = _rows(args, pivot_options(args))
    many = bool(args.all_pairs or args.students)
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
    parser = subparsers.add_parser(
        "bounds", help="check the logit/representation bounds on saved models (.npz or workdirs)"
    )
    parser.add_argument("paths", nargs="*", help="TEACHER [STUDENT]: .npz files or workdirs")
    parser.add_argument("--students", metavar="DIR", help="check TEACHER against every model (.npz, workdir) in DIR")
    parser.add_argument("--all-pairs", metavar="DIR", help="check every ordered pair of models in DIR")
    parser.add_argument("--json", action="store_true", help="print JSON (keys cca_logit, rep_logit, kl_logit)")
    parser.add_argument("--out", metavar="FILE", help="write the per-pair table (.csv, or .json)")
    parser.add_argument("--plot", metavar="FILE", help="write lhs vs rhs per pair (log-log, y = x line) as an image")
    add_split_argument(parser)
    add_pivot_arguments(parser)
    parser.set_defaults(func=_handle)
