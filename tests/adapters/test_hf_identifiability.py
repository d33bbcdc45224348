"""The identifiability class made concrete on a real architecture.

Scaling GPT-2's final norm (``ln_f.weight``, ``ln_f.bias``) by a positive diagonal D and
dividing the untied head's weight by D leaves the logits unchanged while the final hidden
states become D·h: the metrics must call the two models the same, and an independently
initialised model different.
"""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from repsim_jax.adapters import hf  # noqa: E402
from repsim_jax.metrics import logit_distance_from_reps, mean_cca, pivot_subsets, rep_dissimilarity  # noqa: E402
from tests.adapters.conftest import TEXTS, make_lm, make_tokenizer  # noqa: E402


def _rescaled(model, scale):
    """A copy with ``ln_f`` scaled by ``diag(scale)`` and ``lm_head.weight`` divided by it."""
    copied = copy.deepcopy(model)
    with torch.no_grad():
        copied.transformer.ln_f.weight.mul_(scale)
        copied.transformer.ln_f.bias.mul_(scale)
        copied.lm_head.weight.div_(scale)
    return copied


def _rep(model, tokenizer):
    f = np.concatenate(list(hf.lm_hidden_chunks(model, tokenizer, TEXTS)))
    return f, hf.lm_unembeddings(model)


def _logits(model, tokenizer):
    with torch.no_grad():
        return torch.cat([model(input_ids=torch.tensor([tokenizer(t)["input_ids"]])).logits[0] for t in TEXTS])


def _cca(f1, f2):
    """mean CCA without the last coordinate: a LayerNorm output h satisfies Σᵢ (hᵢ − βᵢ)/γᵢ = 0,
    so its centred columns span only d − 1 dimensions (CCA without a ridge refuses them)."""
    return float(mean_cca(f1[:, :-1], f2[:, :-1]))


@pytest.fixture(scope="module")
def models():
    model, tokenizer = make_lm(0, tied=False), make_tokenizer()
    scale = torch.exp(torch.empty(32).uniform_(-1.0, 1.0, generator=torch.Generator().manual_seed(1)))
    return tokenizer, model, _rescaled(model, scale), make_lm(1, tied=False), scale.numpy()


def test_rescaled_model_has_the_same_logits_and_scaled_hidden_states(models):
    tokenizer, model, rescaled, _, scale = models
    assert torch.max(torch.abs(_logits(model, tokenizer) - _logits(rescaled, tokenizer))) <= 1e-4
    (f1, _), (f2, _) = _rep(model, tokenizer), _rep(rescaled, tokenizer)
    np.testing.assert_allclose(f2, f1 * scale, rtol=1e-5, atol=1e-5)


def test_metrics_identify_the_rescaled_model_and_separate_an_independent_one(models):
    tokenizer, model, rescaled, independent, _ = models
    (f1, g1), (f2, g2), (f3, g3) = (_rep(m, tokenizer) for m in (model, rescaled, independent))
    assert f1.shape[0] > 2 * f1.shape[1]
    pivots, subsets = pivot_subsets(g1.shape[0], g1.shape[1])
    assert float(logit_distance_from_reps(f1, g1, f2, g2)) <= 1e-4
    assert _cca(f1, f2) >= 1 - 1e-4
    assert float(rep_dissimilarity(f1, g1, f2, g2, pivots, subsets)) <= 1e-3
    assert float(logit_distance_from_reps(f1, g1, f3, g3)) > 1e-2
    assert _cca(f1, f3) < 0.99
