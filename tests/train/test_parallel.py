"""Data-parallel (fake devices, two processes) and vmapped-seed runs equal single runs."""

import subprocess
import sys

import _common
import jax
import numpy as np
import pytest
from conftest import WORKER, assert_same, flat_state, worker_env


def _two_processes(args, timeout):
    """Run ``WORKER *args(pid)`` as processes 0 and 1; assert both exit 0."""
    procs = [
        subprocess.Popen(
            [sys.executable, WORKER, *args(pid)],
            env=worker_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for pid in (0, 1)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err[-3000:]


@pytest.mark.slow
def test_four_fake_devices_equal_one_device(run_worker, tmp_path):
    """Several steps of ``fit`` with BatchNorm, dropout, CE + L2 + Procrustes and Adam."""
    run_worker("steps", tmp_path / "dp.npz", 4, tmp_path / "dp")
    assert_same(flat_state(_common.run_steps(tmp_path / "one")), tmp_path / "dp.npz")


@pytest.mark.slow
def test_data_parallel_fit_equals_single_device_fit(run_worker, tmp_path):
    run_worker("fit_mesh", tmp_path / "mesh.npz", tmp_path / "mesh")
    single = _common.run_fit(tmp_path / "single", 3).state
    assert_same(flat_state(single), tmp_path / "mesh.npz")


@pytest.mark.slow
def test_vmapped_seeds_on_a_seeds_by_data_mesh_equal_seeds_one_by_one(run_worker, tmp_path):
    """Four vmapped seeds on a (seeds=4, data=2) mesh of 8 fake devices: the parameters
    and optimiser state of each equal that seed trained alone on one device."""
    run_worker("fit_seeds_mesh", tmp_path / "seeds_mesh.npz", tmp_path / "seeds_mesh")
    together = np.load(tmp_path / "seeds_mesh.npz")
    for i, seed in enumerate(_common.MESH_SEEDS):
        alone = _common.run_fit(tmp_path / f"s{seed}", None, seeds=seed, num_epochs=2).state
        for a, key in zip(flat_state(alone), together.files):
            np.testing.assert_allclose(together[key][i], a, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_two_processes_equal_one_process(tmp_path, free_port):
    """Multi-host on CPU: two localhost processes, gloo collectives, each feeding half."""
    out = tmp_path / "mh.npz"
    workdir = str(tmp_path / "mh")
    _two_processes(lambda pid: ["multihost", str(out), str(pid), "2", str(free_port), workdir], timeout=240)
    assert_same(flat_state(_common.run_steps(tmp_path / "one")), out)


@pytest.mark.slow
def test_vmapped_seeds_equal_separate_runs(tmp_path):
    together = _common.run_fit(tmp_path / "vmap", None, seeds=[5, 7], num_epochs=2).state
    for i, seed in enumerate((5, 7)):
        alone = _common.run_fit(tmp_path / f"s{seed}", None, seeds=seed, num_epochs=2).state
        for a, b in zip(flat_state(alone), flat_state(together)):
            np.testing.assert_allclose(b[i], a, atol=1e-5, rtol=0)
    assert int(together.step[0]) == int(alone.step) == 2 * (64 // _common.BATCH)
    assert jax.device_count() == 1


@pytest.mark.slow
def test_distill_command_on_four_devices_shards_batches_and_equals_one_device(run_worker, tmp_path):
    """`repsim-jax distill` on 4 fake devices: the step's batch spans the 4 devices, the
    student equals the one trained on 1 device, and report.json says where it ran."""
    import json

    from repsim_jax.cli import main
    from repsim_jax.experiment import restore

    config = ["--config=synthetic:smoke", "--config.num_epochs=2"]
    assert main(["train", f"--workdir={tmp_path / 'teacher'}", *config]) == 0
    student = [*config, "--config.loss.name=l2", f"--config.teacher.workdir={tmp_path / 'teacher'}"]
    run_worker("cli", tmp_path / "seen.json", "distill", f"--workdir={tmp_path / 'four'}", *student)
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen["code"] == 0 and seen["batch_devices"] and set(seen["batch_devices"]) == {4}
    assert main(["distill", f"--workdir={tmp_path / 'one'}", *student]) == 0
    four, one = restore(str(tmp_path / "four")), restore(str(tmp_path / "one"))
    for a, b in zip(flat_state(one.state), flat_state(four.state)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)
    run = json.loads((tmp_path / "four" / "report.json").read_text())["run"]
    assert run["devices"] == 4 and run["mesh"] == {"seeds": 1, "data": 4} and run["processes"] == 1
    assert json.loads((tmp_path / "one" / "report.json").read_text())["run"]["mesh"] == {"seeds": 1, "data": 1}


@pytest.mark.slow
@pytest.mark.parametrize(
    "seeds, mesh, report",
    [("0", {"seeds": 1, "data": 4}, "report.json"), ("(0,1)", {"seeds": 2, "data": 2}, "seed1/report.json")],
)
def test_two_processes_of_two_devices_equal_one_process_of_four_through_the_cli(
    tmp_path, free_port, seeds, mesh, report
):
    """`repsim-jax --coordinator ... distill` as 2 processes × 2 fake devices, for one seed
    and for a vmapped group of 2: each process reads disjoint training rows whose union
    is the split (each reads only its own devices' rows, never the whole split), the
    batch spans all 4 devices, and the students equal those trained on a single device."""
    import json

    from repsim_jax.cli import main
    from repsim_jax.experiment import restore

    config = ["--config=synthetic:smoke", "--config.num_epochs=2"]
    assert main(["train", f"--workdir={tmp_path / 'teacher'}", *config]) == 0
    student = [*config, "--config.loss.name=l2", f"--config.teacher.workdir={tmp_path / 'teacher'}"]
    student.append(f"--config.seeds={seeds}")
    argv = ["distill", f"--workdir={tmp_path / 'two'}", *student]
    _two_processes(
        lambda pid: ["cli_mp", str(tmp_path / f"p{pid}.json"), str(pid), "2", str(free_port), *argv], timeout=400
    )
    seen = [json.loads((tmp_path / f"p{pid}.json").read_text()) for pid in (0, 1)]
    assert all(s["code"] == 0 and set(s["batch_devices"]) == {4} for s in seen)
    rows = [s["rows"] for s in seen]
    n = len(restore(str(tmp_path / "teacher")).built.data.splits["train"]["y"])
    assert all(len(r) == len(set(r)) for r in rows)  # no row read twice by one process
    assert rows[0] and not set(rows[0]) & set(rows[1]) and set(rows[0]) | set(rows[1]) == set(range(n))
    assert main(["distill", f"--workdir={tmp_path / 'one'}", *student]) == 0
    two, one = restore(str(tmp_path / "two")), restore(str(tmp_path / "one"))
    for a, b in zip(flat_state(one.state), flat_state(two.state)):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-6)
    run = json.loads((tmp_path / "two" / report).read_text())["run"]
    assert run["devices"] == 4 and run["processes"] == 2 and run["mesh"] == mesh


@pytest.mark.slow
def test_two_processes_read_disjoint_records_of_a_tfds_set_they_build_in_one_data_dir(tmp_path, free_port):
    """`repsim-jax train` on concept_shapes (ArrayRecord through `tfds.data_source`) as 2
    processes × 2 fake devices sharing a fresh data_dir: process 0 builds the set, and
    the processes read disjoint training records whose union is the split."""
    import json

    data_dir = tmp_path / "data"
    argv = [
        "train",
        f"--workdir={tmp_path / 'run'}",
        "--config=concepts:smoke",
        "--config.num_epochs=1",
        f"--config.data.data_dir={data_dir}",
        "--config.eval.splits=('test',)",
    ]
    _two_processes(
        lambda pid: ["cli_mp", str(tmp_path / f"p{pid}.json"), str(pid), "2", str(free_port), *argv], timeout=400
    )
    seen = [json.loads((tmp_path / f"p{pid}.json").read_text()) for pid in (0, 1)]
    assert all(s["code"] == 0 and set(s["batch_devices"]) == {4} for s in seen)
    rows = [s["rows"] for s in seen]
    assert all(len(r) == len(set(r)) for r in rows)
    assert rows[0] and not set(rows[0]) & set(rows[1]) and set(rows[0]) | set(rows[1]) == set(range(256))
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["run"]["processes"] == 2 and 0 <= report["test"]["accuracy"] <= 1


@pytest.mark.slow
def test_four_seed_distillation_on_eight_devices_through_the_cli(run_worker, tmp_path):
    """`repsim-jax distill` of 4 vmapped seeds on 8 fake devices: the default mesh is
    seeds=4 × data=2 (report.json says so), and every seed equals that seed distilled
    alone on one device."""
    import json

    from repsim_jax.cli import main
    from repsim_jax.experiment import restore

    config = ["--config=synthetic:smoke", "--config.num_epochs=2"]
    assert main(["train", f"--workdir={tmp_path / 'teacher'}", *config]) == 0
    student = [*config, "--config.loss.name=kl", f"--config.teacher.workdir={tmp_path / 'teacher'}"]
    seeds = (0, 1, 2, 3)
    run_worker(
        "cli8",
        tmp_path / "seen.json",
        "distill",
        f"--workdir={tmp_path / 'group'}",
        *student,
        f"--config.seeds={seeds}",
    )
    assert set(json.loads((tmp_path / "seen.json").read_text())["batch_devices"]) == {8}
    for seed in seeds:
        run = json.loads((tmp_path / "group" / f"seed{seed}" / "report.json").read_text())["run"]
        assert run["devices"] == 8 and run["mesh"] == {"seeds": 4, "data": 2}
    group = restore(str(tmp_path / "group"))
    for i, seed in enumerate(seeds):
        assert main(["distill", f"--workdir={tmp_path / f'alone{seed}'}", *student, f"--config.seeds=({seed},)"]) == 0
        alone = restore(str(tmp_path / f"alone{seed}"))
        for a, b in zip(flat_state(alone.state), flat_state(group.state)):
            np.testing.assert_allclose(np.asarray(b)[i], np.asarray(a), rtol=1e-5, atol=1e-6)
