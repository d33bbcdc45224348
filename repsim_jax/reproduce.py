"""Reproductions of the papers' experiments, importable from Colab.

``run_synthetic(preset, out)`` (arXiv 2602.15438, synthetic spirals): one MLP teacher
trained with cross-entropy, then students distilled with each loss of
``config.sweep.losses`` (KL, L1, L2 logit distance) over ``config.sweep.seeds`` (seeds
of one loss trained together under ``vmap``). It writes to ``out``:

- ``summary.json``: ``{loss: {metric: {"mean", "std", "values"}}}`` over seeds for the
  test-split metrics of :func:`repsim_jax.evaluate.evaluate` (``ood_<metric>`` for the
  held-out set of the interpolation/extrapolation modalities), plus the per-epoch
  CCA–logit bound as metrics ``cca_bound_lhs``/``cca_bound_rhs`` whose ``mean``/``std``
  are lists over ``epochs`` and ``values`` is (seeds × epochs); the top-level keys
  ``teacher`` (the teacher's metrics, same form), ``significance`` (see
  :func:`significance`), ``config`` and ``wall_time_s``;
- ``summary.md``: the table (mean ± std) and the tests;
- ``metrics.png``, ``decision_regions.png``, ``cca_logit_bound.png``;
- ``teacher/`` and ``students/<loss>/`` workdirs (checkpoints, ``metrics.jsonl``,
  ``seed<s>/report.json``).

``run_concepts`` and ``run_geometry`` (see their docstrings) reuse the same teacher →
students pipeline on the concept-shapes images. Training is :func:`repsim_jax.train.fit`
and evaluation :func:`repsim_jax.evaluate.evaluate`; nothing here trains differently.
"""

from __future__ import annotations

import json
import pathlib
import time

import jax
import ml_collections
import numpy as np
import scipy.stats

from repsim_jax import bounds, plots
from repsim_jax.evaluate import evaluate
from repsim_jax.train.checkpoint import Checkpointer
from repsim_jax.train.commands import build_loss, build_model, load_dataset
from repsim_jax.train.config import load_config
from repsim_jax.train.loop import Teacher, fit, predict
from repsim_jax.train.optim import make_optimizer

__all__ = ["CONFIG_DIR", "STUDENT_METRICS", "experiment_config", "train_teacher",
           "distil_students", "checkpoint_epochs", "bound_over_training", "summarise_seeds", "significance",
           "compare_to_reference", "markdown_summary", "run_synthetic", "concept_directions",
           "direction_auc", "concept_class_pairs", "parallelism", "steering_success",
           "linear_properties", "transfer_properties", "run_concepts", "run_geometry"]

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "configs"
STUDENT_METRICS = ("accuracy", "agreement", "kl_divergence", "logit_distance",
                   "rep_dissimilarity", "mean_cca", "linear_cka", "procrustes_distance")
TESTED_METRICS = ("mean_cca", "rep_dissimilarity")


def experiment_config(name: str, preset: str, overrides=()) -> ml_collections.ConfigDict:
    """``experiments/configs/<name>.py:<preset>`` with ``--config.key=value`` overrides."""
    path = CONFIG_DIR / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no config {path}; is the repository checked out (pip install -e)?")
    return _checked(load_config(f"{path}:{preset}", list(overrides)))


def _checked(config) -> ml_collections.ConfigDict:
    """``config`` after checking what every reproduction needs (>= 2 distinct seeds)."""
    seeds = tuple(config.sweep.seeds)
    if len(set(seeds)) < 2 or len(set(seeds)) != len(seeds):
        raise ValueError(f"need >= 2 distinct student seeds (sweep.seeds) for mean ± std and tests, got {seeds}")
    return config


def _with(config, **fields) -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict(config)
    config.update(fields)
    return config


