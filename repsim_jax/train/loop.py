"""``fit``: whole epochs under one ``jit``, evaluation, checkpoints and exact resumption.

The dataset lives on the device(s); one epoch is a single compiled program: a
permutation drawn from the state's key, then ``lax.scan`` of the pure step over the
batches (the last partial batch is dropped, or with ``keep_last_batch`` taken as one
smaller step). Several seeds run as one program with
``vmap``. On a ``("seeds", "data")`` mesh (:mod:`repsim_jax.train.mesh`) the same program
runs with the seed members' states sharded on ``"seeds"``, the training rows and every
batch on ``"data"`` (each process reads only the rows of its own devices, see
:mod:`repsim_jax.train.placement`; padding rows are never drawn); evaluation data and an
online teacher's variables are replicated.

Resumption: a checkpoint (step = epoch) is written every ``checkpoint_every`` epochs;
its JSON part holds the data-iterator state ``{"epoch": e}``. Every random draw derives
from the state's key, so a run resumed from epoch ``e`` replays exactly what an
uninterrupted run does after epoch ``e`` and ends with the same parameters. A damaged
newest checkpoint is skipped (and deleted) for the newest one that restores
(:meth:`repsim_jax.train.checkpoint.Checkpointer.restore`). Logs agree with the
checkpoints: an epoch's rows are appended to ``metrics.jsonl`` before its checkpoint is
saved, and on every start the log is cut back to the restored epoch (emptied when there
is no checkpoint, e.g. a run killed before its first one committed; a partial last line
is dropped), so no row appears twice and every checkpointed epoch has its rows;
TensorBoard (``WORKDIR/tb``) purges its events after the restored step.

Evaluation, every ``eval_every`` epochs and at the last: the eval set's accuracy,
cross-entropy and agreement (``eval/<name>``, one jitted program over the seeds), and
``curves(state)`` when given (``eval/<split>/<name>``: report quantities per seed, see
:class:`repsim_jax.evaluate.Curves`); both depend on the state alone, so a resumed run logs
the rows an uninterrupted one does.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from etils import epath
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm.auto import tqdm

from repsim_jax.data.rows import Rows, checked_columns
from repsim_jax.errors import InputError
from repsim_jax.lm.data import TokenStream
from repsim_jax.models import predict, without_init_file
from repsim_jax.train import fsdp
from repsim_jax.train.checkpoint import Checkpointer, saved_steps
from repsim_jax.train.mesh import seeds_data_mesh
from repsim_jax.train.placement import place, place_rows
from repsim_jax.train.spec import Data, Schedule, Student, Teacher, embedding_dim
from repsim_jax.train.state import TrainState, initialiser
from repsim_jax.train.step import make_eval_fn, make_lm_train_step, make_train_step
from repsim_jax.workdir import metrics_path, tensorboard_dir, warn, write_text

__all__ = ["FitResult", "NonFiniteLossError", "fit", "teacher_outputs"]


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN/Inf loss; the last good checkpoint is kept."""


@dataclasses.dataclass
class FitResult:
    """Final state (stacked over seeds when several), the rows this call appended to
    ``metrics.jsonl`` and the number of epochs done."""

    state: TrainState
    history: list[dict]
    epochs: int


def teacher_outputs(teacher, x, batch_size: int = 4096, preprocess=None) -> dict:
    """Cached teacher targets ``{"teacher_embeddings", "teacher_logits"}`` for ``x``;
    ``teacher`` is a :class:`repsim_jax.models.TrainedModel` (``model``, ``variables``)."""
    emb, logits = predict(teacher.model, teacher.variables, x, batch_size, preprocess)
    return {"teacher_embeddings": np.asarray(emb), "teacher_logits": np.asarray(logits)}


def _teacher_columns(teacher, preprocess) -> Callable[[dict], dict] | None:
    """``rows -> cached teacher outputs`` for the training rows a process reads (None
    without a teacher to cache)."""
    if teacher is None:
        return None
    return lambda rows: teacher_outputs(teacher, rows["x"], preprocess=preprocess)


def _check_finite(x, name: str) -> None:
    """Refuse non-finite inputs. Training rows are checked on the placed (global) array,
    so with several processes every process sees the same answer and raises together."""
    if jnp.issubdtype(x.dtype, jnp.floating) and not bool(jax.jit(lambda v: jnp.all(jnp.isfinite(v)))(x)):
        raise InputError(f"{name} data: 'x' contains NaN or Inf")


