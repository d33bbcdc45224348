"""Shared helpers of the benchmarks: timing, the machine description, RESULTS.md sections."""

from __future__ import annotations

import os
import platform
import re
import time

import jax
import jax.numpy as jnp

RESULTS = os.path.join(os.path.dirname(__file__), "RESULTS.md")


def best_time(function, *args, repeats: int = 3) -> float:
    """Best wall time of ``function(*args)`` (blocking on JAX results) after one warm-up call."""
    jax.block_until_ready(function(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(function(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def machine() -> str:
    """One line naming the CPU/accelerator this run used."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as file:
            cpu = next(line.split(":", 1)[1].strip() for line in file if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, jax {jax.__version__} on {jax.default_backend()} "
        f"({jax.devices()[0].device_kind})"
    )


def matmul_rate(size: int = 4096, dtype=jnp.float32) -> float:
    """Measured GFLOP/s of one jitted ``size × size`` float32 matmul on this machine."""
    a = jax.random.normal(jax.random.key(0), (size, size), dtype)
    seconds = best_time(jax.jit(lambda x: x @ x), a)
    return 2 * size**3 / seconds / 1e9


def write_section(title: str, body: str) -> None:
    """Replaces (or appends) the ``## title`` section of benchmarks/RESULTS.md."""
    text = open(RESULTS).read() if os.path.exists(RESULTS) else "# Benchmark results\n"
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    with open(RESULTS, "w") as file:
        file.write(text)
