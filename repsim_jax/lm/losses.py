"""Per-token distillation losses of language models over the vocabulary.

Every position x of every sequence is one input of the paper's model family: student
logits ``z_s(x) = g_s f_s(x)`` and teacher logits ``z_t(x) = g_t f_t(x)`` over K tokens,
with ``f`` (…, d) the final hidden states and ``g`` (K, d) the unembeddings. The losses
are those of :mod:`repsim_jax.losses` with the N = batch·seq positions as rows, in the
same conventions:

- :func:`kl_loss`: ``T² · (1/N) Σ_x KL(softmax(z_t/T) ‖ softmax(z_s/T))`` (Hinton et al. 2015);
- :func:`l2_loss`: ``(1/N) Σ_x ‖z̄_s(x) − z̄_t(x)‖²`` with ``z̄ = z − mean_k z`` centred over
  the vocabulary (arXiv 2602.15438); ``centered=False``: ``Σ_{x,k} (z_s − z_t)² / N``;
- :func:`l1_loss`: ``(1/N) Σ_x ‖z̄_s(x) − z̄_t(x)‖₁``; ``centered=False``: ``mean_{x,k} |z_s − z_t|``;
- :func:`cross_entropy_loss`: ``(1/N) Σ_x −log softmax(z(x))_{y(x)}`` on the next tokens y.

The functions take ``(f, g)`` pairs, never logits; like :mod:`repsim_jax.losses` they do
not stop gradients (the caller stops the teacher's). ``chunk=None`` forms the (N, K)
logits and calls :mod:`repsim_jax.losses`. ``chunk=c`` forms c vocabulary columns at a
time in a ``lax.scan`` whose body is rematerialised (``jax.checkpoint``): the forward
pass and the gradient hold O(N·c) logits, not O(N·K), at the price of computing each
chunk's logits twice. Centring needs no logits: ``mean_k z(x) = f(x)·ḡ``, so the
chunks use ``g − ḡ``. KL and cross-entropy need log-sum-exp over the vocabulary:
accumulated over the chunks with a running maximum (the online softmax of Milakov &
Gimelshein 2018, arXiv 1805.02867), KL as ``Σ_k p_k (z_t − z_s)_k/T − lse(z_t/T) + lse(z_s/T)``,
whose float32 rounding is absolute, about 1e-7·max|z/T| per position (the unchunked path
keeps :func:`repsim_jax.metrics.kl_divergence`'s relative precision).

``l2_loss(gram=True)`` needs no logits at all (derivation ours from the definition): with
``G̃`` the (centred) unembeddings,
``Σ_k (z̄_s − z̄_t)_k² = f_sᵀ(G̃_sᵀG̃_s)f_s − 2 f_sᵀ(G̃_sᵀG̃_t)f_t + f_tᵀ(G̃_tᵀG̃_t)f_t``: the three
Gram blocks cost O(K·(d_s+d_t)²) once per call (with the gradient about 12·K·d² flops for
d_s = d_t = d) and each position O(d²) instead of O(K·d) (about 8·N·K·d flops with the
gradient), so it needs fewer flops than the logits from N > 1.5·d positions on. The
products run at ``Precision.HIGHEST``. In float32 the value is the difference of terms of size
``‖z̄_s‖² + ‖z̄_t‖²`` (the three-term form), so its absolute error is about
``1e-7 × (‖z̄_s‖² + ‖z̄_t‖²)``: relative to the distance it grows as the student approaches
the teacher (measured: 13% for parameters 1e-3 apart, where the direct form is exact to
4e-7). Its gradient (``2 G̃_sᵀ(G̃_s f_s) − 2 (G̃_sᵀG̃_t) f_t`` for f_s) cancels only linearly, as the
direct form's ``2 G̃_sᵀ(z̄_s − z̄_t)`` does: about 10× the direct form's relative error (1e-3 against 1.5e-4 there). Tests
compare both forms.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from repsim_jax import losses
from repsim_jax.errors import InputError
from repsim_jax.metrics import linalg

__all__ = [
    "kl_loss",
    "l2_loss",
    "l1_loss",
    "cross_entropy_loss",
    "VOCAB_LOSSES",
    "LayerPair",
    "parse_layers",
    "mapped_states",
    "get_lm_loss",
]


def _rows(f: jax.Array) -> jax.Array:
    """``f`` (…, d) as (N, d) rows, one per position."""
    return f.reshape(-1, f.shape[-1])


def _check_pair(f_s, g_s, f_t, g_t) -> None:
    if f_s.shape[:-1] != f_t.shape[:-1]:
        raise InputError(f"student and teacher positions differ: {f_s.shape[:-1]} vs {f_t.shape[:-1]}")
    if g_s.shape[0] != g_t.shape[0]:
        raise InputError(f"student and teacher vocabularies differ: {g_s.shape[0]} vs {g_t.shape[0]} tokens")
    for name, f, g in (("student", f_s, g_s), ("teacher", f_t, g_t)):
        if g.ndim != 2 or f.shape[-1] != g.shape[1]:
            raise InputError(f"{name}: hidden width {f.shape[-1]} does not match unembeddings {g.shape}")


def _center(g: jax.Array) -> jax.Array:
    """``g − ḡ``: unembeddings whose logits ``f·(g_k − ḡ)`` are centred over the vocabulary."""
    return g - jnp.mean(g, axis=0, keepdims=True)


def _chunk_size(chunk: int, vocab_size: int) -> int:
    """The chunk c actually used: ``chunk``, or K when the vocabulary is smaller (no padding
    beyond one chunk of K); InputError unless ``chunk`` is a positive integer."""
    if not isinstance(chunk, int) or chunk < 1:
        raise InputError(f"vocabulary chunk must be a positive integer, got {chunk!r}")
    return min(chunk, vocab_size)


def _chunked(g: jax.Array, chunk: int) -> jax.Array:
    """``g`` (K, d) zero-padded to a multiple of c = :func:`_chunk_size` rows, as (⌈K/c⌉, c, d)."""
    chunk = _chunk_size(chunk, g.shape[0])
    count = -(-g.shape[0] // chunk)
    return jnp.pad(g, ((0, count * chunk - g.shape[0]), (0, 0))).reshape(count, chunk, g.shape[1])


def _valid(vocab_size: int, chunk: int) -> jax.Array:
    """(⌈K/c⌉, c) mask of the real (not padded) vocabulary entries of :func:`_chunked`."""
    chunk = _chunk_size(chunk, vocab_size)
    count = -(-vocab_size // chunk)
    return (jnp.arange(count * chunk) < vocab_size).reshape(count, chunk)


def _scan_chunks(body: Callable, init, *chunks):
    """``lax.scan`` of ``body(carry, chunk)`` over the chunks, rematerialised in the backward
    pass so that only the carries (O(N) each), not the chunks' logits, are stored."""
    step = lambda carry, xs: (body(carry, *xs), None)
    return jax.lax.scan(jax.checkpoint(step, prevent_cse=False), init, chunks)[0]