def _check_mesh(mesh: Mesh, num_seeds: int | None, batch_size: int) -> Mesh:
    """``mesh`` as ``("seeds", "data"[, "fsdp"])``, checked against the run: a single run
    (``num_seeds`` None) needs a seeds axis of 1, a group a seeds axis dividing it, the
    batch rows divide over ``data × fsdp``."""
    mesh = seeds_data_mesh(mesh)
    seeds, data = mesh.shape["seeds"], mesh.shape["data"] * mesh.shape.get("fsdp", 1)
    if num_seeds is None and seeds != 1:
        raise InputError(f"a single-seed run needs a seeds axis of 1, got a mesh of seeds={seeds}, data={data}")
    if num_seeds is not None and num_seeds % seeds:
        raise InputError(f"{num_seeds} seeds do not divide over the mesh's seeds axis of {seeds}")
    if batch_size % data:
        raise InputError(f"batch_size {batch_size} not divisible by the mesh's data (× fsdp) axes of {data} devices")
    return mesh


def _make_epoch_fn(step, n, batch_size, teacher_model, preprocess, augment, batch_sharding, keep_last=False):
    """``epoch(state, data, teacher_variables) -> (state, per-step metrics)``: ``n // batch_size``
    full batches of a permutation, then with ``keep_last`` one more step on the remaining
    ``n % batch_size`` rows (PyTorch's ``DataLoader`` without ``drop_last``; its loss the mean
    over those rows), compiled as a second, smaller step after the scan."""
    steps, remainder = divmod(n, batch_size)
    remainder = remainder if keep_last else 0
    eval_apply = make_eval_fn(teacher_model) if teacher_model is not None else None

    def epoch(state, data, teacher_variables):
        perm_key, rng = jax.random.split(state.rng)
        state = state.replace(rng=rng)
        order = jax.random.permutation(perm_key, n)

        def body(state, inputs):
            i, idx = inputs
            batch = {k: v[idx] for k, v in data.items()}
            if preprocess is not None:
                batch["x"] = preprocess(batch["x"])
            if eval_apply is not None:
                t_params = {"model": teacher_variables["params"]}
                t_stats = teacher_variables.get("batch_stats", {})
                emb, logits = eval_apply(t_params, t_stats, batch["x"])[:2]
                batch["teacher_embeddings"], batch["teacher_logits"] = emb, logits
            if augment is not None:
                batch["x"] = augment(jax.random.fold_in(perm_key, i), batch["x"])
            if batch_sharding is not None and len(idx) % batch_sharding.mesh.shape["data"] == 0:
                batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
            return step(state, batch)

        full = order[: steps * batch_size].reshape(steps, batch_size)
        state, metrics = jax.lax.scan(body, state, (jnp.arange(steps), full))
        if not remainder:
            return state, metrics
        state, last = body(state, (steps, order[steps * batch_size :]))
        return state, jax.tree.map(lambda a, b: jnp.concatenate([a, b[None]]), metrics, last)

    return epoch


def _make_eval(model, preprocess, has_teacher):
    """``evaluate(state, data) -> {"accuracy", "ce", ["agreement"]}`` on full data."""
    apply = make_eval_fn(model)

    def evaluate(state, data):
        x = preprocess(data["x"]) if preprocess else data["x"]
        _, logits = apply(state.params, state.batch_stats, x)[:2]
        pred = jnp.argmax(logits, -1)
        log_p = jax.nn.log_softmax(logits)
        out = {
            "accuracy": jnp.mean(pred == data["y"]),
            "ce": -jnp.mean(jnp.take_along_axis(log_p, data["y"][:, None], -1)),
        }
        if has_teacher:
            out["agreement"] = jnp.mean(pred == jnp.argmax(data["teacher_logits"], -1))
        return out

    return evaluate


