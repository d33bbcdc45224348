"""The cost of the ("seeds", "data") mesh on fake CPU devices.

``python benchmarks/bench_mesh.py``: the quick preset's 4-seed group (MLP 128³, batch 256,
5,600 spirals points) trained for ``EPOCHS`` epochs by ``fit`` in a fresh process with
1, 2, 4 and 8 fake XLA CPU devices (``--xla_force_host_platform_device_count``; the
default mesh: gcd(4, devices) on ``seeds``, the rest on ``data``), runs alternated, best
of ``REPEATS``. Fake devices share the same cores, so this measures the mesh's overhead
(partitioning, collectives), not a speed-up. Writes the "Mesh overhead" section of
``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import machine, write_section  # noqa: E402

DEVICES = (1, 2, 4, 8)
EPOCHS = 10
REPEATS = 3
SEEDS = (0, 1, 2, 3)

_CHILD = """
import json, sys, tempfile, time
from repsim_jax.config import experiment_config
from repsim_jax.experiment import build, training_mesh
from repsim_jax.train import Data, Schedule, Student, fit
config = experiment_config("synthetic", "quick", [])
built = build(config)
mesh = training_mesh(config, {seeds})
def run(epochs):
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        student = Student(built.model, built.loss, built.tx, list({seeds_tuple}))
        schedule = Schedule(epochs, config.batch_size, checkpoint_every=epochs, progress=False)
        fit(student, Data(built.data.splits["train"]), workdir, schedule, mesh=mesh)
        return time.perf_counter() - start
first = run(1)  # compiles
print(json.dumps({{"seconds": run({epochs}), "mesh": dict(mesh.shape) if mesh is not None else None}}))
"""


def _child(devices: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    code = _CHILD.format(seeds=len(SEEDS), seeds_tuple=SEEDS, epochs=EPOCHS)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    load_before = os.getloadavg()[0]
    best: dict[int, float] = {}
    meshes: dict[int, dict] = {}
    for _ in range(REPEATS):
        for devices in DEVICES:
            result = _child(devices)
            best[devices] = min(best.get(devices, float("inf")), result["seconds"])
            meshes[devices] = result["mesh"]
    load_after = os.getloadavg()[0]
    lines = [
        f"Machine: {machine()}; load average {load_before:.2f} before, {load_after:.2f} after. "
        f"Command: `python benchmarks/bench_mesh.py` ({time.strftime('%Y-%m-%d')}).",
        "",
        f"Quick preset, {len(SEEDS)} vmapped seeds, {EPOCHS} epochs after a compiling run, best of {REPEATS} "
        "(runs alternated). Fake devices share the 2 cores: the ratio is the mesh's overhead.",
        "",
        "| fake devices | mesh (seeds × data) | seconds | ÷ 1 device |",
        "|---|---|---|---|",
    ]
    for devices in DEVICES:
        shape = meshes[devices]
        label = "none (1 device)" if shape is None else f"{shape['seeds']} × {shape['data']}"
        lines.append(f"| {devices} | {label} | {best[devices]:.2f} | {best[devices] / best[1]:.2f} |")
    write_section("Mesh overhead on fake CPU devices", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
