"""Evaluators from sums over rows: the prediction, agreement and ranking values of a split
are the same from its rows in one chunk, from two halves merged, and from two JAX processes
each evaluating its own rows (the whole report, the similarity and authors sections on the
rows gathered across processes), and match independent references."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.special
from _evaluate_worker import PIVOTS, models, splits
from _processes import flat, run_processes
from sklearn.metrics import f1_score

from repsim_jax.errors import InputError
from repsim_jax.evaluate import evaluate
from repsim_jax.evaluators import EVALUATORS, Split, wanted_keys
from repsim_jax.io import Representation
from repsim_jax.row_statistics import gathered_rows, own_rows

WORKER = Path(__file__).with_name("_evaluate_worker.py")
ROW_EVALUATORS = ("prediction", "agreement", "ranking")


def _model(rng, n, k, d, shift=None):
    embeddings = rng.normal(size=(n, d)) if shift is None else shift + 0.5 * rng.normal(size=(n, d))
    unembeddings = rng.normal(size=(k, d))
    return Representation(embeddings, unembeddings, 2 * embeddings @ unembeddings.T)


def _split(student, teacher, labels) -> Split:
    return Split(student, teacher, labels, {}, None, wanted_keys(None))


def _rows(model: Representation, rows) -> Representation:
    return model._replace(embeddings=model.embeddings[rows], logits=model.logits[rows])


def _values(name, statistics) -> dict:
    return dict(EVALUATORS[name].finish(statistics))


def test_two_halves_merged_give_the_values_of_the_whole_split():
    rng = np.random.default_rng(0)
    n, k, d = 301, 9, 4
    teacher = _model(rng, n, k, d)
    student = _model(rng, n, k, d, shift=teacher.embeddings)
    labels = rng.integers(0, k - 1, n)  # label k-1 never occurs (it may still be predicted)
    whole = _split(student, teacher, labels)
    halves = [
        _split(_rows(student, rows), _rows(teacher, rows), labels[rows]) for rows in (slice(0, 120), slice(120, n))
    ]
    for name in ROW_EVALUATORS:
        statistics = EVALUATORS[name].statistics
        merged = _values(name, statistics(halves[0]).merge(statistics(halves[1])))
        alone = _values(name, statistics(whole))
        for key, value in flat(alone).items():
            assert flat(merged)[key] == pytest.approx(value, rel=1e-12, abs=1e-15), (name, key)
    # independent float64 references of the prediction and agreement values
    q = scipy.special.softmax(student.logits, axis=-1)
    p = scipy.special.softmax(teacher.logits, axis=-1)
    pred, conf = q.argmax(-1), q.max(-1)
    bins = np.minimum((conf * 15).astype(int), 14)
    ece = sum(
        np.mean(bins == b) * abs(np.mean((pred == labels)[bins == b]) - conf[bins == b].mean()) for b in set(bins)
    )
    expected = {
        "accuracy": np.mean(pred == labels),
        "weighted_f1": f1_score(labels, pred, average="weighted", zero_division=0),
        "nll": -np.mean(np.log(q[np.arange(n), labels])),
        "ece": ece,
        "brier": np.mean(np.sum((q - np.eye(k)[labels]) ** 2, axis=-1)),
        "min_probability/student": q.min(),
        "agreement": np.mean(pred == p.argmax(-1)),
        "min_probability/teacher": p.min(),
    }
    values = _values("prediction", EVALUATORS["prediction"].statistics(whole))
    values |= _values("agreement", EVALUATORS["agreement"].statistics(whole))
    assert values == pytest.approx(expected, rel=1e-10)


def _arrays(seed=0, k=7, d=3, features=5) -> dict:
    rng = np.random.default_rng(seed)
    arrays = {"w_teacher": rng.normal(size=(features, d)), "g_teacher": rng.normal(size=(k, d))}
    arrays["w_student"] = arrays["w_teacher"] @ rng.normal(size=(d, d)) + 0.3 * rng.normal(size=(features, d))
    arrays["g_student"] = rng.normal(size=(k, d))
    for name, n in (("train", 101), ("test", 57)):  # odd: the processes own 51/50 and 29/28 rows
        arrays[f"x_{name}"] = rng.normal(size=(n, features))
        arrays[f"y_{name}"] = rng.integers(0, k, n)
        arrays[f"c_{name}"] = (arrays[f"x_{name}"][:, :2] > 0).astype(np.int64)
    return {key: np.asarray(value, np.float32) if value.dtype == np.float64 else value for key, value in arrays.items()}


@pytest.mark.slow
def test_two_processes_each_evaluating_its_own_rows_give_the_one_process_report(tmp_path):
    arrays = _arrays()
    np.savez(tmp_path / "arrays.npz", **arrays)
    outs = [tmp_path / f"report_{pid}.json" for pid in (0, 1)]
    command = [sys.executable, str(WORKER), str(tmp_path / "arrays.npz"), str(tmp_path / "w")]
    run_processes(command, outs)
    student, teacher = models(arrays)
    expected = flat(evaluate(student, splits(arrays), teacher=teacher, pivot_options=PIVOTS))
    reports = [flat(json.loads(out.read_text())) for out in outs]
    written = flat(json.loads((tmp_path / "w" / "report.json").read_text()))
    for report in (*reports, written):
        assert set(report) == set(expected)
        for key, value in expected.items():
            if isinstance(value, float):
                assert report[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
            else:
                assert report[key] == value, key
    assert expected["test/concept_probe/accuracy"] is not None and expected["train/ranking/ndcg"] > 0


def test_one_process_owns_every_row_and_an_empty_split_is_one_clear_error():
    assert own_rows(7) == slice(0, 7)
    rows = np.arange(12.0).reshape(6, 2)
    assert gathered_rows(rows) is rows and gathered_rows(None) is None
    with pytest.raises(InputError, match="a split of 0 rows: each of the 1 process"):
        own_rows(0)


@pytest.mark.slow
def test_a_failure_in_one_process_s_rows_fails_every_process_instead_of_hanging(tmp_path):
    np.savez(tmp_path / "arrays.npz", **_arrays())
    outs = [tmp_path / f"report_{pid}.json" for pid in (0, 1)]
    command = [sys.executable, str(WORKER), str(tmp_path / "arrays.npz"), str(tmp_path / "w")]
    run_processes(command, outs, timeout=120, extra=("bad-last-label",))  # before: process 0 waited for ever
    own, other = (json.loads(out.read_text())["error"] for out in reversed(outs))
    assert own.startswith("IndexError") and "out of bounds" in own
    assert other == "InputError: evaluation failed on process(es) 1 (their own error says why)"
    assert not (tmp_path / "w" / "report.json").exists()


def test_a_diverged_model_s_prediction_values_are_nan_not_an_error():
    rng = np.random.default_rng(2)
    teacher = _model(rng, 40, 5, 3)
    logits = teacher.logits.copy()
    logits[3] = np.nan
    split = _split(teacher._replace(logits=logits), None, rng.integers(0, 5, 40))
    values = _values("prediction", EVALUATORS["prediction"].statistics(split))
    assert np.isnan(values["ece"]) and np.isnan(values["brier"]) and 0 <= values["accuracy"] <= 1