class _MetricsLog:
    """``metrics.jsonl`` (JSON rows, appended) and TensorBoard event files under ``tb/``
    (``tb/seed<s>/`` per member of a vmapped group), written by process 0."""

    def __init__(self, workdir: epath.Path, seeds: list[int], grouped: bool):
        self.path = metrics_path(workdir)
        self._tb = {s: tensorboard_dir(workdir, s, grouped) for s in seeds}
        self._writers: dict = {}
        self._purge_step: int | None = None

    def truncate_after(self, epoch: int, step: int) -> None:
        """Keep the rows up to the restored checkpoint's ``epoch`` (0: none, the run starts
        afresh) and drop a partial last line (a write cut short by a kill: its epoch was
        never checkpointed); a complete line that is not JSON is dropped with a warning.
        TensorBoard hides the events after ``step``."""
        if any(d.exists() for d in self._tb.values()):
            self._purge_step = step + 1
        if jax.process_index() or not self.path.exists():
            return
        text = self.path.read_text()
        *complete, _partial = text.split("\n")
        kept, damaged = [], []
        for number, line in enumerate(complete, 1):
            try:
                row = json.loads(line) if line.strip() else None
            except ValueError:
                damaged.append(number)
                continue
            if isinstance(row, dict) and row.get("epoch", 0) <= epoch:
                kept.append(line + "\n")
        if damaged:
            warn(f"{self.path}: dropped line(s) {', '.join(map(str, damaged))}, not JSON")
        if "".join(kept) != text:
            write_text(self.path, "".join(kept))

    def append(self, rows: list[dict]) -> None:
        if jax.process_index() or not rows:
            return
        with self.path.open("a") as file:
            file.write("".join(json.dumps(r) + "\n" for r in rows))
        for row in rows:
            writer = self._writer(row["seed"])
            for key, value in row.items():
                if "/" in key and value is not None:
                    writer.add_scalar(key, value, row["step"])

    def _writer(self, seed: int):
        if seed not in self._writers:
            # imported here: tensorboardX imports torch whenever it is installed
            from tensorboardX import SummaryWriter

            self._writers[seed] = SummaryWriter(str(self._tb[seed]), purge_step=self._purge_step)
        return self._writers[seed]

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


def _rows(epoch, step, seeds, train_metrics, eval_metrics, curve_values=None):
    """One row per seed: mean of per-step train metrics, and eval metrics if any, then the
    seed's curve values (``{"<split>/<name>": value}``) as ``eval/<split>/<name>``."""
    rows = []
    for s, seed in enumerate(seeds):
        row = {"epoch": epoch, "step": int(step[s]), "seed": int(seed)}
        row.update({f"train/{k}": float(v[s]) for k, v in train_metrics.items()})
        if eval_metrics is not None:
            row.update({f"eval/{k}": float(v[s]) for k, v in eval_metrics.items()})
        if curve_values is not None:
            row.update({f"eval/{k}": v for k, v in curve_values[s].items()})
        rows.append(row)
    return rows


def _resume(ckpt: Checkpointer, state, num_epochs: int) -> tuple[TrainState, dict]:
    """``(state, data state)`` of the newest checkpoint that restores onto ``state``'s
    structure (the data state: ``{"epoch": e[, "iterator": token-stream state]}``); newer,
    damaged steps are deleted so training can save them again. InputError when that
    checkpoint holds more epochs than ``num_epochs``."""
    state, meta = ckpt.restore(state)
    start = int(meta["data_state"]["epoch"])
    if start > num_epochs:
        raise InputError(
            f"{ckpt.directory}/{start} holds a model trained for {start} epochs, more than "
            f"num_epochs={num_epochs}: ask for {start} or more, or use a new workdir"
        )
    ckpt.discard_after(start)
    return state, meta["data_state"]


def _stopped(losses: np.ndarray, epoch: int, seeds: list[int], last_good: int, directory) -> str:
    """The NonFiniteLossError message for (seeds, steps) ``losses`` of ``epoch`` (0-based),
    saying truthfully what is kept."""
    seed, step = np.argwhere(~np.isfinite(losses))[0]
    kept = (
        f"the last good checkpoint (epoch {last_good}) is kept in {directory}"
        if last_good
        else f"no checkpoint was saved before it ({directory} holds none), so a re-run starts afresh"
    )
    return (
        f"non-finite loss {losses[seed, step]} at epoch {epoch + 1}, step {step + 1} (seed {seeds[seed]}); "
        f"stopped, {kept}"
    )


