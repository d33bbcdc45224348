"""Experiment configs: ``get_config()`` files with ``ml_collections.config_flags`` semantics.

``load_config("synthetic:quick", ["--config.optim.learning_rate=1e-2"])`` loads the
packaged config ``repsim_jax/configs/synthetic.py`` (or a user's ``PATH.py[:PRESET]``),
calls ``get_config("quick")`` (``get_config()`` without a preset), locks the config and
applies each ``--config.section.key=value`` override exactly as
``config_flags.DEFINE_config_file`` does (values parsed to the field's declared type).
Every key is declared by the config file, so an unknown key, a dotted key under a
field that is not a section, a bad value, a syntax error or a missing file raises
:class:`~repsim_jax.errors.InputError` / ``FileNotFoundError`` with one clear line.
Nothing here reads files relative to the source tree or changes ``sys.path``.
"""

from __future__ import annotations

import importlib
import importlib.resources
import pathlib
from collections.abc import Mapping

import ml_collections
from absl import flags
from ml_collections import config_flags

from repsim_jax.configs import common
from repsim_jax.errors import InputError

__all__ = [
    "CONFIG_NAMES",
    "base_config",
    "config_file",
    "experiment_config",
    "load_config",
    "presets",
    "with_defaults",
    "with_values",
]

CONFIG_NAMES = ("synthetic", "cifar100", "concepts", "sub")
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
        compile(path.read_text(), str(path), "exec")
    except SyntaxError as error:
        raise InputError(f"{path}:{error.lineno}: syntax error in config file: {error.msg}") from None


def _flag_parse(spec: str, overrides) -> ml_collections.ConfigDict:
    argv = ["repsim-jax", f"--config={spec}", *overrides]
    values = flags.FlagValues()
    config_flags.DEFINE_config_file(
        "config", None, "experiment config", flag_values=values, lock_config=True, sys_argv=argv
    )
    try:
        values(argv)
    except flags.Error as err:
        raise InputError(_last_line(str(err))) from None
    return values.config


def _last_line(message: str) -> str:
    """An error from inside ``get_config`` arrives with its traceback: keep its last line."""
    message = message.removeprefix("flag ")
    if "Traceback" not in message:
        return message
    return message.split(":", 1)[0] + ": " + message.strip().splitlines()[-1]


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
    spec = f"{path}{colon}{preset}"
    overrides = list(overrides)
    base = _flag_parse(spec, [])
    for token in overrides:
        _check_override(base, token)
    return _flag_parse(spec, overrides) if overrides else base


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


def with_defaults(stored: Mapping) -> ml_collections.ConfigDict:
    """A config read back from a workdir's ``config.json``, with every key this version
    declares that it lacks (a workdir written before the key existed) at its default."""

    def merge(defaults: ml_collections.ConfigDict, values: Mapping) -> None:
        for key, value in values.items():
            if isinstance(value, Mapping) and key in defaults and isinstance(defaults[key], ml_collections.ConfigDict):
                merge(defaults[key], value)
            else:
                defaults[key] = value

    config = base_config()
    merge(config, stored)
    return config