class _LogSumExp(NamedTuple):
    """Running ``log Σ_k e^{z_k} = peak + log total`` over the chunks seen so far (per row)."""

    peak: jax.Array
    total: jax.Array

    @classmethod
    def empty(cls, rows: int, dtype) -> _LogSumExp:
        return cls(jnp.full((rows,), -jnp.inf, dtype), jnp.zeros((rows,), dtype))

    def add(self, z: jax.Array, valid: jax.Array) -> tuple[_LogSumExp, jax.Array, jax.Array]:
        """The running sum with chunk ``z`` (N, c) added, the chunk's weights
        ``e^{z − new peak}`` (0 at padding) and the factor ``e^{old peak − new peak}`` that
        rescales sums accumulated so far. The peak is a constant shift: no gradient."""
        z = jnp.where(valid, z, -jnp.inf)
        peak = jax.lax.stop_gradient(jnp.maximum(self.peak, jnp.max(z, axis=-1)))
        weights = jnp.exp(z - peak[:, None])
        rescale = jnp.exp(self.peak - peak)
        return _LogSumExp(peak, self.total * rescale + jnp.sum(weights, axis=-1)), weights, rescale

    def value(self) -> jax.Array:
        return self.peak + jnp.log(self.total)


def _chunked_kl(f_s, g_s, f_t, g_t, temperature, chunk) -> jax.Array:
    """Per-row ``KL(softmax(z_t/T) ‖ softmax(z_s/T))`` over vocabulary chunks."""
    rows = f_s.shape[0]

    def body(carry, gs, gt, valid):
        teacher, student, weighted = carry
        z_s, z_t = (f_s @ gs.T) / temperature, (f_t @ gt.T) / temperature
        teacher, weights, rescale = teacher.add(z_t, valid)
        student = student.add(z_s, valid)[0]
        weighted = weighted * rescale + jnp.sum(weights * (z_t - z_s), axis=-1)
        return teacher, student, weighted

    init = (_LogSumExp.empty(rows, f_s.dtype), _LogSumExp.empty(rows, f_s.dtype), jnp.zeros((rows,), f_s.dtype))
    chunks = (_chunked(g_s, chunk), _chunked(g_t, chunk), _valid(g_s.shape[0], chunk))
    teacher, student, weighted = _scan_chunks(body, init, *chunks)
    return weighted / teacher.total - teacher.value() + student.value()