def _train_epochs(
    workdir,
    state,
    run_epoch: Callable,
    evaluate: Callable | None,
    schedule: Schedule,
    *,
    curves: Callable | None = None,
    seed_list: list[int],
    vmapped: bool,
    resuming: bool,
    steps_per_epoch: int,
    iterator=None,
) -> FitResult:
    """The epoch loop of :func:`fit`: resume, then ``run_epoch(state) -> (state, per-step
    metrics)`` epoch after epoch, ``evaluate(state)`` and ``curves(state)`` (one dict per
    seed) every ``schedule.eval_every`` epochs and at the last, rows logged, checkpoints saved.
    ``iterator``: the token stream ``run_epoch`` reads, whose ``get_state()`` each
    checkpoint holds and whose ``set_state`` a resume calls."""
    workdir = epath.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    num_epochs, stop_after_epochs = schedule.num_epochs, schedule.stop_after_epochs
    ckpt = Checkpointer(workdir, keep=schedule.keep)
    log = _MetricsLog(workdir, seed_list, vmapped)
    history: list[dict] = []
    try:
        state, data_state = _resume(ckpt, state, num_epochs) if resuming else (state, {"epoch": 0})
        start = int(data_state["epoch"])
        if iterator is not None and start:
            iterator.set_state(data_state["iterator"])
        log.truncate_after(start, start * steps_per_epoch)
        last_good = start
        end = num_epochs if stop_after_epochs is None else min(num_epochs, start + stop_after_epochs)
        bar = tqdm(
            range(start, end),
            initial=start,
            total=num_epochs,
            desc=schedule.desc,
            disable=not schedule.progress or jax.process_index() != 0,
        )
        with bar:
            for epoch in bar:
                state, per_step = run_epoch(state)
                losses = np.asarray(per_step["loss"]).reshape(len(seed_list), -1)
                if not np.all(np.isfinite(losses)):
                    raise NonFiniteLossError(_stopped(losses, epoch, seed_list, last_good, ckpt.directory))
                done = epoch + 1
                means = {k: np.asarray(v).reshape(len(seed_list), -1).mean(-1) for k, v in per_step.items()}
                evals, curve_values = None, None
                if done % schedule.eval_every == 0 or done == num_epochs:
                    if evaluate is not None:
                        evals = {k: np.asarray(v).reshape(-1) for k, v in evaluate(state).items()}
                    if curves is not None:
                        curve_values = curves(state)
                steps = np.full(len(seed_list), done * steps_per_epoch)
                rows = _rows(done, steps, seed_list, means, evals, curve_values)
                log.append(rows)  # before the checkpoint: a committed epoch always has its rows
                history.extend(rows)
                if done % schedule.checkpoint_every == 0 or done == end:
                    data_state = {"epoch": done}
                    if iterator is not None:
                        data_state["iterator"] = iterator.get_state()
                    ckpt.save(done, state, {"data_state": data_state, "seeds": seed_list})
                    last_good = done
                bar.set_postfix(loss=f"{float(means['loss'].mean()):.4g}")
    finally:
        ckpt.close()
        log.close()
    return FitResult(state=state, history=history, epochs=end)


def _global_batch(batch: dict, sharding: NamedSharding | None) -> dict:
    """A process's batch as the global batch laid out by ``sharding`` (rows on ``"data"``;
    each process passes its own rows, in process order); on the default device without one."""
    if sharding is None:
        return jax.device_put(batch)
    if jax.process_count() > 1:
        return jax.tree.map(lambda a: jax.make_array_from_process_local_data(sharding, a), batch)
    return jax.device_put(batch, sharding)


