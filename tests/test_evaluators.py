"""Named evaluators: a report holds the keys of the evaluators chosen (config
``eval.evaluators``), ``compare`` and the report share the ``similarity`` evaluator, and
unknown or inconsistent choices are one clear error naming the config key."""

import numpy as np
import pytest

from repsim_jax import compare
from repsim_jax.config import experiment_config
from repsim_jax.errors import InputError
from repsim_jax.evaluate import Curves
from repsim_jax.evaluators import EVALUATORS, KEYS, check_names, split_report
from repsim_jax.experiment import train_and_evaluate
from repsim_jax.io import Representation


def _outputs(seed=0, n=80, k=7, d=3):
    rng = np.random.default_rng(seed)
    t_emb, t_g = rng.normal(size=(n, d)), rng.normal(size=(k, d))
    s_emb = t_emb @ rng.normal(size=(d, d)) + 0.3 * rng.normal(size=(n, d))
    s_g = rng.normal(size=(k, d))
    arrays = [np.asarray(a, np.float32) for a in (t_emb, t_g, s_emb, s_g)]
    t_emb, t_g, s_emb, s_g = arrays
    return (t_emb, t_emb @ t_g.T, t_g), (s_emb, s_emb @ s_g.T, s_g), rng.integers(0, k, n)


def _flat_keys(report: dict, prefix="") -> set:
    keys = set()
    for key, value in report.items():
        if key in ("skipped", "pivot_subsets"):
            continue
        keys |= _flat_keys(value, f"{prefix}{key}/") if isinstance(value, dict) else {prefix + key}
    return keys


@pytest.mark.slow
def test_a_report_holds_exactly_the_chosen_evaluators_keys():
    teacher, student, labels = _outputs()
    for chosen in (("prediction",), ("prediction", "similarity"), ("prediction", "agreement", "ranking")):
        report = split_report(student, teacher, labels, evaluators=chosen)
        assert _flat_keys(report) == {key for name in chosen for key in KEYS[name]}, chosen
    full = split_report(student, teacher, labels)
    assert _flat_keys(full) == {key for keys in KEYS.values() for key in keys}
    # the teacher's own report: only the evaluators that need no teacher (authors: nulls for the pairwise keys)
    own = split_report(teacher, None, labels)
    assert _flat_keys(own) == set(KEYS["prediction"]) | set(KEYS["authors"])


def test_compare_and_the_report_share_the_similarity_evaluator():
    """The same arrays give the same floats through ``compare`` and the report (one code path)."""
    teacher, student, labels = _outputs(1)
    report = split_report(student, teacher, labels, evaluators=("prediction", "similarity"))
    values = compare.compare(Representation(teacher[0], teacher[2]), Representation(student[0], student[2]))
    assert values.pop("skipped") == {} and report["skipped"] == {}
    assert values == {name: report[name] for name in values}
    assert set(values) == set(KEYS["similarity"]) - {"rep_dissimilarity_reference"}


def test_unknown_or_inconsistent_evaluator_choices_are_one_line_errors(tmp_path):
    with pytest.raises(InputError, match="eval.evaluators: unknown evaluator 'rankings'; choose from prediction"):
        check_names(("prediction", "rankings"))
    with pytest.raises(InputError, match="eval.evaluators: 'prediction' is always reported"):
        check_names(("similarity",))
    with pytest.raises(InputError, match="eval.curves: 'ranking/ndcg' comes from evaluator 'ranking'"):
        Curves(("accuracy", "ranking/ndcg"), {}, evaluators=("prediction", "similarity"))
    assert check_names(EVALUATORS) == tuple(EVALUATORS)
    config = experiment_config("synthetic", "smoke", ["--config.eval.evaluators=('prediction','bogus')"])
    with pytest.raises(InputError, match="unknown evaluator 'bogus'"):
        train_and_evaluate(config, str(tmp_path / "run"), progress=False)
    assert not (tmp_path / "run").exists()  # refused before the workdir is touched
    overrides = ["--config.eval.curves=('ranking/ndcg',)", "--config.eval.evaluators=('prediction','similarity')"]
    with pytest.raises(InputError, match="eval.curves: 'ranking/ndcg' comes from evaluator 'ranking'"):
        train_and_evaluate(experiment_config("synthetic", "smoke", overrides), str(tmp_path / "w"), progress=False)
    assert not (tmp_path / "w" / "config.json").exists()  # refused before the config is written
