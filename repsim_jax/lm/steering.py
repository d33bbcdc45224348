"""Steering-vector transfer between language models through an affine map of hidden states.

After arXiv 2506.00653 (linear representation transferability): hidden states of a small
model A after block i and of a large model B after block j, on the same tokens, are
related by an affine map, and the map carries A's steering vectors to B, where they keep
their effect. Layer L is the residual stream after block L, 0-based (``0 ≤ L < depth``,
:mod:`repsim_jax.lm.layers`; the final norm's output is not steered).

- **Affine map** (:func:`fit_affine`): rows ``X`` (n, d_A) of A and ``Y`` (n, d_B) of B at
  the same token positions; :func:`repsim_jax.metrics.affine_map` (docs/theory.md §2.7:
  centred ridge least squares, ``min Σ‖A x + b − y‖² + λ‖A‖²``, b free) on the fitting
  rows with ``λ = ridge · tr(X̃ᵀX̃)/d_A`` (``X̃`` the centred fitting rows; scale-free);
  on held-out rows ``R² = 1 − Σ‖y_h − A x_h − b‖² / Σ‖y_h − ȳ_h‖²`` (coordinates pooled).
- **Steering vector** (:func:`steering_vector`): the difference of the mean hidden state
  over every token of the positive contrast prompts and over the negative ones,
  ``v = mean(POS) − mean(NEG)``. A's vector is carried to B through the linear part,
  ``v̂ = A v_A`` (the offset b cancels in a difference of means); B's own ``v_B`` is the
  native vector; the control is random directions r with ``‖r‖ = ‖v̂‖`` (Gaussian, 8 of
  them by default, their effects averaged: a single direction's first-order effect is of
  either sign and its size depends on the dimension).
- **Effect** (:func:`steering_effects`): B's forward with ``s·u`` added to its residual
  stream after block j at every position (in-graph for :class:`FlaxLM`, a forward hook for
  :class:`TorchLM`), against the unsteered forward, over every token position t of the
  evaluation texts: the target shift ``Δ = mean_t [log Σ_{k∈T} p_s(k|t) − log Σ_{k∈T}
  p_0(k|t)]`` for a set T of target tokens, and ``KL = mean_t Σ_k p_s(k|t) log(p_s(k|t) /
  p_0(k|t))``, the steered model's divergence from the unsteered one.

:func:`transfer` runs the whole protocol: the map is fitted on the first four fifths of
the texts and scored (R²) on the last fifth, where the effects are measured too.
"""

from __future__ import annotations

import dataclasses
from typing import Protocol, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from repsim_jax.errors import InputError
from repsim_jax.lm.hf import is_hf_directory
from repsim_jax.lm.layers import checked_layers, hf_layer_chunks, lm_layer_states
from repsim_jax.lm.model import TrainedLM
from repsim_jax.lm.tokens import ByteTokenizer
from repsim_jax.metrics import AffineMap, affine_map

__all__ = [
    "SteerableLM",
    "FlaxLM",
    "TorchLM",
    "HeldOutMap",
    "fit_affine",
    "steering_vector",
    "steering_effects",
    "TransferResult",
    "check_layers",
    "transfer",
    "workdir_encoder",
    "load_steerable",
]


class SteerableLM(Protocol):
    """A language model whose residual stream can be read and steered after any block."""

    name: str  # how errors name it (its path)
    depth: int
    vocab_size: int

    def encode(self, text: str) -> list[int]:
        """The token ids of ``text``."""

    unembeddings: np.ndarray  # g (K, d)

    def token_id(self, word: str) -> int:
        """The id of a one-token ``word``."""

    def hidden_rows(self, texts: Sequence[str], layer) -> np.ndarray:
        """Hidden states (n_tokens, d) at ``layer`` (a block index or ``"final"``) at every
        token of ``texts``, text by text, position by position (:mod:`repsim_jax.lm.layers`)."""

    def log_probs(self, tokens: np.ndarray, layer: int, vector: np.ndarray | None) -> np.ndarray:
        """Next-token log-probabilities (batch, seq, K) of right-padded ``tokens`` with
        ``vector`` added to the residual stream after block ``layer`` (None: unsteered)."""


