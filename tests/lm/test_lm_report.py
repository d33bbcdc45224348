"""The language-model report's representation metrics, bounds and mapped layers, and the
CLI on LM workdirs.

One smoke teacher and one student distilled from it with mapped layers (``loss.layers``)
are trained once for the module, in process (``repsim_jax.cli.main``), so that every
compiled step (the streamed metrics of :class:`repsim_jax.streaming.PairStream` above all)
is shared by the tests. References: the in-memory functions of :mod:`repsim_jax.metrics`
and :mod:`repsim_jax.bounds` on the full (positions × …) arrays, and float64 NumPy.
"""

import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
from _processes import flat, run_processes

from repsim_jax.errors import InputError
from repsim_jax.lm import evaluate as lm_evaluate
from repsim_jax.lm.losses import get_lm_loss, parse_layers
from repsim_jax.lm.model import LMOutputs

LAYERS = ("0:1", "1:final")
REPORT_WORKER = Path(__file__).with_name("_report_worker.py")
SMOKE = [
    "--config=lm:smoke",
    "--quiet",
    "--config.num_epochs=1",
    "--config.data.num_train=32",
    "--config.data.num_test=8",
    "--config.eval.splits=('test',)",
    "--config.eval.num_pivots=3",
    "--config.eval.num_subsets=4",
]


def _cli(*argv) -> int:
    from repsim_jax import cli

    return cli.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory):
    """``(teacher, student)`` workdirs: a smoke LM and an ``l2+cka`` student with ``LAYERS``."""
    root = tmp_path_factory.mktemp("lm_report")
    teacher, student = root / "teacher", root / "student"
    assert _cli("train", *SMOKE, f"--workdir={teacher}") == 0
    distill = ["distill", *SMOKE, "--config.loss.name=l2+cka", f"--config.loss.layers={LAYERS}"]
    assert _cli(*distill, f"--config.teacher.workdir={teacher}", f"--workdir={student}") == 0
    return teacher, student


def _positions(trained, tokens):
    """Full arrays over every position: f, logits, hidden states (rows), float64."""
    out = trained.model.apply(trained.variables, jnp.asarray(tokens[:, :-1]))
    rows = lambda a: np.asarray(a, np.float64).reshape(-1, a.shape[-1])
    return rows(out.f), rows(out.logits), [rows(h) for h in out.hidden]


def _cka64(x, y):
    x, y = x - x.mean(0), y - y.mean(0)
    return np.sum((x.T @ y) ** 2) / (np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y))


def _procrustes64(x, y):
    x, y = x - x.mean(0), y - y.mean(0)
    x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
    return np.sqrt(max(0.0, 2 - 2 * np.linalg.svd(x.T @ y, compute_uv=False).sum()))


