import numpy as np
import pytest


def random_pair(rng, n, k, d1, d2, noise=0.5):
    """A teacher and a noisy linearly related student (float64)."""
    f1 = rng.normal(size=(n, d1))
    g1 = rng.normal(size=(k, d1))
    f2 = f1 @ rng.normal(size=(d1, d2)) + noise * rng.normal(size=(n, d2))
    g2 = g1 @ rng.normal(size=(d1, d2)) + noise * rng.normal(size=(k, d2))
    return f1, g1, f2, g2


@pytest.fixture
def rng():
    return np.random.default_rng(0)
