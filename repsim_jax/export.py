"""Trained models as representation files: workdirs in, ``.npz`` (and comparisons) out.

A model trained here is described on one data split by its ``embeddings`` (n, d),
``unembeddings`` (K, d), ``logits`` (n, K) and the split's ``labels`` (and
``concepts``), the layout :mod:`repsim_jax.io` reads; a language model's rows are the
split's token positions (``embeddings`` the final hidden states, ``labels`` the next
tokens, K the vocabulary). :func:`load_model` accepts either an ``.npz`` file or a
workdir (a single run, or one seed of a group: ``GROUP/seed<s>``), so ``compare`` and
``bounds`` take both.
"""

from __future__ import annotations

import functools

import numpy as np
from etils import epath

from repsim_jax.bound_table import STREAM_ENTRIES
from repsim_jax.errors import InputError
from repsim_jax.experiment import Run, locate, restore
from repsim_jax.io import Representation, load_representation, save_npz
from repsim_jax.lm.data import TextData
from repsim_jax.lm.evaluate import position_arrays
from repsim_jax.workdir import config_path, is_workdir, read_json, seed_dir, warn

__all__ = ["split_arrays", "export", "model_loader", "load_model", "model_paths"]


def split_arrays(run: Run, split: str = "test") -> dict[int, dict[str, np.ndarray]]:
    """``{seed: {"embeddings", "unembeddings", "logits", "labels"[, "concepts"]}}`` of
    every model of ``run`` on ``split``."""
    data = run.built.data
    if split not in data.splits:
        raise InputError(f"{run.workdir}: no split {split!r}; splits {sorted(data.splits)}")
    rows = data.splits[split]
    if isinstance(data, TextData):
        return {model.seed: _language_model_arrays(model, rows, f"{run.workdir} ({split})") for model in run.models}
    out = {}
    for model in run.models:
        emb, logits = model.outputs(rows["x"], data.preprocess)
        arrays = {
            "embeddings": emb,
            "unembeddings": model.unembeddings,
            "logits": logits,
            "labels": np.asarray(rows["y"]),
        }
        if "concepts" in rows:
            arrays["concepts"] = np.asarray(rows["concepts"])
        out[model.seed] = arrays
    return out


def _language_model_arrays(model, tokens, where: str) -> dict[str, np.ndarray]:
    """A language model's arrays with one row per position of ``tokens``
    (:func:`repsim_jax.lm.evaluate.position_arrays`; ``labels`` are the next tokens). The
    logits (``f gᵀ`` exactly: the head has no bias) are left out, said in one line, when
    they would have more than ``bound_table.STREAM_ENTRIES`` entries: ``compare`` and
    ``bounds`` then use the embeddings and unembeddings (``bounds`` in chunks)."""
    positions = tokens.shape[0] * (tokens.shape[1] - 1)
    entries = positions * model.model.vocab_size
    if entries > STREAM_ENTRIES:
        warn(
            f"{where}: logits of {positions} positions x {model.model.vocab_size} tokens not stored "
            f"(> {STREAM_ENTRIES:.0e} entries); they are embeddings @ unembeddings.T"
        )
    return position_arrays(model, tokens, logits=entries <= STREAM_ENTRIES)


def export(workdir: str, out: str, split: str = "test", seed: int | None = None) -> list[str]:
    """Write the models of ``workdir`` on ``split`` as ``.npz``: to ``out`` (a path
    ending in ``.npz``) for one model (or the chosen ``seed``), else to
    ``<out stem>_seed<s>.npz`` per seed."""
    if not str(out).endswith(".npz"):
        raise InputError(f"{out}: an export is an .npz file; give an output path ending in .npz")
    run = restore(workdir)
    if seed is not None and seed not in run.seeds:
        raise InputError(f"{workdir} has no seed {seed}; seeds {run.seeds}")
    chosen = {s: a for s, a in split_arrays(run, split).items() if seed is None or s == seed}
    stem = str(out).removesuffix(".npz")
    paths = [f"{stem}.npz"] if len(chosen) == 1 else [f"{stem}_seed{s}.npz" for s in chosen]
    for path, arrays in zip(paths, chosen.values()):
        save_npz(path, arrays)
    return paths


def model_loader(split: str = "test"):
    """``load(path) -> Representation``: an ``.npz`` file, or the model of a workdir (or
    of ``GROUP/seed<s>``) on ``split``. Each run is restored once, however many of its
    seeds are loaded, and each model's outputs are computed once."""
    runs = functools.lru_cache(maxsize=None)(restore)

    @functools.lru_cache(maxsize=None)
    def load(path: str) -> Representation:
        found = locate(path)
        if found is None:
            return load_representation(path)
        root, seed = found
        run = runs(root) if seed is None else runs(root).seed_run(seed)
        if len(run.models) != 1:
            raise InputError(f"{path} holds {len(run.models)} seeds {run.seeds}; pass {path}/seed<s>")
        arrays = next(iter(split_arrays(run, split).values()))
        return Representation(arrays["embeddings"], arrays["unembeddings"], arrays.get("logits"))

    return load


def load_model(path: str, split: str = "test") -> Representation:
    """An ``.npz`` representation, or the model of a workdir on ``split``."""
    return model_loader(split)(path)


def _workdir_models(workdir: epath.Path) -> list[str]:
    seeds = read_json(config_path(workdir))["seeds"]
    return [str(workdir)] if len(seeds) == 1 else [str(seed_dir(workdir, s)) for s in seeds]


def model_paths(directory: str) -> list[str]:
    """Every model in ``directory``: the seeds of a workdir, or the ``.npz`` files and
    workdirs (a group expanded to ``GROUP/seed<s>``) inside a directory, sorted;
    ValueError when there is none."""
    root = epath.Path(directory)
    if not root.is_dir():
        raise InputError(f"{directory}: not a directory")
    if is_workdir(root):
        return _workdir_models(root)
    found = []
    for entry in sorted(root.iterdir()):
        if entry.name.endswith(".npz"):
            found.append(str(entry))
        elif entry.is_dir() and is_workdir(entry):
            found += _workdir_models(entry)
    if not found:
        raise InputError(f"{directory}: no .npz files or workdirs")
    return found
