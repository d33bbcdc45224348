"""Experiment configs: ``get_config()`` files with ``ml_collections.config_flags`` semantics.

``load_config("synthetic:quick", ["--config.optim.learning_rate=1e-2"])`` loads the
packaged config ``repsim_jax/configs/synthetic.py`` (or a user's ``PATH.py[:PRESET]``),
calls ``get_config("quick")`` (``get_config()`` without a preset), locks the config and
applies each ``--config.section.key=value`` override exactly as
``config_flags.DEFINE_config_file`` does (values parsed to the field's declared type).
Every key is declared by the config file, so an unknown key, a dotted key under a
field that is not a section, a bad value, a syntax error or a missing file raises
:class:`~repsim_jax.errors.InputError` / ``FileNotFoundError`` with one clear line.
Every numeric key's valid range is declared once, in :data:`VALUE_RANGES`, and checked
by :func:`check_values` on every config loaded (:func:`load_config`) or read back from a
workdir (:func:`with_defaults`). Nothing here reads files relative to the source tree or
changes ``sys.path``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.resources
import math
import pathlib
from collections.abc import Mapping

import ml_collections
from absl import flags
from ml_collections import config_flags

from repsim_jax.configs import common
from repsim_jax.errors import InputError

__all__ = [
    "CONFIG_NAMES",
    "VALUE_RANGES",
    "ValueRange",
    "base_config",
    "check_values",
    "config_file",
    "experiment_config",
    "load_config",
    "presets",
    "with_defaults",
    "with_values",
]

CONFIG_NAMES = ("synthetic", "cifar100", "concepts", "sub", "lm")
"""The experiments packaged in :mod:`repsim_jax.configs`, addressable by name."""


def config_file(name: str) -> pathlib.Path:
    """The file of a packaged config (``synthetic``), or of a user's ``PATH.py``.

    A path of the old checkout layout (``experiments/configs/synthetic.py``) that no longer
    exists names the packaged config of the same name."""
    path = pathlib.Path(name)
    if path.suffix != ".py" and name in CONFIG_NAMES:
        return pathlib.Path(str(importlib.resources.files("repsim_jax.configs") / f"{name}.py"))
    if path.suffix == ".py" and not path.is_file() and path.stem in CONFIG_NAMES and path.parent.name == "configs":
        return config_file(path.stem)
    if path.suffix != ".py":
        raise InputError(f"unknown config {name!r}; choose one of {', '.join(CONFIG_NAMES)} or a PATH.py file")
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {name}")
    return path


def presets(name: str) -> tuple[str, ...]:
    """The presets a packaged config declares (``PRESETS``, ``default`` first)."""
    if name not in CONFIG_NAMES:
        raise InputError(f"unknown config {name!r}; choose one of {', '.join(CONFIG_NAMES)}")
    return importlib.import_module(f"repsim_jax.configs.{name}").PRESETS


def _check_syntax(path: pathlib.Path) -> None:
    try:
        compile(path.read_bytes(), str(path), "exec")
    except SyntaxError as error:
        raise InputError(f"{path}:{error.lineno}: syntax error in config file: {error.msg}") from None
    except ValueError as error:  # null bytes: not a Python source file
        raise InputError(f"{path}: not a Python config file ({error})") from None


def _flag_parse(path: pathlib.Path, spec: str, overrides) -> ml_collections.ConfigDict:
    argv = ["repsim-jax", f"--config={spec}", *overrides]
    values = flags.FlagValues()
    config_flags.DEFINE_config_file(
        "config", None, "experiment config", flag_values=values, lock_config=True, sys_argv=argv
    )
    try:
        values(argv)
    except flags.Error as err:
        raise InputError(_last_line(str(err))) from None
    except Exception as error:
        line = _line_in(path, error.__traceback__)
        if line is None:  # not raised by the config file's code: a bug elsewhere
            raise
        raise InputError(f"{path}:{line}: {type(error).__name__} in get_config: {error}") from None
    return values.config


def _line_in(path: pathlib.Path, traceback) -> int | None:
    """The line of ``path`` nearest the raise in ``traceback``, if it passed through that file."""
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == str(path):
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _last_line(message: str) -> str:
    """An error from inside ``get_config`` arrives with its traceback: keep its last line."""
    message = message.removeprefix("flag ")
    if "Traceback" not in message:
        return message
    last = message.strip().splitlines()[-1].removeprefix(f"{InputError.__module__}.{InputError.__name__}: ")
    return message.split(":", 1)[0] + ": " + last


def _check_override(config: ml_collections.ConfigDict, token: str) -> None:
    if not token.startswith("--config.") or "=" not in token:
        raise InputError(f"unrecognised argument {token!r}; overrides look like --config.section.key=value")
    key = token[len("--config.") :].partition("=")[0]
    node, walked = config, []
    for part in key.split("."):
        if not isinstance(node, ml_collections.ConfigDict):
            raise InputError(f"bad config key {key!r}: {'.'.join(walked)!r} is a value, not a section")
        if part not in node:
            where = f"section {'.'.join(walked)!r}" if walked else "the config"
            raise InputError(f"unknown config key {key!r}; {where} has keys {', '.join(sorted(node.keys()))}")
        node, walked = node[part], [*walked, part]


def load_config(spec: str, overrides=()) -> ml_collections.ConfigDict:
    """The locked config named by ``NAME[:PRESET]`` (a packaged config) or
    ``PATH.py[:PRESET]`` (a file of your own), with ``--config.a.b=value`` overrides."""
    name, colon, preset = spec.partition(":")
    path = config_file(name)
    _check_syntax(path)
    file_spec = f"{path}{colon}{preset}"
    overrides = list(overrides)
    base = _flag_parse(path, file_spec, [])
    for token in overrides:
        _check_override(base, token)
    config = _flag_parse(path, file_spec, overrides) if overrides else base
    if not isinstance(config, ml_collections.ConfigDict):
        raise InputError(f"{path}: get_config() must return an ml_collections.ConfigDict, got {type(config).__name__}")
    check_values(config, spec)
    return config


def experiment_config(name: str, preset: str = "default", overrides=()) -> ml_collections.ConfigDict:
    """The packaged config ``name`` (e.g. ``"synthetic"``) at ``preset``, with overrides."""
    return load_config(f"{name}:{preset}", overrides)


def with_values(config: ml_collections.ConfigDict, values: dict) -> ml_collections.ConfigDict:
    """A deep copy of ``config`` with ``{"section.key": value}`` set (declared keys only)."""
    config = config.copy_and_resolve_references()
    for key, value in values.items():
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            node = node[part]
        if leaf not in node:
            raise InputError(f"unknown config key {key!r}")
        node[leaf] = value
    return config


def base_config() -> ml_collections.ConfigDict:
    """Every key with its default: :func:`repsim_jax.configs.common.get_base_config`."""
    return common.get_base_config()


def with_defaults(stored: Mapping, source: str = "config.json") -> ml_collections.ConfigDict:
    """A config read back from a workdir's ``config.json`` (named ``source`` in errors),
    with every key this version declares that it lacks (a workdir written before the key
    existed) at its default. A key this version does not declare, a value of the wrong
    type or out of its range (:func:`check_values`) raises InputError naming ``source``
    and the key."""
    if not isinstance(stored, Mapping):
        raise InputError(f"{source}: expected a JSON object of config sections, got {type(stored).__name__}")
    config = base_config()
    _merge(config, stored, source, "")
    check_values(config, source)
    return config


def _merge(defaults: ml_collections.ConfigDict, values: Mapping, source: str, prefix: str) -> None:
    for key, value in values.items():
        name = f"{prefix}{key}"
        if key not in defaults:
            raise InputError(f"{source}: unknown config key {name!r} (not declared by this version of repsim-jax)")
        if isinstance(defaults[key], ml_collections.ConfigDict):
            if not isinstance(value, Mapping):
                raise InputError(f"{source}: config key {name!r} is a section, got {value!r}")
            _merge(defaults[key], value, source, f"{name}.")
            continue
        try:
            defaults[key] = value
        except TypeError:
            kind = type(defaults[key]).__name__
            raise InputError(f"{source}: config key {name!r} must be of type {kind}, got {value!r}") from None


@dataclasses.dataclass(frozen=True)
class ValueRange:
    """The valid values of one numeric config key: a finite ``kind`` (``int`` or
    ``float``) between ``low`` and ``high``, each end included where ``ends`` says so
    (interval notation, ``"[)"`` = ``low <= v < high``); ``each``: a tuple of such values."""

    kind: type
    low: float
    high: float = math.inf
    ends: str = "[)"
    each: bool = False

    def holds(self, value) -> bool:
        """Whether ``value`` (one value, or a tuple of them with ``each``) is valid."""
        if self.each:
            return isinstance(value, (tuple, list)) and all(self._holds_one(v) for v in value)
        return self._holds_one(value)

    def _holds_one(self, value) -> bool:
        kinds = (int,) if self.kind is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
            return False
        above = value >= self.low if self.ends[0] == "[" else value > self.low
        below = value <= self.high if self.ends[1] == "]" else value < self.high
        return above and below

    def __str__(self) -> str:
        noun = "an integer" if self.kind is int else "a finite number"
        if self.high == math.inf:
            text = f"{noun} {'>=' if self.ends[0] == '[' else '>'} {self.low:g}"
        else:
            text = f"{noun} in {self.ends[0]}{_bound(self.low)}, {_bound(self.high)}{self.ends[1]}"
        return f"a tuple, each entry {text}" if self.each else text


SEED_LIMIT = 2**32
"""Seeds are 32-bit: ``[0, 2**32)``."""


def _bound(value: float) -> str:
    return "2**32" if value == SEED_LIMIT else f"{value:g}"


_SEED = ValueRange(int, 0, SEED_LIMIT)
_SEEDS = ValueRange(int, 0, SEED_LIMIT, each=True)
_COUNT = ValueRange(int, 1)
_COUNT_OR_ZERO = ValueRange(int, 0)
_POSITIVE = ValueRange(float, 0, ends="()")
_WEIGHT = ValueRange(float, 0)

VALUE_RANGES: dict[str, ValueRange] = {
    "seeds": _SEEDS,
    "num_epochs": _COUNT,
    "batch_size": _COUNT,
    "data.num_train": _COUNT_OR_ZERO,
    "data.num_test": _COUNT_OR_ZERO,
    "data.points_per_arm": _COUNT,
    "data.ring_radii": ValueRange(float, 0, each=True),
    "data.seed": _SEED,
    "data.context": _COUNT_OR_ZERO,
    "model.hidden": ValueRange(int, 1, each=True),
    "model.dropout": ValueRange(float, 0, 1),
    "model.embedding_dim": _COUNT,
    "model.vocab": _COUNT_OR_ZERO,
    "model.context": _COUNT,
    "model.width": _COUNT,
    "model.depth": _COUNT,
    "model.heads": _COUNT,
    "optim.learning_rate": _POSITIVE,
    "optim.warmup_epochs": _COUNT_OR_ZERO,
    "optim.decay": ValueRange(float, 0, 1, ends="(]"),
    "loss.ce_weight": _WEIGHT,
    "loss.logit_weight": _WEIGHT,
    "loss.feature_weight": _WEIGHT,
    "loss.concept_weight": _WEIGHT,
    "loss.temperature": _POSITIVE,
    "loss.teacher_dim": _COUNT_OR_ZERO,
    "loss.vocab_chunk": _COUNT_OR_ZERO,
    "eval.every": _COUNT,
    "eval.num_pivots": _COUNT,
    "eval.num_subsets": _COUNT,
    "eval.pivot_seed": _SEED,
    "eval.cca_components": _COUNT_OR_ZERO,
    "checkpoint.every": _COUNT,
    "checkpoint.keep": _COUNT,
    "mesh.seeds": ValueRange(int, -1),
    "mesh.data": ValueRange(int, -1),
    "mesh.fsdp": _COUNT,
    "sweep.seeds": _SEEDS,
    "sweep.dims": ValueRange(int, 1, each=True),
    "reproduce.teacher_seeds": _SEEDS,
    "reproduce.teacher_epochs": _COUNT,
    "reproduce.student_epochs": _COUNT,
    "reproduce.bound_every": _COUNT,
    "reproduce.finetune_sizes": ValueRange(int, 1, each=True),
}
"""Every numeric key of :func:`repsim_jax.configs.common.get_base_config` and its valid
values: sizes, epochs and counts >= 1 (``num_train``/``num_test``/``cca_components``/
``teacher_dim``/``warmup_epochs``/``data.context``/``model.vocab``/``loss.vocab_chunk``: 0 allowed,
meaning "all"/"unset"/"none"/"the default"), seeds in
``[0, 2**32)``, ``dropout`` in ``[0, 1)``, ``decay`` in ``(0, 1]``, learning rate and
temperature finite > 0, loss weights finite >= 0, mesh axes >= -1 (0 = default, -1 = the rest;
``mesh.fsdp`` >= 1)."""


def check_values(config: ml_collections.ConfigDict, source: str = "") -> None:
    """Raises InputError naming the first key of :data:`VALUE_RANGES` whose value in
    ``config`` is out of range (``source``, e.g. a ``config.json`` path, prefixes the
    message)."""
    where = f"{source}: " if source else ""
    for key, valid in VALUE_RANGES.items():
        value = config
        for part in key.split("."):
            if not isinstance(value, ml_collections.ConfigDict) or part not in value:
                raise InputError(
                    f"{where}config has no key {key!r}; build it on repsim_jax.configs.common.get_base_config()"
                )
            value = value[part]
        if not valid.holds(value):
            shown = tuple(value) if isinstance(value, list) else value
            raise InputError(f"{where}config key {key!r} must be {valid}, got {shown!r}")
