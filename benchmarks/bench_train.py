"""Training throughput: the reference MLP distilled with the L2 loss at batch 512.

1. JAX (a whole epoch under one jit, lax.scan) vs a PyTorch CPU loop of the same model
   (torch is a benchmark-only dependency: ``pip install torch==2.13.0``).
2. Model FLOP/s as a share of this machine's measured float32 matmul rate at the
   model's shapes (forward + backward ≈ 3 × forward matmul FLOPs).
3. 4 seeds vmapped vs 4 sequential runs.
4. Step time on 1/2/4 fake CPU devices (subprocesses).

``python benchmarks/bench_train.py [--steps 40]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

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


def _jax_epoch(steps, seeds=None):
    import jax

    from repsim_jax.losses import get_loss
    from repsim_jax.models import Classifier, MLPEncoder
    from repsim_jax.train import make_optimizer, make_train_step
    from repsim_jax.train.loop import _make_epoch_fn
    from repsim_jax.train.state import create_state, init_states

    model = Classifier(MLPEncoder(DIM), K)
    loss, tx = get_loss("l2", centered=False), make_optimizer("adam", 1e-3)
    data = jax.device_put(_data(steps))
    epoch = _make_epoch_fn(make_train_step(model, loss, tx), BATCH * steps, BATCH, None, None, None, None)
    if seeds:
        state = init_states(seeds, model, loss, tx, data["x"][:1])
        epoch = jax.vmap(epoch, in_axes=(0, None, None))
    else:
        state = create_state(jax.random.key(0), model, loss, tx, data["x"][:1])
    run = jax.jit(epoch)
    jax.block_until_ready(run(state, data, None))
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        jax.block_until_ready(run(state, data, None))
        best = min(best, time.perf_counter() - t0)
    return best


def _torch_epoch(steps):
    import torch

    torch.manual_seed(0)
    layers = []
    for a, b in [(IN, HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, HIDDEN)]:
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU(), torch.nn.Dropout(0.1)]
    model = torch.nn.Sequential(*layers, torch.nn.Linear(HIDDEN, DIM), torch.nn.Linear(DIM, K, bias=False))
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    data = {k: torch.from_numpy(v) for k, v in _data(steps).items()}

    def epoch():
        perm = torch.randperm(BATCH * steps)
        for i in range(steps):
            idx = perm[i * BATCH : (i + 1) * BATCH]
            logits = model(data["x"][idx])
            loss = ((logits - data["teacher_logits"][idx]) ** 2).sum() / BATCH
            opt.zero_grad()
            loss.backward()
            opt.step()

    epoch()
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        epoch()
        best = min(best, time.perf_counter() - t0)
    return best


def _matmul_rate():
    """Measured float32 GEMM FLOP/s at the model's hidden shapes (B×512 @ 512×512)."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((BATCH, HIDDEN), jnp.float32)
    ws = jnp.ones((8, HIDDEN, HIDDEN), jnp.float32) * 1e-3
    f = jax.jit(lambda a, ws: jax.lax.fori_loop(0, 8, lambda i, h: h @ ws[i], a))
    jax.block_until_ready(f(a, ws))
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        jax.block_until_ready(f(a, ws))
        best = min(best, time.perf_counter() - t0)
    return 8 * 2 * BATCH * HIDDEN * HIDDEN / best


def _model_flops_per_step():
    fwd = 2 * BATCH * (IN * HIDDEN + 2 * HIDDEN * HIDDEN + HIDDEN * DIM + DIM * K)
    return 3 * fwd


def _device_step_time(n, steps):
    """Per-step time of the data-parallel step on ``n`` fake devices (run in a subprocess)."""
    code = f"""
import os, time, jax, numpy as np
from repsim_jax.losses import get_loss
from repsim_jax.models import Classifier, MLPEncoder
from repsim_jax.train import make_optimizer, make_train_step, data_parallel_step, replicate, shard_batch
from repsim_jax.train.state import create_state
import importlib.util, sys
spec = importlib.util.spec_from_file_location('b', {os.path.abspath(__file__)!r}); b = importlib.util.module_from_spec(spec); spec.loader.exec_module(b)
model = Classifier(MLPEncoder(b.DIM), b.K); loss, tx = get_loss('l2', centered=False), make_optimizer()
data = b._data({steps}); step = data_parallel_step(make_train_step(model, loss, tx), jax.make_mesh(({n},), ('data',)))
state = replicate(create_state(jax.random.key(0), model, loss, tx, data['x'][:1]), jax.make_mesh(({n},), ('data',)))
mesh = jax.make_mesh(({n},), ('data',))
batches = [shard_batch({{k: v[i*b.BATCH:(i+1)*b.BATCH] for k, v in data.items()}}, mesh) for i in range({steps})]
state, _ = step(state, batches[0]); jax.block_until_ready(state)
t0 = time.perf_counter()
for bt in batches: state, _ = step(state, bt)
jax.block_until_ready(state); print((time.perf_counter() - t0) / {steps})
"""
    env = dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={n}",
        PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=40, help="steps per epoch")
    args = parser.parse_args()
    steps = args.steps
    t_jax = _jax_epoch(steps)
    t_torch = _torch_epoch(steps)
    rate = _matmul_rate()
    model_rate = _model_flops_per_step() * steps / t_jax
    seeds = (0, 1, 2, 3)
    t_vmap = _jax_epoch(steps, seeds)
    t_seq = sum(_jax_epoch(steps) for _ in seeds)
    devices = {n: _device_step_time(n, min(steps, 20)) for n in (1, 2, 4)}
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "jax_epoch_s": t_jax,
        "torch_epoch_s": t_torch,
        "speedup_vs_torch": t_torch / t_jax,
        "examples_per_s_jax": BATCH * steps / t_jax,
        "examples_per_s_torch": BATCH * steps / t_torch,
        "matmul_gflops": rate / 1e9,
        "model_gflops": model_rate / 1e9,
        "model_share_of_matmul": model_rate / rate,
        "vmap4_s": t_vmap,
        "sequential4_s": t_seq,
        "vmap_speedup": t_seq / t_vmap,
        "step_s_by_devices": devices,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
