"""Parameters sharded over the mesh axis ``"fsdp"`` (config key ``mesh.fsdp``).

One subprocess on 4 fake CPU devices distils a tiny LM online from a random teacher on
a (seeds 1, data 2, fsdp 2) mesh built from the config and checks: the parameters and the
optimiser state really are split on ``"fsdp"`` (each device holds half of every array
with an even axis), the students equal those of one device within 1e-5 after 6 SGD
steps, a run stopped after its first epoch and resumed ends bit-equal to the
uninterrupted one (bit-equality is the property under test), and the sharded checkpoint
restores onto one device.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from repsim_jax.config import experiment_config
from repsim_jax.errors import InputError
from repsim_jax.train.fsdp import sharded_axis

OVERRIDES = [
    "--config.loss.name=kl",
    "--config.optim.name=sgd",
    "--config.optim.learning_rate=0.1",
    "--config.data.num_train=48",  # 3 steps of 16 sequences per epoch
    "--config.num_epochs=2",
    "--config.model.depth=1",
    "--config.eval.splits=('test',)",
]


def test_sharded_axis_is_the_largest_divisible_one_and_fsdp_must_be_positive():
    assert sharded_axis((256, 32), 2) == 0
    assert sharded_axis((32, 96), 4) == 1
    assert sharded_axis((12, 12), 4) == 0  # a tie: the first
    assert sharded_axis((3, 8, 5), 2, skip=1) == 1 and sharded_axis((8, 3), 2, skip=1) is None
    assert sharded_axis((7,), 2) is None and sharded_axis((), 2) is None and sharded_axis((8,), 1) is None
    with pytest.raises(InputError, match="mesh.fsdp"):
        experiment_config("lm", "smoke", ["--config.mesh.fsdp=0"])


def _worker(root: str) -> dict:
    """The subprocess (4 fake devices); returns what the test asserts on."""
    import jax

    from repsim_jax import experiment
    from repsim_jax.lm.model import TrainedLM, TransformerLM
    from repsim_jax.train import Checkpointer, Data, Schedule, Student, Teacher, fit

    # the three sharded runs compile the same programs: compile them once
    jax.config.update("jax_compilation_cache_dir", f"{root}/compiled")
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    teacher_model = TransformerLM(256, 32, width=48, depth=1, heads=4)
    teacher_variables = jax.jit(teacher_model.init)(jax.random.key(5), np.zeros((1, 32), np.int32))
    teacher = TrainedLM(teacher_model, teacher_variables)
    config = experiment_config("lm", "smoke", [*OVERRIDES, "--config.mesh.data=2", "--config.mesh.fsdp=2"])
    built, mesh = experiment.build(config), experiment.training_mesh(config, 1)
    student, online = Student(built.model, built.loss, built.tx), Teacher(teacher, "online")
    schedule = lambda stop: Schedule(2, 16, stop_after_epochs=stop, progress=False)
    train = lambda workdir, mesh, stop=None: fit(
        student, Data(built.data.stream(16)), workdir, schedule(stop), online, mesh
    )
    sharded = train(f"{root}/fsdp", mesh).state
    train(f"{root}/resumed", mesh, stop=1)
    resumed = train(f"{root}/resumed", mesh).state
    one = train(f"{root}/one", None).state
    restored, _ = Checkpointer(f"{root}/fsdp", read_only=True).restore(one)  # onto one's single device
    leaves = jax.tree_util.tree_leaves_with_path((sharded.params, sharded.opt_state))
    shards = {
        jax.tree_util.keystr(path): [str(leaf.sharding.spec), leaf.shape, leaf.addressable_shards[0].data.shape]
        for path, leaf in leaves
    }
    flat = lambda state: [np.asarray(leaf).tolist() for leaf in jax.tree.leaves((state.params, state.opt_state))]
    return {
        "shards": shards,
        "fsdp": flat(sharded),
        "resumed": flat(resumed),
        "one": flat(one),
        "restored": flat(restored),
        "restored_devices": [len(leaf.sharding.device_set) for leaf in jax.tree.leaves(restored.params)],
        "run": experiment.run_info(mesh),
    }


@pytest.mark.slow
def test_fsdp_shards_parameters_and_equals_one_device(tmp_path):
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    proc = subprocess.run(
        [sys.executable, __file__, str(tmp_path)], env=env, capture_output=True, text=True, timeout=400
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["run"]["devices"] == 4 and out["run"]["mesh"] == {"seeds": 1, "data": 2, "fsdp": 2}
    for name, (spec, shape, shard) in out["shards"].items():
        axis = sharded_axis(tuple(shape), 2)
        expected = P() if axis is None else P(*[("fsdp" if a == axis else None) for a in range(len(shape))])
        assert spec == str(expected), name
        assert np.prod(shard) == np.prod(shape) // (1 if axis is None else 2), name
    assert out["shards"]["[0]['model']['token_embedding']['embedding']"][0] == str(P("fsdp", None))  # (256, 32)
    sharded = [name for name, (spec, _, _) in out["shards"].items() if "fsdp" in spec]
    assert len(sharded) >= len(out["shards"]) // 2, sharded  # params and momentum alike
    for a, b, c, d in zip(out["one"], out["fsdp"], out["resumed"], out["restored"], strict=True):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=0, atol=1e-5)
        np.testing.assert_array_equal(np.asarray(c), np.asarray(b))  # resume: bit-equal
        np.testing.assert_array_equal(np.asarray(d), np.asarray(b))  # restored onto one device
    assert set(out["restored_devices"]) == {1}


if __name__ == "__main__":
    result = _worker(sys.argv[1])
    with open(os.path.join(sys.argv[1], "out.json"), "w") as file:
        json.dump(result, file)
