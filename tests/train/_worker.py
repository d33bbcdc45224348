"""Subprocess entry points for the training tests (fake devices, kills, multi-host).

``python tests/train/_worker.py MODE OUT [ARGS...]``; every mode writes its final
parameters and optimiser state, flattened, to ``OUT`` (an ``.npz``).

Modes:
  steps OUT NUM_DEVICES WORKDIR  ``fit``'s data-parallel steps on a mesh of NUM_DEVICES
  fit OUT WORKDIR EPOCHS     ``fit`` for EPOCHS epochs (resumes from WORKDIR)
  fit_meshed OUT WORKDIR EPOCHS  the same for seeds 5 and 7 on a (seeds=2, data=2) mesh
  fit_mesh OUT WORKDIR       ``fit`` data-parallel over all devices
  fit_seeds_mesh OUT WORKDIR four vmapped seeds on a (seeds=4, data=2) mesh of 8 devices
  cli OUT ARGS...            ``repsim-jax ARGS`` on 4 devices; OUT (JSON): the devices
                             that the train step's input batch spans
  cli8 OUT ARGS...           the same on 8 devices
  cli_mp OUT PID NPROC PORT ARGS...  ``repsim-jax ARGS`` as process PID of NPROC (2
                             devices each); OUT (JSON) also: the training rows it read
  multihost OUT PID NPROC PORT WORKDIR  the same steps data-parallel over NPROC processes
  epoch_hlo OUT              the collectives (op, shape) of a compiled epoch on 4 devices
                             with 256 training rows on ``data``, batch 16; OUT: JSON
  placement OUT              ``place_rows`` of 9 rows on (seeds=1, data=4) and (2, 2)
                             meshes; OUT (npz): the global arrays and the rows read
"""

from __future__ import annotations

import os
import sys

MODE = sys.argv[1]
if MODE == "steps":
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={sys.argv[3]}"
elif MODE in ("fit_mesh", "fit_meshed"):
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
elif MODE == "fit_seeds_mesh":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
elif MODE == "cli":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
elif MODE == "cli8":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
elif MODE in ("placement", "epoch_hlo"):
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
elif MODE == "cli_mp":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"

import jax  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402


def save(path, state):
    leaves = jax.tree.leaves((state.params, state.opt_state, state.batch_stats))
    np.savez(path, *[np.asarray(jax.device_get(x)) for x in leaves])


def _record_read_rows() -> list:
    """Record the train-split rows this process reads (every call of
    ``Rows.read`` on the train rows; row 0, read once by every process for the
    shapes, goes through ``Rows.example`` and is not a read of the split)."""
    from repsim_jax.data.rows import Rows

    rows = []
    read = Rows.read

    def recording(self, indices):
        if self.name == "train":
            rows.extend(int(i) for i in np.asarray(indices).reshape(-1))
        return read(self, indices)

    Rows.read = recording
    return rows


def _cli_recording_batch_sharding(out, argv, extra=None):
    """Run the CLI with the train step wrapped to record its batch's sharding."""
    import json

    import repsim_jax.train.loop as loop
    from repsim_jax.cli import main as cli_main

    seen = []
    make_step = loop.make_train_step

    def spying_make_train_step(*args, **kwargs):
        step = make_step(*args, **kwargs)

        def step_recording(state, batch):
            jax.debug.inspect_array_sharding(batch["x"], callback=lambda s: seen.append(len(s.device_set)))
            return step(state, batch)

        return step_recording

    loop.make_train_step = spying_make_train_step
    code = cli_main(argv)
    with open(out, "w") as file:
        json.dump({"code": code, "batch_devices": seen, **(extra or {})}, file)


def _placement(out):
    """Place 9 rows (x: (9, 3) float32, y: int32) with an added column 2·x on two
    meshes of 4 devices, recording every index the rows were asked for."""
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from repsim_jax.data.rows import Rows
    from repsim_jax.train.mesh import make_mesh
    from repsim_jax.train.placement import place_rows

    x = np.arange(27, dtype=np.float32).reshape(9, 3) + 1
    rows = Rows.from_arrays({"x": x, "y": np.arange(9, dtype=np.int32)})
    read = []
    plain = rows.read
    rows.read = lambda indices: read.append(np.asarray(indices)) or plain(indices)
    arrays = {}
    for name, (seeds, data) in {"data4": (1, 4), "seeds2": (2, 2)}.items():
        read.clear()
        sharding = NamedSharding(make_mesh(seeds, seeds, data), P("data"))
        placed = place_rows(rows, sharding, lambda block: {"double": 2 * block["x"]})
        arrays.update({f"{name}_{k}": np.asarray(v) for k, v in placed.items()})
        arrays[f"{name}_devices"] = np.asarray([len(v.sharding.device_set) for v in placed.values()])
        arrays[f"{name}_read"] = np.concatenate(read)
    np.savez(out, **arrays)


