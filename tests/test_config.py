"""Config files and `--config.section.key=value` overrides (ml_collections.config_flags semantics)."""

import ml_collections
import pytest

from repsim_jax.config import experiment_config, load_config, with_values

CONFIGS = {
    "synthetic": ("default", "smoke", "paper", "paper-centred", "paper-cpu", "quick"),
    "concepts": ("default", "quick", "smoke"),
    "cifar100": ("default", "resnet50", "teacher", "students", "smoke", "paper-teacher", "paper-students"),
    "sub": ("default", "paper", "quick", "smoke"),
}


def _schema(config, prefix=""):
    keys = set()
    for key, value in config.items():
        keys.add(prefix + key)
        if isinstance(value, ml_collections.ConfigDict):
            keys |= _schema(value, f"{prefix}{key}.")
    return keys


def test_every_preset_declares_the_common_schema():
    base = _schema(experiment_config("synthetic", "default"))
    assert {
        "seeds",
        "data.name",
        "model.embedding_dim",
        "optim.learning_rate",
        "loss.name",
        "teacher.workdir",
        "eval.num_pivots",
        "checkpoint.every",
        "sweep.losses",
        "reproduce.bound_every",
    } <= base
    for name, presets in CONFIGS.items():
        for preset in presets:
            assert _schema(experiment_config(name, preset)) == base, (name, preset)


def test_overrides_parse_to_the_declared_types():
    config = load_config(
        "experiments/configs/synthetic.py:smoke",
        [
            "--config.optim.learning_rate=1",
            "--config.sweep.seeds=(3,4)",
            "--config.loss.name=l1",
            "--config.model.hidden=(8,)",
        ],
    )
    assert config.optim.learning_rate == 1.0 and isinstance(config.optim.learning_rate, float)
    assert tuple(config.sweep.seeds) == (3, 4) and config.loss.name == "l1"
    assert tuple(config.model.hidden) == (8,)


def test_loaded_configs_are_locked():
    config = experiment_config("synthetic", "smoke")
    with pytest.raises(AttributeError):
        config.loss.new_key = 1


@pytest.mark.parametrize(
    "spec, overrides, message",
    [
        ("synthetic.py", ["--config.nope=1"], "unknown config key 'nope'"),
        ("synthetic.py", ["--config.loss.nope=1"], "section 'loss' has keys"),
        ("synthetic.py", ["--config.loss.name.x=l2"], "'loss.name' is a value, not a section"),
        ("synthetic.py", ["--config.optim.learning_rate=fast"], "could not convert"),
        ("synthetic.py", ["config.seeds=(1,)"], "overrides look like --config.section.key=value"),
        ("synthetic.py:huge", [], "unknown preset 'huge'"),
    ],
)
def test_bad_configs_raise_one_clear_line(spec, overrides, message):
    with pytest.raises(ValueError, match=message) as info:
        load_config(f"experiments/configs/{spec}", overrides)
    assert "\n" not in str(info.value) and "Traceback" not in str(info.value)


def test_missing_config_file():
    with pytest.raises(FileNotFoundError, match="missing.py"):
        load_config("experiments/configs/missing.py")


def test_with_values_copies_and_checks_keys():
    config = experiment_config("synthetic", "smoke")
    changed = with_values(config, {"loss.name": "kl", "seeds": (1, 2)})
    assert changed.loss.name == "kl" and tuple(changed.seeds) == (1, 2)
    assert config.loss.name == "ce" and tuple(config.seeds) == (0,)
    with pytest.raises(ValueError, match="unknown config key"):
        with_values(config, {"loss.nope": 1})
