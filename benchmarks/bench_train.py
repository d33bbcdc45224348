"""Training throughput: the reference MLP distilled with the L2 loss at batch 512, JAX vs PyTorch.

    PYTHONPATH=. python benchmarks/bench_train.py [--steps 20] [--repeats 5] [--rounds 2]

1. One epoch of ``--steps`` steps: JAX (the whole epoch under one jit, ``lax.scan``) and a
   PyTorch CPU loop of the same model, loss and optimiser (torch is a benchmark-only
   dependency: ``pip install torch``). PyTorch gets as many intra-op threads as XLA:CPU,
   whose thread pool spans the visible cores. JAX and PyTorch epochs alternate, best of
   ``--repeats`` each, in ``--rounds`` rounds; a ratio moving > 20% between rounds is
   reported as noise. The load average is recorded beside every figure.
2. Both as a share of this machine's float32 matmul rate at the model's shapes
   (B×512 @ 512×512 chain, jit), counting forward + backward as 3 × the forward matmul FLOPs.
3. 4 seeds vmapped vs 4 sequential epochs; 4. step time on 1/2/4 fake CPU devices.

Writes the "Training (issue 5)" section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks._common import load, machine, noise, seconds, write_section  # noqa: E402

BATCH, IN, HIDDEN, DIM, K = 512, 2, 512, 16, 7


def _data(steps):
    rng = np.random.default_rng(0)
    n = BATCH * steps
    return {
        "x": rng.normal(size=(n, IN)).astype(np.float32),
        "y": rng.integers(0, K, n).astype(np.int32),
        "teacher_embeddings": rng.normal(size=(n, DIM)).astype(np.float32),
        "teacher_logits": rng.normal(size=(n, K)).astype(np.float32),
    }


def jax_epoch(steps, seeds=None, dropout=0.1, optimizer="adam"):
    """A compiled JAX epoch of the library (``train.loop._make_epoch_fn``) as a
    no-argument callable (blocking on its result); ``dropout`` and ``optimizer`` vary
    the model for ``profile_train.py``."""
    import jax

    from repsim_jax.losses import get_loss
    from repsim_jax.models import Classifier, MLPEncoder
    from repsim_jax.train import make_optimizer, make_train_step
    from repsim_jax.train.loop import _make_epoch_fn
    from repsim_jax.train.state import create_state, init_states

    model = Classifier(MLPEncoder(DIM, dropout_rate=dropout), K)
    loss, tx = get_loss("l2", centered=False), make_optimizer(optimizer, 1e-3)
    data = jax.device_put(_data(steps))
    epoch = _make_epoch_fn(make_train_step(model, loss, tx), BATCH * steps, BATCH, None, None, None, None)
    if seeds:
        state = init_states(seeds, model, loss, tx, data["x"][:1])
        epoch = jax.vmap(epoch, in_axes=(0, None, None))
    else:
        state = create_state(jax.random.key(0), model, loss, tx, data["x"][:1])
    compiled = jax.jit(epoch)

    def run():
        jax.block_until_ready(compiled(state, data, None))

    run()
    return run


def torch_epoch(steps, threads):
    """The same epoch in PyTorch on ``threads`` intra-op threads, as a no-argument callable."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layers = []
    for a, b in [(IN, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, HIDDEN)]:
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU(), torch.nn.Dropout(0.1)]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(HIDDEN, DIM), torch.nn.Linear(DIM, K, bias=False))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    data = {k: torch.from_numpy(v) for k, v in _data(steps).items()}

    def run():
        perm = torch.randperm(BATCH * steps)
        for i in range(steps):
            idx = perm[i * BATCH : (i + 1) * BATCH]
            logits = model(data["x"][idx])
            loss = ((logits - data["teacher_logits"][idx]) ** 2).sum() / BATCH
            opt.zero_grad()
            loss.backward()
            opt.step()

    run()
    return run


def matmul_rate(repeats=5):
    """Measured float32 GEMM FLOP/s at the model's hidden shapes (B×512 @ 512×512, a chain of 8)."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((BATCH, HIDDEN), jnp.float32)
    ws = jnp.ones((8, HIDDEN, HIDDEN), jnp.float32) * 1e-3
    chain = jax.jit(lambda a, ws: jax.lax.fori_loop(0, 8, lambda i, h: h @ ws[i], a))
    jax.block_until_ready(chain(a, ws))
    best = min(seconds(lambda: jax.block_until_ready(chain(a, ws))) for _ in range(repeats))
    return 8 * 2 * BATCH * HIDDEN * HIDDEN / best


def model_flops_per_step():
    forward = 2 * BATCH * (IN * HIDDEN + 2 * HIDDEN * HIDDEN + HIDDEN * DIM + DIM * K)
    return 3 * forward


def alternating_round(jax_run, torch_run, repeats):
    """Best JAX and PyTorch epoch (s) over ``repeats`` alternating runs, with the load averages."""
    jax_times, torch_times = [], []
    for _ in range(repeats):
        jax_times.append(seconds(jax_run))
        torch_times.append(seconds(torch_run))
    return {"jax_s": min(jax_times), "torch_s": min(torch_times), "load": load()}


def device_step_time(n, steps):
    """Per-step time of ``fit``'s data-parallel epoch on ``n`` fake devices: the batch sharded on
    ``"data"`` of a ``(seeds=1, data=n)`` mesh, the state replicated (run in a subprocess)."""
    code = f"""
