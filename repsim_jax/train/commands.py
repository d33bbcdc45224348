"""Command handlers ``train``, ``distill``, ``evaluate``, ``sweep`` for ``repsim-jax``.

Each handler is ``handler(args, extra) -> int``; ``extra`` holds ``--config.key=value``
overrides. Bad input raises ValueError/FileNotFoundError with a clear message (the
dispatcher prints it and exits with status 2). A workdir holds ``config.json``,
``checkpoints/``, ``metrics.jsonl`` and ``report.json``; re-running resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from etils import epath

from repsim_jax import models
from repsim_jax.evaluate import evaluate
from repsim_jax.losses import get_loss
from repsim_jax.train.augment import crop_flip
from repsim_jax.train.checkpoint import Checkpointer
from repsim_jax.train.config import load_config
from repsim_jax.train.loop import NonFiniteLossError, Teacher, fit
from repsim_jax.train.optim import make_optimizer
from repsim_jax.train.state import create_state

__all__ = ["register", "Dataset", "load_dataset", "build_model", "build_loss", "load_trained",
           "summarise"]


@dataclasses.dataclass
class Dataset:
    """In-memory splits ``{"train": {"x", "y"[, "concepts"]}, "test": ...}`` and how to
    feed them: ``preprocess`` (in-graph, e.g. uint8 → normalised float), ``augment``."""

    splits: dict
    num_classes: int
    num_concepts: int = 0
    preprocess: Callable | None = None
    augment: Callable | None = None


def _image_split(config, name, split, count):
    from repsim_jax.data import local
    from repsim_jax.data.loader import read_records
    from repsim_jax.data.tfds import dataset_spec, open_source

    kwargs = None
    if name == "concept_shapes":
        kwargs = {"config": local.concept_shapes_config(
            config.seed, config.num_train or 2000, config.num_test or 500)}
    source = open_source(name, split, config.data_dir or None, kwargs)
    n = len(source) if not count else min(count, len(source))
    records = read_records(source, np.arange(n))
    spec = dataset_spec(name)
    out = {"x": np.stack([r["image"] for r in records]),
           "y": np.array([r[spec.label_key] for r in records], np.int32)}
    if "concepts" in records[0]:
        out["concepts"] = np.stack([r["concepts"] for r in records]).astype(np.float32)
    return out, spec


def load_dataset(config) -> Dataset:
    """The splits named by ``config.dataset`` (``spirals`` or a TFDS image set)."""
    if config.dataset == "spirals":
        from repsim_jax.data.synthetic import spiral_splits

        sp = spiral_splits(seed=0, points_per_arm=config.points_per_arm, modality=config.modality)
        splits = {"train": {"x": sp.train[0], "y": sp.train[1]},
                  "test": {"x": sp.test[0], "y": sp.test[1]}}
        return Dataset(splits, int(max(sp.train[1].max(), sp.test[1].max())) + 1)
    from repsim_jax.data.tfds import DATASETS

    if config.dataset not in DATASETS:
        raise ValueError(f"unknown dataset {config.dataset!r}; choose spirals or {sorted(DATASETS)}")
    train, spec = _image_split(config, config.dataset, "train", config.get("num_train", 0))
    test, _ = _image_split(config, config.dataset, "test", config.get("num_test", 0))
    mean, std = jnp.asarray(spec.mean, jnp.float32), jnp.asarray(spec.std, jnp.float32)
    preprocess = lambda x: (x.astype(jnp.float32) - mean) / std
    augment = crop_flip if config.get("augment", False) else None
    num_concepts = train["concepts"].shape[1] if "concepts" in train else 0
    return Dataset({"train": train, "test": test}, spec.num_classes, num_concepts, preprocess,
                   augment)


def build_model(config, num_classes: int, num_concepts: int = 0):
    """``Classifier`` (or concept-bottleneck classifier) named by ``config.model``."""
    d = config.embedding_dim
    if config.model == "mlp":
        encoder = models.MLPEncoder(d, tuple(config.hidden), config.dropout)
    elif config.model in ("resnet18", "resnet50"):
        encoder = getattr(models, f"{config.model}_encoder")(d)
    else:
        raise ValueError(f"unknown model {config.model!r}; choose mlp, resnet18 or resnet50")
    if config.get("concept_bottleneck", False):
        if not num_concepts:
            raise ValueError(f"concept_bottleneck needs a dataset with concepts, not {config.dataset!r}")
        return models.ConceptBottleneckClassifier(encoder, num_concepts, d, num_classes)
    return models.Classifier(encoder, num_classes)


def build_loss(config, name: str | None = None):
    """``get_loss`` with the config's weights; ``ce_weight`` is ignored for plain ``ce``."""
    name = name or config.loss
    ce_weight = None if name == "ce" else config.ce_weight
    return get_loss(name, ce_weight=ce_weight, logit_weight=config.logit_weight,
                    feature_weight=config.feature_weight, temperature=config.temperature,
                    centered=config.centered)