def _logits(f: jax.Array, g: jax.Array) -> jax.Array:
    return f @ g.T


def kl_loss(f_s, g_s, f_t, g_t, temperature: float = 1.0, chunk: int | None = None) -> jax.Array:
    """``T² · (1/N) Σ_x KL(softmax(z_t/T) ‖ softmax(z_s/T))`` (teacher ‖ student) over all
    positions x (:func:`repsim_jax.losses.kl_distillation`); ``chunk`` as in the module docstring."""
    _check_pair(f_s, g_s, f_t, g_t)
    f_s, f_t = _rows(f_s), _rows(f_t)
    if chunk is None:
        return losses.kl_distillation(_logits(f_s, g_s), _logits(f_t, g_t), temperature)
    return temperature**2 * jnp.mean(_chunked_kl(f_s, g_s, f_t, g_t, temperature, chunk))


def _chunked_difference_sum(f_s, g_s, f_t, g_t, chunk, reduce: Callable) -> jax.Array:
    """``Σ_{x,k} reduce(z_s − z_t)`` over vocabulary chunks (padding contributes 0)."""

    def body(total, gs, gt):
        return total + jnp.sum(reduce(f_s @ gs.T - f_t @ gt.T))

    return _scan_chunks(body, jnp.zeros((), f_s.dtype), _chunked(g_s, chunk), _chunked(g_t, chunk))


def _gram_l2(f_s, g_s, f_t, g_t) -> jax.Array:
    """``(1/N) Σ_x [f_sᵀ(G_sᵀG_s)f_s − 2 f_sᵀ(G_sᵀG_t)f_t + f_tᵀ(G_tᵀG_t)f_t]`` (module docstring),
    the three d×d blocks apart so that the gradient never forms the teacher's."""
    quadratic = lambda a, h, b: jnp.sum(linalg.matmul(a, h) * b, axis=-1)
    student = quadratic(f_s, linalg.gram(g_s, g_s), f_s)
    cross = quadratic(f_s, linalg.gram(g_s, g_t), f_t)
    teacher = quadratic(f_t, linalg.gram(g_t, g_t), f_t)
    return jnp.mean(student - 2.0 * cross + teacher)


def l2_loss(f_s, g_s, f_t, g_t, centered: bool = True, chunk: int | None = None, gram: bool = False) -> jax.Array:
    """Squared logit distance over all positions (:func:`repsim_jax.losses.logit_l2`):
    ``(1/N) Σ_x ‖z̄_s(x) − z̄_t(x)‖²`` centred over the vocabulary, or
    ``Σ_{x,k} (z_s − z_t)² / N`` with ``centered=False``. ``gram=True``: the O(d²) form
    (module docstring; ``chunk`` is then unused); else ``chunk`` as in the module docstring."""
    _check_pair(f_s, g_s, f_t, g_t)
    f_s, f_t = _rows(f_s), _rows(f_t)
    if centered and (gram or chunk is not None):
        g_s, g_t = _center(g_s), _center(g_t)
    if gram:
        return _gram_l2(f_s, g_s, f_t, g_t)
    if chunk is None:
        return losses.logit_l2(_logits(f_s, g_s), _logits(f_t, g_t), centered)
    return _chunked_difference_sum(f_s, g_s, f_t, g_t, chunk, jnp.square) / f_s.shape[0]