def _check_layer(layer, depth: int, name: str) -> None:
    if not (isinstance(layer, int) and 0 <= layer < depth):
        raise InputError(f"{name}: layer {layer!r} is not a block of 0..{depth - 1} (steering needs a block index)")


class FlaxLM:
    """A :class:`~repsim_jax.lm.model.TrainedLM` steered in-graph (``TransformerLM(...,
    steering=...)``); ``encode`` is its tokenizer (a callable ``str → ids``)."""

    def __init__(self, trained: TrainedLM, encode, name: str = "model"):
        self.trained, self.name, self._encode = trained, name, encode
        self.depth, self.vocab_size = trained.model.depth, trained.model.vocab_size
        model = trained.model
        run = lambda variables, tokens, vector, layer: (
            model.apply(variables, tokens, steering=vector, steering_layer=layer).logits
        )
        self._logits = jax.jit(run, static_argnums=3)

    def encode(self, text: str) -> list[int]:
        ids = [int(i) for i in self._encode(text)]
        context = self.trained.model.context
        if len(ids) > context:
            raise InputError(f"{self.name}: a text has {len(ids)} tokens, more than its context {context}")
        if ids and not 0 <= min(ids) <= max(ids) < self.vocab_size:
            raise InputError(f"{self.name}: token ids must lie in [0, {self.vocab_size}), got {min(ids)}..{max(ids)}")
        return ids

    @property
    def unembeddings(self) -> np.ndarray:
        """``g`` (K, d)."""
        return self.trained.unembeddings

    def token_id(self, word: str) -> int:
        """The id of ``word``, which must be one token."""
        return _single(self.encode(word), word, self.name)

    def hidden_rows(self, texts, layer) -> np.ndarray:
        checked_layers((layer,), self.depth, self.name)
        sequences = [self.encode(text) for text in texts]
        tokens, mask = _padded(sequences)
        states = lm_layer_states(self.trained, tokens, (layer,))[layer]
        return states.reshape(*tokens.shape, -1)[mask]

    def log_probs(self, tokens: np.ndarray, layer: int, vector: np.ndarray | None) -> np.ndarray:
        _check_layer(layer, self.depth, self.name)
        vector = np.zeros(self.trained.model.width, np.float32) if vector is None else vector
        logits = self._logits(self.trained.variables, jnp.asarray(tokens), jnp.asarray(vector, jnp.float32), layer)
        return np.asarray(jax.nn.log_softmax(logits, axis=-1))


class TorchLM:
    """A Hugging Face causal LM (float32, eval mode) with its tokenizer, steered by a torch
    forward hook that adds the vector to the output of block L
    (:func:`repsim_jax.adapters.hf.decoder_blocks`), the place
    :func:`repsim_jax.lm.layers.hf_layer_chunks` reads layer L from."""

    def __init__(self, model, tokenizer, name: str = "model"):
        from repsim_jax.adapters.hf import decoder_blocks

        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        self.blocks = decoder_blocks(model)
        self.depth = len(self.blocks)
        self.vocab_size = model.get_output_embeddings().out_features

    def encode(self, text: str) -> list[int]:
        ids = list(self.tokenizer(text)["input_ids"])
        context = getattr(self.model.config, "max_position_embeddings", None)
        if context is not None and len(ids) > context:
            raise InputError(f"{self.name}: a text has {len(ids)} tokens, more than its context {context}")
        return ids

    @property
    def unembeddings(self) -> np.ndarray:
        """``g`` (K, d'): the head's weight, a bias folded in as a column (:mod:`repsim_jax.adapters.hf`)."""
        from repsim_jax.adapters.hf import lm_unembeddings

        return lm_unembeddings(self.model)

    def token_id(self, word: str) -> int:
        """The id of ``word`` (no special tokens added), which must be one token."""
        return _single(list(self.tokenizer(word, add_special_tokens=False)["input_ids"]), word, self.name)

    def hidden_rows(self, texts, layer) -> np.ndarray:
        checked_layers((layer,), self.depth, self.name)
        chunks = [chunk[layer] for chunk in hf_layer_chunks(self.model, self.tokenizer, list(texts), (layer,))]
        return np.concatenate(chunks)

    def log_probs(self, tokens: np.ndarray, layer: int, vector: np.ndarray | None) -> np.ndarray:
        import torch

        _check_layer(layer, self.depth, self.name)
        added = None if vector is None else torch.as_tensor(np.asarray(vector, np.float32))

        def steer(module, args, output):
            if added is None:
                return None
            if isinstance(output, tuple):
                return (output[0] + added, *output[1:])
            return output + added

        handle = self.blocks[layer].register_forward_hook(steer)
        try:
            with torch.no_grad():
                logits = self.model(input_ids=torch.as_tensor(tokens, dtype=torch.long)).logits
        finally:
            handle.remove()
        return torch.log_softmax(logits.float(), dim=-1).numpy()