def _optimizer(config, steps_per_epoch: int):
    return make_optimizer(config.optimizer, config.learning_rate, schedule=config.schedule,
                          steps_per_epoch=steps_per_epoch, warmup_epochs=config.warmup_epochs,
                          decay=config.decay)


def load_trained(workdir: str) -> tuple[Teacher, ml_collections.ConfigDict, Dataset]:
    """Model, variables (latest checkpoint), config and data of a finished ``train`` run."""
    path = epath.Path(workdir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"no config.json in {workdir}: not a training workdir")
    config = ml_collections.ConfigDict(json.loads(path.read_text()))
    data = load_dataset(config)
    model = build_model(config, data.num_classes, data.num_concepts)
    loss = build_loss(config)
    steps = len(data.splits["train"]["x"]) // config.batch_size
    tx = _optimizer(config, steps)
    sample = data.splits["train"]["x"][:1]
    sample = data.preprocess(sample) if data.preprocess else sample
    teacher_dim = config.get("teacher_dim", 0) or None
    abstract = jax.eval_shape(
        lambda k: create_state(k, model, loss, tx, sample, teacher_dim), jax.random.key(0))
    ckpt = Checkpointer(workdir)
    try:
        state, _ = ckpt.restore(abstract)
    finally:
        ckpt.close()
    variables = {"params": state.params["model"]}
    if state.batch_stats:
        variables["batch_stats"] = state.batch_stats
    return Teacher(model, variables), config, data


def _write_config(workdir, config) -> None:
    path = epath.Path(workdir)
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(config.to_json(indent=2))