def _epoch_collectives(out):
    """Compile ``fit``'s epoch (``_make_epoch_fn``) as ``fit`` does on a (1, 4) mesh
    and write every collective of the compiled program as ``[op, result type]``."""
    import json
    import re

    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from repsim_jax.data.rows import Rows
    from repsim_jax.train import create_state, make_train_step
    from repsim_jax.train.loop import _make_epoch_fn
    from repsim_jax.train.mesh import make_mesh
    from repsim_jax.train.placement import place_rows

    model, loss, tx = _common.step_setup()
    data = _common.distill_data(256)
    mesh = make_mesh(1)
    rows = place_rows(Rows.from_arrays(data), NamedSharding(mesh, P("data")))
    state = jax.jit(
        lambda: create_state(jax.random.key(0), model, loss, tx, data["x"][:1], 3),
        out_shardings=NamedSharding(mesh, P()),
    )()
    step = make_train_step(model, loss, tx)
    epoch = _make_epoch_fn(step, 256, _common.BATCH, None, None, None, NamedSharding(mesh, P("data")))
    text = jax.jit(epoch).lower(state, rows, None).compile().as_text()
    pattern = r"= ([^=]+?) (all-gather|all-reduce|all-to-all|collective-permute|reduce-scatter)(?:-start)?\("
    json.dump(re.findall(pattern, text), open(out, "w"))


def main():
    out = sys.argv[2]
    if MODE == "steps":
        save(out, _common.run_steps(sys.argv[4], jax.make_mesh((int(sys.argv[3]),), ("data",))))
    elif MODE == "fit":
        save(out, _common.run_fit(sys.argv[3], None, num_epochs=int(sys.argv[4])).state)
    elif MODE == "fit_meshed":
        from repsim_jax.train.mesh import make_mesh

        mesh = make_mesh(2)
        assert dict(mesh.shape) == {"seeds": 2, "data": 2}, mesh.shape
        save(out, _common.run_fit(sys.argv[3], None, mesh=mesh, seeds=[5, 7], num_epochs=int(sys.argv[4])).state)
    elif MODE == "fit_mesh":
        mesh = jax.make_mesh((jax.device_count(),), ("data",))
        save(out, _common.run_fit(sys.argv[3], 3, mesh=mesh).state)
    elif MODE == "fit_seeds_mesh":
        from repsim_jax.train.mesh import make_mesh

        mesh = make_mesh(len(_common.MESH_SEEDS))
        assert dict(mesh.shape) == {"seeds": 4, "data": 2}, mesh.shape
        result = _common.run_fit(sys.argv[3], None, mesh=mesh, seeds=list(_common.MESH_SEEDS), num_epochs=2)
        assert len(result.state.params["model"]["encoder"]["Dense_0"]["kernel"].sharding.device_set) == 8
        save(out, result.state)
    elif MODE in ("cli", "cli8"):
        _cli_recording_batch_sharding(out, sys.argv[3:])
    elif MODE == "cli_mp":
        pid, nproc, port = sys.argv[3:6]
        rows = _record_read_rows()
        coordinator = ["--coordinator", f"localhost:{port}", "--num_processes", nproc, "--process_id", pid]
        _cli_recording_batch_sharding(out, [*coordinator, *sys.argv[6:]], {"rows": rows})
    elif MODE == "placement":
        _placement(out)
    elif MODE == "epoch_hlo":
        _epoch_collectives(out)
    elif MODE == "multihost":
        pid, nproc, port = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(f"localhost:{port}", num_processes=nproc, process_id=pid)
        state = _common.run_steps(sys.argv[6], jax.make_mesh((jax.device_count(),), ("data",)))
        if pid == 0:
            save(out, state)
        jax.distributed.shutdown()
    else:
        raise SystemExit(f"unknown mode {MODE}")


if __name__ == "__main__":
    main()
