"""Shared helpers of the benchmarks: timing, the machine description, RESULTS.md sections."""

from __future__ import annotations

import os
import platform
import re
import time

import jax
import jax.numpy as jnp

RESULTS = os.path.join(os.path.dirname(__file__), "RESULTS.md")


def seconds(function) -> float:
    """Wall time of one call of ``function()`` (which blocks on its own results)."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def best_time(function, *args, repeats: int = 3) -> float:
    """Best wall time of ``function(*args)`` (blocking on JAX results) after one warm-up call."""
    jax.block_until_ready(function(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(function(*args))
        times.append(time.perf_counter() - start)
    return min(times)


def load() -> float:
    """The 1-minute load average (``os.getloadavg``): above the core count, other work shared the CPUs."""
    return os.getloadavg()[0]


def alternate(functions: dict, rounds: int = 2, repeats: int = 3) -> dict:
    """``{name: [(best seconds, load average), …]}`` per round: each round times every
    function in turn (best of ``repeats`` after a warm-up), so that the references share
    the machine's state with the code they are compared with."""
    times = {name: [] for name in functions}
    for _ in range(rounds):
        for name, function in functions.items():
            times[name].append((best_time(function, repeats=repeats), load()))
    return times


def ratios(times: dict, numerator: str, denominator: str) -> list:
    """``times[numerator] / times[denominator]`` per round (see :func:`alternate`)."""
    return [a[0] / b[0] for a, b in zip(times[numerator], times[denominator])]


def noise(values) -> str:
    """'' when the per-round ratios agree within 20%, else a note that they moved."""
    spread = max(values) / min(values) - 1
    return "" if spread <= 0.2 else f" (noise: moved {spread:.0%} between runs)"


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
