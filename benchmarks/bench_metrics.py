"""Metric-kernel benchmarks (issue 2), as ratios against references run in the same process.

    python benchmarks/bench_metrics.py            # writes the "Metrics (issue 2)" section of RESULTS.md

1. rep_dissimilarity (moment form, one batched solve) vs a loop over subsets that mirrors
   the original algorithm (explicit inverse, then n × d products), n=10000, K=100,
   d=25/50, 100 pivots × 200 subsets, the same subsets; accuracy against a float64 loop.
2. mean_cca vs scikit-learn's CCA (NIPALS) at the same sizes; accuracy against exact float64.
3. pairwise over 64 models (n=10000, d=64) vs a Python loop over pairs of a NumPy reference;
   achieved GFLOP/s of the unavoidable per-pair work against the measured matmul rate.
4. Peak memory of the streaming logit distance at n=10⁶, K=50,000 (in a subprocess).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import jax
import numpy as np
from _common import best_time, machine, matmul_rate, write_section

from repsim_jax import metrics

N, K = 10_000, 100


def related_models(rng, n, num_labels, dim, noise=0.1):
    """A model and a noisy invertible-linear transform of it (d_rep small but non-zero)."""
    f1 = rng.standard_normal((n, dim))
    g1 = rng.standard_normal((num_labels, dim))
    mixing = np.eye(dim) + rng.standard_normal((dim, dim)) / np.sqrt(dim)
    f2 = f1 @ mixing.T + noise * rng.standard_normal((n, dim))
    g2 = g1 @ np.linalg.inv(mixing) + noise * rng.standard_normal((num_labels, dim))
    return [a.astype(np.float32) for a in (f1, g1, f2, g2)]


def loop_rep_errors(f1, g1, f2, g2, pivots, subsets):
    """The original algorithm: per subset an explicit inverse and the n × d residual."""
    errors = np.empty(subsets.shape[:2])
    for j, pivot in enumerate(pivots):
        for c, subset in enumerate(subsets[j]):
            a = np.linalg.inv(g1[subset] - g1[pivot]) @ (g2[subset] - g2[pivot])
            errors[j, c] = np.mean(np.sum((f1 - f2 @ a.T) ** 2, axis=1))
    return errors


def bench_rep_dissimilarity(rng, dim):
    f1, g1, f2, g2 = related_models(rng, N, K, dim)
    pivots, subsets = metrics.sample_pivot_subsets(jax.random.key(dim), K, dim, 100, 200)
    ours = lambda: metrics.rep_dissimilarity_details(f1, g1, f2, g2, pivots, subsets, squared=True, validate=False)
    seconds = best_time(ours)
    result = ours()
    p, s = np.asarray(pivots), np.asarray(subsets)
    start = time.perf_counter()
    loop32 = loop_rep_errors(f1, g1, f2, g2, p, s)
    loop_seconds = time.perf_counter() - start
    loop64 = loop_rep_errors(*(a.astype(np.float64) for a in (f1, g1, f2, g2)), p, s)
    included = np.asarray(result.included)
    exact = loop64[included].mean()
    return {
        "d": dim,
        "subsets": int(s.shape[0] * s.shape[1]),
        "excluded": int(result.num_excluded),
        "ours_s": seconds,
        "loop_s": loop_seconds,
        "speedup": loop_seconds / seconds,
        "rel_err_ours": abs(float(result.value) - exact) / exact,
        "rel_err_loop_f32": abs(loop32[included].mean() - exact) / exact,
    }


def exact_mean_cca(x, y):
    qx = np.linalg.qr(x - x.mean(0))[0]
    qy = np.linalg.qr(y - y.mean(0))[0]
    return np.linalg.svd(qx.T @ qy, compute_uv=False).mean()


def sklearn_mean_cca(x, y):
    from sklearn.cross_decomposition import CCA

    dim = min(x.shape[1], y.shape[1])
    u, v = CCA(n_components=dim, max_iter=500, tol=1e-6, scale=False).fit(x, y).transform(x, y)
    return np.mean([np.corrcoef(u[:, i], v[:, i])[0, 1] for i in range(dim)])


def bench_mean_cca(rng, dim):
    x = rng.standard_normal((N, dim))
    y = x @ rng.standard_normal((dim, dim)) + 2.0 * rng.standard_normal((N, dim))
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    seconds = best_time(lambda: metrics.mean_cca(x32, y32, validate=False))
    start = time.perf_counter()
    reference = sklearn_mean_cca(x32, y32)
    sklearn_seconds = time.perf_counter() - start
    exact = exact_mean_cca(x, y)
    return {
        "d": dim,
        "ours_s": seconds,
        "sklearn_s": sklearn_seconds,
        "speedup": sklearn_seconds / seconds,
        "abs_err_ours": abs(float(metrics.mean_cca(x32, y32)) - exact),
        "abs_err_sklearn": abs(reference - exact),
    }


def bench_pairwise(rng, num_models=64, dim=64, timed_pairs=100):
    base = rng.standard_normal((N, dim))
    stack = np.stack(
        [base @ rng.standard_normal((dim, dim)) + rng.standard_normal((N, dim)) for _ in range(num_models)]
    ).astype(np.float32)
    pairs = num_models * (num_models - 1) // 2
    useful_gflop = pairs * 2 * N * dim**2 / 1e9
    rows = []
    for name in ("mean_cca", "linear_cka"):
        seconds = best_time(lambda name=name: metrics.pairwise(name, stack, validate=False))
        matrix = np.asarray(metrics.pairwise(name, stack))
        reference = {"mean_cca": exact_mean_cca, "linear_cka": numpy_cka}[name]
        i, j = np.triu_indices(num_models, 1)
        start = time.perf_counter()
        values = [reference(stack[a], stack[b]) for a, b in zip(i[:timed_pairs], j[:timed_pairs])]
        loop_seconds = (time.perf_counter() - start) * pairs / timed_pairs
        rows.append(
            {
                "metric": name,
                "ours_s": seconds,
                "loop_s_extrapolated": loop_seconds,
                "speedup": loop_seconds / seconds,
                "gflops": useful_gflop / seconds,
                "max_abs_err": float(np.max(np.abs(matrix[i[:timed_pairs], j[:timed_pairs]] - np.array(values)))),
            }
        )
    return rows


def numpy_cka(x, y):
    x, y = x - x.mean(0), y - y.mean(0)
    return np.linalg.norm(x.T @ y) ** 2 / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def streaming_memory(n=1_000_000, num_labels=50_000, dim=64, chunk=20_000):
    """Runs in a fresh process: streams n rows of two models, returns peak-RSS growth."""
    rng = np.random.default_rng(0)
    g1 = rng.standard_normal((num_labels, dim)).astype(np.float32)
    g2 = rng.standard_normal((num_labels, dim)).astype(np.float32)
    jax.block_until_ready(
        metrics.logit_distance_from_moments(
            metrics.moments.update(metrics.moments.empty((dim, dim)), g1[:chunk] * 0, g2[:chunk] * 0), g1, g2
        )
    )
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    accumulator = metrics.MomentAccumulator()
    for _ in range(0, n, chunk):
        f1 = rng.standard_normal((chunk, dim), dtype=np.float32)
        accumulator.add(f1, f1 + 0.1 * rng.standard_normal((chunk, dim), dtype=np.float32))
    distance = float(metrics.logit_distance_from_moments(accumulator.moments, g1, g2))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "n": n,
        "K": num_labels,
        "d": dim,
        "chunk": chunk,
        "seconds": time.perf_counter() - start,
        "peak_growth_mib": (peak - baseline) / 1024,
        "distance": distance,
        "state_mib": ((2 * dim) ** 2 + 2 * dim) * 4 / 2**20,
        "unembeddings_mib": 2 * num_labels * dim * 4 / 2**20,
        "chunk_mib": 2 * chunk * dim * 4 / 2**20,
        "dense_logits_gib": n * num_labels * 4 / 2**30,
    }


def report(rate, reps, ccas, pairs, stream) -> str:
    lines = [
        f"Machine: {machine()}. Measured float32 matmul rate (4096², jit): {rate:.0f} GFLOP/s.",
        "Command: `python benchmarks/bench_metrics.py`. Times are best of 3 after a warm-up (compile excluded).",
        "",
        "### rep_dissimilarity vs the original per-subset loop (n=10000, K=100, 100 pivots × 200 subsets)",
        "",
        "| d | ours (s) | loop (s) | speed-up | rel. err. ours vs float64 | rel. err. float32 loop | excluded |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['d']} | {r['ours_s']:.3f} | {r['loop_s']:.1f} | {r['speedup']:.0f}× | {r['rel_err_ours']:.1e} | "
        f"{r['rel_err_loop_f32']:.1e} | {r['excluded']} |"
        for r in reps
    ]
    lines += [
        "",
        "### mean_cca vs scikit-learn CCA (n=10000)",
        "",
        "| d | ours (s) | sklearn (s) | speed-up | abs. err. ours vs float64 | abs. err. sklearn |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['d']} | {r['ours_s']:.4f} | {r['sklearn_s']:.2f} | {r['speedup']:.0f}× | {r['abs_err_ours']:.1e} | "
        f"{r['abs_err_sklearn']:.1e} |"
        for r in ccas
    ]
    lines += [
        "",
        "### pairwise over 64 models (n=10000, d=64; 2016 pairs)",
        "",
        "The loop (NumPy reference per pair) was timed on 100 pairs and scaled to 2016. GFLOP/s counts only the "
        "unavoidable per-pair product `XᵢᵀXⱼ` (2·n·d² per pair).",
        "",
        "| metric | ours (s) | loop (s) | speed-up | GFLOP/s | share of matmul rate | max abs. err. |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['metric']} | {r['ours_s']:.2f} | {r['loop_s_extrapolated']:.1f} | {r['speedup']:.0f}× | "
        f"{r['gflops']:.0f} | {r['gflops'] / rate:.0%} | {r['max_abs_err']:.1e} |"
        for r in pairs
    ]
    lines += [
        "",
        "### Streaming logit distance from representations",
        "",
        f"n={stream['n']:,}, K={stream['K']:,}, d₁=d₂={stream['d']}, chunks of {stream['chunk']:,} rows: "
        f"{stream['seconds']:.1f} s; peak RSS growth {stream['peak_growth_mib']:.0f} MiB while streaming "
        f"(moment state {stream['state_mib']:.2f} MiB, unembeddings {stream['unembeddings_mib']:.0f} MiB, "
        f"one chunk {stream['chunk_mib']:.0f} MiB), against {stream['dense_logits_gib']:.0f} GiB for the dense "
        "(n, K) logits of one model.",
    ]
    return "\n".join(lines)


def main():
    if sys.argv[1:] == ["--streaming"]:
        print(json.dumps(streaming_memory()))
        return
    rng = np.random.default_rng(0)
    rate = matmul_rate()
    reps = [bench_rep_dissimilarity(rng, d) for d in (25, 50)]
    print(reps)
    ccas = [bench_mean_cca(rng, d) for d in (25, 50)]
    print(ccas)
    pairs = bench_pairwise(rng)
    print(pairs)
    stream = json.loads(
        subprocess.run([sys.executable, __file__, "--streaming"], check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
    )
    print(stream)
    text = report(rate, reps, ccas, pairs, stream)
    print(text)
    write_section("Metrics (issue 2)", text)


if __name__ == "__main__":
    main()