def _fit(config, data, workdir, seeds, teacher=None, progress=True, **kwargs):
    """:func:`fit` of ``build_model(config)`` with ``config``'s loss and optimiser."""
    model = build_model(config, data.num_classes, data.num_concepts)
    train = data.splits["train"]
    if config.batch_size > len(train["x"]):
        raise ValueError(f"batch_size {config.batch_size} exceeds the {len(train['x'])} training examples")
    tx = make_optimizer(config.optimizer, config.learning_rate, schedule=config.schedule,
                        steps_per_epoch=len(train["x"]) // config.batch_size,
                        warmup_epochs=config.warmup_epochs, decay=config.decay)
    pathlib.Path(workdir).mkdir(parents=True, exist_ok=True)
    (pathlib.Path(workdir) / "config.json").write_text(config.to_json(indent=2))
    result = fit(model, build_loss(config), tx, train, str(workdir), num_epochs=config.num_epochs,
                 batch_size=config.batch_size, seeds=seeds, eval_data=data.splits["test"],
                 eval_every=config.eval_every, teacher=teacher, teacher_mode=config.teacher_mode,
                 checkpoint_every=config.checkpoint_every, keep=config.keep, preprocess=data.preprocess, augment=data.augment,
                 concept_weight=config.get("concept_weight", 1.0), progress=progress, **kwargs)
    return model, result


def _variables(state, index=None):
    pick = (lambda a: a) if index is None else (lambda a: a[index])
    variables = {"params": jax.tree.map(pick, state.params["model"])}
    if state.batch_stats:
        variables["batch_stats"] = jax.tree.map(pick, state.batch_stats)
    return variables


def train_teacher(config, data, workdir, progress=True) -> Teacher:
    """The teacher: ``config.loss`` (cross-entropy) for ``reproduce.teacher_epochs``, seed ``config.seed``."""
    config = _with(config, num_epochs=config.reproduce.teacher_epochs,
                   checkpoint_every=config.reproduce.teacher_epochs)
    model, result = _fit(config, data, workdir, int(config.seed), progress=progress)
    return Teacher(model, _variables(result.state))


