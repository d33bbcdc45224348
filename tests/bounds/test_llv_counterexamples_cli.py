"""The LLV-SVD bound, the counter-examples and the CLI (d_LLV / d_SVD themselves: tests/metrics/test_llv.py)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from repsim_jax import bounds, counterexamples
from repsim_jax.metrics import sample_input_sets
from repsim_jax.testing import bounds_reference as reference
from tests.bounds.conftest import random_pair


def test_llv_svd_bound_holds(rng):
    for seed in range(3):
        f1, g1, f2, g2 = random_pair(np.random.default_rng(seed), 80, 7, 2, 2, noise=0.2 + seed)
        sets = sample_input_sets(jax.random.key(seed), 80, 2, 20)
        with jax.enable_x64(True):
            result = bounds.llv_svd_bound(f1, g1, f2, g2, [[0, 1], [1, 2], [3, 5], [0, 4]], sets)
        assert bool(result.holds) and bool(result.sharp_holds)
        assert float(result.lhs) <= float(result.sharp_rhs) <= float(result.rhs) + 1e-12 or float(result.rhs) >= 1


def test_llv_svd_bound_without_validation_equals_validated():
    """``validate=False`` (no checks, no conversion) without ``labels``: every label, as validated."""
    f1, g1, f2, g2 = random_pair(np.random.default_rng(4), 60, 6, 2, 2, noise=0.5)
    sets = sample_input_sets(jax.random.key(4), 60, 2, 10)
    subsets = jnp.asarray([[0, 1], [2, 4]], jnp.int32)
    checked = bounds.llv_svd_bound(f1, g1, f2, g2, subsets, sets)
    unchecked = bounds.llv_svd_bound(*map(jnp.asarray, (f1, g1, f2, g2)), subsets, sets, validate=False)
    for name in checked._fields:
        np.testing.assert_allclose(np.asarray(getattr(unchecked, name)), np.asarray(getattr(checked, name)), rtol=1e-6)


def _np_log_softmax(z):
    return z - np.log(np.sum(np.exp(z - z.max(1, keepdims=True)), 1, keepdims=True)) - z.max(1, keepdims=True)


def _np_canonical_correlations(x, y):
    qx, _ = np.linalg.qr(x - x.mean(0))
    qy, _ = np.linalg.qr(y - y.mean(0))
    return np.linalg.svd(qx.T @ qy, compute_uv=False)


def test_counterexample_a_is_the_papers_construction():
    f1, g1, f2, g2 = counterexamples.swapped_unembeddings()
    labels = counterexamples.swapped_unembeddings_labels()
    assert f1.shape == (4000, 2) and labels.shape == (4000,) and np.array_equal(f1, f2)
    np.testing.assert_allclose(np.linalg.norm(g1, axis=1), 5.5, rtol=1e-12)
    angles = np.mod(np.arctan2(g1[:, 1], g1[:, 0]), 2 * np.pi) / (np.pi / 16)
    np.testing.assert_allclose(angles, [0, 1, 2, 3, 10, 16, 20, 26], atol=1e-9)
    np.testing.assert_array_equal(g2, g1[[0, 1, 2, 3, 5, 4, 7, 6]])
    # inputs: within π/256 of 0, 1, 2, 3, 13, 13, 23, 23 · π/16, lengths >= 2
    centre = np.pi / 16 * np.array([0, 1, 2, 3, 13, 13, 23, 23])[labels]
    offset = np.angle(np.exp(1j * (np.arctan2(f1[:, 1], f1[:, 0]) - centre)))
    assert np.abs(offset).max() <= np.pi / 256 and np.linalg.norm(f1, axis=1).min() >= 2.0


def test_counterexample_a_reproduces_papers_figures():
    f1, g1, f2, g2 = counterexamples.swapped_unembeddings()
    labels = counterexamples.swapped_unembeddings_labels()
    l1, l2 = _np_log_softmax(f1 @ g1.T), _np_log_softmax(f2 @ g2.T)
    rows = np.arange(len(labels))
    own1, own2 = l1[rows, labels], l2[rows, labels]
    ref_target2 = np.mean(np.exp(own2) * (own2 - own1))
    ref_target1 = np.mean(np.exp(own1) * (own1 - own2))
    ours = [
        counterexamples.labelled_kl_term(f2 @ g2.T, f1 @ g1.T, labels),
        counterexamples.labelled_kl_term(f1 @ g1.T, f2 @ g2.T, labels),
    ]
    np.testing.assert_allclose(ours, [ref_target2, ref_target1], rtol=1e-10)
    np.testing.assert_allclose(ours, [0.0020, 0.0017], atol=5e-5)  # the paper's printed figures
    rho = _np_canonical_correlations(g1, g2)
    np.testing.assert_allclose(rho.mean(), 0.6737728, atol=1e-6)  # the paper's (scikit-learn) m_CCA
    full_kl = np.mean(np.sum(np.exp(l1) * (l1 - l2), 1))
    np.testing.assert_allclose(np.mean(np.sum(np.exp(l2) * (l2 - l1), 1)), full_kl, rtol=1e-10)  # involution
    with jax.enable_x64(True):
        figures = counterexamples.summarise(f1, g1, f2, g2)
    np.testing.assert_allclose([figures.kl_12, figures.kl_21], [full_kl, full_kl], rtol=1e-8)
    np.testing.assert_allclose(figures.mean_cca_unembeddings, rho.mean(), rtol=1e-8)
    np.testing.assert_allclose(figures.mean_cca_embeddings, 1.0, atol=1e-8)
    centred = (l1 - l1.mean(1, keepdims=True)) - (l2 - l2.mean(1, keepdims=True))
    np.testing.assert_allclose(figures.logit_distance, np.sqrt(np.mean(np.sum(centred**2, 1))), rtol=1e-8)
    assert full_kl < 0.01 and figures.logit_distance > 10


def test_counterexample_b_perfect_cca_different_distributions():
    figures = counterexamples.summarise(*counterexamples.opposite_rotations())
    np.testing.assert_allclose([figures.mean_cca_embeddings, figures.mean_cca_unembeddings], [1.0, 1.0], atol=1e-5)
    assert figures.kl_12 > 0.1 and figures.logit_distance > 1.0


@pytest.mark.slow
def test_counterexample_c_reproduces_table1_row():
    f1, g1, f2, g2 = counterexamples.permuted_classifier(3.0)
    figures = counterexamples.summarise(f1, g1, f2, g2)
    with jax.enable_x64(True):
        llv = counterexamples.table1_llv(f1, g1, f2, g2)
    np.testing.assert_allclose(figures.kl_12, 0.8866, atol=2e-3)
    np.testing.assert_allclose(float(llv.value), 1.317, atol=3e-3)
    assert figures.mean_cca_embeddings < 0.01


# --------------------------------------------------------------------------- CLI


def _run(argv):
    from repsim_jax import cli

    return cli.main(argv)


@pytest.fixture
def models(tmp_path, rng):
    f1, g1, f2, g2 = random_pair(rng, 120, 8, 3, 3, noise=0.3)
    np.savez(tmp_path / "teacher.npz", embeddings=f1, unembeddings=g1)
    (tmp_path / "students").mkdir()
    for i in range(3):
        np.savez(tmp_path / "students" / f"s{i}.npz", embeddings=f2 * (i + 1), unembeddings=g2 + 0.1 * i)
    np.savez(tmp_path / "students" / "logits_only.npz", embeddings=f2[:, :2], logits=f2 @ g2.T)
    return tmp_path, (f1, g1, f2, g2)


def test_cli_pair_json(models, capsys):
    path, (f1, g1, f2, g2) = models
    assert _run(["bounds", str(path / "teacher.npz"), str(path / "students" / "s0.npz"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"cca_logit", "rep_logit", "kl_logit"}
    for values in out.values():
        assert {"lhs", "rhs", "holds"} <= set(values) and values["holds"] is True
    lhs, _, rhs = reference.cca_logit(f1, f1 @ g1.T, f2, f2 @ g2.T)
    np.testing.assert_allclose([out["cca_logit"]["lhs"], out["cca_logit"]["rhs"]], [lhs, rhs], rtol=1e-4)


@pytest.mark.slow
def test_cli_students_csv_and_plot_and_note(models, capsys):
    path, _ = models
    out_csv, plot = path / "table.csv", path / "plot.png"
    argv = [
        "bounds",
        str(path / "teacher.npz"),
        "--students",
        str(path / "students"),
        "--out",
        str(out_csv),
        "--plot",
        str(plot),
    ]
    assert _run(argv) == 0
    import csv

    rows = list(csv.DictReader(open(out_csv)))
    assert len(rows) == 4 and plot.stat().st_size > 0
    logits_only = [r for r in rows if r["student"].endswith("logits_only.npz")][0]
    assert logits_only["rep_logit.lhs"] == "" and "rep_logit" in logits_only["notes"]
    assert all(r["kl_logit.holds"] == "True" for r in rows)


@pytest.mark.slow
def test_cli_all_pairs_matches_pair_mode(models, capsys):
    path, _ = models
    assert _run(["bounds", "--all-pairs", str(path / "students"), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 12
    one = [r for r in rows if r["teacher"].endswith("s0.npz") and r["student"].endswith("s1.npz")][0]
    assert _run(["bounds", str(path / "students" / "s0.npz"), str(path / "students" / "s1.npz"), "--json"]) == 0
    pair = json.loads(capsys.readouterr().out)
    for name in ("cca_logit", "rep_logit", "kl_logit"):
        np.testing.assert_allclose(one[name]["lhs"], pair[name]["lhs"], rtol=1e-6)


@pytest.mark.parametrize(
    "make_argv, message",
    [
        (lambda p: ["bounds", str(p / "teacher.npz"), str(p / "missing.npz")], "no such file"),
        (lambda p: ["bounds", str(p / "teacher.npz")], "give TEACHER STUDENT"),
        (lambda p: ["bounds", str(p / "teacher.npz"), str(p / "short.npz")], "row (input) counts differ"),
        (lambda p: ["bounds", str(p / "teacher.npz"), str(p / "nan.npz")], "NaN"),
    ],
)
def test_cli_bad_input_exit_2_one_line(models, capsys, make_argv, message):
    path, (f1, g1, _, _) = models
    np.savez(path / "short.npz", embeddings=f1[:10], unembeddings=g1)
    np.savez(path / "nan.npz", embeddings=np.full_like(f1, np.nan), unembeddings=g1)
    assert _run(make_argv(path)) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and message in err and "Traceback" not in err


def test_llv_svd_bound_holds_for_a_model_against_itself():
    """Equal models: lhs = 1 − cos is rounding noise (~1e-16) while the sharp rhs is ~1e-31;
    both checks must hold."""
    f1, g1, _, _ = random_pair(np.random.default_rng(5), 80, 7, 2, 2)
    sets = sample_input_sets(jax.random.key(0), 80, 2, 20)
    with jax.enable_x64(True):
        result = bounds.llv_svd_bound(f1, g1, f1, g1, [[0, 1], [1, 2], [3, 5], [0, 4]], sets)
    assert float(result.lhs) < 1e-12 and float(result.sharp_rhs) < 1e-12
    assert bool(result.holds) and bool(result.sharp_holds)
