"""Language-model distillation step: tokens/s against PyTorch, and peak memory with and
without vocabulary chunking (``loss.vocab_chunk``), at GPT-2's vocabulary K = 50,257.

    PYTHONPATH=. python benchmarks/bench_lm_distill.py [--threads 2] [--steps 2] [--rounds 2] [--repeats 2]

1. Tokens/s of one distillation step: a student (GPT-2 family, width 64, 2 blocks) trained
   with Adam against an online teacher (width 128, 2 blocks) run inside the step, with the
   centred L2 logit loss and with KL (T = 1), unchunked: the library's jitted
   :func:`repsim_jax.train.step.make_lm_train_step` against the same model, loss and
   optimiser written here in PyTorch (CPU, eager), both starting from the same weights (the
   first step's losses are printed side by side as a check). Both get ``--threads`` cores:
   the process is pinned to that many CPUs before JAX starts (XLA:CPU sizes its intra-op
   pool by the CPUs it may run on) and ``torch.set_num_threads`` gets the same number.
   JAX and PyTorch alternate (``_common.alternate``: best of ``--repeats`` runs of
   ``--steps`` steps each, ``--rounds`` rounds), in one process.
2. Peak memory of the same JAX step with the loss unchunked and in vocabulary chunks of
   ``--chunk`` tokens, each in its own process: peak RSS (``ru_maxrss``) after compiling and
   running ``--steps`` steps, and XLA's compiled temporary buffer size
   (``memory_analysis().temp_size_in_bytes``), which excludes the parameters and inputs.

Needs torch (``pip install torch``, CPU). Writes the section "LM distillation step
(issue 23, N threads)" of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VOCAB, CONTEXT, BATCH = 50_257, 64, 8
STUDENT, TEACHER = dict(width=64, depth=2, heads=4), dict(width=128, depth=2, heads=4)
LOSSES = ("l2", "kl")
DEFAULT_SHAPE = dict(vocab=VOCAB, context=CONTEXT, batch=BATCH, student=STUDENT, teacher=TEACHER, dtype="float32")


def _pin(threads: int) -> None:
    """Run this process on ``threads`` CPUs (before JAX or torch start their pools)."""
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:threads])


def _jax_side(loss_name: str, chunk: int | None, shape: dict | None = None):
    """``(step, state, batch, teacher variables)`` of the library's jitted LM step (Adam,
    lr 1e-3, random tokens). ``shape`` overrides the module's sizes: ``vocab``, ``context``,
    ``batch``, ``student``/``teacher`` (``width``, ``depth``, ``heads``) and compute ``dtype``."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from repsim_jax.lm.losses import get_lm_loss
    from repsim_jax.lm.model import TransformerLM
    from repsim_jax.train import make_optimizer
    from repsim_jax.train.state import create_state
    from repsim_jax.train.step import make_lm_train_step

    shape = {**DEFAULT_SHAPE, **(shape or {})}
    vocab, context, dtype = shape["vocab"], shape["context"], jnp.dtype(shape["dtype"])
    student = TransformerLM(vocab, context, **shape["student"], dtype=dtype)
    teacher = TransformerLM(vocab, context, **shape["teacher"], dtype=dtype)
    tokens = np.random.default_rng(0).integers(0, vocab, size=(shape["batch"], context + 1)).astype(np.int32)
    batch = jax.device_put({"x": tokens[:, :-1], "y": tokens[:, 1:]})
    loss, tx = get_lm_loss(loss_name, chunk=chunk), make_optimizer("adam", 1e-3)
    teacher_vars = jax.jit(teacher.init)(jax.random.key(1), batch["x"][:1])
    state = jax.jit(lambda key: create_state(key, student, loss, tx, batch["x"][:1]))(jax.random.key(0))
    step = jax.jit(make_lm_train_step(student, loss, tx, teacher), donate_argnums=0)
    return step, state, batch, teacher_vars