def _fit_tokens(student: Student, stream: TokenStream, workdir, schedule: Schedule, teacher, mesh) -> FitResult:
    """:func:`fit` of a language model on a token stream: each process reads its shard's
    batches (``stream.batch_size`` rows; ``schedule.batch_size`` rows over all processes), one
    jitted :func:`repsim_jax.train.step.make_lm_train_step` per batch (vmapped over seeds,
    on the mesh: states on ``"seeds"``, batches on ``"data"``, the teacher replicated; with
    an ``"fsdp"`` axis, parameters, optimiser state and teacher sharded on it and batches
    on ``("data", "fsdp")``: :mod:`repsim_jax.train.fsdp`),
    ``stream.steps_per_epoch`` steps per epoch. Every checkpoint holds the stream's
    iterator state, so a resumed run reads the batches an uninterrupted one reads next."""
    model, loss, tx, batch_size = student.model, student.loss, student.tx, schedule.batch_size
    if stream.batch_size * jax.process_count() != batch_size:
        raise InputError(
            f"batch_size {batch_size} is not {jax.process_count()} process(es) × {stream.batch_size} streamed rows"
        )
    if loss.needs_teacher and teacher is None:
        raise InputError(f"loss {loss.name!r} needs a teacher")
    vmapped, seed_list = student.vmapped, student.seed_list
    if mesh is not None:
        mesh = _check_mesh(mesh, len(seed_list) if vmapped else None, batch_size)
    sample_x = jnp.asarray(stream.example()["x"])
    teacher_dim = embedding_dim(teacher, sample_x) if loss.needs_teacher else None
    resuming = bool(saved_steps(workdir))
    init_model = without_init_file(model) if resuming else model
    init = initialiser(student.seeds, init_model, loss, tx, sample_x, teacher_dim)
    step = make_lm_train_step(model, loss, tx, teacher.model if loss.needs_teacher else None)
    teacher_vars = teacher.variables if loss.needs_teacher else None
    if vmapped:
        step = jax.vmap(step, in_axes=(0, None, None), spmd_axis_name="seeds" if mesh is not None else None)
    batch_sharding = None
    if mesh is not None:
        state_shardings = fsdp.tree_shardings(jax.eval_shape(init), mesh, stacked=vmapped)
        batch_sharding = fsdp.batch_sharding(mesh)
        state = jax.jit(init, out_shardings=state_shardings)()
        teacher_vars = place(teacher_vars, fsdp.tree_shardings(teacher_vars, mesh))
        step_jit = jax.jit(step, out_shardings=(state_shardings, NamedSharding(mesh, P())), donate_argnums=0)
    else:
        state = jax.jit(init)()
        step_jit = jax.jit(step, donate_argnums=0)
    iterator = stream.iterator()

    def run_epoch(state):
        per_step = []
        for _ in range(stream.steps_per_epoch):
            state, metrics = step_jit(state, _global_batch(next(iterator), batch_sharding), teacher_vars)
            per_step.append(metrics)
        return state, jax.tree.map(lambda *values: jnp.stack(values, axis=-1), *per_step)

    schedule = dataclasses.replace(schedule, eval_every=1)
    return _train_epochs(
        workdir,
        state,
        run_epoch,
        None,
        schedule,
        seed_list=seed_list,
        vmapped=vmapped,
        resuming=resuming,
        steps_per_epoch=stream.steps_per_epoch,
        iterator=iterator,
    )


