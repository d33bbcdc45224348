"""``python -m repsim_jax.cli``: the same as the ``repsim-jax`` command."""

import sys

from repsim_jax.cli import main

sys.exit(main())
