"""`repsim-jax compare` and `repsim-jax demo` end to end, and their bad-input errors."""

import json

import numpy as np
import pytest

from repsim_jax.cli import main


def _save(path, **arrays):
    np.savez(path, **arrays)
    return str(path)


@pytest.fixture
def pair(tmp_path):
    rng = np.random.default_rng(0)
    f = rng.standard_normal((300, 4)).astype(np.float32)
    g = rng.standard_normal((12, 4)).astype(np.float32)
    f2 = (f + 0.3 * rng.standard_normal(f.shape)).astype(np.float32)
    g2 = (g + 0.3 * rng.standard_normal(g.shape)).astype(np.float32)
    return (
        _save(tmp_path / "a.npz", embeddings=f, unembeddings=g),
        _save(tmp_path / "b.npz", embeddings=f2, unembeddings=g2),
        (f, g, f2, g2),
    )


def test_compare_json_matches_numpy(pair, capsys):
    path_a, path_b, (f, g, f2, g2) = pair
    assert main(["compare", path_a, path_b, "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert {
        "logit_distance",
        "kl_divergence",
        "mean_cca",
        "procrustes_distance",
        "gram_distance",
        "linear_cka",
        "rep_dissimilarity",
    } <= set(values)
    z1, z2 = (f @ g.T).astype(np.float64), (f2 @ g2.T).astype(np.float64)
    diff = z1 - z2 - (z1 - z2).mean(axis=1, keepdims=True)
    assert values["logit_distance"] == pytest.approx(np.sqrt(np.mean(np.sum(diff**2, axis=1))), rel=1e-4)
    log_p = z1 - np.log(np.exp(z1).sum(1, keepdims=True))
    log_q = z2 - np.log(np.exp(z2).sum(1, keepdims=True))
    assert values["kl_divergence"] == pytest.approx(np.mean(np.sum(np.exp(log_p) * (log_p - log_q), 1)), rel=1e-4)
    assert values["skipped"] == {}


def test_compare_identifiable_pair_is_zero_distance(tmp_path, capsys):
    rng = np.random.default_rng(1)
    f, g = rng.standard_normal((200, 3)), rng.standard_normal((10, 3))
    mixing = np.eye(3) + 0.4 * rng.standard_normal((3, 3))
    a = _save(tmp_path / "a.npz", embeddings=f.astype(np.float32), unembeddings=g.astype(np.float32))
    b = _save(
        tmp_path / "b.npz",
        embeddings=(f @ mixing.T).astype(np.float32),
        unembeddings=(g @ np.linalg.inv(mixing) + 2.0).astype(np.float32),
    )
    assert main(["compare", a, b, "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert values["logit_distance"] < 1e-3
    assert values["rep_dissimilarity"] < 1e-3
    assert values["mean_cca"] == pytest.approx(1.0, abs=1e-5)


def test_compare_embeddings_only_skips_nothing_silently(tmp_path, capsys):
    rng = np.random.default_rng(2)
    a = _save(tmp_path / "a.npz", embeddings=rng.standard_normal((5, 4)).astype(np.float32))
    b = _save(tmp_path / "b.npz", embeddings=rng.standard_normal((5, 4)).astype(np.float32))
    assert main(["compare", a, b, "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert "logit_distance" not in values and "rep_dissimilarity" not in values
    assert "too few samples" in values["skipped"]["mean_cca"]
    assert 0.0 <= values["linear_cka"] <= 1.0


def test_compare_plain_table(pair, capsys):
    path_a, path_b, _ = pair
    assert main(["compare", path_a, path_b]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("mean_cca") for line in lines)


@pytest.mark.parametrize(
    "arrays_b, message",
    [
        ({}, "missing key 'embeddings'"),
        ({"embeddings": np.full((300, 4), np.nan, np.float32)}, "NaN"),
        ({"embeddings": np.ones((299, 4), np.float32)}, "row"),
        ({"embeddings": np.ones((300, 4), np.int64)}, "floating"),
        ({"embeddings": np.ones((300,), np.float32)}, "dimensions"),
        ({"embeddings": np.ones((300, 4), np.float32), "unembeddings": np.ones((7, 4), np.float32)}, "label counts"),
        ({"embeddings": np.ones((300, 4), np.float32), "unembeddings": np.ones((12, 3), np.float32)}, "width"),
    ],
)
def test_compare_bad_input_is_one_line_exit_2(pair, tmp_path, capsys, arrays_b, message):
    path_a, _, _ = pair
    bad = _save(tmp_path / "bad.npz", **arrays_b)
    assert main(["compare", path_a, bad]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert message in captured.err and "Traceback" not in captured.err


def test_compare_missing_and_unreadable_files(pair, tmp_path, capsys):
    path_a, _, _ = pair
    assert main(["compare", path_a, str(tmp_path / "nope.npz")]) == 2
    assert "no such file" in capsys.readouterr().err
    junk = tmp_path / "junk.npz"
    junk.write_text("not a zip")
    assert main(["compare", path_a, str(junk)]) == 2
    assert "not a readable .npz" in capsys.readouterr().err


def test_demo_writes_report_with_known_relations(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "demo.json").read_text())
    assert report["identifiable"]["logit_distance"] < 1e-3
    assert report["identifiable"]["mean_cca"] == pytest.approx(1.0, abs=1e-5)
    assert report["unrelated"]["mean_cca"] < 0.3
    assert report["swapped"]["mean_cca"] == pytest.approx(1.0, abs=1e-5)
    assert report["swapped"]["logit_distance"] > report["noisy"]["logit_distance"]
    assert "identifiable" in capsys.readouterr().out
