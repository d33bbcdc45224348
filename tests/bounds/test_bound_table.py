"""Bound rows of saved models: the streamed path (logits not stored, n·K large) gives the
in-memory rows."""

import numpy as np
import pytest

from repsim_jax import bound_table


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    f, g = rng.standard_normal((2500, 5)), 0.5 * rng.standard_normal((30, 5))  # τ far from float32 underflow
    paths = {"t": tmp_path / "t.npz", "s": tmp_path / "s.npz"}
    np.savez(paths["t"], embeddings=f.astype("f4"), unembeddings=g.astype("f4"))
    student = f @ rng.standard_normal((5, 4)) + 0.3 * rng.standard_normal((2500, 4))
    np.savez(paths["s"], embeddings=student.astype("f4"), unembeddings=0.2 * rng.standard_normal((30, 4)).astype("f4"))
    return {k: str(v) for k, v in paths.items()}


@pytest.mark.slow
def test_streamed_rows_equal_in_memory_rows(files, monkeypatch):
    [in_memory] = bound_table.teacher_against(files["t"], [files["s"]])
    monkeypatch.setattr(bound_table, "STREAM_ENTRIES", 0)
    monkeypatch.setattr(bound_table, "STREAM_CHUNK", 700)
    [streamed] = bound_table.teacher_against(files["t"], [files["s"]])
    assert "streamed" in streamed["notes"] and "streamed" not in in_memory.get("notes", {})
    for name in bound_table.NAMES:
        for key in ("lhs", "rhs"):
            value, expected = float(streamed[name][key]), float(in_memory[name][key])  # "inf" is a string
            assert np.isfinite(expected) and value == pytest.approx(expected, rel=1e-3), (name, key, value, expected)
        assert streamed[name]["holds"] == in_memory[name]["holds"]
