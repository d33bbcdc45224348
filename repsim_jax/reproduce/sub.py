"""SUB (arXiv 2602.15438): an attribute-head teacher on frozen features, KL vs
logit-distance students, attribute probes (``repsim_jax/configs/sub.py``).

``run_sub(preset, out)``: per teacher seed (``reproduce.teacher_seeds``) a teacher with a
bias-free attribute head (:class:`repsim_jax.models.AttributeHeadClassifier`) trained on
labels and attributes, then students of every loss of ``sweep.losses`` over
``sweep.seeds``. Per model, on the test split: the report's metrics with m_CCA over the
top ``eval.cca_components`` canonical correlations (the authors report the top 2) and
d_rep over ``eval.num_pivots × eval.num_subsets``, plus :func:`attribute_probe`. Writes
``summary.json``, ``summary.md`` (inverse-variance weighted over teachers when there
are several) and ``metrics.png`` to ``out``.

Features: ``data.path`` (an ``.npz`` of features, labels, attributes; e.g. DINOv2 CLS
features of SUB); left empty, :func:`encoder_features` writes ``OUT/features.npz`` from
generated concept shapes, so the offline presets run the same path.
"""

from __future__ import annotations

import pathlib
import time

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, log_loss
from sklearn.model_selection import train_test_split

from repsim_jax import metrics, models, plots, report
from repsim_jax.config import with_values
from repsim_jax.data import generate_concept_shapes, write_features
from repsim_jax.data.concepts import CONCEPT_NAMES
from repsim_jax.data.tfds import DATASETS
from repsim_jax.errors import InputError
from repsim_jax.reproduce.progress import Stages
from repsim_jax.reproduce.students import (
    distil_students,
    reproduction_config,
    teacher_dirs,
    train_teacher,
    write_summary,
)

__all__ = ["SUB_METRICS", "attribute_probe", "encoder_features", "run_sub"]

SUB_METRICS = (
    *report.PROBE_STUDY_METRICS,
    "attribute_probe_accuracy",
    "attribute_probe_f1",
    "attribute_probe_nll",
)
FEATURE_DIM = 768  # DINOv2-base


def attribute_probe(embeddings, attributes, seed: int = 42) -> dict[str, float]:
    """A multinomial logistic-regression probe of the attribute class from embeddings.

    As the authors' ``evaluation/sub_evaluate.py``: the rows are split 50/50, stratified
    by attribute (``train_test_split(random_state=seed)``), scikit-learn's
    ``LogisticRegression()`` (L2, C = 1, lbfgs; softmax over the classes) is fitted on
    one half and scored on the other: ``accuracy``, macro ``f1`` and ``nll`` = the mean
    of ``−log q(a|x)``. (Their ``nll`` applies a softmax to the probabilities once more;
    ours is the probe's log-loss.)
    """
    x_fit, x_score, a_fit, a_score = train_test_split(
        np.asarray(embeddings), np.asarray(attributes), test_size=0.5, random_state=seed, stratify=attributes
    )
    probe = LogisticRegression().fit(x_fit, a_fit)
    predicted = probe.predict(x_score)
    return {
        "accuracy": float(accuracy_score(a_score, predicted)),
        "f1": float(f1_score(a_score, predicted, average="macro")),
        "nll": float(log_loss(a_score, probe.predict_proba(x_score), labels=probe.classes_)),
    }


