"""Hugging Face GPT-2 checkpoints as a :class:`~repsim_jax.lm.model.TransformerLM`.

A local ``save_pretrained`` directory holds ``config.json`` and the weights:
``model.safetensors`` (read with ``safetensors.numpy``, no torch), a sharded
``model.safetensors.index.json``, or ``pytorch_model.bin`` (needs torch, the ``[torch]``
extra). GPT-2's ``Conv1D`` weights are stored (in, out), the layout of a Flax ``Dense``
kernel, so they are copied without a transpose; the packed ``c_attn`` projection is our
``qkv`` (q, k, v along the output axis). With a tied head the file has no
``lm_head.weight`` (or one equal to ``wte``); an untied one is ``g`` itself (K, d).
Nothing is downloaded.
"""

from __future__ import annotations

import json
import math
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax.errors import InputError
from repsim_jax.lm.model import LAYER_NORM_EPSILON, TrainedLM, TransformerLM
from repsim_jax.models import with_variables

__all__ = ["load_hf", "hf_model", "hf_variables", "is_hf_directory"]

_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")

_GELU_TANH = ("gelu_new", "gelu_pytorch_tanh")  # the tanh approximation of GELU under HF's names
_BUFFER = re.compile(r"h\.\d+\.attn\.(bias|masked_bias)")  # causal-mask buffers older GPT-2 files carry


def _read_config(directory: pathlib.Path) -> dict:
    file = directory / "config.json"
    if not file.is_file():
        raise InputError(f"{directory}: no config.json (expected a Hugging Face save_pretrained directory)")
    try:
        config = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"{file}: not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise InputError(f"{file}: expected a JSON object")
    return config


def _unsupported_option(config: dict) -> str | None:
    """The first GPT-2 option of ``config`` that :class:`TransformerLM` does not implement."""
    width = config["n_embd"]
    checks = {
        "activation_function": config.get("activation_function", "gelu_new") in _GELU_TANH,
        "layer_norm_epsilon": math.isclose(config.get("layer_norm_epsilon", LAYER_NORM_EPSILON), LAYER_NORM_EPSILON),
        "n_inner": config.get("n_inner") in (None, 4 * width),
        "scale_attn_weights": config.get("scale_attn_weights", True),
        "scale_attn_by_inverse_layer_idx": not config.get("scale_attn_by_inverse_layer_idx", False),
        "add_cross_attention": not config.get("add_cross_attention", False),
    }
    return next((key for key, supported in checks.items() if not supported), None)


def hf_model(path: str) -> TransformerLM:
    """The :class:`TransformerLM` (float32) a GPT-2 ``config.json`` describes.

    InputError naming the file for another ``model_type``, a missing size key or a GPT-2
    option the model does not implement (e.g. another activation function).
    """
    directory = _directory(path)
    config = _read_config(directory)
    file = directory / "config.json"
    kind = config.get("model_type")
    if kind != "gpt2":
        raise InputError(f"{file}: model_type {kind!r} is not supported; load_hf reads GPT-2 checkpoints ('gpt2')")
    sizes = ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head")
    missing = [key for key in sizes if not isinstance(config.get(key), int)]
    if missing:
        raise InputError(f"{file}: no integer {missing[0]!r}")
    if config["n_embd"] % config["n_head"]:
        raise InputError(f"{file}: n_embd {config['n_embd']} is not divisible by n_head {config['n_head']}")
    option = _unsupported_option(config)
    if option is not None:
        raise InputError(f"{file}: {option}={config[option]!r} is not supported by repsim_jax's GPT-2")
    vocab, context, width, depth, heads = (config[key] for key in sizes)
    return TransformerLM(vocab, context, width, depth, heads, tied_head=config.get("tie_word_embeddings", True))


def _parameter_names(depth: int, tied: bool) -> dict[str, str]:
    """HF GPT-2 state-dict name (without ``transformer.``) → our ``params/...`` path."""
    names = {
        "wte.weight": "token_embedding/embedding",
        "wpe.weight": "position_embedding/embedding",
        "ln_f.weight": "final_norm/scale",
        "ln_f.bias": "final_norm/bias",
    }
    block = {
        "ln_1.weight": "attention_norm/scale",
        "ln_1.bias": "attention_norm/bias",
        "attn.c_attn.weight": "attention/qkv/kernel",
        "attn.c_attn.bias": "attention/qkv/bias",
        "attn.c_proj.weight": "attention/out/kernel",
        "attn.c_proj.bias": "attention/out/bias",
        "ln_2.weight": "mlp_norm/scale",
        "ln_2.bias": "mlp_norm/bias",
        "mlp.c_fc.weight": "mlp/up/kernel",
        "mlp.c_fc.bias": "mlp/up/bias",
        "mlp.c_proj.weight": "mlp/down/kernel",
        "mlp.c_proj.bias": "mlp/down/bias",
    }
    for i in range(depth):
        names.update({f"h.{i}.{hf}": f"blocks_{i}/{ours}" for hf, ours in block.items()})
    if not tied:
        names["lm_head.weight"] = "unembedding"
    return {hf: f"params/{ours}" for hf, ours in names.items()}


