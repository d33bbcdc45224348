"""README examples name what exists: every loss term, every config override key."""

import pathlib
import re

import pytest

from repsim_jax.config import experiment_config
from repsim_jax.losses import get_loss

README = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_loss_terms_are_registered():
    """Defect: README listed the feature term `+projection`; the code calls it `proj_mse`."""
    section = README[README.index("Losses (`repsim_jax.losses.get_loss`)") :]
    terms = re.findall(r"`\+(\w+)`", section[: section.index("Orbax")])
    assert len(terms) == 4
    for term in terms:
        assert get_loss(f"kl+{term}").needs_teacher


@pytest.mark.parametrize("key", sorted(set(re.findall(r"--config\.([\w.]+)=", README)) - {"section.key"}))
def test_readme_override_keys_exist(key):
    node = experiment_config("synthetic", "default")
    for part in key.split("."):
        assert part in node, f"README overrides unknown config key {key!r}"
        node = node[part]