def _single(ids: list[int], word: str, name: str) -> int:
    if len(ids) != 1:
        raise InputError(f"{name}: {word!r} is {len(ids)} tokens {ids}, not one token")
    return ids[0]


_BATCH = 16


def _padded(sequences: Sequence[Sequence[int]], length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(tokens (n, L), mask (n, L))``: the sequences right-padded with token 0 to ``length``
    (default: the longest); with causal attention the padding never changes earlier positions."""
    length = length or max(len(s) for s in sequences)
    tokens = np.zeros((len(sequences), length), np.int32)
    mask = np.zeros((len(sequences), length), bool)
    for row, ids in enumerate(sequences):
        tokens[row, : len(ids)] = ids
        mask[row, : len(ids)] = True
    return tokens, mask


def padded_batches(sequences: Sequence[Sequence[int]]):
    """``(tokens, mask)`` per batch of 16 sequences (the last one filled with empty rows),
    all padded to the longest sequence, so a jitted forward compiles once."""
    length = max(len(s) for s in sequences)
    for start in range(0, len(sequences), _BATCH):
        chunk = list(sequences[start : start + _BATCH])
        yield _padded(chunk + [[]] * (_BATCH - len(chunk)), length)


@dataclasses.dataclass(frozen=True)
class HeldOutMap:
    """The affine map (:class:`repsim_jax.metrics.AffineMap`: ``y ≈ A x + b``) fitted on
    the fitting rows, and its ``r2`` on the held-out rows (module docstring)."""

    map: AffineMap
    r2: float


def fit_affine(x_fit, y_fit, x_held, y_held, ridge: float = 1e-3) -> HeldOutMap:
    """The ridge affine map from ``x_fit`` (n, d_A) to ``y_fit`` (n, d_B)
    (:func:`repsim_jax.metrics.affine_map` with ``λ = ridge · tr(X̃ᵀX̃)/d_A``) and its R² on
    the held-out rows ``x_held``, ``y_held`` (module docstring)."""
    x_fit, y_fit, x_held, y_held = (np.asarray(a, np.float64) for a in (x_fit, y_fit, x_held, y_held))
    if x_fit.shape[0] != y_fit.shape[0] or x_held.shape[0] != y_held.shape[0]:
        raise InputError(f"the two models give different numbers of token rows ({x_fit.shape[0]} vs {y_fit.shape[0]})")
    centred = x_fit - x_fit.mean(axis=0)
    penalty = ridge * np.sum(centred**2) / x_fit.shape[1]
    fitted = affine_map(x_fit, y_fit, ridge=penalty)
    total = np.sum((y_held - y_held.mean(axis=0)) ** 2)
    if total == 0:
        raise InputError("the held-out hidden states of the large model are constant: R² is undefined")
    residual = np.sum((y_held - np.asarray(fitted.apply(x_held), np.float64)) ** 2)
    return HeldOutMap(fitted, float(1.0 - residual / total))


def steering_vector(model: SteerableLM, positive: Sequence[str], negative: Sequence[str], layer: int) -> np.ndarray:
    """``mean(POS) − mean(NEG)`` of the hidden states after block ``layer`` over every token
    of the ``positive`` and ``negative`` prompts (float64)."""
    means = [np.asarray(model.hidden_rows(texts, layer), np.float64).mean(axis=0) for texts in (positive, negative)]
    return means[0] - means[1]


def steering_effects(model: SteerableLM, sequences, layer: int, vectors: dict, scales, targets) -> list[dict]:
    """One row ``{vector, scale, logprob_shift, kl, logprob_shift_std, kl_std}`` per named
    entry of ``vectors`` and scale: the effect of adding ``scale · u`` after block ``layer``
    on ``model``'s next-token distributions at every token of ``sequences`` (module
    docstring; ``targets``: the token ids T). An entry is one vector (d,) or a stack (k, d)
    whose effects are averaged (``*_std``: their standard deviation over the k vectors)."""
    targets = np.asarray(sorted(set(targets)), np.int64)
    if targets.size == 0 or targets[0] < 0:
        raise InputError(f"targets: expected token ids >= 0, got {targets.tolist()}")
    stacks = {name: np.atleast_2d(np.asarray(u, np.float64)) for name, u in vectors.items()}
    sums = {(name, s): np.zeros((len(stack), 2)) for name, stack in stacks.items() for s in scales}
    count = 0
    for tokens, mask in padded_batches(sequences):
        base = model.log_probs(tokens, layer, None)[mask].astype(np.float64)
        if targets[-1] >= base.shape[1]:
            raise InputError(f"targets: token id {targets[-1]} is beyond the model's {base.shape[1]} outputs")
        base_target = _log_mass(base, targets)
        count += base.shape[0]
        for (name, s), total in sums.items():
            for k, u in enumerate(stacks[name]):
                steered = model.log_probs(tokens, layer, (s * u).astype(np.float32))[mask].astype(np.float64)
                kl = np.sum(np.exp(steered) * (steered - base), axis=-1)
                total[k] += [np.sum(_log_mass(steered, targets) - base_target), np.sum(kl)]
    rows = []
    for (name, s), total in sums.items():
        if not np.all(np.isfinite(total)):
            raise InputError(f"steering with the {name} vector at scale {s:g} gave non-finite log-probabilities")
        mean, std = (total / count).mean(axis=0), (total / count).std(axis=0)
        rows.append({"vector": name, "scale": float(s), "logprob_shift": mean[0], "kl": mean[1]})
        rows[-1].update(logprob_shift_std=std[0], kl_std=std[1])
    return rows


def _log_mass(log_probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """``log Σ_{k∈T} p(k)`` per row of log-probabilities."""
    chosen = log_probs[:, targets]
    top = chosen.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.sum(np.exp(chosen - top), axis=1))


@dataclasses.dataclass(frozen=True)
class TransferResult:
    """What :func:`transfer` measured: the map's held-out ``r2``, the three steering
    ``vectors`` in B's space (native, transferred, random), ``cosine`` between the
    transferred and the native vector, ``norm_ratio`` ‖v̂‖/‖v_B‖, and the effect ``rows``."""

    r2: float
    vectors: dict
    cosine: float
    norm_ratio: float
    rows: list[dict]


def _held_out_split(count: int) -> int:
    """The index of the first held-out text: the last fifth (at least one) is held out."""
    if count < 2:
        raise InputError(f"--text: {count} non-empty line(s); the map needs at least 2 (fit and held out)")
    return count - max(1, count // 5)


def check_layers(small: SteerableLM, large: SteerableLM, layers) -> tuple[int, int]:
    """``layers`` (i, j) once checked to be blocks of ``small`` and ``large``; InputError
    naming the model (``--small``/``--large``) otherwise."""
    i, j = layers
    _check_layer(i, small.depth, "--small")
    _check_layer(j, large.depth, "--large")
    return i, j


def _with_tokens(model: SteerableLM, texts: Sequence[str], what: str) -> list[str]:
    """The texts the tokenizer gives tokens for; InputError when there is none."""
    kept = [text for text in texts if model.encode(text)]
    if not kept:
        raise InputError(f"{what}: the tokenizer produced no tokens")
    return kept


def transfer(
    small: SteerableLM,
    large: SteerableLM,
    layers: tuple[int, int],
    texts: Sequence[str],
    contrast: tuple[Sequence[str], Sequence[str]],
    targets: Sequence[int],
    scales: Sequence[float],
    ridge: float = 1e-3,
    random_draws: int = 8,
    seed: int = 0,
) -> TransferResult:
    """The steering-transfer protocol of the module docstring: A = ``small`` after block
    ``layers[0]``, B = ``large`` after block ``layers[1]``; the map fitted on ``texts``,
    the vectors from the ``contrast`` prompts (positive, negative), the effects on the
    held-out texts for each of ``scales`` and the ``targets`` token ids."""
    i, j = check_layers(small, large, layers)
    texts = _with_tokens(small, texts, "--text")
    sequences = [large.encode(text) for text in texts]
    if sequences != [small.encode(text) for text in texts]:
        raise InputError("--text: the two models tokenize the texts differently; they need one tokenizer")
    split = _held_out_split(len(texts))
    fit, held = texts[:split], texts[split:]
    rows = {
        side: (m.hidden_rows(fit, layer), m.hidden_rows(held, layer))
        for side, m, layer in ((0, small, i), (1, large, j))
    }
    affine = fit_affine(rows[0][0], rows[1][0], rows[0][1], rows[1][1], ridge)
    positive, negative = (_with_tokens(small, prompts, what) for prompts, what in zip(contrast, ("POS", "NEG")))
    native = steering_vector(large, positive, negative, j)
    native_norm = np.linalg.norm(native)
    if native_norm == 0:
        raise InputError("the contrast prompts give the large model identical mean hidden states: no steering vector")
    transferred = np.asarray(affine.map.transfer_direction(steering_vector(small, positive, negative, i)), np.float64)
    directions = np.random.default_rng(seed).standard_normal((random_draws, native.shape[0]))
    random = directions * np.linalg.norm(transferred) / np.linalg.norm(directions, axis=1, keepdims=True)
    vectors = {"native": native, "transferred": transferred, "random": random}
    effects = steering_effects(large, sequences[split:], j, vectors, scales, targets)
    cosine = float(transferred @ native / max(np.linalg.norm(transferred) * native_norm, 1e-300))
    return TransferResult(affine.r2, vectors, cosine, float(np.linalg.norm(transferred) / native_norm), effects)


def _token_ids(text: str) -> list[int]:
    """Whitespace-separated integer token ids (the inputs of a model trained on ids)."""
    try:
        return [int(word) for word in text.split()]
    except ValueError:
        raise InputError(
            f"{text[:40]!r}: this model reads token ids; write each line as integers, e.g. '0 5 12'"
        ) from None


def workdir_encoder(config):
    """``str → ids`` for a language-model workdir of ours: integer ids separated by spaces
    when it was trained on ids (the concept language, a ``.npy`` corpus), else the UTF-8
    bytes (:class:`~repsim_jax.lm.tokens.ByteTokenizer`, as for its training text)."""
    data = config.data
    if data.get("source", "") == "concepts" or str(data.path).endswith(".npy"):
        return _token_ids
    return ByteTokenizer().encode


def load_steerable(path: str) -> SteerableLM:
    """A local Hugging Face causal LM directory (model and tokenizer: :class:`TorchLM`,
    needs the ``[torch]`` extra) or a language-model workdir of ours (``GROUP/seed<s>``
    for one seed of a group: :class:`FlaxLM`)."""
    if is_hf_directory(path):
        from repsim_jax.adapters.hf import load_causal_lm

        return TorchLM(*load_causal_lm(path), name=path)
    from repsim_jax.experiment import restore

    run = restore(path)
    if not isinstance(run.model, TrainedLM):
        raise InputError(f"{path}: not a language model (model.name {run.config.model.name!r})")
    return FlaxLM(run.model, workdir_encoder(run.config), name=path)