def _weight_files(directory: pathlib.Path) -> list[pathlib.Path]:
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as error:
            raise InputError(f"{index}: not a safetensors index ({error!r})") from None
        return [directory / shard for shard in shards]
    for name in _WEIGHT_FILES[::2]:
        if (directory / name).is_file():
            return [directory / name]
    raise InputError(f"{directory}: no model.safetensors, model.safetensors.index.json or pytorch_model.bin")


def _read_safetensors(file: pathlib.Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    if not file.is_file():
        raise InputError(f"{file}: no such weight file")
    try:
        return dict(load_file(str(file)))
    except Exception as error:  # safetensors raises its own error types for damaged files and dtypes
        raise InputError(f"{file}: cannot read safetensors weights ({' '.join(str(error).split())})") from None


def _read_torch(file: pathlib.Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise InputError(f"{file}: reading pytorch_model.bin needs torch (the [torch] extra)") from None
    try:
        state = torch.load(str(file), map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types for a damaged or foreign file
        raise InputError(f"{file}: cannot read a torch state_dict ({' '.join(str(error).split())})") from None
    if not isinstance(state, dict):
        raise InputError(f"{file}: expected a state_dict, got {type(state).__name__}")
    return {key: value.detach().float().numpy() for key, value in state.items()}


def _read_weights(directory: pathlib.Path) -> tuple[dict[str, np.ndarray], str]:
    """Every stored tensor (``transformer.`` prefix dropped) and the file(s) they came from."""
    files = _weight_files(directory)
    tensors = {}
    for file in files:
        read = _read_torch if file.suffix == ".bin" else _read_safetensors
        tensors.update(read(file))
    source = str(files[0]) if len(files) == 1 else str(directory / "model.safetensors.index.json")
    return {key.removeprefix("transformer."): value for key, value in tensors.items()}, source


def _drop_tied_head(tensors: dict[str, np.ndarray], source: str) -> None:
    """A tied model may store ``lm_head.weight``, then equal to ``wte``: drop it."""
    head = tensors.pop("lm_head.weight", None)
    if head is not None and not np.array_equal(head, tensors.get("wte.weight")):
        raise InputError(f"{source}: tie_word_embeddings is true but lm_head.weight differs from wte.weight")


def _stored_variables(model: TransformerLM, directory: pathlib.Path) -> tuple[dict[str, np.ndarray], str]:
    """The weights in ``directory`` as flat float32 variables of ``model``, and their file."""
    tensors, source = _read_weights(directory)
    if model.tied_head:
        _drop_tied_head(tensors, source)
    names = _parameter_names(model.depth, model.tied_head)
    unknown = sorted(key for key in tensors if key not in names and not _BUFFER.fullmatch(key))
    if unknown:
        raise InputError(f"{source}: tensor {unknown[0]!r} is not part of a GPT-2 LM with {model.depth} blocks")
    missing = sorted(set(names) - set(tensors))
    if missing:
        raise InputError(f"{source}: no tensor {missing[0]!r}")
    flat = {}
    for hf_name, ours in names.items():
        value = np.asarray(tensors[hf_name], np.float32)
        if not np.all(np.isfinite(value)):
            raise InputError(f"{source}: {hf_name} has NaN or Inf values")
        flat[ours] = value
    return flat, source


def _directory(path: str) -> pathlib.Path:
    directory = pathlib.Path(path)
    if not directory.is_dir():
        raise InputError(f"{path}: no such model directory")
    return directory


def is_hf_directory(path: str) -> bool:
    """Whether ``path`` is a local directory with a ``config.json`` and Hugging Face weights
    (a ``save_pretrained`` directory, not a workdir of ours)."""
    directory = pathlib.Path(path)
    return (directory / "config.json").is_file() and any((directory / name).is_file() for name in _WEIGHT_FILES)


def hf_variables(path: str) -> dict[str, np.ndarray]:
    """The GPT-2 weights of directory ``path`` as flat float32 variables
    ``{"params/blocks_0/attention/qkv/kernel": array, ...}`` of :func:`hf_model` (the form
    :func:`repsim_jax.models.with_variables` puts in place).

    InputError naming the file for a missing or unexpected tensor, or non-finite values.
    """
    return _stored_variables(hf_model(path), _directory(path))[0]


def load_hf(path: str) -> TrainedLM:
    """A local Hugging Face GPT-2 directory (``save_pretrained``) as a :class:`TrainedLM`
    whose ``outputs(tokens)`` are ``(f (batch, seq, d), logits (batch, seq, K))``.

    InputError (one line naming the file) for a directory that is not a GPT-2 checkpoint
    (another ``model_type``, unsupported options, missing, unexpected or mis-shaped tensors).
    """
    directory = _directory(path)
    model = hf_model(path)
    flat, source = _stored_variables(model, directory)
    shapes = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((1, 1), jnp.int32))
    return TrainedLM(model, with_variables(shapes, flat, source))