@pytest.mark.slow
def test_lm_report_equals_in_memory_metrics_and_the_cli_takes_lm_workdirs(workdirs, tmp_path, capsys):
    """report.json of the distilled student (written by ``distill``, streamed) against the
    in-memory functions on the full position arrays, through ``compare --json`` and
    ``bounds --json`` on the two workdirs (they call :mod:`repsim_jax.metrics` and
    :mod:`repsim_jax.bounds` on every position's f, g, logits at once; one compile each
    for CI time), rel 1e-4; CKA and Procrustes of the final states and of each mapped layer
    against float64 NumPy; ``evaluate`` rewrites the same report; ``export`` writes the
    positions in the classifiers' ``.npz`` layout."""
    from repsim_jax.experiment import restore

    teacher_dir, student_dir = workdirs
    report = json.loads((student_dir / "report.json").read_text())["test"]
    student = restore(str(student_dir))
    tokens = student.built.data.splits["test"]
    f_t, z_t, h_t = _positions(restore(str(teacher_dir)).model, tokens)
    f_s, z_s, h_s = _positions(student.model, tokens)
    assert report["tokens"] == len(f_t) == 8 * 32 and report["skipped"] == {}
    assert report["pivot_subsets"]["pivots_used"] * report["pivot_subsets"]["subsets_per_pivot"] == 12
    np.testing.assert_allclose(report["rep_dissimilarity_reference"], report["rep_dissimilarity"] ** 2 / 12, rtol=1e-6)
    np.testing.assert_allclose(report["linear_cka"], _cka64(f_t, f_s), rtol=1e-4)
    np.testing.assert_allclose(report["procrustes_distance"], _procrustes64(f_t, f_s), rtol=1e-4)
    mapped = {"0:1": (h_s[0], h_t[1]), "1:final": (h_s[1], f_t)}
    assert set(report["layers"]) == set(mapped)
    for name, (a, b) in mapped.items():
        np.testing.assert_allclose(report["layers"][name]["cka"], _cka64(b, a), rtol=1e-4, err_msg=name)
        np.testing.assert_allclose(report["layers"][name]["procrustes"], _procrustes64(b, a), rtol=1e-4, err_msg=name)

    capsys.readouterr()
    pivots = ["--pivots=3", "--subsets=4"]
    assert _cli("compare", teacher_dir, student_dir, "--json", *pivots) == 0
    compared = json.loads(capsys.readouterr().out)
    for name in ("mean_cca", "linear_cka", "rep_dissimilarity", "procrustes_distance", "logit_distance"):
        np.testing.assert_allclose(report[name], compared[name], rtol=1e-4, err_msg=name)
    np.testing.assert_allclose(report["kl_divergence"], compared["kl_divergence"], rtol=1e-4)
    assert _cli("bounds", teacher_dir, student_dir, "--json", *pivots) == 0
    checked = json.loads(capsys.readouterr().out)
    for name in ("cca_logit", "rep_logit", "kl_logit"):
        assert report[name]["holds"] is checked[name]["holds"] is True, name
        # the CCA lhs of a LayerNorm teacher (rank-deficient once centred) differs between the
        # streamed and in-memory paths by ~2e-3 relative (measured 5.2e-6 on 2.2e-3), within
        # the bound's own round-off tolerance: the known gap of tests/bounds (commit 66fdbe3)
        atol = report[name]["tolerance"] if name == "cca_logit" else 0.0
        np.testing.assert_allclose(report[name]["lhs"], checked[name]["lhs"], rtol=1e-4, atol=atol, err_msg=name)
        np.testing.assert_allclose(report[name]["rhs"], checked[name]["rhs"], rtol=1e-4, err_msg=name)
    assert report["cca_logit"]["tolerance"] < 1e-3 * report["cca_logit"]["middle"]
    np.testing.assert_allclose(report["cca_logit"]["middle"], checked["cca_logit"]["middle"], rtol=1e-4)

    assert _cli("evaluate", f"--workdir={student_dir}", "--quiet") == 0
    again = json.loads((student_dir / "report.json").read_text())["test"]
    assert again == report  # the restored student and teacher evaluate to the same report

    out = tmp_path / "student.npz"
    assert _cli("export", f"--workdir={student_dir}", f"--out={out}") == 0
    with np.load(out) as arrays:
        f, g, z, labels = (arrays[k] for k in ("embeddings", "unembeddings", "logits", "labels"))
    assert g.shape == (256, 32) and labels.shape == (256,)
    np.testing.assert_allclose(f, f_s, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(z, z_s, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(labels, tokens[:, 1:].reshape(-1))
    np.testing.assert_allclose(np.mean(np.argmax(z, -1) == labels), report["accuracy"], atol=1e-12)
    assert _cli("export", f"--workdir={student_dir}", f"--out={out}", "--split=ood") == 2


@pytest.mark.slow
def test_a_student_equal_to_its_teacher_has_zero_logit_distance_and_unit_similarities(workdirs):
    from repsim_jax.experiment import restore

    run = restore(str(workdirs[0]))
    tokens = run.built.data.splits["test"]
    options = {"num_pivots": 3, "num_subsets": 4}
    report = lm_evaluate.split_report(run.model, tokens, run.model, pivot_options=options, layers=("0:0", "1:1"))
    assert report["logit_distance"] < 1e-4 and report["kl_divergence"] < 1e-6 and report["agreement"] == 1.0
    assert report["mean_cca"] == pytest.approx(1.0, abs=1e-4)
    assert report["linear_cka"] == pytest.approx(1.0, abs=1e-5) and report["rep_dissimilarity"] < 1e-2
    for values in report["layers"].values():
        assert values["cka"] == pytest.approx(1.0, abs=1e-5) and values["procrustes"] < 1e-2
    for name in ("cca_logit", "rep_logit", "kl_logit"):
        assert report[name]["holds"], name


CANCELLING = {"cca_logit/lhs": 1e-2, "cca_logit/slack": 1e-2, "procrustes_distance": 1e-4}
"""Values near 0 of the form ``1 − ρ`` or ``sqrt(2 − 2s)`` with ρ, s near 1, which float32
moments give only to a few digits however the rows arrive: on these models one process's
stream in 1 chunk and in 10 chunks differ by 0.25 % in ``cca_logit/lhs``."""


@pytest.mark.slow
def test_two_processes_each_evaluating_its_own_sequences_give_the_one_process_report(workdirs, tmp_path):
    """Sums, the stream and the mapped layers' moments merged across 2 JAX processes (each
    its own half of the test sequences) give the one-process report: rel 1e-5, except
    :data:`CANCELLING`."""
    from repsim_jax.experiment import restore

    teacher, student = (restore(str(w)) for w in workdirs)
    tokens = teacher.built.data.splits["test"]
    options = {"num_pivots": 3, "num_subsets": 4}
    expected = flat(
        lm_evaluate.split_report(student.model, tokens, teacher.model, pivot_options=options, layers=LAYERS)
    )
    outs = [tmp_path / f"report_{pid}.json" for pid in (0, 1)]
    command = [sys.executable, str(REPORT_WORKER), *map(str, workdirs)]
    run_processes(command, outs)
    for out in outs:
        report = flat(json.loads(out.read_text()))
        assert set(report) == set(expected)
        close = lambda k, v: pytest.approx(v, rel=CANCELLING.get(k, 1e-5), abs=1e-9) if isinstance(v, float) else v
        differ = [k for k, v in expected.items() if report[k] != close(k, v)]
        assert not differ, [(k, report[k], expected[k]) for k in differ]
    assert expected["tokens"] == tokens.shape[0] * (tokens.shape[1] - 1)


@pytest.mark.slow
def test_a_split_too_short_for_the_representation_metrics_still_compares_the_predictions(workdirs):
    """One sequence, 32 positions ≤ d_t + d_s = 64: m_CCA and the bounds are null with their
    reason, agreement, both KLs and d_logit are there (the stream's comparison), as in float64."""
    from repsim_jax.experiment import restore

    teacher, student = (restore(str(w)).model for w in workdirs)
    tokens = restore(str(workdirs[0])).built.data.splits["test"][:1]
    report = lm_evaluate.split_report(student, tokens, teacher, pivot_options={"num_pivots": 3, "num_subsets": 4})
    assert report["mean_cca"] is None and "too few inputs" in report["skipped"]["mean_cca"]
    (_, z_t, _), (_, z_s, _) = _positions(teacher, tokens), _positions(student, tokens)
    log_p, log_q = (z - scipy.special.logsumexp(z, axis=-1, keepdims=True) for z in (z_t, z_s))
    centred = lambda z: z - z.mean(-1, keepdims=True)
    expected = {
        "agreement": np.mean(z_t.argmax(-1) == z_s.argmax(-1)),
        "kl_divergence": np.mean(np.sum(np.exp(log_p) * (log_p - log_q), -1)),
        "reverse_kl_divergence": np.mean(np.sum(np.exp(log_q) * (log_q - log_p), -1)),
        "logit_distance": np.sqrt(np.mean(np.sum((centred(z_t) - centred(z_s)) ** 2, -1))),
    }
    assert {k: report[k] for k in expected} == pytest.approx(expected, rel=1e-4)


def test_mapped_layers_feature_term_is_the_mean_over_pairs_in_float64_numpy():
    """``l2+procrustes`` with ``layers=("0:1", "final", "1:0")`` on given hidden states: the
    feature part is the mean of the three Procrustes distances (float64 NumPy); ``proj_mse``
    learns one projection per pair; bad specs and missing blocks are InputError."""
    rng = np.random.default_rng(3)
    shape_s, shape_t = (2, 9, 4), (2, 9, 6)
    hidden_s = [rng.normal(size=shape_s) for _ in range(2)]
    hidden_t = [rng.normal(size=shape_t) for _ in range(3)]
    f_s, f_t = rng.normal(size=shape_s), rng.normal(size=shape_t)
    g_s, g_t = rng.normal(size=(11, 4)), rng.normal(size=(11, 6))
    as32 = lambda arrays: tuple(jnp.asarray(a, jnp.float32) for a in arrays)
    student = LMOutputs(jnp.asarray(f_s, jnp.float32), None, as32(hidden_s), jnp.asarray(g_s, jnp.float32))
    teacher = LMOutputs(jnp.asarray(f_t, jnp.float32), None, as32(hidden_t), jnp.asarray(g_t, jnp.float32))
    rows = lambda a: a.reshape(-1, a.shape[-1])
    expected = np.mean(
        [
            _procrustes64(rows(hidden_s[0]), rows(hidden_t[1])),
            _procrustes64(rows(f_s), rows(f_t)),
            _procrustes64(rows(hidden_s[1]), rows(hidden_t[0])),
        ]
    )
    loss = get_lm_loss("l2+procrustes", layers=("0:1", "final", "1:0"))
    _, parts = jax.jit(loss.apply)({}, student, teacher, jnp.zeros((2, 9), jnp.int32))
    np.testing.assert_allclose(parts["procrustes"], expected, rtol=2e-5)
    alone = get_lm_loss("l2+procrustes")
    _, parts = alone.apply({}, student, teacher, jnp.zeros((2, 9), jnp.int32))
    np.testing.assert_allclose(parts["procrustes"], _procrustes64(rows(f_s), rows(f_t)), rtol=2e-5)

    projected = get_lm_loss("kl+proj_mse", layers=("0:0", "1:2"))
    params = projected.init(jax.random.key(0), 4, 6)
    assert {k: v.shape for k, v in params["projection"].items()} == {"pair0": (4, 6), "pair1": (4, 6)}

    assert parse_layers(["final", " 2:final"])[1] == ("2:final", 2, None)
    for bad, message in ((["1-2"], "not 'i:j'"), (["a:1"], "not 'i:j'"), (["0:1", "0:1"], "repeats")):
        with pytest.raises(InputError, match=message):
            parse_layers(bad)
    with pytest.raises(InputError, match="needs teacher block 5 but the teacher has 3 blocks"):
        get_lm_loss("cka", layers=("0:5",)).apply({}, student, teacher, None)


@pytest.mark.slow
def test_sweep_of_a_language_model_sets_the_width(workdirs, tmp_path, capsys):
    """``sweep --config=lm:…``: the grid's dimension is the LM's ``model.width`` (one l2
    cell, one seed; the ``ce`` baseline cell is tested on a classifier sweep), and the
    cell's report is an LM student's, compared with the teacher."""
    teacher, _ = workdirs
    argv = ["sweep", *SMOKE, f"--config.teacher.workdir={teacher}", f"--workdir={tmp_path}"]
    assert _cli(*argv, "--config.sweep.losses=('l2',)", "--config.sweep.seeds=(0,)") == 0
    assert "| l2 d=32 |" in capsys.readouterr().out
    config = json.loads((tmp_path / "l2_d32" / "config.json").read_text())
    assert config["model"]["width"] == 32 and config["loss"]["name"] == "l2"
    report = json.loads((tmp_path / "l2_d32" / "report.json").read_text())["test"]
    assert report["tokens"] > 0 and 0 <= report["agreement"] <= 1 and np.isfinite(report["logit_distance"])