def distil_students(config, data, teacher, loss, workdir, progress=True):
    """Students of one loss over ``config.sweep.seeds`` (vmapped), checkpointed every
    ``reproduce.bound_every`` epochs (all kept). Returns ``(model, FitResult, [Teacher])``."""
    epochs, every = config.reproduce.student_epochs, config.reproduce.bound_every
    if every < 1:
        raise ValueError(f"reproduce.bound_every must be >= 1, got {every}")
    config = _with(config, loss=loss, num_epochs=epochs, checkpoint_every=every,
                   keep=epochs // every + 1)
    seeds = [int(s) for s in config.sweep.seeds]
    model, result = _fit(config, data, workdir, seeds, teacher=teacher, progress=progress)
    students = [Teacher(model, _variables(result.state, i)) for i in range(len(seeds))]
    return model, result, students


def _outputs(model, variables, x, preprocess):
    emb, logits = predict(model, variables, x, preprocess=preprocess)
    return np.asarray(emb), np.asarray(logits)


def checkpoint_epochs(num_epochs: int, every: int) -> list[int]:
    """The epochs :func:`fit` checkpoints at: multiples of ``every`` and the last epoch."""
    return sorted(set(range(every, num_epochs + 1, every)) | {num_epochs})


def bound_over_training(model, state_template, workdir, teacher, x, epochs, preprocess=None) -> dict:
    """CCA–logit bound (Thm F.1, :func:`repsim_jax.bounds.cca_logit_bound`) of the teacher
    and every seed's student at the checkpoints of ``workdir`` saved after ``epochs``.

    ``lhs = Σᵢ(1 − ρᵢ²)λᵢ`` and ``rhs = d²_logit`` on ``x``. Returns ``{"epochs": (E,),
    "lhs": (S, E), "rhs": (S, E), "holds": (S, E)}``.
    """
    t_emb, t_logits = _outputs(teacher.model, teacher.variables, x, preprocess)
    ckpt = Checkpointer(workdir, keep=1000)
    try:
        columns = []
        for step in epochs:
            state, _ = ckpt.restore(state_template, step)
            seeds = jax.tree.leaves(state.step)[0].reshape(-1).shape[0]
            outs = [_outputs(model, _variables(state, i), x, preprocess) for i in range(seeds)]
            result = bounds.cca_logit_bound(t_emb, np.stack([o[0] for o in outs]), t_logits,
                                            np.stack([o[1] for o in outs]))
            columns.append(result)
    finally:
        ckpt.close()
    stack = lambda name: np.stack([np.asarray(getattr(r, name)) for r in columns], axis=1)
    return {"epochs": np.asarray(epochs), "lhs": stack("lhs"), "rhs": stack("rhs"),
            "holds": stack("holds")}


def summarise_seeds(reports: list[dict], keys=STUDENT_METRICS, prefix: str = "") -> dict:
    """``{prefix+metric: {"mean", "std", "values"}}`` over per-seed reports (std: ddof=0);
    metrics missing (``None``) in any report are left out."""
    out = {}
    for key in keys:
        values = [r.get(key) for r in reports]
        if values and all(v is not None for v in values):
            arr = np.asarray(values, np.float64)
            out[prefix + key] = {"mean": float(arr.mean()), "std": float(arr.std()),
                                 "values": [float(v) for v in arr]}
    return out


def significance(a, b) -> dict:
    """Two-sided tests of equal location of samples ``a`` and ``b`` (e.g. seeds of two losses).

    Welch's t-test (``scipy.stats.ttest_ind(a, b, equal_var=False)``: unequal variances,
    t = (ā − b̄)/sqrt(s_a²/n_a + s_b²/n_b), Welch–Satterthwaite df) and the Mann–Whitney U
    test (``scipy.stats.mannwhitneyu(a, b, alternative="two-sided")``, exact for small
    samples without ties). ``difference`` = mean(a) − mean(b).
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.size < 2 or b.size < 2:
        raise ValueError(f"significance tests need >= 2 values per group, got {a.size} and {b.size}")
    welch = scipy.stats.ttest_ind(a, b, equal_var=False)
    mwu = scipy.stats.mannwhitneyu(a, b, alternative="two-sided")
    return {"difference": float(a.mean() - b.mean()),
            "welch_t": float(welch.statistic), "welch_p": float(welch.pvalue),
            "mannwhitney_u": float(mwu.statistic), "mannwhitney_p": float(mwu.pvalue)}


def compare_to_reference(summary: dict, reference: str = "kl", keys=TESTED_METRICS) -> dict:
    """:func:`significance` of every other loss against ``reference`` per metric:
    ``{"<loss>_vs_<reference>": {metric: {...}}}``."""
    if reference not in summary:
        raise ValueError(f"reference loss {reference!r} not among {sorted(summary)}")
    return {f"{loss}_vs_{reference}": {k: significance(summary[loss][k]["values"],
                                                       summary[reference][k]["values"])
                                       for k in keys if k in summary[loss] and k in summary[reference]}
            for loss in summary if loss != reference}


def markdown_summary(title: str, summary: dict, tests: dict, keys, teacher: dict | None = None) -> str:
    """Markdown: one row per loss of ``mean ± std`` per metric, then the tests."""
    losses = list(summary)
    shown = [k for k in keys if any(k in summary[l] for l in losses)]
    cell = lambda s: f"{s['mean']:.4g} ± {s['std']:.2g}" if s else "n/a"
    lines = [f"# {title}", ""]
    if teacher:
        lines += ["Teacher: " + ", ".join(f"{k} = {v['mean']:.4g}" for k, v in teacher.items()), ""]
    n = len(next(iter(summary[losses[0]].values()))["values"]) if summary[losses[0]] else 0
    lines += [f"Students, mean ± std over {n} seeds (test split):", "",
              "| loss | " + " | ".join(shown) + " |", "|---" * (len(shown) + 1) + "|"]
    lines += [f"| {l} | " + " | ".join(cell(summary[l].get(k)) for k in shown) + " |" for l in losses]
    if tests:
        lines += ["", "Two-sided Welch t-test (unequal variances) and Mann–Whitney U test "
                  "over seeds (scipy.stats):", "",
                  "| comparison | metric | difference | Welch t | Welch p | MWU U | MWU p |",
                  "|---|---|---|---|---|---|---|"]
        for name, per_metric in tests.items():
            for metric, t in per_metric.items():
                lines.append(f"| {name} | {metric} | {t['difference']:.4g} | {t['welch_t']:.3g} | "
                             f"{t['welch_p']:.3g} | {t['mannwhitney_u']:.3g} | {t['mannwhitney_p']:.3g} |")
    return "\n".join(lines) + "\n"


def _bound_stats(curve: dict) -> dict:
    epochs = [int(e) for e in curve["epochs"]]
    return {f"cca_bound_{side}": {"epochs": epochs, "mean": curve[side].mean(0).tolist(),
                                  "std": curve[side].std(0).tolist(), "values": curve[side].tolist()}
            for side in ("lhs", "rhs")} | {"cca_bound_holds": bool(np.all(curve["holds"]))}


def _eval_splits(config, data) -> dict:
    """Test split, plus ``ood`` (the held-out spiral region) for the non-standard modalities."""
    splits = {"test": data.splits["test"]}
    if config.dataset == "spirals" and config.modality != "standard":
        from repsim_jax.data.synthetic import spiral_splits

        ood = spiral_splits(seed=0, points_per_arm=config.points_per_arm, modality=config.modality).ood
        splits["ood"] = {"x": ood[0], "y": ood[1]}
    return splits


def _seed_reports(students, splits, teacher, data, workdir, seeds) -> list[dict]:
    reports = []
    for seed, student in zip(seeds, students):
        report = evaluate(student, splits, str(pathlib.Path(workdir) / f"seed{seed}"),
                          teacher=teacher, preprocess=data.preprocess, seed=seed)
        reports.append(report)
    return reports


def _dirname(loss: str) -> str:
    return loss.replace("+", "_")


def _students(config, data, teacher, losses, splits, out, progress):
    """Yields ``(loss, (model, FitResult, students, per-seed reports))`` for each loss."""
    seeds = [int(s) for s in config.sweep.seeds]
    for loss in losses:
        workdir = pathlib.Path(out) / "students" / _dirname(loss)
        model, result, students = distil_students(config, data, teacher, loss, workdir, progress)
        yield loss, (model, result, students, _seed_reports(students, splits, teacher, data, workdir, seeds))


def _split_summary(reports, keys) -> dict:
    out = summarise_seeds([r["test"] for r in reports], keys)
    if "ood" in reports[0]:
        out |= summarise_seeds([r["ood"] for r in reports], keys, prefix="ood_")
    return out


def _decision_grid(models: dict, extent: float = 11.0, size: int = 200) -> tuple[np.ndarray, dict]:
    """Predicted labels of each ``(model, variables)`` on a ``size²`` grid over ``[−extent, extent]²``."""
    axis = np.linspace(-extent, extent, size, dtype=np.float32)
    grid = np.stack(np.meshgrid(axis, axis), -1).reshape(-1, 2)
    labels = {name: np.argmax(_outputs(m.model, m.variables, grid, None)[1], -1).reshape(size, size)
              for name, m in models.items()}
    return axis, labels


def run_synthetic(preset: str = "quick", out: str = "runs/quick", progress: bool = True,
                  modality: str | None = None, overrides=()) -> dict:
    """Synthetic spirals reproduction (arXiv 2602.15438): teacher, KL/L1/L2 students over
    seeds, metrics, significance tests, CCA–logit bound over training and figures.

    Args:
      preset: a preset of ``experiments/configs/synthetic.py`` (``quick``, ``paper``, ``smoke``).
      out: output directory (see the module docstring for its contents).
      modality: ``standard``, ``interpolation`` or ``extrapolation`` (overrides the config).
      overrides: ``--config.key=value`` tokens.

    Returns the content of ``summary.json``.
    """
    start = time.time()
    config = experiment_config("synthetic", preset, overrides)
    if modality is not None:
        config.modality = modality
    out = pathlib.Path(out)
    data = load_dataset(config)
    splits = _eval_splits(config, data)
    teacher = train_teacher(_with(config, loss="ce"), data, out / "teacher", progress)
    teacher_report = evaluate(teacher, splits, str(out / "teacher"), preprocess=data.preprocess)
    summary, curves, students_seed0 = {}, {}, {"teacher": teacher}
    epochs = checkpoint_epochs(config.reproduce.student_epochs, config.reproduce.bound_every)
    for loss, (model, result, students, reports) in _students(
            config, data, teacher, config.sweep.losses, splits, out, progress):
        curves[loss] = bound_over_training(model, result.state, out / "students" / _dirname(loss),
                                           teacher, data.splits["test"]["x"], epochs, data.preprocess)
        summary[loss] = _split_summary(reports, STUDENT_METRICS) | _bound_stats(curves[loss])
        students_seed0[loss] = students[0]
    tests = compare_to_reference(summary) if "kl" in summary else {}
    keys = [*STUDENT_METRICS, *(f"ood_{k}" for k in STUDENT_METRICS)]
    teacher_summary = _split_summary([teacher_report], ("accuracy",))
    (out / "summary.md").write_text(markdown_summary(
        f"Synthetic spirals ({preset}, {config.modality})", summary, tests, keys, teacher_summary))
    plots.metric_bars({l: {k: summary[l][k] for k in keys if k in summary[l]} for l in summary},
                      out / "metrics.png")
    axis, labels = _decision_grid(students_seed0)
    plots.decision_regions(axis, labels, data.splits["train"]["x"], data.splits["train"]["y"],
                           out / "decision_regions.png")
    plots.bound_curves(curves, out / "cca_logit_bound.png")
    result = summary | {"teacher": teacher_summary, "significance": tests,
                        "config": config.to_dict(), "wall_time_s": time.time() - start}
    (out / "summary.json").write_text(json.dumps(result, indent=1, default=list))
    return result


# --------------------------------------------------------------------------- concepts


def concept_directions(embeddings, concepts) -> np.ndarray:
    """Mean-difference direction of each binary concept: ``v_c = μ(f | c=1) − μ(f | c=0)`` (C, d)."""
    f, c = np.asarray(embeddings, np.float64), np.asarray(concepts) > 0
    if np.any(c.all(0) | ~c.any(0)):
        raise ValueError("every concept needs examples with both values to define a direction")
    return np.stack([f[c[:, j]].mean(0) - f[~c[:, j]].mean(0) for j in range(c.shape[1])])


def direction_auc(embeddings, concepts, directions) -> np.ndarray:
    """ROC AUC of the projection ``⟨f(x), v_c⟩`` for concept c (1 = the direction separates it)."""
    from sklearn.metrics import roc_auc_score

    scores = np.asarray(embeddings, np.float64) @ np.asarray(directions).T
    return np.array([roc_auc_score(concepts[:, j], scores[:, j]) for j in range(scores.shape[1])])


def concept_class_pairs() -> dict[str, list[tuple[int, int]]]:
    """Class pairs of concept shapes that differ in one concept, all else equal
    (``label = 6·shape + 2·colour + large``): small→large, red→green, circle→square."""
    from repsim_jax.data.concepts import COLOURS, SHAPES

    return {"large": [(6 * s + 2 * c, 6 * s + 2 * c + 1) for s in range(len(SHAPES)) for c in range(len(COLOURS))],
            "colour": [(6 * s + l, 6 * s + 2 + l) for s in range(len(SHAPES)) for l in range(2)],
            "shape": [(2 * c + l, 6 + 2 * c + l) for c in range(len(COLOURS)) for l in range(2)]}


def _class_means(embeddings, labels, num_classes: int) -> np.ndarray:
    return np.stack([np.asarray(embeddings, np.float64)[labels == y].mean(0) for y in range(num_classes)])


def parallelism(class_means, pairs) -> float:
    """Mean cosine between the difference vectors ``Δ = μ_{y₁} − μ_{y₀}`` of the class pairs
    (1: a concept change is one shared vector, the "parallelogram" property; 2410.23501)."""
    deltas = np.stack([class_means[b] - class_means[a] for a, b in pairs])
    unit = deltas / np.linalg.norm(deltas, axis=1, keepdims=True)
    cos = unit @ unit.T
    return float(cos[np.triu_indices(len(pairs), 1)].mean())


def steering_success(embeddings, labels, unembedding, class_means, pairs) -> float:
    """Linear steering: add the mean difference vector ``v = mean Δ`` to the embedding of
    every input of a source class y₀; the fraction whose ``argmax (f + v)Gᵀ`` is y₁."""
    f, g = np.asarray(embeddings, np.float64), np.asarray(unembedding, np.float64)
    v = np.mean([class_means[b] - class_means[a] for a, b in pairs], axis=0)
    target = dict(pairs)
    rows = np.isin(labels, list(target))
    pred = np.argmax((f[rows] + v) @ g.T, -1)
    return float(np.mean(pred == np.vectorize(target.get)(labels[rows])))


def linear_properties(train, test, unembedding, num_classes: int) -> dict:
    """All-or-none linear properties (arXiv 2410.23501) of one model: ``direction_auc``
    (mean over concepts of the AUC of its own train mean-difference direction on test),
    ``parallelism`` and ``steering_success`` (means over the concept class pairs).
    ``train``/``test``: ``(embeddings, labels, concepts)``."""
    means = _class_means(train[0], train[1], num_classes)
    pairs = concept_class_pairs()
    return {"direction_auc": float(direction_auc(test[0], test[2], concept_directions(train[0], train[2])).mean()),
            "parallelism": float(np.mean([parallelism(means, p) for p in pairs.values()])),
            "steering_success": float(np.mean([steering_success(test[0], test[1], unembedding, means, p)
                                               for p in pairs.values()]))}


def transfer_properties(student, teacher, concepts) -> dict:
    """Linear transferability (arXiv 2506.00653) student → teacher: the affine map
    ``f_t ≈ A f_s + b`` fitted on train (:func:`repsim_jax.metrics.affine_map`), its test
    ``transfer_r2 = 1 − SSE/SST``; each student concept direction transferred as ``A v_c``
    and scored on the teacher's test embeddings (``transfer_auc``), and its cosine with the
    teacher's own direction (``transfer_cosine``). ``student``/``teacher``: (train, test)
    embeddings; ``concepts``: (train, test) binary concepts."""
    from repsim_jax import metrics

    amap = metrics.affine_map(student[0], teacher[0])
    predicted = np.asarray(amap.apply(student[1]), np.float64)
    target = np.asarray(teacher[1], np.float64)
    r2 = 1 - np.sum((predicted - target) ** 2) / np.sum((target - target.mean(0)) ** 2)
    moved = np.stack([np.asarray(amap.transfer_direction(v), np.float64)
                      for v in concept_directions(student[0], concepts[0])])
    own = concept_directions(teacher[0], concepts[0])
    cosine = np.sum(moved * own, 1) / (np.linalg.norm(moved, axis=1) * np.linalg.norm(own, axis=1))
    return {"transfer_r2": float(r2), "transfer_auc": float(direction_auc(target, concepts[1], moved).mean()),
            "transfer_cosine": float(cosine.mean())}


CONCEPT_METRICS = ("accuracy", "agreement", "kl_divergence", "logit_distance", "mean_cca",
                   "rep_dissimilarity", "linear_cka", "procrustes_distance", "concept_probe_accuracy", "concept_probe_f1",
                   "direction_auc", "parallelism", "steering_success", "transfer_r2",
                   "transfer_auc", "transfer_cosine")


def _model_outputs(model, data) -> dict:
    """Embeddings of train/test and the unembedding ``G`` of a ``(model, variables)``."""
    from repsim_jax.models import unembedding_matrix

    return {"train": _outputs(model.model, model.variables, data.splits["train"]["x"], data.preprocess)[0],
            "test": _outputs(model.model, model.variables, data.splits["test"]["x"], data.preprocess)[0],
            "G": np.asarray(unembedding_matrix(model.variables["params"]))}


def _concept_row(report: dict, outs: dict, data, teacher_outs: dict | None) -> dict:
    """The test report flattened with the concept probe, linear and transfer properties."""
    tr, te = data.splits["train"], data.splits["test"]
    row = dict(report["test"])
    row["concept_probe_accuracy"] = report["test"]["concept_probe"]["accuracy"]
    row["concept_probe_f1"] = report["test"]["concept_probe"]["f1"]
    row |= linear_properties((outs["train"], tr["y"], tr["concepts"]), (outs["test"], te["y"], te["concepts"]),
                             outs["G"], data.num_classes)
    if teacher_outs is not None:
        row |= transfer_properties((outs["train"], outs["test"]), (teacher_outs["train"], teacher_outs["test"]),
                                   (tr["concepts"], te["concepts"]))
    return row


def _run_concept_students(name, preset, out, progress, overrides, pick_losses, tested) -> dict:
    """Concept-bottleneck teacher, students of ``pick_losses(config)``, concept rows, tests, files."""
    start = time.time()
    config = experiment_config("concepts", preset, overrides)
    out = pathlib.Path(out)
    data = load_dataset(config)
    teacher = train_teacher(_with(config, loss="ce", concept_bottleneck=True), data, out / "teacher", progress)
    t_outs = _model_outputs(teacher, data)
    t_report = evaluate(teacher, data.splits, str(out / "teacher"), preprocess=data.preprocess)
    teacher_summary = summarise_seeds([_concept_row(t_report, t_outs, data, None)], CONCEPT_METRICS)
    summary = {}
    for loss, (_, _, students, reports) in _students(config, data, teacher, pick_losses(config),
                                                       data.splits, out, progress):
        rows = [_concept_row(r, _model_outputs(s, data), data, t_outs) for s, r in zip(students, reports)]
        summary[loss] = summarise_seeds(rows, CONCEPT_METRICS)
    tests = compare_to_reference(summary, keys=tested) if "kl" in summary else {}
    (out / "summary.md").write_text(markdown_summary(
        f"{name} ({preset}): concept-bottleneck teacher on concept_shapes", summary, tests,
        CONCEPT_METRICS, teacher_summary))
    plots.metric_bars(summary, out / "metrics.png")
    result = summary | {"teacher": teacher_summary, "significance": tests,
                        "config": config.to_dict(), "wall_time_s": time.time() - start}
    (out / "summary.json").write_text(json.dumps(result, indent=1, default=list))
    return result


def run_concepts(preset: str = "quick", out: str = "runs/concepts", progress: bool = True,
                 overrides=()) -> dict:
    """Concept preservation and transfer on concept shapes (arXiv 2602.15438, 2506.00653,
    2410.23501): a concept-bottleneck teacher; KL/L1/L2 students over seeds; per model the
    linear concept-probe accuracy/F1 on its embeddings (:func:`repsim_jax.evaluate.concept_probe`),
    :func:`linear_properties` and, student → teacher, :func:`transfer_properties`.
    Writes ``summary.json`` (as :func:`run_synthetic`, with ``teacher`` holding the
    teacher's own properties), ``summary.md`` and ``metrics.png`` to ``out``."""
    return _run_concept_students("Concepts", preset, out, progress, overrides, lambda c: c.sweep.losses,
                                 ("concept_probe_accuracy", "mean_cca", "rep_dissimilarity"))


def run_geometry(preset: str = "quick", out: str = "runs/geometry", progress: bool = True,
                 overrides=()) -> dict:
    """Geometry-aware feature distillation (arXiv 2509.25253) on concept shapes: KD (KL)
    alone vs KD + Procrustes / feature-Gram / CKA / projection-MSE embedding losses
    (``config.geometry_losses``), same outputs as :func:`run_concepts`; tests against KD alone."""
    return _run_concept_students("Geometry", preset, out, progress, overrides, lambda c: c.geometry_losses,
                                 ("procrustes_distance", "mean_cca", "concept_probe_accuracy"))
