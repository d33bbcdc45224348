"""Experiment configs: ``get_config()`` Python files with presets and dotted overrides.

``load_config("experiments/configs/synthetic.py:smoke", ["--config.num_epochs=3"])``
imports the file, calls ``get_config("smoke")`` (``get_config()`` without a preset) and
applies each ``--config.a.b=value`` (value parsed as a Python literal when possible,
converted to the existing field's type).
"""

from __future__ import annotations

import ast
import importlib.util
import pathlib

import ml_collections

__all__ = ["load_config", "apply_overrides"]


def load_config(spec: str, overrides: list[str] = ()) -> ml_collections.ConfigDict:
    """The config named by ``PATH[:PRESET]`` with ``overrides`` applied."""
    path, _, preset = spec.partition(":")
    file = pathlib.Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    module_spec = importlib.util.spec_from_file_location(f"_config_{file.stem}", file)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    if not hasattr(module, "get_config"):
        raise ValueError(f"{path} defines no get_config()")
    config = module.get_config(preset) if preset else module.get_config()
    return apply_overrides(config, overrides)


def _parse_value(text: str, current):
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ValueError(f"expected True or False, got {text!r}")
        return value
    if isinstance(current, float) and isinstance(value, int):
        return float(value)
    if isinstance(current, (tuple, list)) and not isinstance(value, (tuple, list)):
        value = (value,)
    if isinstance(current, tuple):
        return tuple(value)
    if isinstance(current, str):
        return text
    return value


def apply_overrides(config: ml_collections.ConfigDict, overrides) -> ml_collections.ConfigDict:
    """Apply ``--config.key.sub=value`` tokens; unknown keys and bad tokens raise ValueError."""
    config = ml_collections.ConfigDict(config)
    for token in overrides:
        if not token.startswith("--config.") or "=" not in token:
            raise ValueError(f"unrecognised argument {token!r}; overrides look like --config.key=value")
        key, _, text = token[len("--config.") :].partition("=")
        *parents, leaf = key.split(".")
        node = config
        for part in parents:
            if part not in node:
                raise ValueError(f"unknown config key {key!r}")
            node = node[part]
        if leaf not in node:
            raise ValueError(f"unknown config key {key!r}; keys: {', '.join(sorted(node.keys()))}")
        try:
            node[leaf] = _parse_value(text, node[leaf])
        except (TypeError, ValueError) as err:
            raise ValueError(f"bad value for config key {key!r}: {err}") from err
    return config