class _TorchLM:
    """The GPT-2-family model of :mod:`repsim_jax.lm.model` in PyTorch (tied head, pre-LN,
    causal attention, tanh GELU, LayerNorm ε = 1e-5), built from the Flax parameters."""

    def __init__(self, params, heads: int, trainable: bool):
        import numpy as np
        import torch

        to = lambda a: torch.tensor(np.array(a), requires_grad=trainable)
        self.heads = heads
        self.wte, self.wpe = to(params["token_embedding"]["embedding"]), to(params["position_embedding"]["embedding"])
        self.blocks = [
            _torch_block(params[f"blocks_{i}"], to) for i in range(sum(k.startswith("blocks_") for k in params))
        ]
        self.norm = (to(params["final_norm"]["scale"]), to(params["final_norm"]["bias"]))

    def parameters(self) -> list:
        leaves = [self.wte, self.wpe, *self.norm]
        for block in self.blocks:
            leaves += list(block.values())
        return leaves

    def features(self, x):
        """``f`` (B, T, d): the final hidden state after the final LayerNorm."""
        import torch.nn.functional as F

        h = self.wte[x] + self.wpe[: x.shape[1]]
        for b in self.blocks:
            a = F.layer_norm(h, h.shape[-1:], b["ln1_w"], b["ln1_b"], 1e-5)
            q, k, v = (F.linear(a, b["qkv_w"], b["qkv_b"])).chunk(3, dim=-1)
            split = lambda t: t.reshape(*t.shape[:2], self.heads, -1).transpose(1, 2)
            y = F.scaled_dot_product_attention(split(q), split(k), split(v), is_causal=True)
            h = h + F.linear(y.transpose(1, 2).reshape(h.shape), b["out_w"], b["out_b"])
            m = F.layer_norm(h, h.shape[-1:], b["ln2_w"], b["ln2_b"], 1e-5)
            h = h + F.linear(F.gelu(F.linear(m, b["up_w"], b["up_b"]), approximate="tanh"), b["down_w"], b["down_b"])
        return F.layer_norm(h, h.shape[-1:], *self.norm, 1e-5)


def _torch_block(block, to) -> dict:
    """One Flax block's parameters as torch tensors (Dense kernels (in, out) → weights (out, in))."""
    dense = lambda d: (to(d["kernel"].T), to(d["bias"]))
    out = {}
    for key, source in {"qkv": block["attention"]["qkv"], "out": block["attention"]["out"]}.items():
        out[f"{key}_w"], out[f"{key}_b"] = dense(source)
    for key, source in {"up": block["mlp"]["up"], "down": block["mlp"]["down"]}.items():
        out[f"{key}_w"], out[f"{key}_b"] = dense(source)
    out["ln1_w"], out["ln1_b"] = to(block["attention_norm"]["scale"]), to(block["attention_norm"]["bias"])
    out["ln2_w"], out["ln2_b"] = to(block["mlp_norm"]["scale"]), to(block["mlp_norm"]["bias"])
    return out


