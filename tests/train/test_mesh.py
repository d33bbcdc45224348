"""mesh_shape's sizes and refusals; device_grid puts processes along the data axis."""

from collections import namedtuple

import pytest

from repsim_jax.train.mesh import device_grid, mesh_shape

FakeDevice = namedtuple("FakeDevice", "id process_index")


def _devices(processes, per_process):
    """Devices in a shuffled id order, as a runtime may list them."""
    devices = [FakeDevice(p * per_process + i, p) for p in range(processes) for i in range(per_process)]
    return devices[::-1]


@pytest.mark.parametrize(
    "num_seeds, seeds, data, devices, expected",
    [
        (1, 0, 0, 8, (1, 8)),  # a single run: every device on data
        (4, 0, 0, 8, (4, 2)),  # a group of 4: gcd(4, 8) on seeds, the rest on data
        (6, 0, 0, 8, (2, 4)),  # gcd(6, 8) = 2
        (4, 2, -1, 8, (2, 4)),
        (4, -1, 8, 8, (1, 8)),
    ],
)
def test_mesh_shape(num_seeds, seeds, data, devices, expected):
    assert mesh_shape(num_seeds, seeds, data, devices) == expected


@pytest.mark.parametrize(
    "num_seeds, seeds, data, message",
    [
        (3, 2, -1, "3 seeds do not divide over a seeds axis of 2"),
        (4, 3, 3, "must use all 8 devices"),
        (4, -1, -1, "cannot both be left open"),
        (0, 0, 0, "at least one seed"),
    ],
)
def test_mesh_shape_refusals_name_the_problem(num_seeds, seeds, data, message):
    with pytest.raises(ValueError, match=message):
        mesh_shape(num_seeds, seeds, data, 8)


@pytest.mark.parametrize(
    "processes, per_process, seeds, data, blocks_per_process",
    [(2, 2, 2, 2, 1), (2, 4, 2, 4, 2), (2, 4, 4, 2, 1), (4, 2, 1, 8, 2), (1, 8, 4, 2, 2)],
)
def test_each_process_holds_only_its_own_data_columns(processes, per_process, seeds, data, blocks_per_process):
    grid = device_grid(_devices(processes, per_process), seeds, data)
    assert grid.shape == (seeds, data)
    assert sorted(d.id for d in grid.ravel()) == list(range(processes * per_process))
    columns = [{d.process_index for d in grid[:, j]} for j in range(data)]
    assert all(len(c) == 1 for c in columns)  # a data block lives on one process
    for p in range(processes):
        assert sum(c == {p} for c in columns) == blocks_per_process  # 1/processes of the rows each


def test_seeds_wider_than_a_process_span_processes_on_one_data_column():
    """4 seeds on 2 processes × 2 devices with data = 1: both processes hold the one block."""
    grid = device_grid(_devices(2, 2), 4, 1)
    assert {d.process_index for d in grid[:, 0]} == {0, 1}
