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
