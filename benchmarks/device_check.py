"""One-command accelerator check: ``python benchmarks/device_check.py`` (< 8 min).

On whatever accelerator JAX sees, measures and writes to ``benchmarks/RESULTS.md``
(section "Device check"):

1. 16 vmapped spirals seeds against the same 16 seeds run one after another (the
   quick preset's MLP, a few epochs each, compile excluded): the vmapped speed-up.
2. Images/s of a ResNet-18 CIFAR distillation step (KL to cached teacher logits, batch
   256, Adam) with float32 and with bfloat16 compute, and, where torch with CUDA is
   installed, the same step in PyTorch (torchvision's ResNet-18, channels-last, bf16
   autocast for the bf16 row).
3. The metric kernels: d_rep (n = 10⁴, K = 100, d = 50, 100 × 200 pivots × subsets),
   ``pairwise("mean_cca")`` of 64 models and ``logit_bounds`` of a teacher against 256
   students.
4. Tokens/s of the language-model distillation step (``make_lm_train_step``): a GPT-2
   small-shaped student (12 blocks, width 768) against an online teacher of the same
   shape, K = 50,257, batch 8 × 1024 tokens, bfloat16 compute, Adam, the L2 and KL logit
   losses in vocabulary chunks of 8,192 (the ``lm:paper`` preset's).

On a CPU-only machine it prints "no accelerator" and exits 0 without measuring;
``--tiny`` runs only step 4 at a tiny size on whatever JAX sees (CPU included) and prints
it, writing nothing: a check that the code runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import best_time, machine, seconds, write_section  # noqa: E402
from bench_lm_distill import _jax_side  # noqa: E402

from repsim_jax import bounds, metrics  # noqa: E402
from repsim_jax.config import base_config, experiment_config  # noqa: E402
from repsim_jax.experiment import build  # noqa: E402
from repsim_jax.losses import get_loss  # noqa: E402
from repsim_jax.models import build_model  # noqa: E402
from repsim_jax.train import Data, Schedule, Student, fit, make_optimizer, make_train_step  # noqa: E402
from repsim_jax.train.state import create_state  # noqa: E402

SEEDS = 16
BATCH = 256
GPT2_SMALL = dict(width=768, depth=12, heads=12)
LM_SHAPE = dict(vocab=50_257, context=1024, batch=8, student=GPT2_SMALL, teacher=GPT2_SMALL, dtype="bfloat16")
TINY_LM_SHAPE = dict(
    vocab=512, context=32, batch=4, student=dict(width=32, depth=1, heads=4), teacher=dict(width=48, depth=1, heads=4)
)


def vmapped_seeds(workdir: str, epochs: int = 20) -> dict:
    """Wall time of 16 seeds vmapped vs one by one (each side after a compiling run)."""
    config = experiment_config("synthetic", "quick", [])
    built = build(config)
    train = built.data.splits["train"]

    def run(seeds, tag):
        student = Student(built.model, built.loss, built.tx, seeds)
        schedule = Schedule(epochs, config.batch_size, checkpoint_every=epochs, progress=False)
        return fit(student, Data(train), f"{workdir}/{tag}", schedule)

    run(list(range(SEEDS)), "warm_vmap")
    run(0, "warm_one")
    together = seconds(lambda: run(list(range(SEEDS)), "vmap"))
    apart = seconds(lambda: [run(s, f"one{s}") for s in range(SEEDS)])
    return {"vmapped_s": together, "sequential_s": apart, "speedup": apart / together}


def resnet_step(dtype: str, steps: int = 20) -> float:
    """Images/s of the jitted ResNet-18 KL-distillation train step."""
    section = base_config().model
    section.update(dict(name="resnet18", hidden=(), dropout=0.0, embedding_dim=128, dtype=dtype))
    model = build_model(section, 100)
    loss, tx = get_loss("kl"), make_optimizer("adam", 1e-3)
    rng = np.random.default_rng(0)
    batch = {
        "x": jnp.asarray(rng.normal(size=(BATCH, 32, 32, 3)), jnp.float32),
        "y": jnp.asarray(rng.integers(0, 100, BATCH)),
        "teacher_logits": jnp.asarray(rng.normal(size=(BATCH, 100)), jnp.float32),
        "teacher_embeddings": jnp.asarray(rng.normal(size=(BATCH, 128)), jnp.float32),  # unused by KL
    }
    state = create_state(jax.random.key(0), model, loss, tx, batch["x"][:1])
    step = jax.jit(make_train_step(model, loss, tx), donate_argnums=0)

    def run(state):
        for _ in range(steps):
            state, _ = step(state, batch)
        return state

    state = jax.block_until_ready(run(state))
    return steps * BATCH / seconds(lambda: jax.block_until_ready(run(state)))


def torch_resnet_step(bf16: bool, steps: int = 20) -> float | None:
    """Images/s of the same step in PyTorch on CUDA (None without torch+torchvision+CUDA)."""
    try:
        import torch
        import torchvision
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    model = torchvision.models.resnet18(num_classes=100).cuda().to(memory_format=torch.channels_last)
    optimiser = torch.optim.Adam(model.parameters(), 1e-3)
    x = torch.randn(BATCH, 3, 32, 32, device="cuda").to(memory_format=torch.channels_last)
    teacher = torch.log_softmax(torch.randn(BATCH, 100, device="cuda"), -1)

    def step():
        with torch.autocast("cuda", torch.bfloat16, enabled=bf16):
            logits = model(x)
        loss = torch.nn.functional.kl_div(
            torch.log_softmax(logits.float(), -1), teacher, reduction="batchmean", log_target=True
        )
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return steps * BATCH / (time.perf_counter() - start)


def kernels() -> dict:
    """Seconds of d_rep (n = 10⁴, K = 100, d = 50, 100 × 200), pairwise m_CCA (64 models,
    n = 10⁴, d = 64) and the logit bounds of one teacher against 256 students (n = 10³)."""
    rng = np.random.default_rng(0)
    normal = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)
    n, k, d, students = 10_000, 100, 50, 256
    f1, f2, g1, g2 = normal(n, d), normal(n, d), normal(k, d), normal(k, d)
    pivots, subsets = metrics.pivot_subsets(k, d, num_pivots=100, num_subsets=200)
    stack = normal(64, n, 64)
    t_f, t_logits = f1[:1000], f1[:1000] @ g1.T
    s_f, s_g = normal(students, 1000, d), normal(students, k, d)
    s_logits = jnp.einsum("snd,skd->snk", s_f, s_g)
    return {
        "rep_dissimilarity_s": best_time(lambda: metrics.rep_dissimilarity(f1, g1, f2, g2, pivots, subsets)),
        "pairwise_mean_cca_s": best_time(lambda: metrics.pairwise("mean_cca", stack)),
        "logit_bounds_256_s": best_time(
            lambda: bounds.logit_bounds(t_f, g1, t_logits, s_f, s_g, s_logits, pivots[:10], subsets[:10, :20])
        ),
    }


def lm_distill_step(loss_name: str, shape: dict, chunk: int | None, steps: int = 10) -> float:
    """Tokens/s of the jitted LM distillation step (student + online teacher) of ``shape``
    (:func:`bench_lm_distill._jax_side`), after a compiling step."""
    step, state, batch, teacher_vars = _jax_side(loss_name, chunk, shape)
    state, metrics = jax.block_until_ready(step(state, batch, teacher_vars))
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = step(state, batch, teacher_vars)
    jax.block_until_ready(metrics)
    if not np.isfinite(float(metrics["loss"])):
        raise FloatingPointError(f"{loss_name}: non-finite loss {float(metrics['loss'])}")
    return steps * batch["x"].size / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="only the LM step, tiny, on any backend; writes nothing")
    if parser.parse_args().tiny:
        for name in ("l2", "kl"):
            rate = lm_distill_step(name, TINY_LM_SHAPE, chunk=128, steps=2)
            print(f"LM distillation step ({name}, tiny, {machine()}): {rate:,.0f} tokens/s")
        return 0
    if jax.default_backend() == "cpu":
        print(f"no accelerator: JAX sees only the CPU ({machine()}); nothing measured")
        return 0
    import tempfile

    with tempfile.TemporaryDirectory() as workdir:
        seeds = vmapped_seeds(workdir)
    rows = {"float32": resnet_step("float32"), "bfloat16": resnet_step("bfloat16")}
    torch_rows = {"float32": torch_resnet_step(False), "bfloat16": torch_resnet_step(True)}
    times = kernels()
    lm_rates = {name: lm_distill_step(name, LM_SHAPE, chunk=8192) for name in ("l2", "kl")}
    lines = [
        f"Machine: {machine()}. Command: `python benchmarks/device_check.py`.",
        "",
        f"- 16 spirals seeds (quick preset MLP, 20 epochs): vmapped {seeds['vmapped_s']:.2f} s, "
        f"one by one {seeds['sequential_s']:.2f} s: **{seeds['speedup']:.1f}×** (goal ≥ 8×)",
        "",
        "| ResNet-18 KL step, batch 256 | JAX images/s | PyTorch images/s | JAX / PyTorch |",
        "|---|---|---|---|",
    ]
    for dtype, rate in rows.items():
        other = torch_rows[dtype]
        ratio = f"{rate / other:.2f}×" if other else "n/a (no torch with CUDA)"
        lines.append(f"| {dtype} | {rate:,.0f} | {f'{other:,.0f}' if other else 'n/a'} | {ratio} |")
    lines += ["", "Metric kernels: " + ", ".join(f"{k} = {v:.3f}" for k, v in times.items())]
    lines += [
        "",
        "LM distillation step (GPT-2 small student and online teacher, K = 50,257, batch 8 × 1024, bfloat16, "
        "vocab_chunk 8192): " + ", ".join(f"{k} {v:,.0f} tokens/s" for k, v in lm_rates.items()),
    ]
    write_section("Device check", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
