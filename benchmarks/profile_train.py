"""Where the reference MLP's training epoch spends its time beyond the matmuls.

    PYTHONPATH=. python benchmarks/profile_train.py [--steps 20] [--rounds 2] [--repeats 5]

Every variant is one jitted epoch of ``--steps`` steps at batch 512 (the shapes of
``bench_train.py``), timed in alternating rounds in one process (best of ``--repeats``):

- ``epoch``: the library's epoch (``bench_train.jax_epoch``): L2 distillation, Adam,
  dropout 0.1;
- ``no dropout``: the same with dropout rate 0 (no random bits, no mask);
- ``sgd``: the same with momentum SGD (optax, Nesterov) instead of Adam;
- ``gemms``: only the model's matrix products, forward and backward (a linear chain of
  the same shapes differentiated by ``jax.grad``, SGD update): the floor any
  implementation of this model pays;
- ``dropout bits``: drawing the epoch's dropout masks alone (threefry, as flax does);
- ``dropout bits (rbg)``: the same masks from ``rbg`` keys (XLA's RngBitGenerator), the
  faster generator JAX offers; whether ``vmap`` over rbg keys equals drawing key by
  key (what vmapped seeds rely on) is checked and reported.

Each differences' time is the cost of that part; the table gives them per step and as
a share of the epoch. Writes the "Training step profile (issue 14)" section of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._common import alternate, machine, noise, write_section  # noqa: E402
from benchmarks.bench_train import BATCH, DIM, HIDDEN, IN, K, _data, jax_epoch, model_flops_per_step  # noqa: E402


def gemm_epoch(steps: int):
    """Only the model's matmuls: a linear chain 2→512→512→512→16→7 (no bias, activation,
    dropout or Adam), forward and ``jax.grad`` backward, SGD update, scanned over the epoch."""
    widths = [IN, HIDDEN, HIDDEN, HIDDEN, DIM, K]
    rng = np.random.default_rng(0)
    weights = [jnp.asarray(rng.normal(size=(a, b)).astype(np.float32) / np.sqrt(a)) for a, b in zip(widths, widths[1:])]
    data = _data(steps)
    x = jnp.asarray(data["x"].reshape(steps, BATCH, IN))
    target = jnp.asarray(data["teacher_logits"].reshape(steps, BATCH, K))

    def loss(ws, xb, tb):
        h = xb
        for w in ws:
            h = h @ w
        return jnp.sum((h - tb) ** 2) / BATCH

    def step(ws, batch):
        grads = jax.grad(loss)(ws, *batch)
        return [w - 1e-6 * g for w, g in zip(ws, grads)], None

    compiled = jax.jit(lambda ws: jax.lax.scan(step, ws, (x, target))[0])
    return lambda: compiled(weights)


def dropout_bits_epoch(steps: int, impl: str = "threefry2x32"):
    """The epoch's dropout masks alone: per step, 3 Bernoulli(0.9) masks of 512×512 from
    split keys of ``impl``, as flax's ``nn.Dropout`` draws them."""

    def step(key, _):
        key, sub = jax.random.split(key)
        masks = [jax.random.bernoulli(k, 0.9, (BATCH, HIDDEN)) for k in jax.random.split(sub, 3)]
        return key, sum(jnp.sum(m) for m in masks)

    compiled = jax.jit(lambda key: jax.lax.scan(step, key, None, length=steps))
    key = jax.random.key(0, impl=impl)
    return lambda: compiled(key)


def rbg_vmap_equals_loop() -> bool:
    """Whether ``vmap`` of ``jax.random.bits`` over 4 rbg keys equals the keys one by one."""
    keys = jax.random.split(jax.random.key(1, impl="rbg"), 4)
    batched = jax.vmap(lambda k: jax.random.bits(k, (64,)))(keys)
    return bool(jnp.all(batched == jnp.stack([jax.random.bits(k, (64,)) for k in keys])))


def report(args, times, rbg_vmap_ok: bool) -> str:
    best = {name: min(t for t, _ in rounds) for name, rounds in times.items()}
    per_step = {name: best[name] / args.steps * 1e3 for name in best}
    flops = model_flops_per_step() * args.steps
    shares = [g[0] / e[0] for g, e in zip(times["gemms"], times["epoch"])]
    dropout = per_step["epoch"] - per_step["no dropout"]
    adam = per_step["epoch"] - per_step["sgd"]
    parts = [
        ("model matmuls (the `gemms` variant)", per_step["gemms"]),
        ("dropout (epoch − no dropout)", dropout),
        ("Adam instead of momentum SGD (epoch − sgd)", adam),
        ("the rest: bias, ReLU, loss, batch gather, metrics", per_step["epoch"] - per_step["gemms"] - dropout - adam),
    ]
    loads = [f"{load_:.2f}" for rounds in times.values() for _, load_ in rounds]
    lines = [
        f"Machine: {machine()}. Command: `PYTHONPATH=. python benchmarks/profile_train.py --steps {args.steps} "
        f"--rounds {args.rounds} --repeats {args.repeats}`: the variants alternate in each round, best of "
        f"{args.repeats}; load averages during the rounds {min(loads)}–{max(loads)}.",
        "",
        "| variant | epoch | per step | model GFLOP/s |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {best[name]:.3f} s | {per_step[name]:.2f} ms | {flops / best[name] / 1e9:.0f} |"
        for name in ("epoch", "no dropout", "sgd", "gemms")
    ]
    lines += [
        f"| {name} alone (per round) | {best[name]:.3f} s | "
        + " / ".join(f"{t / args.steps * 1e3:.2f}" for t, _ in times[name])
        + f" ms{noise([t for t, _ in times[name]])} | |"
        for name in ("dropout bits", "dropout bits (rbg)")
    ]
    lines += ["", "| part of the epoch | ms per step | share of the epoch |", "|---|---|---|"]
    lines += [f"| {name} | {ms:.2f} | {ms / per_step['epoch']:.0%} |" for name, ms in parts]
    lines += [
        "",
        f"The matmuls alone take {best['gemms'] / best['epoch']:.0%} of the library's epoch{noise(shares)}; "
        f"without dropout the epoch runs at {best['gemms'] / best['no dropout']:.0%} of the matmuls-only time. "
        f"Dropout costs {dropout:.2f} ms per step; drawing its masks alone takes at best {per_step['dropout bits']:.2f} "
        f"ms per step with threefry and {per_step['dropout bits (rbg)']:.2f} ms with rbg keys, and vmap over rbg "
        f"keys {'equals' if rbg_vmap_ok else 'does not equal'} drawing key by key.",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    variants = {
        "epoch": jax_epoch(args.steps),
        "no dropout": jax_epoch(args.steps, dropout=0.0),
        "sgd": jax_epoch(args.steps, optimizer="sgd"),
        "gemms": gemm_epoch(args.steps),
        "dropout bits": dropout_bits_epoch(args.steps),
        "dropout bits (rbg)": dropout_bits_epoch(args.steps, "rbg"),
    }
    times = alternate(variants, rounds=args.rounds, repeats=args.repeats)
    text = report(args, times, rbg_vmap_equals_loop())
    print(text)
    if not args.no_write:
        write_section("Training step profile (issue 14)", text)


if __name__ == "__main__":
    main()