def l1_loss(f_s, g_s, f_t, g_t, centered: bool = True, chunk: int | None = None) -> jax.Array:
    """L1 logit distance over all positions (:func:`repsim_jax.losses.logit_l1`):
    ``(1/N) Σ_x ‖z̄_s(x) − z̄_t(x)‖₁`` centred over the vocabulary, or
    ``mean_{x,k} |z_s − z_t|`` with ``centered=False``; ``chunk`` as in the module docstring."""
    _check_pair(f_s, g_s, f_t, g_t)
    f_s, f_t = _rows(f_s), _rows(f_t)
    if chunk is None:
        return losses.logit_l1(_logits(f_s, g_s), _logits(f_t, g_t), centered)
    if centered:
        return _chunked_difference_sum(f_s, _center(g_s), f_t, _center(g_t), chunk, jnp.abs) / f_s.shape[0]
    return _chunked_difference_sum(f_s, g_s, f_t, g_t, chunk, jnp.abs) / (f_s.shape[0] * g_s.shape[0])


def cross_entropy_loss(f, g, targets, chunk: int | None = None) -> jax.Array:
    """``(1/N) Σ_x (lse_k z(x)_k − z(x)_{y(x)})``: mean next-token cross-entropy of logits
    ``z = f gᵀ`` against integer ``targets`` (…) (:func:`repsim_jax.losses.cross_entropy`);
    ``chunk`` as in the module docstring (the target logit is ``f(x)·g_{y(x)}``, no logits)."""
    if targets.shape != f.shape[:-1]:
        raise InputError(f"targets {targets.shape} do not match the positions {f.shape[:-1]}")
    f, targets = _rows(f), targets.reshape(-1)
    if chunk is None:
        return losses.cross_entropy(_logits(f, g), targets)

    def body(running, gc, valid):
        return running.add(f @ gc.T, valid)[0]

    running = _scan_chunks(body, _LogSumExp.empty(f.shape[0], f.dtype), _chunked(g, chunk), _valid(g.shape[0], chunk))
    target_logits = jnp.sum(f * jnp.take(g, targets, axis=0), axis=-1)
    return jnp.mean(running.value() - target_logits)


VOCAB_LOSSES: dict[str, Callable[..., jax.Array]] = {"kl": kl_loss, "l2": l2_loss, "l1": l1_loss}


class LayerPair(NamedTuple):
    """A mapped pair of hidden states: ``student`` block i ↔ ``teacher`` block j (0-based
    indices into :attr:`~repsim_jax.lm.model.LMOutputs.hidden`, the residual stream after
    that block), None for the final hidden state ``f`` (after the final LayerNorm); ``name``
    is the config string it was read from."""

    name: str
    student: int | None
    teacher: int | None


def _layer_index(side: str, spec: str) -> int | None:
    if side == "final":
        return None
    if side.isdigit():
        return int(side)
    raise InputError(f"loss.layers: {spec!r} is not 'i:j' (0-based block indices or 'final') nor 'final'")


def parse_layers(specs) -> tuple[LayerPair, ...]:
    """``loss.layers`` (e.g. ``("0:1", "1:3", "final")``) as :class:`LayerPair` s: ``"i:j"``
    maps student block i to teacher block j, either side may be ``final``; ``"final"`` alone
    is ``"final:final"``. InputError for any other string or a repeated pair."""
    pairs = []
    for spec in specs:
        if not isinstance(spec, str):
            raise InputError(f"loss.layers: {spec!r} is not a string 'i:j'")
        sides = spec.strip().split(":") if spec.strip() != "final" else ["final", "final"]
        if len(sides) != 2:
            raise InputError(f"loss.layers: {spec!r} is not 'i:j' (0-based block indices or 'final') nor 'final'")
        pair = LayerPair(spec.strip(), *(_layer_index(side.strip(), spec) for side in sides))
        if any(p[1:] == pair[1:] for p in pairs):
            raise InputError(f"loss.layers: {spec!r} repeats a mapped pair")
        pairs.append(pair)
    return tuple(pairs)


def _state(outputs, index: int | None, who: str, spec: str) -> jax.Array:
    if index is None:
        return outputs.f
    if index >= len(outputs.hidden):
        raise InputError(
            f"loss.layers: {spec!r} needs {who} block {index} but the {who} has {len(outputs.hidden)} blocks "
            f"(0..{len(outputs.hidden) - 1})"
        )
    return outputs.hidden[index]


