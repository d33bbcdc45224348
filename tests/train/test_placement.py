"""place_rows: the training rows sharded on "data", each block read once, padded with zeros."""

import numpy as np
import pytest

from repsim_jax.data.rows import Rows


def test_rows_read_the_requested_rows_in_order_and_refuse_out_of_range():
    x = np.arange(12.0).reshape(6, 2)
    rows = Rows.from_arrays({"x": x, "y": np.arange(6)}, name="train")
    got = rows.read([4, 1])
    np.testing.assert_array_equal(got["x"], x[[4, 1]])
    assert rows.read([])["x"].shape == (0, 2) and len(rows) == 6
    with pytest.raises(IndexError, match=r"train rows: indices must be in \[0, 6\)"):
        rows.read([6])


def test_rows_refuse_unequal_columns():
    with pytest.raises(ValueError, match="unequal length"):
        Rows.from_arrays({"x": np.zeros((3, 2)), "y": np.zeros(4)})


@pytest.mark.slow
def test_placed_rows_equal_the_zero_padded_split_and_every_row_is_read_once(run_worker, tmp_path):
    run_worker("placement", tmp_path / "out.npz")
    got = np.load(tmp_path / "out.npz")
    x = np.arange(27, dtype=np.float32).reshape(9, 3) + 1
    # 9 rows on a data axis of 4: 3 per device, the last device's block all padding;
    # on a data axis of 2: 5 per device, one padding row
    for mesh, total in (("data4", 12), ("seeds2", 10)):
        padded = np.concatenate([x, np.zeros((total - 9, 3), np.float32)])
        np.testing.assert_array_equal(got[f"{mesh}_x"], padded)
        np.testing.assert_array_equal(got[f"{mesh}_double"], 2 * padded)
        np.testing.assert_array_equal(got[f"{mesh}_y"], np.r_[np.arange(9), np.zeros(total - 9, int)])
        assert got[f"{mesh}_devices"].tolist() == [4, 4, 4]
        # one process: each row is read exactly once, even where the seeds axis
        # puts the same block on two devices
        assert sorted(got[f"{mesh}_read"].tolist()) == list(range(9))


@pytest.mark.slow
def test_the_epoch_never_gathers_the_training_rows_onto_one_device(run_worker, tmp_path):
    """On 4 devices with 256 rows on "data" (64 per device), the compiled epoch's batch
    gather is partitioned as a local gather plus an all-reduce of one batch (16 rows):
    no collective carries the 256 rows or a device's 64."""
    import json
    import re

    run_worker("epoch_hlo", tmp_path / "hlo.json")
    collectives = json.loads((tmp_path / "hlo.json").read_text())
    # every array dimension of every collective's result (tuples included; layouts skipped)
    blocks = [re.findall(r"\[([\d,]*)\]", shape) for shape, _ in collectives]
    dims = [[int(d) for block in shape for d in block.split(",") if d] for shape in blocks]
    assert collectives and all(256 not in d and 64 not in d for d in dims), collectives
    assert ["f32[16,2]{1,0}", "all-reduce"] in collectives  # the batch's inputs x