def fit(
    student: Student, data: Data, workdir, schedule: Schedule, teacher: Teacher | None = None, mesh: Mesh | None = None
) -> FitResult:
    """Train ``student`` on ``data`` in ``workdir`` (resuming from its checkpoints) as
    ``schedule`` says: in-memory columns or :class:`repsim_jax.data.rows.Rows` read on
    demand (on a mesh, each process reads only its devices' rows:
    :func:`repsim_jax.train.placement.place_rows`), or a language model's
    :class:`repsim_jax.lm.data.TokenStream` (:func:`_fit_tokens`: one jitted step per
    batch, the stream's position in every checkpoint; the teacher online; no in-training
    evaluation). The groups are described in :mod:`repsim_jax.train.spec`.

    Args:
      teacher: a distillation loss needs it, or precomputed ``teacher_embeddings``/
        ``teacher_logits`` columns in ``data.train``; with ``data.eval`` its outputs
        there add the ``agreement`` metric.
      mesh: a ``("seeds", "data")`` mesh (:func:`repsim_jax.train.mesh.make_mesh`), or a
        1-D ``("data",)`` one for a single seed; None: the default device. A language
        model may also take a ``("seeds", "data", "fsdp")`` mesh (sharded parameters).

    Returns:
      :class:`FitResult`. Raises :class:`NonFiniteLossError` on a NaN/Inf loss (the
      state of that epoch is not saved).
    """
    if data.is_stream:
        if schedule.keep_last_batch:
            raise InputError("keep_last_batch is for rows: a token stream's batches are always whole")
        if teacher is not None and teacher.mode != "online":
            raise InputError("language models are distilled online: set teacher.mode to 'online'")
        trained = teacher.trained if teacher is not None else None
        return _fit_tokens(student, data.train, workdir, schedule, trained, mesh)
    if mesh is not None and "fsdp" in mesh.axis_names:
        raise InputError("mesh.fsdp shards a language model's parameters: other runs need mesh.fsdp = 1")
    model, loss, tx, preprocess = student.model, student.loss, student.tx, data.preprocess
    rows = data.train if isinstance(data.train, Rows) else Rows.from_arrays(data.train)
    n, example = len(rows), rows.example()
    steps_per_epoch = schedule.steps_per_epoch(n)
    eval_data = data.eval
    if eval_data is not None:
        eval_data = checked_columns(eval_data, "eval")
        _check_finite(eval_data["x"], "eval")
    vmapped, seed_list = student.vmapped, student.seed_list
    if mesh is not None:
        mesh = _check_mesh(mesh, len(seed_list) if vmapped else None, schedule.batch_size)

    trained = teacher.trained if teacher is not None else None
    online = loss.needs_teacher and trained is not None and teacher.mode == "online"
    if loss.needs_teacher and trained is None and "teacher_logits" not in example:
        raise InputError(f"loss {loss.name!r} needs a teacher (or cached teacher outputs)")
    add_columns = _teacher_columns(trained if not online and loss.needs_teacher else None, preprocess)
    sample_x = jnp.asarray(example["x"])
    sample_x = preprocess(sample_x) if preprocess else sample_x
    teacher_dim = None
    if trained is not None:
        if eval_data is not None:
            eval_data.update(teacher_outputs(trained, eval_data["x"], preprocess=preprocess))
        teacher_dim = embedding_dim(trained, sample_x)
    elif "teacher_embeddings" in example:
        teacher_dim = example["teacher_embeddings"].shape[-1]

    # a resumed run's checkpoint holds the weights init_from gave: never read that file again
    resuming = bool(saved_steps(workdir))
    init_model = without_init_file(model) if resuming else model
    init = initialiser(student.seeds, init_model, loss, tx, sample_x, teacher_dim)
    teacher_vars = trained.variables if online else None

    step = make_train_step(model, loss, tx, student.concept_weight, student.concept_loss)
    batch_sharding = NamedSharding(mesh, P("data")) if mesh is not None else None
    epoch_fn = _make_epoch_fn(
        step,
        n,
        schedule.batch_size,
        trained.model if online else None,
        preprocess,
        data.augment,
        batch_sharding,
        schedule.keep_last_batch,
    )
    eval_fn = _make_eval(model, preprocess, eval_data is not None and "teacher_logits" in eval_data)
    if vmapped:
        axis = "seeds" if mesh is not None else None
        epoch_fn = jax.vmap(epoch_fn, in_axes=(0, None, None), spmd_axis_name=axis)
        eval_fn = jax.vmap(eval_fn, in_axes=(0, None), spmd_axis_name=axis)
    if mesh is not None:
        per_seed = NamedSharding(mesh, P("seeds") if vmapped else P())
        rep = NamedSharding(mesh, P())
        state = jax.jit(init, out_shardings=per_seed)()
        train_data = place_rows(rows, NamedSharding(mesh, P("data")), add_columns)
        teacher_vars, eval_data = place(teacher_vars, rep), place(eval_data, rep)
        epoch_jit = jax.jit(epoch_fn, out_shardings=(per_seed, rep), donate_argnums=0)
        eval_jit = jax.jit(eval_fn, out_shardings=rep)
    else:
        state = jax.jit(init)()
        train_data = rows.read_all()
        train_data = jax.device_put({**train_data, **(add_columns(train_data) if add_columns else {})})
        eval_data = None if eval_data is None else jax.device_put(eval_data)
        epoch_jit, eval_jit = jax.jit(epoch_fn, donate_argnums=0), jax.jit(eval_fn)
    _check_finite(train_data["x"], "train")

    evaluate = None if eval_data is None else (lambda state: eval_jit(state, eval_data))
    run_epoch = lambda state: epoch_jit(state, train_data, teacher_vars)
    return _train_epochs(
        workdir,
        state,
        run_epoch,
        evaluate,
        schedule,
        curves=data.curves,
        seed_list=seed_list,
        vmapped=vmapped,
        resuming=resuming,
        steps_per_epoch=steps_per_epoch,
    )