def encoder_features(path, num_examples: int, seed: int) -> pathlib.Path:
    """Write a features ``.npz`` of ``num_examples`` generated concept-shape images:
    ``features`` from a fixed random ResNet-18 (CIFAR stem, 768-dim, parameters from
    ``jax.random.key(seed)``), ``labels`` their classes, ``attributes`` the quadrant
    ``2·top + left`` of the shape (independent of the class)."""
    images = generate_concept_shapes((seed, 2), num_examples)
    spec = DATASETS["concept_shapes"]
    x = (images["image"].astype(np.float32) - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    encoder = models.Classifier(models.resnet18_encoder(FEATURE_DIM), 1)
    variables = jax.jit(encoder.init)(jax.random.key(seed), jnp.asarray(x[:1]))
    features = np.asarray(models.predict(encoder, variables, x, batch_size=256)[0])
    concepts = images["concepts"]
    quadrant = 2 * concepts[:, CONCEPT_NAMES.index("top")] + concepts[:, CONCEPT_NAMES.index("left")]
    return write_features(path, features, images["label"], quadrant.astype(np.int64))


def _rows(trained, reports, teacher_emb, data, components) -> list[dict]:
    """Per model: the test report with m_CCA over the top ``components`` and the probe."""
    test = data.splits["test"]
    attributes = np.argmax(test["concepts"], axis=1)
    rows = []
    for model, seed_report in zip(trained, reports):
        emb = model.outputs(test["x"], data.preprocess)[0]
        row = dict(seed_report["test"])
        if teacher_emb is not None:
            row["mean_cca"] = float(metrics.mean_cca(teacher_emb, emb, num_components=components or None))
        probe = attribute_probe(emb, attributes)
        rows.append(row | {f"attribute_probe_{k}": v for k, v in probe.items()})
    return rows


def _one_teacher(config, seed: int, out: pathlib.Path, stages: Stages) -> dict:
    """A teacher and its students of every loss: ``{"teacher": rows, "students": {loss: rows}}``
    (``1 + 2·len(sweep.losses)`` stages)."""
    teacher_run = train_teacher(config, out, stages, seed=seed, **{"model.attribute_head": True})
    teacher, data = teacher_run.model, teacher_run.built.data
    if not data.num_concepts:
        raise InputError(f"{config.data.path}: SUB needs attributes in the features file")
    components = config.eval.cca_components
    teacher_emb = teacher.outputs(data.splits["test"]["x"], data.preprocess)[0]
    result = {"teacher": _rows([teacher], teacher_run.reports, None, data, components), "students": {}}
    for loss in config.sweep.losses:
        students = distil_students(config, teacher, loss, out, stages)
        stages.next(f"{loss} students: m_CCA over the top components, attribute probes")
        result["students"][loss] = _rows(students.models, students.reports, teacher_emb, data, components)
    return result


def _summaries(runs: list[dict], losses) -> tuple[dict, dict]:
    """Students per loss over seeds (over teachers, inverse-variance weighted, when
    several), and the teachers."""
    if len(runs) == 1:
        summary = {loss: report.summarise_seeds(runs[0]["students"][loss], SUB_METRICS) for loss in losses}
    else:
        summary = {loss: report.summarise_teachers([r["students"][loss] for r in runs], SUB_METRICS) for loss in losses}
    teachers = [row for r in runs for row in r["teacher"]]
    return summary, report.summarise_seeds(teachers, ("accuracy", "attribute_probe_accuracy"))


def run_sub(preset: str = "quick", out: str = "runs/sub", progress: bool = True, overrides=()) -> dict:
    """The SUB reproduction; see the module docstring. ``preset``: of
    ``repsim_jax/configs/sub.py`` (``paper``, ``default``, ``quick``, ``smoke``)."""
    start, out = time.time(), pathlib.Path(out)
    config = reproduction_config("sub", preset, overrides)
    source, teachers_at = config.data.path, teacher_dirs(config, out)
    stages = Stages(len(teachers_at) * (1 + 2 * len(config.sweep.losses)) + 1 + (not source), progress)
    if not source:
        path = out / "features.npz"
        stages.next(f"features of generated concept shapes ({path})")
        if not path.exists():
            encoder_features(path, config.data.num_train + config.data.num_test, config.data.seed)
        config, source = with_values(config, {"data.path": str(path)}), "generated concept shapes"
    runs = [_one_teacher(config, seed, where, stages) for seed, where in teachers_at]
    stages.next("summary and figure (metrics.png)")
    summary, teachers = _summaries(runs, config.sweep.losses)
    tested = ("mean_cca", "rep_dissimilarity", "attribute_probe_accuracy")
    tests = report.compare_to_reference(summary, keys=tested) if "kl" in summary else {}
    plots.metric_bars(summary, out / "metrics.png")
    title = f"SUB ({preset}): attribute-head teacher on the features of {source}"
    return write_summary(out, title, summary, tests, SUB_METRICS, teachers, config, start)