def _torch_loss(name: str, z_s, z_t):
    """Centred L2 ``(1/N) Σ_x ‖z̄_s − z̄_t‖²`` or ``(1/N) Σ_x KL(softmax z_t ‖ softmax z_s)``."""
    import torch

    if name == "l2":
        d = (z_s - z_s.mean(-1, keepdim=True)) - (z_t - z_t.mean(-1, keepdim=True))
        return (d * d).sum(-1).mean()
    log_p, log_q = torch.log_softmax(z_t, -1), torch.log_softmax(z_s, -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean()


def _torch_side(loss_name: str, state, teacher_vars, batch):
    """``(step() -> loss)`` of the same distillation step in PyTorch, from the JAX weights."""
    import numpy as np
    import torch

    student = _TorchLM(state.params["model"], STUDENT["heads"], trainable=True)
    teacher = _TorchLM(teacher_vars["params"], TEACHER["heads"], trainable=False)
    optimiser = torch.optim.Adam(student.parameters(), 1e-3)
    x = torch.tensor(np.asarray(batch["x"])).long()

    def step():
        with torch.no_grad():
            f_t = teacher.features(x).reshape(-1, TEACHER["width"])
            z_t = f_t @ teacher.wte.T
        f_s = student.features(x).reshape(-1, STUDENT["width"])
        loss = _torch_loss(loss_name, f_s @ student.wte.T, z_t)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        return float(loss.detach())

    return step


def _compare(name: str, steps: int, rounds: int, repeats: int) -> dict:
    """One loss's JAX and PyTorch steps from the same weights: first-step losses, then
    tokens/s per round (alternating)."""
    from benchmarks._common import alternate

    step, state, batch, teacher_vars = _jax_side(name, None)
    torch_step = _torch_side(name, state, teacher_vars, batch)  # copies the weights before JAX donates them
    first = {"torch": torch_step()}
    held = dict(zip(("state", "metrics"), step(state, batch, teacher_vars)))
    first["jax"] = float(held["metrics"]["loss"])

    def run_jax():
        for _ in range(steps):
            held["state"], held["metrics"] = step(held["state"], batch, teacher_vars)
        return held["metrics"]["loss"]

    def run_torch():
        for _ in range(steps):
            torch_step()

    times = alternate({"jax": run_jax, "torch": run_torch}, rounds=rounds, repeats=repeats)
    tokens = steps * BATCH * CONTEXT
    per_round = [
        {"jax": tokens / j[0], "torch": tokens / t[0], "load": t[1]} for j, t in zip(times["jax"], times["torch"])
    ]
    return {"first_loss": first, "rounds": per_round}


def throughput(threads: int, steps: int, rounds: int, repeats: int) -> dict:
    """:func:`_compare` of each loss on ``threads`` CPUs (XLA's pool and torch's alike)."""
    _pin(threads)
    import torch

    torch.set_num_threads(threads)
    return {name: _compare(name, steps, rounds, repeats) for name in LOSSES}


def memory(loss_name: str, chunk: int | None, steps: int) -> dict:
    """In this process: compile and run ``steps`` JAX steps; peak RSS and XLA's temporaries."""
    import jax

    step, state, batch, teacher_vars = _jax_side(loss_name, chunk)
    compiled = step.lower(state, batch, teacher_vars).compile()
    temp = compiled.memory_analysis().temp_size_in_bytes
    for _ in range(steps):
        state, metrics = compiled(state, batch, teacher_vars)
    jax.block_until_ready(metrics)
    return {
        "loss": loss_name,
        "chunk": chunk,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "temp_mb": temp / 2**20,
        "final_loss": float(metrics["loss"]),
    }


def runtime_only() -> dict:
    """Peak RSS of a process that imports JAX and the library and runs one trivial jit: the
    part of the rows above that no step causes."""
    import jax
    import jax.numpy as jnp

    import repsim_jax.train.step  # noqa: F401

    jax.block_until_ready(jax.jit(lambda x: x + 1)(jnp.ones(3)))
    return {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _child(call: str) -> dict:
    code = (
        f"import json, sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
        f"import bench_lm_distill as b; print(json.dumps(b.{call}))"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _report(args, load_before: str, speed: dict, mem: list, runtime: dict, load_after: str) -> str:
    from benchmarks._common import machine, noise

    rows = []
    for name, result in speed.items():
        ratios = [r["jax"] / r["torch"] for r in result["rounds"]]
        first = result["first_loss"]
        note = f"first-step loss JAX {first['jax']:.6g}, PyTorch {first['torch']:.6g}{noise(ratios)}"
        for i, r in enumerate(result["rounds"], 1):
            rows.append(
                f"| {name} | {i} | {r['jax']:,.0f} | {r['torch']:,.0f} | **{r['jax'] / r['torch']:.2f}×** | "
                f"{r['load']:.2f} | {note if i == len(result['rounds']) else ''} |"
            )
    mem_rows = [
        f"| {m['loss']} | {m['chunk'] or 'none (all K at once)'} | {m['peak_rss_mb']:,.0f} MB | {m['temp_mb']:,.1f} MB |"
        for m in mem
    ]
    tokens = BATCH * CONTEXT
    return f"""Machine: {machine()}; 2-core AMD EPYC VM shared with other jobs. `uptime` before:
`{load_before}`; after: `{load_after}`.
Command: `PYTHONPATH=. nice python benchmarks/bench_lm_distill.py --threads {args.threads} --steps {args.steps}
--rounds {args.rounds} --repeats {args.repeats} --chunk {args.chunk}`.
Student: GPT-2 family, width {STUDENT["width"]}, {STUDENT["depth"]} blocks, {STUDENT["heads"]} heads, tied head;
online teacher: width {TEACHER["width"]}, {TEACHER["depth"]} blocks; K = {VOCAB:,}, batch {BATCH} × {CONTEXT} tokens
= {tokens} tokens per step, Adam, loss unchunked, float32. Threads: both sides pinned to {args.threads} CPU(s)
(`sched_setaffinity`: XLA:CPU's intra-op pool spans the CPUs the process may use) and
`torch.set_num_threads({args.threads})`; PyTorch eager (no `torch.compile`). Best of {args.repeats} runs of
{args.steps} steps per side and round, JAX and PyTorch alternating; load = 1-minute load average.

| loss | round | JAX tokens/s | PyTorch tokens/s | JAX / PyTorch | load | notes |
|---|---|---|---|---|---|---|
{chr(10).join(rows)}

Peak memory of the JAX step (each row its own process; peak RSS includes the Python/JAX
runtime, {runtime["peak_rss_mb"]:,.0f} MB in a process that imports the library and runs one trivial jit,
and the teacher's and student's weights and Adam state; "XLA temporaries" is the compiled
step's scratch space, without parameters and inputs):

| loss | vocab_chunk | peak RSS | XLA temporaries |
|---|---|---|---|
{chr(10).join(mem_rows)}
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=4096)
    args = parser.parse_args()
    uptime = lambda: subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    load_before = uptime()
    speed = _child(f"throughput({args.threads}, {args.steps}, {args.rounds}, {args.repeats})")
    mem = [_child(f"memory({name!r}, {chunk}, {args.steps})") for name in LOSSES for chunk in (None, args.chunk)]
    body = _report(args, load_before, speed, mem, _child("runtime_only()"), uptime())
    print(body)
    from benchmarks._common import write_section

    write_section(f"LM distillation step (issue 23, {args.threads} thread{'s' if args.threads > 1 else ''})", body)


if __name__ == "__main__":
    main()
