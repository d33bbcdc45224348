"""The experiment runner: a config in, a trained and evaluated run out.

``train_and_evaluate(config, workdir, teacher=None)`` is the one place where a config
(``repsim_jax/configs/*.py``, see ``common.py`` there for every key) becomes data, a
model, a loss and an optimiser (:func:`build`), is trained by
:func:`repsim_jax.train.fit` (resuming from the workdir's checkpoints) and is
evaluated by :func:`repsim_jax.evaluate.evaluate`. ``restore(workdir)`` loads any
workdir it writes. The ``train``, ``distill``, ``evaluate`` and ``sweep`` commands and
every reproduction call these two functions.

A workdir holds ``config.json``, ``checkpoints/`` and ``metrics.jsonl``; the reports
are ``report.json`` for a single seed and ``seed<s>/report.json`` for each seed of a
vmapped group (``config.seeds`` with several seeds, trained together); see
:mod:`repsim_jax.workdir` for the layout and its rules. A run owns its workdir (a lock);
re-running in a workdir resumes it after checking the requested config against the
stored one (only the keys of :data:`repsim_jax.workdir.MAY_CHANGE` may differ), and a
restore never reads ``model.init_from`` again: the checkpoint holds those weights.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any, NamedTuple

import jax
import ml_collections
import optax
from etils import epath
from jax.experimental import multihost_utils

from repsim_jax import workdir as layout
from repsim_jax.data import Dataset, load_dataset
from repsim_jax.errors import InputError
from repsim_jax.evaluate import Curves, evaluate
from repsim_jax.evaluators import check_names
from repsim_jax.lm import evaluate as lm_evaluate
from repsim_jax.lm.data import TextData, load_text_data
from repsim_jax.lm.hf import is_hf_directory, load_hf
from repsim_jax.lm.losses import get_lm_loss
from repsim_jax.lm.model import TrainedLM, TransformerLM
from repsim_jax.losses import Loss, get_loss
from repsim_jax.models import TrainedModel, build_model, without_init_file
from repsim_jax.train.checkpoint import Checkpointer, saved_steps
from repsim_jax.train.loop import fit
from repsim_jax.train.mesh import make_mesh
from repsim_jax.train.optim import make_optimizer
from repsim_jax.train.spec import Data, Schedule, Student, Teacher, checked_seeds, embedding_dim
from repsim_jax.train.state import initialiser
from repsim_jax.workdir import locate, owned, read_config, read_json, warn

__all__ = [
    "Built",
    "Run",
    "build",
    "train_and_evaluate",
    "evaluate_run",
    "run_info",
    "training_mesh",
    "restore",
    "locate",
    "report_path",
    "trained_models",
    "load_teacher",
]


class Built(NamedTuple):
    """What a config describes: ``data``, ``model``, ``loss`` and optimiser ``tx``
    (a language model's ``data`` is a :class:`repsim_jax.lm.data.TextData`)."""

    data: Dataset | TextData
    model: Any
    loss: Loss
    tx: optax.GradientTransformation


@dataclasses.dataclass
class Run:
    """A trained run: its ``config`` and ``workdir``, the ``built`` parts, the final
    ``state`` (stacked over seeds for a group), one :class:`TrainedModel` per seed and,
    once evaluated, one report per seed."""

    config: ml_collections.ConfigDict
    workdir: str
    built: Built
    state: Any
    models: list[TrainedModel]
    reports: list[dict]

    @property
    def seeds(self) -> list[int]:
        return [m.seed for m in self.models]

    @property
    def model(self) -> TrainedModel:
        """The trained model of a single-seed run."""
        if len(self.models) != 1:
            raise InputError(f"{self.workdir} holds {len(self.models)} seeds {self.seeds}; pick one of run.models")
        return self.models[0]

    def seed_run(self, seed: int | str) -> Run:
        """This run narrowed to one of its seeds (its model and report)."""
        chosen = [i for i, m in enumerate(self.models) if str(m.seed) == str(seed)]
        if not chosen:
            raise FileNotFoundError(f"{self.workdir} has no seed {seed}; seeds {self.seeds}")
        i = chosen[0]
        return dataclasses.replace(self, models=[self.models[i]], reports=self.reports[i : i + 1])


def _seeds(config) -> list[int]:
    return list(checked_seeds(config.seeds, "config.seeds"))


def _trained_seeds(seeds: list[int]) -> int | list[int]:
    """The ``seeds`` of :class:`repsim_jax.train.Student`: one seed alone is a single run,
    several a vmapped group (a stacked state)."""
    return seeds if len(seeds) > 1 else seeds[0]


def _schedule(config, progress: bool = True, desc: str = "epochs") -> Schedule:
    """The :class:`repsim_jax.train.Schedule` of ``config`` (``num_epochs``, ``batch_size``,
    ``keep_last_batch``, ``eval.every``, section ``checkpoint``)."""
    return Schedule(
        config.num_epochs,
        config.batch_size,
        config.keep_last_batch,
        eval_every=config.eval.every,
        checkpoint_every=config.checkpoint.every,
        keep=config.checkpoint.keep,
        progress=progress,
        desc=desc,
    )


def report_path(workdir, config, seed: int) -> epath.Path:
    """``report.json`` of ``seed``: in the workdir for one seed, in ``seed<s>/`` for a group."""
    return layout.report_path(workdir, _seeds(config), seed)


def _loss_options(loss) -> dict:
    """The ``loss`` section's keyword options of :func:`get_loss` / ``get_lm_loss``
    (``ce`` alone keeps its own weight of 1)."""
    return dict(
        ce_weight=None if loss.name == "ce" else loss.ce_weight,
        logit_weight=loss.logit_weight,
        feature_weight=loss.feature_weight,
        temperature=loss.temperature,
        centered=loss.centered,
    )


def build(config) -> Built:
    """Data, model, loss and optimiser of ``config`` (sections ``data``, ``model``,
    ``loss``, ``optim``); ``data.name = "text"`` builds a language model
    (:func:`_build_language_model`)."""
    if config.data.name == "text" or config.model.name == "gpt2":
        return _build_language_model(config)
    data = load_dataset(config.data)
    model = build_model(config.model, data.num_classes, data.num_concepts, distilled=config.loss.name != "ce")
    loss = get_loss(config.loss.name, **_loss_options(config.loss))
    steps = _schedule(config).steps_per_epoch(len(data.rows["train"]))
    return Built(data, model, loss, _optimizer(config, steps))


def _optimizer(config, steps_per_epoch: int) -> optax.GradientTransformation:
    o = config.optim
    return make_optimizer(
        o.name,
        o.learning_rate,
        schedule=o.schedule,
        steps_per_epoch=steps_per_epoch,
        warmup_epochs=o.warmup_epochs,
        decay=o.decay,
    )


def _build_language_model(config) -> Built:
    """A GPT-2-family LM (``model.name = "gpt2"``) on ``data.name = "text"``
    (:func:`repsim_jax.lm.data.load_text_data`) with the per-token loss of
    :func:`repsim_jax.lm.losses.get_lm_loss`; ``batch_size`` sequences per step over all
    processes, an epoch one pass over a process's shard of the training sequences."""
    if config.data.name != "text" or config.model.name != "gpt2":
        raise InputError(
            f"a language model needs data.name 'text' and model.name 'gpt2', got {config.data.name!r} and "
            f"{config.model.name!r}"
        )
    data = load_text_data(config.data, config.model.vocab, config.model.context)
    model = build_model(config.model, data.vocab_size)
    loss = get_lm_loss(
        config.loss.name,
        **_loss_options(config.loss),
        chunk=config.loss.vocab_chunk or None,
        layers=tuple(config.loss.layers),
    )
    processes = jax.process_count()
    if config.batch_size % processes:
        raise InputError(f"batch_size {config.batch_size} is not divisible by the {processes} processes")
    steps = data.stream(config.batch_size // processes).steps_per_epoch
    return Built(data, model, loss, _optimizer(config, steps))


def _sample_input(built: Built):
    if isinstance(built.data, TextData):
        return built.data.sample_input()
    x = built.data.rows["train"].example()["x"]
    return built.data.preprocess(x) if built.data.preprocess else x


def trained_models(model, state, seeds, workdir: str = "") -> list[TrainedModel]:
    """One :class:`TrainedModel` per seed of a train ``state`` (stacked over seeds when
    there are several)."""
    stacked = len(seeds) > 1

    def variables(i):
        pick = (lambda a: a[i]) if stacked else (lambda a: a)
        out = {"params": jax.tree.map(pick, state.params["model"])}
        if state.batch_stats:
            out["batch_stats"] = jax.tree.map(pick, state.batch_stats)
        return out

    kind = TrainedLM if isinstance(model, TransformerLM) else TrainedModel
    return [kind(model, variables(i), seed, str(workdir)) for i, seed in enumerate(seeds)]


def load_teacher(path: str) -> TrainedModel:
    """The teacher in ``path``: a workdir of ours (its single model, or ``GROUP/seed<s>``)
    or a Hugging Face GPT-2 directory (:func:`repsim_jax.lm.load_hf`)."""
    return load_hf(path) if is_hf_directory(path) else restore(path).model


def _teacher_for(config, teacher: TrainedModel | None, needs_teacher: bool) -> TrainedModel | None:
    if teacher is None and config.teacher.workdir:
        teacher = load_teacher(config.teacher.workdir)
    if needs_teacher and teacher is None:
        raise InputError(f"loss {config.loss.name!r} distils a teacher: set --config.teacher.workdir=<a train workdir>")
    return teacher


def evaluate_run(run: Run, teacher: TrainedModel | None = None, run_info: dict | None = None) -> list[dict]:
    """Evaluate every seed of ``run`` on the splits in ``config.eval.splits`` against
    ``teacher``, writing each seed's ``report.json`` (see :func:`report_path`) with
    ``run_info`` (:func:`run_info`) as its ``run`` section (default: the section of the
    report being replaced, if any)."""
    if isinstance(run.built.data, TextData):
        return _evaluate_language_model(run, teacher, run_info)
    data, e = run.built.data, run.config.eval
    splits = {name: data.splits[name] for name in e.splits if name in data.splits}
    options = _pivot_options(e)
    reports = []
    with owned(run.workdir):
        for m in run.models:
            path = report_path(run.workdir, run.config, m.seed)
            info = run_info if run_info is not None else _stored_run_info(path)
            reports.append(
                evaluate(
                    m,
                    splits,
                    str(path.parent),
                    teacher=teacher,
                    preprocess=data.preprocess,
                    pivot_options=options,
                    cca_components=e.cca_components,
                    run=info,
                    evaluators=e.evaluators,
                )
            )
    return reports


def _pivot_options(e) -> dict:
    """d_rep's pivot/subset options of config section ``eval``."""
    return {"num_pivots": e.num_pivots, "num_subsets": e.num_subsets, "seed": e.pivot_seed}


def _curves(config, built: Built, seeds, teacher):
    """:func:`fit`'s ``curves``: the quantities of ``eval.curves`` for every seed on the
    splits of ``eval.splits``, against ``teacher`` (:class:`repsim_jax.evaluate.Curves`);
    None for a language model or ``eval.curves = ()``."""
    e = config.eval
    if isinstance(built.data, TextData) or not e.curves:
        return None
    splits = {name: built.data.splits[name] for name in e.splits if name in built.data.splits}
    curves = Curves(e.curves, splits, teacher, built.data.preprocess, _pivot_options(e), e.cca_components, e.evaluators)
    return lambda state: curves(trained_models(built.model, _on_every_process(state), seeds))


def _evaluate_language_model(run: Run, teacher: TrainedLM | None, run_info: dict | None) -> list[dict]:
    """:func:`evaluate_run` of a language model: :func:`repsim_jax.lm.evaluate.split_report`
    on the held-out sequences (``test``) and as many training sequences (``train``), for
    the splits of ``config.eval.splits``, with d_rep's pivots/subsets of ``config.eval`` and
    the mapped layers of ``config.loss.layers``."""
    splits, chunk, e = run.built.data.splits, run.config.loss.vocab_chunk or None, run.config.eval
    names = [name for name in run.config.eval.splits if name in splits]
    options = {
        "pivot_options": {"num_pivots": e.num_pivots, "num_subsets": e.num_subsets, "seed": e.pivot_seed},
        "layers": tuple(run.config.loss.layers),
    }
    reports = []
    with owned(run.workdir):
        for m in run.models:
            path = report_path(run.workdir, run.config, m.seed)
            report = {name: lm_evaluate.split_report(m, splits[name], teacher, chunk, **options) for name in names}
            info = run_info if run_info is not None else _stored_run_info(path)
            if info is not None:
                report["run"] = info
            if jax.process_index() == 0:
                path.parent.mkdir(parents=True, exist_ok=True)
                layout.write_json(path, report)
            reports.append(report)
    return reports


def _stored_run_info(path: epath.Path) -> dict | None:
    """The ``run`` section of the report at ``path`` (None when it has none, or when the
    file is damaged: it is being rewritten, said in one line)."""
    if not path.exists():
        return None
    try:
        return read_json(path).get("run")
    except InputError as error:
        warn(f"{error}; rewriting it without its 'run' section")
        return None


def run_info(mesh, dtype: str = "float32") -> dict:
    """Where a run trained: ``devices``, ``processes``, ``mesh`` (``{"seeds", "data"[, "fsdp"]}``
    axis sizes; 1 × 1 without a mesh), ``platform``, ``jax_version`` and compute ``dtype``."""
    shape = {"seeds": 1, "data": 1} if mesh is None else {k: int(v) for k, v in mesh.shape.items()}
    return {
        "devices": jax.device_count(),
        "processes": jax.process_count(),
        "mesh": shape,
        "platform": jax.default_backend(),
        "jax_version": jax.__version__,
        "dtype": dtype,
    }


def _on_every_process(state):
    """``state`` with its parameters and BatchNorm statistics all-gathered onto every
    process (a no-op with one process), so each can evaluate the trained models."""
    if jax.process_count() == 1:
        return state
    gather = lambda tree: multihost_utils.process_allgather(tree, tiled=True)
    return state.replace(params=gather(state.params), batch_stats=gather(state.batch_stats))


def training_mesh(config, num_seeds: int):
    """The ``("seeds", "data"[, "fsdp"])`` mesh of config section ``mesh`` for ``num_seeds``
    seed members (:func:`repsim_jax.train.mesh.make_mesh`); None on a single device."""
    if jax.device_count() == 1 and config.mesh.fsdp == 1:
        return None
    return make_mesh(num_seeds, config.mesh.seeds, config.mesh.data, config.mesh.fsdp)


def train_and_evaluate(
    config, workdir: str, teacher: TrainedModel | None = None, *, progress: bool = True, stage: str = ""
) -> Run:
    """Train ``config`` in ``workdir`` (resuming from its checkpoints), evaluate every
    seed against ``teacher`` (default: the model in ``config.teacher.workdir``, if any)
    and write the reports. Returns the :class:`Run`. ``stage`` names the progress bar
    (default: the loss and the number of seeds, e.g. "l2 (5 seeds)").

    The run holds the workdir's lock throughout (a second writer gets one InputError
    line naming the owner). In an existing workdir the requested config is checked
    against ``config.json`` before anything is written (:func:`_rerun_changes`); its
    paths (:data:`repsim_jax.workdir.PATH_KEYS`) are stored absolute."""
    config = config.copy_and_resolve_references()
    if teacher is not None and teacher.workdir:
        config.teacher.workdir = teacher.workdir
    config = layout.with_absolute_paths(config)
    seeds = _seeds(config)
    check_names(config.eval.evaluators)
    with owned(workdir):
        changes = _rerun_changes(config, workdir)
        run = _train_and_evaluate(config, workdir, seeds, teacher, changes, progress, stage)
    return run


def _trained_epochs(workdir) -> int | None:
    """The newest checkpoint step (= epoch) in ``workdir``, None without one."""
    steps = saved_steps(workdir)
    return steps[-1] if steps else None


def _rerun_changes(config, workdir) -> list[str]:
    """The config changes a run of ``config`` in ``workdir`` makes
    (:func:`repsim_jax.workdir.config_changes`, which refuses the others). A workdir
    without a checkpoint holds nothing trained: its config, even a damaged one, is
    replaced; checkpoints without a config cannot be checked and are refused."""
    path, trained = layout.config_path(workdir), _trained_epochs(workdir)
    if not path.exists():
        if trained is not None:
            raise InputError(
                f"{path} is missing but {layout.checkpoints_dir(workdir)} holds a trained model; "
                "put the config back or use a new workdir"
            )
        return []
    try:
        stored = read_config(workdir)
    except InputError:
        if trained is not None:
            raise
        return [f"{path} was damaged and is replaced"]
    return layout.config_changes(workdir, stored, config, trained)


def _train_and_evaluate(config, workdir: str, seeds, teacher, changes: list[str], progress: bool, stage: str) -> Run:
    """:func:`train_and_evaluate` once the workdir is owned and the config checked."""
    built = build(config)
    teacher = _teacher_for(config, teacher, built.loss.needs_teacher)
    if teacher is not None:
        config.loss.teacher_dim = embedding_dim(teacher, _sample_input(built))
    curves = _curves(config, built, seeds, teacher)  # checks eval.curves before anything is written
    if changes:
        warn(f"{workdir}: the re-run applies config changes: {'; '.join(changes)}")
    if jax.process_index() == 0:
        layout.write_text(layout.config_path(workdir), config.to_json(indent=2))
    mesh = training_mesh(config, len(seeds))
    desc = stage or f"{config.loss.name} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})"
    student = Student(
        built.model,
        built.loss,
        built.tx,
        _trained_seeds(seeds),
        concept_weight=config.loss.concept_weight,
        concept_loss=config.loss.concept_loss,
    )
    data = _training_data(built.data, config.batch_size, curves)
    distilled = Teacher(teacher, config.teacher.mode) if built.loss.needs_teacher else None
    result = fit(student, data, str(workdir), _schedule(config, progress, desc), distilled, mesh)
    state = _on_every_process(result.state)
    models = trained_models(built.model, state, seeds, str(workdir))
    run = Run(config, str(workdir), built, state, models, [])
    if progress and jax.process_index() == 0:
        print(f"{desc}: evaluating", file=sys.stderr, flush=True)  # tens of seconds after the bar on a CPU
    run.reports = evaluate_run(run, teacher, run_info(mesh, config.model.dtype))
    return run


def _training_data(data: Dataset | TextData, batch_size: int, curves) -> Data:
    """:func:`fit`'s :class:`repsim_jax.train.Data`: the training rows, the test split and
    ``curves``, or a language model's token stream of this process's
    ``batch_size / processes`` sequences per step."""
    if isinstance(data, TextData):
        return Data(data.stream(batch_size // jax.process_count()))
    return Data(data.rows["train"], data.splits["test"], data.preprocess, data.augment, curves)


def _abstract_state(config, built: Built, seeds):
    teacher_dim = config.loss.teacher_dim or None
    sample = _sample_input(built)
    return jax.eval_shape(initialiser(_trained_seeds(seeds), built.model, built.loss, built.tx, sample, teacher_dim))


def _read_reports(workdir, config, seeds) -> list[dict]:
    """Every seed's report, or [] when one is missing or damaged (said in one line)."""
    paths = [report_path(workdir, config, s) for s in seeds]
    if not all(p.exists() for p in paths):
        return []
    try:
        return [read_json(p) for p in paths]
    except InputError as error:
        warn(f"{error}; `repsim-jax evaluate --workdir {workdir}` rewrites it")
        return []


def restore(workdir: str) -> Run:
    """The run in ``workdir`` at its newest checkpoint that restores (damaged newer ones
    are skipped, one line each): a single run, a vmapped group (one model per seed) or
    one seed of a group (``GROUP/seed<s>``). Reads the workdir only: no lock, no file
    written, ``model.init_from`` never read (the checkpoint holds those weights)."""
    found = locate(workdir)
    if found is None:
        raise FileNotFoundError(f"no config.json in {workdir}: not a workdir written by repsim-jax")
    root, seed = found
    run = _restore_run(root)
    return run if seed is None else run.seed_run(seed)


def _restore_run(workdir: str) -> Run:
    config = read_config(workdir)
    seeds = _seeds(config)
    built = build(config)
    built = built._replace(model=without_init_file(built.model))
    ckpt = Checkpointer(workdir, read_only=True)
    try:
        state, _ = ckpt.restore(_abstract_state(config, built, seeds))
    finally:
        ckpt.close()
    models = trained_models(built.model, state, seeds, str(workdir))
    return Run(config, str(workdir), built, state, models, _read_reports(workdir, config, seeds))