def mapped_states(student, teacher, pairs) -> list[tuple[jax.Array, jax.Array]]:
    """``[(h_student, h_teacher)]`` (…, d) of each :class:`LayerPair` from two
    :class:`~repsim_jax.lm.model.LMOutputs`; InputError for a block a model does not have."""
    return [
        (_state(student, p.student, "student", p.name), _state(teacher, p.teacher, "teacher", p.name)) for p in pairs
    ]


def _layers_init(feature: str | None, count: int) -> Callable[..., Any]:
    """``init`` of the loss parameters with ``count`` mapped pairs: ``proj_mse`` learns one
    projection per pair (``{"projection": {"pair<k>": W}}``), the other terms none."""
    single = losses.loss_init(feature)
    if feature != "proj_mse" or count == 0:
        return single

    def init(key, student_dim, teacher_dim):
        keys = jax.random.split(key, count)
        projections = (single(k, student_dim, teacher_dim)["projection"] for k in keys)
        return {"projection": {f"pair{k}": w for k, w in enumerate(projections)}}

    return init


def _pair_params(loss_params, k: int, count: int):
    if count and "projection" in loss_params:
        return {"projection": loss_params["projection"][f"pair{k}"]}
    return loss_params


def get_lm_loss(
    name: str,
    *,
    ce_weight: float | None = None,
    logit_weight: float = 1.0,
    feature_weight: float = 1.0,
    temperature: float = 1.0,
    centered: bool = True,
    chunk: int | None = None,
    layers=(),
) -> losses.Loss:
    """A language model's per-token loss by ``name``, in the grammar of
    :func:`repsim_jax.losses.get_loss` (``ce``, ``kl``, ``l2``, ``l1`` joined with ``+`` to
    one of ``procrustes``, ``gram``, ``cka``, ``proj_mse``):
    ``ce_weight·CE + logit_weight·vocab + feature_weight·feature``.

    Its ``apply(loss_params, student, teacher, targets)`` takes
    :class:`~repsim_jax.lm.model.LMOutputs` (``f``, ``g``, ``hidden``; logits are not
    needed) and the next-token ``targets`` (batch, seq): the vocabulary terms over all
    positions, every ``chunk`` tokens of the vocabulary at a time (None: all at once). The
    feature term takes all positions as rows: of the final hidden states ``f`` when
    ``layers`` is empty, else the mean over the P mapped pairs of ``layers``
    (:func:`parse_layers`, config key ``loss.layers``)
    ``feature = (1/P) Σ_{(i,j)} feature(h_s^{(i)}, h_t^{(j)})`` (the mean, so that
    ``feature_weight`` means the same for any P; ``proj_mse`` learns one projection per
    pair). The teacher's outputs are stopped from the gradient.
    """
    logit, feature, ce_weight = losses.loss_terms(name, ce_weight, temperature)
    pairs = parse_layers(layers)

    def vocab_term(f_s, g_s, f_t, g_t):
        if logit == "kl":
            return kl_loss(f_s, g_s, f_t, g_t, temperature, chunk)
        return VOCAB_LOSSES[logit](f_s, g_s, f_t, g_t, centered, chunk)

    def feature_value(loss_params, student, teacher):
        if not pairs:
            return losses.feature_term(feature, loss_params, _rows(student.f), _rows(teacher.f))
        terms = [
            losses.feature_term(feature, _pair_params(loss_params, k, len(pairs)), _rows(h_s), _rows(h_t))
            for k, (h_s, h_t) in enumerate(mapped_states(student, teacher, pairs))
        ]
        return sum(terms) / len(terms)

    def apply(loss_params, student, teacher, targets):
        parts = {}
        total = jnp.zeros((), student.f.dtype)
        if ce_weight:
            parts["ce"] = cross_entropy_loss(student.f, student.g, targets, chunk)
            total = total + ce_weight * parts["ce"]
        if logit is not None or feature is not None:
            teacher = jax.lax.stop_gradient(teacher)
        if logit is not None:
            parts[logit] = vocab_term(student.f, student.g, teacher.f, teacher.g)
            total = total + logit_weight * parts[logit]
        if feature is not None:
            parts[feature] = feature_value(loss_params, student, teacher)
            total = total + feature_weight * parts[feature]
        return total, parts

    needs_teacher = logit is not None or feature is not None
    init = _layers_init(feature, len(pairs))
    return losses.Loss(name=name, init=init, apply=apply, needs_teacher=needs_teacher)