import time, jax
from jax.sharding import NamedSharding, PartitionSpec as P
from repsim_jax.losses import get_loss
from repsim_jax.models import Classifier, MLPEncoder
from repsim_jax.train import create_state, make_optimizer, make_train_step
from repsim_jax.train.loop import _make_epoch_fn
from repsim_jax.train.mesh import make_mesh
import importlib.util
spec = importlib.util.spec_from_file_location('b', {os.path.abspath(__file__)!r})
b = importlib.util.module_from_spec(spec); spec.loader.exec_module(b)
model = Classifier(MLPEncoder(b.DIM), b.K); loss, tx = get_loss('l2', centered=False), make_optimizer()
mesh = make_mesh(1); rows, rep = NamedSharding(mesh, P('data')), NamedSharding(mesh, P())
data = jax.device_put(b._data({steps}), rows)
state = jax.jit(lambda: create_state(jax.random.key(0), model, loss, tx, data['x'][:1]), out_shardings=rep)()
epoch = _make_epoch_fn(make_train_step(model, loss, tx), b.BATCH * {steps}, b.BATCH, None, None, None, rows)
run = jax.jit(epoch, out_shardings=(rep, rep))
state, _ = run(state, data, None); jax.block_until_ready(state)
t0 = time.perf_counter()
state, _ = run(state, data, None)
jax.block_until_ready(state); print((time.perf_counter() - t0) / {steps})
"""
    env = dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={n}",
        PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def report(args, threads, rounds, rate, rate_load, vmap, devices):
    examples = BATCH * args.steps
    flops = model_flops_per_step() * args.steps
    best_jax = min(r["jax_s"] for r in rounds)
    best_torch = min(r["torch_s"] for r in rounds)
    speedups = [r["torch_s"] / r["jax_s"] for r in rounds]
    jax_share, torch_share = flops / best_jax / rate, flops / best_torch / rate
    lines = [
        f"Machine: {machine()}; XLA:CPU intra-op pool = {threads} visible cores, torch.set_num_threads({threads}).",
        f"Command: `PYTHONPATH=. python benchmarks/bench_train.py --steps {args.steps} --repeats {args.repeats} "
        f"--rounds {args.rounds}` (reference MLP 2→512→512→512→16→7, dropout 0.1, uncentred L2 distillation "
        f"loss, Adam, batch {BATCH}, {args.steps} steps per epoch). JAX and PyTorch epochs alternate, best of "
        f"{args.repeats} each per round; load = 1-minute load average at the end of the round.",
        "",
        "| round | JAX epoch | PyTorch epoch | JAX / PyTorch speed | load |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {i + 1} | {r['jax_s']:.3f} s ({examples / r['jax_s']:,.0f} ex/s) | {r['torch_s']:.3f} s "
        f"({examples / r['torch_s']:,.0f} ex/s) | **{r['torch_s'] / r['jax_s']:.2f}×** | {r['load']:.2f} |"
        for i, r in enumerate(rounds)
    ]
    lines += [
        "",
        "| measure | value | goal |",
        "|---|---|---|",
        f"| speed-up vs PyTorch (best epochs){noise(speedups)} | **{best_torch / best_jax:.2f}×** | ≥ 1.5× |",
        f"| float32 matmul rate at the model's shapes (load {rate_load:.2f}) | {rate / 1e9:.1f} GFLOP/s | |",
        f"| JAX model FLOP/s, share of that rate | {flops / best_jax / 1e9:.1f} GFLOP/s (**{jax_share:.0%}**) "
        "| ≥ 85% |",
        f"| PyTorch model FLOP/s, share of that rate | {flops / best_torch / 1e9:.1f} GFLOP/s "
        f"(**{torch_share:.0%}**) | |",
        f"| largest speed-up the rate allows (JAX at 100%) | {1 / torch_share:.2f}× | |",
        f"| 4 seeds vmapped vs 4 sequential epochs (load {vmap['load']:.2f}) | {vmap['vmap_s']:.2f} s vs "
        f"{vmap['sequential_s']:.2f} s ({vmap['sequential_s'] / vmap['vmap_s']:.2f}×) | |",
        f"| data-parallel step (within a `fit` epoch), 1 / 2 / 4 fake CPU devices (load {devices['load']:.2f}) | "
        + " / ".join(f"{devices[n] * 1e3:.0f}" for n in (1, 2, 4))
        + " ms (fake devices share the same cores: overhead, not scaling) | |",
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20, help="steps per epoch")
    parser.add_argument("--repeats", type=int, default=5, help="alternating runs per round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    threads = len(os.sched_getaffinity(0))
    jax_run, torch_run = jax_epoch(args.steps), torch_epoch(args.steps, threads)
    rounds = [alternating_round(jax_run, torch_run, args.repeats) for _ in range(args.rounds)]
    rate, rate_load = matmul_rate(), load()
    seeds = (0, 1, 2, 3)
    vmapped = jax_epoch(args.steps, seeds)
    singles = [jax_epoch(args.steps) for _ in seeds]
    vmap = {
        "vmap_s": min(seconds(vmapped) for _ in range(3)),
        "sequential_s": min(sum(seconds(run) for run in singles) for _ in range(3)),
        "load": load(),
    }
    devices = {n: device_step_time(n, args.steps) for n in (1, 2, 4)}
    devices["load"] = load()
    text = report(args, threads, rounds, rate, rate_load, vmap, devices)
    print(text)
    if not args.no_write:
        write_section("Training (issue 5)", text)


if __name__ == "__main__":
    main()
