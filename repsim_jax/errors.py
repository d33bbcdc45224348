"""The project's own error type for problems a user can cause.

``InputError`` (a ``ValueError``) names a bad file, key or value: the CLI prints it as
one line with exit status 2. Any other exception is a bug in repsim_jax or a library and
keeps its traceback.
"""

from __future__ import annotations

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad input from the user: a file, a config key, an array, a value out of range."""
