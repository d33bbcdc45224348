"""Bounds for many pairs in one compiled call vs a per-pair loop of the NumPy references.

    python benchmarks/bench_bounds.py [--pairs 100] [--loop-pairs 3]

One teacher (n=10000, K=100, d=50) against P students (d=25): cca_logit, rep_logit
(5 pivots x 4 subsets) and kl_logit. The NumPy loop (tests/bounds/reference.py, float64)
is timed on --loop-pairs pairs and scaled linearly to P. The achieved rate counts the
matmul/QR flops of the compiled call (estimate below) against a jitted float32
4096x4096 matmul measured in the same run.
"""

import argparse
import os
import platform
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from repsim_jax import bounds  # noqa: E402
from repsim_jax.metrics import sample_pivot_subsets  # noqa: E402
from tests.bounds import reference  # noqa: E402

N, K, D_T, D_S = 10_000, 100, 50, 25


def matmul_rate():
    a = jnp.ones((4096, 4096), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    start = time.perf_counter()
    for _ in range(3):
        f(a).block_until_ready()
    return 3 * 2 * 4096**3 / (time.perf_counter() - start)


def flops_per_pair(subsets):
    """QR 2nd², cross products and logit projections of each bound (dominant terms)."""
    cca = 2 * N * D_S**2 + 2 * N * D_T * D_S + 4 * N * D_S * K + 2 * N * K
    rep = 2 * N * D_T * D_S * 2 + 2 * N * D_S**2
    return cca + rep + subsets * 4 * (D_T + D_S) ** 2 * D_T


def run_all(ft, gt, fs, gs, zt, zs, pivots, subsets):
    out = (bounds.cca_logit_bound(ft, fs, zt, zs), bounds.rep_logit_bound(ft, gt, fs, gs, pivots, subsets),
           bounds.kl_logit_bound(zt, zs))
    jax.block_until_ready(out)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=100)
    parser.add_argument("--loop-pairs", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    ft, gt = rng.standard_normal((N, D_T), np.float32), rng.standard_normal((K, D_T), np.float32)
    mix = rng.standard_normal((args.pairs, D_T, D_S), np.float32) / np.sqrt(D_T)
    fs = np.einsum("nd,pde->pne", ft, mix) + 0.3 * rng.standard_normal((args.pairs, N, D_S), np.float32)
    gs = rng.standard_normal((args.pairs, K, D_S), np.float32)
    zt, zs = ft @ gt.T, np.einsum("pnd,pkd->pnk", fs, gs)
    pivots, subsets = sample_pivot_subsets(jax.random.key(0), K, D_T, 5, 4)
    rate = matmul_rate()
    run_all(ft, gt, fs[:2], gs[:2], zt, zs[:2], pivots, subsets)  # compile for the batch shape
    run_all(ft, gt, fs, gs, zt, zs, pivots, subsets)
    start = time.perf_counter()
    result = run_all(ft, gt, fs, gs, zt, zs, pivots, subsets)
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(args.loop_pairs):
        reference.cca_logit(ft, fs[i], zt, zs[i])
        reference.rep_logit(ft, gt, fs[i], gs[i], np.asarray(pivots), np.asarray(subsets))
        reference.kl_logit(zt, zs[i])
    loop = (time.perf_counter() - start) / args.loop_pairs * args.pairs
    achieved = args.pairs * flops_per_pair(20) / ours
    all_hold = all(bool(np.all(r.holds)) for r in result)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, jax {jax.__version__} "
          f"({jax.default_backend()})")
    print(f"pairs={args.pairs} n={N} K={K} d_t={D_T} d_s={D_S}; all bounds hold: {all_hold}")
    print(f"one compiled call: {ours:.2f} s ({ours / args.pairs * 1e3:.1f} ms/pair)")
    print(f"NumPy per-pair loop (timed on {args.loop_pairs}, scaled): {loop:.1f} s -> speed-up {loop / ours:.1f}x")
    print(f"float32 matmul rate {rate / 1e9:.0f} GFLOP/s; bounds achieve {achieved / 1e9:.0f} GFLOP/s "
          f"({100 * achieved / rate:.0f}% of it)")
    print(f"extrapolated to 1000 pairs: {ours / args.pairs * 1000:.1f} s")


if __name__ == "__main__":
    main()
