"""Experiment configs: ``get_config()`` files with ``ml_collections.config_flags`` semantics.

``load_config("experiments/configs/synthetic.py:quick", ["--config.optim.learning_rate=1e-2"])``
loads the file, calls ``get_config("quick")`` (``get_config()`` without a preset), locks
the config and applies each ``--config.section.key=value`` override exactly as
``config_flags.DEFINE_config_file`` does (values parsed to the field's declared type).
Every key is declared by the config file, so an unknown key, a dotted key under a
field that is not a section, a bad value or a missing file raises ``ValueError`` /
``FileNotFoundError`` with one clear line.
"""

from __future__ import annotations

import importlib.util
import pathlib
from collections.abc import Mapping

import ml_collections
from absl import flags
from ml_collections import config_flags

from repsim_jax.errors import InputError

__all__ = ["CONFIG_DIR", "base_config", "load_config", "experiment_config", "with_defaults", "with_values"]

CONFIG_DIR = pathlib.Path(__file__).resolve().parents[1] / "experiments" / "configs"


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
    """The locked config named by ``PATH[:PRESET]`` with ``--config.a.b=value`` overrides."""
    path = spec.partition(":")[0]
    if not pathlib.Path(path).is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    overrides = list(overrides)
    base = _flag_parse(spec, [])
    for token in overrides:
        _check_override(base, token)
    return _flag_parse(spec, overrides) if overrides else base


def experiment_config(name: str, preset: str, overrides=()) -> ml_collections.ConfigDict:
    """``experiments/configs/<name>.py:<preset>`` of this checkout, with overrides."""
    path = CONFIG_DIR / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no config {path}; is the repository checked out (pip install -e)?")
    return load_config(f"{path}:{preset}", overrides)


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
    """Every key with its default: ``get_base_config()`` of ``experiments/configs/common.py``."""
    spec = importlib.util.spec_from_file_location("repsim_jax_common_config", CONFIG_DIR / "common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_base_config()


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