def _run(config, workdir: str, teacher: Teacher | None, seeds=None, progress=True):
    """Fit one run (or several seeds vmapped) and write each seed's report."""
    data = load_dataset(config)
    model = build_model(config, data.num_classes, data.num_concepts)
    loss = build_loss(config)
    train = data.splits["train"]
    if config.batch_size > len(train["x"]):
        raise ValueError(f"batch_size {config.batch_size} exceeds the {len(train['x'])} training examples")
    tx = _optimizer(config, len(train["x"]) // config.batch_size)
    if teacher is not None and loss.needs_teacher:
        sample = data.preprocess(train["x"][:1]) if data.preprocess else train["x"][:1]
        config.teacher_dim = int(jax.eval_shape(
            lambda v: teacher.model.apply(v, sample), teacher.variables)[0].shape[-1])
    _write_config(workdir, config)
    result = fit(model, loss, tx, train, workdir, num_epochs=config.num_epochs,
                 batch_size=config.batch_size, seeds=config.seed if seeds is None else seeds,
                 eval_data=data.splits["test"], eval_every=config.eval_every,
                 teacher=teacher if loss.needs_teacher else None,
                 teacher_mode=config.teacher_mode, checkpoint_every=config.checkpoint_every,
                 keep=config.keep, preprocess=data.preprocess, augment=data.augment,
                 concept_weight=config.get("concept_weight", 1.0), progress=progress)
    seed_list = [config.seed] if seeds is None else list(seeds)
    reports = []
    for i, _ in enumerate(seed_list):
        state = result.state if seeds is None else jax.tree.map(lambda a: a[i], result.state)
        variables = {"params": state.params["model"]}
        if state.batch_stats:
            variables["batch_stats"] = state.batch_stats
        reports.append((Teacher(model, variables), data))
    return result, reports


def _train(args, extra) -> int:
    config = load_config(args.config, extra)
    if build_loss(config).needs_teacher:
        raise ValueError(f"train uses a teacher-free loss; loss {config.loss!r} needs `distill`")
    result, [(student, data)] = _run(config, args.workdir, None)
    report = evaluate(student, data.splits, args.workdir, preprocess=data.preprocess)
    _print_summary(args.workdir, result, report)
    return 0


def _distill(args, extra) -> int:
    config = load_config(args.config, extra)
    if not config.teacher_workdir:
        raise ValueError("distill needs --config.teacher_workdir=<a finished train workdir>")
    if not get_loss(config.loss).needs_teacher:
        raise ValueError(f"loss {config.loss!r} does not use the teacher; use e.g. kl, l1 or l2")
    teacher, _, _ = load_trained(config.teacher_workdir)
    result, [(student, data)] = _run(config, args.workdir, teacher)
    report = evaluate(student, data.splits, args.workdir, teacher=teacher, preprocess=data.preprocess)
    _print_summary(args.workdir, result, report)
    return 0


def _evaluate(args, extra) -> int:
    if extra:
        raise ValueError(f"evaluate takes no config overrides, got {' '.join(extra)}")
    student, config, data = load_trained(args.workdir)
    teacher_dir = args.teacher_workdir or config.get("teacher_workdir", "")
    teacher = load_trained(teacher_dir)[0] if teacher_dir else None
    report = evaluate(student, data.splits, args.workdir, teacher=teacher, preprocess=data.preprocess)
    print(json.dumps({k: {m: v for m, v in r.items() if not isinstance(v, dict)}
                      for k, r in report.items()}, indent=1))
    return 0


def _print_summary(workdir, result, report) -> None:
    test = report.get("test", {})
    keys = ("accuracy", "agreement", "kl_divergence", "logit_distance", "mean_cca", "rep_dissimilarity")
    shown = ", ".join(f"{k}={test[k]:.4g}" for k in keys if test.get(k) is not None)
    print(f"{workdir}: {result.epochs} epochs; test {shown}")


SUMMARY_KEYS = ("accuracy", "agreement", "kl_divergence", "logit_distance", "mean_cca",
                "linear_cka", "procrustes_distance", "rep_dissimilarity")


def summarise(root: str, runs: list[tuple[str, int, int]]) -> str:
    """Markdown table of test metrics, mean ± std over seeds, per (loss, dim)."""
    rows = {}
    for loss, dim, seed in runs:
        report = json.loads((_seed_dir(root, loss, dim, seed) / "report.json").read_text())["test"]
        rows.setdefault((loss, dim), []).append(report)
    header = "| loss | dim | seeds | " + " | ".join(SUMMARY_KEYS) + " |"
    lines = [header, "|" + "---|" * (len(SUMMARY_KEYS) + 3)]
    for (loss, dim), reports in rows.items():
        cells = []
        for key in SUMMARY_KEYS:
            vals = np.array([r[key] for r in reports if r.get(key) is not None], float)
            cells.append(f"{vals.mean():.4g} ± {vals.std():.2g}" if vals.size else "n/a")
        lines.append(f"| {loss} | {dim} | {len(reports)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _group_dir(root, loss, dim):
    return epath.Path(root) / f"{loss.replace('+', '_')}_d{dim}"


def _seed_dir(root, loss, dim, seed):
    return _group_dir(root, loss, dim) / f"seed{seed}"


def _sweep(args, extra) -> int:
    config = load_config(args.config, extra)
    if not config.teacher_workdir:
        raise ValueError("sweep distils students: set --config.teacher_workdir=<train workdir>")
    grid = [(loss, int(dim), int(seed)) for loss in config.sweep.losses
            for dim in config.sweep.dims for seed in config.sweep.seeds]
    if not grid:
        raise ValueError("empty sweep grid: set sweep.losses, sweep.dims and sweep.seeds")
    for loss in config.sweep.losses:
        get_loss(loss)
    teacher, _, _ = load_trained(config.teacher_workdir)
    for loss in config.sweep.losses:
        for dim in config.sweep.dims:
            todo = [s for (l, d, s) in grid if (l, d) == (loss, dim)
                    and not (_seed_dir(args.workdir, l, d, s) / "report.json").exists()]
            if not todo:
                print(f"skip {loss} d={dim}: finished")
                continue
            run_config = ml_collections.ConfigDict(config)
            run_config.loss, run_config.embedding_dim = loss, int(dim)
            group = _group_dir(args.workdir, loss, dim) / ("seeds_" + "_".join(map(str, todo)))
            print(f"run {loss} d={dim} seeds={todo} (vmapped) in {group}")
            _, students = _run(run_config, str(group), teacher, seeds=todo, progress=False)
            for seed, (student, data) in zip(todo, students):
                evaluate(student, data.splits, str(_seed_dir(args.workdir, loss, dim, seed)),
                         teacher=teacher, preprocess=data.preprocess, seed=seed)
    table = summarise(args.workdir, grid)
    (epath.Path(args.workdir) / "summary.md").write_text(table + "\n")
    print(table)
    return 0


def _guard(handler):
    def run(args, extra):
        try:
            return handler(args, extra)
        except NonFiniteLossError as err:
            print(f"repsim-jax {args.command}: stopped: {err}", file=sys.stderr)
            return 1

    return run


def register(subparsers) -> None:
    """Add ``train``, ``distill``, ``evaluate`` and ``sweep`` to an argparse subparsers."""
    specs = {
        "train": (_train, "train a teacher from a config"),
        "distill": (_distill, "distil a student from config.teacher_workdir"),
        "sweep": (_sweep, "distil a grid of losses × seeds × dims (seeds vmapped)"),
    }
    for name, (handler, help_text) in specs.items():
        p = subparsers.add_parser(name, help=help_text,
                                  description=f"{help_text}; override keys with --config.key=value")
        p.add_argument("--config", required=True, help="PATH.py[:PRESET] with get_config()")
        p.add_argument("--workdir", required=True, help="output directory (local or gs://)")
        p.set_defaults(func=_guard(handler), accepts_overrides=True)
    p = subparsers.add_parser("evaluate", help="write report.json for a trained workdir")
    p.add_argument("--workdir", required=True, help="a train/distill workdir")
    p.add_argument("--teacher_workdir", default="", help="teacher workdir (default: from config)")
    p.set_defaults(func=_guard(_evaluate))
