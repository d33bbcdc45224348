"""The packaged experiment configs, one ``get_config(preset)`` file per experiment.

Each module declares ``PRESETS`` (``default`` first) and builds on
:func:`repsim_jax.configs.common.get_base_config`. Address them by name
(``--config=synthetic:quick``, ``repsim_jax.config.experiment_config("synthetic", "quick")``);
a config file of your own can start from ``from repsim_jax.configs import common``.
"""
