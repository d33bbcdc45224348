"""Peak memory and time of one model's evaluation on a split (issue 20).

    PYTHONPATH=. nice python benchmarks/bench_eval_memory.py [--n 50000] [--k 100] [--d 50] [--threads 1]

writes the section "Evaluation memory (issue 20, N threads)" of benchmarks/RESULTS.md.

Every measurement runs in a fresh subprocess pinned to ``--threads`` CPUs (affinity and the
BLAS/OpenMP thread variables, the same for every variant), on random data generated there:
teacher embeddings f_t (n × d) and unembeddings G_t (K × d), a student that is a noisy linear
transform of them, logits ``f Gᵀ`` in float32 (a model's outputs), labels the teacher's argmax.
Before the measured call the process's peak RSS is reset (``/proc/self/clear_refs``), so the
"extra" figure is the peak RSS during the call minus the RSS just before it (inputs, imports
and the JAX runtime excluded; XLA compilation included). Variants, alternated per round:

1. ``ranking old``: :func:`old_ranking_agreement_reference`, the previous algorithm (copied
   here as the reference: n × K(K−1)/2 float64 pair arrays, ``scipy.stats.kendalltau`` per
   input) vs ``ranking new``: :func:`repsim_jax.evaluate.ranking_agreement`, on the same p, q;
   their values are printed side by side as a check.
2. ``report``: :func:`repsim_jax.evaluate.split_report` (every metric, the ``authors``
   section included) with d_rep over ``--pivots`` × ``--subsets`` (``--report-rounds`` rounds:
   at the CIFAR-100 config's 100 × 200 the authors' d_rep alone is P·C·n·d² ≈ 5·10¹² flops).
3. ``parts``: one process, peak RSS growth of ``split_report(only=(key,))`` per key
   (the prediction metrics are always computed; compilation is paid by the first key that
   needs a kernel), with d_rep over ``--parts-pivots`` × ``--parts-subsets``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from repsim_jax.evaluators import SIMILARITY_METRICS

HERE = os.path.dirname(os.path.abspath(__file__))


def old_ranking_agreement_reference(p, q) -> dict:
    """The previous ``repsim_jax.evaluate.ranking_agreement`` (before issue 20), kept as
    the baseline: n × K(K−1)/2 float64 sign arrays and one ``scipy.stats.kendalltau`` per input."""
    import numpy as np
    import scipy.stats

    k = p.shape[-1]
    i, j = np.triu_indices(k, 1)
    same = np.sign(p[:, i] - p[:, j]) == np.sign(q[:, i] - q[:, j])
    rank_p = scipy.stats.rankdata(p, axis=-1)
    rank_q = scipy.stats.rankdata(q, axis=-1)
    rp, rq = rank_p - rank_p.mean(-1, keepdims=True), rank_q - rank_q.mean(-1, keepdims=True)
    spearman = np.sum(rp * rq, -1) / np.sqrt(np.sum(rp**2, -1) * np.sum(rq**2, -1))
    tau = [scipy.stats.kendalltau(a, b).statistic for a, b in zip(p, q)]
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = np.sum(np.take_along_axis(p, np.argsort(-q, -1), -1) * discount, -1)
    ideal = np.sum(-np.sort(-p, -1) * discount, -1)
    return {
        "pairwise_accuracy": float(np.mean(same)),
        "kendall_tau": float(np.nanmean(tau)),
        "spearman": float(np.nanmean(spearman)),
        "ndcg": float(np.mean(dcg / ideal)),
    }


# --------------------------------------------------------------------------- child side


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as file:
        return next(int(line.split()[1]) for line in file if line.startswith(field + ":"))


def _measure(function) -> dict:
    """Wall time and peak RSS growth (MB) of ``function()`` in this process."""
    import gc

    gc.collect()
    with open("/proc/self/clear_refs", "w") as file:
        file.write("5")  # resets VmHWM (peak RSS) to the current RSS
    before = _status_kb("VmRSS")
    start = time.perf_counter()
    result = function()
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "rss_before_mb": before / 1024,
        "extra_mb": (_status_kb("VmHWM") - before) / 1024,
        "result": result,
    }


def _models(n, k, d, seed=0):
    """(student, teacher, labels): ``(embeddings, logits, unembeddings)`` in float32."""
    import numpy as np

    rng = np.random.default_rng(seed)
    f_t, g_t = rng.standard_normal((n, d)), rng.standard_normal((k, d)) / np.sqrt(d)
    mixing = np.eye(d) + rng.standard_normal((d, d)) / np.sqrt(d)
    f_s = f_t @ mixing.T + 0.3 * rng.standard_normal((n, d))
    g_s = g_t @ np.linalg.inv(mixing) + 0.1 * rng.standard_normal((k, d)) / np.sqrt(d)
    teacher = tuple(a.astype(np.float32) for a in (f_t, f_t @ g_t.T, g_t))
    student = tuple(a.astype(np.float32) for a in (f_s, f_s @ g_s.T, g_s))
    return student, teacher, teacher[1].argmax(-1)


def _child(args) -> dict:
    import numpy as np
    import scipy.special

    from repsim_jax import evaluate

    student, teacher, labels = _models(args.n, args.k, args.d)
    options = {"num_pivots": args.pivots, "num_subsets": args.subsets}
    if args.child.startswith("ranking"):
        p = scipy.special.softmax(np.float64(teacher[1]), axis=-1)
        q = scipy.special.softmax(np.float64(student[1]), axis=-1)
        ranking = old_ranking_agreement_reference if args.child == "ranking old" else evaluate.ranking_agreement
        return _measure(lambda: ranking(p, q))
    if args.child == "report":
        return _measure(lambda: _summary(evaluate.split_report(student, teacher, labels, options)))
    parts = {}
    for key in ("(prediction only)", *PART_KEYS):
        only = () if key.startswith("(") else (key,)
        parts[key] = _measure(
            lambda only=only: sorted(evaluate.split_report(student, teacher, labels, options, only=only))
        )
    return parts


PART_KEYS = (
    *SIMILARITY_METRICS,
    "ranking",
    *(
        f"authors/{k}"
        for k in (
            "rep_dissimilarity_eval",
            "rep_dissimilarity_train",
            "kl_student_teacher",
            "ece_per_class",
            "brier_per_class",
            "cca_score",
        )
    ),
)


def _summary(report: dict) -> dict:
    return {"ranking": report.get("ranking"), "skipped": report.get("skipped"), "mean_cca": report.get("mean_cca")}


# --------------------------------------------------------------------------- parent side


def _run(variant: str, args) -> dict:
    """One measurement in a fresh, pinned subprocess."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")]))
    env.update({name: str(args.threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    command = [sys.executable, __file__, "--child", variant, *_shared_flags(args)]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _shared_flags(args) -> list[str]:
    flags = ["--n", args.n, "--k", args.k, "--d", args.d, "--threads", args.threads]
    flags += ["--pivots", args.pivots, "--subsets", args.subsets]
    flags += ["--parts-pivots", args.parts_pivots, "--parts-subsets", args.parts_subsets]
    return [str(flag) for flag in flags]


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _row(variant, round_, measured, load) -> str:
    return f"| {variant} | {round_} | {measured['seconds']:.1f} | {measured['extra_mb']:,.0f} | {load:.2f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument(
        "--d", type=int, default=50, help="embedding width (the CIFAR-100 sweep's 50; d_rep needs K > d)"
    )
    parser.add_argument("--pivots", type=int, default=100, help="d_rep pivots (configs/cifar100.py: 100)")
    parser.add_argument("--subsets", type=int, default=200, help="d_rep subsets per pivot (configs/cifar100.py: 200)")
    parser.add_argument("--parts-pivots", type=int, default=10)
    parser.add_argument("--parts-subsets", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--report-rounds", type=int, default=1)
    parser.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.threads])
        print(json.dumps(_child(args)))
        return

    sys.path.insert(0, HERE)
    from _common import machine, write_section

    before = _uptime()
    rows, checks = [], []
    for round_ in range(1, args.rounds + 1):
        for variant in ["ranking old", "ranking new"] + (["report"] if round_ <= args.report_rounds else []):
            measured = _run(variant, args)
            load = os.getloadavg()[0]
            rows.append(_row(variant, round_, measured, load))
            print(rows[-1], flush=True)
            if round_ == 1:
                checks.append((variant, measured["result"]))
    parts = _run(
        "parts", argparse.Namespace(**{**vars(args), "pivots": args.parts_pivots, "subsets": args.parts_subsets})
    )
    after = _uptime()
    body = _report(args, machine(), before, after, rows, checks, parts)
    print(body)
    if not args.no_write:
        write_section(f"Evaluation memory (issue 20, {args.threads} thread{'s' if args.threads > 1 else ''})", body)


def _report(args, machine_line, before, after, rows, checks, parts) -> str:
    lines = [
        f"Machine: {machine_line}; shared with other jobs. `uptime` before: `{before}`; after: `{after}`.",
        f"Command: `PYTHONPATH=. nice python benchmarks/bench_eval_memory.py --threads {args.threads} "
        f"--rounds {args.rounds} --report-rounds {args.report_rounds}`.",
        f"n = {args.n:,} inputs, K = {args.k} labels, embedding width d = {args.d}, d_rep over "
        f"{args.pivots} × {args.subsets} pivots × subsets; float32 model outputs. Each row is a fresh process "
        f'pinned to {args.threads} CPU(s) (BLAS/OpenMP threads the same); "extra" = peak RSS during the call − '
        "RSS just before it (inputs, imports, JAX runtime excluded; XLA compilation included); load = 1-minute "
        "load average after the run.",
        "",
        "| variant | round | seconds | extra peak RSS (MB) | load |",
        "|---|---|---|---|---|",
        *rows,
        "",
        "Values (round 1), the old and new ranking side by side:",
        "",
        *(f"- {variant}: `{json.dumps(result)}`" for variant, result in checks),
        "",
        f"Where the report's memory goes: one process, `split_report(only=(key,))` per key in this order, d_rep over "
        f"{args.parts_pivots} × {args.parts_subsets} (the prediction metrics, the softmax of both models and the "
        "float64 copies are in every row; a kernel's compilation is in the first row that needs it):",
        "",
        "| key | seconds | extra peak RSS (MB) |",
        "|---|---|---|",
        *(f"| {key} | {m['seconds']:.1f} | {m['extra_mb']:,.0f} |" for key, m in parts.items()),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
